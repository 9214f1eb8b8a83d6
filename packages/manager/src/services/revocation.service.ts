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
    await this.#issue(await this.#revoked(this.#clock.now()));
  }

  /** Re-issues when revocations changed in the store or the CRLs are older than `maxAgeMs`. */
  async refreshIfNeeded(maxAgeMs: number): Promise<void> {
    const now = this.#clock.now();
    const revoked = await this.#revoked(now);
    if (keyOf(revoked) !== this.#revokedKey || now - this.#issuedAt >= maxAgeMs) await this.#issue(revoked);
  }

  /**
   * Revoked device (and site identity) certificates, and the delegated CAs of revoked sites, which the
   * root's CRL lists (on a hub; a site holds no sites).
   */
  async #revoked(now: number): Promise<Revoked> {
    const [certificates, sites] = await Promise.all([
      this.#store.certificates.listRevoked(now),
      this.#store.sites.list(),
    ]);
    const siteCas = sites.flatMap((site) =>
      site.revokedAt === null || site.caSerial === null
        ? []
        : [{ serial: site.caSerial, revokedAt: site.revokedAt, issuer: 'root' as const }],
    );
    return [
      ...certificates.map((certificate) => ({ ...certificate, issuer: 'issuing' as const })),
      ...siteCas,
    ];
  }

  async #issue(revoked: Revoked): Promise<void> {
    const entriesOf = (issuer: 'root' | 'issuing') =>
      revoked
        .filter((entry) => entry.issuer === issuer)
        .map((entry) => ({ serial: entry.serial, revokedAt: entry.revokedAt ?? this.#clock.now() }));
    this.#crls = await this.#pki.createCrls(entriesOf('issuing'), this.#crlValidityMs, entriesOf('root'));
    this.#revokedKey = keyOf(revoked);
    this.#issuedAt = this.#clock.now();
    this.#logger.debug({ revoked: revoked.length }, 'CRLs issued');
    for (const listener of this.#listeners) listener(this.#crls);
  }
}

type Revoked = readonly { serial: string; revokedAt: number | null; issuer: 'root' | 'issuing' }[];

function keyOf(revoked: Revoked): string {
  return revoked
    .map((entry) => `${entry.issuer}:${entry.serial}`)
    .sort()
    .join(',');
}
