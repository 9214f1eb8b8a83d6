import type { OperatorRecord, OperatorRole } from '@edgeward/core';
import type { SqlExecutor } from '../sql/executor.ts';
import type { OperatorRepository } from '../store.ts';

interface OperatorRow {
  id: string;
  name: string;
  role: OperatorRole;
  token_hash: string;
  created_at: number;
  created_by: string;
  revoked_at: number | null;
}

const columns = 'id, name, role, token_hash, created_at, created_by, revoked_at';

function toRecord(row: OperatorRow): OperatorRecord {
  return {
    id: row.id,
    name: row.name,
    role: row.role,
    tokenHash: row.token_hash,
    createdAt: row.created_at,
    createdBy: row.created_by,
    revokedAt: row.revoked_at,
  };
}

export class SqlOperatorRepository implements OperatorRepository {
  readonly #db: SqlExecutor;

  constructor(db: SqlExecutor) {
    this.#db = db;
  }

  async create(operator: OperatorRecord): Promise<void> {
    await this.#db.run(`INSERT INTO operators (${columns}) VALUES ($1, $2, $3, $4, $5, $6, $7)`, [
      operator.id,
      operator.name,
      operator.role,
      operator.tokenHash,
      operator.createdAt,
      operator.createdBy,
      operator.revokedAt,
    ]);
  }

  async findById(id: string): Promise<OperatorRecord | undefined> {
    return this.#findOne('id', id);
  }

  async findByTokenHash(tokenHash: string): Promise<OperatorRecord | undefined> {
    return this.#findOne('token_hash', tokenHash);
  }

  async list(options: { includeRevoked?: boolean } = {}): Promise<OperatorRecord[]> {
    const where = options.includeRevoked === true ? '' : 'WHERE revoked_at IS NULL';
    const rows = await this.#db.query<OperatorRow>(
      `SELECT ${columns} FROM operators ${where} ORDER BY created_at, id`,
    );
    return rows.map(toRecord);
  }

  async revoke(id: string, at: number): Promise<boolean> {
    const changed = await this.#db.run(
      'UPDATE operators SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL',
      [at, id],
    );
    return changed === 1;
  }

  async countActiveAdmins(): Promise<number> {
    const rows = await this.#db.query<{ count: number }>(
      "SELECT COUNT(*) AS count FROM operators WHERE role = 'admin' AND revoked_at IS NULL",
    );
    return Number(rows[0]?.count ?? 0);
  }

  async #findOne(column: 'id' | 'token_hash', value: string): Promise<OperatorRecord | undefined> {
    const rows = await this.#db.query<OperatorRow>(`SELECT ${columns} FROM operators WHERE ${column} = $1`, [
      value,
    ]);
    return rows[0] === undefined ? undefined : toRecord(rows[0]);
  }
}
