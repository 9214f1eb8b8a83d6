import type { AlertDigestSchedule, AlertNotification, AlertView, Severity } from '@edgeward/core';
import type { AlertDeliveryInput, AlertDigestItem, Store } from '@edgeward/store';
import { newId } from '../services/secrets.ts';
import type { AlertDestination } from './alert-destination.ts';

export type NotificationReason = 'created' | 'reopened' | 'escalated';

/** Alerts listed in one digest; the rest are counted in its `total`. */
export const DIGEST_MAX_ALERTS = 500;

/** Tiers notified at once; the others wait for their digest. */
const immediateTiers: ReadonlySet<Severity> = new Set(['critical', 'high']);

export function digestScheduleOf(tier: Severity): AlertDigestSchedule | undefined {
  if (immediateTiers.has(tier)) return undefined;
  return tier === 'medium' ? 'medium' : 'low';
}

/**
 * Decides who hears of an alert and writes it down, inside the transaction that changed the alert: a
 * delivery per destination for the tiers notified at once (critical, high), a digest item per destination
 * for the others, so that nothing is told that did not happen and nothing that happened is lost.
 */
export class AlertRouter {
  readonly #destinations: readonly AlertDestination[];
  readonly #byName: ReadonlyMap<string, AlertDestination>;
  readonly #fleet: string;

  constructor(deps: { destinations: readonly AlertDestination[]; fleet: string }) {
    this.#destinations = deps.destinations;
    this.#byName = new Map(deps.destinations.map((destination) => [destination.name, destination]));
    this.#fleet = deps.fleet;
  }

  destination(name: string): AlertDestination | undefined {
    return this.#byName.get(name);
  }

  /** Names in `route` that no configured destination has (a typo in a rule, or a removed destination). */
  unknownNames(route: readonly string[]): string[] {
    return route.filter((name) => !this.#byName.has(name));
  }

  /**
   * The destinations whose tiers include `tier`; a non-empty `route` (the rule's) narrows them to the
   * ones it names.
   */
  destinationsFor(tier: Severity, route: readonly string[]): AlertDestination[] {
    const named = new Set(route);
    return this.#destinations.filter(
      (destination) => destination.tiers.has(tier) && (named.size === 0 || named.has(destination.name)),
    );
  }

  /**
   * Queues the notification of `alert` (created, reopened or escalated) through `store`, the transaction
   * of the change. Returns how many deliveries wait for the sender.
   */
  async notify(
    store: Store,
    alert: AlertView,
    route: readonly string[],
    reason: NotificationReason,
    now: number,
  ): Promise<number> {
    const destinations = this.destinationsFor(alert.tier, route);
    if (destinations.length === 0) return 0;
    const schedule = digestScheduleOf(alert.tier);
    if (schedule !== undefined) {
      await store.alertDeliveries.queueDigestItems(
        destinations.map(
          (destination): AlertDigestItem => ({
            destination: destination.name,
            schedule,
            alertId: alert.id,
            queuedAt: now,
          }),
        ),
      );
      return 0;
    }
    const notification: AlertNotification = { v: 1, kind: 'alert', fleet: this.#fleet, reason, alert };
    return this.#deliver(
      store,
      destinations.map((destination) => ({ destination, alertId: alert.id, digestKey: null, notification })),
      now,
    );
  }

  /**
   * Writes one digest per destination from the items taken for `schedule`, covering the period up to `to`.
   * Items of a destination no longer configured are returned, undelivered.
   */
  async writeDigests(
    store: Store,
    schedule: AlertDigestSchedule,
    items: readonly AlertDigestItem[],
    to: number,
    loadAlerts: (store: Store, ids: readonly string[]) => Promise<AlertView[]>,
    now: number,
  ): Promise<{ queued: number; orphaned: AlertDigestItem[] }> {
    const byDestination = new Map<string, AlertDigestItem[]>();
    for (const item of items) {
      const list = byDestination.get(item.destination) ?? [];
      list.push(item);
      byDestination.set(item.destination, list);
    }
    const orphaned: AlertDigestItem[] = [];
    const outgoing: PlannedDelivery[] = [];
    const digestKey = `${schedule}@${new Date(to).toISOString()}`;
    for (const [name, list] of byDestination) {
      const destination = this.#byName.get(name);
      if (destination === undefined) {
        orphaned.push(...list);
        continue;
      }
      const alerts = (
        await loadAlerts(
          store,
          list.map((item) => item.alertId),
        )
      ).sort((a, b) => b.lastSignalAt - a.lastSignalAt || (a.id < b.id ? 1 : -1));
      const notification: AlertNotification = {
        v: 1,
        kind: 'digest',
        fleet: this.#fleet,
        schedule,
        from: Math.min(...list.map((item) => item.queuedAt)),
        to,
        alerts: alerts.slice(0, DIGEST_MAX_ALERTS),
        total: alerts.length,
      };
      outgoing.push({ destination, alertId: null, digestKey, notification });
    }
    return { queued: await this.#deliver(store, outgoing, now), orphaned };
  }

  async #deliver(store: Store, planned: readonly PlannedDelivery[], now: number): Promise<number> {
    const rows: AlertDeliveryInput[] = [];
    for (const { destination, alertId, digestKey, notification } of planned) {
      const id = newId('dlv');
      if (destination.handOver !== undefined) await destination.handOver(store, { id, notification }, now);
      rows.push({
        id,
        alertId,
        digestKey,
        destination: destination.name,
        payload: notification,
        state: destination.handOver === undefined ? 'pending' : 'delivered',
        createdAt: now,
      });
    }
    await store.alertDeliveries.enqueue(rows);
    return rows.filter((row) => row.state === 'pending').length;
  }
}

interface PlannedDelivery {
  readonly destination: AlertDestination;
  readonly alertId: string | null;
  readonly digestKey: string | null;
  readonly notification: AlertNotification;
}
