import { randomBytes } from 'node:crypto';
import { readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  type CaBundle,
  type Clock,
  type DeviceAuditAnchorReply,
  type DeviceCommandResult,
  type DeviceEvent,
  deviceAuditSigner,
  EdgewardError,
  type EventRecord,
  isEdgewardError,
  type PolicyBundleReply,
  PROTOCOL_VERSION,
  parseCertificate,
  type SiteAlert,
  type SiteAlertsReply,
  type SiteComplianceBatch,
  type SiteEventsBatch,
  type SiteEventsReply,
  type SiteInventoryBatch,
  type SiteStatusReply,
  type SiteVersionsBatch,
  signCheckpoint,
  siteRolloutsReplySchema,
} from '@edgeward/core';
import type { AlertChangePosition, AlertRecord, Store } from '@edgeward/store';
import type { Logger } from 'pino';
import type { FleetPki } from '../pki/fleet-pki.ts';
import type { DeviceService } from '../services/device.service.ts';
import type { DeviceCommandService } from '../services/device-command.service.ts';
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
/** Alerts, audit entries and command results per upload, at most. */
const ALERTS_PER_UPLOAD = 200;
const AUDIT_ENTRIES_PER_UPLOAD = 1000;
const RESULTS_PER_UPLOAD = 200;
/**
 * Alert changes younger than this may still be followed by an older-stamped one committing late (two
 * transactions of one millisecond); the alert position never passes them, so they are sent again (the
 * hub ignores what it holds) rather than skipped.
 */
const ALERT_SETTLE_MS = 2000;

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
  readonly #commands: Pick<DeviceCommandService, 'relayFromHub'>;
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
  #syncedSinceStart = false;
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
    commands: Pick<DeviceCommandService, 'relayFromHub'>;
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
    this.#commands = deps.commands;
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

  /**
   * Whether the site is in touch with its hub now, as an override's author must know: a sync completed by
   * this process within the last couple of sync periods, and none failed since. A restart, or a sync late
   * for any reason, counts as offline: the side on which a loosening override can only lose.
   */
  reachesHubNow(): boolean {
    if (!this.#syncedSinceStart || this.#offlineSince !== null || this.#lastSyncAt === null) return false;
    return this.#clock.now() - this.#lastSyncAt <= 2 * this.#options.syncMs + this.#options.timeoutMs;
  }

  /** One full exchange with the hub; throws when the hub cannot be reached (the loop retries). */
  async syncOnce(): Promise<void> {
    const client = await this.#connected();
    await this.#forwardEvents(client);
    await this.#forwardInventories(client);
    await this.#forwardCompliance(client);
    await this.#forwardAlerts(client);
    await this.#forwardCommandResults(client);
    await this.#reportStatus(client);
    // After the status reply, so that commands it relayed are in the chain the hub anchors.
    await this.#anchorAudit(client);
    const newBundle = await this.#refreshPolicy(client);
    await this.#renewDelegationIfDue(client);
    // Offline overrides meet the hub's concurrent changes here: at reconnection, or when a new bundle came.
    if (newBundle || this.#offlineSince !== null || this.#lastSyncAt === null) {
      await this.#overlays?.alertShadowed();
    }
    await this.#mirror?.sync(client);
    await this.#forwardVersions(client);
    await this.#syncRollouts(client);
    this.#lastSyncAt = this.#clock.now();
    this.#syncedSinceStart = true;
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

  /**
   * The alerts of the site's own rules, in the order they changed, from where the hub last took them: new
   * ones and state changes (acknowledged, resolved, reopened) alike. The hub keeps each by its id and the
   * newest change, so a batch sent twice stores nothing twice.
   */
  async #forwardAlerts(client: UpstreamClient): Promise<void> {
    let position = await this.#alertPosition();
    for (;;) {
      const changed = await this.#store.alerts.listChanged('site', position, ALERTS_PER_UPLOAD);
      if (changed.length === 0) return;
      await client.post<SiteAlertsReply>('/v1/site/alerts', {
        v: PROTOCOL_VERSION,
        alerts: changed.map(siteAlertOf),
      });
      const last = changed.at(-1) as AlertRecord;
      const settled = { updatedAt: this.#clock.now() - ALERT_SETTLE_MS, id: '' };
      const unsettled = !isBefore(last, settled);
      const next = unsettled ? settled : { updatedAt: last.updatedAt, id: last.id };
      if (position === undefined || isBefore(position, next)) {
        position = next;
        await this.#store.sites.saveRelayPosition('alerts', JSON.stringify(position));
      }
      // What is younger than the settling time goes again at the next sync, not in a loop now.
      if (unsettled || changed.length < ALERTS_PER_UPLOAD) return;
    }
  }

  async #alertPosition(): Promise<AlertChangePosition | undefined> {
    const saved = await this.#store.sites.relayPosition('alerts');
    return saved === undefined ? undefined : (JSON.parse(saved) as AlertChangePosition);
  }

  /**
   * The site's own audit chain (its operators' actions, enrollments, revocations, overlays, relayed
   * commands), in order from the last entry the hub anchored, with a checkpoint over the last one signed by
   * the site key. A hub that finds anchored history rewritten refuses it (EW_SITE_AUDIT_DIVERGED); the
   * site says so loudly and keeps forwarding everything else.
   */
  async #anchorAudit(client: UpstreamClient): Promise<void> {
    let anchored = Number((await this.#store.sites.relayPosition('audit')) ?? '0');
    for (;;) {
      const entries = await this.#store.audit.range({
        fromSeq: anchored + 1,
        limit: AUDIT_ENTRIES_PER_UPLOAD,
      });
      const last = entries.at(-1);
      if (last === undefined) return;
      const identity = await this.#identity.signingIdentity();
      const checkpoint = signCheckpoint(deviceAuditSigner(identity.keyPem), last, this.#clock.now());
      let reply: DeviceAuditAnchorReply;
      try {
        reply = await client.post<DeviceAuditAnchorReply>('/v1/site/audit', {
          v: PROTOCOL_VERSION,
          entries,
          checkpoint,
          certificatePem: identity.certificatePem,
        });
      } catch (error) {
        if (!isEdgewardError(error, 'EW_SITE_AUDIT_DIVERGED')) throw error;
        this.#logger.error(
          { err: error.message },
          "the hub refuses this site's audit chain: it no longer extends what the hub anchored",
        );
        return;
      }
      anchored = reply.anchoredSeq;
      await this.#store.sites.saveRelayPosition('audit', String(anchored));
      if (entries.length < AUDIT_ENTRIES_PER_UPLOAD) return;
    }
  }

  /** Results of the hub's commands, once the site's devices reported them. */
  async #forwardCommandResults(client: UpstreamClient): Promise<void> {
    for (;;) {
      const done = await this.#store.sites.pendingRelayedResults(RESULTS_PER_UPLOAD);
      if (done.length === 0) return;
      await client.post('/v1/site/command-results', {
        v: PROTOCOL_VERSION,
        results: done.flatMap((command) =>
          command.result === null ? [] : [{ deviceId: command.deviceId, result: command.result }],
        ),
      });
      await this.#store.sites.recordRelayedResultsForwarded(
        done.map((command) => command.id),
        this.#clock.now(),
      );
      if (done.length < RESULTS_PER_UPLOAD) return;
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
    const refused: { deviceId: string; result: DeviceCommandResult }[] = [];
    for (const command of reply.commands) {
      const outcome = await this.#commands.relayFromHub(command);
      if (outcome.kind === 'queued') {
        this.#logger.info(
          { deviceId: command.deviceId, commandId: command.id, kind: command.kind },
          'command from the hub queued for its device',
        );
      } else if (outcome.kind === 'unknown-device') {
        this.#logger.warn(
          { deviceId: command.deviceId, commandId: command.id },
          'the hub sent a command for a device this site does not hold; refused',
        );
        refused.push({ deviceId: command.deviceId, result: outcome.refusal });
      }
    }
    if (refused.length > 0) {
      await client.post('/v1/site/command-results', { v: PROTOCOL_VERSION, results: refused });
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

  /** Whether a new bundle was taken. */
  async #refreshPolicy(client: UpstreamClient): Promise<boolean> {
    const held = this.#bundles.held;
    const query = held === undefined ? '' : `?version=${held.version}&issuedAt=${held.issuedAt}`;
    const reply = await client.get<PolicyBundleReply>(`/v1/policy${query}`);
    return reply !== undefined && (await this.#bundles.offer(reply.bundle));
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
    if (!(await this.#renewalWouldExtend(client))) return;
    const grant = await requestDelegation(this.#options, client, {
      overlayPublicKeyPem: this.#identity.overlayKey.publicKeyPem,
      tufTimestampPublicKeyPem: this.#identity.tufTimestampKey.publicKeyPem,
    });
    const caKeyPem = this.#identity.pkiFiles.caKeyPem;
    await this.#pki.adoptDelegation(join(this.#options.dataDir, 'pki'), {
      caCertPem: grant.caCertPem,
      caKeyPem,
      rootCrlPem: grant.rootCrlPem,
      upperCaPems: grant.upperCaPems ?? [],
      upperCrlPems: grant.upperCrlPems ?? [],
    });
    this.#caNotAfter = grant.notAfter;
    // New CRLs under the renewed CA, and the device listener's TLS context with them.
    await this.#revocations.publish();
    this.#logger.info({ notAfter: new Date(grant.notAfter).toISOString() }, 'delegated CA renewed');
  }

  /**
   * Under a region, a renewed CA ends no later than the region's, so while the region itself cannot renew
   * (cut off from the hub) asking again at every sync would only churn certificates: ask only once the
   * region's CA outlasts this site's.
   */
  async #renewalWouldExtend(client: UpstreamClient): Promise<boolean> {
    if (this.#pki.caPems.length <= 2) return true;
    const bundle = await client.get<CaBundle>('/v1/ca');
    if (bundle === undefined) return true;
    const upstreamCaEnd = (await parseCertificate(bundle.issuingCaPem)).notAfter;
    return upstreamCaEnd > this.#caNotAfter + 1000;
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

function isBefore(a: AlertChangePosition, b: AlertChangePosition): boolean {
  return a.updatedAt < b.updatedAt || (a.updatedAt === b.updatedAt && a.id < b.id);
}

/** The alert as the hub keeps it: who it is assigned to at the site means nothing there. */
function siteAlertOf(alert: AlertRecord): SiteAlert {
  const {
    source: _source,
    siteId: _siteId,
    bursts: _bursts,
    assignee: _assignee,
    eventRefs,
    deviceIds,
    response,
    route,
    groupFields,
    ...rest
  } = alert;
  return {
    ...rest,
    groupFields: { ...groupFields },
    eventRefs: eventRefs.map((ref) => ({ ...ref })),
    deviceIds: [...deviceIds],
    response: [...response],
    route: [...route],
  };
}
