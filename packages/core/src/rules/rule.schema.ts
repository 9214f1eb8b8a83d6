import * as z from 'zod/mini';
import { EdgewardError } from '../errors/edgeward-error.ts';
import { type DeviceEvent, type Severity, severitySchema } from '../events/event.schema.ts';

/**
 * The compiled form of a policy's detection rules (docs/rules.md): plain JSON, so that it can be
 * embedded, stored and loaded again without the YAML. `parseRuleFiles` (sigma-rule.ts) produces it,
 * `loadRuleSet` checks it, `RuleEngine` (rule-engine.ts) runs it.
 */

export const ruleScopes = ['agent', 'site', 'hub'] as const;
/** Where a rule's state lives: on the device, on a site manager, or on the hub (across devices). */
export type RuleScope = (typeof ruleScopes)[number];

export const ruleResponses = ['isolate', 'capture'] as const;
export type RuleResponse = (typeof ruleResponses)[number];

export const sigmaLevels = ['informational', 'low', 'medium', 'high', 'critical'] as const;
export type SigmaLevel = (typeof sigmaLevels)[number];

export const correlationTypes = ['event_count', 'value_count', 'temporal', 'temporal_ordered'] as const;
export type CorrelationType = (typeof correlationTypes)[number];

/** Date parts the Sigma time modifiers take from a timestamp (UTC). */
export const timeParts = ['minute', 'hour', 'day', 'week', 'month', 'year'] as const;
export type TimePart = (typeof timeParts)[number];

/** `severity: event` takes the severity of the matching event (for example a drift's check severity). */
const signalSeverity = z.union([severitySchema, z.literal('event')]);
export type SignalSeverity = Severity | 'event';

/**
 * One test of a field's value. String tests compare lower-cased text unless `cased`, and their `value`
 * is stored already lower-cased; `glob` is an anchored regular-expression source built from a value
 * with Sigma wildcards.
 */
export const valueTestSchema = z.discriminatedUnion('op', [
  z.strictObject({
    op: z.enum(['eq', 'prefix', 'suffix', 'contains']),
    value: z.string(),
    cased: z.boolean(),
  }),
  z.strictObject({ op: z.literal('glob'), pattern: z.string(), cased: z.boolean() }),
  z.strictObject({ op: z.literal('re'), pattern: z.string(), flags: z.string() }),
  z.strictObject({ op: z.literal('cidr'), network: z.string() }),
  z.strictObject({ op: z.literal('null') }),
  z.strictObject({ op: z.literal('exists'), value: z.boolean() }),
  z.strictObject({
    op: z.literal('compare'),
    cmp: z.enum(['eq', 'gt', 'gte', 'lt', 'lte']),
    value: z.number(),
    part: z.optional(z.enum(timeParts)),
  }),
  z.strictObject({
    op: z.literal('fieldref'),
    field: z.string(),
    mode: z.enum(['eq', 'prefix', 'suffix', 'contains']),
    cased: z.boolean(),
  }),
]);
export type ValueTest = z.infer<typeof valueTestSchema>;

/**
 * One `Field|modifiers: values` entry. `tests` holds one group per written value (a value can expand
 * to several variants, as with `windash`); the field matches when any test matches, or with `all`
 * when every group has a matching test. `negate` (`neq`) matches a present field that matches none.
 * A null `field` is a keyword search over the event's text fields.
 */
export const fieldTestSchema = z.strictObject({
  field: z.nullable(z.string()),
  all: z.boolean(),
  negate: z.boolean(),
  tests: z.array(z.array(valueTestSchema)),
});
export type FieldTest = z.infer<typeof fieldTestSchema>;

/** A search identifier: matches when every field test of one of its alternatives matches. */
export const selectionSchema = z.strictObject({ anyOf: z.array(z.array(fieldTestSchema)) });
export type Selection = z.infer<typeof selectionSchema>;

export type ConditionNode =
  | { readonly op: 'ref'; readonly name: string }
  | { readonly op: 'not'; readonly arg: ConditionNode }
  | { readonly op: 'and' | 'or'; readonly args: readonly ConditionNode[] };

export const conditionNodeSchema: z.ZodMiniType<ConditionNode> = z.lazy(() =>
  z.union([
    z.strictObject({ op: z.literal('ref'), name: z.string() }),
    z.strictObject({ op: z.literal('not'), arg: conditionNodeSchema }),
    z.strictObject({ op: z.enum(['and', 'or']), args: z.array(conditionNodeSchema).check(z.minLength(1)) }),
  ]),
);

/**
 * An event type a rule's logsource admits: exact (`host.listener_added`) or a whole area (`auth.*`),
 * optionally only when the event's data has a field (`auth.privilege_escalation` counts as a process
 * creation only with a `command`).
 */
export const eventSourceSchema = z.strictObject({ type: z.string(), requires: z.optional(z.string()) });
export type EventSource = z.infer<typeof eventSourceSchema>;

const nonNegativeMs = z.number().check(z.int(), z.minimum(0));
const positiveMs = z.number().check(z.int(), z.minimum(1));

export const compiledDetectionSchema = z.strictObject({
  logsource: z.strictObject({
    product: z.optional(z.string()),
    service: z.optional(z.string()),
    category: z.optional(z.string()),
  }),
  /** The event types the rule can match; null admits every event. */
  sources: z.nullable(z.array(eventSourceSchema)),
  selections: z.record(z.string(), selectionSchema),
  condition: conditionNodeSchema,
});
export type CompiledDetection = z.infer<typeof compiledDetectionSchema>;

export const correlationConditionSchema = z.strictObject({
  gt: z.optional(z.number().check(z.int())),
  gte: z.optional(z.number().check(z.int())),
  lt: z.optional(z.number().check(z.int())),
  lte: z.optional(z.number().check(z.int())),
  eq: z.optional(z.number().check(z.int())),
});
export type CorrelationCondition = z.infer<typeof correlationConditionSchema>;

export const compiledCorrelationSchema = z.strictObject({
  type: z.enum(correlationTypes),
  /** Ids of the referenced rules, in the order written (the order `temporal_ordered` requires). */
  rules: z.array(z.string()).check(z.minLength(1)),
  /** As written, with deviceId first for agent-scope rules (whose state is per device). */
  groupBy: z.array(z.string()),
  timespanMs: positiveMs,
  condition: correlationConditionSchema,
  /** value_count: the field(s) whose distinct values are counted. */
  fields: z.array(z.string()),
  /** alias → referenced rule id → the field that rule's events carry the value in. */
  aliases: z.record(z.string(), z.record(z.string(), z.string())),
});
export type CompiledCorrelation = z.infer<typeof compiledCorrelationSchema>;

export const compiledRuleSchema = z.strictObject({
  id: z.string().check(z.minLength(1)),
  name: z.optional(z.string()),
  title: z.string(),
  kind: z.enum(['detection', 'correlation']),
  /** Where the rule was written, for messages. */
  file: z.string(),
  line: z.number().check(z.int()),
  level: z.enum(sigmaLevels),
  severity: signalSeverity,
  tier: signalSeverity,
  scope: z.enum(ruleScopes),
  status: z.optional(z.string()),
  description: z.optional(z.string()),
  tags: z.array(z.string()),
  route: z.array(z.string()),
  response: z.array(z.enum(ruleResponses)),
  /**
   * The fields that identify one alert of the rule (`suppress.keys`, else a correlation's group-by, else
   * deviceId); cooldown and suppression apply per combination of their values.
   */
  groupKeys: z.array(z.string()),
  cooldownMs: nonNegativeMs,
  /** Matches within this long of an alert's first are merged into it instead of raising another. */
  suppress: z.optional(z.strictObject({ windowMs: positiveMs })),
  /** False when the rule only feeds correlations (Sigma's `generate: false`, the default). */
  emits: z.boolean(),
  detection: z.optional(compiledDetectionSchema),
  /** Matches only the first time these fields take a combination of values (after `learningMs`). */
  firstSeen: z.optional(
    z.strictObject({ keys: z.array(z.string()).check(z.minLength(1)), learningMs: nonNegativeMs }),
  ),
  correlation: z.optional(compiledCorrelationSchema),
  /** SHA-256 of the rule's canonical JSON without this field: saved state is kept only for the same rule. */
  digest: z.string(),
});
export type CompiledRule = z.infer<typeof compiledRuleSchema>;

export const compiledRuleSetSchema = z.strictObject({
  format: z.literal(1),
  /** Sorted by id. */
  rules: z.array(compiledRuleSchema),
});
export type CompiledRuleSet = z.infer<typeof compiledRuleSetSchema>;

/**
 * An event as the engine takes it: a device event and the device it came from. `stream` names the
 * sequence the `seq` belongs to when it is not the device's own (the manager's `alert.raised` events);
 * duplicates and lateness are judged per stream.
 */
export type RuleEvent = DeviceEvent & { readonly deviceId: string; readonly stream?: string };

export interface EventRef {
  readonly deviceId: string;
  readonly seq: number;
  readonly id: string;
}

/** What a rule reports: a new alert, or (`update`) the growth of one it reported before. */
export interface RuleSignal {
  readonly ruleId: string;
  readonly ruleTitle: string;
  readonly kind: 'detection' | 'correlation';
  /** JSON array of the `groupFields` values, in field order: the identity of the alert within its rule. */
  readonly groupKey: string;
  readonly groupFields: Readonly<Record<string, string>>;
  readonly severity: Severity;
  readonly tier: Severity;
  /** Event time (device clock, ms) of the first and last event counted. */
  readonly firstSeen: number;
  readonly lastSeen: number;
  /** Events matched (detection), or the correlated figure: events, distinct values, or rules. */
  readonly count: number;
  /** The first events behind the signal (at most MAX_EVENT_REFS). */
  readonly eventRefs: readonly EventRef[];
  readonly deviceIds: readonly string[];
  readonly response: readonly RuleResponse[];
  readonly route: readonly string[];
  readonly update: boolean;
}

/** How many event references a signal carries at most. */
export const MAX_EVENT_REFS = 50;

/** The Sigma level as an Edgeward severity. */
export function severityOfLevel(level: SigmaLevel): Severity {
  return level === 'informational' ? 'info' : level;
}

/**
 * A compiled rule set read back from JSON (as embedded or stored): checked against the schema, so that
 * the engine never runs a damaged one.
 */
export function loadRuleSet(value: unknown): CompiledRuleSet {
  const parsed = compiledRuleSetSchema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue === undefined ? '' : ` at ${issue.path.map(String).join('.')}`;
    throw new EdgewardError(
      'EW_POLICY_INVALID',
      `the compiled rule set is invalid${where}: ${issue?.message}`,
    );
  }
  return parsed.data;
}
