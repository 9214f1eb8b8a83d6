import type {
  Inventory,
  InventoryChangeKind,
  InventoryChangeRecord,
  InventorySnapshotRecord,
} from '@edgeward/core';
import type { SqlExecutor } from '../sql/executor.ts';
import type { InventoryRepository } from '../store.ts';
import { fromJsonColumn, limitOf, Params, toJsonColumn } from './sql-helpers.ts';

interface SnapshotRow {
  device_id: string;
  version: number;
  collected_at: number;
  received_at: number;
  inventory: string;
}

interface ChangeRow {
  device_id: string;
  version: number;
  received_at: number;
  collected_at: number;
  section: string;
  key: string;
  kind: InventoryChangeKind;
  before_value: string | null;
  after_value: string | null;
}

const snapshotColumns = 'device_id, version, collected_at, received_at, inventory';
const changeColumns =
  'device_id, version, received_at, collected_at, section, key, kind, before_value, after_value';
/** Rows per INSERT, keeping the bound values far below either engine's limit. */
const changesPerInsert = 200;

function toSnapshot(row: SnapshotRow): InventorySnapshotRecord {
  return {
    deviceId: row.device_id,
    version: row.version,
    collectedAt: row.collected_at,
    receivedAt: row.received_at,
    inventory: JSON.parse(row.inventory) as Inventory,
  };
}

function toChange(row: ChangeRow): InventoryChangeRecord {
  return {
    deviceId: row.device_id,
    version: row.version,
    receivedAt: row.received_at,
    collectedAt: row.collected_at,
    section: row.section,
    key: row.key,
    kind: row.kind,
    before: fromJsonColumn(row.before_value),
    after: fromJsonColumn(row.after_value),
  };
}

export class SqlInventoryRepository implements InventoryRepository {
  readonly #db: SqlExecutor;

  constructor(db: SqlExecutor) {
    this.#db = db;
  }

  async saveSnapshot(snapshot: InventorySnapshotRecord): Promise<void> {
    await this.#db.run(`INSERT INTO inventory_snapshots (${snapshotColumns}) VALUES ($1, $2, $3, $4, $5)`, [
      snapshot.deviceId,
      snapshot.version,
      snapshot.collectedAt,
      snapshot.receivedAt,
      JSON.stringify(snapshot.inventory),
    ]);
  }

  async latest(deviceId: string): Promise<InventorySnapshotRecord | undefined> {
    const rows = await this.#db.query<SnapshotRow>(
      `SELECT ${snapshotColumns} FROM inventory_snapshots WHERE device_id = $1 ORDER BY version DESC LIMIT 1`,
      [deviceId],
    );
    return rows[0] === undefined ? undefined : toSnapshot(rows[0]);
  }

  async get(deviceId: string, version: number): Promise<InventorySnapshotRecord | undefined> {
    const rows = await this.#db.query<SnapshotRow>(
      `SELECT ${snapshotColumns} FROM inventory_snapshots WHERE device_id = $1 AND version = $2`,
      [deviceId, version],
    );
    return rows[0] === undefined ? undefined : toSnapshot(rows[0]);
  }

  async addChanges(changes: readonly InventoryChangeRecord[]): Promise<void> {
    if (changes.length === 0) return;
    await this.#db.transaction(async (tx) => {
      for (let start = 0; start < changes.length; start += changesPerInsert) {
        const params = new Params();
        const rows = changes.slice(start, start + changesPerInsert).map((change) => {
          const values = [
            change.deviceId,
            change.version,
            change.receivedAt,
            change.collectedAt,
            change.section,
            change.key,
            change.kind,
            toJsonColumn(change.before),
            toJsonColumn(change.after),
          ].map((value) => params.add(value));
          return `(${values.join(', ')})`;
        });
        await tx.run(
          `INSERT INTO inventory_changes (${changeColumns}) VALUES ${rows.join(', ')}`,
          params.values,
        );
      }
    });
  }

  async listChanges(
    deviceId: string,
    options: { limit?: number; section?: string } = {},
  ): Promise<InventoryChangeRecord[]> {
    const params = new Params();
    const conditions = [`device_id = ${params.add(deviceId)}`];
    if (options.section !== undefined) conditions.push(`section = ${params.add(options.section)}`);
    const rows = await this.#db.query<ChangeRow>(
      `SELECT ${changeColumns} FROM inventory_changes WHERE ${conditions.join(' AND ')}
       ORDER BY version DESC, section, key LIMIT ${params.add(limitOf(options.limit))}`,
      params.values,
    );
    return rows.map(toChange);
  }
}
