import type {
  MalformedSyslogMessage,
  ParsedSyslogMessage,
  SyslogMessage,
  SyslogSdElement,
  SyslogSdParam,
} from './syslog-message.ts';

/**
 * Reads one syslog message, RFC 5424 or BSD (RFC 3164 and the variants devices really send), from a
 * frame that the transport already delimited. Strict where RFC 5424 is unambiguous, lenient where BSD
 * senders differ; anything it cannot read becomes a `malformed` result, and it never throws.
 */

export interface ParseSyslogOptions {
  /**
   * When the message arrived, in ms since the epoch. BSD timestamps have no year: they get the latest year
   * that puts them no more than 31 days after this instant.
   */
  readonly receivedAt: number;
  /**
   * Offset from UTC, in minutes, of the clocks behind BSD timestamps, which carry no zone (default 0:
   * devices are assumed to log in UTC).
   */
  readonly bsdUtcOffsetMinutes?: number;
}

const decoder = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });
const BOM = '\uFEFF';
/** How far ahead of its arrival a year-less BSD timestamp may be (clock skew across New Year). */
const FUTURE_TOLERANCE_MS = 31 * 86_400_000;
const monthNames = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];

/** Parses one frame (bytes are decoded as UTF-8, invalid sequences replaced). Never throws. */
export function parseSyslog(input: string | Uint8Array, options: ParseSyslogOptions): ParsedSyslogMessage {
  const text = typeof input === 'string' ? input : decoder.decode(input);
  try {
    return parseText(text, options);
  } catch (error) {
    // A safety net only: the property tests find none, but a log collector must not die on a bug here.
    return malformed(`parser error: ${error instanceof Error ? error.message : String(error)}`, text);
  }
}

function parseText(raw: string, options: ParseSyslogOptions): ParsedSyslogMessage {
  const text = withoutLineEnd(raw);
  if (text.length === 0) return malformed('empty message', raw);
  const pri = /^<(\d{1,3})>/.exec(text);
  if (pri === null) {
    return malformed(
      text.startsWith('<')
        ? 'invalid PRI: expected <0> to <191>'
        : 'missing PRI: a syslog message starts with <PRI>, e.g. <13>',
      raw,
    );
  }
  const value = Number(pri[1]);
  if (value > 191) return malformed(`invalid PRI <${pri[1]}>: the highest is <191>`, raw);
  const facility = value >> 3;
  const severity = value & 7;
  const body = text.slice(pri[0].length);
  if (body.startsWith('1 ')) return parse5424(body.slice(2), facility, severity, raw);
  return parse3164(body, facility, severity, raw, options);
}

/** Senders end datagrams and frames with LF, CRLF or NUL; none of it belongs to the message. */
function withoutLineEnd(text: string): string {
  // A loop, not /[\r\n\0]+$/, which backtracks quadratically over long runs of line breaks.
  let end = text.length;
  for (;;) {
    const last = text.charCodeAt(end - 1);
    if (last !== 10 && last !== 13 && last !== 0) break;
    end -= 1;
  }
  return end === text.length ? text : text.slice(0, end);
}

function malformed(
  reason: string,
  raw: string,
  facility: number | null = null,
  severity: number | null = null,
): MalformedSyslogMessage {
  return { format: 'malformed', reason, raw, facility, severity };
}

// ---- RFC 5424 -------------------------------------------------------------------------------------

const headerFields = ['TIMESTAMP', 'HOSTNAME', 'APP-NAME', 'PROCID', 'MSGID'] as const;

function parse5424(text: string, facility: number, severity: number, raw: string): ParsedSyslogMessage {
  const fail = (reason: string) => malformed(reason, raw, facility, severity);
  const fields: string[] = [];
  let pos = 0;
  for (const name of headerFields) {
    const end = text.indexOf(' ', pos);
    if (end === -1) return fail(`RFC 5424 header cut short: no space after ${name}`);
    const field = text.slice(pos, end);
    if (field.length === 0) return fail(`empty ${name} (a missing value is written as -)`);
    if (hasControlCharacter(field)) return fail(`${name} contains a control character`);
    fields.push(field);
    pos = end + 1;
  }
  const [timestampText = '-', hostname = '-', appName = '-', procId = '-', msgId = '-'] = fields;
  let timestamp: number | null = null;
  if (timestampText !== '-') {
    timestamp = parseRfc3339(timestampText);
    if (timestamp === null) return fail(`invalid TIMESTAMP "${timestampText}"`);
  }
  let structuredData: SyslogSdElement[] = [];
  if (text[pos] === '-') {
    pos += 1;
  } else if (text[pos] === '[') {
    const sd = parseStructuredData(text, pos);
    if (typeof sd === 'string') return fail(`STRUCTURED-DATA: ${sd}`);
    structuredData = sd.elements;
    pos = sd.end;
  } else {
    return fail('STRUCTURED-DATA must be - or start with [');
  }
  let message = '';
  if (pos < text.length) {
    if (text[pos] !== ' ') return fail('expected a space between STRUCTURED-DATA and MSG');
    message = text.slice(pos + 1);
    if (message.startsWith(BOM)) message = message.slice(1);
  }
  const message5424: SyslogMessage = {
    format: '5424',
    facility,
    severity,
    timestamp,
    hostname: nil(hostname),
    appName: nil(appName),
    procId: nil(procId),
    msgId: nil(msgId),
    structuredData,
    message,
  };
  return message5424;
}

function hasControlCharacter(text: string): boolean {
  for (let index = 0; index < text.length; index += 1) {
    const code = text.charCodeAt(index);
    if (code < 0x20 || code === 0x7f) return true;
  }
  return false;
}

function nil(field: string): string | null {
  return field === '-' ? null : field;
}

/** SD-NAME: printable US-ASCII except `=`, space, `]` and `"`. */
const sdNameChar = /[!#-<>-\\^-~]/;

function parseStructuredData(
  text: string,
  start: number,
): { elements: SyslogSdElement[]; end: number } | string {
  const elements: SyslogSdElement[] = [];
  let pos = start;
  while (text[pos] === '[') {
    pos += 1;
    const idStart = pos;
    while (pos < text.length && sdNameChar.test(text[pos] ?? '')) pos += 1;
    const id = text.slice(idStart, pos);
    if (id.length === 0) return `element ${elements.length + 1} has no SD-ID`;
    const params: SyslogSdParam[] = [];
    for (;;) {
      const next = text[pos];
      if (next === ']') {
        pos += 1;
        break;
      }
      if (next !== ' ') {
        return next === undefined
          ? `element [${id}] is not closed with ]`
          : `unexpected ${JSON.stringify(next)} in element [${id}]`;
      }
      pos += 1;
      const nameStart = pos;
      while (pos < text.length && sdNameChar.test(text[pos] ?? '')) pos += 1;
      const name = text.slice(nameStart, pos);
      if (name.length === 0) return `a parameter in [${id}] has no name`;
      if (text[pos] !== '=' || text[pos + 1] !== '"')
        return `parameter ${name} in [${id}] must be name="value"`;
      pos += 2;
      let value = '';
      let closed = false;
      while (pos < text.length) {
        const char = text[pos] ?? '';
        if (char === '"') {
          closed = true;
          pos += 1;
          break;
        }
        if (char === '\\') {
          const escaped = text[pos + 1];
          // RFC 5424 §6.3.3: only \" \\ \] are escapes; any other backslash is kept as it is.
          if (escaped === '"' || escaped === '\\' || escaped === ']') {
            value += escaped;
            pos += 2;
            continue;
          }
        }
        value += char;
        pos += 1;
      }
      if (!closed) return `the value of ${name} in [${id}] has no closing quote`;
      params.push({ name, value });
    }
    elements.push({ id, params });
  }
  return { elements, end: pos };
}

const rfc3339 =
  /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:([Zz])|([+-])(\d{2}):(\d{2}))$/;

/** RFC 3339 as RFC 5424 restricts it, to ms (finer fractions are truncated); null when invalid. */
export function parseRfc3339(text: string): number | null {
  const match = rfc3339.exec(text);
  if (match === null) return null;
  const [, year, month, day, hour, minute, second, fraction = '', , sign, offsetHour, offsetMinute] = match;
  const local = utcMs(
    Number(year),
    Number(month),
    Number(day),
    Number(hour),
    Number(minute),
    Number(second),
    Number(fraction.padEnd(3, '0').slice(0, 3)),
  );
  if (local === null) return null;
  if (sign === undefined) return local;
  const offsetH = Number(offsetHour);
  const offsetM = Number(offsetMinute);
  if (offsetH > 23 || offsetM > 59) return null;
  const offsetMs = (offsetH * 60 + offsetM) * 60_000;
  return sign === '+' ? local - offsetMs : local + offsetMs;
}

/** A calendar date and time read as UTC, or null when it does not exist (Feb 30, 24:00, …). */
function utcMs(
  year: number,
  month: number,
  day: number,
  hour: number,
  minute: number,
  second: number,
  ms: number,
): number | null {
  if (month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || second > 59) return null;
  // setUTCFullYear rather than Date.UTC, which maps years 0–99 to 1900–1999.
  const date = new Date(0);
  date.setUTCFullYear(year, month - 1, day);
  date.setUTCHours(hour, minute, second, ms);
  if (date.getUTCMonth() !== month - 1 || date.getUTCDate() !== day) return null;
  return date.getTime();
}

// ---- BSD syslog (RFC 3164 and what devices send under that name) ---------------------------------

/** `Mmm dd hh:mm:ss`, day space- or zero-padded, with the optional year and fraction Cisco adds. */
const bsdTimestamp =
  /^([A-Za-z]{3}) {1,2}(\d{1,2})(?: (\d{4}))? (\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?(?= |:|$)/;
/**
 * What Cisco IOS puts before its timestamp: a `52: ` sequence number, `host: ` with `logging origin-id`,
 * `*` (clock never set) or `.` (clock not in sync). Recognised only when a colon follows the time.
 */
const ciscoPrefix = /^(?:\d+: )?(?:([^\s:]+): )?[*.]?/;
const ciscoAfterTime = /^(?: [A-Z]{2,5})?:(?: |$)/;
/** `tag:`, `tag[pid]:` or `%ASA-6-302013:`, then a space or the end. */
const bsdTag = /^([^\s[\]:]+)(?:\[([^\]\s]*)\])?:(?: |$)/;

function parse3164(
  body: string,
  facility: number,
  severity: number,
  raw: string,
  options: ParseSyslogOptions,
): ParsedSyslogMessage {
  if (body.length === 0) return malformed('nothing after the PRI', raw, facility, severity);
  let rest = body;
  let timestamp: number | null = null;
  let hostname: string | null = null;
  let hostnameKnown = false;

  const cisco = ciscoPrefix.exec(rest)?.[0] ?? '';
  const ciscoTime = readBsdTimestamp(rest.slice(cisco.length), options);
  const afterCiscoTime = ciscoTime === null ? null : rest.slice(cisco.length + ciscoTime.length);
  const ciscoZone = afterCiscoTime === null ? null : ciscoAfterTime.exec(afterCiscoTime);
  // A bare `Mmm dd hh:mm:ss ABC:` is as likely a BSD line with an upper-case tag and no hostname, so a
  // zone counts only after a Cisco prefix or before a `%FACILITY-SEVERITY-MNEMONIC`.
  const isCisco =
    ciscoZone !== null &&
    (cisco.length > 0 || ciscoZone[0].startsWith(':') || afterCiscoTime?.[ciscoZone[0].length] === '%');
  if (ciscoTime !== null && afterCiscoTime !== null && ciscoZone !== null && isCisco) {
    // The device's own name is there only with `logging origin-id`; the zone name is dropped.
    hostname = ciscoPrefix.exec(rest)?.[1] ?? null;
    hostnameKnown = true;
    timestamp = ciscoTime.ms;
    rest = afterCiscoTime.slice(ciscoZone[0].length);
  } else {
    const bsd = readBsdTimestamp(rest, options);
    if (bsd !== null) {
      timestamp = bsd.ms;
      rest = rest.slice(bsd.length);
    } else {
      // rsyslog's forwarding format: an RFC 3339 timestamp in place of the BSD one, no VERSION.
      const iso = /^\d{4}-\d{2}-\d{2}[Tt]\S+/.exec(rest);
      const ms = iso === null ? null : parseRfc3339(iso[0]);
      if (iso !== null && ms !== null) {
        timestamp = ms;
        rest = rest.slice(iso[0].length);
      }
    }
    if (rest.startsWith(' ')) rest = rest.slice(1);
  }

  // Without a timestamp there is no telling a hostname from the first word of the text (RFC 3164 §4.3.3).
  if (timestamp !== null && !hostnameKnown) {
    const token = /^\S+/.exec(rest)?.[0];
    if (token !== undefined && !bsdTag.test(`${token} `)) {
      hostname = token;
      rest = rest.slice(token.length).replace(/^ /, '');
    }
  }

  let appName: string | null = null;
  let procId: string | null = null;
  const tag = bsdTag.exec(rest);
  if (tag !== null) {
    appName = tag[1] ?? null;
    procId = tag[2] === undefined || tag[2] === '' ? null : tag[2];
    rest = rest.slice(tag[0].length);
  }
  if (rest.startsWith(BOM)) rest = rest.slice(1);
  const message: SyslogMessage = {
    format: '3164',
    facility,
    severity,
    timestamp,
    hostname,
    appName,
    procId,
    msgId: null,
    structuredData: [],
    message: rest,
  };
  return message;
}

function readBsdTimestamp(text: string, options: ParseSyslogOptions): { ms: number; length: number } | null {
  const match = bsdTimestamp.exec(text);
  if (match === null) return null;
  const [whole, monthName = '', day, year, hour, minute, second, fraction = ''] = match;
  const month = monthNames.indexOf(monthName.toLowerCase()) + 1;
  if (month === 0) return null;
  const offsetMs = (options.bsdUtcOffsetMinutes ?? 0) * 60_000;
  const at = (y: number) =>
    utcMs(
      y,
      month,
      Number(day),
      Number(hour),
      Number(minute),
      Number(second),
      Number(fraction.padEnd(3, '0').slice(0, 3)),
    );
  if (year !== undefined) {
    const ms = at(Number(year));
    return ms === null ? null : { ms: ms - offsetMs, length: whole.length };
  }
  // The latest year that does not put the message more than a month after its arrival: senders replay
  // old backlogs, but no clock runs a month ahead. December lines read in January land last year, a
  // sender slightly ahead across New Year the next; Feb 29 goes back to the last leap year.
  const receivedYear = new Date(options.receivedAt).getUTCFullYear();
  for (let y = receivedYear + 1; y >= receivedYear - 8; y -= 1) {
    const candidate = at(y);
    if (candidate !== null && candidate - offsetMs <= options.receivedAt + FUTURE_TOLERANCE_MS)
      return { ms: candidate - offsetMs, length: whole.length };
  }
  return null;
}
