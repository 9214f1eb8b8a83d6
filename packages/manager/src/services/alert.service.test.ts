import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { AlertSignal } from '@edgeward/core';
import { createStore, type Store } from '@edgeward/store';
import fc from 'fast-check';
import pino from 'pino';
import { AlertRouter } from '../alerting/alert-router.ts';
import { AlertService } from './alert.service.ts';
import { AuditTrail } from './audit-trail.ts';

let store: Store;
let service: AlertService;
const clock = { now: () => Date.now() };

before(async () => {
  store = await createStore({ database: 'sqlite::memory:' });
  service = new AlertService({
    store,
    clock,
    audit: new AuditTrail(clock),
    router: new AlertRouter({ destinations: [], fleet: 'edgeward.local' }),
    logger: pino({ level: 'silent' }),
    autoResolveMs: 86_400_000,
  });
});
after(() => store.close());

/** One burst of a rule engine's alert: its first signal, then updates carrying running totals. */
interface Burst {
  readonly counts: readonly number[];
}

function signalsOf(ruleId: string, burstIndex: number, burst: Burst): AlertSignal[] {
  // Each burst's events are its own; a long burst has more of them than an alert keeps (50).
  return burst.counts.map((count, index) => ({
    ruleId,
    ruleTitle: 'property',
    kind: 'correlation',
    groupKey: '["g"]',
    groupFields: { g: 'g' },
    severity: 'medium',
    tier: 'medium',
    firstSeen: 1_000 * burstIndex,
    lastSeen: 1_000 * burstIndex + count,
    count,
    eventRefs: Array.from({ length: Math.min(count, 50) }, (_, ref) => ({
      deviceId: 'dev-1',
      seq: burstIndex * 1_000 + ref + 1,
      id: `e-${burstIndex}-${ref}`,
    })),
    deviceIds: ['dev-1'],
    response: [],
    route: [],
    update: index > 0,
    source: 'hub',
  }));
}

const bursts = fc.array(
  fc.array(fc.integer({ min: 1, max: 80 }), { minLength: 1, maxLength: 4 }).map(
    (steps): Burst => ({
      counts: steps.map((_, index) => steps.slice(0, index + 1).reduce((a, b) => a + b)),
    }),
  ),
  { minLength: 1, maxLength: 6 },
);

let runs = 0;
test('an alert counts each burst once at its highest total, whatever repeats, reorders and interleaves', async () => {
  await fc.assert(
    fc.asyncProperty(
      bursts,
      fc.array(fc.nat(), { maxLength: 12 }),
      fc.func(fc.integer()),
      async (generated, repeats, order) => {
        const ruleId = `prop-${++runs}`;
        const signals = generated.flatMap((burst, index) => signalsOf(ruleId, index, burst));
        // Any signal may come again (a lost reply, a restarted engine), in any order.
        const delivered = [...signals, ...repeats.map((pick) => signals[pick % signals.length]!)]
          .map((signal, index) => ({ signal, rank: order(index) }))
          .sort((a, b) => a.rank - b.rank)
          .map(({ signal }) => signal);
        let alertId: string | undefined;
        for (const signal of delivered) {
          const result = await service.raise(signal);
          alertId ??= result.alertId;
          assert.equal(result.alertId, alertId, 'one alert per rule and group');
        }
        const expected = generated.reduce((sum, burst) => sum + Math.max(...burst.counts), 0);
        const alert = await service.show(alertId!);
        assert.equal(alert.count, expected);
        assert.ok(alert.eventRefs.length <= 50);
      },
    ),
    { numRuns: 60 },
  );
});
