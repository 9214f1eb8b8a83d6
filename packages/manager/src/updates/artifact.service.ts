import { createHash, randomUUID } from 'node:crypto';
import { mkdir, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  type ArtifactListView,
  type ArtifactView,
  type Clock,
  compareArtifactVersions,
  EdgewardError,
  type Severity,
  targetPathOf,
} from '@edgeward/core';
import type { ArtifactRecord, Store } from '@edgeward/store';
import type { Logger } from 'pino';
import type { AuditTrail } from '../services/audit-trail.ts';
import type { OperatorContext } from '../services/operator-context.ts';
import type { TufSource } from './tuf-repository.ts';

export interface UploadArtifact {
  readonly name: string;
  readonly version: string;
  readonly severity: Severity;
  readonly compat: Record<string, string>;
}

/**
 * Artifacts: files stored by content (`<dir>/sha256/<hex>`, written then renamed, so a half-written file
 * is never served), each described by a TUF target that the repository signs, and the anti-downgrade
 * floor per artifact name.
 */
export class ArtifactService {
  readonly #store: Store;
  readonly #clock: Clock;
  readonly #audit: AuditTrail;
  readonly #tuf: TufSource;
  readonly #dir: string;
  readonly #logger: Logger;

  constructor(deps: {
    store: Store;
    clock: Clock;
    audit: AuditTrail;
    tuf: TufSource;
    /** `<dataDir>/artifacts`. */
    dir: string;
    logger: Logger;
  }) {
    this.#store = deps.store;
    this.#clock = deps.clock;
    this.#audit = deps.audit;
    this.#tuf = deps.tuf;
    this.#dir = deps.dir;
    this.#logger = deps.logger;
  }

  /**
   * Stores the file and publishes its TUF target. Uploading the same content under the same name and
   * version again changes nothing; other content under a published version is refused (EW_ARTIFACT_EXISTS).
   */
  async upload(operator: OperatorContext, content: Buffer, meta: UploadArtifact): Promise<ArtifactView> {
    this.#tuf.checkCanPublish();
    const sha256 = createHash('sha256').update(content).digest('hex');
    const existing = await this.#store.artifacts.find(meta.name, meta.version);
    if (existing !== undefined) {
      if (existing.sha256 === sha256) return viewOf(existing);
      throw new EdgewardError(
        'EW_ARTIFACT_EXISTS',
        `${meta.name}@${meta.version} is already published with other content (sha256 ${existing.sha256}); give the new build a new version`,
      );
    }
    await this.#storeFile(sha256, content);
    const record: ArtifactRecord = {
      ...meta,
      sha256,
      length: content.length,
      releasedAt: this.#clock.now(),
      uploadedBy: operator.name,
    };
    await this.#store.transaction(async (store) => {
      if (!(await store.artifacts.create(record))) {
        throw new EdgewardError('EW_ARTIFACT_EXISTS', `${meta.name}@${meta.version} was published meanwhile`);
      }
      await this.#audit.record(store, operator, 'artifact.upload', `${meta.name}@${meta.version}`, {
        sha256,
        length: content.length,
        severity: meta.severity,
        compat: meta.compat,
      });
    });
    await this.#tuf.publishTargets();
    this.#logger.info({ name: meta.name, version: meta.version, sha256 }, 'artifact published');
    return viewOf(record);
  }

  async list(): Promise<ArtifactListView> {
    const artifacts = await this.#store.artifacts.list();
    const floors: Record<string, string> = {};
    for (const name of new Set(artifacts.map((artifact) => artifact.name))) {
      const floor = await this.#store.artifacts.floor(name);
      if (floor !== undefined) floors[name] = floor.version;
    }
    return { artifacts: artifacts.map(viewOf), floors };
  }

  async require(name: string, version: string): Promise<ArtifactRecord> {
    const artifact = await this.#store.artifacts.find(name, version);
    if (artifact === undefined) {
      throw new EdgewardError(
        'EW_ARTIFACT_NOT_FOUND',
        `no artifact ${name}@${version}; upload it first with \`edgeward artifacts upload\``,
      );
    }
    return artifact;
  }

  /** Sets the fleet's minimum version of an artifact name; a floor is only ever raised. */
  async setFloor(operator: OperatorContext, name: string, version: string): Promise<void> {
    await this.#store.transaction(async (store) => {
      const current = await store.artifacts.floor(name);
      if (current !== undefined && compareArtifactVersions(version, current.version) < 0) {
        throw new EdgewardError(
          'EW_ARTIFACT_BELOW_FLOOR',
          `the floor of ${name} is ${current.version}; a floor is only raised, never lowered`,
        );
      }
      await store.artifacts.setFloor({ name, version, setAt: this.#clock.now(), setBy: operator.name });
      await this.#audit.record(store, operator, 'artifact.floor', name, {
        version,
        previous: current?.version ?? null,
      });
    });
  }

  /**
   * Refuses a version below the floor unless the operator gives a reason for an exception, which is then
   * recorded in the audit chain (inside the caller's transaction).
   */
  async checkFloor(
    store: Store,
    operator: OperatorContext,
    name: string,
    version: string,
    exceptionReason: string | undefined,
  ): Promise<void> {
    const floor = await store.artifacts.floor(name);
    if (floor === undefined || compareArtifactVersions(version, floor.version) >= 0) return;
    if (exceptionReason === undefined) {
      throw new EdgewardError(
        'EW_ARTIFACT_BELOW_FLOOR',
        `${name}@${version} is below the floor ${floor.version}; release ${floor.version} or later, or give --below-floor-reason to record an exception`,
        { details: { floor: floor.version } },
      );
    }
    await this.#audit.record(store, operator, 'artifact.floor-exception', `${name}@${version}`, {
      floor: floor.version,
      reason: exceptionReason,
    });
  }

  /** Where the content of a published artifact lies, for ranged downloads; undefined when unknown. */
  async targetFile(sha256: string): Promise<{ path: string; length: number } | undefined> {
    if (!/^[0-9a-f]{64}$/.test(sha256)) return undefined;
    if ((await this.#store.artifacts.findBySha256(sha256)) === undefined) return undefined;
    const path = this.#pathOf(sha256);
    try {
      return { path, length: (await stat(path)).size };
    } catch {
      return undefined;
    }
  }

  async #storeFile(sha256: string, content: Buffer): Promise<void> {
    const path = this.#pathOf(sha256);
    await mkdir(join(this.#dir, 'sha256'), { recursive: true, mode: 0o700 });
    const temporary = `${path}.${randomUUID()}.tmp`;
    try {
      await writeFile(temporary, content, { mode: 0o600 });
      await rename(temporary, path);
    } catch (error) {
      await unlink(temporary).catch(() => {});
      throw new EdgewardError(
        'EW_INTERNAL',
        `cannot store the artifact under ${this.#dir}: ${(error as Error).message}`,
        {
          cause: error,
        },
      );
    }
  }

  #pathOf(sha256: string): string {
    return join(this.#dir, 'sha256', sha256);
  }
}

export function viewOf(record: ArtifactRecord): ArtifactView {
  return { ...record, targetPath: targetPathOf(record.name, record.version) };
}
