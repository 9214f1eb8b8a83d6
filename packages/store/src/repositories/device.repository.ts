import { type DeviceRecord, EdgewardError, type Labels } from '@edgeward/core';
import type { SqlExecutor, SqlValue } from '../sql/executor.ts';
import type { DeviceListFilter, DevicePage, DevicePatch, DeviceRepository, DeviceSortKey } from '../store.ts';
import { containsPattern, limitOf, Params, whereClause } from './sql-helpers.ts';

interface DeviceRow {
  id: string;
  name: string;
  enrolled_at: number;
  enrollment_token_id: string | null;
  last_seen_at: number | null;
  report_interval_ms: number;
  agent_version: string;
  inventory_version: number;
  revoked_at: number | null;
}

interface DeviceWithLabelRow extends DeviceRow {
  label_key: string | null;
  label_value: string | null;
}

const columns =
  'id, name, enrolled_at, enrollment_token_id, last_seen_at, report_interval_ms, agent_version, inventory_version, revoked_at';
const selectColumns = columns
  .split(', ')
  .map((column) => `d.${column}`)
  .join(', ');

/** A device is offline after this many silent reporting intervals. */
const silentIntervalsOffline = 3;

const patchColumns: Record<Exclude<keyof DevicePatch, 'labels'>, string> = {
  name: 'name',
  lastSeenAt: 'last_seen_at',
  reportIntervalMs: 'report_interval_ms',
  agentVersion: 'agent_version',
  inventoryVersion: 'inventory_version',
  revokedAt: 'revoked_at',
};

/** The sort expressions over `d`; the never-seen sort as -1 so that both engines place them alike. */
const sortExpressions: Record<DeviceSortKey, string> = {
  id: 'd.id',
  name: 'd.name',
  lastSeen: 'COALESCE(d.last_seen_at, -1)',
  enrolled: 'd.enrolled_at',
};

/** Folds device rows joined with their labels (one row per label, ordered by device) into records. */
function toRecords(rows: readonly DeviceWithLabelRow[]): DeviceRecord[] {
  const devices: DeviceRecord[] = [];
  let current: { row: DeviceRow; labels: Record<string, string> } | undefined;
  const flush = (): void => {
    if (current === undefined) return;
    const { row, labels } = current;
    devices.push({
      id: row.id,
      name: row.name,
      labels,
      enrolledAt: row.enrolled_at,
      enrollmentTokenId: row.enrollment_token_id,
      lastSeenAt: row.last_seen_at,
      reportIntervalMs: row.report_interval_ms,
      agentVersion: row.agent_version,
      inventoryVersion: row.inventory_version,
      revokedAt: row.revoked_at,
    });
  };
  for (const row of rows) {
    if (current?.row.id !== row.id) {
      flush();
      current = { row, labels: {} };
    }
    if (row.label_key !== null && row.label_value !== null) current.labels[row.label_key] = row.label_value;
  }
  flush();
  return devices;
}

/** The WHERE conditions shared by list and count; `d` is the devices table. */
function filterConditions(filter: DeviceListFilter, params: Params): string[] {
  const conditions: string[] = [];
  if (filter.includeRevoked !== true) conditions.push('d.revoked_at IS NULL');
  for (const [key, value] of Object.entries(filter.labels ?? {})) {
    conditions.push(
      `d.id IN (SELECT device_id FROM device_labels WHERE key = ${params.add(key)} AND value = ${params.add(value)})`,
    );
  }
  if (filter.status !== undefined) {
    if (filter.now === undefined) {
      throw new EdgewardError(
        'EW_INTERNAL',
        'a device status filter needs `now` to tell online from offline',
      );
    }
    const online = `d.last_seen_at >= ${params.add(filter.now)} - ${silentIntervalsOffline} * d.report_interval_ms`;
    conditions.push(
      filter.status === 'online'
        ? `(d.last_seen_at IS NOT NULL AND ${online})`
        : `(d.last_seen_at IS NULL OR NOT (${online}))`,
    );
  }
  if (filter.segment !== undefined) {
    conditions.push(
      `d.id IN (SELECT device_id FROM compliance_state WHERE segment = ${params.add(filter.segment)})`,
    );
  }
  if (filter.search !== undefined && filter.search !== '') {
    const pattern = params.add(containsPattern(filter.search.toLowerCase()));
    conditions.push(`(lower(d.id) LIKE ${pattern} ESCAPE '\\' OR lower(d.name) LIKE ${pattern} ESCAPE '\\')`);
  }
  return conditions;
}

async function insertLabels(db: SqlExecutor, deviceId: string, labels: Labels): Promise<void> {
  const entries = Object.entries(labels);
  if (entries.length === 0) return;
  const params = new Params();
  const values = entries.map(
    ([key, value]) => `(${params.add(deviceId)}, ${params.add(key)}, ${params.add(value)})`,
  );
  await db.run(
    `INSERT INTO device_labels (device_id, key, value) VALUES ${values.join(', ')}`,
    params.values,
  );
}

export class SqlDeviceRepository implements DeviceRepository {
  readonly #db: SqlExecutor;

  constructor(db: SqlExecutor) {
    this.#db = db;
  }

  async create(device: DeviceRecord): Promise<void> {
    await this.#db.transaction(async (tx) => {
      await tx.run(`INSERT INTO devices (${columns}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`, [
        device.id,
        device.name,
        device.enrolledAt,
        device.enrollmentTokenId,
        device.lastSeenAt,
        device.reportIntervalMs,
        device.agentVersion,
        device.inventoryVersion,
        device.revokedAt,
      ]);
      await insertLabels(tx, device.id, device.labels);
    });
  }

  async findById(id: string): Promise<DeviceRecord | undefined> {
    return (await this.#select(this.#db, 'WHERE d.id = $1', [id]))[0];
  }

  async list(filter: DeviceListFilter = {}, page: DevicePage = {}): Promise<DeviceRecord[]> {
    const params = new Params();
    const conditions = filterConditions(filter, params);
    const expression = sortExpressions[page.sort ?? 'id'];
    const descending = page.order === 'desc';
    const direction = descending ? 'DESC' : 'ASC';
    if (page.after !== undefined) conditions.push(`d.id > ${params.add(page.after)}`);
    if (page.from !== undefined) {
      // A row comparison, so that the (sort, id) index seeks straight to the page on both engines.
      conditions.push(
        `(${expression}, d.id) ${descending ? '<' : '>'} (${params.add(page.from.value)}, ${params.add(page.from.id)})`,
      );
    }
    const order =
      expression === 'd.id' ? `d.id ${direction}` : `${expression} ${direction}, d.id ${direction}`;
    const limit = params.add(limitOf(page.limit));
    return this.#select(
      this.#db,
      `${whereClause(conditions)} ORDER BY ${order} LIMIT ${limit}`,
      params.values,
      order,
    );
  }

  async count(filter: DeviceListFilter = {}): Promise<number> {
    const params = new Params();
    const rows = await this.#db.query<{ count: number }>(
      `SELECT COUNT(*) AS count FROM devices d ${whereClause(filterConditions(filter, params))}`,
      params.values,
    );
    return Number(rows[0]?.count ?? 0);
  }

  async update(id: string, patch: DevicePatch): Promise<DeviceRecord | undefined> {
    return this.#db.transaction(async (tx) => {
      const params = new Params();
      const assignments: string[] = [];
      for (const [field, column] of Object.entries(patchColumns) as [keyof typeof patchColumns, string][]) {
        const value = patch[field];
        if (value !== undefined) assignments.push(`${column} = ${params.add(value)}`);
      }
      // An empty SET is not SQL; touching the id still tells whether the device exists.
      if (assignments.length === 0) assignments.push('id = id');
      const changed = await tx.run(
        `UPDATE devices SET ${assignments.join(', ')} WHERE id = ${params.add(id)}`,
        params.values,
      );
      if (changed === 0) return undefined;
      if (patch.labels !== undefined) {
        await tx.run('DELETE FROM device_labels WHERE device_id = $1', [id]);
        await insertLabels(tx, id, patch.labels);
      }
      return (await this.#select(tx, 'WHERE d.id = $1', [id]))[0];
    });
  }

  /** Selects devices by `tail` (conditions, order, limit on `d`) together with their labels. */
  async #select(
    db: SqlExecutor,
    tail: string,
    params: readonly SqlValue[],
    order = 'd.id',
  ): Promise<DeviceRecord[]> {
    // The page is cut before the join, so LIMIT counts devices, not labels.
    const rows = await db.query<DeviceWithLabelRow>(
      `SELECT ${selectColumns}, l.key AS label_key, l.value AS label_value
       FROM (SELECT ${selectColumns} FROM devices d ${tail}) d
       LEFT JOIN device_labels l ON l.device_id = d.id
       ORDER BY ${order}, l.key`,
      params,
    );
    return toRecords(rows);
  }
}
