import type { AlertDeliveryState, AlertDigestSchedule } from '@edgeward/core';
import type { SqlExecutor } from '../sql/executor.ts';
import type {
  AlertDeliveryFailure,
  AlertDeliveryInput,
  AlertDeliveryRecord,
  AlertDeliveryRepository,
  AlertDigestItem,
} from '../store.ts';
import { limitOf, Params, whereClause } from './sql-helpers.ts';

interface DeliveryRow {
  id: string;
  alert_id: string | null;
  digest_key: string | null;
  destination: string;
  payload: string;
  state: AlertDeliveryState;
  attempts: number;
  next_attempt_at: number;
  last_error: string | null;
  created_at: number;
  delivered_at: number | null;
}

const columns =
  'id, alert_id, digest_key, destination, payload, state, attempts, next_attempt_at, last_error, created_at, delivered_at';

/** Rows per INSERT: seven values each, far below either engine's limit on bound parameters. */
const maxRowsPerInsert = 100;

// Held until the transaction ends, so that replicas building the same digest take turns. SQLite needs
// none: BEGIN IMMEDIATE already lets one writer in at a time.
const lockDigests = "SELECT pg_advisory_xact_lock(hashtext('edgeward.alert_digests.' || current_schema()))";

function toRecord(row: DeliveryRow): AlertDeliveryRecord {
  return {
    id: row.id,
    alertId: row.alert_id,
    digestKey: row.digest_key,
    destination: row.destination,
    payload: JSON.parse(row.payload) as unknown,
    state: row.state,
    attempts: Number(row.attempts),
    nextAttemptAt: Number(row.next_attempt_at),
    lastError: row.last_error,
    createdAt: Number(row.created_at),
    deliveredAt: row.delivered_at === null ? null : Number(row.delivered_at),
  };
}

export class SqlAlertDeliveryRepository implements AlertDeliveryRepository {
  readonly #db: SqlExecutor;

  constructor(db: SqlExecutor) {
    this.#db = db;
  }

  async enqueue(deliveries: readonly AlertDeliveryInput[]): Promise<number> {
    let written = 0;
    for (let start = 0; start < deliveries.length; start += maxRowsPerInsert) {
      const params = new Params();
      const rows = deliveries.slice(start, start + maxRowsPerInsert).map((delivery) => {
        const delivered = delivery.state === 'delivered';
        const createdAt = params.add(delivery.createdAt);
        return `(${[
          params.add(delivery.id),
          params.add(delivery.alertId),
          params.add(delivery.digestKey),
          params.add(delivery.destination),
          params.add(JSON.stringify(delivery.payload)),
          params.add(delivery.state),
          delivered ? '1' : '0',
          createdAt,
          createdAt,
          delivered ? createdAt : 'NULL',
        ].join(', ')})`;
      });
      written += await this.#db.run(
        `INSERT INTO alert_deliveries
           (id, alert_id, digest_key, destination, payload, state, attempts, next_attempt_at, created_at, delivered_at)
         VALUES ${rows.join(', ')}
         ON CONFLICT DO NOTHING`,
        params.values,
      );
    }
    return written;
  }

  async claimDue(
    owner: string,
    now: number,
    leaseUntil: number,
    limit: number,
  ): Promise<AlertDeliveryRecord[]> {
    // One statement: on PostgreSQL the inner SELECT locks the rows it picks and skips those another replica
    // is claiming right now; on SQLite the statement runs alone.
    const rows = await this.#db.query<DeliveryRow>(
      `UPDATE alert_deliveries SET lease_owner = $1, lease_until = $2
       WHERE id IN (
         SELECT id FROM alert_deliveries
         WHERE state <> 'delivered' AND next_attempt_at <= $3 AND (lease_until IS NULL OR lease_until <= $3)
         ORDER BY next_attempt_at, id LIMIT $4${this.#db.dialect === 'postgres' ? ' FOR UPDATE SKIP LOCKED' : ''}
       )
       RETURNING ${columns}`,
      [owner, leaseUntil, now, limitOf(limit)],
    );
    return rows
      .map(toRecord)
      .sort((a, b) => a.nextAttemptAt - b.nextAttemptAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  async markDelivered(id: string, owner: string, at: number): Promise<boolean> {
    const changed = await this.#db.run(
      `UPDATE alert_deliveries
       SET state = 'delivered', attempts = attempts + 1, delivered_at = $3, last_error = NULL,
           lease_owner = NULL, lease_until = NULL
       WHERE id = $1 AND lease_owner = $2 AND state <> 'delivered'`,
      [id, owner, at],
    );
    return changed > 0;
  }

  async markFailed(id: string, owner: string, failure: AlertDeliveryFailure): Promise<boolean> {
    const changed = await this.#db.run(
      `UPDATE alert_deliveries
       SET attempts = attempts + 1,
           state = CASE WHEN attempts + 1 >= $3 THEN 'failing' ELSE 'pending' END,
           last_error = $4, next_attempt_at = $5, lease_owner = NULL, lease_until = NULL
       WHERE id = $1 AND lease_owner = $2 AND state <> 'delivered'`,
      [id, owner, failure.failingAfter, failure.error, failure.nextAttemptAt],
    );
    return changed > 0;
  }

  releaseClaims(owner: string): Promise<number> {
    return this.#db.run(
      'UPDATE alert_deliveries SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = $1',
      [owner],
    );
  }

  async get(id: string): Promise<AlertDeliveryRecord | undefined> {
    const rows = await this.#db.query<DeliveryRow>(`SELECT ${columns} FROM alert_deliveries WHERE id = $1`, [
      id,
    ]);
    return rows[0] === undefined ? undefined : toRecord(rows[0]);
  }

  async list(
    options: { state?: AlertDeliveryState; alertId?: string; limit?: number } = {},
  ): Promise<AlertDeliveryRecord[]> {
    const params = new Params();
    const conditions: string[] = [];
    if (options.state !== undefined) conditions.push(`state = ${params.add(options.state)}`);
    if (options.alertId !== undefined) conditions.push(`alert_id = ${params.add(options.alertId)}`);
    const rows = await this.#db.query<DeliveryRow>(
      `SELECT ${columns} FROM alert_deliveries ${whereClause(conditions)}
       ORDER BY created_at DESC, id DESC LIMIT ${params.add(limitOf(options.limit))}`,
      params.values,
    );
    return rows.map(toRecord);
  }

  async queueDigestItems(items: readonly AlertDigestItem[]): Promise<void> {
    for (let start = 0; start < items.length; start += maxRowsPerInsert) {
      const params = new Params();
      const rows = items
        .slice(start, start + maxRowsPerInsert)
        .map(
          (item) =>
            `(${params.add(item.destination)}, ${params.add(item.schedule)}, ${params.add(item.alertId)}, ${params.add(item.queuedAt)})`,
        );
      await this.#db.run(
        `INSERT INTO alert_digest_items (destination, schedule, alert_id, queued_at) VALUES ${rows.join(', ')}
         ON CONFLICT DO NOTHING`,
        params.values,
      );
    }
  }

  takeDigestItems(schedule: AlertDigestSchedule, before: number): Promise<AlertDigestItem[]> {
    return this.#db.transaction(async (tx) => {
      if (tx.dialect === 'postgres') await tx.query(lockDigests);
      const rows = await tx.query<{
        destination: string;
        schedule: AlertDigestSchedule;
        alert_id: string;
        queued_at: number;
      }>(
        `SELECT destination, schedule, alert_id, queued_at FROM alert_digest_items
         WHERE schedule = $1 AND queued_at < $2 ORDER BY queued_at, destination, alert_id`,
        [schedule, before],
      );
      if (rows.length > 0) {
        await tx.run('DELETE FROM alert_digest_items WHERE schedule = $1 AND queued_at < $2', [
          schedule,
          before,
        ]);
      }
      return rows.map((row) => ({
        destination: row.destination,
        schedule: row.schedule,
        alertId: row.alert_id,
        queuedAt: Number(row.queued_at),
      }));
    });
  }
}
