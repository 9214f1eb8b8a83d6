import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { isEdgewardError } from '../errors/edgeward-error.ts';
import { type CompactEventBatch, decodeCompactBatch, encodeCompactBatch } from './compact-batch.ts';
import type { DeviceEvent } from './event.schema.ts';
import { logLineEventId, queuedEventId } from './event-id.ts';

/** What travels: the batch as JSON text, read back. */
const overTheWire = (batch: CompactEventBatch): CompactEventBatch => JSON.parse(JSON.stringify(batch));

const key = fc.oneof(
  fc.constantFrom(
    'user',
    'line',
    'source',
    'offset',
    'fileHead',
    'pid',
    'a.b',
    '__proto__',
    'constructor',
    '',
  ),
  fc.string({ maxLength: 6 }),
);
const scalar = fc.oneof(
  fc.string({ maxLength: 30 }),
  fc.constantFrom('\u0001', '\u0001\u0001x', '\u0001!', '2026-11-20T00:00:05.447', 'root', '203.0.113.5'),
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }).filter((value) => !Object.is(value, -0)),
  fc.boolean(),
  fc.constant(null),
);
const json: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  value: fc.oneof({ depthSize: 'small', withCrossShrink: true }, scalar, tie('array'), tie('object')),
  array: fc.array(tie('value'), { maxLength: 3 }),
  object: fc.dictionary(key, tie('value'), { maxKeys: 4 }),
})).value;

const lineLike = fc
  .tuple(
    fc.integer({ min: 0, max: 10 ** 12 }),
    fc.constantFrom('root', 'admin', 'pi'),
    fc.integer({ min: 1, max: 65_535 }),
  )
  .map(
    ([time, user, port]) =>
      `${new Date(time * 1000).toISOString().replace('Z', '123+00:00')} gw sshd[${port % 999}]: Failed password for ${user} from 198.51.100.${port % 250} port ${port} ssh2`,
  );

const events = fc
  .array(
    fc.record({
      gap: fc.integer({ min: 1, max: 5 }),
      time: fc.integer({ min: -(10 ** 13), max: 10 ** 13 }),
      type: fc.constantFrom('auth.login_failed', 'fim.modified', 'agent.started'),
      severity: fc.constantFrom('info', 'low', 'medium', 'high', 'critical'),
      data: fc.dictionary(key, json, { maxKeys: 6 }),
      line: fc.option(fc.oneof(lineLike, fc.string()), { nil: undefined }),
      explicitId: fc.option(fc.uuid(), { nil: undefined }),
    }),
    { maxLength: 40 },
  )
  .map((drafts) => {
    let seq = 0;
    return drafts.map((draft): DeviceEvent => {
      seq += draft.gap;
      const data = JSON.parse(JSON.stringify(draft.data)) as Record<string, unknown>;
      if (draft.line !== undefined) data.line = draft.line;
      return {
        seq,
        id: draft.explicitId ?? queuedEventId(seq),
        type: draft.type,
        severity: draft.severity as DeviceEvent['severity'],
        time: draft.time,
        data,
      };
    });
  });

test('decoding a compact batch gives back exactly the events encoded, whatever their data', () => {
  fc.assert(
    fc.property(events, fc.integer({ min: 0, max: 1000 }), (batch, floorSeq) => {
      const decoded = decodeCompactBatch(overTheWire(encodeCompactBatch(batch, floorSeq)));
      assert.equal(JSON.stringify(decoded), JSON.stringify(batch));
      assert.deepEqual(decoded, batch);
    }),
    { numRuns: 400 },
  );
});

test('a key named __proto__ stays data and reaches no prototype', () => {
  const event: DeviceEvent = {
    seq: 1,
    id: queuedEventId(1),
    type: 'agent.started',
    severity: 'info',
    time: 0,
    data: JSON.parse('{"__proto__":{"polluted":true},"ok":1}'),
  };
  const [decoded] = decodeCompactBatch(overTheWire(encodeCompactBatch([event])));
  assert.equal(({} as { polluted?: boolean }).polluted, undefined);
  assert.deepEqual(Object.keys(decoded?.data ?? {}), ['__proto__', 'ok']);
  assert.equal(JSON.stringify(decoded?.data), '{"__proto__":{"polluted":true},"ok":1}');
});

test('ids the manager can derive are left out, others travel', () => {
  const line =
    '2026-11-20T00:00:05.447113+00:00 gw sshd[41006]: Failed password for root from 203.0.113.5 port 31220 ssh2';
  const data = {
    user: 'root',
    sourceAddress: '203.0.113.5',
    sourcePort: 31_220,
    pid: 41_006,
    source: '/var/log/auth.log',
    fileHead: 'ab12',
    offset: 4096,
    line,
  };
  const logLine: DeviceEvent = {
    seq: 7,
    id: logLineEventId('/var/log/auth.log', 'ab12', 4096, line),
    type: 'auth.login_failed',
    severity: 'medium',
    time: Date.parse('2026-11-20T00:00:05.447Z'),
    data,
  };
  const queued: DeviceEvent = {
    seq: 8,
    id: queuedEventId(8),
    type: 'agent.started',
    severity: 'info',
    time: 0,
    data: {},
  };
  const derivedOnly = encodeCompactBatch([logLine, queued]);
  assert.equal(derivedOnly.columns.id, undefined);
  const random = { ...queued, seq: 9, id: '0b6f8a52-95e3-4a8e-9d1c-5b7e0d1f2a3c' };
  const mixed = encodeCompactBatch([logLine, queued, random]);
  assert.deepEqual(mixed.columns.id, [null, null, random.id]);
  assert.deepEqual(decodeCompactBatch(overTheWire(mixed)), [logLine, queued, random]);
});

test('a log line travels as a template that refers to the fields parsed from it and to the event time', () => {
  const line =
    '2026-11-20T00:00:05.447113+00:00 gw sshd[41006]: Failed password for admin from 203.0.113.5 port 31220 ssh2';
  const event: DeviceEvent = {
    seq: 1,
    id: queuedEventId(1),
    type: 'auth.login_failed',
    severity: 'medium',
    time: Date.parse('2026-11-20T00:00:05.447Z'),
    data: { user: 'admin', sourceAddress: '203.0.113.5', sourcePort: 31_220, pid: 41_006, line },
  };
  const batch = encodeCompactBatch([event]);
  const template = batch.columns['d["line"]']?.[0] as string;
  for (const copied of ['2026-11-20T00:00:05.447', 'admin', '203.0.113.5', '31220', '41006'])
    assert.ok(
      !template.includes(copied),
      `${copied} is referred to, not repeated: ${JSON.stringify(template)}`,
    );
  assert.ok(template.includes('Failed password for'));
  assert.deepEqual(decodeCompactBatch(overTheWire(batch)), [event]);
});

test('sequence numbers and times travel as differences', () => {
  const batch = encodeCompactBatch(
    [100, 101, 102, 105].map((seq) => ({
      seq,
      id: queuedEventId(seq),
      type: 'agent.started',
      severity: 'info' as const,
      time: 1_795_132_800_000 + seq * 10,
      data: {},
    })),
  );
  assert.deepEqual(batch.columns.seq, [100, 1, 1, 3]);
  assert.deepEqual(batch.columns.time, [1_795_132_801_000, 10, 10, 30]);
  assert.ok(batch.deltas.includes('seq') && batch.deltas.includes('time'));
});

test('a batch whose columns do not add up is refused by name, never half read', () => {
  const good = encodeCompactBatch([
    {
      seq: 1,
      id: queuedEventId(1),
      type: 'agent.started',
      severity: 'info',
      time: 5,
      data: { user: 'root' },
    },
  ]);
  const broken: [string, CompactEventBatch][] = [
    ['fewer values', { ...good, count: 2 }],
    ['more values', { ...good, columns: { ...good.columns, 'd["user"]': ['root', 'x'] } }],
    ['an entry its list does not have', { ...good, columns: { ...good.columns, type: [3] } }],
    [
      'differences that are not integers',
      { ...good, columns: { ...good.columns, seq: [1.5] }, deltas: ['seq'] },
    ],
    [
      'a field the event does not have',
      {
        ...good,
        columns: { ...good.columns, 'd["user"]': ['\u0001z'] },
        shapes: [[['line']]],
        types: good.types,
      },
    ],
  ];
  for (const [expected, batch] of broken) {
    const patched =
      expected === 'a field the event does not have'
        ? {
            ...batch,
            columns: { seq: [1], time: [5], type: [0], severity: [0], shape: [0], 'd["line"]': ['\u0001z'] },
          }
        : batch;
    assert.throws(
      () => decodeCompactBatch(patched),
      (error: unknown) => isEdgewardError(error, 'EW_REQUEST_INVALID') && error.message.includes(expected),
      expected,
    );
  }
});
