import type { CreateRolloutSpec, DeviceRolloutState, RolloutState, Severity } from '@edgeward/core';
import type { SqlExecutor, SqlValue } from '../sql/executor.ts';
import type {
  RolloutDeviceRecord,
  RolloutRecord,
  RolloutRepository,
  RolloutStateCount,
} from '../update-store.ts';
import { limitOf, Params } from './sql-helpers.ts';

interface RolloutRow {
  id: string;
  spec: string;
  state: string;
  current_phase: number | string;
  phase_started_at: number | string | null;
  reason: string | null;
  created_at: number | string;
  created_by: string;
  updated_at: number | string;
}

interface DeviceRow {
  rollout_id: string;
  device_id: string;
  phase: number | string;
  site: string;
  state: string;
  assigned_at: number | string | null;
  finished_at: number | string | null;
  detail: string;
  updated_at: number | string;
}

const rolloutColumns =
  'id, spec, state, current_phase, phase_started_at, reason, created_at, created_by, updated_at';
const deviceColumns =
  'rollout_id, device_id, phase, site, state, assigned_at, finished_at, detail, updated_at';

/** Devices offered, under way or asked to roll back: what GET /v1/update looks for. */
const OPEN_STATES: readonly DeviceRolloutState[] = [
  'assigned',
  'downloading',
  'verified',
  'installing',
  'awaiting-health',
  'rollback',
];

/** Rows per statement when many devices are written at once (well under both engines' parameter limits). */
const CHUNK = 500;

const nullableNumber = (value: number | string | null) => (value === null ? null : Number(value));

function rolloutOf(row: RolloutRow): RolloutRecord {
  return {
    id: row.id,
    spec: JSON.parse(row.spec) as CreateRolloutSpec,
    state: row.state as RolloutState,
    currentPhase: Number(row.current_phase),
    phaseStartedAt: nullableNumber(row.phase_started_at),
    reason: row.reason,
    createdAt: Number(row.created_at),
    createdBy: row.created_by,
    updatedAt: Number(row.updated_at),
  };
}

function deviceOf(row: DeviceRow): RolloutDeviceRecord {
  return {
    rolloutId: row.rollout_id,
    deviceId: row.device_id,
    phase: Number(row.phase),
    site: row.site,
    state: row.state as DeviceRolloutState,
    assignedAt: nullableNumber(row.assigned_at),
    finishedAt: nullableNumber(row.finished_at),
    detail: row.detail,
    updatedAt: Number(row.updated_at),
  };
}

function placeholders(params: Params, values: readonly SqlValue[]): string {
  return values.map((value) => params.add(value)).join(', ');
}

export class SqlRolloutRepository implements RolloutRepository {
  readonly #db: SqlExecutor;

  constructor(db: SqlExecutor) {
    this.#db = db;
  }

  async create(
    record: RolloutRecord,
    devices: readonly Omit<RolloutDeviceRecord, 'rolloutId'>[],
  ): Promise<void> {
    await this.#db.transaction(async (tx) => {
      await tx.run(
        `INSERT INTO rollouts (${rolloutColumns}, artifact_name, artifact_version)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
        [
          record.id,
          JSON.stringify(record.spec),
          record.state,
          record.currentPhase,
          record.phaseStartedAt,
          record.reason,
          record.createdAt,
          record.createdBy,
          record.updatedAt,
          record.spec.artifact.name,
          record.spec.artifact.version,
        ],
      );
      for (let start = 0; start < devices.length; start += CHUNK) {
        const params = new Params();
        const rows = devices
          .slice(start, start + CHUNK)
          .map(
            (device) =>
              `(${placeholders(params, [
                record.id,
                device.deviceId,
                device.phase,
                device.site,
                device.state,
                device.assignedAt,
                device.finishedAt,
                device.detail,
                device.updatedAt,
              ])})`,
          );
        await tx.run(
          `INSERT INTO rollout_devices (${deviceColumns}) VALUES ${rows.join(', ')}`,
          params.values,
        );
      }
    });
  }

  async find(id: string): Promise<RolloutRecord | undefined> {
    const [row] = await this.#db.query<RolloutRow>(`SELECT ${rolloutColumns} FROM rollouts WHERE id = $1`, [
      id,
    ]);
    return row === undefined ? undefined : rolloutOf(row);
  }

  async list(limit?: number): Promise<RolloutRecord[]> {
    const rows = await this.#db.query<RolloutRow>(
      `SELECT ${rolloutColumns} FROM rollouts ORDER BY created_at DESC, id DESC LIMIT $1`,
      [limitOf(limit)],
    );
    return rows.map(rolloutOf);
  }

  async listActive(): Promise<RolloutRecord[]> {
    const rows = await this.#db.query<RolloutRow>(
      `SELECT ${rolloutColumns} FROM rollouts WHERE state IN ('running', 'aborted', 'rolled-back')
       AND (state = 'running' OR EXISTS (SELECT 1 FROM rollout_devices d WHERE d.rollout_id = rollouts.id AND d.state = 'rollback'))
       ORDER BY created_at, id`,
    );
    return rows.map(rolloutOf);
  }

  async transition(
    id: string,
    from: readonly RolloutState[],
    to: Partial<Pick<RolloutRecord, 'state' | 'currentPhase' | 'phaseStartedAt' | 'reason'>> & {
      updatedAt: number;
    },
  ): Promise<boolean> {
    const params = new Params();
    const sets = [`updated_at = ${params.add(to.updatedAt)}`];
    if (to.state !== undefined) sets.push(`state = ${params.add(to.state)}`);
    if (to.currentPhase !== undefined) sets.push(`current_phase = ${params.add(to.currentPhase)}`);
    if (to.phaseStartedAt !== undefined) sets.push(`phase_started_at = ${params.add(to.phaseStartedAt)}`);
    if (to.reason !== undefined) sets.push(`reason = ${params.add(to.reason)}`);
    const changed = await this.#db.run(
      `UPDATE rollouts SET ${sets.join(', ')} WHERE id = ${params.add(id)} AND state IN (${placeholders(params, from)})`,
      params.values,
    );
    return changed > 0;
  }

  async devices(
    rolloutId: string,
    filter: { phase?: number; states?: readonly DeviceRolloutState[]; assignedBefore?: number } = {},
  ): Promise<RolloutDeviceRecord[]> {
    const params = new Params();
    const conditions = [`rollout_id = ${params.add(rolloutId)}`];
    if (filter.phase !== undefined) conditions.push(`phase = ${params.add(filter.phase)}`);
    if (filter.assignedBefore !== undefined)
      conditions.push(`assigned_at <= ${params.add(filter.assignedBefore)}`);
    if (filter.states !== undefined) {
      if (filter.states.length === 0) return [];
      conditions.push(`state IN (${placeholders(params, filter.states)})`);
    }
    const rows = await this.#db.query<DeviceRow>(
      `SELECT ${deviceColumns} FROM rollout_devices WHERE ${conditions.join(' AND ')} ORDER BY phase, device_id`,
      params.values,
    );
    return rows.map(deviceOf);
  }

  async device(rolloutId: string, deviceId: string): Promise<RolloutDeviceRecord | undefined> {
    const [row] = await this.#db.query<DeviceRow>(
      `SELECT ${deviceColumns} FROM rollout_devices WHERE rollout_id = $1 AND device_id = $2`,
      [rolloutId, deviceId],
    );
    return row === undefined ? undefined : deviceOf(row);
  }

  async counts(rolloutId: string): Promise<RolloutStateCount[]> {
    const rows = await this.#db.query<{
      phase: number | string;
      state: string;
      count: number | string;
      last_finished_at: number | string | null;
    }>(
      `SELECT phase, state, COUNT(*) AS count, MAX(finished_at) AS last_finished_at FROM rollout_devices
       WHERE rollout_id = $1 GROUP BY phase, state ORDER BY phase, state`,
      [rolloutId],
    );
    return rows.map((row) => ({
      phase: Number(row.phase),
      state: row.state as DeviceRolloutState,
      count: Number(row.count),
      lastFinishedAt: nullableNumber(row.last_finished_at),
    }));
  }

  async moveDevices(
    rolloutId: string,
    deviceIds: readonly string[] | 'all',
    from: readonly DeviceRolloutState[],
    to: DeviceRolloutState,
    at: number,
    options: { detail?: string; finished?: boolean; assigned?: boolean; phase?: number } = {},
  ): Promise<number> {
    const chunks: (readonly string[] | undefined)[] = [];
    if (deviceIds === 'all') chunks.push(undefined);
    else
      for (let start = 0; start < deviceIds.length; start += CHUNK)
        chunks.push(deviceIds.slice(start, start + CHUNK));
    let moved = 0;
    for (const chunk of chunks) {
      if (chunk !== undefined && chunk.length === 0) continue;
      const params = new Params();
      const sets = [`state = ${params.add(to)}`, `updated_at = ${params.add(at)}`];
      if (options.detail !== undefined) sets.push(`detail = ${params.add(options.detail)}`);
      if (options.finished === true) sets.push(`finished_at = ${params.add(at)}`);
      if (options.assigned === true) sets.push(`assigned_at = ${params.add(at)}`);
      const conditions = [
        `rollout_id = ${params.add(rolloutId)}`,
        `state IN (${placeholders(params, from)})`,
      ];
      if (chunk !== undefined) conditions.push(`device_id IN (${placeholders(params, chunk)})`);
      if (options.phase !== undefined) conditions.push(`phase = ${params.add(options.phase)}`);
      moved += await this.#db.run(
        `UPDATE rollout_devices SET ${sets.join(', ')} WHERE ${conditions.join(' AND ')}`,
        params.values,
      );
    }
    return moved;
  }

  async openForDevice(
    deviceId: string,
  ): Promise<(RolloutDeviceRecord & { readonly rollout: RolloutRecord }) | undefined> {
    const params = new Params();
    const rows = await this.#db.query<
      DeviceRow & { r_spec: string; r_state: string } & Record<string, unknown>
    >(
      `SELECT ${deviceColumns
        .split(', ')
        .map((column) => `d.${column}`)
        .join(', ')}, ${rolloutColumns
        .split(', ')
        .map((column) => `r.${column} AS r_${column}`)
        .join(', ')}
       FROM rollout_devices d JOIN rollouts r ON r.id = d.rollout_id
       WHERE d.device_id = ${params.add(deviceId)} AND d.state IN (${placeholders(params, OPEN_STATES)})
       ORDER BY r.created_at DESC, r.id DESC LIMIT 1`,
      params.values,
    );
    const [row] = rows;
    if (row === undefined) return undefined;
    const rollout = rolloutOf(
      Object.fromEntries(
        rolloutColumns.split(', ').map((column) => [column, row[`r_${column}`]]),
      ) as unknown as RolloutRow,
    );
    return { ...deviceOf(row), rollout };
  }

  async alertedDevices(rolloutId: string, phase: number, severities: readonly Severity[]): Promise<string[]> {
    if (severities.length === 0) return [];
    const params = new Params();
    // device_ids is a JSON array of ids; an id is matched with its quotes so `dev-1` does not match `dev-10`.
    const rows = await this.#db.query<{ device_id: string }>(
      `SELECT DISTINCT d.device_id FROM rollout_devices d JOIN alerts a
         ON a.device_ids LIKE '%"' || d.device_id || '"%' AND a.opened_at >= d.finished_at
       WHERE d.rollout_id = ${params.add(rolloutId)} AND d.phase = ${params.add(phase)} AND d.state = 'committed'
         AND a.severity IN (${placeholders(params, severities)})
       ORDER BY d.device_id`,
      params.values,
    );
    return rows.map((row) => row.device_id);
  }
}
