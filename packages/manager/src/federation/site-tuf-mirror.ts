import { createHash, randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { type Clock, compareArtifactVersions, EdgewardError, type Severity } from '@edgeward/core';
import type { Store } from '@edgeward/store';
import {
  Metadata,
  MetadataKind,
  MetaFile,
  type Root,
  type Snapshot,
  type TargetFile,
  type Targets,
  Timestamp,
} from '@tufjs/models';
import type { Logger } from 'pino';
import { BaseFetcher, Updater } from 'tuf-js';
import { servedTufMetadata, type TufSource } from '../updates/tuf-repository.ts';
import { signWithKey, tufKeyOf } from '../updates/tuf-signing.ts';
import type { UpstreamClient } from './upstream-client.ts';

const SPEC_VERSION = '1.0.31';

/** A hub artifact the cache did not take, and why. */
export interface RefusedTarget {
  readonly path: string;
  readonly length: number;
  readonly code: 'EW_SITE_CACHE_FULL';
  readonly message: string;
}

export interface SiteArtifactCacheStatus {
  readonly bytes: number;
  readonly maxBytes: number;
  readonly targets: number;
  readonly refused: readonly RefusedTarget[];
  /** When the hub's metadata last verified here; null before the first time. */
  readonly mirroredAt: number | null;
  /** Whether the hub's root lists this site's timestamp key, so freshness holds while cut off. */
  readonly delegatedTimestamp: boolean;
  readonly lastError: string | null;
}

function expiry(at: number): string {
  return new Date(at).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

async function sizeOf(path: string): Promise<number | undefined> {
  try {
    return (await stat(path)).size;
  } catch {
    return undefined;
  }
}

/**
 * A site's mirror of its hub's TUF repository, so the site's devices update from the site while the hub
 * is out of reach. While the link is up, `sync` refreshes the hub's metadata with the tuf-js client
 * against the hub's root (`<dir>/hub/`), keeps every verified root, snapshot and targets version in the
 * site's store exactly as the hub signed them, and downloads the targets (resuming with HTTP Range) into
 * `<artifactsDir>/sha256/`, each checked against its signed length and hashes before it is kept, within
 * `maxBytes`. Every target is mirrored, newest versions first, because a site operator may start a
 * rollout while cut off and the site cannot know beforehand which one.
 *
 * The site signs the timestamp its devices see with its own key, over the newest hub snapshot it
 * verified, once the hub's root lists that key in the timestamp role (docs/updates.md): its devices then
 * get fresh timestamps while the site is cut off, but a timestamp only names a hub-signed snapshot, which
 * names hub-signed targets, so the site can hold back updates and never change one. Until the root lists
 * the key the site serves the hub's own timestamp, which expires while cut off.
 */
export class SiteTufMirror implements TufSource {
  readonly #store: Store;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #hubDir: string;
  readonly #downloadsDir: string;
  readonly #artifactsDir: string;
  readonly #timestampKey: { readonly privateKeyPem: string; readonly publicKeyPem: string };
  readonly #timestampKeyId: string;
  readonly #timestampMs: number;
  readonly #maxBytes: number;
  #refused = new Map<string, RefusedTarget>();
  #mirroredAt: number | null = null;
  #lastError: string | null = null;
  #queue: Promise<unknown> = Promise.resolve();

  constructor(deps: {
    store: Store;
    clock: Clock;
    logger: Logger;
    /** `<dataDir>/tuf-mirror`. */
    dir: string;
    /** `<dataDir>/artifacts`, where the device API serves targets from. */
    artifactsDir: string;
    timestampKey: { readonly privateKeyPem: string; readonly publicKeyPem: string };
    /** Lifetime of the timestamps the site signs (ms); re-signed once half of it has passed. */
    timestampMs: number;
    maxBytes: number;
  }) {
    this.#store = deps.store;
    this.#clock = deps.clock;
    this.#logger = deps.logger;
    this.#hubDir = join(deps.dir, 'hub');
    this.#downloadsDir = join(deps.dir, 'downloads');
    this.#artifactsDir = deps.artifactsDir;
    this.#timestampKey = deps.timestampKey;
    this.#timestampKeyId = tufKeyOf(deps.timestampKey.publicKeyPem).keyID;
    this.#timestampMs = deps.timestampMs;
    this.#maxBytes = deps.maxBytes;
  }

  checkCanPublish(): void {
    throw new EdgewardError(
      'EW_SITE_ARTIFACTS_FROM_HUB',
      "a site mirrors the hub's signed artifacts and cannot publish its own; upload it at the hub, and start the rollout here once the site mirrored it",
    );
  }

  publishTargets(): Promise<void> {
    return Promise.reject(this.#fromHub('publish targets'));
  }

  rootDraft(): Promise<string> {
    return Promise.reject(this.#fromHub('draft a TUF root'));
  }

  installRoot(): Promise<number> {
    return Promise.reject(this.#fromHub('install a TUF root'));
  }

  async status(): Promise<SiteArtifactCacheStatus> {
    return {
      bytes: await this.#cachedBytes(),
      maxBytes: this.#maxBytes,
      targets: (await this.#store.artifacts.list()).length,
      refused: [...this.#refused.values()],
      mirroredAt: this.#mirroredAt,
      delegatedTimestamp: await this.#delegated(),
      lastError: this.#lastError,
    };
  }

  /**
   * Refreshes the hub's metadata and mirrors its targets. A network failure rejects with
   * EW_UPSTREAM_UNREACHABLE (the uplink retries); metadata that does not verify is kept out, logged and
   * shown in the status, and the site goes on serving what it verified before.
   */
  sync(client: UpstreamClient): Promise<void> {
    return this.#serialized(async () => {
      try {
        await this.#refresh(client);
        this.#lastError = null;
      } catch (error) {
        if (error instanceof EdgewardError && error.code === 'EW_UPSTREAM_UNREACHABLE') throw error;
        this.#lastError = (error as Error).message;
        this.#logger.error({ err: error }, "the hub's TUF metadata did not verify; nothing of it is served");
        return;
      }
      this.#mirroredAt = this.#clock.now();
      await this.#signTimestampIfDue();
      await this.#mirrorTargets(client);
    });
  }

  /** Re-signs the site's timestamp once half its lifetime passed or a newer hub snapshot verified. */
  refreshIfDue(): Promise<boolean> {
    return this.#serialized(() => this.#signTimestampIfDue());
  }

  async metadataFile(file: string): Promise<string | undefined> {
    return servedTufMetadata(this.#store, file, () => this.refreshIfDue());
  }

  async #refresh(client: UpstreamClient): Promise<void> {
    await mkdir(this.#hubDir, { recursive: true });
    const roots = new Map<number, string>();
    if ((await sizeOf(join(this.#hubDir, 'root.json'))) === undefined) {
      // The first root comes over the mutually authenticated link to the hub pinned at enrollment.
      const first = await readAll(await client.getStream('/v1/tuf/1.root.json'));
      if (first.status !== 200) {
        throw new EdgewardError(
          'EW_UPSTREAM_UNREACHABLE',
          `the hub has no TUF root yet (HTTP ${first.status})`,
        );
      }
      roots.set(1, first.body.toString('utf8'));
      await writeAtomically(join(this.#hubDir, 'root.json'), first.body);
    }
    class HubFetcher extends BaseFetcher {
      override async fetch(url: string): Promise<ReadableStream<Uint8Array<ArrayBuffer>>> {
        const path = new URL(url).pathname;
        const { status, body } = await readAll(await client.getStream(path));
        if (status !== 200) {
          const { DownloadHTTPError } = await import('tuf-js/dist/error.js');
          throw new DownloadHTTPError('Failed to download', status);
        }
        const root = /\/(\d+)\.root\.json$/.exec(path);
        if (root !== null) roots.set(Number(root[1]), body.toString('utf8'));
        return new Blob([body]).stream() as ReadableStream<Uint8Array<ArrayBuffer>>;
      }
    }
    const updater = new Updater({
      metadataDir: this.#hubDir,
      metadataBaseUrl: 'https://hub/v1/tuf/',
      fetcher: new HubFetcher(),
    });
    await updater.refresh();
    const now = this.#clock.now();
    const keep = async (role: string, body: string) => {
      const signed = JSON.parse(body) as { signed: { version: number; expires: string } };
      await this.#store.artifacts.putTufMetadata({
        role,
        version: signed.signed.version,
        body,
        expiresAt: Date.parse(signed.signed.expires),
        createdAt: now,
      });
    };
    if (!roots.has(1) && (await this.#store.artifacts.tufMetadata('root', 1)) === undefined) {
      // A run stopped between pinning the first root and keeping it: devices without a pinned root start there.
      const first = await readAll(await client.getStream('/v1/tuf/1.root.json'));
      if (first.status === 200) roots.set(1, first.body.toString('utf8'));
    }
    for (const [, body] of [...roots].sort(([a], [b]) => a - b)) await keep('root', body);
    await keep('root', await readFile(join(this.#hubDir, 'root.json'), 'utf8'));
    await keep('targets', await readFile(join(this.#hubDir, 'targets.json'), 'utf8'));
    await keep('snapshot', await readFile(join(this.#hubDir, 'snapshot.json'), 'utf8'));
    if (!(await this.#delegated())) {
      // Without a delegated key the devices get the hub's own timestamp, which expires while cut off.
      await keep('timestamp', await readFile(join(this.#hubDir, 'timestamp.json'), 'utf8'));
    }
  }

  /** Whether the root the site verified lists its key in the timestamp role. */
  async #delegated(): Promise<boolean> {
    const root = await this.#trusted<Root>(MetadataKind.Root);
    return root?.signed.roles.timestamp?.keyIDs.includes(this.#timestampKeyId) ?? false;
  }

  async #signTimestampIfDue(): Promise<boolean> {
    if (!(await this.#delegated())) return false;
    const snapshotText = await readFile(join(this.#hubDir, 'snapshot.json'), 'utf8').catch(() => undefined);
    if (snapshotText === undefined) return false;
    const snapshot = Metadata.fromJSON(MetadataKind.Snapshot, JSON.parse(snapshotText)) as Metadata<Snapshot>;
    const now = this.#clock.now();
    const held = await this.#store.artifacts.latestTufMetadata('timestamp');
    const heldSnapshotVersion =
      held === undefined
        ? undefined
        : (JSON.parse(held.body) as { signed: { meta?: Record<string, { version: number }> } }).signed.meta?.[
            'snapshot.json'
          ]?.version;
    const due =
      held === undefined ||
      held.expiresAt - now < this.#timestampMs / 2 ||
      heldSnapshotVersion !== snapshot.signed.version;
    if (!due) return false;
    const hubTimestamp = await this.#trusted<Timestamp>(MetadataKind.Timestamp);
    // Above both the site's last version and the hub's, so a device never sees a timestamp go back.
    const version = Math.max(held?.version ?? 0, hubTimestamp?.signed.version ?? 0) + 1;
    const timestamp = new Metadata(
      new Timestamp({
        version,
        specVersion: SPEC_VERSION,
        expires: expiry(now + this.#timestampMs),
        snapshotMeta: new MetaFile({
          version: snapshot.signed.version,
          length: Buffer.byteLength(snapshotText),
          hashes: { sha256: sha256(snapshotText) },
        }),
      }),
    );
    signWithKey(timestamp, this.#timestampKey.privateKeyPem);
    await this.#store.artifacts.putTufMetadata({
      role: 'timestamp',
      version,
      body: JSON.stringify(timestamp.toJSON()),
      expiresAt: Date.parse(timestamp.signed.expires),
      createdAt: now,
    });
    return true;
  }

  async #mirrorTargets(client: UpstreamClient): Promise<void> {
    const targets = await this.#trusted<Targets>(MetadataKind.Targets);
    if (targets === undefined) return;
    const files = Object.values(targets.signed.targets).sort((a, b) =>
      compareArtifactVersions(versionOf(b), versionOf(a)),
    );
    for (const target of files) {
      const custom = (target.unrecognizedFields.custom ?? {}) as {
        name?: string;
        version?: string;
        severity?: Severity;
        compat?: Record<string, string>;
      };
      const digest = target.hashes.sha256;
      if (custom.name === undefined || custom.version === undefined || digest === undefined) continue;
      const path = join(this.#artifactsDir, 'sha256', digest);
      if ((await sizeOf(path)) !== target.length) {
        const used = await this.#cachedBytes();
        if (used + target.length > this.#maxBytes) {
          this.#refuse(target, used);
          continue;
        }
        await this.#download(client, target, digest, path);
      }
      this.#refused.delete(target.path);
      await this.#store.artifacts.create({
        name: custom.name,
        version: custom.version,
        sha256: digest,
        length: target.length,
        severity: custom.severity ?? 'medium',
        compat: custom.compat ?? {},
        releasedAt: this.#clock.now(),
        uploadedBy: 'hub',
      });
    }
  }

  #refuse(target: TargetFile, used: number): void {
    if (this.#refused.has(target.path)) return;
    const message = `${target.path} (${target.length} bytes) does not fit in the site's artifact cache: ${used} of ${this.#maxBytes} bytes are used; raise siteArtifactCacheMaxBytes (EDGEWARD_SITE_ARTIFACT_CACHE_MAX_BYTES)`;
    this.#refused.set(target.path, {
      path: target.path,
      length: target.length,
      code: 'EW_SITE_CACHE_FULL',
      message,
    });
    this.#logger.error({ code: 'EW_SITE_CACHE_FULL', target: target.path }, message);
  }

  /**
   * Downloads a target into `<downloads>/<sha256>.part`, continuing from what is there (HTTP Range), and
   * keeps it only once its signed length and hashes verify (the TUF library's check).
   */
  async #download(client: UpstreamClient, target: TargetFile, digest: string, path: string): Promise<void> {
    await mkdir(this.#downloadsDir, { recursive: true });
    await mkdir(join(this.#artifactsDir, 'sha256'), { recursive: true, mode: 0o700 });
    const partial = join(this.#downloadsDir, `${digest}.part`);
    let offset = (await sizeOf(partial)) ?? 0;
    if (offset > target.length) {
      await rm(partial, { force: true });
      offset = 0;
    }
    if (offset < target.length) {
      const response = await client.getStream(
        `/v1/targets/${digest}`,
        offset > 0 ? { range: `bytes=${offset}-` } : {},
      );
      const status = response.statusCode ?? 0;
      if (status !== 200 && status !== 206) {
        response.resume();
        throw new EdgewardError(
          'EW_UPSTREAM_UNREACHABLE',
          `the hub answered HTTP ${status} for ${target.path}`,
        );
      }
      const append = status === 206 && offset > 0;
      try {
        await pipeline(response, createWriteStream(partial, { flags: append ? 'a' : 'w' }));
      } catch (error) {
        throw new EdgewardError(
          'EW_UPSTREAM_UNREACHABLE',
          `the download of ${target.path} broke; it resumes at the next sync`,
          { cause: error },
        );
      }
    }
    try {
      await target.verify(createReadStream(partial));
    } catch (error) {
      await rm(partial, { force: true });
      this.#logger.error(
        { err: error, target: target.path },
        'a target from the hub did not verify; dropped',
      );
      throw new EdgewardError(
        'EW_UPDATE_REFUSED',
        `${target.path} does not match its signed length and hashes`,
        {
          cause: error,
        },
      );
    }
    const temporary = `${path}.${randomUUID()}.tmp`;
    await rename(partial, temporary);
    await rename(temporary, path);
    this.#logger.info({ target: target.path, length: target.length }, 'hub artifact mirrored');
  }

  async #cachedBytes(): Promise<number> {
    let total = 0;
    const dir = join(this.#artifactsDir, 'sha256');
    const names = await readdir(dir).catch(() => [] as string[]);
    for (const name of names) total += (await sizeOf(join(dir, name))) ?? 0;
    return total;
  }

  async #trusted<T extends Root | Timestamp | Snapshot | Targets>(
    kind: MetadataKind,
  ): Promise<Metadata<T> | undefined> {
    const text = await readFile(join(this.#hubDir, `${kind}.json`), 'utf8').catch(() => undefined);
    if (text === undefined) return undefined;
    // The overloads of fromJSON take one literal kind each; the caller names the matching type.
    return Metadata.fromJSON(kind as MetadataKind.Targets, JSON.parse(text)) as unknown as Metadata<T>;
  }

  #fromHub(what: string): EdgewardError {
    return new EdgewardError(
      'EW_SITE_ARTIFACTS_FROM_HUB',
      `a site cannot ${what}: its TUF metadata is the hub's; do it at the hub`,
    );
  }

  #serialized<T>(work: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(work, work);
    this.#queue = run.catch(() => {});
    return run;
  }
}

function versionOf(target: TargetFile): string {
  return String((target.unrecognizedFields.custom as { version?: unknown } | undefined)?.version ?? '');
}

async function readAll(
  response: import('node:http').IncomingMessage,
): Promise<{ status: number; body: Buffer }> {
  const chunks: Buffer[] = [];
  for await (const chunk of response) chunks.push(chunk as Buffer);
  return { status: response.statusCode ?? 0, body: Buffer.concat(chunks) };
}

async function writeAtomically(path: string, contents: Buffer): Promise<void> {
  await writeFile(`${path}.tmp`, contents);
  await rename(`${path}.tmp`, path);
}
