import { type AckState, applyBatch, type DeviceEvent, type EventRecord, severities } from '@edgeward/core';
import type { Dialect, SqlExecutor } from '../sql/executor.ts';
import type {
  EventDeliveryState,
  EventGapRecord,
  EventIngestResult,
  EventQueryFilter,
  EventRepository,
  SeqRange,
} from '../store.ts';
import { limitOf, Params, whereClause } from './sql-helpers.ts';

interface EventRow {
  device_id: string;
  seq: number;
  id: string;
  type: string;
  severity: EventRecord['severity'];
  device_time: number;
  received_at: number;
  data: string;
}

interface DeliveryRow {
  acked_seq: number;
  held_above: string;
}

interface GapRow {
  from_seq: number;
  to_seq: number;
  detected_at: number;
}

const eventColumns = 'device_id, seq, id, type, severity, device_time, received_at, data';
/** Newest first: the order of events_time, and of events_device_time once the device is fixed. */
const newestFirst = 'ORDER BY device_time DESC, device_id DESC, seq DESC';
/**
 * Rows per multi-row INSERT, measured: on SQLite (in process) binding cost grows with the statement and
 * 16 rows is fastest, about three times as fast as 512; on PostgreSQL every statement is a round trip, so larger
 * is better, while 6 values a row plus 2 shared stay far below its 65,535 parameters.
 */
const maxRowsPerInsert: Record<Dialect, number> = { sqlite: 16, postgres: 512 };
/** Events deleted per statement while pruning, so ingests get the database in between. */
const pruneChunk = 5000;
/** Recorded gaps returned with a delivery state. */
const detectedGapsShown = 100;

function toRecord(row: EventRow): EventRecord {
  return {
    deviceId: row.device_id,
    seq: Number(row.seq),
    id: row.id,
    type: row.type,
    severity: row.severity,
    time: Number(row.device_time),
    receivedAt: Number(row.received_at),
    data: JSON.parse(row.data) as Record<string, unknown>,
  };
}

/** Ascending sequence numbers as inclusive runs: what a long open gap leaves held is one run, not a list. */
function toRanges(seqs: readonly number[]): [number, number][] {
  const ranges: [number, number][] = [];
  for (const seq of seqs) {
    const last = ranges.at(-1);
    if (last !== undefined && seq === last[1] + 1) last[1] = seq;
    else ranges.push([seq, seq]);
  }
  return ranges;
}

function fromRanges(ranges: readonly (readonly [number, number])[]): number[] {
  const seqs: number[] = [];
  for (const [from, to] of ranges) for (let seq = from; seq <= to; seq++) seqs.push(seq);
  return seqs;
}

function toState(row: DeliveryRow | undefined): AckState {
  if (row === undefined) return { ackedSeq: 0, heldAbove: [] };
  return {
    ackedSeq: Number(row.acked_seq),
    heldAbove: fromRanges(JSON.parse(row.held_above) as [number, number][]),
  };
}

/** The parts of `gaps` above `highestBefore`: missing sequence numbers nobody had seen missing yet. */
function revealedGaps(gaps: readonly SeqRange[], highestBefore: number): SeqRange[] {
  return gaps
    .filter((gap) => gap.to > highestBefore)
    .map((gap) => ({ from: Math.max(gap.from, highestBefore + 1), to: gap.to }));
}

const insertStatements = new Map<number, string>();

/** `INSERT … VALUES` for `rows` events: $1 is the device, $2 the receipt time, then 6 values a row. */
function insertStatement(rows: number): string {
  let sql = insertStatements.get(rows);
  if (sql === undefined) {
    const values: string[] = [];
    for (let row = 0, n = 3; row < rows; row++, n += 6) {
      values.push(`($1, $${n}, $${n + 1}, $${n + 2}, $${n + 3}, $${n + 4}, $2, $${n + 5})`);
    }
    sql = `INSERT INTO events (${eventColumns}) VALUES ${values.join(', ')} ON CONFLICT DO NOTHING`;
    insertStatements.set(rows, sql);
  }
  return sql;
}

/**
 * Splits `count` rows into statements of power-of-two sizes up to `largest`, so that any batch reuses
 * a handful of prepared statement texts instead of one per batch size.
 */
function insertSizes(count: number, largest: number): number[] {
  const sizes: number[] = [];
  let left = count;
  while (left >= largest) {
    sizes.push(largest);
    left -= largest;
  }
  for (let size = largest / 2; size >= 1; size /= 2) {
    if (left >= size) {
      sizes.push(size);
      left -= size;
    }
  }
  return sizes;
}

export class SqlEventRepository implements EventRepository {
  readonly #db: SqlExecutor;

  constructor(db: SqlExecutor) {
    this.#db = db;
  }

  ingest(
    deviceId: string,
    events: readonly DeviceEvent[],
    receivedAt: number,
    floorSeq = 0,
  ): Promise<EventIngestResult> {
    return this.#db.transaction(async (tx) => {
      const state = toState(await this.#lockState(tx, deviceId, receivedAt));
      const outcome = applyBatch(
        state,
        events.map((event) => event.seq),
        floorSeq,
      );
      const highestBefore = state.heldAbove.at(-1) ?? state.ackedSeq;
      const newGaps = revealedGaps(outcome.gaps, highestBefore);
      let stored = 0;
      if (outcome.accept.length > 0) {
        stored = await insertEvents(tx, deviceId, acceptedEvents(events, outcome.accept), receivedAt);
      }
      if (outcome.accept.length > 0 || outcome.state.ackedSeq !== state.ackedSeq) {
        await tx.run(
          'UPDATE event_delivery SET acked_seq = $2, held_above = $3, updated_at = $4 WHERE device_id = $1',
          [deviceId, outcome.state.ackedSeq, JSON.stringify(toRanges(outcome.state.heldAbove)), receivedAt],
        );
      }
      if (newGaps.length > 0) {
        const params = new Params();
        const device = params.add(deviceId);
        const at = params.add(receivedAt);
        const rows = newGaps.map(
          (gap) => `(${device}, ${params.add(gap.from)}, ${params.add(gap.to)}, ${at})`,
        );
        await tx.run(
          `INSERT INTO event_gaps (device_id, from_seq, to_seq, detected_at) VALUES ${rows.join(', ')}
           ON CONFLICT (device_id, from_seq) DO NOTHING`,
          params.values,
        );
      }
      return {
        ackedSeq: outcome.state.ackedSeq,
        stored,
        duplicates: events.length - stored,
        gaps: outcome.gaps,
        newGaps,
      };
    });
  }

  async query(filter: EventQueryFilter = {}): Promise<EventRecord[]> {
    const params = new Params();
    const conditions: string[] = [];
    if (filter.deviceId !== undefined) conditions.push(`device_id = ${params.add(filter.deviceId)}`);
    if (filter.type !== undefined) conditions.push(`type = ${params.add(filter.type)}`);
    if (filter.since !== undefined) conditions.push(`device_time >= ${params.add(filter.since)}`);
    if (filter.until !== undefined) conditions.push(`device_time < ${params.add(filter.until)}`);
    if (filter.severity !== undefined) {
      const atLeast = severities.slice(severities.indexOf(filter.severity));
      conditions.push(`severity IN (${atLeast.map((severity) => params.add(severity)).join(', ')})`);
    }
    const { before } = filter;
    if (before !== undefined) {
      // Row-value comparisons in the column order of the index that serves the query, so both engines
      // seek to the cursor instead of scanning past every newer row.
      conditions.push(
        filter.deviceId === undefined
          ? `(device_time, device_id, seq) < (${params.add(before.time)}, ${params.add(before.deviceId)}, ${params.add(before.seq)})`
          : `(device_time, seq) < (${params.add(before.time)}, ${params.add(before.seq)})`,
      );
    }
    const rows = await this.#db.query<EventRow>(
      `SELECT ${eventColumns} FROM events ${whereClause(conditions)} ${newestFirst} LIMIT ${params.add(limitOf(filter.limit))}`,
      params.values,
    );
    return rows.map(toRecord);
  }

  async prune(olderThanReceivedAt: number): Promise<number> {
    let deleted = 0;
    for (;;) {
      const changed = await this.#db.run(
        `DELETE FROM events WHERE (device_id, seq) IN
           (SELECT device_id, seq FROM events WHERE received_at < $1 LIMIT ${pruneChunk})`,
        [olderThanReceivedAt],
      );
      deleted += changed;
      if (changed < pruneChunk) break;
    }
    await this.#db.run('DELETE FROM event_gaps WHERE detected_at < $1', [olderThanReceivedAt]);
    return deleted;
  }

  async deliveryState(deviceId: string): Promise<EventDeliveryState> {
    const [rows, gapRows] = await Promise.all([
      this.#db.query<DeliveryRow>('SELECT acked_seq, held_above FROM event_delivery WHERE device_id = $1', [
        deviceId,
      ]),
      this.#db.query<GapRow>(
        `SELECT from_seq, to_seq, detected_at FROM event_gaps WHERE device_id = $1
         ORDER BY detected_at DESC, from_seq DESC LIMIT ${detectedGapsShown}`,
        [deviceId],
      ),
    ]);
    const state = toState(rows[0]);
    return {
      ackedSeq: state.ackedSeq,
      heldAbove: [...state.heldAbove],
      gaps: applyBatch(state, []).gaps,
      detectedGaps: gapRows.map(
        (row): EventGapRecord => ({
          from: Number(row.from_seq),
          to: Number(row.to_seq),
          detectedAt: Number(row.detected_at),
        }),
      ),
    };
  }

  /**
   * The device's delivery row, created when missing, locked until the transaction ends. On PostgreSQL
   * `FOR UPDATE` makes a concurrent ingest of the same device wait and then read the state this one
   * commits; on SQLite the transaction already holds the database's write lock.
   */
  async #lockState(tx: SqlExecutor, deviceId: string, now: number): Promise<DeliveryRow | undefined> {
    const select = `SELECT acked_seq, held_above FROM event_delivery WHERE device_id = $1${
      tx.dialect === 'postgres' ? ' FOR UPDATE' : ''
    }`;
    const existing = await tx.query<DeliveryRow>(select, [deviceId]);
    if (existing[0] !== undefined) return existing[0];
    // A first ingest: two racing ones both miss the row; the insert lets one create it and makes the
    // other wait for that commit, then both lock and read the same row.
    await tx.run(
      `INSERT INTO event_delivery (device_id, acked_seq, held_above, updated_at) VALUES ($1, 0, '[]', $2)
       ON CONFLICT (device_id) DO NOTHING`,
      [deviceId, now],
    );
    return (await tx.query<DeliveryRow>(select, [deviceId]))[0];
  }
}

/** The first event of the batch for each accepted sequence number, ascending. */
function acceptedEvents(events: readonly DeviceEvent[], accept: readonly number[]): DeviceEvent[] {
  const wanted = new Set(accept);
  const picked: DeviceEvent[] = [];
  for (const event of events) {
    if (wanted.delete(event.seq)) picked.push(event);
  }
  return picked.sort((a, b) => a.seq - b.seq);
}

async function insertEvents(
  tx: SqlExecutor,
  deviceId: string,
  events: readonly DeviceEvent[],
  receivedAt: number,
): Promise<number> {
  let stored = 0;
  let offset = 0;
  for (const size of insertSizes(events.length, maxRowsPerInsert[tx.dialect])) {
    const values: (string | number)[] = [deviceId, receivedAt];
    for (let index = offset; index < offset + size; index++) {
      const event = events[index]!;
      values.push(event.seq, event.id, event.type, event.severity, event.time, JSON.stringify(event.data));
    }
    stored += await tx.run(insertStatement(size), values);
    offset += size;
  }
  return stored;
}
