import assert from 'node:assert/strict';
import { test } from 'node:test';
import { encodeOctetCounted } from '@edgeward/core';
import { captureIo } from '../cli-io.fixture.ts';
import { runEdgeward } from '../edgeward-program.ts';

const events = (io: { stdout: string[] }) =>
  io.stdout
    .join('')
    .split('\n')
    .filter((line) => line.length > 0)
    .map((line) => JSON.parse(line));

test('syslog parse prints one stored-event JSON line per input line, malformed ones included', async () => {
  const io = captureIo([
    '<34>Oct 11 22:14:15 mymachine su: su root failed\r\n<13>1 2025-05-12T10:15:30Z h app - - [x@1 k="v"] fi',
    'ne\nnot syslog\n',
  ]);
  assert.equal(await runEdgeward(['syslog', 'parse', '--now', '2025-01-02T00:00:00Z'], io), 0);
  const printed = events(io);
  assert.equal(printed.length, 3);
  assert.deepEqual(printed[0], {
    type: 'syslog.message',
    severity: 'critical',
    time: Date.parse('2024-10-11T22:14:15Z'),
    data: {
      format: '3164',
      facility: 'auth',
      syslogSeverity: 'crit',
      hostname: 'mymachine',
      appName: 'su',
      procId: null,
      msgId: null,
      structuredData: {},
      message: 'su root failed',
    },
  });
  assert.deepEqual(printed[1].data.structuredData, { 'x@1': { k: 'v' } });
  assert.equal(printed[1].data.message, 'fine');
  assert.equal(printed[2].data.format, 'malformed');
  assert.equal(printed[2].data.raw, 'not syslog');
  assert.equal(printed[2].time, Date.parse('2025-01-02T00:00:00Z'), 'malformed input takes --now');
  assert.match(io.stderr.join(''), /3 messages, 1 malformed/);
});

test('syslog parse --framing octet reads messages that contain line breaks', async () => {
  const io = captureIo([
    encodeOctetCounted('<13>1 - h app - - - two\nlines'),
    encodeOctetCounted('<13>1 - h app - - - next'),
  ]);
  assert.equal(await runEdgeward(['syslog', 'parse', '--framing', 'octet'], io), 0);
  assert.deepEqual(
    events(io).map((event) => event.data.message),
    ['two\nlines', 'next'],
  );
});

test('syslog parse rejects a bad --now or --framing with exit code 2 and names the flag', async () => {
  const badNow = captureIo([]);
  assert.equal(await runEdgeward(['syslog', 'parse', '--now', 'yesterday'], badNow), 2);
  assert.match(badNow.stderr.join(''), /--now yesterday must be an ISO 8601 time/);
  const badFraming = captureIo([]);
  assert.equal(await runEdgeward(['syslog', 'parse', '--framing', 'lines'], badFraming), 2);
  assert.match(badFraming.stderr.join(''), /--framing/);
});
