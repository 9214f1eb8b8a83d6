import type { Severity } from '@edgeward/core';
import type { SqlExecutor } from '../sql/executor.ts';
import type {
  ArtifactFloorRecord,
  ArtifactRecord,
  ArtifactRepository,
  DeviceArtifactVersionRecord,
  TufMetadataRecord,
} from '../update-store.ts';

interface ArtifactRow {
  name: string;
  version: string;
  sha256: string;
  length: number | string;
  severity: string;
  compat: string;
  released_at: number | string;
  uploaded_by: string;
}

interface TufRow {
  role: string;
  version: number | string;
  body: string;
  expires_at: number | string;
  created_at: number | string;
}

interface RunningRow {
  device_id: string;
  name: string;
  version: string | null;
  fell_back_from: string | null;
  installed_at: number | string | null;
  reported_at: number | string;
}

const artifactColumns = 'name, version, sha256, length, severity, compat, released_at, uploaded_by';
const runningColumns = 'device_id, name, version, fell_back_from, installed_at, reported_at';

function artifactOf(row: ArtifactRow): ArtifactRecord {
  return {
    name: row.name,
    version: row.version,
    sha256: row.sha256,
    length: Number(row.length),
    severity: row.severity as Severity,
    compat: JSON.parse(row.compat) as Record<string, string>,
    releasedAt: Number(row.released_at),
    uploadedBy: row.uploaded_by,
  };
}

function tufOf(row: TufRow): TufMetadataRecord {
  return {
    role: row.role,
    version: Number(row.version),
    body: row.body,
    expiresAt: Number(row.expires_at),
    createdAt: Number(row.created_at),
  };
}

function runningOf(row: RunningRow): DeviceArtifactVersionRecord {
  return {
    deviceId: row.device_id,
    name: row.name,
    version: row.version,
    fellBackFrom: row.fell_back_from,
    installedAt: row.installed_at === null ? null : Number(row.installed_at),
    reportedAt: Number(row.reported_at),
  };
}

export class SqlArtifactRepository implements ArtifactRepository {
  readonly #db: SqlExecutor;

  constructor(db: SqlExecutor) {
    this.#db = db;
  }

  async create(record: ArtifactRecord): Promise<boolean> {
    const changed = await this.#db.run(
      `INSERT INTO artifacts (${artifactColumns}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
       ON CONFLICT (name, version) DO NOTHING`,
      [
        record.name,
        record.version,
        record.sha256,
        record.length,
        record.severity,
        JSON.stringify(record.compat),
        record.releasedAt,
        record.uploadedBy,
      ],
    );
    return changed > 0;
  }

  async find(name: string, version: string): Promise<ArtifactRecord | undefined> {
    const [row] = await this.#db.query<ArtifactRow>(
      `SELECT ${artifactColumns} FROM artifacts WHERE name = $1 AND version = $2`,
      [name, version],
    );
    return row === undefined ? undefined : artifactOf(row);
  }

  async findBySha256(sha256: string): Promise<ArtifactRecord | undefined> {
    const [row] = await this.#db.query<ArtifactRow>(
      `SELECT ${artifactColumns} FROM artifacts WHERE sha256 = $1 ORDER BY released_at LIMIT 1`,
      [sha256],
    );
    return row === undefined ? undefined : artifactOf(row);
  }

  async list(): Promise<ArtifactRecord[]> {
    const rows = await this.#db.query<ArtifactRow>(
      `SELECT ${artifactColumns} FROM artifacts ORDER BY name, released_at, version`,
    );
    return rows.map(artifactOf);
  }

  async setFloor(record: ArtifactFloorRecord): Promise<void> {
    await this.#db.run(
      `INSERT INTO artifact_floors (name, version, set_at, set_by) VALUES ($1, $2, $3, $4)
       ON CONFLICT (name) DO UPDATE SET version = excluded.version, set_at = excluded.set_at, set_by = excluded.set_by`,
      [record.name, record.version, record.setAt, record.setBy],
    );
  }

  async floor(name: string): Promise<ArtifactFloorRecord | undefined> {
    const [row] = await this.#db.query<{
      name: string;
      version: string;
      set_at: number | string;
      set_by: string;
    }>('SELECT name, version, set_at, set_by FROM artifact_floors WHERE name = $1', [name]);
    return row === undefined
      ? undefined
      : { name: row.name, version: row.version, setAt: Number(row.set_at), setBy: row.set_by };
  }

  async putTufMetadata(record: TufMetadataRecord): Promise<boolean> {
    const changed = await this.#db.run(
      `INSERT INTO tuf_metadata (role, version, body, expires_at, created_at) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (role, version) DO NOTHING`,
      [record.role, record.version, record.body, record.expiresAt, record.createdAt],
    );
    return changed > 0;
  }

  async latestTufMetadata(role: string): Promise<TufMetadataRecord | undefined> {
    const [row] = await this.#db.query<TufRow>(
      'SELECT role, version, body, expires_at, created_at FROM tuf_metadata WHERE role = $1 ORDER BY version DESC LIMIT 1',
      [role],
    );
    return row === undefined ? undefined : tufOf(row);
  }

  async tufMetadata(role: string, version: number): Promise<TufMetadataRecord | undefined> {
    const [row] = await this.#db.query<TufRow>(
      'SELECT role, version, body, expires_at, created_at FROM tuf_metadata WHERE role = $1 AND version = $2',
      [role, version],
    );
    return row === undefined ? undefined : tufOf(row);
  }

  async reportRunning(
    record: Omit<DeviceArtifactVersionRecord, 'installedAt'>,
  ): Promise<DeviceArtifactVersionRecord> {
    await this.#db.run(
      `INSERT INTO device_artifact_versions (${runningColumns}) VALUES ($1, $2, $3, $4, $5, $5)
       ON CONFLICT (device_id, name) DO UPDATE SET
         installed_at = CASE WHEN device_artifact_versions.version IS NOT DISTINCT FROM excluded.version
           THEN device_artifact_versions.installed_at ELSE excluded.installed_at END,
         version = excluded.version,
         fell_back_from = excluded.fell_back_from,
         reported_at = excluded.reported_at`,
      [record.deviceId, record.name, record.version, record.fellBackFrom, record.reportedAt],
    );
    const stored = await this.running(record.deviceId, record.name);
    if (stored === undefined) throw new Error('the running version vanished right after it was written');
    return stored;
  }

  async running(deviceId: string, name: string): Promise<DeviceArtifactVersionRecord | undefined> {
    const [row] = await this.#db.query<RunningRow>(
      `SELECT ${runningColumns} FROM device_artifact_versions WHERE device_id = $1 AND name = $2`,
      [deviceId, name],
    );
    return row === undefined ? undefined : runningOf(row);
  }

  async runningOf(name: string): Promise<DeviceArtifactVersionRecord[]> {
    const rows = await this.#db.query<RunningRow>(
      `SELECT ${runningColumns} FROM device_artifact_versions WHERE name = $1 ORDER BY device_id`,
      [name],
    );
    return rows.map(runningOf);
  }
}
