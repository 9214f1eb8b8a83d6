import { randomUUID } from 'node:crypto';
import {
  ALERT_RAISED_EVENT,
  type Clock,
  type DeviceEvent,
  EdgewardError,
  type EventBatch,
  type EventBatchReply,
  type EventListView,
  type EventQuery,
  type EventRecord,
  type EventView,
  type NewDeviceEvent,
  PROTOCOL_VERSION,
  parseTimeBound,
} from '@edgeward/core';
import type { EventCursor, EventQueryFilter, Store } from '@edgeward/store';
import type { Logger } from 'pino';
import type { DeviceService } from './device.service.ts';

const DAY_MS = 86_400_000;

/**
 * Hears an agent's `alert.raised` events stored for the first time, inside the transaction that stores
 * them: what it writes lands with the events or not at all (then the agent sends the batch again).
 */
export type AlertEventsListener = (
  store: Store,
  deviceId: string,
  events: readonly DeviceEvent[],
) => Promise<void>;
/** A syslog source counts as offline after three hours without a message. */
const LEGACY_REPORT_INTERVAL_MS = 3_600_000;

/**
 * Security events: exactly-once ingest of the batches agents send, the operator's queries, and
 * retention. Each event keeps the device's time and the manager's receipt time side by side, so clock
 * skew and late delivery stay visible.
 */
export class EventService {
  readonly #store: Store;
  readonly #clock: Clock;
  readonly #devices: Pick<DeviceService, 'requireActive'>;
  readonly #logger: Logger;
  readonly #retentionMs: number;
  readonly #onAlertEvents: AlertEventsListener | undefined;
  readonly #onStored: ((deviceId: string, events: readonly DeviceEvent[]) => void) | undefined;
  readonly #sourceQueues = new Map<string, Promise<void>>();

  constructor(deps: {
    store: Store;
    clock: Clock;
    devices: Pick<DeviceService, 'requireActive'>;
    logger: Logger;
    /** Events received longer ago than this many days are pruned. */
    retentionDays: number;
    onAlertEvents?: AlertEventsListener;
    /**
     * Hears each batch after it is committed (repeats included: its listener recognises them), for the
     * rules that run on the manager.
     */
    onStored?: (deviceId: string, events: readonly DeviceEvent[]) => void;
  }) {
    this.#store = deps.store;
    this.#clock = deps.clock;
    this.#devices = deps.devices;
    this.#logger = deps.logger;
    this.#retentionMs = deps.retentionDays * DAY_MS;
    this.#onAlertEvents = deps.onAlertEvents;
    this.#onStored = deps.onStored;
  }

  /**
   * Stores the events of the batch not stored yet and acknowledges the highest sequence up to which
   * every event of the device is held, or which the device's `floorSeq` says will never come (evicted
   * from its full queue). A batch sent again (a lost reply, a retry) is acknowledged without storing
   * anything twice.
   */
  async ingest(deviceId: string, batch: EventBatch): Promise<EventBatchReply> {
    const now = this.#clock.now();
    const alertEvents =
      this.#onAlertEvents === undefined
        ? []
        : batch.events.filter((event) => event.type === ALERT_RAISED_EVENT);
    const result = await this.#store.transaction(async (store) => {
      await this.#devices.requireActive(deviceId, store);
      // Only batches carrying alerts pay for this read. A repeat that slips past it (an event stored under
      // another sequence number) is caught by the alerts themselves, which never count a signal twice.
      const fresh = alertEvents.length === 0 ? [] : await notYetStored(store, deviceId, alertEvents);
      const ingested = await store.events.ingest(deviceId, batch.events, now, batch.floorSeq ?? 0);
      await store.devices.update(deviceId, { lastSeenAt: now });
      if (fresh.length > 0) await this.#onAlertEvents?.(store, deviceId, fresh);
      return ingested;
    });
    if (result.stored > 0) this.#onStored?.(deviceId, batch.events);
    if (result.newGaps.length > 0) {
      // A gap is normal while the agent sends urgent events first; one that stays open means loss.
      this.#logger.info(
        { deviceId, ackedSeq: result.ackedSeq, gaps: result.newGaps },
        'event sequence gap: acknowledgement held until the missing events arrive',
      );
    }
    return { v: PROTOCOL_VERSION, ackedSeq: result.ackedSeq };
  }

  /**
   * Events of a device that runs no agent (a syslog source): the manager numbers them itself, one source
   * at a time so that numbers never collide, and creates the source's device record, labelled `legacy`,
   * on its first message.
   */
  async ingestFromSource(
    source: { deviceId: string; name: string; labels: Record<string, string> },
    events: readonly NewDeviceEvent[],
  ): Promise<void> {
    const previous = this.#sourceQueues.get(source.deviceId) ?? Promise.resolve();
    const next = previous.then(() => this.#ingestFromSource(source, events));
    const settled = next.catch(() => {});
    this.#sourceQueues.set(source.deviceId, settled);
    void settled.then(() => {
      if (this.#sourceQueues.get(source.deviceId) === settled) this.#sourceQueues.delete(source.deviceId);
    });
    return next;
  }

  async #ingestFromSource(
    source: { deviceId: string; name: string; labels: Record<string, string> },
    events: readonly NewDeviceEvent[],
  ): Promise<void> {
    const now = this.#clock.now();
    const stored = await this.#store.transaction(async (store) => {
      const device = await store.devices.findById(source.deviceId);
      if (device === undefined) {
        await store.devices.create({
          id: source.deviceId,
          name: source.name,
          labels: source.labels,
          enrolledAt: now,
          enrollmentTokenId: null,
          lastSeenAt: now,
          reportIntervalMs: LEGACY_REPORT_INTERVAL_MS,
          agentVersion: 'syslog',
          inventoryVersion: 0,
          revokedAt: null,
        });
        this.#logger.info({ deviceId: source.deviceId, name: source.name }, 'new syslog source');
      } else if (device.revokedAt !== null) {
        return [];
      }
      const { ackedSeq } = await store.events.deliveryState(source.deviceId);
      const numbered = events.map((event, index) => ({
        ...event,
        seq: ackedSeq + index + 1,
        id: event.id ?? randomUUID(),
      }));
      await store.events.ingest(source.deviceId, numbered, now);
      await store.devices.update(source.deviceId, { lastSeenAt: now });
      return numbered;
    });
    if (stored.length > 0) this.#onStored?.(source.deviceId, stored);
  }

  /** Newest first by device time; `nextBefore` continues with older events. */
  async query(query: EventQuery): Promise<EventListView> {
    const now = this.#clock.now();
    if (query.device !== undefined && (await this.#store.devices.findById(query.device)) === undefined) {
      throw new EdgewardError(
        'EW_DEVICE_NOT_FOUND',
        `no device has id ${query.device}; see \`edgeward devices list\``,
      );
    }
    const filter: EventQueryFilter = {
      limit: query.limit + 1,
      ...(query.device === undefined ? {} : { deviceId: query.device }),
      ...(query.type === undefined ? {} : { type: query.type }),
      ...(query.severity === undefined ? {} : { severity: query.severity }),
      ...(query.since === undefined ? {} : { since: parseTimeBound(query.since, now, 'since') }),
      ...(query.until === undefined ? {} : { until: parseTimeBound(query.until, now, 'until') }),
      ...(query.before === undefined ? {} : { before: decodeCursor(query.before) }),
    };
    const records = await this.#store.events.query(filter);
    const page = records.slice(0, query.limit);
    const last = page.at(-1);
    return {
      events: page.map(toView),
      nextBefore: records.length > query.limit && last !== undefined ? encodeCursor(last) : null,
    };
  }

  /** Deletes events received before the retention period; returns how many. */
  async prune(): Promise<number> {
    const cutoff = this.#clock.now() - this.#retentionMs;
    const deleted = await this.#store.events.prune(cutoff);
    if (deleted > 0) {
      this.#logger.info(
        { deleted, receivedBefore: new Date(cutoff).toISOString() },
        'pruned events past retention',
      );
    }
    return deleted;
  }
}

/** The events whose sequence numbers the device's delivery state does not hold yet, each once. */
async function notYetStored(
  store: Store,
  deviceId: string,
  events: readonly DeviceEvent[],
): Promise<DeviceEvent[]> {
  const state = await store.events.deliveryState(deviceId);
  const held = new Set(state.heldAbove);
  const fresh = new Map<number, DeviceEvent>();
  for (const event of events) {
    if (event.seq > state.ackedSeq && !held.has(event.seq) && !fresh.has(event.seq))
      fresh.set(event.seq, event);
  }
  return [...fresh.values()].sort((a, b) => a.seq - b.seq);
}

function toView(record: EventRecord): EventView {
  return {
    deviceId: record.deviceId,
    seq: record.seq,
    id: record.id,
    type: record.type,
    severity: record.severity,
    time: record.time,
    receivedAt: record.receivedAt,
    data: record.data,
  };
}

/** Opaque to clients: the position of the last event of a page, as base64url JSON. */
function encodeCursor(record: EventRecord): string {
  return Buffer.from(JSON.stringify([record.time, record.deviceId, record.seq])).toString('base64url');
}

function decodeCursor(text: string): EventCursor {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(text, 'base64url').toString('utf8'));
  } catch {
    value = undefined;
  }
  if (
    Array.isArray(value) &&
    value.length === 3 &&
    Number.isSafeInteger(value[0]) &&
    typeof value[1] === 'string' &&
    Number.isSafeInteger(value[2])
  ) {
    return { time: value[0] as number, deviceId: value[1], seq: value[2] as number };
  }
  throw new EdgewardError(
    'EW_REQUEST_INVALID',
    `before "${text}" is not a page cursor; pass the nextBefore of the previous page unchanged`,
  );
}
