import type { LiveUpdate } from '@edgeward/core';
import type { Logger } from 'pino';

/**
 * The store notification channel on which replicas share live updates (PostgreSQL; payload: one
 * LiveUpdate as JSON), so a dashboard hears of changes made on any replica.
 */
export const LIVE_UPDATE_CHANNEL = 'edgeward_live';

/** PostgreSQL's NOTIFY payload limit is 8000 bytes; a longer list of ids becomes "some changed". */
const MAX_RELAYED_BYTES = 7000;

interface Subscriber {
  readonly send: (update: LiveUpdate) => void;
  readonly end: () => void;
}

/**
 * What the dashboard hears without reloading: services publish alert, command and device changes here, and
 * while anyone listens the feed polls the fleet's online/offline counts (a device goes offline by
 * staying silent, which no request announces). Changes are held for `coalesceMs` and sent as one
 * message per topic, so a burst of alerts is one refresh, and a listener that reads right after hearing
 * of a change finds the transaction behind it committed. With several replicas, `publish` goes through
 * the database (NOTIFY) and every replica hands what it hears to `receive`.
 */
export class LiveFeed {
  readonly #subscribers = new Set<Subscriber>();
  readonly #fleetCounts: () => Promise<{ total: number; online: number; offline: number }>;
  readonly #pollMs: number;
  readonly #coalesceMs: number;
  readonly #logger: Logger;
  #poll: NodeJS.Timeout | undefined;
  #lastFleet = '';
  #pendingAlerts: Set<string> | undefined;
  #pendingDevices: Set<string> | undefined;
  #flush: NodeJS.Timeout | undefined;

  constructor(deps: {
    fleetCounts: () => Promise<{ total: number; online: number; offline: number }>;
    /** How often the fleet counts are read while someone listens, ms. */
    pollMs: number;
    coalesceMs: number;
    logger: Logger;
  }) {
    this.#fleetCounts = deps.fleetCounts;
    this.#pollMs = deps.pollMs;
    this.#coalesceMs = deps.coalesceMs;
    this.#logger = deps.logger;
  }

  get listeners(): number {
    return this.#subscribers.size;
  }

  /** Starts sending updates to `send`; `end` is called when the feed closes. Returns the unsubscribe. */
  subscribe(send: (update: LiveUpdate) => void, end: () => void): () => void {
    const subscriber = { send, end };
    this.#subscribers.add(subscriber);
    if (this.#poll === undefined) {
      this.#lastFleet = '';
      this.#poll = setInterval(() => void this.#pollFleet(), this.#pollMs).unref();
    }
    void this.#pollFleet(subscriber);
    return () => {
      this.#subscribers.delete(subscriber);
      if (this.#subscribers.size === 0 && this.#poll !== undefined) {
        clearInterval(this.#poll);
        this.#poll = undefined;
      }
    };
  }

  /** Feeds an update heard from this process or from another replica to the listeners. */
  receive(update: LiveUpdate): void {
    if (update.topic === 'alerts') this.alertsChanged(update.alertIds);
    else if (update.topic === 'commands') this.commandChanged(update);
    else if (update.topic === 'devices') this.devicesChanged(update.deviceIds);
  }

  /** A change to devices that no command or alert announces (an evidence bundle arrived, say). */
  devicesChanged(deviceIds: readonly string[]): void {
    this.#pendingDevices ??= new Set();
    for (const id of deviceIds) this.#pendingDevices.add(id);
    this.#schedule();
  }

  alertsChanged(alertIds: readonly string[]): void {
    this.#pendingAlerts ??= new Set();
    for (const id of alertIds) this.#pendingAlerts.add(id);
    this.#schedule();
  }

  commandChanged(change: { deviceId: string; commandId: string; status: string }): void {
    this.#send({
      topic: 'commands',
      deviceId: change.deviceId,
      commandId: change.commandId,
      status: change.status,
    });
    this.#pendingDevices ??= new Set();
    this.#pendingDevices.add(change.deviceId);
    this.#schedule();
  }

  /** Ends every stream (the listener is closing). */
  close(): void {
    if (this.#poll !== undefined) clearInterval(this.#poll);
    if (this.#flush !== undefined) clearTimeout(this.#flush);
    this.#poll = undefined;
    for (const subscriber of this.#subscribers) subscriber.end();
    this.#subscribers.clear();
  }

  #schedule(): void {
    if (this.#subscribers.size === 0) {
      this.#pendingAlerts = undefined;
      this.#pendingDevices = undefined;
      return;
    }
    this.#flush ??= setTimeout(() => {
      this.#flush = undefined;
      if (this.#pendingAlerts !== undefined)
        this.#send({ topic: 'alerts', alertIds: [...this.#pendingAlerts] });
      if (this.#pendingDevices !== undefined) {
        this.#send({ topic: 'devices', deviceIds: [...this.#pendingDevices] });
      }
      this.#pendingAlerts = undefined;
      this.#pendingDevices = undefined;
    }, this.#coalesceMs).unref();
  }

  #send(update: LiveUpdate, only?: Subscriber): void {
    for (const subscriber of only === undefined ? this.#subscribers : [only]) {
      try {
        subscriber.send(update);
      } catch (error) {
        this.#logger.debug({ err: error }, 'a live update could not be written; the stream is dropped');
        subscriber.end();
        this.#subscribers.delete(subscriber);
      }
    }
  }

  async #pollFleet(newcomer?: Subscriber): Promise<void> {
    try {
      const counts = await this.#fleetCounts();
      const key = JSON.stringify(counts);
      if (newcomer !== undefined) {
        this.#send({ topic: 'fleet', ...counts }, newcomer);
      } else if (key !== this.#lastFleet) {
        this.#send({ topic: 'fleet', ...counts });
      }
      this.#lastFleet = key;
    } catch (error) {
      this.#logger.warn(
        { err: error },
        'cannot read the fleet counts for live views; retried at the next poll',
      );
    }
  }
}

/** An update as a NOTIFY payload, its list of alerts dropped ("some changed") when too long for one. */
export function relayPayload(update: LiveUpdate): string {
  const text = JSON.stringify(update);
  if (text.length <= MAX_RELAYED_BYTES || update.topic !== 'alerts') return text;
  return JSON.stringify({ topic: 'alerts', alertIds: [] });
}
