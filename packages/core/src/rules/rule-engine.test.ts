import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { CompiledRuleSet, RuleEvent, RuleSignal } from './rule.schema.ts';
import { RuleEngine } from './rule-engine.ts';
import { compileRules, defaultOptions, event, firedRules, run } from './rule-test.fixture.ts';

const SECOND = 1000;
const MINUTE = 60 * SECOND;

/** A detection named `hit` over `x.hit` events (or `x.<type>`), for correlations to refer to. */
function base(name = 'hit', type = `x.${name}`, generate = ''): string {
  return `title: ${name}
id: ${name}
name: ${name}
logsource: {product: edgeward}
detection: {selection: {type: ${type}}, condition: selection}
${generate}`;
}

function correlation(id: string, body: string, extra = ''): string {
  return `title: ${id}
id: ${id}
correlation:
${body
  .trim()
  .split('\n')
  .map((line) => `  ${line}`)
  .join('\n')}
level: high
edgeward: {scope: agent${extra}}
`;
}

function hit(
  time: number,
  data: Record<string, unknown> = {},
  overrides: Partial<RuleEvent> = {},
): RuleEvent {
  return event('x.hit', { k: 'a', ...data }, { time, ...overrides });
}

describe('detection rules', () => {
  it('raise one signal per matching event, with the event referenced', () => {
    const rules = compileRules(base('hit', 'x.hit'));
    const first = hit(5, {}, { seq: 1, id: 'e1' });
    const signals = run(rules, [
      first,
      event('x.other', {}, { seq: 2, time: 6 }),
      hit(7, {}, { seq: 3, id: 'e3' }),
    ]);
    assert.deepEqual(
      signals.map((signal) => [signal.ruleId, signal.kind, signal.count, signal.firstSeen, signal.eventRefs]),
      [
        ['hit', 'detection', 1, 5, [{ deviceId: 'd1', seq: 1, id: 'e1' }]],
        ['hit', 'detection', 1, 7, [{ deviceId: 'd1', seq: 3, id: 'e3' }]],
      ],
    );
    assert.deepEqual(signals[0]?.groupFields, { deviceId: 'd1' });
    assert.equal(signals[0]?.groupKey, '["d1"]');
  });

  it('take the event severity with `severity: event`, and the tier with it unless set', () => {
    const rules = compileRules(`${base('drift', 'policy.config_drift')}edgeward: {severity: event}\n`);
    const [signal] = run(rules, [event('policy.config_drift', {}, { severity: 'critical' })]);
    assert.equal(signal?.severity, 'critical');
    assert.equal(signal?.tier, 'critical');
  });

  it('hold back signals during the cooldown, which ends exactly cooldown after the last signal', () => {
    const rules = compileRules(`${base()}edgeward: {cooldown: 10m}\n`);
    const times = [0, 5 * MINUTE, 10 * MINUTE - 1, 10 * MINUTE, 15 * MINUTE];
    const engine = new RuleEngine(rules, defaultOptions);
    const signals = [...engine.ingest(times.map((time) => hit(time))), ...engine.flush()];
    assert.deepEqual(
      signals.map((signal) => signal.firstSeen),
      [0, 10 * MINUTE],
    );
    assert.equal(engine.stats().cooledDown, 3);
  });

  it('merge matches within the suppression window into the open alert and report its growth when it closes', () => {
    const rules = compileRules(`${base()}edgeward: {suppress: {keys: [k], window: 1h}}\n`);
    const engine = new RuleEngine(rules, defaultOptions);
    const first = engine.ingest([hit(0), hit(10 * MINUTE, { k: 'b' }), hit(20 * MINUTE), hit(60 * MINUTE)]);
    assert.deepEqual(
      first.map((signal) => [signal.groupFields.k, signal.count, signal.update]),
      [
        ['a', 1, false],
        ['b', 1, false],
      ],
    );
    // An event after the window closes the first alert (reporting its growth) and opens a new one.
    const later = engine.ingest([hit(60 * MINUTE + 1), hit(70 * MINUTE + 1, { k: 'c' })]);
    assert.deepEqual(
      later.map((signal) => [
        signal.groupFields.k,
        signal.count,
        signal.firstSeen,
        signal.lastSeen,
        signal.update,
      ]),
      [
        ['a', 3, 0, 60 * MINUTE, true],
        ['a', 1, 60 * MINUTE + 1, 60 * MINUTE + 1, false],
      ],
    );
    assert.equal(later[0]?.eventRefs.length, 3);
    assert.equal(engine.stats().merged, 2);
    const end = engine.flush();
    assert.deepEqual(
      end.map((signal) => [signal.groupFields.k, signal.update]),
      [['c', false]],
    );
  });

  it('raise a first-seen rule only for combinations not seen before, after learning, per device', () => {
    const rules = compileRules(`${base()}edgeward: {firstSeen: {keys: [user, src], learning: 1h}}\n`);
    const login = (time: number, user: string, src: string, deviceId = 'd1') =>
      hit(time, { user, src }, { deviceId });
    const signals = run(rules, [
      login(0, 'bob', '10.0.0.1'),
      login(30 * MINUTE, 'bob', '10.0.0.2'),
      login(60 * MINUTE, 'bob', '10.0.0.2'),
      login(61 * MINUTE, 'bob', '10.0.0.3'),
      login(62 * MINUTE, 'alice', '10.0.0.1'),
      login(63 * MINUTE, 'bob', '10.0.0.1'),
      login(64 * MINUTE, 'bob', '10.0.0.9', 'd2'),
    ]);
    assert.deepEqual(
      signals.map((signal) => signal.firstSeen),
      [61 * MINUTE, 62 * MINUTE],
    );
  });
});

describe('event_count', () => {
  const rules = compileRules(
    `${base()}---\n${correlation('count', 'type: event_count\nrules: [hit]\ngroup-by: [k]\ntimespan: 1m\ncondition: {gte: 3}')}`,
  );

  it('fires when N events lie within the timespan, boundaries included, and not one millisecond wider', () => {
    const inside = run(rules, [hit(0), hit(30 * SECOND), hit(MINUTE)]);
    assert.deepEqual(
      inside.map((signal) => [signal.ruleId, signal.count, signal.firstSeen, signal.lastSeen]),
      [['count', 3, 0, MINUTE]],
    );
    assert.deepEqual(firedRules(rules, [hit(0), hit(30 * SECOND), hit(MINUTE + 1)]), []);
  });

  it('counts each group apart and fires once per window, then starts again', () => {
    const events = [hit(0), hit(1, { k: 'b' }), hit(2), hit(3, { k: 'b' }), hit(4), hit(5), hit(6), hit(7)];
    assert.deepEqual(
      run(rules, events).map((signal) => [signal.groupFields.k, signal.lastSeen]),
      [
        ['a', 4],
        ['a', 7],
      ],
    );
  });

  it('fires as the oracle says for any event times (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 3 * MINUTE }), { maxLength: 40 }),
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 0, max: 2 * MINUTE }),
        (raw, threshold, span) => {
          const times = [...raw].sort((a, b) => a - b);
          const spanText = span === 0 ? '1ms' : `${span}ms`;
          const set = compileRules(
            `${base()}---\n${correlation('count', `type: event_count\nrules: [hit]\ntimespan: ${spanText}\ncondition: {gte: ${threshold}}`)}`,
          );
          // The oracle: since the last firing, fire when the threshold-th latest event is within the span.
          const expected: number[] = [];
          let since: number[] = [];
          for (const time of times) {
            since.push(time);
            const oldest = since[since.length - threshold];
            if (oldest !== undefined && time - oldest <= Math.max(span, 1)) {
              expected.push(time);
              since = [];
            }
          }
          const events = times.map((time, index) => hit(time, {}, { seq: index + 1 }));
          assert.deepEqual(
            run(set, events).map((signal) => signal.lastSeen),
            expected,
          );
        },
      ),
    );
  });
});

describe('value_count', () => {
  it('counts distinct values of the field within the timespan', () => {
    const rules = compileRules(
      `${base()}---\n${correlation('spray', 'type: value_count\nrules: [hit]\ngroup-by: [src]\ntimespan: 10m\ncondition: {field: user, gte: 3}')}`,
    );
    const attempt = (time: number, user: string) => hit(time, { src: '10.0.0.9', user });
    assert.deepEqual(
      firedRules(rules, [attempt(0, 'a'), attempt(1, 'a'), attempt(2, 'b'), attempt(3, 'b')]),
      [],
    );
    const signals = run(rules, [attempt(0, 'a'), attempt(1, 'b'), attempt(2, 'a'), attempt(3, 'c')]);
    assert.deepEqual(
      signals.map((signal) => [signal.ruleId, signal.count, signal.groupFields.src]),
      [['spray', 3, '10.0.0.9']],
    );
    // Values seen longer ago than the timespan no longer count.
    assert.deepEqual(
      firedRules(rules, [attempt(0, 'a'), attempt(1, 'b'), attempt(10 * MINUTE + 1, 'c')]),
      [],
    );
    // An event without the field is not counted.
    assert.deepEqual(firedRules(rules, [attempt(0, 'a'), attempt(1, 'b'), hit(2, { src: '10.0.0.9' })]), []);
  });
});

describe('conditions with an upper bound', () => {
  const rules = compileRules(
    `${base()}---\n${correlation('quiet', 'type: event_count\nrules: [hit]\ngroup-by: [k]\ntimespan: 1m\ncondition: {lt: 3}')}`,
  );

  it('judge a window anchored at its first event once the timespan after it has passed', () => {
    const engine = new RuleEngine(rules, defaultOptions);
    assert.deepEqual(engine.ingest([hit(0), hit(MINUTE)]), []);
    // The window [0, 1m] closes only when an event after 1m arrives.
    const closed = engine.ingest([hit(MINUTE + 1)]);
    assert.deepEqual(
      closed.map((signal) => [signal.ruleId, signal.count, signal.firstSeen, signal.lastSeen]),
      [['quiet', 2, 0, MINUTE]],
    );
    // The last window closes at the end of the input.
    assert.deepEqual(
      engine.flush().map((signal) => signal.count),
      [1],
    );
  });

  it('stay silent when the count reaches the bound', () => {
    assert.deepEqual(firedRules(rules, [hit(0), hit(1), hit(2), hit(3)]), []);
  });

  it('take an exact count with eq and a range with gt and lte', () => {
    const exact = compileRules(
      `${base()}---\n${correlation('exact', 'type: event_count\nrules: [hit]\ntimespan: 1m\ncondition: {eq: 2}')}`,
    );
    assert.deepEqual(firedRules(exact, [hit(0), hit(1)]), ['exact']);
    assert.deepEqual(firedRules(exact, [hit(0), hit(1), hit(2)]), []);
    const range = compileRules(
      `${base()}---\n${correlation('range', 'type: value_count\nrules: [hit]\ntimespan: 1m\ncondition: {field: user, gt: 1, lte: 2}')}`,
    );
    assert.deepEqual(firedRules(range, [hit(0, { user: 'a' }), hit(1, { user: 'b' })]), ['range']);
    assert.deepEqual(firedRules(range, [hit(0, { user: 'a' }), hit(1, { user: 'a' })]), []);
    assert.deepEqual(
      firedRules(range, [hit(0, { user: 'a' }), hit(1, { user: 'b' }), hit(2, { user: 'c' })]),
      [],
    );
  });

  it('close windows with flush(now) only when they end before now', () => {
    const engine = new RuleEngine(rules, defaultOptions);
    engine.ingest([hit(0)]);
    assert.deepEqual(engine.flush(30 * SECOND), []);
    assert.deepEqual(
      engine.flush(MINUTE + 1).map((signal) => signal.ruleId),
      ['quiet'],
    );
  });
});

describe('temporal correlations', () => {
  const rules = compileRules(
    `${base('a')}---\n${base('b')}---\n${base('c')}---\n${correlation('any-order', 'type: temporal\nrules: [a, b, c]\ngroup-by: [k]\ntimespan: 5m')}---\n${correlation('in-order', 'type: temporal_ordered\nrules: [a, b, c]\ngroup-by: [k]\ntimespan: 5m')}`,
  );
  const at = (type: string, time: number, k = 'a') => event(`x.${type}`, { k }, { time });

  it('temporal fires when every rule matched within the timespan, in any order', () => {
    assert.deepEqual(firedRules(rules, [at('c', 0), at('a', MINUTE), at('b', 5 * MINUTE)]), ['any-order']);
    assert.deepEqual(firedRules(rules, [at('c', 0), at('a', MINUTE), at('b', 5 * MINUTE + 1)]), []);
    assert.deepEqual(firedRules(rules, [at('a', 0), at('b', 1, 'other'), at('c', 2)]), []);
  });

  it('temporal_ordered fires only when the rules matched in the order listed', () => {
    const signals = run(rules, [at('a', 0), at('b', MINUTE), at('c', 2 * MINUTE)]);
    assert.deepEqual(
      signals.map((signal) => [signal.ruleId, signal.count, signal.firstSeen, signal.lastSeen]),
      [
        ['any-order', 3, 0, 2 * MINUTE],
        ['in-order', 3, 0, 2 * MINUTE],
      ],
    );
    assert.deepEqual(firedRules(rules, [at('b', 0), at('a', MINUTE), at('c', 2 * MINUTE)]), ['any-order']);
    // A later start replaces an expired one.
    assert.deepEqual(
      firedRules(rules, [
        at('a', 0),
        at('b', 4 * MINUTE),
        at('a', 4 * MINUTE),
        at('b', 6 * MINUTE),
        at('c', 7 * MINUTE),
      ]),
      ['any-order', 'in-order'],
    );
    assert.deepEqual(firedRules(rules, [at('a', 0), at('b', 4 * MINUTE), at('c', 6 * MINUTE)]), []);
  });

  it('takes a count of rules with gte', () => {
    const some = compileRules(
      `${base('a')}---\n${base('b')}---\n${base('c')}---\n${correlation('two', 'type: temporal\nrules: [a, b, c]\ntimespan: 5m\ncondition: {gte: 2}')}`,
    );
    assert.deepEqual(firedRules(some, [at('a', 0), at('a', 1), at('c', 2)]), ['two']);
    assert.deepEqual(firedRules(some, [at('a', 0), at('a', 1)]), []);
  });

  it('chains a correlation into another (failed logins, then a success)', () => {
    const chain = compileRules(`${base('failed')}---
${base('success')}---
${correlation('many-failed', 'type: event_count\nrules: [failed]\ngroup-by: [user]\ntimespan: 10m\ncondition: {gte: 3}')}---
${correlation('then-success', 'type: temporal_ordered\nrules: [many-failed, success]\ngroup-by: [user]\ntimespan: 10m')}`);
    const login = (type: string, time: number, user = 'bob') => event(`x.${type}`, { user }, { time });
    const signals = run(chain, [
      login('failed', 0),
      login('failed', MINUTE),
      login('failed', 2 * MINUTE),
      login('success', 3 * MINUTE, 'alice'),
      login('success', 4 * MINUTE),
    ]);
    assert.deepEqual(
      signals.map((signal) => [
        signal.ruleId,
        signal.count,
        signal.firstSeen,
        signal.lastSeen,
        signal.eventRefs.length,
      ]),
      [['then-success', 2, 2 * MINUTE, 4 * MINUTE, 4]],
    );
    assert.deepEqual(signals[0]?.groupFields, { deviceId: 'd1', user: 'bob' });
  });

  it('groups by an alias that names a different field per rule', () => {
    const aliased = compileRules(`${base('a')}---
${base('b')}---
title: aliased
id: aliased
correlation:
  type: temporal
  rules: [a, b]
  group-by: [address]
  timespan: 1m
  aliases:
    address: {a: src, b: dst}
edgeward: {scope: agent}
`);
    const signals = run(aliased, [
      event('x.a', { src: '10.0.0.1' }, { time: 0 }),
      event('x.b', { dst: '10.0.0.1' }, { time: 1 }),
    ]);
    assert.deepEqual(
      signals.map((signal) => signal.groupFields),
      [{ deviceId: 'd1', address: '10.0.0.1' }],
    );
  });
});

describe('delivery', () => {
  const rules = compileRules(
    `${base()}---\n${correlation('count', 'type: event_count\nrules: [hit]\ntimespan: 1m\ncondition: {gte: 2}')}`,
  );

  it('counts a duplicate (same device and seq) once', () => {
    const engine = new RuleEngine(rules, defaultOptions);
    const once = hit(0, {}, { seq: 1 });
    const signals = [...engine.ingest([once, once]), ...engine.ingest([once]), ...engine.flush()];
    assert.deepEqual(signals, []);
    assert.equal(engine.stats().duplicates, 2);
  });

  it('holds events until the watermark passes them and orders them by event time', () => {
    const engine = new RuleEngine(rules, { ...defaultOptions, allowedLatenessMs: 10 * SECOND });
    assert.deepEqual(engine.ingest([hit(5 * SECOND, {}, { seq: 2 })]), []);
    assert.equal(engine.stats().buffered, 1);
    assert.deepEqual(engine.ingest([hit(0, {}, { seq: 1 })]), []);
    const signals = engine.ingest([hit(20 * SECOND, {}, { seq: 3 })]);
    assert.deepEqual(
      signals.map((signal) => signal.eventRefs.map((ref) => ref.seq)),
      [[1, 2]],
    );
    assert.equal(engine.stats().late, 0);
  });

  it('evaluates an event later than the lateness at once, and counts it as late', () => {
    const engine = new RuleEngine(rules, { ...defaultOptions, allowedLatenessMs: SECOND });
    engine.ingest([hit(10 * SECOND, {}, { seq: 1 }), hit(20 * SECOND, {}, { seq: 2 })]);
    const signals = engine.ingest([hit(9 * SECOND, {}, { seq: 3 })]);
    assert.deepEqual(
      signals.map((signal) => signal.ruleId),
      ['count'],
    );
    assert.equal(engine.stats().late, 1);
  });

  it('counts as late only events older than the watermark (the newest time minus the lateness)', () => {
    const engine = new RuleEngine(rules, { ...defaultOptions, allowedLatenessMs: SECOND });
    engine.ingest([hit(10 * SECOND, {}, { seq: 1 }), hit(20 * SECOND, {}, { seq: 2 })]);
    engine.ingest([hit(19 * SECOND, {}, { seq: 3 })]);
    assert.equal(engine.stats().late, 0);
    engine.ingest([hit(19 * SECOND - 1, {}, { seq: 4 })]);
    assert.equal(engine.stats().late, 1);
  });

  it('remembers sequence numbers as ranges, and gives up the lowest gap when too many are open', () => {
    const engine = new RuleEngine(compileRules(base()), defaultOptions);
    // A stream first seen part way is one range, however long.
    engine.ingest(Array.from({ length: 5000 }, (_, index) => hit(index, {}, { seq: 1000 + index })));
    engine.ingest([hit(5000, {}, { seq: 500 }), hit(5001, {}, { seq: 1500 })]);
    assert.equal(engine.stats().duplicates, 1);
    const gaps = new RuleEngine(compileRules(base()), defaultOptions);
    // Every other number: each is a range of its own; past 64 of them the lowest gap is given up.
    gaps.ingest(Array.from({ length: 100 }, (_, index) => hit(index, {}, { seq: 2 * index + 2 })));
    gaps.ingest([hit(200, {}, { seq: 1 }), hit(201, {}, { seq: 199 }), hit(202, {}, { seq: 199 })]);
    gaps.flush();
    assert.equal(gaps.stats().duplicates, 2);
    assert.equal(gaps.stats().processed, 101);
  });
});

describe('bounded state', () => {
  it('evicts the least recently used group of a rule and counts it', () => {
    const rules = compileRules(
      `${base()}---\n${correlation('count', 'type: event_count\nrules: [hit]\ngroup-by: [k]\ntimespan: 1h\ncondition: {gte: 2}')}`,
    );
    const engine = new RuleEngine(rules, { ...defaultOptions, maxGroupsPerRule: 2 });
    const signals = [
      ...engine.ingest([hit(0, { k: 'a' }), hit(1, { k: 'b' }), hit(2, { k: 'c' }), hit(3, { k: 'a' })]),
      ...engine.flush(),
    ];
    // Group a was evicted when c arrived, so its second event starts afresh.
    assert.deepEqual(signals, []);
    assert.equal(engine.stats().evictedGroups, 2);
    assert.ok(engine.stats().groups <= 2);
    assert.deepEqual(
      firedRules(rules, [hit(0, { k: 'a' }), hit(1, { k: 'b' }), hit(3, { k: 'a' })], {
        maxGroupsPerRule: 2,
      }),
      ['count'],
    );
  });

  it('reports the growth of an open alert when its state is evicted', () => {
    const rules = compileRules(`${base()}edgeward: {suppress: {keys: [k], window: 1h}}\n`);
    const engine = new RuleEngine(rules, { ...defaultOptions, maxGroupsPerRule: 1 });
    const signals = [
      ...engine.ingest([hit(0, { k: 'a' }), hit(1, { k: 'a' }), hit(2, { k: 'b' })]),
      ...engine.flush(),
    ];
    assert.deepEqual(
      signals.map((signal) => [signal.groupFields.k, signal.count, signal.update]),
      [
        ['a', 1, false],
        ['b', 1, false],
        ['a', 2, true],
      ],
    );
  });
});

describe('scopes', () => {
  const rules = compileRules(`${base('failed')}---
title: fleet
id: fleet
correlation: {type: value_count, rules: [failed], group-by: [src], timespan: 1h, condition: {field: deviceId, gte: 2}}
edgeward: {scope: hub}
---
${base('local', 'x.local')}`);
  const failed = (deviceId: string, time: number) =>
    event('x.failed', { src: '1.2.3.4' }, { deviceId, time });

  it('runs the rules of its scope and the rules they refer to, which raise nothing there', () => {
    assert.deepEqual(firedRules(rules, [failed('d1', 0), failed('d2', 1)], { scope: 'hub' }), ['fleet']);
    assert.equal(new RuleEngine(rules, { ...defaultOptions, scope: 'hub' }).stats().rules, 2);
    assert.deepEqual(
      firedRules(rules, [failed('d1', 0), failed('d2', 1), event('x.local', {})], { scope: 'agent' }),
      ['local'],
    );
    assert.deepEqual(firedRules(rules, [failed('d1', 0), failed('d2', 1)], { scope: 'site' }), []);
  });

  it('keeps the seq of another stream apart from the device’s own', () => {
    const engine = new RuleEngine(rules, { ...defaultOptions, scope: 'hub' });
    const signals = engine.ingest([
      failed('d1', 0),
      event('x.failed', { src: '1.2.3.4' }, { deviceId: 'd2', seq: 1 }),
    ]);
    void signals;
    const alert = event(
      'x.failed',
      { src: '1.2.3.4' },
      { deviceId: 'd2', seq: 1, stream: 'alert:d2', time: 2 },
    );
    engine.ingest([alert]);
    assert.equal(engine.stats().duplicates, 0);
    assert.equal(engine.stats().streams, 3);
  });

  it('refuses options it cannot work with', () => {
    assert.throws(
      () => new RuleEngine(rules, { ...defaultOptions, allowedLatenessMs: -1 }),
      /allowedLatenessMs/,
    );
    assert.throws(
      () => new RuleEngine(rules, { ...defaultOptions, maxGroupsPerRule: 0 }),
      /maxGroupsPerRule/,
    );
  });
});

// --- properties over delivery and persistence ----------------------------------------------------

const mixed: CompiledRuleSet =
  compileRules(`${base('hit', 'x.hit', 'edgeward: {suppress: {keys: [k], window: 30s}, cooldown: 20s}\n')}---
${base('other')}---
${correlation('count', 'type: event_count\nrules: [hit]\ngroup-by: [k]\ntimespan: 1m\ncondition: {gte: 3}\ngenerate: true', ', suppress: {window: 2m}')}---
${correlation('distinct', 'type: value_count\nrules: [hit, other]\ngroup-by: [k]\ntimespan: 1m\ncondition: {field: v, gte: 2}')}---
${correlation('sparse', 'type: event_count\nrules: [hit]\ngroup-by: [k]\ntimespan: 30s\ncondition: {lt: 2}')}---
${correlation('both', 'type: temporal\nrules: [hit, other]\ngroup-by: [k]\ntimespan: 45s')}---
${correlation('ordered', 'type: temporal_ordered\nrules: [other, hit]\ngroup-by: [k]\ntimespan: 45s')}---
title: new v
id: new-v
logsource: {product: edgeward}
detection: {selection: {type: [x.hit, x.other]}, condition: selection}
edgeward: {firstSeen: {keys: [v], learning: 1m}}
`);

interface Generated {
  readonly events: RuleEvent[];
  readonly lateness: number;
}

/** Events of 1–3 devices, each in sequence-number order with non-decreasing times. */
const generated: fc.Arbitrary<Generated> = fc
  .record({
    devices: fc.array(
      fc.array(
        fc.record({
          // Whole seconds, many of them equal, so that events tie with each other and with watermarks.
          step: fc.constantFrom(0, 0, SECOND, 2 * SECOND, 5 * SECOND, 10 * SECOND, 20 * SECOND, 40 * SECOND),
          type: fc.constantFrom('x.hit', 'x.other'),
          k: fc.constantFrom('a', 'b'),
          v: fc.constantFrom('1', '2', '3'),
        }),
        { maxLength: 25 },
      ),
      { minLength: 1, maxLength: 3 },
    ),
    lateness: fc.constantFrom(0, SECOND, 5 * SECOND, 10 * SECOND, 30 * SECOND),
  })
  .map(({ devices, lateness }) => {
    const events: RuleEvent[] = [];
    devices.forEach((specs, device) => {
      let time = 1_000_000;
      specs.forEach((spec, index) => {
        time += spec.step;
        events.push(
          event(
            spec.type,
            { k: spec.k, v: spec.v },
            { deviceId: `d${device}`, seq: index + 1, time, id: `d${device}-${index + 1}` },
          ),
        );
      });
    });
    return { events, lateness };
  });

function inOrder(events: readonly RuleEvent[]): RuleEvent[] {
  return [...events].sort((a, b) => a.time - b.time || a.deviceId.localeCompare(b.deviceId) || a.seq - b.seq);
}

function deliver(engine: RuleEngine, batches: readonly (readonly RuleEvent[])[]): RuleSignal[] {
  const signals: RuleSignal[] = [];
  for (const batch of batches) signals.push(...engine.ingest(batch));
  signals.push(...engine.flush());
  return signals;
}

/** Signals in a form that compares across runs: per device their order holds, across devices it need not. */
function comparable(signals: readonly RuleSignal[], devices: number): string[] {
  const texts = signals.map((signal) => JSON.stringify(signal));
  return devices === 1 ? texts : texts.sort();
}

describe('delivery properties', () => {
  it('gives the same signals for shuffled (within the lateness), duplicated and batched delivery as in order', () => {
    let signalled = 0;
    fc.assert(
      fc.property(
        generated,
        fc.infiniteStream(fc.integer({ min: 0, max: 1_000_000 })),
        fc.array(fc.nat(), { maxLength: 10 }),
        fc.array(fc.integer({ min: 1, max: 8 }), { minLength: 1, maxLength: 10 }),
        ({ events, lateness }, noise, duplicateAt, batchSizes) => {
          const options = { ...defaultOptions, allowedLatenessMs: lateness };
          const devices = new Set(events.map((each) => each.deviceId)).size;
          const expected = deliver(
            new RuleEngine(mixed, options),
            inOrder(events).map((each) => [each]),
          );
          // Each event arrives at time + a delay of at most the lateness: nothing more than the
          // lateness newer than an event arrives before it.
          const delays = noise.take(events.length);
          const arrival = events
            .map((each, index) => ({
              each,
              key: each.time + ((delays.next().value ?? 0) % (lateness / SECOND + 1)) * SECOND,
              index,
            }))
            .sort((a, b) => a.key - b.key || a.index - b.index)
            .map(({ each }) => each);
          for (const position of duplicateAt) {
            if (arrival.length === 0) break;
            const original = position % arrival.length;
            arrival.splice(original + 1 + (position % 3), 0, arrival[original] as RuleEvent);
          }
          const batches: RuleEvent[][] = [];
          for (let start = 0, index = 0; start < arrival.length; index += 1) {
            const size = batchSizes[index % batchSizes.length] ?? 1;
            batches.push(arrival.slice(start, start + size));
            start += size;
          }
          const engine = new RuleEngine(mixed, options);
          const actual = deliver(engine, batches);
          assert.equal(engine.stats().late, 0);
          assert.equal(engine.stats().duplicates, arrival.length - events.length);
          assert.deepEqual(comparable(actual, devices), comparable(expected, devices));
          signalled += expected.length;
        },
      ),
      { numRuns: 150 },
    );
    // The property is only worth something if the rules do fire.
    assert.ok(signalled > 500, `only ${signalled} signals over all runs`);
  });

  it('gives the same signals when the engine is saved and restored part way (property)', () => {
    fc.assert(
      fc.property(
        generated,
        fc.nat(),
        fc.integer({ min: 1, max: 6 }),
        ({ events, lateness }, cutAt, batchSize) => {
          const options = { ...defaultOptions, allowedLatenessMs: lateness };
          const devices = new Set(events.map((each) => each.deviceId)).size;
          const ordered = inOrder(events);
          const batches: RuleEvent[][] = [];
          for (let start = 0; start < ordered.length; start += batchSize)
            batches.push(ordered.slice(start, start + batchSize));
          const expected = deliver(new RuleEngine(mixed, options), batches);
          const cut = batches.length === 0 ? 0 : cutAt % (batches.length + 1);
          const before = new RuleEngine(mixed, options);
          const signals: RuleSignal[] = [];
          for (const batch of batches.slice(0, cut)) signals.push(...before.ingest(batch));
          const saved = JSON.parse(JSON.stringify(before.snapshot()));
          const after = new RuleEngine(mixed, options);
          const restored = after.restore(saved);
          assert.ok(restored.ok && restored.droppedRules.length === 0, JSON.stringify(restored));
          signals.push(...deliver(after, batches.slice(cut)));
          assert.deepEqual(comparable(signals, devices), comparable(expected, devices));
        },
      ),
      { numRuns: 150 },
    );
  });
});

describe('snapshot and restore', () => {
  it('drops the state of a rule that changed, keeps the others, and refuses what is not a snapshot', () => {
    const engine = new RuleEngine(mixed, defaultOptions);
    engine.ingest([hit(0, { v: '1' }), hit(1, { v: '2' })]);
    const saved = engine.snapshot();
    const changed = compileRules(
      `${base('hit', 'x.hit')}---\n${correlation('count', 'type: event_count\nrules: [hit]\ngroup-by: [k]\ntimespan: 1m\ncondition: {gte: 4}')}`,
    );
    const restored = new RuleEngine(changed, defaultOptions).restore(saved);
    assert.ok(restored.ok);
    assert.ok(restored.droppedRules.includes('count'));
    assert.ok(restored.droppedRules.includes('distinct'));
    assert.deepEqual(new RuleEngine(mixed, defaultOptions).restore({ format: 2 }), {
      ok: false,
      reason: 'not a rule engine snapshot (format 1)',
    });
    const hub = new RuleEngine(mixed, { ...defaultOptions, scope: 'hub' }).restore(saved);
    assert.equal(hub.ok, false);
  });
});
