import type { AuditEntry } from '@edgeward/core';
import type { SqlExecutor } from '../sql/executor.ts';
import type { DeviceAuditAnchorRecord, DeviceAuditRepository } from '../store.ts';

interface EntryRow {
  seq: number | string;
  at: number | string;
  kind: string;
  actor: string;
  subject: string;
  details: string;
  prev_hash: string;
  hash: string;
}

interface AnchorRow {
  device_id: string;
  seq: number | string;
  hash: string;
  at: number | string;
  key_id: string;
  signature: string;
  certificate_pem: string;
  manager_seq: number | string;
}

const entryColumns = 'seq, at, kind, actor, subject, details, prev_hash, hash';

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

export class SqlDeviceAuditRepository implements DeviceAuditRepository {
  readonly #db: SqlExecutor;

  constructor(db: SqlExecutor) {
    this.#db = db;
  }

  async append(deviceId: string, entries: readonly AuditEntry[]): Promise<void> {
    for (const entry of entries) {
      await this.#db.run(
        `INSERT INTO device_audit_entries (device_id, ${entryColumns}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
        [
          deviceId,
          entry.seq,
          entry.at,
          entry.kind,
          entry.actor,
          entry.subject,
          JSON.stringify(entry.details),
          entry.prevHash,
          entry.hash,
        ],
      );
    }
  }

  async latest(deviceId: string): Promise<AuditEntry | undefined> {
    const [row] = await this.#db.query<EntryRow>(
      `SELECT ${entryColumns} FROM device_audit_entries WHERE device_id = $1 ORDER BY seq DESC LIMIT 1`,
      [deviceId],
    );
    return row === undefined ? undefined : toEntry(row);
  }

  async entries(deviceId: string): Promise<AuditEntry[]> {
    const rows = await this.#db.query<EntryRow>(
      `SELECT ${entryColumns} FROM device_audit_entries WHERE device_id = $1 ORDER BY seq`,
      [deviceId],
    );
    return rows.map(toEntry);
  }

  async addAnchor(anchor: DeviceAuditAnchorRecord): Promise<void> {
    await this.#db.run(
      `INSERT INTO device_audit_anchors (device_id, seq, hash, at, key_id, signature, certificate_pem, manager_seq)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
      [
        anchor.deviceId,
        anchor.seq,
        anchor.hash,
        anchor.at,
        anchor.keyId,
        anchor.signature,
        anchor.certificatePem,
        anchor.managerSeq,
      ],
    );
  }

  async anchors(deviceId: string): Promise<DeviceAuditAnchorRecord[]> {
    const rows = await this.#db.query<AnchorRow>(
      `SELECT device_id, seq, hash, at, key_id, signature, certificate_pem, manager_seq
       FROM device_audit_anchors WHERE device_id = $1 ORDER BY seq`,
      [deviceId],
    );
    return rows.map((row) => ({
      deviceId: row.device_id,
      seq: Number(row.seq),
      hash: row.hash,
      at: Number(row.at),
      keyId: row.key_id,
      signature: row.signature,
      certificatePem: row.certificate_pem,
      managerSeq: Number(row.manager_seq),
    }));
  }
}
