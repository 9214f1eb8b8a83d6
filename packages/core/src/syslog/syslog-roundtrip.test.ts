import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { formatSyslog5424 } from './syslog-formatter.ts';
import type { SyslogMessage } from './syslog-message.ts';
import { parseSyslog } from './syslog-parser.ts';

const printUsAscii = Array.from({ length: 94 }, (_, index) => String.fromCharCode(33 + index));
const sdNameChars = printUsAscii.filter((char) => !'="]'.includes(char));

const headerField = (maxLength: number) =>
  fc.option(
    fc
      .string({ unit: fc.constantFrom(...printUsAscii), minLength: 1, maxLength })
      .filter((value) => value !== '-'),
  );
const sdName = fc.string({ unit: fc.constantFrom(...sdNameChars), minLength: 1, maxLength: 32 });
/** Any text, with the escapes and brackets that matter for structured data made likely. */
const anyText = (unit: 'binary' | 'grapheme') =>
  fc.oneof(
    fc.string({ unit }),
    fc.string({ unit: fc.constantFrom('"', '\\', ']', '[', ' ', '=', 'a', '\uFEFF', '\n') }),
  );

const validMessage = (unit: 'binary' | 'grapheme') =>
  fc.record({
    format: fc.constant('5424' as const),
    facility: fc.integer({ min: 0, max: 23 }),
    severity: fc.integer({ min: 0, max: 7 }),
    timestamp: fc.option(
      fc.integer({ min: Date.parse('0000-01-01T00:00:00Z'), max: Date.parse('9999-12-31T23:59:59.999Z') }),
    ),
    hostname: headerField(255),
    appName: headerField(48),
    procId: headerField(128),
    msgId: headerField(32),
    structuredData: fc.array(
      fc.record({
        id: sdName,
        params: fc.array(fc.record({ name: sdName, value: anyText(unit) }), { maxLength: 4 }),
      }),
      { maxLength: 4 },
    ),
    // Trailing line ends are framing, not message, and are dropped by the parser.
    message: anyText(unit).filter((text) => !/[\r\n\0]$/.test(text)),
  }) satisfies fc.Arbitrary<SyslogMessage>;

/** fast-check may build records without a prototype; the parser's are plain objects. */
const plain = <T>(value: T): T => structuredClone(value);

test('a valid RFC 5424 message comes back field by field from its formatted text', () => {
  fc.assert(
    fc.property(validMessage('binary'), (message) => {
      assert.deepEqual(parseSyslog(formatSyslog5424(message), { receivedAt: 0 }), plain(message));
    }),
    { numRuns: 2000 },
  );
});

test('a valid RFC 5424 message comes back from its UTF-8 bytes', () => {
  const encoder = new TextEncoder();
  fc.assert(
    fc.property(validMessage('grapheme'), (message) => {
      assert.deepEqual(
        parseSyslog(encoder.encode(formatSyslog5424(message)), { receivedAt: 0 }),
        plain(message),
      );
    }),
    { numRuns: 500 },
  );
});

test('the formatter turns invalid field values into a message that parses', () => {
  fc.assert(
    fc.property(
      fc.record({
        facility: fc.double(),
        severity: fc.double(),
        timestamp: fc.option(fc.double()),
        hostname: fc.option(fc.string({ unit: 'binary' })),
        appName: fc.option(fc.string({ unit: 'binary' })),
        procId: fc.option(fc.string({ unit: 'binary' })),
        msgId: fc.option(fc.string({ unit: 'binary' })),
        structuredData: fc.array(
          fc.record({
            id: fc.string({ unit: 'binary' }),
            params: fc.array(fc.record({ name: fc.string({ unit: 'binary' }), value: fc.string() })),
          }),
        ),
        message: fc.string({ unit: 'binary' }),
      }),
      (message) => {
        const parsed = parseSyslog(formatSyslog5424(message), { receivedAt: 0 });
        assert.equal(parsed.format, '5424', JSON.stringify(parsed));
      },
    ),
  );
});

const receivedAt = fc.oneof(
  fc.integer({ min: -8.64e15, max: 8.64e15 }),
  fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY, 0),
);

test('any string, however broken, parses without throwing', () => {
  const syslogish = fc.oneof(
    fc.string({ unit: 'binary' }),
    fc.string({ unit: 'binary' }).map((rest) => `<13>1 ${rest}`),
    fc.string({ unit: 'binary' }).map((rest) => `<13>${rest}`),
    fc
      .array(
        fc.constantFrom(
          '<',
          '>',
          '1',
          ' ',
          '-',
          '[',
          ']',
          '"',
          '\\',
          '=',
          'a',
          ':',
          'Oct',
          '2025-01-01T',
          'Z',
        ),
      )
      .map((parts) => `<34>${parts.join('')}`),
  );
  fc.assert(
    fc.property(syslogish, receivedAt, fc.integer({ min: -1440, max: 1440 }), (text, at, offset) => {
      const parsed = parseSyslog(text, { receivedAt: at, bsdUtcOffsetMinutes: offset });
      if (parsed.format === 'malformed') assert.equal(parsed.raw, text);
    }),
    { numRuns: 5000 },
  );
});

test('any bytes parse without throwing', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 512 }), receivedAt, (bytes, at) => {
      parseSyslog(bytes, { receivedAt: at });
    }),
    { numRuns: 5000 },
  );
});

test('long runs of line breaks and brackets parse in linear time', () => {
  const started = performance.now();
  for (const text of [
    `<13>x${'\r\n'.repeat(100_000)}y`,
    `<13>1 - - - - - [a${' b="'.repeat(50_000)}`,
    `<13>${'1: '.repeat(50_000)}`,
    `<13>Oct 11 22:14:15 ${'a'.repeat(100_000)}`,
  ]) {
    parseSyslog(text, { receivedAt: 0 });
  }
  assert.ok(performance.now() - started < 2000, `took ${performance.now() - started} ms`);
});
