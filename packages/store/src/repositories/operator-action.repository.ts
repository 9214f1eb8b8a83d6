import type { OperatorActionRecord } from '@edgeward/core';
import type { SqlExecutor } from '../sql/executor.ts';
import type { OperatorActionRepository } from '../store.ts';
import { limitOf, Params, whereClause } from './sql-helpers.ts';

interface ActionRow {
  id: string;
  at: number;
  operator_id: string;
  operator_name: string;
  action: string;
  target: string;
  details: string;
}

const columns = 'id, at, operator_id, operator_name, action, target, details';

function toRecord(row: ActionRow): OperatorActionRecord {
  return {
    id: row.id,
    at: row.at,
    operatorId: row.operator_id,
    operatorName: row.operator_name,
    action: row.action,
    target: row.target,
    details: JSON.parse(row.details) as Record<string, unknown>,
  };
}

export class SqlOperatorActionRepository implements OperatorActionRepository {
  readonly #db: SqlExecutor;

  constructor(db: SqlExecutor) {
    this.#db = db;
  }

  async record(action: OperatorActionRecord): Promise<void> {
    await this.#db.run(`INSERT INTO operator_actions (${columns}) VALUES ($1, $2, $3, $4, $5, $6, $7)`, [
      action.id,
      action.at,
      action.operatorId,
      action.operatorName,
      action.action,
      action.target,
      JSON.stringify(action.details),
    ]);
  }

  async list(
    options: { limit?: number; operatorId?: string; target?: string } = {},
  ): Promise<OperatorActionRecord[]> {
    const params = new Params();
    const conditions: string[] = [];
    if (options.operatorId !== undefined) conditions.push(`operator_id = ${params.add(options.operatorId)}`);
    if (options.target !== undefined) conditions.push(`target = ${params.add(options.target)}`);
    const rows = await this.#db.query<ActionRow>(
      `SELECT ${columns} FROM operator_actions ${whereClause(conditions)}
       ORDER BY at DESC, seq DESC LIMIT ${params.add(limitOf(options.limit))}`,
      params.values,
    );
    return rows.map(toRecord);
  }
}
