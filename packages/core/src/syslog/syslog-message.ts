/**
 * The typed shape of one syslog message, whichever format it arrived in (RFC 5424 or BSD/RFC 3164), and
 * the names of the numeric facility and severity codes.
 */

/** Facility codes 0–23, by the names rsyslog and syslog-ng use. */
export const syslogFacilityNames = [
  'kern',
  'user',
  'mail',
  'daemon',
  'auth',
  'syslog',
  'lpr',
  'news',
  'uucp',
  'cron',
  'authpriv',
  'ftp',
  'ntp',
  'security',
  'console',
  'solaris-cron',
  'local0',
  'local1',
  'local2',
  'local3',
  'local4',
  'local5',
  'local6',
  'local7',
] as const;
export type SyslogFacilityName = (typeof syslogFacilityNames)[number];

/** Severity codes 0 (most severe) to 7. */
export const syslogSeverityNames = [
  'emerg',
  'alert',
  'crit',
  'err',
  'warning',
  'notice',
  'info',
  'debug',
] as const;
export type SyslogSeverityName = (typeof syslogSeverityNames)[number];

export interface SyslogSdParam {
  readonly name: string;
  readonly value: string;
}

/** One STRUCTURED-DATA element, `[id name="value" …]`; order and repeated names are kept. */
export interface SyslogSdElement {
  readonly id: string;
  readonly params: readonly SyslogSdParam[];
}

/** The fields of a message, independent of the format it travelled in (what the formatter writes). */
export interface SyslogMessageFields {
  /** 0–23, see `syslogFacilityNames`. */
  readonly facility: number;
  /** 0 (emerg) – 7 (debug), see `syslogSeverityNames`. */
  readonly severity: number;
  /** Milliseconds since the epoch, or null when the message carries none (NILVALUE, or BSD without one). */
  readonly timestamp: number | null;
  readonly hostname: string | null;
  /** APP-NAME in RFC 5424, the TAG in BSD syslog. */
  readonly appName: string | null;
  /** PROCID in RFC 5424, the `[pid]` after the TAG in BSD syslog. */
  readonly procId: string | null;
  /** MSGID (RFC 5424 only). */
  readonly msgId: string | null;
  /** Empty when the message has none (NILVALUE, or BSD). */
  readonly structuredData: readonly SyslogSdElement[];
  /** The free-form text, without a leading BOM; empty when absent. */
  readonly message: string;
}

export interface SyslogMessage extends SyslogMessageFields {
  readonly format: '5424' | '3164';
}

/** Input that is not a syslog message we can read: kept whole, with why, so that nothing is lost. */
export interface MalformedSyslogMessage {
  readonly format: 'malformed';
  /** What is wrong, naming the part, e.g. `invalid TIMESTAMP "2024-13-01T00:00:00Z"`. */
  readonly reason: string;
  /** The input as text (invalid UTF-8 replaced by U+FFFD). */
  readonly raw: string;
  /** From the PRI when it could be read, else null. */
  readonly facility: number | null;
  readonly severity: number | null;
}

export type ParsedSyslogMessage = SyslogMessage | MalformedSyslogMessage;
