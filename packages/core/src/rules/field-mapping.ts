import { eventTypes, type Severity, severities } from '../events/event.schema.ts';
import type { EventSource, RuleEvent } from './rule.schema.ts';

/**
 * How Sigma's field names and log sources meet Edgeward events (docs/rules.md, "Fields" and "Log
 * sources"). A rule may name a field the Sigma way (`User`, `SourceIp`, `Image`, `CommandLine`,
 * `TargetFilename`) or the Edgeward way (`user`, `sourceAddress`, `path`), and an event may carry
 * either: the name as written is looked up first, then its counterparts.
 */

export type FieldAccessor = (event: RuleEvent) => unknown;

/** Sigma names → the Edgeward data fields that hold the same thing, in the order they are tried. */
const sigmaFields: Readonly<Record<string, readonly string[]>> = {
  User: ['user'],
  user: ['User'],
  username: ['user'],
  UserName: ['user'],
  SubjectUserName: ['user'],
  'user.name': ['user'],
  TargetUserName: ['targetUser', 'user'],
  TargetUser: ['targetUser'],
  SourceIp: ['sourceAddress'],
  SourceAddress: ['sourceAddress'],
  src_ip: ['sourceAddress'],
  IpAddress: ['sourceAddress'],
  'source.ip': ['sourceAddress'],
  SourcePort: ['sourcePort'],
  src_port: ['sourcePort'],
  IpPort: ['sourcePort'],
  'source.port': ['sourcePort'],
  CommandLine: ['command'],
  'process.command_line': ['command'],
  ProcessName: ['program', 'process', 'appName'],
  ProcessId: ['pid'],
  'process.pid': ['pid'],
  CurrentDirectory: ['cwd'],
  DestinationPort: ['port'],
  'destination.port': ['port'],
  DestinationIp: ['address'],
  'destination.ip': ['address'],
  Protocol: ['protocol'],
  Hostname: ['hostname'],
  Computer: ['hostname'],
  ComputerName: ['hostname'],
  'host.name': ['hostname'],
  Message: ['message', 'line'],
  message: ['line'],
  msg: ['message', 'line'],
  Application: ['appName'],
};

/** Edgeward data fields → the Sigma names an event may carry them under instead. */
const edgewardFields: Readonly<Record<string, readonly string[]>> = (() => {
  const reverse: Record<string, string[]> = {};
  for (const [sigma, keys] of Object.entries(sigmaFields)) {
    for (const key of keys) {
      if (key === sigma || key in sigmaFields) continue;
      reverse[key] = [...(reverse[key] ?? []), sigma];
    }
  }
  reverse.path = ['TargetFilename', 'Image'];
  reverse.process = ['Image', ...(reverse.process ?? [])];
  return reverse;
})();

/** Properties of the event itself rather than of its data. */
const eventProperties = new Set(['type', 'severity', 'deviceId', 'seq', 'id', 'time']);

/**
 * The value of `field` in `event`, resolved once into a function: the engine calls it for every event
 * a rule looks at, so the names to try are worked out here and not per call.
 */
export function fieldAccessor(field: string): FieldAccessor {
  if (eventProperties.has(field)) return (event) => event[field as keyof RuleEvent];
  const counterparts = Object.hasOwn(sigmaFields, field)
    ? sigmaFields[field]
    : Object.hasOwn(edgewardFields, field)
      ? edgewardFields[field]
      : undefined;
  const candidates = [field, ...(counterparts ?? [])];
  const byType = Object.hasOwn(typedFields, field) ? typedFields[field] : undefined;
  const nested = field.includes('.') ? field.split('.') : undefined;
  return (event) => {
    const data = event.data;
    for (let index = 0; index < candidates.length; index += 1) {
      const key = candidates[index] as string;
      if (Object.hasOwn(data, key)) {
        const value = data[key];
        if (value !== undefined) return value;
      }
    }
    if (byType !== undefined) {
      const value = byType(event);
      if (value !== undefined) return value;
    }
    return nested === undefined ? undefined : nestedValue(data, nested);
  };
}

/** Sigma fields whose Edgeward source depends on the event type. */
const typedFields: Readonly<Record<string, FieldAccessor>> = {
  Image: (event) => {
    switch (event.type) {
      case 'host.executable_started':
        return event.data.path;
      case 'host.listener_added':
        return event.data.process;
      case 'auth.privilege_escalation':
        return firstWord(event.data.command);
      default:
        return undefined;
    }
  },
  TargetFilename: (event) => (event.type.startsWith('fim.') ? event.data.path : undefined),
};

function firstWord(command: unknown): string | undefined {
  if (typeof command !== 'string') return undefined;
  const trimmed = command.trimStart();
  const end = trimmed.search(/\s/);
  return end === -1 ? trimmed : trimmed.slice(0, end);
}

function nestedValue(data: Record<string, unknown>, path: readonly string[]): unknown {
  let current: unknown = data;
  for (const key of path) {
    if (typeof current !== 'object' || current === null || !Object.hasOwn(current, key)) return undefined;
    current = (current as Record<string, unknown>)[key];
  }
  return current;
}

/**
 * The text a keyword search looks through: every string in the event's data, the raw line first.
 * Nested values (`before`, `after`) are left out: they hold hashes and modes, not log text.
 */
export function keywordTexts(event: RuleEvent, into: string[]): string[] {
  into.length = 0;
  const data = event.data;
  const line = data.line;
  if (typeof line === 'string') into.push(line);
  for (const key in data) {
    if (key === 'line' || !Object.hasOwn(data, key)) continue;
    const value = data[key];
    if (typeof value === 'string') into.push(value);
  }
  return into;
}

// --- log sources -------------------------------------------------------------------------------

export interface LogsourceFilter {
  /** Event types the logsource admits; null admits all. */
  readonly sources: EventSource[] | null;
  /** Why the rule can never match, when it cannot. */
  readonly warning?: string;
}

const fimChanges: EventSource[] = [
  { type: 'fim.created' },
  { type: 'fim.modified' },
  { type: 'fim.deleted' },
  { type: 'fim.permissions_changed' },
];

const linuxCategories: Readonly<Record<string, EventSource[]>> = {
  process_creation: [
    { type: 'host.executable_started' },
    { type: 'auth.privilege_escalation', requires: 'command' },
  ],
  file_event: fimChanges,
  file_change: fimChanges,
  file_delete: [{ type: 'fim.deleted' }],
  network_connection: [{ type: 'host.listener_added' }],
};

const authLogs: EventSource[] = [{ type: 'auth.*' }, { type: 'syslog.message' }];
const linuxServices: Readonly<Record<string, EventSource[]>> = {
  auth: authLogs,
  sshd: authLogs,
  sudo: authLogs,
  su: authLogs,
  login: authLogs,
  syslog: [{ type: 'syslog.message' }],
};

/** Everything a Linux device's agent or syslog reports (not the agent's and policy's own events). */
const linuxEvents: EventSource[] = [
  { type: 'auth.*' },
  { type: 'fim.*' },
  { type: 'host.*' },
  { type: 'syslog.message' },
];

const edgewardAreas = new Set(Object.keys(eventTypes).map((type) => type.split('.')[0] ?? ''));
edgewardAreas.add('alert');

/** The event types a Sigma logsource selects (docs/rules.md, "Log sources"). */
export function logsourceFilter(logsource: {
  readonly product?: string | undefined;
  readonly service?: string | undefined;
  readonly category?: string | undefined;
}): LogsourceFilter {
  const { product, service, category } = logsource;
  const never = (what: string): LogsourceFilter => ({
    sources: [],
    warning: `no Edgeward event comes from ${what}; the rule never matches`,
  });
  if (product === 'edgeward') {
    if (service !== undefined && !edgewardAreas.has(service)) return never(`service ${service}`);
    if (category !== undefined) {
      const type = service === undefined ? category : `${service}.${category}`;
      return type.includes('.') ? { sources: [{ type }] } : never(`category ${category}`);
    }
    return { sources: service === undefined ? null : [{ type: `${service}.*` }] };
  }
  if (product !== undefined && product !== 'linux') return never(`product ${product}`);
  let sources: EventSource[] | undefined;
  if (category !== undefined) {
    const found = Object.hasOwn(linuxCategories, category) ? linuxCategories[category] : undefined;
    if (found === undefined) return never(`category ${category}`);
    sources = found;
  }
  if (service !== undefined) {
    const found = Object.hasOwn(linuxServices, service) ? linuxServices[service] : undefined;
    if (found === undefined) return never(`service ${service}`);
    sources = sources === undefined ? found : intersect(sources, found);
    if (sources.length === 0) return never(`category ${category} with service ${service}`);
  }
  if (sources !== undefined) return { sources: [...sources] };
  return product === 'linux' ? { sources: [...linuxEvents] } : { sources: null };
}

function intersect(left: readonly EventSource[], right: readonly EventSource[]): EventSource[] {
  return left.filter((source) => right.some((other) => admitsType(other, source.type)));
}

/** Whether `source` admits events of `type` (data-dependent requirements aside). */
export function admitsType(source: EventSource, type: string): boolean {
  return source.type.endsWith('.*') ? type.startsWith(source.type.slice(0, -1)) : source.type === type;
}

// --- events from JSON --------------------------------------------------------------------------

export type RuleEventFromJson =
  | { readonly ok: true; readonly event: RuleEvent }
  | { readonly ok: false; readonly message: string };

const reservedKeys = new Set([
  'type',
  'severity',
  'time',
  'timestamp',
  '@timestamp',
  'seq',
  'id',
  'deviceId',
  'stream',
]);

/**
 * An event from a JSON line (`edgeward rules test`): an Edgeward event (`{type, time, data}`) or a
 * flat record of Sigma or Edgeward fields. Missing `seq`, `id`, `time` and `deviceId` come from
 * `defaults`; a flat record without `type` gets one from its fields (TargetFilename → fim.modified,
 * Image or CommandLine → host.executable_started, DestinationPort or DestinationIp →
 * host.listener_added, User with SourceIp → auth.login_failed, message → syslog.message).
 */
export function ruleEventFromJson(
  value: unknown,
  defaults: { readonly deviceId: string; readonly seq: number; readonly time: number },
): RuleEventFromJson {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { ok: false, message: 'an event is a JSON object' };
  }
  const record = value as Record<string, unknown>;
  const nested = record.data;
  let data: Record<string, unknown>;
  if (typeof nested === 'object' && nested !== null && !Array.isArray(nested)) {
    data = nested as Record<string, unknown>;
  } else {
    data = {};
    for (const [key, field] of Object.entries(record)) if (!reservedKeys.has(key)) data[key] = field;
  }
  const type = typeof record.type === 'string' ? record.type : inferType(data);
  if (type === undefined) {
    return {
      ok: false,
      message: 'the event has no `type` and its fields do not say which it is; add "type"',
    };
  }
  const time = timeOf(record.time ?? record.timestamp ?? record['@timestamp'], defaults.time);
  if (time === undefined)
    return { ok: false, message: '`time` is neither epoch milliseconds nor an ISO date' };
  const written = record.severity;
  const severity: Severity =
    typeof written === 'string' && (severities as readonly string[]).includes(written)
      ? (written as Severity)
      : ((eventTypes as Record<string, Severity>)[type] ?? 'info');
  const seq = typeof record.seq === 'number' && Number.isInteger(record.seq) ? record.seq : defaults.seq;
  const deviceId = typeof record.deviceId === 'string' ? record.deviceId : defaults.deviceId;
  const event: RuleEvent = {
    seq,
    id: typeof record.id === 'string' ? record.id : `${deviceId}:${seq}`,
    type,
    severity,
    time,
    data,
    deviceId,
    ...(typeof record.stream === 'string' ? { stream: record.stream } : {}),
  };
  return { ok: true, event };
}

function inferType(data: Record<string, unknown>): string | undefined {
  const has = (...keys: string[]) => keys.some((key) => data[key] !== undefined);
  if (has('TargetFilename')) return 'fim.modified';
  if (has('Image', 'CommandLine')) return 'host.executable_started';
  if (has('DestinationPort', 'DestinationIp')) return 'host.listener_added';
  if (has('User', 'user') && has('SourceIp', 'sourceAddress')) return 'auth.login_failed';
  if (has('message', 'Message', 'line')) return 'syslog.message';
  return undefined;
}

function timeOf(value: unknown, fallback: number): number | undefined {
  if (value === undefined) return fallback;
  if (typeof value === 'number' && Number.isFinite(value)) return Math.round(value);
  if (typeof value === 'string') {
    const parsed = Date.parse(value);
    return Number.isNaN(parsed) ? undefined : parsed;
  }
  return undefined;
}
