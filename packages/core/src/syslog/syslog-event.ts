import { eventTypes, type NewDeviceEvent, type Severity } from '../events/event.schema.ts';
import {
  type ParsedSyslogMessage,
  type SyslogSdElement,
  syslogFacilityNames,
  syslogSeverityNames,
} from './syslog-message.ts';

/** How a syslog message becomes a `syslog.message` event, the form the manager stores it in. */

const severityBySyslogSeverity: readonly Severity[] = [
  'critical', // emerg
  'critical', // alert
  'critical', // crit
  'high', // err
  'medium', // warning
  'low', // notice
  'info', // info
  'info', // debug
];

/** Our severity for a syslog severity (0–7); out of range counts as info. */
export function severityOfSyslog(syslogSeverity: number): Severity {
  return severityBySyslogSeverity[syslogSeverity] ?? 'info';
}

/** Where a message came from, when known (the listener knows, `edgeward syslog parse` does not). */
export interface SyslogEventSource {
  readonly address: string;
  readonly transport: 'udp' | 'tcp' | 'tls';
}

/**
 * The `syslog.message` event for a parsed message. `time` is the sender's timestamp, or `receivedAt` when
 * the message has none. `data.facility` and `data.syslogSeverity` are names (`auth`, `err`), null when a
 * malformed message had no readable PRI; structured data becomes `{ sdId: { name: value } }`, a repeated
 * name keeping all its values as an array. A malformed message keeps `raw` and `reason`.
 */
export function syslogEvent(
  message: ParsedSyslogMessage,
  receivedAt: number,
  source?: SyslogEventSource,
): NewDeviceEvent {
  const facility = message.facility === null ? null : (syslogFacilityNames[message.facility] ?? null);
  const syslogSeverity = message.severity === null ? null : (syslogSeverityNames[message.severity] ?? null);
  const severity =
    message.severity === null ? eventTypes['syslog.message'] : severityOfSyslog(message.severity);
  const from = source === undefined ? {} : { sourceAddress: source.address, transport: source.transport };
  if (message.format === 'malformed') {
    return {
      type: 'syslog.message',
      severity,
      time: receivedAt,
      data: {
        format: 'malformed',
        facility,
        syslogSeverity,
        reason: message.reason,
        raw: message.raw,
        ...from,
      },
    };
  }
  return {
    type: 'syslog.message',
    severity,
    time: message.timestamp ?? receivedAt,
    data: {
      format: message.format,
      facility,
      syslogSeverity,
      hostname: message.hostname,
      appName: message.appName,
      procId: message.procId,
      msgId: message.msgId,
      structuredData: structuredDataRecord(message.structuredData),
      message: message.message,
      ...from,
    },
  };
}

function structuredDataRecord(
  elements: readonly SyslogSdElement[],
): Record<string, Record<string, string | string[]>> {
  // Null prototypes: SD-IDs and names come from the network, and `__proto__` must stay a plain key.
  const record: Record<string, Record<string, string | string[]>> = Object.create(null);
  for (const element of elements) {
    const params: Record<string, string | string[]> = record[element.id] ?? Object.create(null);
    for (const { name, value } of element.params) {
      const previous = params[name];
      params[name] =
        previous === undefined ? value : [...(Array.isArray(previous) ? previous : [previous]), value];
    }
    record[element.id] = params;
  }
  return record;
}
