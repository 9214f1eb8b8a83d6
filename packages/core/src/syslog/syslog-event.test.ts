import assert from 'node:assert/strict';
import { test } from 'node:test';
import { deviceEventSchema } from '../events/event.schema.ts';
import { severityOfSyslog, syslogEvent } from './syslog-event.ts';
import { parseSyslog } from './syslog-parser.ts';

const receivedAt = Date.parse('2025-05-12T10:20:00Z');
const plain = (value: unknown) => JSON.parse(JSON.stringify(value));

test('maps syslog severities onto ours: emerg to crit critical, err high, warning medium, notice low', () => {
  assert.deepEqual([0, 1, 2, 3, 4, 5, 6, 7].map(severityOfSyslog), [
    'critical',
    'critical',
    'critical',
    'high',
    'medium',
    'low',
    'info',
    'info',
  ]);
});

test('a message becomes a syslog.message event at the sender’s time, with names for facility and severity', () => {
  const message = parseSyslog(
    '<35>1 2025-05-12T10:15:30.5Z edge-07 sshd 812 auth [origin ip="192.0.2.1" ip="192.0.2.2"][meta x="1"] Failed password for root',
    { receivedAt },
  );
  const event = syslogEvent(message, receivedAt, { address: '192.0.2.9', transport: 'tls' });
  assert.deepEqual(plain(event), {
    type: 'syslog.message',
    severity: 'high',
    time: Date.parse('2025-05-12T10:15:30.500Z'),
    data: {
      format: '5424',
      facility: 'auth',
      syslogSeverity: 'err',
      hostname: 'edge-07',
      appName: 'sshd',
      procId: '812',
      msgId: 'auth',
      structuredData: { origin: { ip: ['192.0.2.1', '192.0.2.2'] }, meta: { x: '1' } },
      message: 'Failed password for root',
      sourceAddress: '192.0.2.9',
      transport: 'tls',
    },
  });
  assert.ok(deviceEventSchema.safeParse({ ...event, seq: 1, id: 'e1' }).success);
});

test('a message without timestamp takes the time it was received', () => {
  const event = syslogEvent(parseSyslog('<14>kernel: oops', { receivedAt }), receivedAt);
  assert.equal(event.time, receivedAt);
  assert.equal(event.severity, 'info');
  assert.equal(event.data.sourceAddress, undefined);
});

test('a malformed message keeps raw text and reason, and its PRI severity when readable', () => {
  const noPri = syslogEvent(parseSyslog('garbage', { receivedAt }), receivedAt);
  assert.deepEqual(plain(noPri), {
    type: 'syslog.message',
    severity: 'info',
    time: receivedAt,
    data: {
      format: 'malformed',
      facility: null,
      syslogSeverity: null,
      reason: 'missing PRI: a syslog message starts with <PRI>, e.g. <13>',
      raw: 'garbage',
    },
  });
  const withPri = syslogEvent(parseSyslog('<2>1 not-a-time h a - - -', { receivedAt }), receivedAt);
  assert.equal(withPri.severity, 'critical');
  assert.equal(withPri.data.facility, 'kern');
  assert.equal(withPri.data.raw, '<2>1 not-a-time h a - - -');
});

test('structured data named like Object.prototype members stays plain data', () => {
  const message = parseSyslog('<13>1 - - - - - [__proto__ constructor="x" toString="y"] m', { receivedAt });
  const event = syslogEvent(message, receivedAt);
  assert.equal(JSON.stringify(event.data.structuredData), '{"__proto__":{"constructor":"x","toString":"y"}}');
});
