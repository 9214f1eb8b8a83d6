import type { DeviceCommand, DeviceCommandResult, DeviceCommandStatus, IsolationState } from '@edgeward/core';
import type { SqlExecutor } from '../sql/executor.ts';
import type { DeviceCommandRecord, DeviceCommandRepository, DeviceIsolationRecord } from '../store.ts';
import { limitOf } from './sql-helpers.ts';

export interface CommandRow {
  id: string;
  device_id: string;
  kind: string;
  params: string;
  created_at: number | string;
  created_by: string;
  sent_at: number | string | null;
  acknowledged_at: number | string | null;
  result: string | null;
  status: string;
}

interface IsolationRow {
  device_id: string;
  desired: string;
  desired_at: number | string;
  desired_by: string;
  reason: string;
  command_id: string;
  reported: string | null;
  reported_at: number | string | null;
}

export const commandColumns =
  'id, device_id, kind, params, created_at, created_by, sent_at, acknowledged_at, result, status';

const nullableNumber = (value: number | string | null) => (value === null ? null : Number(value));

export function commandOfRow(row: CommandRow): DeviceCommandRecord {
  // The kind and its params were validated together before they were stored.
  const command = {
    id: row.id,
    deviceId: row.device_id,
    kind: row.kind,
    params: JSON.parse(row.params),
    createdAt: Number(row.created_at),
    createdBy: row.created_by,
  } as DeviceCommand;
  return {
    ...command,
    status: row.status as DeviceCommandStatus,
    sentAt: nullableNumber(row.sent_at),
    acknowledgedAt: nullableNumber(row.acknowledged_at),
    result: row.result === null ? null : (JSON.parse(row.result) as DeviceCommandResult),
  };
}

export class SqlDeviceCommandRepository implements DeviceCommandRepository {
  readonly #db: SqlExecutor;

  constructor(db: SqlExecutor) {
    this.#db = db;
  }

  async create(command: DeviceCommand): Promise<void> {
    await this.#db.run(
      `INSERT INTO device_commands (${commandColumns}) VALUES ($1, $2, $3, $4, $5, $6, NULL, NULL, NULL, 'pending')`,
      [
        command.id,
        command.deviceId,
        command.kind,
        JSON.stringify(command.params),
        command.createdAt,
        command.createdBy,
      ],
    );
  }

  async findById(id: string): Promise<DeviceCommandRecord | undefined> {
    const [row] = await this.#db.query<CommandRow>(
      `SELECT ${commandColumns} FROM device_commands WHERE id = $1`,
      [id],
    );
    return row === undefined ? undefined : commandOfRow(row);
  }

  async listByDevice(deviceId: string, limit?: number): Promise<DeviceCommandRecord[]> {
    const rows = await this.#db.query<CommandRow>(
      `SELECT ${commandColumns} FROM device_commands WHERE device_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2`,
      [deviceId, limitOf(limit)],
    );
    return rows.map(commandOfRow);
  }

  async listOpen(deviceId: string): Promise<DeviceCommandRecord[]> {
    const rows = await this.#db.query<CommandRow>(
      `SELECT ${commandColumns} FROM device_commands WHERE device_id = $1 AND status IN ('pending', 'sent')
       ORDER BY created_at, id`,
      [deviceId],
    );
    return rows.map(commandOfRow);
  }

  async listOpenByLabel(key: string, value: string, limit: number): Promise<DeviceCommandRecord[]> {
    const rows = await this.#db.query<CommandRow>(
      `SELECT ${commandColumns
        .split(', ')
        .map((name) => `c.${name}`)
        .join(', ')} FROM device_commands c
       JOIN device_labels l ON l.device_id = c.device_id AND l.key = $1 AND l.value = $2
       WHERE c.status IN ('pending', 'sent')
       ORDER BY c.created_at, c.id LIMIT $3`,
      [key, value, limit],
    );
    return rows.map(commandOfRow);
  }

  async markSent(ids: readonly string[], at: number): Promise<number> {
    let changed = 0;
    for (const id of ids) {
      changed += await this.#db.run(
        `UPDATE device_commands SET status = 'sent', sent_at = $2 WHERE id = $1 AND status = 'pending'`,
        [id, at],
      );
    }
    return changed;
  }

  async complete(id: string, result: DeviceCommandResult, at: number): Promise<boolean> {
    const changed = await this.#db.run(
      `UPDATE device_commands SET status = $2, result = $3, acknowledged_at = $4,
         sent_at = COALESCE(sent_at, $4)
       WHERE id = $1 AND result IS NULL`,
      [id, result.status === 'done' ? 'done' : 'failed', JSON.stringify(result), at],
    );
    return changed > 0;
  }

  async setDesiredIsolation(record: Omit<DeviceIsolationRecord, 'reported' | 'reportedAt'>): Promise<void> {
    await this.#db.run(
      `INSERT INTO device_isolation (device_id, desired, desired_at, desired_by, reason, command_id)
       VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT (device_id) DO UPDATE SET desired = excluded.desired, desired_at = excluded.desired_at,
         desired_by = excluded.desired_by, reason = excluded.reason, command_id = excluded.command_id`,
      [record.deviceId, record.desired, record.desiredAt, record.desiredBy, record.reason, record.commandId],
    );
  }

  async reportIsolation(deviceId: string, reported: IsolationState, at: number): Promise<void> {
    await this.#db.run('UPDATE device_isolation SET reported = $2, reported_at = $3 WHERE device_id = $1', [
      deviceId,
      JSON.stringify(reported),
      at,
    ]);
  }

  async findIsolation(deviceId: string): Promise<DeviceIsolationRecord | undefined> {
    const [row] = await this.#db.query<IsolationRow>(
      `SELECT device_id, desired, desired_at, desired_by, reason, command_id, reported, reported_at
       FROM device_isolation WHERE device_id = $1`,
      [deviceId],
    );
    if (row === undefined) return undefined;
    return {
      deviceId: row.device_id,
      desired: row.desired as DeviceIsolationRecord['desired'],
      desiredAt: Number(row.desired_at),
      desiredBy: row.desired_by,
      reason: row.reason,
      commandId: row.command_id,
      reported: row.reported === null ? null : (JSON.parse(row.reported) as IsolationState),
      reportedAt: nullableNumber(row.reported_at),
    };
  }
}
