import { isoTime } from '../text/iso-time.ts';
import type { SyslogMessageFields } from './syslog-message.ts';

/**
 * Writes RFC 5424 messages (for syslog out, and to test the parser against). Whatever it is given, the
 * output is valid: header fields are cut to their RFC lengths and characters RFC 5424 does not allow there
 * become `_`, so a value that is already valid comes back unchanged from `parseSyslog`.
 */

const encoder = new TextEncoder();
const BOM = '\uFEFF';

/** One message as an RFC 5424 line, without framing or line end. */
export function formatSyslog5424(message: SyslogMessageFields): string {
  const pri = clampInt(message.facility, 0, 23) * 8 + clampInt(message.severity, 0, 7);
  const header = [
    `<${pri}>1`,
    formatTimestamp(message.timestamp),
    headerField(message.hostname, 255),
    headerField(message.appName, 48),
    headerField(message.procId, 128),
    headerField(message.msgId, 32),
  ].join(' ');
  const sd =
    message.structuredData.length === 0
      ? '-'
      : message.structuredData
          .map(
            (element) =>
              `[${sdName(element.id)}${element.params
                .map((param) => ` ${sdName(param.name)}="${param.value.replace(/["\\\]]/g, '\\$&')}"`)
                .join('')}]`,
          )
          .join('');
  if (message.message.length === 0) return `${header} ${sd}`;
  // The BOM tells the receiver MSG is UTF-8; plain ASCII needs none (RFC 5424 §6.4).
  const utf8 = /[^\0-\x7f]/.test(message.message);
  return `${header} ${sd} ${utf8 ? BOM : ''}${message.message}`;
}

/** RFC 6587 octet-counting framing: `LEN SP MSG`, LEN in bytes of the UTF-8 encoding. */
export function encodeOctetCounted(message: string | Uint8Array): Uint8Array {
  const body = typeof message === 'string' ? encoder.encode(message) : message;
  const prefix = encoder.encode(`${body.length} `);
  const frame = new Uint8Array(prefix.length + body.length);
  frame.set(prefix, 0);
  frame.set(body, prefix.length);
  return frame;
}

function clampInt(value: number, min: number, max: number): number {
  return Number.isFinite(value) ? Math.min(max, Math.max(min, Math.trunc(value))) : min;
}

function formatTimestamp(ms: number | null): string {
  if (ms === null || !Number.isFinite(ms)) return '-';
  const date = new Date(Math.trunc(ms));
  const year = date.getUTCFullYear();
  // RFC 3339 has four-digit years only; toISOString writes ±YYYYYY outside them.
  return Number.isNaN(year) || year < 0 || year > 9999 ? '-' : isoTime(date.getTime());
}

/** PRINTUSASCII (33–126), 1 to `max` characters; empty and null are the NILVALUE `-`. */
function headerField(value: string | null, max: number): string {
  if (value === null || value.length === 0) return '-';
  return value.replace(/[^!-~]/g, '_').slice(0, max);
}

/** SD-NAME: PRINTUSASCII except `=`, space, `]` and `"`, 1 to 32 characters. */
function sdName(name: string): string {
  return name.length === 0 ? '_' : name.replace(/[^!#-<>-\\^-~]/g, '_').slice(0, 32);
}
