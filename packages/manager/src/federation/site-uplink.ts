import { randomBytes } from 'node:crypto';
import { readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  type Clock,
  type DeviceEvent,
  EdgewardError,
  type EventRecord,
  type PolicyBundleReply,
  PROTOCOL_VERSION,
  type SiteComplianceBatch,
  type SiteEventsBatch,
  type SiteEventsReply,
  type SiteInventoryBatch,
  type SiteStatusReply,
  type SiteVersionsBatch,
  siteRolloutsReplySchema,
} from '@edgeward/core';
import type { Store } from '@edgeward/store';
import type { Logger } from 'pino';
import type { FleetPki } from '../pki/fleet-pki.ts';
import type { DeviceService } from '../services/device.service.ts';
import { systemOperator } from '../services/operator-context.ts';
import type { RevocationService } from '../services/revocation.service.ts';
import type { RolloutService } from '../updates/rollout.service.ts';
import type { DeclaredOutage, DeclaredOutages } from './declared-outage.ts';
import type { HubBundleCache } from './hub-bundle-cache.ts';
import { requestDelegation, type SiteIdentity } from './site-identity.ts';
import type { SiteOverlayService } from './site-overlay.service.ts';
import type { SiteArtifactCacheStatus, SiteTufMirror } from './site-tuf-mirror.ts';
import type { UpstreamClient } from './upstream-client.ts';

/** Past this share of the offline budget without the hub, the site says it is near the end. */
const NEAR_BUDGET_END = 0.8;
/** A delegated CA with less than this many offline budgets left is renewed while the hub answers. */
const RENEW_CA_BELOW_BUDGETS = 1.5;

export interface SiteLinkStatus {
  readonly siteId: string;
  readonly link: 'connected' | 'offline';
  readonly lastSyncAt: number | null;
  readonly offlineSince: number | null;
  readonly lastError: string | null;
  readonly backlog: number;
  readonly forwarded: number;
  readonly maxOfflineMs: number;
  /** When the offline budget runs out if the link stays (or goes) down: the earlier of budget and CA end. */
  readonly budgetEndsAt: number;
  readonly nearBudgetEnd: boolean;
  readonly caNotAfter: number;
  readonly policyVersion: number | null;
  readonly declaredOutage: DeclaredOutage | null;
  /** The mirror of the hub's TUF repository and artifacts (docs/updates.md). */
  readonly artifactCache?: SiteArtifactCacheStatus;
}

/**
 * The site's link to its hub, run between listen and close: forwards the devices' events (each device's
 * in sequence order, from the hub's acknowledgement, so the hub stores each exactly once however often a
 * batch is resent), reports the site's status, takes the hub's revocations of its devices, keeps the hub's
 * policy bundle cached, and renews the delegated CA. While the hub is unreachable it retries with backoff
 * and the site carries on by itself.
 */
export class SiteUplink {
  readonly #store: Store;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #identity: SiteIdentity;
  readonly #pki: FleetPki;
  readonly #revocations: RevocationService;
  readonly #devices: DeviceService;
  readonly #bundles: HubBundleCache;
  readonly #outages: DeclaredOutages;
  readonly #overlays: SiteOverlayService | undefined;
  readonly #mirror: SiteTufMirror | undefined;
  readonly #options: {
    dataDir: string;
    serverNames: readonly string[];
    syncMs: number;
    batchEvents: number;
    timeoutMs: number;
  };
  #rollouts: Pick<RolloutService, 'adoptFromHub' | 'hubRolloutRows'> | undefined;
  #client: UpstreamClient | undefined;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #stopped = true;
  #failures = 0;
  #lastSyncAt: number | null = null;
  #offlineSince: number | null = null;
  #lastError: string | null = null;
  #backlog = 0;
  #forwarded = 0;
  #caNotAfter: number;
  #warnedNearEnd = false;
  /** Running versions reported here up to this time have been forwarded to the hub (0 after a start). */
  #versionsForwardedUpTo = 0;
  /** Device contact up to this time has been reported to the hub. */
  #seenReportedUpTo = 0;

  constructor(deps: {
    store: Store;
    clock: Clock;
    logger: Logger;
    identity: SiteIdentity;
    pki: FleetPki;
    revocations: RevocationService;
    devices: DeviceService;
    bundles: HubBundleCache;
    outages: DeclaredOutages;
    overlays?: SiteOverlayService;
    mirror?: SiteTufMirror;
    dataDir: string;
    serverNames: readonly string[];
    /** Pause between syncs while connected (ms). */
    syncMs: number;
    /** Events per upload, at most. */
    batchEvents: number;
    timeoutMs: number;
  }) {
    this.#store = deps.store;
    this.#clock = deps.clock;
    this.#logger = deps.logger;
    this.#identity = deps.identity;
    this.#pki = deps.pki;
    this.#revocations = deps.revocations;
    this.#devices = deps.devices;
    this.#bundles = deps.bundles;
    this.#outages = deps.outages;
    this.#overlays = deps.overlays;
    this.#mirror = deps.mirror;
    this.#options = deps;
    this.#caNotAfter = deps.identity.caNotAfter;
  }

  async start(): Promise<void> {
    this.#stopped = false;
    this.#lastSyncAt = await this.#readLastSync();
    this.#schedule(0);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    await this.#running;
    this.#client?.close();
    this.#client = undefined;
  }

  status(): SiteLinkStatus {
    const now = this.#clock.now();
    const maxOfflineMs = this.#identity.maxOfflineMs;
    const since = this.#lastSyncAt ?? now;
    const budgetEndsAt = Math.min(since + maxOfflineMs, this.#caNotAfter);
    return {
      siteId: this.#identity.siteId,
      link: this.#offlineSince === null && this.#lastSyncAt !== null ? 'connected' : 'offline',
      lastSyncAt: this.#lastSyncAt,
      offlineSince: this.#offlineSince,
      lastError: this.#lastError,
      backlog: this.#backlog,
      forwarded: this.#forwarded,
      maxOfflineMs,
      budgetEndsAt,
      nearBudgetEnd:
        now >= since + NEAR_BUDGET_END * maxOfflineMs ||
        this.#caNotAfter - now < (1 - NEAR_BUDGET_END) * maxOfflineMs,
      caNotAfter: this.#caNotAfter,
      policyVersion: this.#bundles.held?.version ?? null,
      declaredOutage: this.#outages.current ?? null,
    };
  }

  /** One full exchange with the hub; throws when the hub cannot be reached (the loop retries). */
  async syncOnce(): Promise<void> {
    const client = await this.#connected();
    await this.#forwardEvents(client);
    await this.#forwardInventories(client);
    await this.#forwardCompliance(client);
    await this.#reportStatus(client);
    await this.#refreshPolicy(client);
    await this.#renewDelegationIfDue(client);
    await this.#mirror?.sync(client);
    await this.#forwardVersions(client);
    await this.#syncRollouts(client);
    this.#lastSyncAt = this.#clock.now();
    await this.#writeLastSync(this.#lastSyncAt);
  }

  #schedule(delayMs: number): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => {
      this.#running = this.#tick().finally(() => {
        this.#running = undefined;
      });
    }, delayMs);
  }

  async #tick(): Promise<void> {
    try {
      await this.syncOnce();
      if (this.#offlineSince !== null) {
        this.#logger.info({ offlineForMs: this.#clock.now() - this.#offlineSince }, 'hub reachable again');
      }
      this.#failures = 0;
      this.#offlineSince = null;
      this.#lastError = null;
      this.#warnedNearEnd = false;
      this.#schedule(this.#options.syncMs);
    } catch (error) {
      this.#failures += 1;
      this.#lastError = (error as Error).message;
      this.#client?.close();
      this.#client = undefined;
      if (this.#offlineSince === null) {
        this.#offlineSince = this.#clock.now();
        this.#logger.warn(
          { err: this.#lastError },
          'hub unreachable; the site carries on and keeps everything for later',
        );
      }
      this.#backlog = await this.#store.sites.uplinkBacklog().catch(() => this.#backlog);
      const status = this.status();
      if (status.nearBudgetEnd && !this.#warnedNearEnd) {
        this.#warnedNearEnd = true;
        this.#logger.error(
          { budgetEndsAt: new Date(status.budgetEndsAt).toISOString(), backlog: status.backlog },
          'the site is near the end of its offline budget: restore the link to the hub before it ends',
        );
      }
      const delay = Math.min(
        this.#options.syncMs * 2 ** Math.min(this.#failures, 6),
        8 * this.#options.syncMs,
        30_000,
      );
      this.#schedule(Math.round(delay * (0.75 + Math.random() * 0.5)));
    }
  }

  async #connected(): Promise<UpstreamClient> {
    this.#client ??= await this.#identity.connect(this.#options.timeoutMs);
    return this.#client;
  }

  async #forwardEvents(client: UpstreamClient): Promise<void> {
    for (;;) {
      const pending = await this.#store.sites.pendingUplink(this.#options.batchEvents);
      if (pending.length === 0) break;
      const batch = await this.#batchOf(pending);
      const reply = await client.post<SiteEventsReply>('/v1/site/events', batch);
      for (const [deviceId, ackedSeq] of Object.entries(reply.acks)) {
        await this.#store.sites.recordUplinkAck(deviceId, ackedSeq);
      }
      this.#forwarded += pending.length;
      // The hub holds what it acknowledged; if it acknowledged nothing new, a gap there waits for later.
      const progressed = batch.devices.some(
        (entry) => (reply.acks[entry.deviceId] ?? 0) >= (entry.events.at(-1)?.seq ?? 0),
      );
      if (!progressed || pending.length < this.#options.batchEvents) break;
    }
    this.#backlog = await this.#store.sites.uplinkBacklog();
  }

  /** The latest inventory of each device whose inventory changed since the hub last got it. */
  async #forwardInventories(client: UpstreamClient): Promise<void> {
    for (;;) {
      const pending = await this.#store.sites.pendingInventories(20);
      if (pending.length === 0) return;
      const devices: SiteInventoryBatch['devices'] = [];
      const versions = new Map<string, number>();
      for (const { deviceId } of pending) {
        const [device, snapshot] = await Promise.all([
          this.#store.devices.findById(deviceId),
          this.#store.inventory.latest(deviceId),
        ]);
        if (device === undefined || snapshot === undefined) continue;
        devices.push({ deviceId, name: device.name, labels: device.labels, inventory: snapshot.inventory });
        versions.set(deviceId, snapshot.version);
      }
      await client.post('/v1/site/inventory', { v: PROTOCOL_VERSION, devices });
      for (const { deviceId, version } of pending) {
        await this.#store.sites.recordInventoryForwarded(deviceId, versions.get(deviceId) ?? version);
      }
      if (pending.length < 20) return;
    }
  }

  /** Each device's latest compliance report that the hub does not hold yet. */
  async #forwardCompliance(client: UpstreamClient): Promise<void> {
    for (;;) {
      const pending = await this.#store.sites.pendingCompliance(20);
      if (pending.length === 0) return;
      const devices: SiteComplianceBatch['devices'] = [];
      for (const { deviceId } of pending) {
        const [device, state, results] = await Promise.all([
          this.#store.devices.findById(deviceId),
          this.#store.compliance.deviceState(deviceId),
          this.#store.compliance.deviceResults(deviceId),
        ]);
        if (device === undefined || state === undefined) continue;
        devices.push({
          deviceId,
          name: device.name,
          labels: device.labels,
          report: {
            v: PROTOCOL_VERSION,
            bundleVersion: state.bundleVersion,
            segment: state.segment,
            evaluatedAt: state.evaluatedAt,
            stale: state.stale,
            results: results.map(
              ({ segment: _segment, bundleVersion: _version, statusSince: _since, ...result }) => result,
            ),
          },
        });
      }
      await client.post('/v1/site/compliance', { v: PROTOCOL_VERSION, devices });
      for (const { deviceId, receivedAt } of pending) {
        await this.#store.sites.recordComplianceForwarded(deviceId, receivedAt);
      }
      if (pending.length < 20) return;
    }
  }

  async #batchOf(pending: readonly EventRecord[]): Promise<SiteEventsBatch> {
    const byDevice = new Map<string, DeviceEvent[]>();
    for (const record of pending) {
      const events = byDevice.get(record.deviceId) ?? [];
      events.push({
        seq: record.seq,
        id: record.id,
        type: record.type,
        severity: record.severity,
        time: record.time,
        data: record.data,
      });
      byDevice.set(record.deviceId, events);
    }
    const devices: SiteEventsBatch['devices'] = [];
    for (const [deviceId, events] of byDevice) {
      const device = await this.#store.devices.findById(deviceId);
      devices.push({
        deviceId,
        name: device?.name ?? deviceId,
        labels: device?.labels ?? {},
        // Sent in order from the hub's acknowledgement: what is below the first was delivered, or this
        // site never had it (pruned), and will not come.
        floorSeq: (events[0]?.seq ?? 1) - 1,
        events,
      });
    }
    return { v: PROTOCOL_VERSION, devices };
  }

  async #reportStatus(client: UpstreamClient): Promise<void> {
    const status = this.status();
    const overlay = await this.#overlays?.current();
    const since = this.#seenReportedUpTo;
    const seen = (await this.#store.devices.list({}, { limit: 100_000 }))
      .filter((device) => device.lastSeenAt !== null && device.lastSeenAt > since)
      .map((device) => ({ deviceId: device.id, lastSeenAt: device.lastSeenAt as number }));
    const reportedAt = this.#clock.now();
    const reply = await client.post<SiteStatusReply>('/v1/site/status', {
      v: PROTOCOL_VERSION,
      backlog: this.#backlog,
      devices: await this.#store.devices.count({}),
      budgetEndsAt: Math.min(this.#clock.now() + this.#identity.maxOfflineMs, status.caNotAfter),
      conflicts: (await this.#overlays?.conflicts()) ?? 0,
      seen,
      ...(overlay === undefined ? {} : { overlay }),
    });
    // Contact up to a little before this report is reported; a device seen meanwhile comes next time.
    this.#seenReportedUpTo = reportedAt - 1000;
    for (const deviceId of reply.revokedDevices) {
      const device = await this.#store.devices.findById(deviceId);
      if (device === undefined || device.revokedAt !== null) continue;
      await this.#devices.revoke(systemOperator, deviceId, 'revoked at the hub');
      this.#logger.info({ deviceId }, 'device revoked at the hub: revoked here too');
    }
  }

  /** What the devices run (as they reported it here, signed), when it changed since the last forward. */
  async #forwardVersions(client: UpstreamClient): Promise<void> {
    const names = new Set((await this.#store.artifacts.list()).map((artifact) => artifact.name));
    const changed: SiteVersionsBatch['devices'] = [];
    let upTo = this.#versionsForwardedUpTo;
    for (const name of names) {
      for (const record of await this.#store.artifacts.runningOf(name)) {
        if (record.reportedAt <= this.#versionsForwardedUpTo) continue;
        changed.push(record);
        upTo = Math.max(upTo, record.reportedAt);
      }
    }
    for (let start = 0; start < changed.length; start += 5000) {
      await client.post('/v1/site/versions', {
        v: PROTOCOL_VERSION,
        devices: changed.slice(start, start + 5000),
      });
    }
    this.#versionsForwardedUpTo = upTo;
  }

  /** Set once the rollout service exists: the site runs the hub's rollouts of its devices. */
  useRollouts(rollouts: Pick<RolloutService, 'adoptFromHub' | 'hubRolloutRows'>): void {
    this.#rollouts = rollouts;
  }

  /** Reports how its devices fare in the hub's rollouts, then takes the hub's rollouts and their states. */
  async #syncRollouts(client: UpstreamClient): Promise<void> {
    if (this.#rollouts === undefined) return;
    const devices = await this.#rollouts.hubRolloutRows();
    if (devices.length > 0) await client.post('/v1/site/rollouts', { v: PROTOCOL_VERSION, devices });
    const reply = siteRolloutsReplySchema.safeParse(await client.get<unknown>('/v1/site/rollouts'));
    if (!reply.success) {
      this.#logger.error({ err: reply.error }, "the hub's rollouts were not understood; none taken");
      return;
    }
    await this.#rollouts.adoptFromHub(reply.data.rollouts);
  }

  async #refreshPolicy(client: UpstreamClient): Promise<void> {
    const held = this.#bundles.held;
    const query = held === undefined ? '' : `?version=${held.version}&issuedAt=${held.issuedAt}`;
    const reply = await client.get<PolicyBundleReply>(`/v1/policy${query}`);
    if (reply !== undefined) await this.#bundles.offer(reply.bundle);
  }

  /** The CA end, for certificates issued here; it only moves when the hub renews the delegation. */
  get caNotAfter(): number {
    return this.#caNotAfter;
  }

  async #renewDelegationIfDue(client: UpstreamClient): Promise<void> {
    const now = this.#clock.now();
    const outage = this.#outages.mustOutlive;
    const coversOutage = outage === undefined || this.#caNotAfter >= outage;
    if (coversOutage && this.#caNotAfter - now >= RENEW_CA_BELOW_BUDGETS * this.#identity.maxOfflineMs)
      return;
    const grant = await requestDelegation(this.#options, client, {
      overlayPublicKeyPem: this.#identity.overlayKey.publicKeyPem,
      tufTimestampPublicKeyPem: this.#identity.tufTimestampKey.publicKeyPem,
    });
    const caKeyPem = this.#identity.pkiFiles.caKeyPem;
    await this.#pki.adoptDelegation(join(this.#options.dataDir, 'pki'), {
      caCertPem: grant.caCertPem,
      caKeyPem,
      rootCrlPem: grant.rootCrlPem,
    });
    this.#caNotAfter = grant.notAfter;
    // New CRLs under the renewed CA, and the device listener's TLS context with them.
    await this.#revocations.publish();
    this.#logger.info({ notAfter: new Date(grant.notAfter).toISOString() }, 'delegated CA renewed');
  }

  async #readLastSync(): Promise<number | null> {
    try {
      const value = Number((await readFile(this.#lastSyncPath(), 'utf8')).trim());
      return Number.isFinite(value) ? value : null;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw new EdgewardError('EW_INTERNAL', `cannot read ${this.#lastSyncPath()}`, { cause: error });
    }
  }

  async #writeLastSync(at: number): Promise<void> {
    const temporary = `${this.#lastSyncPath()}.${randomBytes(4).toString('hex')}.tmp`;
    await writeFile(temporary, `${at}\n`);
    await rename(temporary, this.#lastSyncPath());
  }

  #lastSyncPath(): string {
    return join(this.#options.dataDir, 'upstream', 'last-sync');
  }
}
