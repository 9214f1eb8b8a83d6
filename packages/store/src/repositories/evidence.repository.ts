import type { EvidenceManifest, EvidenceState } from '@edgeward/core';
import type { SqlExecutor } from '../sql/executor.ts';
import type { EvidenceRecord, EvidenceRepository } from '../store.ts';
import { limitOf, Params, whereClause } from './sql-helpers.ts';

interface EvidenceRow {
  id: string;
  device_id: string;
  manifest: string;
  signature: string;
  certificate_pem: string;
  received_bytes: number | string;
  state: string;
  problem: string | null;
  created_at: number | string;
  updated_at: number | string;
  verified_at: number | string | null;
}

const columns =
  'id, device_id, manifest, signature, certificate_pem, received_bytes, state, problem, created_at, updated_at, verified_at';

function toRecord(row: EvidenceRow): EvidenceRecord {
  return {
    id: row.id,
    deviceId: row.device_id,
    manifest: JSON.parse(row.manifest) as EvidenceManifest,
    signature: row.signature,
    certificatePem: row.certificate_pem,
    receivedBytes: Number(row.received_bytes),
    state: row.state as EvidenceState,
    problem: row.problem,
    createdAt: Number(row.created_at),
    updatedAt: Number(row.updated_at),
    verifiedAt: row.verified_at === null ? null : Number(row.verified_at),
  };
}

export class SqlEvidenceRepository implements EvidenceRepository {
  readonly #db: SqlExecutor;

  constructor(db: SqlExecutor) {
    this.#db = db;
  }

  async create(record: Omit<EvidenceRecord, 'state' | 'problem' | 'verifiedAt'>): Promise<boolean> {
    const { manifest } = record;
    const changed = await this.#db.run(
      `INSERT INTO evidence_bundles (id, device_id, command_id, trigger, rule_id, reason, manifest, signature,
         certificate_pem, sha256, total_bytes, received_bytes, item_count, state, problem, collected_at,
         created_at, updated_at, verified_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, 'uploading', NULL, $14, $15, $16, NULL)
       ON CONFLICT (id) DO NOTHING`,
      [
        record.id,
        record.deviceId,
        manifest.commandId,
        manifest.trigger,
        manifest.ruleId,
        manifest.reason,
        JSON.stringify(manifest),
        record.signature,
        record.certificatePem,
        manifest.sha256,
        manifest.totalBytes,
        record.receivedBytes,
        manifest.items.length,
        manifest.collectedAt,
        record.createdAt,
        record.updatedAt,
      ],
    );
    return changed > 0;
  }

  async get(id: string): Promise<EvidenceRecord | undefined> {
    const [row] = await this.#db.query<EvidenceRow>(`SELECT ${columns} FROM evidence_bundles WHERE id = $1`, [
      id,
    ]);
    return row === undefined ? undefined : toRecord(row);
  }

  async list(options: { deviceId?: string; limit?: number } = {}): Promise<EvidenceRecord[]> {
    const params = new Params();
    const conditions = options.deviceId === undefined ? [] : [`device_id = ${params.add(options.deviceId)}`];
    const rows = await this.#db.query<EvidenceRow>(
      `SELECT ${columns} FROM evidence_bundles ${whereClause(conditions)}
       ORDER BY created_at DESC, id DESC LIMIT ${params.add(limitOf(options.limit))}`,
      params.values,
    );
    return rows.map(toRecord);
  }

  async advance(id: string, from: number, to: number, at: number): Promise<boolean> {
    const changed = await this.#db.run(
      `UPDATE evidence_bundles SET received_bytes = $3, updated_at = $4
       WHERE id = $1 AND received_bytes = $2 AND state = 'uploading'`,
      [id, from, to, at],
    );
    return changed > 0;
  }

  async finish(
    id: string,
    state: 'verified' | 'rejected',
    problem: string | null,
    at: number,
  ): Promise<boolean> {
    const changed = await this.#db.run(
      `UPDATE evidence_bundles SET state = $2, problem = $3, updated_at = $4, verified_at = $5
       WHERE id = $1 AND state = 'uploading'`,
      [id, state, problem, at, state === 'verified' ? at : null],
    );
    return changed > 0;
  }
}
