import { mkdir, readFile } from 'node:fs/promises';
import { hostname, networkInterfaces } from 'node:os';
import { join } from 'node:path';
import {
  type Clock,
  type CreatedEnrollmentTokenView,
  type CreatedOperatorView,
  EdgewardError,
  type LiveUpdate,
  syslogEvent,
  systemClock,
} from '@edgeward/core';
import { createStore, type Store } from '@edgeward/store';
import { loadDashboard } from '@edgeward/web';
import type { Logger } from 'pino';
import { type AlertDestination, createAlertDestinations } from './alerting/alert-destination.ts';
import { AlertRouter } from './alerting/alert-router.ts';
import { AlertDeliveryWorker } from './alerting/delivery-worker.ts';
import { AlertDigestScheduler } from './alerting/digest-scheduler.ts';
import { buildDeviceServer, type DeviceServer } from './api/device-server.ts';
import type { HttpsApp } from './api/http-errors.ts';
import { buildOperatorServer } from './api/operator-server.ts';
import type { ManagerConfig } from './config/manager-config.ts';
import { DeclaredOutages } from './federation/declared-outage.ts';
import { HubBundleCache } from './federation/hub-bundle-cache.ts';
import { openSiteIdentity, type SiteIdentity } from './federation/site-identity.ts';
import { SiteOverlayService } from './federation/site-overlay.service.ts';
import { SiteTufMirror } from './federation/site-tuf-mirror.ts';
import { SiteUplink } from './federation/site-uplink.ts';
import { openAuditSigningKey } from './pki/audit-key.ts';
import { FleetPki } from './pki/fleet-pki.ts';
import { openSessionKey } from './pki/session-key.ts';
import { AlertService } from './services/alert.service.ts';
import { AuditChainService } from './services/audit-chain.ts';
import { AuditTrail } from './services/audit-trail.ts';
import { ComplianceService } from './services/compliance.service.ts';
import { DetectionService } from './services/detection.service.ts';
import { DeviceService } from './services/device.service.ts';
import { DeviceAuditService } from './services/device-audit.service.ts';
import { DEVICE_COMMAND_CHANNEL, DeviceCommandService } from './services/device-command.service.ts';
import { EnrollmentService } from './services/enrollment.service.ts';
import { EnrollmentTokenService } from './services/enrollment-token.service.ts';
import { EventService } from './services/event.service.ts';
import { EvidenceService } from './services/evidence.service.ts';
import { FleetOverviewService } from './services/fleet-overview.service.ts';
import { IncidentService } from './services/incident.service.ts';
import { LIVE_UPDATE_CHANNEL, LiveFeed, relayPayload } from './services/live-feed.ts';
import { OperatorService } from './services/operator.service.ts';
import { systemOperator } from './services/operator-context.ts';
import { PolicyService } from './services/policy.service.ts';
import { RevocationService } from './services/revocation.service.ts';
import { SessionService } from './services/session.service.ts';
import { SiteService } from './services/site.service.ts';
import { auditSyslogEntry } from './syslog/audit-syslog-entry.ts';
import { SyslogForwarder } from './syslog/syslog-forwarder.ts';
import { SyslogListener, type SyslogListenerAddresses } from './syslog/syslog-listener.ts';
import { parseSyslogOutUrl } from './syslog/syslog-out-url.ts';
import { ArtifactService } from './updates/artifact.service.ts';
import { DeviceVersionService } from './updates/device-version.service.ts';
import { RolloutService } from './updates/rollout.service.ts';
import { TufRepository, type TufSource } from './updates/tuf-repository.ts';

/** How often events past `eventRetentionDays` are pruned (also once at start). */
const EVENT_PRUNE_INTERVAL_MS = 3_600_000;
/** How often quiet alerts are auto-resolved and ended suppressions lifted (also once at start). */
const ALERT_SWEEP_INTERVAL_MS = 60_000;

export interface ManagerDeps {
  readonly logger: Logger;
  readonly clock?: Clock;
  /** An already open store (tests); otherwise opened from `config.database`. */
  readonly store?: Store;
}

/** What the first start made: shown once, never stored in clear. */
export interface FirstStart {
  readonly adminToken: CreatedOperatorView;
  readonly enrollmentToken: CreatedEnrollmentTokenView;
}

export interface Manager {
  readonly config: ManagerConfig;
  readonly pki: FleetPki;
  readonly store: Store;
  readonly services: {
    readonly devices: DeviceService;
    readonly tokens: EnrollmentTokenService;
    readonly operators: OperatorService;
    readonly enrollment: EnrollmentService;
    readonly revocations: RevocationService;
    readonly events: EventService;
    readonly policies: PolicyService;
    readonly compliance: ComplianceService;
    readonly alerts: AlertService;
    readonly detection: DetectionService;
    readonly auditChain: AuditChainService;
    readonly commands: DeviceCommandService;
    readonly tuf: TufSource;
    readonly artifacts: ArtifactService;
    readonly rollouts: RolloutService;
    readonly versions: DeviceVersionService;
    readonly evidence: EvidenceService;
    readonly incidents: IncidentService;
    readonly deviceAudit: DeviceAuditService;
    /** A hub's sites, a region's lower sites (a plain site refuses to create any). */
    readonly sites: SiteService | undefined;
  };
  /** On a site: its link to the hub (runs between listen and close). */
  readonly siteUplink: SiteUplink | undefined;
  /** Alert notifications: the sender of queued deliveries and the digest scheduler (run between listen and close). */
  readonly alerting: {
    readonly destinations: readonly AlertDestination[];
    readonly sender: AlertDeliveryWorker;
    readonly digests: AlertDigestScheduler;
  };
  readonly deviceServer: DeviceServer;
  readonly operatorServer: HttpsApp;
  /** Syslog out, when `syslogOutUrl` is set: sends every recorded action to the SIEM. */
  readonly syslogOut: SyslogForwarder | undefined;
  /** Set when this start created the fleet's first admin. */
  readonly firstStart: FirstStart | undefined;
  /** Binds the ports; resolves to their URLs and the syslog ports (port 0 picks free ports). */
  listen(): Promise<{ deviceUrl: string; operatorUrl: string; syslog: SyslogListenerAddresses | undefined }>;
  close(): Promise<void>;
}

/** The composition root: builds the manager without binding a port or touching signals. */
export async function buildManager(givenConfig: ManagerConfig, deps: ManagerDeps): Promise<Manager> {
  const clock = deps.clock ?? systemClock;
  const logger = deps.logger;
  await mkdir(givenConfig.dataDir, { recursive: true, mode: 0o700 });
  // A site enrolls with its hub at its first start, and belongs to the hub's fleet from then on.
  const siteIdentity = await openSiteIdentityFor(givenConfig, logger);
  const config: ManagerConfig =
    siteIdentity === undefined ? givenConfig : { ...givenConfig, fleet: siteIdentity.fleet };
  const pki =
    siteIdentity === undefined
      ? (
          await FleetPki.open({
            dir: join(config.dataDir, 'pki'),
            fleet: config.fleet,
            serverNames: serverNamesFor(config),
            clock,
            logger: logger.child({ module: 'pki' }),
          })
        ).pki
      : await FleetPki.openSite({
          dir: join(config.dataDir, 'pki'),
          fleet: config.fleet,
          serverNames: serverNamesFor(config),
          files: siteIdentity.pkiFiles,
          clock,
          logger: logger.child({ module: 'pki' }),
        });
  const auditKey = await openAuditSigningKey(join(config.dataDir, 'pki'), logger.child({ module: 'pki' }));
  const sessionKey = await openSessionKey(join(config.dataDir, 'pki'));
  // Read before the store opens, so that a bad file stops the start without leaving the store open.
  const syslogOutCaPem = await readSyslogOutCa(config);
  const store =
    deps.store ??
    (await createStore({
      database: config.database,
      ...(config.databaseSchema === undefined ? {} : { schema: config.databaseSchema }),
    }));
  const syslogOut = buildSyslogForwarder(
    config,
    store,
    syslogOutCaPem,
    logger.child({ module: 'syslog-out' }),
    clock,
  );
  const auditChain = new AuditChainService({
    store,
    clock,
    key: auditKey,
    fleet: config.fleet,
    checkpointEvery: config.auditCheckpointEvery,
    checkpointMs: config.auditCheckpointMs,
    logger: logger.child({ module: 'audit' }),
  });
  // Chained and queued in the transaction that records the action: all land, or none.
  const audit = new AuditTrail(clock, async (tx, action) => {
    await auditChain.recordAction(tx, action);
    await syslogOut?.forward([auditSyslogEntry(action)], tx);
  });
  const revocations = new RevocationService({
    store,
    clock,
    pki,
    logger: logger.child({ module: 'revocation' }),
    crlValidityMs: config.crlValidityMs,
  });
  await revocations.publish();

  let deviceApiUrl = config.publicUrl ?? `https://${hostname()}:${config.devicePort}`;
  const enrollCommand = (token: string) =>
    `npx edgeward agent enroll --manager ${deviceApiUrl} --token ${token} --ca-fingerprint ${pki.caFingerprint} --data-dir ./agent-data`;
  const tokens = new EnrollmentTokenService({ store, clock, audit, enrollCommand });
  const operators = new OperatorService({ store, clock, audit });
  const enrollment = new EnrollmentService({
    store,
    clock,
    pki,
    tokens,
    audit,
    certificateValidityMs: () =>
      outages?.validityMs(config.deviceCertValidityMs) ?? config.deviceCertValidityMs,
    logger: logger.child({ module: 'enrollment' }),
  });
  let deviceServer: DeviceServer | undefined;
  const devices = new DeviceService({
    store,
    clock,
    pki,
    audit,
    revocations,
    logger: logger.child({ module: 'devices' }),
    disconnect: (deviceId) => deviceServer?.disconnect(deviceId),
  });
  let alertDestinations: AlertDestination[];
  try {
    alertDestinations = await createAlertDestinations(config.alertDestinations, {
      syslogOut,
      timeoutMs: config.alertDeliveryTimeoutMs,
      fleet: config.fleet,
    });
  } catch (error) {
    // A secret file that cannot be read stops the start without leaving the store open.
    if (deps.store === undefined) await store.close().catch(() => {});
    throw error;
  }
  const router = new AlertRouter({ destinations: alertDestinations, fleet: config.fleet });
  const alertLogger = logger.child({ module: 'alerts' });
  const sender = new AlertDeliveryWorker({
    store,
    clock,
    logger: alertLogger,
    destination: (name) => router.destination(name),
    pollMs: config.alertDeliveryPollMs,
    timeoutMs: config.alertDeliveryTimeoutMs,
    failingAfter: config.alertDeliveryFailingAfter,
    retryMinMs: config.alertDeliveryRetryMinMs,
    retryMaxMs: config.alertDeliveryRetryMaxMs,
  });
  const live = new LiveFeed({
    fleetCounts: () => devices.summary(),
    pollMs: config.liveFleetPollMs,
    coalesceMs: 200,
    logger: logger.child({ module: 'live' }),
  });
  // Replicas on one PostgreSQL database share updates through it; a lone process hands them over directly.
  const relayLive = (update: LiveUpdate) => {
    if (store.engine !== 'postgres') {
      live.receive(update);
      return;
    }
    store.notifications.notify(LIVE_UPDATE_CHANNEL, relayPayload(update)).catch((error: unknown) => {
      logger.warn(
        { err: error },
        'cannot share a live update with the other replicas; dashboards catch up at their next change',
      );
    });
  };
  const alerts = new AlertService({
    store,
    clock,
    audit,
    router,
    logger: alertLogger,
    autoResolveMs: config.alertAutoResolveMs,
    onQueued: () => sender.wake(),
    onChanged: (alertIds) => relayLive({ topic: 'alerts', alertIds }),
  });
  const digests = new AlertDigestScheduler({
    store,
    clock,
    logger: alertLogger,
    router,
    loadAlerts: (tx, ids) => alerts.loadViews(tx, ids),
    periodMs: { medium: config.alertDigestMediumMs, low: config.alertDigestLowMs },
  });
  const detection = new DetectionService({
    store,
    alerts,
    clock,
    logger: logger.child({ module: 'detection' }),
    statePath: join(config.dataDir, 'detection-state.json'),
    allowedLatenessMs: config.ruleLatenessMs,
    maxGroupsPerRule: config.ruleMaxGroups,
    scope: config.role,
  });
  const events = new EventService({
    store,
    clock,
    devices,
    logger: logger.child({ module: 'events' }),
    retentionDays: config.eventRetentionDays,
    onAlertEvents: (tx, deviceId, raised) => alerts.raiseFromEvents(tx, deviceId, raised),
    onStored: (deviceId, stored) => detection.observe(deviceId, stored),
  });
  const policies = new PolicyService({
    store,
    clock,
    pki,
    revocations,
    audit,
    logger: logger.child({ module: 'policy' }),
    onVersion: () => void detection.policyChanged(),
  });
  const commandLogger = logger.child({ module: 'commands' });
  const commands = new DeviceCommandService({
    store,
    clock,
    audit,
    devices,
    logger: commandLogger,
    // Replicas on one PostgreSQL database: the one holding the device's push connection sends it at once.
    announce: (deviceId) => store.notifications.notify(DEVICE_COMMAND_CHANNEL, deviceId),
    onChanged: (change) => relayLive({ topic: 'commands', ...change }),
  });
  const deviceAudit = new DeviceAuditService({
    store,
    record: (tx, input) => auditChain.record(tx, input),
    devices,
    logger: logger.child({ module: 'device-audit' }),
  });
  // A site serves its hub's bundle, kept on disk, to its devices.
  const hubBundles =
    siteIdentity === undefined
      ? undefined
      : new HubBundleCache({
          path: join(config.dataDir, 'hub-bundle.json'),
          publicKeyPem: pki.policyPublicKeyPem,
          logger: logger.child({ module: 'hub-bundle' }),
          store,
          onVersion: () => void detection.policyChanged(),
        });
  await hubBundles?.load();
  // A hub's sites; on a region, its lower sites, under the hub's bundle it holds (it signs none itself).
  const sites = new SiteService({
    store,
    clock,
    pki,
    audit,
    events,
    devices,
    alerts,
    commands,
    deviceAudit,
    policies:
      hubBundles === undefined
        ? policies
        : { currentBundle: async () => hubBundles.bundle, sitesChanged: async () => {} },
    logger: logger.child({ module: 'sites' }),
    startCommand: (site, token) =>
      `npx edgeward manager start --role site --upstream ${deviceApiUrl} --upstream-token ${token} --upstream-ca-fingerprint ${pki.caFingerprint} --data-dir ./site-${site}`,
    ...(siteIdentity === undefined ? {} : { ownMaxOfflineMs: siteIdentity.maxOfflineMs }),
  });
  const siteOverlays =
    siteIdentity === undefined || hubBundles === undefined
      ? undefined
      : new SiteOverlayService({
          store,
          clock,
          logger: logger.child({ module: 'overlay' }),
          bundles: hubBundles,
          siteId: siteIdentity.siteId,
          overlayPrivateKeyPem: siteIdentity.overlayKey.privateKeyPem,
          linkConnected: (): boolean => siteUplink?.reachesHubNow() === true,
          alerts,
        });
  const siteMirror =
    siteIdentity === undefined
      ? undefined
      : new SiteTufMirror({
          store,
          clock,
          logger: logger.child({ module: 'tuf-mirror' }),
          dir: join(config.dataDir, 'tuf-mirror'),
          artifactsDir: join(config.dataDir, 'artifacts'),
          timestampKey: siteIdentity.tufTimestampKey,
          timestampMs: config.tufTimestampTtlMs,
          maxBytes: config.siteArtifactCacheMaxBytes,
        });
  let caNotAfter = () => siteIdentity?.caNotAfter ?? 0;
  const outages =
    siteIdentity === undefined
      ? undefined
      : new DeclaredOutages({
          dataDir: config.dataDir,
          store,
          clock,
          maxOfflineMs: siteIdentity.maxOfflineMs,
          caNotAfter: () => caNotAfter(),
        });
  await outages?.load();
  const siteUplink =
    siteIdentity === undefined || hubBundles === undefined || outages === undefined
      ? undefined
      : new SiteUplink({
          store,
          clock,
          logger: logger.child({ module: 'uplink' }),
          identity: siteIdentity,
          pki,
          revocations,
          devices,
          bundles: hubBundles,
          outages,
          ...(siteOverlays === undefined ? {} : { overlays: siteOverlays }),
          commands,
          ...(siteMirror === undefined ? {} : { mirror: siteMirror }),
          dataDir: config.dataDir,
          serverNames: serverNamesFor(config),
          syncMs: config.upstreamSyncMs,
          batchEvents: config.upstreamBatchEvents,
          timeoutMs: config.upstreamTimeoutMs,
        });
  if (siteUplink !== undefined) caNotAfter = () => siteUplink.caNotAfter;
  const compliance = new ComplianceService({
    store,
    clock,
    devices,
    policies,
    logger: logger.child({ module: 'compliance' }),
  });
  sites?.useCompliance(compliance);
  const updateLogger = logger.child({ module: 'updates' });
  // A hub signs its own TUF repository; a site mirrors the hub's and signs only timestamps.
  const tuf: TufSource =
    siteMirror ??
    (await TufRepository.open({
      store,
      clock,
      logger: updateLogger,
      dir: join(config.dataDir, 'pki', 'tuf'),
      lifetimes: { timestampMs: config.tufTimestampTtlMs },
    }));
  if (tuf instanceof TufRepository) sites?.useTuf(tuf);
  const artifacts = new ArtifactService({
    store,
    clock,
    audit,
    tuf,
    dir: join(config.dataDir, 'artifacts'),
    logger: updateLogger,
  });
  const policyInForce = async () => {
    const head = await store.policies.head();
    return head === undefined ? undefined : policies.policyOf(head.version);
  };
  const rollouts = new RolloutService({
    store,
    clock,
    audit,
    artifacts,
    policy: policyInForce,
    logger: updateLogger,
  });
  sites?.useRollouts(rollouts);
  siteUplink?.useRollouts(rollouts);
  const versions = new DeviceVersionService({
    store,
    clock,
    rollouts,
    settings: async () => (await policyInForce())?.settings,
    logger: updateLogger,
  });
  const updates = { tuf, artifacts, rollouts, versions };
  const evidence = new EvidenceService({
    store,
    clock,
    custody: (tx, input) => auditChain.record(tx, input),
    devices,
    commands,
    dir: join(config.dataDir, 'evidence'),
    maxBundleBytes: config.evidenceMaxBytes,
    logger: logger.child({ module: 'evidence' }),
    changed: (deviceId) => relayLive({ topic: 'devices', deviceIds: [deviceId] }),
  });
  const incidents = new IncidentService({
    store,
    clock,
    audit,
    logger: logger.child({ module: 'incidents' }),
  });
  deviceServer = buildDeviceServer({
    updates,
    pki,
    revocations,
    enrollment,
    devices,
    events,
    policies: hubBundles ?? policies,
    compliance,
    commands,
    evidence,
    deviceAudit,
    ...(sites === undefined ? {} : { sites }),
    ...(outages === undefined ? {} : { renewalAdvice: (deviceId: string) => outages.shouldRenew(deviceId) }),
    ...(siteOverlays === undefined ? {} : { siteOverlay: () => siteOverlays.current() }),
    logger: logger.child({ module: 'device-api' }),
    bodyLimitBytes: config.bodyLimitBytes,
    pushPingMs: config.pushPingMs,
    now: () => clock.now(),
  });
  const operatorServer = buildOperatorServer({
    updates,
    pki,
    store,
    devices,
    events,
    tokens,
    operators,
    policies,
    compliance,
    alerts,
    auditChain,
    commands,
    evidence,
    incidents,
    deviceAudit,
    sessions: new SessionService({ store, clock, operators, key: sessionKey, ttlMs: config.sessionTtlMs }),
    overview: new FleetOverviewService({ store, clock }),
    live,
    dashboard: loadDashboard(),
    ...(sites === undefined ? {} : { sites }),
    ...(siteUplink === undefined || outages === undefined
      ? {}
      : {
          siteLink: {
            status: async () => ({
              ...siteUplink.status(),
              ...(siteMirror === undefined ? {} : { artifactCache: await siteMirror.status() }),
            }),
            declareOutage: (request) => outages.declare(request),
            overlay: async () => siteOverlays?.current(),
            publishOverlay: async (edits) => siteOverlays?.publish(edits),
          },
        }),
    get deviceApiUrl() {
      return deviceApiUrl;
    },
    logger: logger.child({ module: 'operator-api' }),
    bodyLimitBytes: config.bodyLimitBytes,
  });

  const syslogListener = buildSyslogListener(config, pki, events, logger.child({ module: 'syslog' }), clock);
  const timers: NodeJS.Timeout[] = [];
  let firstStart: FirstStart | undefined;
  // One prune at a time; close() waits for a running one so the store is not closed under it.
  let pruning: Promise<void> | undefined;
  const pruneEvents = () => {
    pruning ??= events
      .prune()
      .then(
        () => {},
        (error: unknown) => {
          logger.error({ err: error }, 'event pruning failed; it is retried at the next hourly run');
        },
      )
      .finally(() => {
        pruning = undefined;
      });
  };

  // One sweep and one digest run at a time; close() waits for them so the store is not closed under them.
  let alertHousekeeping: Promise<void> | undefined;
  const runAlertHousekeeping = (sweep: boolean) => {
    alertHousekeeping ??= (async () => {
      if (sweep) {
        await alerts.sweep().catch((error: unknown) => {
          alertLogger.error({ err: error }, 'alert sweep failed; it is retried at the next run');
        });
      }
      const queued = await digests.runDue().catch((error: unknown) => {
        alertLogger.error({ err: error }, 'alert digests failed; they are retried at the next run');
        return 0;
      });
      if (queued > 0) sender.wake();
    })().finally(() => {
      alertHousekeeping = undefined;
    });
  };

  let stopCommandAnnouncements: (() => Promise<void>) | undefined;
  let stopLiveRelay: (() => Promise<void>) | undefined;
  const onCommandAnnounced = (deviceId: string) => {
    // Every replica hears every announcement, the one that made it included; only the holder of the
    // device's push connection has anything to do.
    if (!deviceServer.push.isConnected(deviceId)) return;
    commands.pushOpen(deviceId).catch((error: unknown) => {
      commandLogger.warn(
        { err: error, deviceId },
        'cannot push an announced command; the device gets it at its next heartbeat',
      );
    });
  };

  return {
    config,
    pki,
    store,
    services: {
      devices,
      tokens,
      operators,
      enrollment,
      revocations,
      events,
      policies,
      compliance,
      alerts,
      detection,
      auditChain,
      commands,
      ...updates,
      evidence,
      incidents,
      deviceAudit,
      sites,
    },
    siteUplink,
    alerting: { destinations: alertDestinations, sender, digests },
    deviceServer,
    operatorServer,
    syslogOut,
    get firstStart() {
      return firstStart;
    },
    async listen() {
      // Before the device port opens: a device that connects is then sure to hear of later commands.
      stopCommandAnnouncements = await store.notifications.listen(
        DEVICE_COMMAND_CHANNEL,
        onCommandAnnounced,
        (error) => {
          commandLogger.warn(
            { err: error },
            "lost the database connection that hears of other replicas' commands; reconnecting (devices get commands at their heartbeat meanwhile)",
          );
        },
      );
      if (store.engine === 'postgres') {
        stopLiveRelay = await store.notifications.listen(
          LIVE_UPDATE_CHANNEL,
          (payload) => {
            try {
              live.receive(JSON.parse(payload) as LiveUpdate);
            } catch (error) {
              logger.warn({ err: error }, 'ignored a live update from another replica that is not JSON');
            }
          },
          (error) => {
            logger.warn(
              { err: error },
              'lost the database connection that shares live updates; reconnecting',
            );
          },
        );
      }
      const deviceAddress = await deviceServer.app.listen({ host: config.host, port: config.devicePort });
      const operatorAddress = await operatorServer.listen({ host: config.host, port: config.operatorPort });
      if (config.publicUrl === undefined) {
        const port = new URL(deviceAddress).port;
        deviceApiUrl = `https://${hostname()}:${port}`;
      }
      // Before the first start's writes, so that the SIEM hears of the first admin without a poll's delay.
      syslogOut?.start();
      const adminToken = await operators.bootstrapAdmin(systemOperator);
      if (adminToken !== undefined) {
        const enrollmentToken = await tokens.create(systemOperator, {}, config.enrollmentTokenTtlMs);
        firstStart = { adminToken, enrollmentToken };
      }
      const maxAge = config.crlRefreshMs;
      timers.push(
        setInterval(
          () => {
            revocations.refreshIfNeeded(maxAge).catch((error: unknown) => {
              logger.error(
                { err: error },
                'CRL refresh failed; the current CRLs stay in force until they expire',
              );
            });
          },
          Math.min(config.revocationPollMs, maxAge),
        ).unref(),
      );
      pruneEvents();
      timers.push(setInterval(pruneEvents, EVENT_PRUNE_INTERVAL_MS).unref());
      sender.start();
      auditChain.start();
      runAlertHousekeeping(true);
      await detection.start();
      timers.push(setInterval(() => void detection.tick(), config.detectionTickMs).unref());
      // A restarted manager resumes its running rollouts from the store at the first tick.
      rollouts.wake();
      timers.push(setInterval(() => rollouts.wake(), config.rolloutTickMs).unref());
      timers.push(
        setInterval(
          () => {
            tuf.refreshIfDue().catch((error: unknown) => {
              updateLogger.error(
                { err: error },
                'TUF timestamp re-signing failed; it is retried at the next run',
              );
            });
          },
          Math.min(config.tufTimestampTtlMs / 4, 3_600_000),
        ).unref(),
      );
      let lastSweepAt = performance.now();
      timers.push(
        setInterval(() => {
          const sweep = performance.now() - lastSweepAt >= ALERT_SWEEP_INTERVAL_MS;
          if (sweep) lastSweepAt = performance.now();
          runAlertHousekeeping(sweep);
        }, config.alertDeliveryPollMs).unref(),
      );
      const syslog = await syslogListener?.listen();
      await siteUplink?.start();
      return { deviceUrl: deviceAddress, operatorUrl: operatorAddress, syslog };
    },
    async close() {
      for (const timer of timers) clearInterval(timer);
      await rollouts.idle();
      await siteUplink?.stop();
      await stopCommandAnnouncements?.();
      await stopLiveRelay?.();
      await Promise.allSettled([
        deviceServer.app.close(),
        operatorServer.close(),
        pruning,
        alertHousekeeping,
        sender.stop(),
        auditChain.stop(),
        syslogListener?.close(),
      ]);
      // After the listeners: no batch can arrive any more while the windows are saved.
      await detection.close();
      // After the alert sender and housekeeping, which may still queue syslog entries.
      await Promise.allSettled([
        syslogOut?.stop(),
        ...alertDestinations.map((destination) => destination.close()),
      ]);
      if (deps.store === undefined) await store.close();
    },
  };
}

/**
 * Syslog in, when a port is configured: each sending address becomes a device record labelled `legacy`,
 * and each message a `syslog.message` event of it.
 */
function buildSyslogListener(
  config: ManagerConfig,
  pki: FleetPki,
  events: EventService,
  logger: Logger,
  clock: Clock,
): SyslogListener | undefined {
  const endpoint = (port: number | undefined) =>
    port === undefined ? undefined : { host: config.host, port };
  const udp = endpoint(config.syslogUdpPort);
  const tcp = endpoint(config.syslogTcpPort);
  const tls = endpoint(config.syslogTlsPort);
  if (udp === undefined && tcp === undefined && tls === undefined) return undefined;
  return new SyslogListener({
    ...(udp === undefined ? {} : { udp }),
    ...(tcp === undefined ? {} : { tcp }),
    ...(tls === undefined ? {} : { tls: { ...tls, ...pki.serverCredentials } }),
    maxMessageBytes: config.syslogMaxMessageBytes,
    maxConnections: config.syslogMaxConnections,
    logger,
    clock,
    onMessages: async (source, messages) => {
      let name = source.address;
      for (const message of messages) {
        if (message.format !== 'malformed' && message.hostname !== null) {
          name = message.hostname;
          break;
        }
      }
      await events.ingestFromSource(
        {
          deviceId: `legacy-${source.address.replace(/[^A-Za-z0-9]+/g, '-')}`,
          name,
          labels: { legacy: 'true', address: source.address },
        },
        messages.map((message) =>
          syslogEvent(message, source.receivedAt, { address: source.address, transport: source.transport }),
        ),
      );
    },
  });
}

/** Syslog out, when a SIEM is configured; it runs between listen() and close(). */
function buildSyslogForwarder(
  config: ManagerConfig,
  store: Store,
  caPem: string | undefined,
  logger: Logger,
  clock: Clock,
): SyslogForwarder | undefined {
  if (config.syslogOutUrl === undefined) return undefined;
  const target = parseSyslogOutUrl(config.syslogOutUrl);
  // The config schema accepted the URL, so this is unreachable; it keeps the types honest.
  if (target === undefined) {
    throw new EdgewardError(
      'EW_CONFIG_INVALID',
      `syslogOutUrl ${JSON.stringify(config.syslogOutUrl)} is invalid; use tcp://HOST:PORT or tls://HOST:PORT`,
    );
  }
  return new SyslogForwarder({
    store,
    target,
    ...(caPem === undefined ? {} : { caPem }),
    hostname: hostname(),
    appName: config.syslogOutAppName,
    procId: String(process.pid),
    maxQueued: config.syslogOutMaxQueued,
    logger,
    clock,
  });
}

async function readSyslogOutCa(config: ManagerConfig): Promise<string | undefined> {
  const file = config.syslogOutCaFile;
  if (file === undefined) return undefined;
  let pem: string;
  try {
    pem = await readFile(file, 'utf8');
  } catch (error) {
    throw new EdgewardError(
      'EW_CONFIG_INVALID',
      `syslogOutCaFile names ${file}, which cannot be read (${(error as Error).message}); point it at a PEM file with the CA certificates of the SIEM`,
      { cause: error },
    );
  }
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) {
    throw new EdgewardError(
      'EW_CONFIG_INVALID',
      `syslogOutCaFile ${file} holds no PEM certificate; it needs the CA certificates (-----BEGIN CERTIFICATE-----) that verify the SIEM`,
    );
  }
  return pem;
}

/** On a site: its identity at the hub, enrolling at the first start. */
async function openSiteIdentityFor(config: ManagerConfig, logger: Logger): Promise<SiteIdentity | undefined> {
  if (config.role !== 'site' || config.upstreamUrl === undefined) return undefined;
  return openSiteIdentity({
    dataDir: config.dataDir,
    upstreamUrl: config.upstreamUrl,
    upstreamToken: config.upstreamToken,
    upstreamCaFingerprint: config.upstreamCaFingerprint,
    serverNames: serverNamesFor(config),
    timeoutMs: config.upstreamTimeoutMs,
    logger: logger.child({ module: 'site' }),
  });
}

/** The server certificate covers the local host's names and addresses, plus configured ones. */
function serverNamesFor(config: ManagerConfig): string[] {
  const addresses = Object.values(networkInterfaces())
    .flat()
    .filter((entry) => entry !== undefined)
    .map((entry) => entry.address.split('%')[0] ?? entry.address);
  const names = new Set(['localhost', hostname(), '127.0.0.1', '::1', ...addresses, ...config.serverNames]);
  if (config.host !== '0.0.0.0' && config.host !== '::') names.add(config.host);
  if (config.publicUrl !== undefined) names.add(new URL(config.publicUrl).hostname.replace(/^\[|\]$/g, ''));
  return [...names].sort();
}
