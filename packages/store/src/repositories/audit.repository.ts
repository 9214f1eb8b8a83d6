import { type AuditCheckpoint, type AuditEntry, type AuditEntryInput, appendEntry } from '@edgeward/core';
import type { SqlExecutor } from '../sql/executor.ts';
import type { AuditRepository } from '../store.ts';
import { limitOf, Params, whereClause } from './sql-helpers.ts';

interface EntryRow {
  seq: number;
  at: number;
  kind: string;
  actor: string;
  subject: string;
  details: string;
  prev_hash: string;
  hash: string;
}

interface CheckpointRow {
  seq: number;
  hash: string;
  at: number;
  key_id: string;
  signature: string;
}

const entryColumns = 'seq, at, kind, actor, subject, details, prev_hash, hash';
const checkpointColumns = 'seq, hash, at, key_id, signature';

// Held until the caller's transaction ends: the next appender reads the latest entry only after this one
// committed, so two replicas never both write seq n + 1 (and none waits on a row lock that a gap avoids).
const lockChain = "SELECT pg_advisory_xact_lock(hashtext('edgeward.audit_entries.' || current_schema()))";

function toEntry(row: EntryRow): AuditEntry {
  return {
    seq: Number(row.seq),
    at: Number(row.at),
    kind: row.kind,
    actor: row.actor,
    subject: row.subject,
    details: JSON.parse(row.details) as Record<string, unknown>,
    prevHash: row.prev_hash,
    hash: row.hash,
  };
}

function toCheckpoint(row: CheckpointRow): AuditCheckpoint {
  return {
    seq: Number(row.seq),
    hash: row.hash,
    at: Number(row.at),
    keyId: row.key_id,
    signature: row.signature,
  };
}

export class SqlAuditRepository implements AuditRepository {
  readonly #db: SqlExecutor;

  constructor(db: SqlExecutor) {
    this.#db = db;
  }

  append(input: AuditEntryInput): Promise<AuditEntry> {
    return this.#db.transaction(async (tx) => {
      if (tx.dialect === 'postgres') await tx.query(lockChain);
      const [last] = await tx.query<EntryRow>(
        `SELECT ${entryColumns} FROM audit_entries ORDER BY seq DESC LIMIT 1`,
      );
      // The details go through JSON first, so the hash covers exactly what is stored and read back.
      const details = JSON.parse(JSON.stringify(input.details)) as Record<string, unknown>;
      const entry = appendEntry(last === undefined ? undefined : toEntry(last), { ...input, details });
      await tx.run(`INSERT INTO audit_entries (${entryColumns}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, [
        entry.seq,
        entry.at,
        entry.kind,
        entry.actor,
        entry.subject,
        JSON.stringify(entry.details),
        entry.prevHash,
        entry.hash,
      ]);
      return entry;
    });
  }

  async latest(): Promise<AuditEntry | undefined> {
    const [row] = await this.#db.query<EntryRow>(
      `SELECT ${entryColumns} FROM audit_entries ORDER BY seq DESC LIMIT 1`,
    );
    return row === undefined ? undefined : toEntry(row);
  }

  async range(options: { fromSeq?: number; limit?: number } = {}): Promise<AuditEntry[]> {
    const params = new Params();
    const from = params.add(options.fromSeq ?? 1);
    const limit = options.limit === undefined ? '' : `LIMIT ${params.add(limitOf(options.limit))}`;
    const rows = await this.#db.query<EntryRow>(
      `SELECT ${entryColumns} FROM audit_entries WHERE seq >= ${from} ORDER BY seq ${limit}`,
      params.values,
    );
    return rows.map(toEntry);
  }

  async list(options: { limit?: number; before?: number } = {}): Promise<AuditEntry[]> {
    const params = new Params();
    const conditions = options.before === undefined ? [] : [`seq < ${params.add(options.before)}`];
    const rows = await this.#db.query<EntryRow>(
      `SELECT ${entryColumns} FROM audit_entries ${whereClause(conditions)}
       ORDER BY seq DESC LIMIT ${params.add(limitOf(options.limit))}`,
      params.values,
    );
    return rows.map(toEntry);
  }

  async firstSeqAtOrAfter(at: number): Promise<number | undefined> {
    const [row] = await this.#db.query<{ seq: number }>(
      'SELECT seq FROM audit_entries WHERE at >= $1 ORDER BY at, seq LIMIT 1',
      [at],
    );
    return row === undefined ? undefined : Number(row.seq);
  }

  async count(): Promise<number> {
    const [row] = await this.#db.query<{ count: number }>('SELECT COUNT(*) AS count FROM audit_entries');
    return Number(row?.count ?? 0);
  }

  async addCheckpoint(checkpoint: AuditCheckpoint): Promise<boolean> {
    const written = await this.#db.run(
      `INSERT INTO audit_checkpoints (${checkpointColumns}) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (seq) DO NOTHING`,
      [checkpoint.seq, checkpoint.hash, checkpoint.at, checkpoint.keyId, checkpoint.signature],
    );
    return written > 0;
  }

  async checkpoints(options: { fromSeq?: number } = {}): Promise<AuditCheckpoint[]> {
    const rows = await this.#db.query<CheckpointRow>(
      `SELECT ${checkpointColumns} FROM audit_checkpoints WHERE seq >= $1 ORDER BY seq`,
      [options.fromSeq ?? 1],
    );
    return rows.map(toCheckpoint);
  }

  async latestCheckpoint(): Promise<AuditCheckpoint | undefined> {
    const [row] = await this.#db.query<CheckpointRow>(
      `SELECT ${checkpointColumns} FROM audit_checkpoints ORDER BY seq DESC LIMIT 1`,
    );
    return row === undefined ? undefined : toCheckpoint(row);
  }
}
