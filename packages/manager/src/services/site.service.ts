import {
  authorizeSiteOverlay,
  type Clock,
  type CreatedSiteView,
  childSitePath,
  type createSiteSchema,
  type DeviceAuditAnchorReply,
  type DeviceAuditUpload,
  type DeviceRecord,
  EdgewardError,
  type EnrollmentTokenRecord,
  hubFederationSchema,
  isEdgewardError,
  PROTOCOL_VERSION,
  type SiteAlertsBatch,
  type SiteAlertsReply,
  type SiteCommandResults,
  type SiteComplianceBatch,
  type SiteDelegationGrant,
  type SiteDelegationRequest,
  type SiteEventsBatch,
  type SiteEventsReply,
  type SiteInventoryBatch,
  type SiteRolloutReport,
  type SiteRolloutsReply,
  type SiteStatusReply,
  type SiteStatusReport,
  type SiteVersionsBatch,
  type SiteView,
} from '@edgeward/core';
import type { SiteRecord, Store } from '@edgeward/store';
import type { Logger } from 'pino';
import * as z from 'zod/mini';
import type { FleetPki } from '../pki/fleet-pki.ts';
import type { RolloutService } from '../updates/rollout.service.ts';
import type { TufRepository } from '../updates/tuf-repository.ts';
import type { AlertService } from './alert.service.ts';
import type { AuditTrail } from './audit-trail.ts';
import type { ComplianceService } from './compliance.service.ts';
import type { DeviceService } from './device.service.ts';
import type { DeviceAuditService } from './device-audit.service.ts';
import type { DeviceCommandService } from './device-command.service.ts';
import type { EventService } from './event.service.ts';
import type { OperatorContext } from './operator-context.ts';
import type { PolicyService } from './policy.service.ts';
import { newSecret, sha256Hex } from './secrets.ts';

/** Label a hub puts on the device records of a site's devices (the value is the site id). */
export const SITE_LABEL = 'edgeward.site';
/**
 * Label with the path of sites a site device came through, from this manager down: `plant-1` for a device of
 * site plant-1, `r1/plant-7` at the hub for a device of plant-7 that region r1 forwarded.
 */
export const SITE_PATH_LABEL = 'edgeward.site-path';
/** Label on a site's own device record at its hub: `site`, or `region` for one that may have lower sites. */
export const SITE_ROLE_LABEL = 'edgeward.role';

/** A site that stays silent longer than this counts as cut off. */
const CONNECTED_WITHIN_MS = 120_000;
/** Hub commands handed to a site per sync, at most; the rest follow at the next. */
const RELAYED_COMMANDS_PER_SYNC = 200;

/**
 * The hub's side of federation: sites and their one-time enrollment, the name-constrained CA delegated
 * to each, the events a site forwards for its devices (stored exactly once per device sequence, as if the
 * devices had sent them), and each site's reported state (docs/federation.md).
 */
export class SiteService {
  readonly #store: Store;
  readonly #clock: Clock;
  readonly #pki: FleetPki;
  readonly #audit: AuditTrail;
  readonly #events: Pick<EventService, 'ingest'>;
  readonly #devices: Pick<DeviceService, 'ingestInventory' | 'revoke'>;
  readonly #alerts: Pick<AlertService, 'mergeFromSite'>;
  readonly #commands: Pick<DeviceCommandService, 'recordResult'>;
  readonly #deviceAudit: Pick<DeviceAuditService, 'anchorSite'>;
  #compliance: Pick<ComplianceService, 'ingest'> | undefined;
  #tuf: Pick<TufRepository, 'admitSiteTimestampKeys'> | undefined;
  #rollouts: Pick<RolloutService, 'forSite' | 'siteReport'> | undefined;
  readonly #policies: Pick<PolicyService, 'currentBundle' | 'sitesChanged'>;
  readonly #logger: Logger;
  readonly #startCommand: (site: string, token: string) => string;
  readonly #ownMaxOfflineMs: number | undefined;

  constructor(deps: {
    store: Store;
    clock: Clock;
    pki: FleetPki;
    audit: AuditTrail;
    events: Pick<EventService, 'ingest'>;
    devices: Pick<DeviceService, 'ingestInventory' | 'revoke'>;
    alerts: Pick<AlertService, 'mergeFromSite'>;
    commands: Pick<DeviceCommandService, 'recordResult'>;
    deviceAudit: Pick<DeviceAuditService, 'anchorSite'>;
    policies: Pick<PolicyService, 'currentBundle' | 'sitesChanged'>;
    logger: Logger;
    startCommand: (site: string, token: string) => string;
    /** On a region: its own offline budget, which no lower site's may exceed. */
    ownMaxOfflineMs?: number;
  }) {
    this.#ownMaxOfflineMs = deps.ownMaxOfflineMs;
    this.#store = deps.store;
    this.#clock = deps.clock;
    this.#pki = deps.pki;
    this.#audit = deps.audit;
    this.#events = deps.events;
    this.#devices = deps.devices;
    this.#alerts = deps.alerts;
    this.#commands = deps.commands;
    this.#deviceAudit = deps.deviceAudit;
    this.#policies = deps.policies;
    this.#logger = deps.logger;
    this.#startCommand = deps.startCommand;
  }

  async create(operator: OperatorContext, request: CreateSiteRequest): Promise<CreatedSiteView> {
    await this.#requireTierAllowed(request);
    const now = this.#clock.now();
    const secret = newSecret();
    const token: EnrollmentTokenRecord = {
      id: `et-site-${request.id}`,
      secretHash: sha256Hex(secret),
      labels: { [SITE_ROLE_LABEL]: request.region === true ? 'region' : 'site' },
      createdAt: now,
      createdBy: operator.name,
      expiresAt: now + request.ttlMs,
      usedAt: null,
      usedByDeviceId: null,
      revokedAt: null,
    };
    const site: SiteRecord = {
      id: request.id,
      name: request.name ?? request.id,
      maxOfflineMs: request.maxOfflineMs,
      createdAt: now,
      createdBy: operator.name,
      enrollmentTokenId: token.id,
      enrolledAt: null,
      overlayPublicKeyPem: null,
      tufTimestampPublicKeyPem: null,
      caSerial: null,
      caNotAfter: null,
      lastSyncAt: null,
      backlog: 0,
      budgetEndsAt: null,
      conflicts: 0,
      revokedAt: null,
    };
    await this.#store.transaction(async (store) => {
      if ((await store.sites.findById(site.id)) !== undefined || (await store.devices.findById(site.id))) {
        throw new EdgewardError(
          'EW_SITE_EXISTS',
          `a site or device already has id ${site.id}; choose another id`,
        );
      }
      await store.tokens.create(token);
      await store.sites.create(site);
      await this.#audit.record(store, operator, 'site.create', site.id, {
        maxOfflineMs: site.maxOfflineMs,
        token: token.id,
        region: request.region === true,
      });
    });
    const value = `${token.id}.${secret}`;
    return { ...(await this.#view(site)), token: value, startCommand: this.#startCommand(site.id, value) };
  }

  /**
   * A region delegates only what its own CA allows: lower sites (never regions below a region, as the fleet
   * root allows no deeper chain), each with an offline budget no longer than the region's, since its CA can
   * never outlive the region's.
   */
  async #requireTierAllowed(request: CreateSiteRequest): Promise<void> {
    const allowed = await this.#pki.lowerTiersAllowed();
    const wanted = request.region === true ? 2 : 1;
    if (wanted > allowed) {
      throw new EdgewardError(
        'EW_SITE_TIER_NOT_ALLOWED',
        allowed === 0
          ? `this site manager (${this.#pki.sitePath}) is not a region, so it cannot have sites of its own; create ${request.id} at the hub, or make this site a region there (\`edgeward sites create ID --region\`)`
          : this.#pki.sitePath === undefined
            ? `${request.id} cannot be a region: this fleet's root CA was made before regions and allows no CA below a site's; create it without --region`
            : `${request.id} cannot be a region here: tiers nest hub, region, site; create it without --region`,
      );
    }
    const ceiling = this.#ownMaxOfflineMs;
    if (ceiling !== undefined && request.maxOfflineMs > ceiling) {
      throw new EdgewardError(
        'EW_SITE_TIER_NOT_ALLOWED',
        `site ${request.id} asks for an offline budget of ${request.maxOfflineMs} ms, longer than this region's ${ceiling} ms; give it --max-offline no longer than the region's`,
      );
    }
  }

  async list(): Promise<SiteView[]> {
    const sites = await this.#store.sites.list();
    return Promise.all(sites.map((site) => this.#view(site)));
  }

  async show(id: string): Promise<SiteView> {
    return this.#view(await this.#find(id));
  }

  /** The site a one-time token was made for, if any: enrollment then issues a site identity. */
  async siteOfToken(store: Store, tokenId: string): Promise<SiteRecord | undefined> {
    return store.sites.findByEnrollmentToken(tokenId);
  }

  /**
   * A CA of the site's own, valid twice its offline budget, so that a site which renews while it reaches
   * the hub (when less than 1.5 budgets remain) always holds a CA that outlives any outage within budget.
   */
  async delegate(siteId: string, request: SiteDelegationRequest): Promise<SiteDelegationGrant> {
    const site = await this.#trusted(siteId);
    const region = (await this.#store.devices.findById(siteId))?.labels[SITE_ROLE_LABEL] === 'region';
    const { ca, rootCrlPem, upperCaPems, upperCrlPems } = await this.#pki.delegateSiteCa({
      siteId,
      csrPem: request.csrPem,
      serverNames: request.serverNames,
      validityMs: 2 * site.maxOfflineMs,
      pathLength: region ? 1 : 0,
      revokedSiteCas: await this.#revokedSiteCas(),
    });
    const now = this.#clock.now();
    await this.#store.transaction(async (store) => {
      await store.sites.update(siteId, {
        caSerial: ca.serial,
        caNotAfter: ca.notAfter,
        overlayPublicKeyPem: request.overlayPublicKeyPem,
        ...(request.tufTimestampPublicKeyPem === undefined
          ? {}
          : { tufTimestampPublicKeyPem: request.tufTimestampPublicKeyPem }),
        lastSyncAt: now,
      });
      await this.#audit.record(store, siteActor(siteId), 'site.delegate', siteId, {
        serial: ca.serial,
        notAfter: ca.notAfter,
        serverNames: request.serverNames,
      });
    });
    this.#logger.info({ siteId, notAfter: new Date(ca.notAfter).toISOString() }, 'site CA delegated');
    // The site's overlay key reaches devices only in a hub-signed bundle.
    await this.#policies.sitesChanged();
    // Its timestamp key only in a root signed by the root keys.
    await this.#tuf?.admitSiteTimestampKeys();
    return {
      v: PROTOCOL_VERSION,
      siteId,
      sitePath: childSitePath(this.#pki.sitePath, siteId),
      fleet: this.#pki.fleet,
      caCertPem: ca.certPem,
      rootCaPem: this.#pki.rootCaPem,
      rootCrlPem,
      ...(upperCaPems.length === 0 ? {} : { upperCaPems, upperCrlPems }),
      notAfter: ca.notAfter,
      maxOfflineMs: site.maxOfflineMs,
      policyPublicKeyPem: this.#pki.policyPublicKeyPem,
    };
  }

  /**
   * Stores the events a site forwards, per device exactly once (the device's own sequence numbers), and
   * answers each device's acknowledgement. A device first heard of gets a record labelled with its site; a
   * device of the hub or of another site is refused.
   */
  async ingestEvents(siteId: string, batch: SiteEventsBatch): Promise<SiteEventsReply> {
    await this.#trusted(siteId);
    const now = this.#clock.now();
    const acks: Record<string, number> = {};
    for (const entry of batch.devices) {
      await this.#ensureDevice(siteId, entry, now);
      try {
        const reply = await this.#events.ingest(entry.deviceId, {
          v: PROTOCOL_VERSION,
          floorSeq: entry.floorSeq,
          events: entry.events,
        });
        acks[entry.deviceId] = reply.ackedSeq;
      } catch (error) {
        if (!isEdgewardError(error, 'EW_DEVICE_REVOKED')) throw error;
        // Revoked here since the site took them: they are still the record of what the device did (kept,
        // exactly once, without alerting), and refusing them would stall the site's whole uplink.
        const stored = await this.#store.events.ingest(entry.deviceId, entry.events, now, entry.floorSeq);
        acks[entry.deviceId] = stored.ackedSeq;
      }
    }
    await this.#store.sites.update(siteId, { lastSyncAt: now });
    return { v: PROTOCOL_VERSION, acks };
  }

  /** The latest inventory of site devices, as if each device had reported it (versions, changes, drift). */
  async ingestInventory(
    siteId: string,
    batch: SiteInventoryBatch,
  ): Promise<{ v: 1; versions: Record<string, number> }> {
    await this.#trusted(siteId);
    const now = this.#clock.now();
    const versions: Record<string, number> = {};
    for (const entry of batch.devices) {
      const device = await this.#ensureDevice(siteId, entry, now);
      if (device.revokedAt !== null) continue;
      const reply = await this.#devices.ingestInventory(entry.deviceId, {
        kind: 'full',
        inventory: entry.inventory,
      });
      versions[entry.deviceId] = reply.version;
    }
    return { v: PROTOCOL_VERSION, versions };
  }

  /**
   * The hub's record of a site device, created on first news of it and marked with the path of sites it
   * came through (a region forwards its lower sites' devices with theirs); a device of another owner is
   * refused.
   */
  async #ensureDevice(
    siteId: string,
    entry: { deviceId: string; name: string; labels: Record<string, string> },
    now: number,
  ): Promise<DeviceRecord> {
    return this.#store.transaction(async (store) => {
      const device = await store.devices.findById(entry.deviceId);
      if (device === undefined) {
        const below = entry.labels[SITE_PATH_LABEL];
        const created: DeviceRecord = {
          id: entry.deviceId,
          name: entry.name || entry.deviceId,
          labels: {
            ...entry.labels,
            [SITE_LABEL]: siteId,
            [SITE_PATH_LABEL]: below === undefined ? siteId : `${siteId}/${below}`,
          },
          enrolledAt: now,
          enrollmentTokenId: null,
          lastSeenAt: now,
          reportIntervalMs: 60_000,
          agentVersion: 'via-site',
          inventoryVersion: 0,
          revokedAt: null,
        };
        await store.devices.create(created);
        return created;
      }
      if (device.labels[SITE_LABEL] !== siteId) {
        throw new EdgewardError(
          'EW_SITE_DEVICE_FOREIGN',
          `device ${entry.deviceId} does not belong to site ${siteId}; it was not enrolled there`,
        );
      }
      await store.devices.update(entry.deviceId, { lastSeenAt: now });
      return device;
    });
  }

  /** Set once the compliance service exists (it is built after this service). */
  useCompliance(compliance: Pick<ComplianceService, 'ingest'>): void {
    this.#compliance = compliance;
  }

  /** Set once the rollout service exists: sites run the hub's rollouts for their devices. */
  useRollouts(rollouts: Pick<RolloutService, 'forSite' | 'siteReport'>): void {
    this.#rollouts = rollouts;
  }

  /** GET /v1/site/rollouts: the hub's started rollouts that include devices of the site. */
  async rolloutsFor(siteId: string): Promise<SiteRolloutsReply> {
    await this.#find(siteId);
    const rollouts = (await this.#rollouts?.forSite(await this.#deviceIdsOf(siteId))) ?? [];
    return { v: PROTOCOL_VERSION, rollouts };
  }

  /** POST /v1/site/rollouts: where the site's devices stand in those rollouts. */
  async rolloutReport(siteId: string, report: SiteRolloutReport): Promise<{ v: 1; moved: number }> {
    await this.#find(siteId);
    const result = (await this.#rollouts?.siteReport(await this.#deviceIdsOf(siteId), report)) ?? {
      moved: 0,
    };
    return { v: PROTOCOL_VERSION, ...result };
  }

  /** POST /v1/site/versions: what the site's devices run, for the hub's patch SLA and device pages. */
  async ingestVersions(siteId: string, batch: SiteVersionsBatch): Promise<{ v: 1; stored: number }> {
    await this.#find(siteId);
    const ids = await this.#deviceIdsOf(siteId);
    for (const entry of batch.devices) {
      if (!ids.has(entry.deviceId) && (await this.#store.devices.findById(entry.deviceId)) !== undefined) {
        throw new EdgewardError(
          'EW_SITE_DEVICE_FOREIGN',
          `device ${entry.deviceId} is not a device of site ${siteId}; only its own devices' versions are taken`,
        );
      }
    }
    let stored = 0;
    for (const entry of batch.devices) {
      // A device the hub has not heard of yet (no event or inventory came) is left for a later report.
      if (!ids.has(entry.deviceId)) continue;
      stored += 1;
      await this.#store.artifacts.reportRunning({
        deviceId: entry.deviceId,
        name: entry.name,
        version: entry.version,
        fellBackFrom: entry.fellBackFrom,
        // A new version counts as installed when the device first reported it at its site.
        reportedAt: entry.installedAt ?? entry.reportedAt,
      });
    }
    return { v: PROTOCOL_VERSION, stored };
  }

  async #deviceIdsOf(siteId: string): Promise<Set<string>> {
    const devices = await this.#store.devices.list(
      { labels: { [SITE_LABEL]: siteId }, includeRevoked: true },
      { limit: 100_000 },
    );
    return new Set(devices.map((device) => device.id));
  }

  /** Set once the TUF repository is open: a site's timestamp key must reach the root its devices trust. */
  useTuf(tuf: Pick<TufRepository, 'admitSiteTimestampKeys'>): void {
    this.#tuf = tuf;
  }

  /** Each device's latest compliance report, stored as if the device had sent it to the hub. */
  async ingestCompliance(siteId: string, batch: SiteComplianceBatch): Promise<{ v: 1; stored: number }> {
    await this.#trusted(siteId);
    const compliance = this.#compliance;
    if (compliance === undefined) throw new EdgewardError('EW_INTERNAL', 'the hub has no compliance service');
    const now = this.#clock.now();
    let stored = 0;
    for (const entry of batch.devices) {
      const device = await this.#ensureDevice(siteId, entry, now);
      if (device.revokedAt !== null) continue;
      stored += (await compliance.ingest(entry.deviceId, entry.report)).stored;
    }
    return { v: PROTOCOL_VERSION, stored };
  }

  /**
   * Records what the site reports and tells it which of its devices the hub revoked and which commands
   * operators at the hub gave its devices.
   */
  async status(siteId: string, report: SiteStatusReport): Promise<SiteStatusReply> {
    await this.#trusted(siteId);
    const now = this.#clock.now();
    if (report.overlay !== undefined) await this.#acceptOverlay(siteId, report.overlay, now);
    // The site's own device record: it is seen at every sync, not by heartbeats.
    await this.#store.devices.update(siteId, { lastSeenAt: now });
    // Its devices' contact, so the hub's online and offline views hold for them too.
    if (report.seen.length > 0) {
      await this.#store.transaction(async (store) => {
        for (const { deviceId, lastSeenAt } of report.seen) {
          const device = await store.devices.findById(deviceId);
          if (device?.labels[SITE_LABEL] !== siteId) continue;
          if ((device.lastSeenAt ?? 0) < lastSeenAt) await store.devices.update(deviceId, { lastSeenAt });
        }
      });
    }
    await this.#store.sites.update(siteId, {
      lastSyncAt: now,
      backlog: report.backlog,
      budgetEndsAt: report.budgetEndsAt,
      conflicts: report.conflicts,
    });
    const revoked = await this.#store.devices.list(
      { labels: { [SITE_LABEL]: siteId }, includeRevoked: true },
      {
        limit: 100_000,
      },
    );
    // Handed over at every sync until the result comes back: the site queues each id once, so a reply
    // lost on the way costs nothing, and the command shows as sent (to the site) meanwhile.
    const commands = await this.#store.commands.listOpenByLabel(
      SITE_LABEL,
      siteId,
      RELAYED_COMMANDS_PER_SYNC,
    );
    await this.#store.commands.markSent(
      commands.map((command) => command.id),
      now,
    );
    return {
      v: PROTOCOL_VERSION,
      serverTime: now,
      revokedDevices: revoked.filter((device) => device.revokedAt !== null).map((device) => device.id),
      commands: commands.map(
        ({
          status: _status,
          sentAt: _sentAt,
          acknowledgedAt: _acknowledgedAt,
          result: _result,
          ...command
        }) => command,
      ),
    };
  }

  /** The alerts the site's own rules raised, kept at the hub marked with the site (exactly once by id). */
  async ingestAlerts(siteId: string, batch: SiteAlertsBatch): Promise<SiteAlertsReply> {
    await this.#trusted(siteId);
    for (const alert of batch.alerts) {
      for (const deviceId of alert.deviceIds) {
        const device = await this.#store.devices.findById(deviceId);
        if (device !== undefined && device.labels[SITE_LABEL] !== siteId) {
          throw new EdgewardError(
            'EW_SITE_DEVICE_FOREIGN',
            `alert ${alert.id} of site ${siteId} names device ${deviceId}, which does not belong to the site`,
          );
        }
      }
    }
    return { v: PROTOCOL_VERSION, stored: await this.#alerts.mergeFromSite(siteId, batch.alerts) };
  }

  /** The site's own audit chain, anchored in the hub's (DeviceAuditService.anchorSite). */
  async anchorAudit(siteId: string, upload: DeviceAuditUpload): Promise<DeviceAuditAnchorReply> {
    await this.#trusted(siteId);
    return this.#deviceAudit.anchorSite(siteId, upload);
  }

  /**
   * Results of hub commands that the site's devices ran, stored as if the devices had reported them: the
   * first result of a command counts, a repeated one changes nothing.
   */
  async recordCommandResults(siteId: string, batch: SiteCommandResults): Promise<{ v: 1; accepted: number }> {
    await this.#trusted(siteId);
    let accepted = 0;
    for (const { deviceId, result } of batch.results) {
      const device = await this.#store.devices.findById(deviceId);
      if (device?.labels[SITE_LABEL] !== siteId) {
        throw new EdgewardError(
          'EW_SITE_DEVICE_FOREIGN',
          `site ${siteId} sent a command result for device ${deviceId}, which does not belong to it`,
        );
      }
      if (device.revokedAt !== null) continue;
      if ((await this.#commands.recordResult(deviceId, result.commandId, result)).accepted) accepted += 1;
    }
    return { v: PROTOCOL_VERSION, accepted };
  }

  /**
   * Revokes a whole site: its CA goes into the root CRL (so nothing it issued is trusted at any level), its
   * own certificate is revoked (the hub refuses it at the handshake), and its devices' records at the hub
   * are marked revoked. The site's history stays at the hub.
   */
  async revoke(operator: OperatorContext, id: string, reason: string): Promise<SiteView> {
    const site = await this.#find(id);
    if (site.revokedAt !== null) return this.#view(site);
    const now = this.#clock.now();
    const devices = await this.#store.transaction(async (store) => {
      await store.sites.update(id, { revokedAt: now });
      const held = await store.devices.list({ labels: { [SITE_LABEL]: id } }, { limit: 100_000 });
      for (const device of held) {
        await store.certificates.revokeAllForDevice(device.id, now);
        await store.devices.update(device.id, { revokedAt: now });
      }
      await this.#audit.record(store, operator, 'site.revoke', id, {
        reason,
        caSerial: site.caSerial,
        devices: held.length,
      });
      return held.length;
    });
    // The site's own identity, as any device's: its certificates revoked, the CRLs (now with its CA in the
    // root's) re-issued and enforced by the device listener, its connections closed.
    if ((await this.#store.devices.findById(id)) !== undefined)
      await this.#devices.revoke(operator, id, reason);
    this.#logger.warn({ siteId: id, devices, by: operator.name, reason }, 'site revoked');
    return this.#view(await this.#find(id));
  }

  /** The delegated CAs of revoked sites, for the root CRL. */
  async #revokedSiteCas(): Promise<{ serial: string; revokedAt: number }[]> {
    return (await this.#store.sites.list()).flatMap((site) =>
      site.revokedAt === null || site.caSerial === null
        ? []
        : [{ serial: site.caSerial, revokedAt: site.revokedAt }],
    );
  }

  /** Kept only when it is authorized by the delegation in the bundle in force, as agents will check it. */
  async #acceptOverlay(siteId: string, overlay: unknown, now: number): Promise<void> {
    const bundle = await this.#policies.currentBundle();
    const federation = z.safeParse(hubFederationSchema, bundle?.payload.federation);
    if (!federation.success) {
      throw new EdgewardError(
        'EW_SITE_OVERLAY_REFUSED',
        `the policy in force delegates nothing to sites, so the overlay of site ${siteId} cannot be accepted`,
      );
    }
    const held = await this.#store.sites.findOverlay(siteId);
    const verdict = authorizeSiteOverlay(overlay, {
      fleet: this.#pki.fleet,
      federation: federation.data,
      nowMs: now,
      ...(held === undefined ? {} : { inForceVersion: held.version }),
    });
    if (!verdict.ok) throw new EdgewardError('EW_SITE_OVERLAY_REFUSED', verdict.message);
    if (verdict.payload.site !== siteId) {
      throw new EdgewardError(
        'EW_SITE_OVERLAY_REFUSED',
        `site ${siteId} sent the overlay of site ${verdict.payload.site}`,
      );
    }
    await this.#store.sites.saveOverlay(siteId, verdict.payload.version, JSON.stringify(overlay), now);
  }

  /** The site, refused when the hub revoked it (a CRL that lags must not let it sync). */
  async #trusted(id: string): Promise<SiteRecord> {
    const site = await this.#find(id);
    if (site.revokedAt !== null) {
      throw new EdgewardError(
        'EW_SITE_REVOKED',
        `site ${id} was revoked at the hub on ${new Date(site.revokedAt).toISOString()}; declare a new site to replace it`,
      );
    }
    return site;
  }

  async #find(id: string): Promise<SiteRecord> {
    const site = await this.#store.sites.findById(id);
    if (site === undefined) {
      throw new EdgewardError('EW_SITE_NOT_FOUND', `no site has id ${id}; see \`edgeward sites list\``);
    }
    return site;
  }

  async #view(site: SiteRecord): Promise<SiteView> {
    const now = this.#clock.now();
    const devices = await this.#store.devices.count({ labels: { [SITE_LABEL]: site.id } });
    const budgetLeftMs =
      site.lastSyncAt === null ? null : Math.max(0, site.lastSyncAt + site.maxOfflineMs - now);
    let link: SiteView['link'] = 'never-enrolled';
    if (site.revokedAt !== null) link = 'revoked';
    else if (site.enrolledAt !== null) {
      if (site.lastSyncAt !== null && now - site.lastSyncAt <= CONNECTED_WITHIN_MS) link = 'connected';
      else if (budgetLeftMs === 0) link = 'over-budget';
      else link = 'offline';
    }
    return {
      id: site.id,
      name: site.name,
      link,
      enrolledAt: site.enrolledAt,
      lastSyncAt: site.lastSyncAt,
      backlog: site.backlog,
      maxOfflineMs: site.maxOfflineMs,
      budgetLeftMs,
      caNotAfter: site.caNotAfter,
      devices,
      conflicts: site.conflicts,
      revokedAt: site.revokedAt,
    };
  }
}

/** POST /api/v1/sites, parsed. */
export type CreateSiteRequest = z.output<typeof createSiteSchema>;

/** A site's own requests are recorded as actions of the site. */
function siteActor(siteId: string): OperatorContext {
  return { id: 'site', name: siteId, role: 'viewer' };
}
