import { EdgewardError } from '@edgeward/core';
import type { SqlExecutor } from '../sql/executor.ts';
import type {
  SyslogOutboxInput,
  SyslogOutboxMessage,
  SyslogOutboxRepository,
  SyslogOutboxTrimResult,
} from '../store.ts';
import { limitOf } from './sql-helpers.ts';

interface OutboxRow {
  id: number;
  created_at: number;
  message: string;
}

/** Rows per INSERT: two values each, far below either engine's limit on bound parameters. */
const maxRowsPerInsert = 256;

// Held until the transaction ends. Without it, two PostgreSQL transactions could take ids 10 and 11 and
// commit in the other order: a sender that saw 11 first would send it, then `remove(11)` would delete 10
// unsent. SQLite needs none: BEGIN IMMEDIATE already lets one writer in at a time.
const lockOutbox = "SELECT pg_advisory_xact_lock(hashtext('edgeward.syslog_outbox.' || current_schema()))";

export class SqlSyslogOutboxRepository implements SyslogOutboxRepository {
  readonly #db: SqlExecutor;

  constructor(db: SqlExecutor) {
    this.#db = db;
  }

  async enqueue(messages: readonly SyslogOutboxInput[]): Promise<void> {
    if (messages.length === 0) return;
    await this.#write(async (tx) => {
      for (let start = 0; start < messages.length; start += maxRowsPerInsert) {
        const chunk = messages.slice(start, start + maxRowsPerInsert);
        const values: (string | number)[] = [];
        const rows = chunk.map((entry, index) => {
          values.push(entry.createdAt, entry.message);
          return `($${2 * index + 1}, $${2 * index + 2})`;
        });
        await tx.run(`INSERT INTO syslog_outbox (created_at, message) VALUES ${rows.join(', ')}`, values);
      }
    });
  }

  async peek(limit?: number, afterId = 0): Promise<SyslogOutboxMessage[]> {
    const rows = await this.#db.query<OutboxRow>(
      'SELECT id, created_at, message FROM syslog_outbox WHERE id > $1 ORDER BY id LIMIT $2',
      [afterId, limitOf(limit)],
    );
    return rows.map((row) => ({
      id: Number(row.id),
      createdAt: Number(row.created_at),
      message: row.message,
    }));
  }

  remove(uptoId: number): Promise<number> {
    return this.#write((tx) => tx.run('DELETE FROM syslog_outbox WHERE id <= $1', [uptoId]));
  }

  async count(): Promise<number> {
    const rows = await this.#db.query<{ n: number }>('SELECT COUNT(*) AS n FROM syslog_outbox');
    return Number(rows[0]?.n ?? 0);
  }

  async trim(max: number): Promise<SyslogOutboxTrimResult> {
    if (!Number.isSafeInteger(max) || max < 0) {
      throw new EdgewardError(
        'EW_INTERNAL',
        `syslog outbox size ${max} is invalid; use a whole number, 0 or more`,
      );
    }
    return this.#write(async (tx) => {
      // The newest message that has to go: the (max + 1)-th from the end. An index walk of at most `max`
      // entries, done only when the sender believes the outbox is over its limit.
      const [cut] = await tx.query<{ id: number }>(
        'SELECT id FROM syslog_outbox ORDER BY id DESC LIMIT 1 OFFSET $1',
        [max],
      );
      if (cut === undefined) return { removed: 0, firstCreatedAt: null, lastCreatedAt: null };
      const [range] = await tx.query<{ first: number | null; last: number | null }>(
        'SELECT MIN(created_at) AS first, MAX(created_at) AS last FROM syslog_outbox WHERE id <= $1',
        [cut.id],
      );
      const removed = await tx.run('DELETE FROM syslog_outbox WHERE id <= $1', [cut.id]);
      return {
        removed,
        firstCreatedAt: range?.first === null || range?.first === undefined ? null : Number(range.first),
        lastCreatedAt: range?.last === null || range?.last === undefined ? null : Number(range.last),
      };
    });
  }

  #write<T>(work: (tx: SqlExecutor) => Promise<T>): Promise<T> {
    return this.#db.transaction(async (tx) => {
      if (tx.dialect === 'postgres') await tx.query(lockOutbox);
      return work(tx);
    });
  }
}
