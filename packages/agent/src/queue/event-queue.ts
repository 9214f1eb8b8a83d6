/**
 * The agent's outbox: every event it collects is written here, durably, before anything tries to send it,
 * so that a crash, a reboot or a week without the manager loses nothing it did not have to lose.
 *
 * One SQLite file (`node:sqlite`, WAL, `synchronous=FULL`: a committed append has reached the disk before
 * `append` returns). The queue holds no events in memory: batches are read from the file when they are
 * sent, and the per-severity totals live in a table kept exact by triggers, so any process can read them.
 * Open one `EventQueue` per file at a time: sequence numbers are assigned by whoever holds the write lock,
 * so two writers stay correct, but the agent is the only writer by design.
 */
import { randomUUID } from 'node:crypto';
import { DatabaseSync, type StatementSync } from 'node:sqlite';
import {
  type Clock,
  type DeviceEvent,
  deviceEventSchema,
  EdgewardError,
  type NewDeviceEvent,
  queuedEventId,
  type Severity,
  severities,
  severityRank,
  systemClock,
} from '@edgeward/core';
import * as z from 'zod/mini';

/** Default size budget of the queue: 100 MiB of stored rows. */
export const DEFAULT_QUEUE_MAX_BYTES = 100 * 1024 * 1024;

/**
 * Bytes counted per stored event on top of its JSON: the row header, the seq/lane/severity/time/bytes
 * columns, the cell pointer and one entry in each of the two indexes come to 40–60 bytes in SQLite's
 * format, so the budget tracks the file's real growth (page slack aside) rather than the JSON alone.
 */
export const ROW_OVERHEAD_BYTES = 64;

/** What a stored event counts against `queueMaxBytes`: its JSON's UTF-8 length plus the row overhead. */
export function storedEventBytes(json: string): number {
  return Buffer.byteLength(json) + ROW_OVERHEAD_BYTES;
}

const HIGH_RANK = severityRank('high');
/** Sequence ranges listed in one loss report; beyond that the report says it is truncated. */
const MAX_LOSS_SEQ_RANGES = 256;
/** Rows read per eviction query: few enough to keep memory flat, enough to free space in one go. */
const EVICTION_CHUNK = 64;
/** `{"v":1,"events":[` and `]}`: what a batch body adds around its events. */
const BATCH_ENVELOPE_BYTES = 19;
const SCHEMA_VERSION = 1;
/**
 * SQLite's page cache for the queue, in KiB. Appends touch only the right edges of the table and its two
 * indexes, and a batch is read once, oldest first, so a small cache keeps the agent's memory flat however
 * large the backlog; the system's file cache serves the rest. 128 KiB against 512: half a megabyte less
 * malloc with 100,000 events queued, for about 8 % of the drain rate (bench/RESULTS.md).
 */
export const QUEUE_PAGE_CACHE_KIB = 128;
export const DEFAULT_LOSS_REPORT_INTERVAL_MS = 60_000;

export interface EventQueueOptions {
  /** The SQLite file; created with its directory's permissions if missing. */
  readonly path: string;
  /**
   * Size budget in bytes, counted as {@link storedEventBytes} per event. Default 100 MiB. The file itself
   * can grow larger: evictions from the middle of the table leave partly filled pages that SQLite reuses
   * but does not merge (measured: about 1.5× the budget after a long overflow, about 1.05× without one).
   */
  readonly queueMaxBytes?: number;
  /**
   * Least time between two loss reports, in milliseconds (default 60 000): losses in between are tallied
   * in the file and go into the next report. 0 reports every eviction at once.
   */
  readonly lossReportIntervalMs?: number;
  /** Stamps loss reports and spaces them; defaults to the system clock. */
  readonly clock?: Clock;
}

export interface AppendResult {
  /** The events stored, with their sequence numbers and ids, in the order given. */
  readonly accepted: DeviceEvent[];
  /** Events below high severity turned away because only high/critical events fill the queue. */
  readonly refused: NewDeviceEvent[];
  /** How many queued events were evicted to make room. */
  readonly evicted: number;
  /** The `agent.loss_report` this append wrote, if losses were due to be reported. */
  readonly lossReport: DeviceEvent | undefined;
}

export interface EventQueueStats {
  readonly events: number;
  /** Stored bytes as counted against `queueMaxBytes`. */
  readonly bytes: number;
  /** Device time of the longest-queued event (lowest seq), or null when empty. */
  readonly oldestTime: number | null;
  /** Queued events per severity. */
  readonly bySeverity: Record<Severity, number>;
  /** The sequence number the next appended event gets. */
  readonly nextSeq: number;
  /** True while events below high severity are refused, until removals free space. */
  readonly lowSeverityPaused: boolean;
}

export interface PeekBatchOptions {
  /** Upper bound on the batch body's JSON size in bytes; one event is returned even if larger. */
  readonly maxBytes: number;
  readonly maxEvents: number;
  /**
   * Keep the returned events out of eviction until `acknowledge()` or `releaseInFlight()` (the forwarder's
   * batch on the wire): an event the manager is about to store must not also be reported lost.
   */
  readonly holdInFlight?: boolean;
}

interface StateRow {
  next_seq: number;
  low_paused: number;
  pending_loss: string | null;
  last_report_at: number;
}

interface EvictionRow {
  seq: number;
  severity: number;
  time: number;
  bytes: number;
}

/** What one write transaction works with: read from `state` and `totals` at its start, written at its end. */
interface WriteState {
  total: number;
  /** Bytes of events below high severity: what eviction can free. */
  evictable: number;
  nextSeq: number;
  lowPaused: boolean;
  loss: LossTally;
  lastReportAt: number;
  /** Events evicted by this transaction. */
  evicted: number;
}

/** Losses not yet in a loss report, as kept in the `state` row. */
interface PendingLoss {
  evicted: Partial<Record<Severity, number>>;
  refused: Partial<Record<Severity, number>>;
  firstTime: number | null;
  lastTime: number | null;
  /** Evicted sequence numbers as inclusive ranges, ascending, at most MAX_LOSS_SEQ_RANGES of them. */
  seqRanges: [number, number][];
  seqRangesTruncated: boolean;
}

/**
 * What was lost since the last loss report: evicted events (with their sequence numbers, so the manager
 * can stop waiting for them) and refused ones (which never got a sequence number).
 */
class LossTally {
  readonly #loss: PendingLoss;

  constructor(json: string | null) {
    this.#loss =
      json === null
        ? {
            evicted: {},
            refused: {},
            firstTime: null,
            lastTime: null,
            seqRanges: [],
            seqRangesTruncated: false,
          }
        : (JSON.parse(json) as PendingLoss);
  }

  get isEmpty(): boolean {
    return this.#loss.firstTime === null;
  }

  get evictedCount(): number {
    return Object.values(this.#loss.evicted).reduce((sum, count) => sum + count, 0);
  }

  addEvicted(row: EvictionRow): void {
    const severity = severities[row.severity] ?? 'info';
    this.#loss.evicted[severity] = (this.#loss.evicted[severity] ?? 0) + 1;
    this.#addSeq(row.seq);
    this.#span(row.time);
  }

  addRefused(event: NewDeviceEvent): void {
    this.#loss.refused[event.severity] = (this.#loss.refused[event.severity] ?? 0) + 1;
    this.#span(event.time);
  }

  toJson(): string | null {
    return this.isEmpty ? null : JSON.stringify(this.#loss);
  }

  /** The `data` of an `agent.loss_report` event. */
  reportData(): Record<string, unknown> {
    const loss = this.#loss;
    return {
      reason: 'queue-full',
      evicted: loss.evicted,
      refused: loss.refused,
      firstTime: loss.firstTime,
      lastTime: loss.lastTime,
      seqRanges: loss.seqRanges,
      ...(loss.seqRangesTruncated ? { seqRangesTruncated: true } : {}),
    };
  }

  #addSeq(seq: number): void {
    const ranges = this.#loss.seqRanges;
    // Binary search for the first range starting after seq; ranges stay sorted and disjoint.
    let low = 0;
    let high = ranges.length;
    while (low < high) {
      const middle = (low + high) >> 1;
      if ((ranges[middle]?.[0] ?? 0) <= seq) low = middle + 1;
      else high = middle;
    }
    const before = ranges[low - 1];
    const after = ranges[low];
    if (before !== undefined && before[1] + 1 >= seq) {
      before[1] = Math.max(before[1], seq);
      if (after !== undefined && after[0] === before[1] + 1) {
        before[1] = after[1];
        ranges.splice(low, 1);
      }
    } else if (after !== undefined && after[0] === seq + 1) {
      after[0] = seq;
    } else if (ranges.length < MAX_LOSS_SEQ_RANGES) {
      ranges.splice(low, 0, [seq, seq]);
    } else {
      this.#loss.seqRangesTruncated = true;
    }
  }

  #span(time: number): void {
    const loss = this.#loss;
    loss.firstTime = loss.firstTime === null ? time : Math.min(loss.firstTime, time);
    loss.lastTime = loss.lastTime === null ? time : Math.max(loss.lastTime, time);
  }
}

function queueError(path: string, action: string, cause: unknown): EdgewardError {
  if (cause instanceof EdgewardError) return cause;
  const reason = cause instanceof Error ? cause.message : String(cause);
  return new EdgewardError(
    'EW_EVENT_QUEUE_UNAVAILABLE',
    `cannot ${action} the event queue ${path}: ${reason}`,
    {
      cause,
    },
  );
}

/**
 * A durable, bounded, prioritized queue of device events. When full it evicts the oldest events of the
 * lowest severity first and never high or critical ones; when only those are left it refuses new
 * lower-severity events. Every loss is recorded in an `agent.loss_report` event (high severity) in the
 * queue itself; losses are tallied durably and reported at most once per `lossReportIntervalMs`, so a long
 * overflow does not fill the queue with reports. Batches come out high/critical first, then the rest,
 * each oldest first.
 *
 * Calls are synchronous: each write is one SQLite transaction, committed with an fsync of the WAL.
 */
export class EventQueue {
  readonly #db: DatabaseSync;
  readonly #path: string;
  readonly #maxBytes: number;
  readonly #reportIntervalMs: number;
  readonly #clock: Clock;
  /**
   * The batch held in flight. Its events below high severity were the lowest-numbered of their lane when it
   * was read, and every later one is numbered higher, so `throughSeq` alone keeps eviction off them;
   * `evictableBytes` is what they count of the evictable total.
   */
  #inFlight = { throughSeq: 0, evictableBytes: 0 };
  readonly #statements: {
    readonly state: StatementSync;
    readonly writeState: StatementSync;
    readonly totals: StatementSync;
    readonly insert: StatementSync;
    readonly evictable: StatementSync;
    readonly deleteOne: StatementSync;
    readonly deleteUpTo: StatementSync;
    readonly deleteSeqs: StatementSync;
    readonly oldest: StatementSync;
    readonly lowestSeq: StatementSync;
    readonly batch: StatementSync;
  };

  private constructor(db: DatabaseSync, options: EventQueueOptions) {
    this.#db = db;
    this.#path = options.path;
    this.#maxBytes = options.queueMaxBytes ?? DEFAULT_QUEUE_MAX_BYTES;
    this.#reportIntervalMs = options.lossReportIntervalMs ?? DEFAULT_LOSS_REPORT_INTERVAL_MS;
    this.#clock = options.clock ?? systemClock;
    this.#statements = {
      state: db.prepare('SELECT next_seq, low_paused, pending_loss, last_report_at FROM state WHERE id = 1'),
      writeState: db.prepare(
        'UPDATE state SET next_seq = ?, low_paused = ?, pending_loss = ?, last_report_at = ? WHERE id = 1',
      ),
      totals: db.prepare('SELECT severity, events, bytes FROM totals'),
      insert: db.prepare(
        'INSERT INTO events (seq, lane, severity, time, bytes, body) VALUES (?, ?, ?, ?, ?, ?)',
      ),
      evictable: db.prepare(
        `SELECT seq, severity, time, bytes FROM events WHERE severity < ${HIGH_RANK} AND seq > ? ORDER BY severity, seq LIMIT ?`,
      ),
      deleteOne: db.prepare('DELETE FROM events WHERE seq = ?'),
      deleteUpTo: db.prepare('DELETE FROM events WHERE seq <= ?'),
      deleteSeqs: db.prepare('DELETE FROM events WHERE seq IN (SELECT value FROM json_each(?))'),
      oldest: db.prepare('SELECT time FROM events ORDER BY seq LIMIT 1'),
      lowestSeq: db.prepare('SELECT seq FROM events ORDER BY seq LIMIT 1'),
      batch: db.prepare('SELECT seq, severity, bytes, body FROM events ORDER BY lane, seq LIMIT ?'),
    };
  }

  /** Opens (creating or migrating) the queue file; throws EW_EVENT_QUEUE_UNAVAILABLE if it cannot. */
  static open(options: EventQueueOptions): EventQueue {
    for (const [name, value, minimum] of [
      ['queueMaxBytes', options.queueMaxBytes ?? DEFAULT_QUEUE_MAX_BYTES, 1],
      ['lossReportIntervalMs', options.lossReportIntervalMs ?? DEFAULT_LOSS_REPORT_INTERVAL_MS, 0],
    ] as const) {
      if (!Number.isSafeInteger(value) || value < minimum) {
        throw new EdgewardError(
          'EW_CONFIG_INVALID',
          `${name} must be a whole number of at least ${minimum}, got ${value}`,
        );
      }
    }
    let db: DatabaseSync | undefined;
    try {
      db = new DatabaseSync(options.path, { timeout: 5000 });
      // WAL + FULL: a commit returns after the WAL is fsynced, and a kill at any instant leaves either
      // the old or the new state.
      db.exec('PRAGMA journal_mode = WAL');
      db.exec('PRAGMA synchronous = FULL');
      db.exec(`PRAGMA cache_size = -${QUEUE_PAGE_CACHE_KIB}`);
      // Truncates the WAL after a checkpoint so a burst does not leave a large file behind.
      db.exec('PRAGMA journal_size_limit = 4194304');
      migrate(db);
      return new EventQueue(db, options);
    } catch (error) {
      if (db?.isOpen) db.close();
      throw queueError(options.path, 'open', error);
    }
  }

  /**
   * Stores events, each with the device's next sequence number (and a new UUID unless it has an id), in
   * one durable transaction, and returns them once the transaction is on disk. When full, room is made by
   * evicting the oldest queued events of the lowest severity below high (so a new info event displaces a
   * medium one only when no info or low events are left); events below high severity are refused when
   * eviction cannot make room, high and critical ones never are. Throws EW_EVENT_INVALID, storing nothing,
   * if any event is malformed.
   */
  append(events: readonly NewDeviceEvent[]): AppendResult {
    for (const event of events) validate(event);
    if (events.length === 0) return { accepted: [], refused: [], evicted: 0, lossReport: undefined };
    return this.#write('append to', (state) => {
      const accepted: DeviceEvent[] = [];
      const refused: NewDeviceEvent[] = [];
      for (const event of events) {
        const stored: DeviceEvent = {
          seq: state.nextSeq,
          // Derived from the sequence number, so that it need not travel (see core's derivedEventId).
          id: event.id ?? queuedEventId(state.nextSeq),
          type: event.type,
          severity: event.severity,
          time: event.time,
          data: event.data,
        };
        const json = JSON.stringify(stored);
        const bytes = storedEventBytes(json);
        const need = state.total + bytes - this.#maxBytes;
        const rank = severityRank(event.severity);
        if (need > 0) {
          if (rank < HIGH_RANK && state.evictable < need) {
            refused.push(event);
            state.loss.addRefused(event);
            state.lowPaused = true;
            continue;
          }
          // High and critical go in even when nothing is left to evict: they are never turned away.
          this.#evict(need, state);
        }
        if (rank < HIGH_RANK) state.lowPaused = false;
        this.#insert(stored, json, bytes, state);
        accepted.push(stored);
      }
      const lossReport = this.#reportLossIfDue(state, false);
      return { accepted, refused, evicted: state.evicted, lossReport };
    });
  }

  /**
   * The next events to send: every queued high/critical event first, then the rest, each oldest first
   * (so a new high event overtakes a backlog). Read from the file, not removed. `maxBytes` bounds the batch
   * body's JSON (events and envelope); a first event larger than that is returned alone.
   */
  peekBatch(options: PeekBatchOptions): DeviceEvent[] {
    const events: DeviceEvent[] = [];
    // Each event is counted with a comma; the first has none.
    let size = BATCH_ENVELOPE_BYTES - 1;
    const held = { throughSeq: 0, evictableBytes: 0 };
    try {
      for (const row of this.#statements.batch.iterate(Math.max(1, options.maxEvents))) {
        const length = Number(row.bytes) - ROW_OVERHEAD_BYTES + 1;
        if (events.length > 0 && size + length > options.maxBytes) break;
        events.push(JSON.parse(String(row.body)) as DeviceEvent);
        size += length;
        if (Number(row.severity) < HIGH_RANK) {
          held.throughSeq = Number(row.seq);
          held.evictableBytes += Number(row.bytes);
        }
      }
    } catch (error) {
      throw queueError(this.#path, 'read', error);
    }
    if (options.holdInFlight === true) this.#inFlight = held;
    return events;
  }

  /** Lets eviction take the events of the batch held in flight again (its upload failed). */
  releaseInFlight(): void {
    this.#inFlight = { throughSeq: 0, evictableBytes: 0 };
  }

  /** Deletes delivered events by sequence number; returns how many were queued. */
  remove(seqs: readonly number[]): number {
    return this.acknowledge(0, seqs);
  }

  /**
   * Deletes what the manager holds: every event with seq ≤ `ackedSeq` and the `sentSeqs` it stored beyond
   * a gap. If the manager acknowledges a sequence this queue has not reached (the queue file was lost and
   * numbering restarted), numbering jumps past it, since the manager would ignore those numbers.
   * Returns how many events were deleted.
   */
  acknowledge(ackedSeq: number, sentSeqs: readonly number[] = []): number {
    // Whatever was in flight is either deleted now or no longer on the wire.
    this.releaseInFlight();
    return this.#write('acknowledge in', (state) => {
      let removed = 0;
      if (ackedSeq > 0) removed += Number(this.#statements.deleteUpTo.run(ackedSeq).changes);
      if (sentSeqs.length > 0)
        removed += Number(this.#statements.deleteSeqs.run(JSON.stringify(sentSeqs)).changes);
      if (removed > 0) this.#readTotals(state);
      state.nextSeq = Math.max(state.nextSeq, ackedSeq + 1);
      // Space is back: lower severities go in again, and the refusals are reported without waiting.
      const resumed = state.lowPaused && state.total < this.#maxBytes;
      if (resumed) state.lowPaused = false;
      this.#reportLossIfDue(state, resumed);
      return removed;
    });
  }

  /** Writes the losses not yet reported into a loss report now, if there are any. */
  flushLossReport(): DeviceEvent | undefined {
    return this.#write('report losses in', (state) => this.#reportLossIfDue(state, true));
  }

  stats(): EventQueueStats {
    try {
      const state = this.#statements.state.get() as unknown as StateRow;
      const bySeverity = Object.fromEntries(severities.map((severity) => [severity, 0])) as Record<
        Severity,
        number
      >;
      let events = 0;
      let bytes = 0;
      for (const row of this.#statements.totals.all()) {
        const severity = severities[Number(row.severity)];
        if (severity !== undefined) bySeverity[severity] = Number(row.events);
        events += Number(row.events);
        bytes += Number(row.bytes);
      }
      const oldest = this.#statements.oldest.get();
      return {
        events,
        bytes,
        oldestTime: oldest === undefined ? null : Number(oldest.time),
        bySeverity,
        nextSeq: state.next_seq,
        lowSeverityPaused: state.low_paused === 1,
      };
    } catch (error) {
      throw queueError(this.#path, 'read', error);
    }
  }

  /**
   * The highest sequence number below every queued event: each event at or below it was delivered or
   * evicted (and reported lost), so the manager may stop waiting for it.
   */
  floorSeq(): number {
    try {
      const lowest = this.#statements.lowestSeq.get();
      if (lowest !== undefined) return Number(lowest.seq) - 1;
      return (this.#statements.state.get() as unknown as StateRow).next_seq - 1;
    } catch (error) {
      throw queueError(this.#path, 'read', error);
    }
  }

  get isOpen(): boolean {
    return this.#db.isOpen;
  }

  close(): void {
    if (this.#db.isOpen) this.#db.close();
  }

  /** Runs `body` in one write transaction with the queue's state, then stores the state it leaves. */
  #write<T>(action: string, body: (state: WriteState) => T): T {
    try {
      // IMMEDIATE takes the write lock first, so the state read at the start cannot go stale.
      this.#db.exec('BEGIN IMMEDIATE');
    } catch (error) {
      throw queueError(this.#path, action, error);
    }
    try {
      const row = this.#statements.state.get() as unknown as StateRow;
      const state: WriteState = {
        total: 0,
        evictable: 0,
        nextSeq: row.next_seq,
        lowPaused: row.low_paused === 1,
        loss: new LossTally(row.pending_loss),
        lastReportAt: row.last_report_at,
        evicted: 0,
      };
      this.#readTotals(state);
      const result = body(state);
      this.#statements.writeState.run(
        state.nextSeq,
        state.lowPaused ? 1 : 0,
        state.loss.toJson(),
        state.lastReportAt,
      );
      this.#db.exec('COMMIT');
      return result;
    } catch (error) {
      if (this.#db.isTransaction) this.#db.exec('ROLLBACK');
      throw queueError(this.#path, action, error);
    }
  }

  #readTotals(state: WriteState): void {
    state.total = 0;
    state.evictable = 0;
    for (const row of this.#statements.totals.all()) {
      state.total += Number(row.bytes);
      if (Number(row.severity) < HIGH_RANK) state.evictable += Number(row.bytes);
    }
    state.evictable = Math.max(0, state.evictable - this.#inFlight.evictableBytes);
  }

  #insert(event: DeviceEvent, json: string, bytes: number, state: WriteState): void {
    const rank = severityRank(event.severity);
    this.#statements.insert.run(event.seq, rank >= HIGH_RANK ? 0 : 1, rank, event.time, bytes, json);
    state.total += bytes;
    if (rank < HIGH_RANK) state.evictable += bytes;
    state.nextSeq = event.seq + 1;
  }

  /** Frees at least `need` bytes (or all it can), oldest events of the lowest severity first. */
  #evict(need: number, state: WriteState): void {
    let remaining = need;
    while (remaining > 0 && state.evictable > 0) {
      const rows = this.#statements.evictable.all(
        this.#inFlight.throughSeq,
        EVICTION_CHUNK,
      ) as unknown as EvictionRow[];
      if (rows.length === 0) break;
      for (const row of rows) {
        if (remaining <= 0) break;
        this.#statements.deleteOne.run(row.seq);
        state.loss.addEvicted(row);
        state.evicted += 1;
        state.total -= row.bytes;
        state.evictable -= row.bytes;
        remaining -= row.bytes;
      }
    }
  }

  /**
   * Records the pending losses as one high-severity event, when the interval since the last report has
   * passed (or the clock went back) or `now` is set. The report takes room like any other event; the
   * events it evicts for itself join it, so its size settles within a few rounds.
   */
  #reportLossIfDue(state: WriteState, now: boolean): DeviceEvent | undefined {
    if (state.loss.isEmpty) return undefined;
    const time = this.#clock.now();
    const sinceLast = time - state.lastReportAt;
    if (!now && sinceLast >= 0 && sinceLast < this.#reportIntervalMs) return undefined;
    const id = randomUUID();
    for (let round = 0; ; round += 1) {
      const report: DeviceEvent = {
        seq: state.nextSeq,
        id,
        type: 'agent.loss_report',
        severity: 'high',
        time,
        data: state.loss.reportData(),
      };
      const json = JSON.stringify(report);
      const bytes = storedEventBytes(json);
      const need = state.total + bytes - this.#maxBytes;
      if (need <= 0 || state.evictable <= 0 || round >= 3) {
        this.#insert(report, json, bytes, state);
        state.loss = new LossTally(null);
        state.lastReportAt = time;
        return report;
      }
      this.#evict(need, state);
    }
  }
}

function validate(event: NewDeviceEvent): void {
  const result = z.safeParse(deviceEventSchema, { ...event, seq: 1, id: event.id ?? 'pending' });
  if (!result.success) {
    const issue = result.error.issues[0];
    const where =
      issue === undefined ? '' : ` (${issue.path.map(String).join('.') || 'event'}: ${issue.message})`;
    throw new EdgewardError(
      'EW_EVENT_INVALID',
      `the event of type ${JSON.stringify(event.type)} does not match the event schema${where}`,
    );
  }
}

function migrate(db: DatabaseSync): void {
  db.exec('BEGIN IMMEDIATE');
  try {
    const version = Number(
      (db.prepare('PRAGMA user_version').get() as { user_version: number }).user_version,
    );
    if (version > SCHEMA_VERSION) {
      throw new EdgewardError(
        'EW_EVENT_QUEUE_UNAVAILABLE',
        `the queue file has schema version ${version}, newer than this agent's ${SCHEMA_VERSION}`,
      );
    }
    if (version < 1) {
      const totals = severities.map((_, rank) => `(${rank}, 0, 0)`).join(', ');
      db.exec(`
        CREATE TABLE events (
          seq INTEGER PRIMARY KEY,
          lane INTEGER NOT NULL,      -- 0: high and critical, sent first; 1: the rest
          severity INTEGER NOT NULL,  -- severityRank
          time INTEGER NOT NULL,      -- device time, ms since the epoch
          bytes INTEGER NOT NULL,     -- counted against queueMaxBytes: JSON bytes + ROW_OVERHEAD_BYTES
          body TEXT NOT NULL          -- the DeviceEvent as JSON, exactly as it is sent
        );
        CREATE INDEX events_by_lane ON events (lane, seq);
        CREATE INDEX events_by_severity ON events (severity, seq);
        CREATE TABLE totals (severity INTEGER PRIMARY KEY, events INTEGER NOT NULL, bytes INTEGER NOT NULL);
        INSERT INTO totals (severity, events, bytes) VALUES ${totals};
        CREATE TRIGGER events_inserted AFTER INSERT ON events BEGIN
          UPDATE totals SET events = events + 1, bytes = bytes + NEW.bytes WHERE severity = NEW.severity;
        END;
        CREATE TRIGGER events_deleted AFTER DELETE ON events BEGIN
          UPDATE totals SET events = events - 1, bytes = bytes - OLD.bytes WHERE severity = OLD.severity;
        END;
        CREATE TABLE state (
          id INTEGER PRIMARY KEY CHECK (id = 1),
          next_seq INTEGER NOT NULL,
          low_paused INTEGER NOT NULL,
          pending_loss TEXT,          -- losses not yet in a loss report, as JSON
          last_report_at INTEGER NOT NULL
        );
        INSERT INTO state (id, next_seq, low_paused, pending_loss, last_report_at) VALUES (1, 1, 0, NULL, 0);
        PRAGMA user_version = ${SCHEMA_VERSION};
      `);
    }
    db.exec('COMMIT');
  } catch (error) {
    if (db.isTransaction) db.exec('ROLLBACK');
    throw error;
  }
}
