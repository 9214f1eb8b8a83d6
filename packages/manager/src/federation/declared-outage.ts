import { randomBytes } from 'node:crypto';
import { readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type Clock, EdgewardError } from '@edgeward/core';
import type { Store } from '@edgeward/store';

/** Certificates must outlast a declared outage by this much, so a late return does not strand devices. */
const OUTAGE_MARGIN_MS = 3_600_000;

export interface DeclaredOutage {
  readonly startsAt: number;
  readonly endsAt: number;
  readonly reason: string;
}

/**
 * An outage of the hub link declared ahead (a planned cut, a ship leaving port), kept in
 * `<dataDir>/upstream/outage.json`. Before it starts, the site renews its delegated CA so that it outlives
 * the outage, and tells every device whose certificate would expire before the outage ends to renew at its
 * next heartbeat, so nobody is stranded.
 */
export class DeclaredOutages {
  readonly #path: string;
  readonly #store: Store;
  readonly #clock: Clock;
  readonly #maxOfflineMs: number;
  readonly #caNotAfter: () => number;
  #outage: DeclaredOutage | undefined;

  constructor(deps: {
    dataDir: string;
    store: Store;
    clock: Clock;
    maxOfflineMs: number;
    /** The end of the site's delegated CA, which no certificate it issues outlives. */
    caNotAfter: () => number;
  }) {
    this.#path = join(deps.dataDir, 'upstream', 'outage.json');
    this.#store = deps.store;
    this.#clock = deps.clock;
    this.#maxOfflineMs = deps.maxOfflineMs;
    this.#caNotAfter = deps.caNotAfter;
  }

  get current(): DeclaredOutage | undefined {
    const outage = this.#outage;
    return outage !== undefined && outage.endsAt > this.#clock.now() ? outage : undefined;
  }

  /** The time certificates and the site CA must outlive, if an outage is declared. */
  get mustOutlive(): number | undefined {
    const outage = this.current;
    return outage === undefined ? undefined : outage.endsAt + OUTAGE_MARGIN_MS;
  }

  async load(): Promise<void> {
    try {
      this.#outage = JSON.parse(await readFile(this.#path, 'utf8')) as DeclaredOutage;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  }

  /** Declares an outage; one longer than the offline budget is refused (the site could not last it). */
  async declare(request: {
    startsAt?: number | undefined;
    durationMs: number;
    reason: string;
  }): Promise<DeclaredOutage> {
    if (request.durationMs > this.#maxOfflineMs) {
      throw new EdgewardError(
        'EW_REQUEST_INVALID',
        `an outage of ${request.durationMs} ms is longer than this site's offline budget (${this.#maxOfflineMs} ms); ask the hub for a larger budget`,
      );
    }
    const startsAt = request.startsAt ?? this.#clock.now();
    const outage = { startsAt, endsAt: startsAt + request.durationMs, reason: request.reason };
    const temporary = `${this.#path}.${randomBytes(4).toString('hex')}.tmp`;
    await writeFile(temporary, JSON.stringify(outage));
    await rename(temporary, this.#path);
    this.#outage = outage;
    return outage;
  }

  /** How long a certificate issued now must be valid: through the declared outage, at least `defaultMs`. */
  validityMs(defaultMs: number): number {
    const mustOutlive = this.mustOutlive;
    // A minute beyond: certificate times are whole seconds.
    return mustOutlive === undefined
      ? defaultMs
      : Math.max(defaultMs, mustOutlive - this.#clock.now() + 60_000);
  }

  /**
   * Whether the device's newest certificate ends before the declared outage does (plus a margin), and a
   * renewal now would give it a later end (it cannot outlive the site's CA, which the site renews first).
   */
  async shouldRenew(deviceId: string): Promise<boolean> {
    const mustOutlive = this.mustOutlive;
    if (mustOutlive === undefined) return false;
    const [newest] = await this.#store.certificates.listByDevice(deviceId);
    return (
      newest !== undefined && newest.notAfter < mustOutlive && newest.notAfter < this.#caNotAfter() - 60_000
    );
  }
}
