import { type Clock, sha256Hex } from '@edgeward/core';
import type { Store } from '@edgeward/store';
import type { Logger } from 'pino';
import type { FleetPki } from '../pki/fleet-pki.ts';

export type CrlListener = (crls: readonly string[]) => void;

/**
 * Keeps the CRLs the device listener enforces current: re-issued on every revocation, on a schedule
 * well before they expire (an expired CRL makes Node refuse every client), and whenever another
 * replica sharing the database revoked something.
 */
export class RevocationService {
  readonly #store: Store;
  readonly #clock: Clock;
  readonly #pki: FleetPki;
  readonly #logger: Logger;
  readonly #crlValidityMs: number;
  readonly #listeners = new Set<CrlListener>();
  #crls: readonly string[] = [];
  #revokedKey = '';
  #issuedAt = 0;

  constructor(deps: { store: Store; clock: Clock; pki: FleetPki; logger: Logger; crlValidityMs: number }) {
    this.#store = deps.store;
    this.#clock = deps.clock;
    this.#pki = deps.pki;
    this.#logger = deps.logger;
    this.#crlValidityMs = deps.crlValidityMs;
  }

  get crls(): readonly string[] {
    return this.#crls;
  }

  /**
   * Names the set of certificates the current CRLs revoke: equal on every replica that sees the same
   * revocations, although each signs its own CRLs (policy bundles compare it to know when to re-sign).
   */
  get revokedDigest(): string {
    return sha256Hex(this.#revokedKey);
  }

  /** When the current CRLs were issued (0 before the first). */
  get issuedAt(): number {
    return this.#issuedAt;
  }

  get crlValidityMs(): number {
    return this.#crlValidityMs;
  }

  onChange(listener: CrlListener): void {
    this.#listeners.add(listener);
  }

  /** Re-issues the CRLs now. */
  async publish(): Promise<void> {
    const revoked = await this.#store.certificates.listRevoked(this.#clock.now());
    await this.#issue(revoked);
  }

  /** Re-issues when revocations changed in the store or the CRLs are older than `maxAgeMs`. */
  async refreshIfNeeded(maxAgeMs: number): Promise<void> {
    const now = this.#clock.now();
    const revoked = await this.#store.certificates.listRevoked(now);
    if (keyOf(revoked) !== this.#revokedKey || now - this.#issuedAt >= maxAgeMs) await this.#issue(revoked);
  }

  async #issue(revoked: readonly { serial: string; revokedAt: number | null }[]): Promise<void> {
    const entries = revoked.map((certificate) => ({
      serial: certificate.serial,
      revokedAt: certificate.revokedAt ?? this.#clock.now(),
    }));
    this.#crls = await this.#pki.createCrls(entries, this.#crlValidityMs);
    this.#revokedKey = keyOf(revoked);
    this.#issuedAt = this.#clock.now();
    this.#logger.debug({ revoked: entries.length }, 'CRLs issued');
    for (const listener of this.#listeners) listener(this.#crls);
  }
}

function keyOf(revoked: readonly { serial: string }[]): string {
  return revoked
    .map((certificate) => certificate.serial)
    .sort()
    .join(',');
}
