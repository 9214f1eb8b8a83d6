import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { isEdgewardError } from '../errors/edgeward-error.ts';
import {
  compareArtifactVersions,
  countPhase,
  evaluatePhaseGates,
  parsePhases,
  planPhases,
} from './rollout-plan.ts';
import { deviceRolloutStates } from './update.schema.ts';

const deviceIds = fc.uniqueArray(fc.stringMatching(/^dev-[a-z0-9]{1,12}$/), { maxLength: 300 });
const phasePlans = fc
  .tuple(
    fc.option(fc.integer({ min: 1, max: 50 }), { nil: undefined }),
    fc.uniqueArray(fc.integer({ min: 1, max: 99 }), { maxLength: 4 }),
  )
  .map(([canary, percents]) =>
    [
      ...(canary === undefined ? [] : [`canary:${canary}`]),
      ...percents.sort((a, b) => a - b).map((p) => `${p}%`),
      '100%',
    ].join(','),
  );

describe('rollout phases', () => {
  it('parses canary, percentages and the final 100%', () => {
    assert.deepEqual(parsePhases('canary:5,25%,100%'), [
      { kind: 'canary', count: 5 },
      { kind: 'percent', percent: 25 },
      { kind: 'percent', percent: 100 },
    ]);
  });

  it('refuses plans that do not end at 100%, fall back, or put the canary later', () => {
    for (const text of ['canary:5,25%', '50%,25%,100%', '25%,canary:5,100%', 'canary:0,100%', 'all']) {
      assert.throws(
        () => parsePhases(text),
        (error) => isEdgewardError(error, 'EW_ROLLOUT_INVALID'),
        text,
      );
    }
  });

  it('puts every device in exactly one phase, the canaries first, with cumulative shares rounded up', () => {
    fc.assert(
      fc.property(deviceIds, phasePlans, (ids, text) => {
        const phases = parsePhases(text);
        const plan = planPhases(ids, phases);
        assert.equal(plan.length, phases.length);
        assert.deepEqual([...plan.flat()].sort(), [...ids].sort());
        let cumulative = 0;
        for (const [index, phase] of phases.entries()) {
          cumulative += plan[index]?.length ?? 0;
          if (phase.kind === 'canary') assert.equal(cumulative, Math.min(ids.length, phase.count));
          else
            assert.ok(
              cumulative >= Math.ceil((ids.length * phase.percent) / 100) || cumulative === ids.length,
            );
        }
      }),
    );
  });

  it('chooses the same canaries whatever the order of the devices, and keeps them when devices join', () => {
    fc.assert(
      fc.property(deviceIds, deviceIds, fc.integer({ min: 1, max: 20 }), (ids, extra, count) => {
        const phases = parsePhases(`canary:${count},100%`);
        const canaries = planPhases(ids, phases)[0] ?? [];
        assert.deepEqual(planPhases([...ids].reverse(), phases)[0], canaries);
        // A device joining either becomes a canary or leaves the canaries as they were.
        const grown = new Set(planPhases([...ids, ...extra], phases)[0]);
        const kept = canaries.filter((id) => grown.has(id)).length;
        const joined = [...grown].filter((id) => !ids.includes(id)).length;
        assert.ok(kept + joined === grown.size && kept >= canaries.length - joined);
      }),
    );
  });
});

describe('phase gates', () => {
  const gates = { maxFailures: 1, minSuccessPercent: 90 };
  const idle = { soakMs: 0, lastFinishedAt: null, now: 0 };

  it('breaches as soon as failures exceed the maximum, even while devices still update', () => {
    fc.assert(
      fc.property(
        fc.array(fc.constantFrom(...deviceRolloutStates), { maxLength: 60 }),
        fc.nat(5),
        fc.nat(5),
        (states, alerts, maxFailures) => {
          // An alert counts against a device that took the update: there are never more than committed ones.
          const alerted = Math.min(alerts, states.filter((state) => state === 'committed').length);
          const counts = countPhase(states, alerted);
          const decision = evaluatePhaseGates(counts, { maxFailures, minSuccessPercent: 0 }, idle);
          assert.equal(decision.kind === 'breach', counts.failed + counts.alerted > maxFailures);
        },
      ),
    );
  });

  it('counts a new high-severity alert on an updated device as a failure', () => {
    const counts = countPhase(['committed', 'committed', 'committed'], 2);
    assert.equal(evaluatePhaseGates(counts, gates, idle).kind, 'breach');
    assert.equal(
      evaluatePhaseGates(countPhase(['committed', 'committed'], 1), { ...gates, minSuccessPercent: 50 }, idle)
        .kind,
      'advance',
    );
  });

  it('waits for unfinished devices, then checks the success share, then soaks', () => {
    assert.equal(evaluatePhaseGates(countPhase(['committed', 'installing']), gates, idle).kind, 'wait');
    assert.equal(evaluatePhaseGates(countPhase(['committed', 'pending']), gates, idle).kind, 'wait');
    const oneOfTwo = countPhase(['committed', 'failed']);
    assert.equal(evaluatePhaseGates(oneOfTwo, gates, idle).kind, 'breach');
    const done = countPhase(['committed', 'committed', 'skipped']);
    assert.deepEqual(evaluatePhaseGates(done, gates, { soakMs: 1000, lastFinishedAt: 500, now: 1000 }), {
      kind: 'wait',
      until: 1500,
    });
    assert.equal(
      evaluatePhaseGates(done, gates, { soakMs: 1000, lastFinishedAt: 500, now: 1500 }).kind,
      'advance',
    );
  });

  it('never advances a phase with unfinished devices', () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...deviceRolloutStates), { maxLength: 40 }), (states) => {
        const counts = countPhase(states);
        const decision = evaluatePhaseGates(counts, { maxFailures: 1000, minSuccessPercent: 0 }, idle);
        if (counts.inProgress + counts.pending > 0) assert.notEqual(decision.kind, 'advance');
      }),
    );
  });
});

describe('artifact versions', () => {
  it('orders versions numerically and pre-releases before releases', () => {
    assert.equal(compareArtifactVersions('1.10.0', '1.9.3'), 1);
    assert.equal(compareArtifactVersions('2.0~rc1', '2.0'), -1);
    assert.equal(compareArtifactVersions('3.1', '3.1'), 0);
  });
});
