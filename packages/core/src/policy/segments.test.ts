import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  type CompiledCheck,
  type CompiledSegment,
  DEFAULT_POLICY_SETTINGS,
  DEFAULT_SEGMENT_ID,
  type LabelSelector,
} from './policy.schema.ts';
import { checksForSegment, evaluationIntervalFor, matchesSelector, segmentOf } from './segments.ts';

function segment(
  id: string,
  priority: number,
  selector: LabelSelector,
  evaluationIntervalMs?: number,
): CompiledSegment {
  return {
    id,
    title: id,
    priority,
    selector,
    ...(evaluationIntervalMs === undefined ? {} : { evaluationIntervalMs }),
  };
}

function check(id: string, segments: string[]): CompiledCheck {
  return {
    id,
    baseline: 'b',
    title: id,
    severity: 'low',
    rationale: '',
    segments,
    spec: { type: 'time-sync' },
    remediate: 'off',
    watch: [],
  };
}

describe('matchesSelector', () => {
  it('needs every key to match: a value equals the label, a list holds it, * only needs the label', () => {
    const selector = { function: 'gateway', risk: ['high', 'critical'], site: '*' };
    assert.ok(matchesSelector(selector, { function: 'gateway', risk: 'high', site: 'north', extra: 'x' }));
    assert.ok(matchesSelector(selector, { function: 'gateway', risk: 'critical', site: '' }));
    assert.ok(!matchesSelector(selector, { function: 'gateway', risk: 'low', site: 'north' }));
    assert.ok(!matchesSelector(selector, { function: 'kiosk', risk: 'high', site: 'north' }));
    assert.ok(
      !matchesSelector(selector, { function: 'gateway', risk: 'high' }),
      '* needs the label to exist',
    );
    assert.ok(
      !matchesSelector({ function: 'Gateway' }, { function: 'gateway' }),
      'values are case-sensitive',
    );
  });

  it('matches every device with an empty selector', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string(), fc.string()), (labels) => {
        assert.ok(matchesSelector({}, labels));
      }),
    );
  });

  it('does not match labels through the prototype', () => {
    assert.ok(!matchesSelector({ constructor: '*' }, {}));
    assert.ok(!matchesSelector({ toString: '*' }, { other: 'x' }));
  });

  it('agrees with its definition for any selector and labels', () => {
    const word = fc.constantFrom('a', 'b', 'c', '*');
    fc.assert(
      fc.property(
        fc.dictionary(fc.constantFrom('k1', 'k2', 'k3'), fc.oneof(word, fc.array(word, { minLength: 1 }))),
        fc.dictionary(fc.constantFrom('k1', 'k2', 'k3'), word),
        (selector, labels) => {
          const expected = Object.entries(selector).every(([key, wanted]) => {
            if (!(key in labels)) return false;
            if (wanted === '*') return true;
            return Array.isArray(wanted)
              ? wanted.some((member) => member === labels[key])
              : wanted === labels[key];
          });
          assert.equal(matchesSelector(selector, labels), expected);
        },
      ),
    );
  });
});

describe('segmentOf', () => {
  const segments = [
    segment('low-gw', 10, { function: 'gateway' }),
    segment('risky', 50, { risk: ['high', 'critical'] }),
    segment('north', 50, { site: 'north' }),
  ];

  it('chooses the matching segment with the highest priority', () => {
    assert.equal(segmentOf({ segments }, { function: 'gateway' }), 'low-gw');
    assert.equal(segmentOf({ segments }, { function: 'gateway', risk: 'high' }), 'risky');
  });

  it('breaks a priority tie by the lowest id, whatever the order of the segments', () => {
    const labels = { function: 'gateway', risk: 'high', site: 'north' };
    assert.equal(segmentOf({ segments }, labels), 'north');
    fc.assert(
      fc.property(fc.shuffledSubarray(segments, { minLength: 3, maxLength: 3 }), (shuffled) => {
        assert.equal(segmentOf({ segments: shuffled }, labels), 'north');
      }),
    );
  });

  it('places a device that matches no segment in the default segment', () => {
    assert.equal(segmentOf({ segments }, { function: 'kiosk' }), DEFAULT_SEGMENT_ID);
    assert.equal(segmentOf({ segments: [] }, { function: 'gateway' }), DEFAULT_SEGMENT_ID);
  });
});

describe('checksForSegment', () => {
  it('gives the checks naming no segment and those naming this one, in policy order', () => {
    const checks = [check('all', []), check('gw', ['gateways']), check('both', ['kiosks', 'gateways'])];
    assert.deepEqual(
      checksForSegment({ checks }, 'gateways').map((found) => found.id),
      ['all', 'gw', 'both'],
    );
    assert.deepEqual(
      checksForSegment({ checks }, 'kiosks').map((found) => found.id),
      ['all', 'both'],
    );
    assert.deepEqual(
      checksForSegment({ checks }, DEFAULT_SEGMENT_ID).map((found) => found.id),
      ['all'],
    );
  });
});

describe('evaluationIntervalFor', () => {
  it("uses the segment's own interval, else the policy's", () => {
    const policy = {
      segments: [segment('fast', 1, {}, 60_000), segment('normal', 0, {})],
      settings: DEFAULT_POLICY_SETTINGS,
    };
    assert.equal(evaluationIntervalFor(policy, 'fast'), 60_000);
    assert.equal(evaluationIntervalFor(policy, 'normal'), DEFAULT_POLICY_SETTINGS.evaluationIntervalMs);
    assert.equal(
      evaluationIntervalFor(policy, DEFAULT_SEGMENT_ID),
      DEFAULT_POLICY_SETTINGS.evaluationIntervalMs,
    );
  });
});
