import { createHash, createPrivateKey, createPublicKey } from 'node:crypto';
import { join } from 'node:path';
import { type Clock, EdgewardError, targetPathOf } from '@edgeward/core';
import type { Store, TufMetadataRecord } from '@edgeward/store';
import {
  Metadata,
  MetadataKind,
  MetaFile,
  Root,
  Snapshot,
  TargetFile,
  Targets,
  Timestamp,
} from '@tufjs/models';
import type { Logger } from 'pino';
import { fileExists, openEd25519KeyFiles, readPrivateKeyFile } from '../pki/key-files.ts';
import {
  type AnyMetadata,
  parseRootJson,
  signWithKey,
  tufKeyOf,
  verifyRootThreshold,
} from './tuf-signing.ts';

export interface TufLifetimes {
  /** Default one day: a device that cannot get a fresh timestamp stops trusting the repository after this. */
  readonly timestampMs: number;
  readonly snapshotMs: number;
  readonly targetsMs: number;
  readonly rootMs: number;
}

export const DEFAULT_TUF_LIFETIMES: TufLifetimes = {
  timestampMs: 86_400_000,
  snapshotMs: 7 * 86_400_000,
  targetsMs: 365 * 86_400_000,
  rootMs: 365 * 86_400_000,
};

/**
 * What the device API, the artifacts and the timers need of the TUF repository a manager serves: the
 * hub's own (`TufRepository`), or a site's verified mirror of it (`SiteTufMirror`).
 */
export interface TufSource {
  /** Throws when this manager cannot publish artifacts (a site: they come from the hub). */
  checkCanPublish(): void;
  publishTargets(): Promise<void>;
  refreshIfDue(): Promise<boolean>;
  metadataFile(file: string): Promise<string | undefined>;
  rootDraft(rootPublicKeysPem: readonly string[], threshold: number): Promise<string>;
  installRoot(signedJson: string): Promise<number>;
}

/**
 * A metadata file as devices fetch it, from `store`: `timestamp.json` (re-signed first when due),
 * `N.root.json`, `N.snapshot.json`, `N.targets.json` and the latest `root.json`. Undefined when there is
 * none. The hub's repository and a site's mirror serve the same files this one way.
 */
export async function servedTufMetadata(
  store: Store,
  file: string,
  refreshIfDue: () => Promise<boolean>,
): Promise<string | undefined> {
  if (file === 'timestamp.json') {
    await refreshIfDue();
    return (await store.artifacts.latestTufMetadata('timestamp'))?.body;
  }
  if (file === 'root.json') return (await store.artifacts.latestTufMetadata('root'))?.body;
  const match = /^(\d{1,9})\.(root|snapshot|targets)\.json$/.exec(file);
  if (match === null) return undefined;
  return (await store.artifacts.tufMetadata(match[2] ?? '', Number(match[1])))?.body;
}

const ONLINE_ROLES = ['targets', 'snapshot', 'timestamp'] as const;
type OnlineRole = (typeof ONLINE_ROLES)[number];

const SPEC_VERSION = '1.0.31';

function expiry(at: number): string {
  return new Date(at).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/**
 * The fleet's TUF repository. The manager holds the targets, snapshot and timestamp keys (Ed25519, under
 * `<dataDir>/pki/tuf/`) and signs those roles itself; the root key signs version 1 at the first start and
 * is needed again only to change root, which is done with detached signatures (`rootDraft`, signatures
 * added wherever the root keys live, `installRoot`), so it may be moved off the manager. Every signed
 * version is kept in the store and served by version (consistent snapshots). The timestamp, valid one day
 * by default, is re-signed once half its lifetime has passed, at the next request or timer tick.
 */
export class TufRepository implements TufSource {
  readonly #store: Store;
  readonly #dir: string;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #keys: Record<OnlineRole, string>;
  readonly #lifetimes: TufLifetimes;
  #queue: Promise<unknown> = Promise.resolve();

  private constructor(deps: {
    store: Store;
    clock: Clock;
    logger: Logger;
    keys: Record<OnlineRole, string>;
    lifetimes: TufLifetimes;
    dir: string;
  }) {
    this.#store = deps.store;
    this.#dir = deps.dir;
    this.#clock = deps.clock;
    this.#logger = deps.logger;
    this.#keys = deps.keys;
    this.#lifetimes = deps.lifetimes;
  }

  /** Opens (creating at the first start) the online keys and the repository's first root and roles. */
  static async open(deps: {
    store: Store;
    clock: Clock;
    logger: Logger;
    /** `<dataDir>/pki/tuf`. */
    dir: string;
    lifetimes?: Partial<TufLifetimes>;
  }): Promise<TufRepository> {
    const keys = {} as Record<OnlineRole, string>;
    for (const role of ONLINE_ROLES) {
      keys[role] = (
        await openEd25519KeyFiles({
          dir: deps.dir,
          name: role,
          what: `TUF ${role} key`,
          consequence: `the root metadata names this key for the ${role} role, so devices refuse anything signed by another until root changes`,
          logger: deps.logger,
        })
      ).privateKeyPem;
    }
    const repository = new TufRepository({
      ...deps,
      dir: deps.dir,
      keys,
      lifetimes: { ...DEFAULT_TUF_LIFETIMES, ...deps.lifetimes },
    });
    if ((await deps.store.artifacts.latestTufMetadata('root')) === undefined) {
      const rootKey = await openEd25519KeyFiles({
        dir: deps.dir,
        name: 'root',
        what: 'TUF root key',
        consequence:
          'devices trust the root it signed; see docs/updates.md to sign a new root with detached signatures',
        logger: deps.logger,
      });
      await repository.#createFirstRoot(rootKey.privateKeyPem, rootKey.publicKeyPem);
    }
    if ((await deps.store.artifacts.latestTufMetadata('timestamp')) === undefined) {
      await repository.publishTargets();
    }
    return repository;
  }

  checkCanPublish(): void {}

  /** Signs a new targets version listing every artifact, then a snapshot and a timestamp for it. */
  publishTargets(): Promise<void> {
    return this.#serialized(async () => {
      const now = this.#clock.now();
      const artifacts = await this.#store.artifacts.list();
      const previous = await this.#store.artifacts.latestTufMetadata('targets');
      const targets = new Targets({
        version: (previous?.version ?? 0) + 1,
        specVersion: SPEC_VERSION,
        expires: expiry(now + this.#lifetimes.targetsMs),
      });
      for (const artifact of artifacts) {
        targets.addTarget(
          new TargetFile({
            path: targetPathOf(artifact.name, artifact.version),
            length: artifact.length,
            hashes: { sha256: artifact.sha256 },
            unrecognizedFields: {
              custom: {
                name: artifact.name,
                version: artifact.version,
                severity: artifact.severity,
                compat: artifact.compat,
              },
            },
          }),
        );
      }
      const targetsRecord = await this.#put('targets', new Metadata(targets), now);
      await this.#signSnapshotAndTimestamp(targetsRecord, now);
    });
  }

  /** Re-signs the timestamp (and the snapshot) once half their lifetime has passed; true when it did. */
  refreshIfDue(): Promise<boolean> {
    return this.#serialized(async () => {
      const now = this.#clock.now();
      const [timestamp, snapshot] = await Promise.all([
        this.#store.artifacts.latestTufMetadata('timestamp'),
        this.#store.artifacts.latestTufMetadata('snapshot'),
      ]);
      const due = (record: TufMetadataRecord | undefined, lifetimeMs: number) =>
        record === undefined || record.expiresAt - now < lifetimeMs / 2;
      if (due(snapshot, this.#lifetimes.snapshotMs)) {
        const targets = await this.#store.artifacts.latestTufMetadata('targets');
        if (targets === undefined) return false;
        await this.#signSnapshotAndTimestamp(targets, now);
        return true;
      }
      if (!due(timestamp, this.#lifetimes.timestampMs) || snapshot === undefined) return false;
      await this.#signTimestamp(snapshot, now);
      return true;
    });
  }

  /**
   * A metadata file as devices fetch it: `timestamp.json`, `N.root.json`, `N.snapshot.json`,
   * `N.targets.json` (and the latest `root.json`, for the first fetch). Undefined when there is none.
   */
  async metadataFile(file: string): Promise<string | undefined> {
    return servedTufMetadata(this.#store, file, () => this.refreshIfDue());
  }

  /**
   * The next root version, unsigned: `rootPublicKeysPem` become the root keys with `threshold`, the online
   * roles keep their keys. Sign it with at least `threshold` of the new root keys and of the current ones,
   * then give it to `installRoot`.
   */
  async rootDraft(rootPublicKeysPem: readonly string[], threshold: number): Promise<string> {
    if (rootPublicKeysPem.length === 0 || threshold < 1 || threshold > rootPublicKeysPem.length) {
      throw new EdgewardError(
        'EW_REQUEST_INVALID',
        `a root needs 1 to ${rootPublicKeysPem.length} signatures of its ${rootPublicKeysPem.length} key(s), not ${threshold}`,
      );
    }
    const current = await this.#currentRoot();
    const root = new Root({
      version: current.signed.version + 1,
      specVersion: SPEC_VERSION,
      expires: expiry(this.#clock.now() + this.#lifetimes.rootMs),
      consistentSnapshot: true,
    });
    const rootKeys = rootPublicKeysPem.map(tufKeyOf);
    for (const key of rootKeys) root.addKey(key, 'root');
    for (const role of ONLINE_ROLES) root.addKey(this.#onlineKey(role), role);
    for (const key of await this.#siteTimestampKeys()) root.addKey(key, 'timestamp');
    // The library's roles are built by addKey with threshold 1; the threshold is set in the document.
    const document = new Metadata(root).toJSON() as { signed: { roles: { root: { threshold: number } } } };
    document.signed.roles.root.threshold = threshold;
    return `${JSON.stringify(document, null, 2)}\n`;
  }

  /**
   * Installs a root signed elsewhere: it must be the next version and carry the threshold of signatures of
   * both the current root's keys and its own (TUF root rotation), and keep the manager's online keys.
   */
  installRoot(signedJson: string): Promise<number> {
    return this.#serialized(async () => {
      const next = parseRootJson(signedJson);
      const current = await this.#currentRoot();
      if (next.signed.version !== current.signed.version + 1) {
        throw new EdgewardError(
          'EW_TUF_KEY_INVALID',
          `the root is version ${next.signed.version}, but the next one is ${current.signed.version + 1}; make a new draft`,
        );
      }
      verifyRootThreshold(next, current.signed);
      verifyRootThreshold(next, next.signed);
      for (const role of ONLINE_ROLES) {
        if (!next.signed.roles[role]?.keyIDs.includes(this.#onlineKey(role).keyID)) {
          throw new EdgewardError(
            'EW_TUF_KEY_INVALID',
            `the root does not name the manager's ${role} key; make the draft with \`edgeward tuf root-draft\``,
          );
        }
      }
      await this.#put('root', next, this.#clock.now(), false);
      this.#logger.info({ version: next.signed.version }, 'installed a new TUF root');
      return next.signed.version;
    });
  }

  /**
   * Makes the root list every site's timestamp key (registered at delegation, `sites` table) in the
   * timestamp role, threshold 1, so a site keeps its devices' timestamp fresh while cut off. The next
   * root is signed here only while the root key is still on the manager and alone signs root (threshold
   * 1); otherwise it waits for an operator's detached signatures (`rootDraft` includes the site keys).
   */
  admitSiteTimestampKeys(): Promise<'current' | 'signed' | 'needs-root-signatures'> {
    return this.#serialized(async () => {
      const current = await this.#currentRoot();
      const listed = new Set(current.signed.roles.timestamp?.keyIDs ?? []);
      const siteKeys = await this.#siteTimestampKeys();
      if (siteKeys.every((key) => listed.has(key.keyID))) return 'current';
      const rootKeyPath = join(this.#dir, 'root.key');
      const rootRole = current.signed.roles.root;
      let rootKeyPem: string | undefined;
      if (await fileExists(rootKeyPath)) {
        const pem = await readPrivateKeyFile(rootKeyPath);
        const publicPem = createPublicKey(createPrivateKey(pem)).export({ type: 'spki', format: 'pem' });
        const keyId = tufKeyOf(publicPem.toString()).keyID;
        if (rootRole?.threshold === 1 && rootRole.keyIDs.length === 1 && rootRole.keyIDs[0] === keyId) {
          rootKeyPem = pem;
        }
      }
      if (rootKeyPem === undefined) {
        this.#logger.warn(
          { sites: siteKeys.length },
          'a site timestamp key is not in the TUF root yet and the root key is not on the manager: draft a root (`edgeward tuf root-draft`), sign it with the root keys and install it, so the site can keep its devices updating while cut off',
        );
        return 'needs-root-signatures';
      }
      const root = new Root({
        version: current.signed.version + 1,
        specVersion: SPEC_VERSION,
        expires: expiry(this.#clock.now() + this.#lifetimes.rootMs),
        consistentSnapshot: true,
      });
      for (const keyId of rootRole?.keyIDs ?? []) {
        const key = current.signed.keys[keyId];
        if (key !== undefined) root.addKey(key, 'root');
      }
      for (const role of ONLINE_ROLES) root.addKey(this.#onlineKey(role), role);
      for (const key of siteKeys) root.addKey(key, 'timestamp');
      const metadata = new Metadata(root);
      signWithKey(metadata, rootKeyPem);
      await this.#put('root', metadata, this.#clock.now(), false);
      this.#logger.info(
        { version: root.version, siteTimestampKeys: siteKeys.length },
        "signed a TUF root that lists the sites' timestamp keys",
      );
      return 'signed';
    });
  }

  async #siteTimestampKeys() {
    const sites = await this.#store.sites.list();
    return sites.flatMap((site) =>
      site.tufTimestampPublicKeyPem === null ? [] : [tufKeyOf(site.tufTimestampPublicKeyPem)],
    );
  }

  async #createFirstRoot(privateKeyPem: string, publicKeyPem: string): Promise<void> {
    const root = new Root({
      version: 1,
      specVersion: SPEC_VERSION,
      expires: expiry(this.#clock.now() + this.#lifetimes.rootMs),
      consistentSnapshot: true,
    });
    root.addKey(tufKeyOf(publicKeyPem), 'root');
    for (const role of ONLINE_ROLES) root.addKey(this.#onlineKey(role), role);
    const metadata = new Metadata(root);
    signWithKey(metadata, privateKeyPem);
    await this.#put('root', metadata, this.#clock.now(), false);
    this.#logger.info('created the TUF root (version 1)');
  }

  async #signSnapshotAndTimestamp(targets: TufMetadataRecord, now: number): Promise<void> {
    const previous = await this.#store.artifacts.latestTufMetadata('snapshot');
    const snapshot = new Snapshot({
      version: (previous?.version ?? 0) + 1,
      specVersion: SPEC_VERSION,
      expires: expiry(now + this.#lifetimes.snapshotMs),
      meta: {
        'targets.json': new MetaFile({
          version: targets.version,
          length: Buffer.byteLength(targets.body),
          hashes: { sha256: sha256(targets.body) },
        }),
      },
    });
    const snapshotRecord = await this.#put('snapshot', new Metadata(snapshot), now);
    await this.#signTimestamp(snapshotRecord, now);
  }

  async #signTimestamp(snapshot: TufMetadataRecord, now: number): Promise<void> {
    const previous = await this.#store.artifacts.latestTufMetadata('timestamp');
    const timestamp = new Timestamp({
      version: (previous?.version ?? 0) + 1,
      specVersion: SPEC_VERSION,
      expires: expiry(now + this.#lifetimes.timestampMs),
      snapshotMeta: new MetaFile({
        version: snapshot.version,
        length: Buffer.byteLength(snapshot.body),
        hashes: { sha256: sha256(snapshot.body) },
      }),
    });
    await this.#put('timestamp', new Metadata(timestamp), now);
  }

  async #put(role: string, metadata: AnyMetadata, now: number, sign = true): Promise<TufMetadataRecord> {
    if (sign) signWithKey(metadata, this.#keys[role as OnlineRole]);
    const record: TufMetadataRecord = {
      role,
      version: metadata.signed.version,
      body: JSON.stringify(metadata.toJSON()),
      expiresAt: Date.parse(metadata.signed.expires),
      createdAt: now,
    };
    if (!(await this.#store.artifacts.putTufMetadata(record))) {
      throw new EdgewardError(
        'EW_ROLLOUT_STATE_CONFLICT',
        `another manager replica signed ${role} version ${record.version} at the same time; retry`,
      );
    }
    return record;
  }

  async #currentRoot(): Promise<Metadata<Root>> {
    const record = await this.#store.artifacts.latestTufMetadata('root');
    if (record === undefined)
      throw new EdgewardError('EW_TUF_KEY_INVALID', 'the TUF repository has no root yet');
    return Metadata.fromJSON(MetadataKind.Root, JSON.parse(record.body));
  }

  #onlineKey(role: OnlineRole) {
    return tufKeyOf(this.#keys[role]);
  }

  /** One signing at a time in this process, so versions follow each other without gaps or clashes. */
  #serialized<T>(work: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(work, work);
    this.#queue = run.catch(() => {});
    return run;
  }
}
