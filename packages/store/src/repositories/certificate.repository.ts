import type { CertificateRecord } from '@edgeward/core';
import type { SqlExecutor } from '../sql/executor.ts';
import type { CertificateRepository } from '../store.ts';

interface CertificateRow {
  serial: string;
  device_id: string;
  not_before: number;
  not_after: number;
  issued_at: number;
  fingerprint: string;
  revoked_at: number | null;
}

const columns = 'serial, device_id, not_before, not_after, issued_at, fingerprint, revoked_at';

function toRecord(row: CertificateRow): CertificateRecord {
  return {
    serial: row.serial,
    deviceId: row.device_id,
    notBefore: row.not_before,
    notAfter: row.not_after,
    issuedAt: row.issued_at,
    fingerprint: row.fingerprint,
    revokedAt: row.revoked_at,
  };
}

export class SqlCertificateRepository implements CertificateRepository {
  readonly #db: SqlExecutor;

  constructor(db: SqlExecutor) {
    this.#db = db;
  }

  async create(certificate: CertificateRecord): Promise<void> {
    await this.#db.run(`INSERT INTO certificates (${columns}) VALUES ($1, $2, $3, $4, $5, $6, $7)`, [
      certificate.serial,
      certificate.deviceId,
      certificate.notBefore,
      certificate.notAfter,
      certificate.issuedAt,
      certificate.fingerprint,
      certificate.revokedAt,
    ]);
  }

  async findBySerial(serial: string): Promise<CertificateRecord | undefined> {
    const rows = await this.#db.query<CertificateRow>(
      `SELECT ${columns} FROM certificates WHERE serial = $1`,
      [serial],
    );
    return rows[0] === undefined ? undefined : toRecord(rows[0]);
  }

  async listByDevice(deviceId: string): Promise<CertificateRecord[]> {
    const rows = await this.#db.query<CertificateRow>(
      `SELECT ${columns} FROM certificates WHERE device_id = $1 ORDER BY issued_at DESC, serial DESC`,
      [deviceId],
    );
    return rows.map(toRecord);
  }

  async listRevoked(now: number): Promise<CertificateRecord[]> {
    // notAfter is the last valid instant (X.509), so a certificate expiring exactly at `now` still counts.
    const rows = await this.#db.query<CertificateRow>(
      `SELECT ${columns} FROM certificates WHERE revoked_at IS NOT NULL AND not_after >= $1
       ORDER BY serial`,
      [now],
    );
    return rows.map(toRecord);
  }

  async revokeAllForDevice(deviceId: string, at: number): Promise<number> {
    return this.#db.run(
      'UPDATE certificates SET revoked_at = $1 WHERE device_id = $2 AND revoked_at IS NULL',
      [at, deviceId],
    );
  }
}
