import { type AlertNotification, type Clock, EdgewardError } from '@edgeward/core';
import type { AlertDeliveryRecord, Store } from '@edgeward/store';
import type { Logger } from 'pino';
import { newId } from '../services/secrets.ts';
import type { AlertDestination } from './alert-destination.ts';

export interface AlertDeliveryWorkerOptions {
  readonly store: Store;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly destination: (name: string) => AlertDestination | undefined;
  /** How often due deliveries are looked for when not woken (ms). */
  readonly pollMs: number;
  /** One attempt's limit (ms); a claim lasts well beyond it. */
  readonly timeoutMs: number;
  /** From this many attempts on, a delivery shows as failing (and is still retried). */
  readonly failingAfter: number;
  /** First retry delay; it doubles per attempt up to `retryMaxMs` (ms), with jitter. */
  readonly retryMinMs: number;
  readonly retryMaxMs: number;
  /** Deliveries claimed at once; they are sent in parallel (default 20). */
  readonly batchSize?: number;
  /** Uniform in [0, 1), for the jitter; default Math.random. */
  readonly random?: () => number;
}

/**
 * The sender of alert notifications: claims due deliveries from the store with a lease (so that of several
 * manager replicas one sends each), sends them, and records the outcome. A failed delivery is retried
 * with exponential backoff and jitter, for as long as it takes; from `failingAfter` attempts on it shows as
 * failing. Everything lives in the store, so a restart resumes where the last run stopped; a crash leaves
 * claims that expire after the lease, and a delivery may then go out twice (at least once, never never).
 */
export class AlertDeliveryWorker {
  readonly #options: AlertDeliveryWorkerOptions;
  readonly #owner = newId('sender');
  readonly #leaseMs: number;
  readonly #batchSize: number;
  readonly #random: () => number;
  #running: Promise<void> | undefined;
  #stopping = false;
  #wakeup: (() => void) | undefined;
  #woken = false;
  #lastStoreErrorLogAt = Number.NEGATIVE_INFINITY;

  constructor(options: AlertDeliveryWorkerOptions) {
    this.#options = options;
    // Long enough that an attempt in flight never outlives its claim.
    this.#leaseMs = Math.max(60_000, 3 * options.timeoutMs);
    this.#batchSize = options.batchSize ?? 20;
    this.#random = options.random ?? Math.random;
  }

  start(): void {
    if (this.#running !== undefined) return;
    this.#stopping = false;
    this.#running = this.#run();
  }

  /** Lets attempts in flight finish, then gives up this sender's claims so that they are due again at once. */
  async stop(): Promise<void> {
    const running = this.#running;
    if (running === undefined) return;
    this.#stopping = true;
    this.wake();
    await running;
    this.#running = undefined;
    await this.#options.store.alertDeliveries.releaseClaims(this.#owner).catch(() => {});
  }

  /** Looks for due deliveries now rather than at the next poll. */
  wake(): void {
    this.#woken = true;
    this.#wakeup?.();
  }

  /** Claims and sends one batch of due deliveries; returns how many were attempted. */
  async runOnce(): Promise<number> {
    const { store, clock } = this.#options;
    const now = clock.now();
    const claimed = await store.alertDeliveries.claimDue(
      this.#owner,
      now,
      now + this.#leaseMs,
      this.#batchSize,
    );
    await Promise.all(claimed.map((delivery) => this.#attempt(delivery)));
    return claimed.length;
  }

  /** The delay before attempt `attempts + 1` (ms): min × 2^(attempts − 1), capped, then between half and all of it. */
  retryDelayMs(attempts: number): number {
    const { retryMinMs, retryMaxMs } = this.#options;
    const base = Math.min(retryMaxMs, retryMinMs * 2 ** Math.min(30, Math.max(0, attempts - 1)));
    return Math.round(base / 2 + (this.#random() * base) / 2);
  }

  async #run(): Promise<void> {
    while (!this.#stopping) {
      let attempted = 0;
      try {
        attempted = await this.runOnce();
      } catch (error) {
        // The store is unreachable: nothing is lost (deliveries are in it), so retry at the next poll.
        if (performance.now() - this.#lastStoreErrorLogAt > 60_000) {
          this.#lastStoreErrorLogAt = performance.now();
          this.#options.logger.error(
            { err: error },
            'alert notifications cannot be read from the store; retrying',
          );
        }
      }
      if (attempted < this.#batchSize) await this.#sleep(this.#options.pollMs);
    }
  }

  async #attempt(delivery: AlertDeliveryRecord): Promise<void> {
    const { store, clock, logger, failingAfter } = this.#options;
    const destination = this.#options.destination(delivery.destination);
    try {
      if (destination === undefined) {
        throw new EdgewardError(
          'EW_ALERT_DELIVERY_FAILED',
          `destination ${delivery.destination} is no longer configured; add it back to alertDestinations to deliver what waits for it`,
        );
      }
      await destination.send({ id: delivery.id, notification: delivery.payload as AlertNotification });
    } catch (error) {
      const at = clock.now();
      const attempts = delivery.attempts + 1;
      const message = error instanceof Error ? error.message : String(error);
      const recorded = await store.alertDeliveries
        .markFailed(delivery.id, this.#owner, {
          at,
          error: message,
          nextAttemptAt: at + this.retryDelayMs(attempts),
          failingAfter,
        })
        .catch((storeError: unknown) => {
          logger.error(
            { err: storeError, delivery: delivery.id },
            'cannot record a failed alert notification',
          );
          return false;
        });
      const log = { delivery: delivery.id, destination: delivery.destination, attempts, err: error };
      // The first failure and the one that makes it failing are worth a warning; the rest would flood.
      if (recorded && (attempts === 1 || attempts === failingAfter)) {
        logger.warn(
          log,
          attempts === failingAfter
            ? 'alert notification is failing; still retrying'
            : 'alert notification failed; retrying',
        );
      } else {
        logger.debug(log, 'alert notification failed again');
      }
      return;
    }
    const recorded = await store.alertDeliveries
      .markDelivered(delivery.id, this.#owner, clock.now())
      .catch((storeError: unknown) => {
        logger.error(
          { err: storeError, delivery: delivery.id },
          'cannot record a delivered alert notification; it may be sent again',
        );
        return false;
      });
    if (!recorded) {
      logger.debug(
        { delivery: delivery.id },
        'alert notification sent after its claim ended; another sender may repeat it',
      );
    }
  }

  /** Waits `ms`, or less when woken; a wake-up that came while busy ends the next wait at once. */
  async #sleep(ms: number): Promise<void> {
    if (this.#woken || this.#stopping) {
      this.#woken = false;
      return;
    }
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.#wakeup = done;
    });
    this.#wakeup = undefined;
    this.#woken = false;
  }
}
