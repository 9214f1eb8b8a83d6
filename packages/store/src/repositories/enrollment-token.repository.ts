import type { EnrollmentTokenRecord, Labels } from '@edgeward/core';
import type { SqlExecutor } from '../sql/executor.ts';
import type { EnrollmentTokenRepository } from '../store.ts';
import { Params, whereClause } from './sql-helpers.ts';

interface TokenRow {
  id: string;
  secret_hash: string;
  labels: string;
  created_at: number;
  created_by: string;
  expires_at: number;
  used_at: number | null;
  used_by_device_id: string | null;
  revoked_at: number | null;
}

const columns =
  'id, secret_hash, labels, created_at, created_by, expires_at, used_at, used_by_device_id, revoked_at';

function toRecord(row: TokenRow): EnrollmentTokenRecord {
  return {
    id: row.id,
    secretHash: row.secret_hash,
    labels: JSON.parse(row.labels) as Labels,
    createdAt: row.created_at,
    createdBy: row.created_by,
    expiresAt: row.expires_at,
    usedAt: row.used_at,
    usedByDeviceId: row.used_by_device_id,
    revokedAt: row.revoked_at,
  };
}

export class SqlEnrollmentTokenRepository implements EnrollmentTokenRepository {
  readonly #db: SqlExecutor;

  constructor(db: SqlExecutor) {
    this.#db = db;
  }

  async create(token: EnrollmentTokenRecord): Promise<void> {
    await this.#db.run(
      `INSERT INTO enrollment_tokens (${columns}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
      [
        token.id,
        token.secretHash,
        JSON.stringify(token.labels),
        token.createdAt,
        token.createdBy,
        token.expiresAt,
        token.usedAt,
        token.usedByDeviceId,
        token.revokedAt,
      ],
    );
  }

  async findById(id: string): Promise<EnrollmentTokenRecord | undefined> {
    const rows = await this.#db.query<TokenRow>(`SELECT ${columns} FROM enrollment_tokens WHERE id = $1`, [
      id,
    ]);
    return rows[0] === undefined ? undefined : toRecord(rows[0]);
  }

  async list(options: { includeInactive?: boolean; now?: number } = {}): Promise<EnrollmentTokenRecord[]> {
    const params = new Params();
    const conditions: string[] = [];
    if (options.includeInactive !== true) {
      conditions.push('used_at IS NULL', 'revoked_at IS NULL');
      if (options.now !== undefined) conditions.push(`expires_at > ${params.add(options.now)}`);
    }
    const rows = await this.#db.query<TokenRow>(
      `SELECT ${columns} FROM enrollment_tokens ${whereClause(conditions)} ORDER BY created_at DESC, id DESC`,
      params.values,
    );
    return rows.map(toRecord);
  }

  async markUsed(id: string, deviceId: string, at: number): Promise<boolean> {
    // One conditional UPDATE: of two concurrent enrollments with the same token, only one changes the row.
    const changed = await this.#db.run(
      `UPDATE enrollment_tokens SET used_at = $1, used_by_device_id = $2
       WHERE id = $3 AND used_at IS NULL AND revoked_at IS NULL`,
      [at, deviceId, id],
    );
    return changed === 1;
  }

  async revoke(id: string, at: number): Promise<boolean> {
    const changed = await this.#db.run(
      'UPDATE enrollment_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL',
      [at, id],
    );
    return changed === 1;
  }
}
