import type { AlertDigestSchedule, AlertView, Clock } from '@edgeward/core';
import type { Store } from '@edgeward/store';
import type { Logger } from 'pino';
import type { AlertRouter } from './alert-router.ts';

export interface AlertDigestSchedulerOptions {
  readonly store: Store;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly router: AlertRouter;
  /** The alerts a digest lists, as views (their current state). */
  readonly loadAlerts: (store: Store, ids: readonly string[]) => Promise<AlertView[]>;
  /** Digest period per schedule (ms): medium hourly and low daily by default. */
  readonly periodMs: Readonly<Record<AlertDigestSchedule, number>>;
}

const schedules: readonly AlertDigestSchedule[] = ['medium', 'low'];

/**
 * Turns the alerts waiting for a digest into one digest per destination when their period ends. Periods
 * are aligned to the epoch (an hourly digest covers up to each full hour, a daily one up to 00:00 UTC), so
 * every replica computes the same period end; the store hands the waiting items to one of them, and a
 * digest is written at most once per destination and period end.
 */
export class AlertDigestScheduler {
  readonly #options: AlertDigestSchedulerOptions;
  /** The last period end each schedule was run for: nothing older can be queued afterwards. */
  readonly #doneUpTo = new Map<AlertDigestSchedule, number>();

  constructor(options: AlertDigestSchedulerOptions) {
    this.#options = options;
  }

  /** Writes the digests whose period has ended; returns how many deliveries wait for the sender. */
  async runDue(): Promise<number> {
    const { store, clock, router, loadAlerts, logger } = this.#options;
    let queued = 0;
    for (const schedule of schedules) {
      const periodMs = this.#options.periodMs[schedule];
      const now = clock.now();
      const periodEnd = Math.floor(now / periodMs) * periodMs;
      if (this.#doneUpTo.get(schedule) === periodEnd) continue;
      const outcome = await store.transaction(async (tx) => {
        const items = await tx.alertDeliveries.takeDigestItems(schedule, periodEnd);
        if (items.length === 0) return { queued: 0, orphaned: [] };
        return router.writeDigests(tx, schedule, items, periodEnd, loadAlerts, now);
      });
      this.#doneUpTo.set(schedule, periodEnd);
      queued += outcome.queued;
      if (outcome.orphaned.length > 0) {
        logger.warn(
          {
            schedule,
            destinations: [...new Set(outcome.orphaned.map((item) => item.destination))],
            alerts: outcome.orphaned.length,
          },
          'alerts waited for a digest to destinations no longer configured; they are left out of every digest',
        );
      }
    }
    return queued;
  }
}
