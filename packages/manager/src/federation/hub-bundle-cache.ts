import { randomBytes } from 'node:crypto';
import { readFile, rename, writeFile } from 'node:fs/promises';
import {
  type PolicyBundle,
  type PolicyBundleReply,
  PROTOCOL_VERSION,
  verifyPolicyBundle,
} from '@edgeward/core';
import type { Store } from '@edgeward/store';
import type { Logger } from 'pino';

/**
 * The hub's signed policy bundle as a site keeps it (`<dataDir>/hub-bundle.json`): verified against the
 * hub's policy key like an agent does, never older than the one held, served unchanged to the site's
 * devices (which pinned the same key), so they never need the hub. An expired bundle is still served:
 * agents keep enforcing it and report it as stale.
 */
export class HubBundleCache {
  readonly #path: string;
  readonly #publicKeyPem: string;
  readonly #logger: Logger;
  readonly #store: Store;
  readonly #onVersion: () => void;
  #bundle: PolicyBundle | undefined;

  constructor(deps: {
    path: string;
    publicKeyPem: string;
    logger: Logger;
    /**
     * Each new hub version is also recorded in the site's own store, as the hub's, so the site's
     * compliance, summaries and site-scope rules work on it like a hub's on its own.
     */
    store: Store;
    onVersion: () => void;
  }) {
    this.#path = deps.path;
    this.#publicKeyPem = deps.publicKeyPem;
    this.#logger = deps.logger;
    this.#store = deps.store;
    this.#onVersion = deps.onVersion;
  }

  get held(): { version: number; issuedAt: number } | undefined {
    const payload = this.#bundle?.payload;
    return payload === undefined ? undefined : { version: payload.version, issuedAt: payload.issuedAt };
  }

  get bundle(): PolicyBundle | undefined {
    return this.#bundle;
  }

  /** Reads the bundle kept by an earlier run; a missing or refused file leaves the cache empty. */
  async load(): Promise<void> {
    let text: string;
    try {
      text = await readFile(this.#path, 'utf8');
    } catch {
      return;
    }
    const bundle = JSON.parse(text) as unknown;
    const verdict = verifyPolicyBundle(bundle, { publicKeyPem: this.#publicKeyPem });
    if (!verdict.ok) {
      this.#logger.error(
        { reason: verdict.message },
        'the cached hub bundle is refused; waiting for the hub',
      );
      return;
    }
    this.#bundle = bundle as PolicyBundle;
  }

  /** Takes a bundle from the hub when it verifies and is newer; returns whether it replaced the one held. */
  async offer(bundle: unknown): Promise<boolean> {
    const held = this.held;
    const verdict = verifyPolicyBundle(bundle, {
      publicKeyPem: this.#publicKeyPem,
      ...(held === undefined ? {} : { inForce: held }),
    });
    if (!verdict.ok) {
      this.#logger.warn({ reason: verdict.message }, 'a bundle from the hub was refused');
      return false;
    }
    if (!verdict.fresh) return false;
    const temporary = `${this.#path}.${randomBytes(4).toString('hex')}.tmp`;
    await writeFile(temporary, JSON.stringify(bundle));
    await rename(temporary, this.#path);
    this.#bundle = bundle as PolicyBundle;
    await this.#record(bundle as PolicyBundle);
    this.#logger.info({ version: verdict.payload.version }, 'hub policy bundle cached');
    return true;
  }

  async #record(bundle: PolicyBundle): Promise<void> {
    const { payload } = bundle;
    const signed = { bundle, crlDigest: '', crlIssuedAt: payload.issuedAt };
    const held = await this.#store.policies.head();
    if (held?.version === payload.version) {
      await this.#store.policies.replaceBundle(payload.version, held.issuedAt, signed);
      return;
    }
    if (await this.#store.policies.has(payload.version)) return;
    await this.#store.policies.create({
      version: payload.version,
      createdAt: payload.issuedAt,
      authorId: 'hub',
      authorName: 'hub',
      message: 'signed by the hub',
      gitCommit: null,
      policyDigest: payload.policyDigest,
      rollbackOf: null,
      sourceFiles: [],
      policy: payload.policy,
      signed,
    });
    this.#onVersion();
  }

  /** GET /v1/policy on the site: as the hub answers it. */
  async bundleFor(held: {
    version?: number | undefined;
    issuedAt?: number | undefined;
  }): Promise<PolicyBundleReply | undefined> {
    const bundle = this.#bundle;
    if (bundle === undefined) return undefined;
    if (held.version === bundle.payload.version && held.issuedAt === bundle.payload.issuedAt)
      return undefined;
    return { v: PROTOCOL_VERSION, bundle };
  }
}
