import type { EventRecord } from '@edgeward/core';
import type { SqlExecutor, SqlValue } from '../sql/executor.ts';
import type { DeviceCommandRecord, SitePatch, SiteRecord, SiteRepository } from '../store.ts';
import { type CommandRow, commandColumns, commandOfRow } from './device-command.repository.ts';

interface SiteRow {
  id: string;
  name: string;
  max_offline_ms: number;
  created_at: number;
  created_by: string;
  enrollment_token_id: string;
  enrolled_at: number | null;
  overlay_public_key_pem: string | null;
  tuf_timestamp_public_key_pem: string | null;
  ca_serial: string | null;
  ca_not_after: number | null;
  last_sync_at: number | null;
  backlog: number;
  budget_ends_at: number | null;
  conflicts: number;
  revoked_at: number | null;
}

interface EventRow {
  device_id: string;
  seq: number;
  id: string;
  type: string;
  severity: EventRecord['severity'];
  device_time: number;
  received_at: number;
  data: string;
}

const siteColumns =
  'id, name, max_offline_ms, created_at, created_by, enrollment_token_id, enrolled_at, overlay_public_key_pem, ca_serial, ca_not_after, last_sync_at, backlog, budget_ends_at, conflicts, revoked_at, tuf_timestamp_public_key_pem';

const patchColumns: Record<keyof SitePatch, string> = {
  name: 'name',
  maxOfflineMs: 'max_offline_ms',
  enrolledAt: 'enrolled_at',
  overlayPublicKeyPem: 'overlay_public_key_pem',
  tufTimestampPublicKeyPem: 'tuf_timestamp_public_key_pem',
  caSerial: 'ca_serial',
  caNotAfter: 'ca_not_after',
  lastSyncAt: 'last_sync_at',
  backlog: 'backlog',
  budgetEndsAt: 'budget_ends_at',
  conflicts: 'conflicts',
  revokedAt: 'revoked_at',
};

const nullableNumber = (value: number | null): number | null => (value === null ? null : Number(value));

function toRecord(row: SiteRow): SiteRecord {
  return {
    id: row.id,
    name: row.name,
    maxOfflineMs: Number(row.max_offline_ms),
    createdAt: Number(row.created_at),
    createdBy: row.created_by,
    enrollmentTokenId: row.enrollment_token_id,
    enrolledAt: nullableNumber(row.enrolled_at),
    overlayPublicKeyPem: row.overlay_public_key_pem,
    tufTimestampPublicKeyPem: row.tuf_timestamp_public_key_pem ?? null,
    caSerial: row.ca_serial,
    caNotAfter: nullableNumber(row.ca_not_after),
    lastSyncAt: nullableNumber(row.last_sync_at),
    backlog: Number(row.backlog),
    budgetEndsAt: nullableNumber(row.budget_ends_at),
    conflicts: Number(row.conflicts),
    revokedAt: nullableNumber(row.revoked_at),
  };
}

/**
 * Events that wait for the hub: above the hub's acknowledgement and, so that the hub receives each
 * device's events in order, no further than what this site holds without a gap.
 */
const pendingFrom = `FROM events e
  JOIN event_delivery d ON d.device_id = e.device_id
  LEFT JOIN site_uplink u ON u.device_id = e.device_id
  WHERE e.seq > COALESCE(u.acked_seq, 0) AND e.seq <= d.acked_seq`;

export class SqlSiteRepository implements SiteRepository {
  readonly #db: SqlExecutor;

  constructor(db: SqlExecutor) {
    this.#db = db;
  }

  async create(site: SiteRecord): Promise<void> {
    await this.#db.run(
      `INSERT INTO sites (${siteColumns}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)`,
      [
        site.id,
        site.name,
        site.maxOfflineMs,
        site.createdAt,
        site.createdBy,
        site.enrollmentTokenId,
        site.enrolledAt,
        site.overlayPublicKeyPem,
        site.caSerial,
        site.caNotAfter,
        site.lastSyncAt,
        site.backlog,
        site.budgetEndsAt,
        site.conflicts,
        site.revokedAt,
        site.tufTimestampPublicKeyPem,
      ],
    );
  }

  async findById(id: string): Promise<SiteRecord | undefined> {
    const rows = await this.#db.query<SiteRow>(`SELECT ${siteColumns} FROM sites WHERE id = $1`, [id]);
    return rows[0] === undefined ? undefined : toRecord(rows[0]);
  }

  async findByEnrollmentToken(tokenId: string): Promise<SiteRecord | undefined> {
    const rows = await this.#db.query<SiteRow>(
      `SELECT ${siteColumns} FROM sites WHERE enrollment_token_id = $1`,
      [tokenId],
    );
    return rows[0] === undefined ? undefined : toRecord(rows[0]);
  }

  async list(): Promise<SiteRecord[]> {
    const rows = await this.#db.query<SiteRow>(`SELECT ${siteColumns} FROM sites ORDER BY id`);
    return rows.map(toRecord);
  }

  async update(id: string, patch: SitePatch): Promise<boolean> {
    const entries = Object.entries(patch).filter(([, value]) => value !== undefined) as [
      keyof SitePatch,
      SqlValue,
    ][];
    if (entries.length === 0) return (await this.findById(id)) !== undefined;
    const assignments = entries.map(([field], index) => `${patchColumns[field]} = $${index + 1}`);
    const changed = await this.#db.run(
      `UPDATE sites SET ${assignments.join(', ')} WHERE id = $${entries.length + 1}`,
      [...entries.map(([, value]) => value), id],
    );
    return changed === 1;
  }

  async pendingUplink(limit: number): Promise<EventRecord[]> {
    const rows = await this.#db.query<EventRow>(
      `SELECT e.device_id, e.seq, e.id, e.type, e.severity, e.device_time, e.received_at, e.data
       ${pendingFrom} ORDER BY e.device_id, e.seq LIMIT $1`,
      [limit],
    );
    return rows.map((row) => ({
      deviceId: row.device_id,
      seq: Number(row.seq),
      id: row.id,
      type: row.type,
      severity: row.severity,
      time: Number(row.device_time),
      receivedAt: Number(row.received_at),
      data: JSON.parse(row.data) as Record<string, unknown>,
    }));
  }

  async uplinkBacklog(): Promise<number> {
    const rows = await this.#db.query<{ pending: number }>(`SELECT COUNT(*) AS pending ${pendingFrom}`);
    return Number(rows[0]?.pending ?? 0);
  }

  async recordUplinkAck(deviceId: string, ackedSeq: number): Promise<void> {
    await this.#db.run(
      `INSERT INTO site_uplink (device_id, acked_seq) VALUES ($1, $2)
       ON CONFLICT (device_id) DO UPDATE SET acked_seq = CASE
         WHEN excluded.acked_seq > site_uplink.acked_seq THEN excluded.acked_seq ELSE site_uplink.acked_seq END`,
      [deviceId, ackedSeq],
    );
  }

  async pendingInventories(limit: number): Promise<{ deviceId: string; version: number }[]> {
    const rows = await this.#db.query<{ id: string; inventory_version: number }>(
      `SELECT d.id, d.inventory_version FROM devices d
       LEFT JOIN site_uplink u ON u.device_id = d.id
       WHERE d.inventory_version > COALESCE(u.inventory_version, 0)
       ORDER BY d.id LIMIT $1`,
      [limit],
    );
    return rows.map((row) => ({ deviceId: row.id, version: Number(row.inventory_version) }));
  }

  async recordInventoryForwarded(deviceId: string, version: number): Promise<void> {
    await this.#db.run(
      `INSERT INTO site_uplink (device_id, acked_seq, inventory_version) VALUES ($1, 0, $2)
       ON CONFLICT (device_id) DO UPDATE SET inventory_version = CASE
         WHEN excluded.inventory_version > site_uplink.inventory_version THEN excluded.inventory_version
         ELSE site_uplink.inventory_version END`,
      [deviceId, version],
    );
  }

  async pendingCompliance(limit: number): Promise<{ deviceId: string; receivedAt: number }[]> {
    const rows = await this.#db.query<{ device_id: string; received_at: number }>(
      `SELECT c.device_id, c.received_at FROM compliance_state c
       LEFT JOIN site_uplink u ON u.device_id = c.device_id
       WHERE c.received_at > COALESCE(u.compliance_received_at, 0)
       ORDER BY c.device_id LIMIT $1`,
      [limit],
    );
    return rows.map((row) => ({ deviceId: row.device_id, receivedAt: Number(row.received_at) }));
  }

  async recordComplianceForwarded(deviceId: string, receivedAt: number): Promise<void> {
    await this.#db.run(
      `INSERT INTO site_uplink (device_id, acked_seq, compliance_received_at) VALUES ($1, 0, $2)
       ON CONFLICT (device_id) DO UPDATE SET compliance_received_at = CASE
         WHEN excluded.compliance_received_at > site_uplink.compliance_received_at
         THEN excluded.compliance_received_at ELSE site_uplink.compliance_received_at END`,
      [deviceId, receivedAt],
    );
  }

  async uplinkAck(deviceId: string): Promise<number> {
    const rows = await this.#db.query<{ acked_seq: number }>(
      'SELECT acked_seq FROM site_uplink WHERE device_id = $1',
      [deviceId],
    );
    return Number(rows[0]?.acked_seq ?? 0);
  }

  async saveOverlay(siteId: string, version: number, overlayJson: string, at: number): Promise<boolean> {
    const changed = await this.#db.run(
      `INSERT INTO site_overlays (site_id, version, overlay, updated_at) VALUES ($1, $2, $3, $4)
       ON CONFLICT (site_id) DO UPDATE SET version = excluded.version, overlay = excluded.overlay,
         updated_at = excluded.updated_at
       WHERE excluded.version > site_overlays.version`,
      [siteId, version, overlayJson, at],
    );
    return changed === 1;
  }

  async findOverlay(
    siteId: string,
  ): Promise<{ version: number; overlayJson: string; updatedAt: number } | undefined> {
    const rows = await this.#db.query<{ version: number; overlay: string; updated_at: number }>(
      'SELECT version, overlay, updated_at FROM site_overlays WHERE site_id = $1',
      [siteId],
    );
    const row = rows[0];
    return row === undefined
      ? undefined
      : { version: Number(row.version), overlayJson: row.overlay, updatedAt: Number(row.updated_at) };
  }

  async relayPosition(stream: string): Promise<string | undefined> {
    const rows = await this.#db.query<{ position: string }>(
      'SELECT position FROM site_relay_positions WHERE stream = $1',
      [stream],
    );
    return rows[0]?.position;
  }

  async saveRelayPosition(stream: string, position: string): Promise<void> {
    await this.#db.run(
      `INSERT INTO site_relay_positions (stream, position) VALUES ($1, $2)
       ON CONFLICT (stream) DO UPDATE SET position = excluded.position`,
      [stream, position],
    );
  }

  async recordRelayedCommand(commandId: string, deviceId: string, at: number): Promise<boolean> {
    const inserted = await this.#db.run(
      `INSERT INTO site_relayed_commands (command_id, device_id, relayed_at) VALUES ($1, $2, $3)
       ON CONFLICT (command_id) DO NOTHING`,
      [commandId, deviceId, at],
    );
    return inserted === 1;
  }

  async pendingRelayedResults(limit: number): Promise<DeviceCommandRecord[]> {
    const rows = await this.#db.query<CommandRow>(
      `SELECT ${commandColumns
        .split(', ')
        .map((name) => `c.${name}`)
        .join(', ')} FROM site_relayed_commands r
       JOIN device_commands c ON c.id = r.command_id
       WHERE r.result_forwarded_at IS NULL AND c.result IS NOT NULL
       ORDER BY c.acknowledged_at, c.id LIMIT $1`,
      [limit],
    );
    return rows.map(commandOfRow);
  }

  async recordRelayedResultsForwarded(commandIds: readonly string[], at: number): Promise<void> {
    for (const commandId of commandIds) {
      await this.#db.run(
        'UPDATE site_relayed_commands SET result_forwarded_at = $2 WHERE command_id = $1 AND result_forwarded_at IS NULL',
        [commandId, at],
      );
    }
  }
}
