import { X509Certificate } from 'node:crypto';
import { join } from 'node:path';
import {
  type CertificateGrant,
  type Clock,
  createCsr,
  type DeviceAuditAnchorReply,
  type DeviceCommandKind,
  EdgewardError,
  type Heartbeat,
  heartbeatReplyWithCommandsSchema,
  type Inventory,
  type IsolationState,
  importKeyPairPem,
  isEdgewardError,
  isoTime,
  type NewDeviceEvent,
  NOT_ISOLATED,
  PROTOCOL_VERSION,
  parseSpiffeId,
  pendingCommandsReplySchema,
  type RuleSignal,
  severityRank,
  systemClock,
} from '@edgeward/core';
import type { Logger } from 'pino';
import { AgentAuditChain } from '../audit/agent-audit-chain.ts';
import { createBaselineRunnerOnDemand } from '../baseline/baseline-on-demand.ts';
import { AuthLogCollector } from '../collectors/auth-log.collector.ts';
import { FimCollector } from '../collectors/fim.collector.ts';
import {
  agentStartedEvent,
  agentStoppedEvent,
  ClockJumpDetector,
  checkConfigChange,
} from '../collectors/health-events.ts';
import {
  type HostSnapshot,
  hostChangeEvents,
  hostSnapshot,
  type RunningExecutable,
  readRunningExecutables,
} from '../collectors/host-changes.ts';
import { CommandDispatcher, type DeviceCommandHandler } from '../commands/command-dispatcher.ts';
import { PushClient } from '../commands/push-client.ts';
import type { AgentConfig } from '../config/agent-config.ts';
import { LocalDetection } from '../detection/local-detection.ts';
import { type CapturedBundle, type CaptureTrigger, captureEvidence } from '../forensics/capture.ts';
import { captureCommandHandler } from '../forensics/capture-command.ts';
import { EvidenceUploader } from '../forensics/evidence-uploader.ts';
import { Forwarder } from '../forwarder/forwarder.ts';
import { AgentFiles, type AgentStateFile, type Enrollment } from '../identity/agent-files.ts';
import { type EnrollOptions, enrollAgent } from '../identity/enroll.ts';
import { execFileRunner } from '../inventory/command-runner.ts';
import { isolationCommandHandlers, isolationSpec } from '../isolation/isolation-commands.ts';
import { chooseEnforcer } from '../isolation/isolation-enforcer.ts';
import { IsolationManager } from '../isolation/isolation-state.ts';
import { type BaselineRunner, PolicyEnforcer } from '../policy/policy-enforcer.ts';
import { EventQueue } from '../queue/event-queue.ts';
import { ManagerClient } from '../transport/manager-client.ts';
import type { InstallHandler } from '../updates/install-handler.ts';
import type { Updater } from '../updates/updater.ts';
import { Backoff } from './backoff.ts';
import { InventoryReporter } from './inventory-reporter.ts';
import { exposedFullCollection, type FullCollection, MemoryReclaimer } from './memory-reclaimer.ts';

export type AgentState = 'starting' | 'enrolling' | 'running' | 'draining' | 'stopped' | 'failed';

const allowed: Record<AgentState, readonly AgentState[]> = {
  starting: ['enrolling', 'running', 'draining', 'failed'],
  enrolling: ['running', 'draining', 'failed'],
  running: ['draining', 'failed'],
  draining: ['stopped'],
  stopped: [],
  failed: ['stopped'],
};

/** Queue fill fractions at which pressure is reported, and after which it may be reported again. */
const QUEUE_PRESSURE_HIGH = 0.8;
const QUEUE_PRESSURE_LOW = 0.6;

/** Events that are security actions of the agent itself, and so entries of its own audit chain. */
const CHAINED_EVENTS = new Set([
  'agent.isolation_changed',
  'policy.bundle_applied',
  'policy.bundle_refused',
  'policy.remediated',
  'policy.remediation_failed',
]);

/** How many of its own latest events the agent keeps for a forensic capture. */
const RECENT_EVENTS_KEPT = 200;

/** Renew once this fraction of the certificate's validity has passed. */
export const RENEW_AFTER_FRACTION = 2 / 3;

export interface AgentDeps {
  readonly config: AgentConfig;
  readonly logger: Logger;
  readonly agentVersion: string;
  /** Reads the device's inventory (the real collector, or a synthetic one in the simulator). */
  readonly collectInventory: () => Promise<Inventory>;
  readonly clock?: Clock;
  /**
   * `system` runs the security collectors (authentication logs, file integrity) on `config.root`;
   * `none` leaves events to `emit` (the simulator, tests). Default `system`.
   */
  readonly eventSources?: 'system' | 'none';
  /** Evaluates and remediates policy checks; default the real baseline on `config.root`. */
  readonly baseline?: BaselineRunner;
  /** Enroll first when the data directory holds no enrollment (the simulator). */
  readonly enroll?: Omit<EnrollOptions, 'dataDir' | 'agentVersion' | 'reportIntervalMs' | 'timeoutMs'>;
  /**
   * Carry out the manager's commands (isolate, release); a kind without a handler is refused with
   * "this agent has no isolation enforcer configured".
   */
  readonly commandHandlers?: Partial<Record<DeviceCommandKind, DeviceCommandHandler>>;
  /** Installs updates (the simulator's synthetic slots); by default the handler `updateHandler` names. */
  readonly updateHandler?: InstallHandler;
  /**
   * Hands memory back after bursts of work (see MemoryReclaimer); by default V8's memory-reducing
   * collection when the process has `--expose-gc`, as under the device launcher, and none otherwise.
   */
  readonly fullCollection?: FullCollection;
}

/**
 * The device daemon's lifecycle: an explicit state machine (starting → enrolling? → running → draining →
 * stopped, or failed), a work loop that heartbeats, reports inventory and renews the certificate, and
 * retries with exponential backoff and jitter while the manager is unreachable. Signals belong to the
 * process runtime that calls `stop`, not to this object.
 */
export class Agent {
  readonly #deps: AgentDeps;
  readonly #files: AgentFiles;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #backoff: Backoff;
  readonly #inventory: InventoryReporter;
  readonly #memory: MemoryReclaimer;
  #state: AgentState = 'starting';
  #enrollment: Enrollment | undefined;
  #client: ManagerClient | undefined;
  #certificate: { notBefore: number; notAfter: number } | undefined;
  #loop: Promise<void> | undefined;
  #wake: (() => void) | undefined;
  #nextHeartbeatAt = 0;
  #nextInventoryAt = 0;
  #nextPolicyAt = 0;
  #nextCommandPollAt = Number.POSITIVE_INFINITY;
  #commands: CommandDispatcher | undefined;
  #isolation: IsolationManager | undefined;
  #isolationHandlers: ReturnType<typeof isolationCommandHandlers> | undefined;
  #push: PushClient | undefined;
  #tls: { ca: string; key: string; cert: string } | undefined;
  #policy: PolicyEnforcer | undefined;
  #detection: LocalDetection | undefined;
  #lastContactAt: number | null = null;
  #updater: Updater | undefined;
  #lastError: string | null = null;
  readonly #stateListeners = new Set<(state: AgentState) => void>();
  #queue: EventQueue | undefined;
  #forwarder: Forwarder | undefined;
  #collectors: { stop(): Promise<void> }[] = [];
  readonly #clockJump = new ClockJumpDetector();
  /** Listening ports and kernel modules at the last collection: all that host changes compare. */
  #previousHost: HostSnapshot | undefined;
  /**
   * Collected and not yet reported: while the manager is unreachable each retry sends this again rather
   * than reading the whole inventory again, which is done once per `inventoryIntervalMs`, offline too.
   * Kept as its JSON text, which takes about a third of the memory of its objects.
   */
  #unreportedInventory: string | undefined;
  #previousExecutables: RunningExecutable[] | undefined;
  #startedAt = 0;
  #queuePressure = false;
  #lastQueueSummary: Pick<AgentStateFile, 'queue' | 'lastEventAckAt'> = {};
  readonly #recentEvents: NewDeviceEvent[] = [];
  #evidence: EvidenceUploader | undefined;
  #chain: AgentAuditChain | undefined;

  constructor(deps: AgentDeps) {
    this.#deps = deps;
    this.#files = new AgentFiles(deps.config.dataDir);
    this.#clock = deps.clock ?? systemClock;
    this.#logger = deps.logger;
    this.#backoff = new Backoff({ initialMs: deps.config.retryInitialMs, maxMs: deps.config.retryMaxMs });
    this.#inventory = new InventoryReporter(this.#files);
    this.#memory = new MemoryReclaimer({ collect: deps.fullCollection ?? exposedFullCollection() });
  }

  get state(): AgentState {
    return this.#state;
  }

  get deviceId(): string | undefined {
    return this.#enrollment?.deviceId;
  }

  get lastContactAt(): number | null {
    return this.#lastContactAt;
  }

  get inventoryVersion(): number {
    return this.#inventory.version;
  }

  onStateChange(listener: (state: AgentState) => void): void {
    this.#stateListeners.add(listener);
  }

  async start(): Promise<void> {
    try {
      if (!(await this.#files.isEnrolled())) {
        if (this.#deps.enroll === undefined) await this.#files.requireEnrollment();
        else await this.#enroll();
      }
      if (this.#state !== 'starting' && this.#state !== 'enrolling') return;
      await this.#connect();
      const previous = await this.#files.readJson<AgentStateFile>('state.json');
      this.#lastContactAt = previous?.lastContactAt ?? null;
      if (this.#state !== 'starting' && this.#state !== 'enrolling') return;
      await this.#startEventPipeline();
      await this.#startIsolation();
      this.#startForensics();
      this.#startCommands();
      await this.#startUpdater();
      this.#transition('running');
      this.#loop = this.#run();
    } catch (error) {
      this.#lastError = (error as Error).message;
      // A stop during start is not a failure; `stop()` owns the state from then on.
      if (this.#state === 'starting' || this.#state === 'enrolling') {
        this.#transition('failed', { err: this.#lastError });
        await this.#persistState();
      }
      throw error;
    }
  }

  /** The policy in force and its latest results, for status and tests. */
  get policy(): PolicyEnforcer | undefined {
    return this.#policy;
  }

  /** Queue statistics and forwarding progress, for status and tests. */
  get events() {
    return { queue: this.#queue?.stats(), forwarder: this.#forwarder?.stats() };
  }

  /**
   * Writes events to the durable queue; they count as collected once this returns. A high or critical
   * event (every alert is one) wakes the forwarder, so it does not wait for the batch to fill.
   */
  async emit(events: readonly NewDeviceEvent[]): Promise<void> {
    const queue = this.#queue;
    if (queue === undefined || !queue.isOpen || events.length === 0) return;
    const result = queue.append(events);
    for (const event of result.accepted) await this.#chainEvent(event);
    this.#recentEvents.push(...result.accepted);
    if (this.#recentEvents.length > RECENT_EVENTS_KEPT) {
      this.#recentEvents.splice(0, this.#recentEvents.length - RECENT_EVENTS_KEPT);
    }
    this.#detection?.observe(result.accepted);
    if (result.accepted.some((event) => severityRank(event.severity) >= severityRank('high'))) {
      this.#forwarder?.wake();
    }
  }

  /** Records the agent's own security actions (isolation, policy, remediation, rule responses) in its chain. */
  async #chainEvent(event: NewDeviceEvent): Promise<void> {
    const chain = this.#chain;
    if (chain === undefined) return;
    const responding =
      event.type === 'alert.raised' &&
      event.data.update !== true &&
      Array.isArray(event.data.response) &&
      event.data.response.length > 0;
    if (!CHAINED_EVENTS.has(event.type) && !responding) return;
    // Canonical JSON has no `undefined`; a JSON round trip drops it as the wire does.
    const data = JSON.parse(JSON.stringify(event.data)) as Record<string, unknown>;
    await chain.record({
      kind: responding ? 'rule.response' : event.type,
      actor: responding ? `rule:${String(data.ruleId)}` : typeof data.by === 'string' ? data.by : 'agent',
      subject: this.#enrollment?.deviceId ?? 'unknown',
      details: responding
        ? {
            ruleId: data.ruleId,
            ruleTitle: data.ruleTitle,
            groupKey: data.groupKey,
            response: data.response,
            eventId: event.id ?? null,
          }
        : { eventId: event.id ?? null, ...data },
    });
  }

  /** The agent's own audit chain, for tests and status. */
  get auditChain(): AgentAuditChain | undefined {
    return this.#chain;
  }

  /** Opens the queue, records the start, and starts forwarding and the collectors. */
  async #startEventPipeline(): Promise<void> {
    const config = this.#deps.config;
    this.#chain = new AgentAuditChain({
      dir: join(config.dataDir, 'audit'),
      keyPem: () => this.#files.readKey(),
      now: () => this.#clock.now(),
      log: this.#logger.child({ module: 'audit' }),
    });
    const stateDir = join(config.dataDir, 'collectors');
    this.#queue = EventQueue.open({
      path: join(config.dataDir, 'queue.db'),
      queueMaxBytes: config.queueMaxBytes,
      clock: this.#clock,
    });
    this.#startedAt = this.#clock.now();
    const started = agentStartedEvent({
      time: this.#startedAt,
      version: this.#deps.agentVersion,
      pid: process.pid,
    });
    const changed = await checkConfigChange({ config: { ...config }, stateDir, time: this.#startedAt });
    await this.emit(changed === undefined ? [started] : [started, changed]);
    this.#forwarder = new Forwarder({
      queue: this.#queue,
      client: { post: (path, body) => this.#requireClient().post(path, body) },
      logger: this.#logger.child({ module: 'forwarder' }),
      clock: this.#clock,
      batchMaxBytes: config.batchMaxBytes,
      batchMaxAgeMs: config.batchMaxAgeMs,
      retryInitialMs: config.retryInitialMs,
      retryMaxMs: config.retryMaxMs,
      shutdownGraceMs: config.shutdownGraceMs,
      ...(config.uploadMaxBytesPerSecond > 0 ? { maxBytesPerSecond: config.uploadMaxBytesPerSecond } : {}),
    });
    this.#forwarder.start();
    await this.#startPolicy();
    if ((this.#deps.eventSources ?? 'system') === 'system') {
      const emit = (events: readonly NewDeviceEvent[]) => this.emit(events);
      const log = this.#logger.child({ module: 'collectors' });
      const now = () => this.#clock.now();
      const auth = new AuthLogCollector({
        stateDir,
        emit,
        root: config.root,
        files: config.authLogFiles,
        pollIntervalMs: config.authPollMs,
        now,
        log,
      });
      const fim = new FimCollector({
        paths: config.fimPaths,
        stateDir,
        emit,
        root: config.root,
        rescanIntervalMs: config.fimRescanMs,
        maxFiles: config.fimMaxFiles,
        now,
        log,
      });
      this.#collectors = [auth, fim];
      await Promise.all([auth.start(), fim.start()]);
    }
  }

  /**
   * The device's isolation, enforced again from disk before anything else talks to the network (the
   * rules vanish with a reboot), and the handlers of the isolate and release commands.
   */
  async #startIsolation(): Promise<void> {
    const config = this.#deps.config;
    const enrollment = this.#enrollment;
    if (config.isolation === 'off' || this.#deps.commandHandlers !== undefined || enrollment === undefined)
      return;
    const log = this.#logger.child({ module: 'isolation' });
    const { enforcer, reason } = await chooseEnforcer(config.isolation, undefined, { root: config.root });
    log.info({ mode: enforcer.mode, reason }, 'isolation enforcer');
    const isolation = new IsolationManager({
      dataDir: config.dataDir,
      enforcer,
      now: () => this.#clock.now(),
      log,
      emit: (change) =>
        this.emit([
          {
            type: 'agent.isolation_changed',
            severity: 'high',
            time: change.time,
            data: { ...change },
          },
        ]),
    });
    await isolation.start();
    this.#isolation = isolation;
    this.#isolationHandlers = isolationCommandHandlers(isolation, enrollment.managerUrl, () =>
      this.#clock.now(),
    );
  }

  /** Bundles waiting for upload survive a restart; the uploader starts with them. */
  #startForensics(): void {
    const config = this.#deps.config;
    this.#evidence = new EvidenceUploader({
      dir: join(config.dataDir, 'evidence'),
      certificatePem: () => this.#files.readText('cert.pem'),
      transport: () => this.#requireClient(),
      retryInitialMs: config.retryInitialMs,
      retryMaxMs: config.retryMaxMs,
      log: this.#logger.child({ module: 'evidence' }),
      onFinished: async (id, state) => {
        await this.#chain?.record({
          kind: state === 'verified' ? 'evidence.accepted' : 'evidence.refused',
          actor: 'manager',
          subject: `evidence/${id}`,
          details: { state },
        });
      },
    });
    this.#evidence.kick();
  }

  /** Collects a forensic bundle now, offline too, and hands it to the uploader. */
  async capture(
    trigger: CaptureTrigger,
    reason: string,
    files: readonly string[] = [],
  ): Promise<CapturedBundle> {
    const config = this.#deps.config;
    const deviceId = this.#enrollment?.deviceId;
    if (deviceId === undefined)
      throw new EdgewardError('EW_AGENT_NOT_ENROLLED', 'capture needs an enrolled agent');
    const bundle = await captureEvidence({
      root: config.root,
      dir: join(config.dataDir, 'evidence'),
      deviceId,
      signingKeyPem: await this.#files.readKey(),
      files: [...new Set([...config.captureFiles, ...files])],
      capBytes: config.captureMaxBytes,
      chunkBytes: config.captureChunkBytes,
      logTailBytes: config.captureLogTailBytes,
      authLogFiles: config.authLogFiles,
      recentEvents: () => [...this.#recentEvents],
      runCommand: config.root === '/' ? execFileRunner : undefined,
      now: () => this.#clock.now(),
      trigger,
      reason,
    });
    await this.#chain?.record({
      kind: 'evidence.captured',
      actor: trigger.kind === 'rule' ? `rule:${trigger.ruleId}` : 'manager',
      subject: `evidence/${bundle.manifest.id}`,
      details: {
        commandId: trigger.kind === 'command' ? trigger.commandId : null,
        sha256: bundle.manifest.sha256,
        totalBytes: bundle.manifest.totalBytes,
        items: bundle.manifest.items.length,
      },
    });
    this.#logger.info(
      {
        evidenceId: bundle.manifest.id,
        bytes: bundle.manifest.totalBytes,
        items: bundle.manifest.items.length,
        trigger: trigger.kind,
      },
      'evidence captured',
    );
    this.#evidence?.kick();
    return bundle;
  }

  /** Evidence uploads, for tests and status. */
  get evidence(): EvidenceUploader | undefined {
    return this.#evidence;
  }

  #isolationState(): IsolationState {
    const state = this.#isolation?.state();
    if (state === undefined) return NOT_ISOLATED;
    return { isolated: state.isolated, since: state.since, releaseAt: state.releaseAt, reason: state.reason };
  }

  /**
   * A local rule asked for a response, connected or not. `capture` comes first whatever the rule's order,
   * so the volatile data is read before isolation changes the network picture; then `isolate` cuts the
   * device off (keeping the manager), unless it is isolated already.
   */
  async #respond(signal: RuleSignal): Promise<void> {
    const log = this.#logger.child({ module: 'response' });
    if (signal.response.includes('capture')) {
      try {
        await this.capture(
          { kind: 'rule', ruleId: signal.ruleId },
          `rule ${signal.ruleTitle} (${signal.groupKey})`,
        );
      } catch (error) {
        log.error(
          { rule: signal.ruleId, err: (error as Error).message },
          'the rule could not capture evidence',
        );
      }
    }
    const isolation = this.#isolation;
    const managerUrl = this.#enrollment?.managerUrl;
    if (!signal.response.includes('isolate') || isolation === undefined || managerUrl === undefined) return;
    if (isolation.state().isolated) return;
    try {
      const spec = await isolationSpec(managerUrl, { allow: [], allowDns: false }, this.#clock.now());
      await isolation.isolate(spec, `rule ${signal.ruleTitle} (${signal.groupKey})`, `rule:${signal.ruleId}`);
    } catch (error) {
      log.error(
        { rule: signal.ruleId, err: (error as Error).message },
        'the rule could not isolate the device',
      );
    }
  }

  /** Commands arrive over the push connection, with heartbeat replies, and by polling when configured. */
  #startCommands(): void {
    const config = this.#deps.config;
    const log = this.#logger.child({ module: 'commands' });
    const commands = new CommandDispatcher({
      stateFile: join(config.dataDir, 'commands.json'),
      handlers: {
        capture: captureCommandHandler({
          capture: (trigger, reason, files) => this.capture(trigger, reason, files),
          isolation: () => this.#isolationState(),
        }),
        ...(this.#deps.commandHandlers ?? this.#isolationHandlers ?? {}),
      },
      report: async (result) => {
        await this.#requireClient().post(`/v1/commands/${result.commandId}/result`, result);
      },
      now: () => this.#clock.now(),
      log,
    });
    this.#commands = commands;
    if (config.commandPollMs !== undefined) this.#nextCommandPollAt = 0;
    if (!config.pushEnabled || this.#enrollment === undefined) return;
    this.#push = new PushClient({
      managerUrl: this.#enrollment.managerUrl,
      tls: () => {
        if (this.#tls === undefined)
          throw new EdgewardError('EW_INTERNAL', 'push started before TLS material');
        return this.#tls;
      },
      onCommand: (command) => void commands.offer([command]),
      onConnected: () => void commands.flushResults(),
      onUpdate: () => void this.#updater?.pollNow(),
      retryInitialMs: config.retryInitialMs,
      retryMaxMs: config.retryMaxMs,
      log,
    });
    this.#push.start();
  }

  /** Enforcement starts from the bundle on disk: it does not wait for the manager. */
  async #startPolicy(): Promise<void> {
    const config = this.#deps.config;
    const baseline =
      this.#deps.baseline ??
      createBaselineRunnerOnDemand({
        root: config.root,
        live: config.root === '/',
        now: () => this.#clock.now(),
      });
    const detection = new LocalDetection({
      dir: join(config.dataDir, 'policy'),
      deviceId: this.#enrollment?.deviceId ?? 'unknown',
      emit: (events) => this.emit(events),
      now: () => this.#clock.now(),
      log: this.#logger.child({ module: 'detection' }),
      allowedLatenessMs: config.ruleLatenessMs,
      maxGroupsPerRule: config.ruleMaxGroups,
      flushIntervalMs: config.ruleFlushMs,
      respond: (signal) => this.#respond(signal),
    });
    this.#detection = detection;
    this.#policy = new PolicyEnforcer({
      onBundle: (payload) => detection.load(payload.policy.rules),
      dir: join(config.dataDir, 'policy'),
      publicKeyPem: this.#enrollment?.policyPublicKeyPem,
      labels: this.#enrollment?.labels ?? {},
      runner: baseline,
      emit: (events) => this.emit(events),
      now: () => this.#clock.now(),
      log: this.#logger.child({ module: 'policy' }),
      root: config.root,
      remediationEnabled: config.remediation === 'auto',
      watch: (this.#deps.eventSources ?? 'system') === 'system',
    });
    await this.#policy.start();
  }

  /** Asks for a newer bundle, then hands over the latest results the manager has not confirmed. */
  async #syncPolicy(client: ManagerClient): Promise<void> {
    const policy = this.#policy;
    if (policy === undefined) return;
    if (this.#clock.now() >= this.#nextPolicyAt) {
      const inForce = policy.inForce;
      const query = inForce === undefined ? '' : `?version=${inForce.version}&issuedAt=${inForce.issuedAt}`;
      const reply = (await client.get<{ bundle?: unknown } | undefined>(`/v1/policy${query}`)).body;
      this.#contact();
      if (reply?.bundle !== undefined) await policy.offer(reply.bundle);
      // At a site, the site's signed overlay merges with the hub's bundle (docs/federation.md).
      if (policy.acceptsOverlay && parseSpiffeId(this.#enrollment?.spiffeId ?? '')?.site !== undefined) {
        const overlay = (await client.get<{ overlay?: unknown } | undefined>('/v1/policy/overlay')).body;
        if (overlay?.overlay !== undefined) await policy.offerOverlay(overlay.overlay);
      }
      this.#nextPolicyAt = this.#clock.now() + this.#deps.config.policyPollMs;
    }
    const report = policy.pendingReport();
    if (report !== undefined) {
      await client.post('/v1/compliance', report);
      await policy.reportDelivered(report);
    }
  }

  /** The device's updater, when updates are enabled (for status and tests). */
  get updater(): Updater | undefined {
    return this.#updater;
  }

  /**
   * Starts the updater when updates are enabled. Its module is small; the TUF client it needs is loaded
   * only when an update is pending.
   */
  async #startUpdater(): Promise<void> {
    const config = this.#deps.config;
    const enrollment = this.#enrollment;
    if (
      enrollment === undefined ||
      (config.updateHandler === 'none' && this.#deps.updateHandler === undefined)
    )
      return;
    const { handlerFromConfig, startUpdater } = await import('../updates/start-updater.ts');
    const handler = this.#deps.updateHandler ?? handlerFromConfig(config, () => this.#updater);
    if (handler === undefined) return;
    this.#updater = await startUpdater({
      config,
      handler,
      deviceId: enrollment.deviceId,
      managerUrl: enrollment.managerUrl,
      labels: enrollment.labels,
      tls: () => {
        if (this.#tls === undefined)
          throw new EdgewardError('EW_INTERNAL', 'the agent has no TLS material yet');
        return this.#tls;
      },
      client: {
        get: (path) => this.#requireClient().get(path),
        post: (path, body) => this.#requireClient().post(path, body),
      },
      clock: this.#clock,
      logger: this.#logger.child({ module: 'updater' }),
    });
  }

  async #stopEventPipeline(graceMs: number, reason: string): Promise<void> {
    await this.#updater?.stop();
    this.#push?.stop();
    await this.#commands?.idle();
    await this.#evidence?.stop();
    this.#isolation?.stop();
    await this.#policy?.stop();
    await this.#detection?.stop();
    await Promise.allSettled(this.#collectors.map((collector) => collector.stop()));
    this.#collectors = [];
    if (this.#queue?.isOpen) {
      const now = this.#clock.now();
      await this.emit([agentStoppedEvent({ time: now, reason, uptimeMs: now - this.#startedAt })]);
    }
    await this.#forwarder?.stop(graceMs);
    this.#queueSummary();
    this.#queue?.close();
  }

  #requireClient(): ManagerClient {
    if (this.#client === undefined)
      throw new EdgewardError('EW_INTERNAL', 'the agent has no manager client yet');
    return this.#client;
  }

  /** Finishes the work in flight within `graceMs`, then stops; the loop is abandoned after that. */
  async stop(graceMs = this.#deps.config.shutdownGraceMs, reason = 'stop requested'): Promise<void> {
    if (this.#state === 'stopped') return;
    if (this.#state !== 'failed') this.#transition('draining');
    this.#wake?.();
    if (this.#loop !== undefined) {
      let timer: NodeJS.Timeout | undefined;
      const forced = new Promise<'forced'>((resolve) => {
        timer = setTimeout(() => resolve('forced'), graceMs);
      });
      const outcome = await Promise.race([this.#loop.then(() => 'drained' as const), forced]);
      clearTimeout(timer);
      if (outcome === 'forced') this.#logger.warn({ graceMs }, 'shutdown grace period over; stopping now');
    }
    await this.#stopEventPipeline(graceMs, reason);
    this.#client?.close();
    this.#memory.stop();
    this.#transition('stopped');
    await this.#persistState();
  }

  async #enroll(): Promise<void> {
    this.#transition('enrolling');
    const enroll = this.#deps.enroll;
    if (enroll === undefined) return;
    const config = this.#deps.config;
    while (this.#state === 'enrolling') {
      try {
        await enrollAgent({
          ...enroll,
          dataDir: config.dataDir,
          agentVersion: this.#deps.agentVersion,
          reportIntervalMs: config.reportIntervalMs,
          timeoutMs: config.requestTimeoutMs,
        });
        this.#backoff.reset();
        return;
      } catch (error) {
        // Only an unreachable manager is worth retrying; a bad token or fingerprint will not get better.
        if (!isEdgewardError(error, 'EW_MANAGER_UNREACHABLE') || this.#state !== 'enrolling') throw error;
        const delay = this.#backoff.nextDelayMs();
        this.#logger.warn({ err: error.message, retryInMs: delay }, 'enrollment failed; retrying');
        await this.#sleep(delay);
      }
    }
    throw new EdgewardError('EW_AGENT_NOT_ENROLLED', 'the agent was stopped before its enrollment finished');
  }

  async #connect(): Promise<void> {
    this.#enrollment = await this.#files.requireEnrollment();
    const [keyPem, certPem, chainPem, caPem] = await Promise.all([
      this.#files.readKey(),
      this.#files.readText('cert.pem'),
      this.#files.readText('chain.pem'),
      this.#files.readText('ca.pem'),
    ]);
    const certificate = new X509Certificate(certPem);
    this.#certificate = {
      notBefore: Date.parse(certificate.validFrom),
      notAfter: Date.parse(certificate.validTo),
    };
    this.#tls = { ca: `${caPem}${chainPem}`, key: keyPem, cert: `${certPem}${chainPem}` };
    this.#client?.close();
    this.#client = new ManagerClient({
      managerUrl: this.#enrollment.managerUrl,
      ca: `${caPem}${chainPem}`,
      keyPem,
      certChainPem: `${certPem}${chainPem}`,
      timeoutMs: this.#deps.config.requestTimeoutMs,
    });
  }

  async #run(): Promise<void> {
    while (this.#state === 'running') {
      try {
        await this.#doDueWork();
        this.#backoff.reset();
        this.#lastError = null;
        await this.#persistState();
        this.#memory.workDone();
        await this.#sleep(
          Math.max(
            0,
            Math.min(
              this.#nextHeartbeatAt,
              this.#nextInventoryAt,
              this.#nextPolicyAt,
              this.#nextCommandPollAt,
            ) - this.#clock.now(),
          ),
        );
      } catch (error) {
        if (this.#state !== 'running') break;
        this.#lastError = (error as Error).message;
        await this.#persistState();
        if (isEdgewardError(error, 'EW_DEVICE_REVOKED')) {
          this.#push?.stop();
          this.#transition('failed', { err: error.message });
          return;
        }
        const delay = this.#backoff.nextDelayMs();
        this.#logger.warn({ err: this.#lastError, retryInMs: delay }, 'contact with the manager failed');
        // Cut off, the forwarder still reads a batch for each attempt: that memory goes back too.
        this.#memory.workDone();
        await this.#sleep(delay);
      }
    }
  }

  async #doDueWork(): Promise<void> {
    const client = this.#client;
    if (client === undefined) throw new EdgewardError('EW_INTERNAL', 'agent loop ran without a client');
    const config = this.#deps.config;
    const jump = this.#clockJump.tick();
    if (jump !== undefined) await this.emit([jump]);
    await this.#checkQueuePressure();
    // After a failed attempt the manager may still be out of reach: the heartbeat, a few hundred bytes,
    // finds out before an inventory is laid out and compressed for it. Cut off, each retry did that work
    // for nothing, which kept the agent's heap megabytes larger and sent the inventory into a dead link.
    if (this.#lastError !== null) await this.#heartbeat(client);
    if (this.#renewalDue()) await this.#renew(client);
    const now = this.#clock.now();
    if (now >= this.#nextInventoryAt) {
      const inventory = await this.#deps.collectInventory();
      if (this.#state !== 'running') return;
      await this.#emitHostChanges(inventory);
      this.#unreportedInventory = JSON.stringify(inventory);
      this.#nextInventoryAt = now + config.inventoryIntervalMs;
    }
    const unreported = this.#unreportedInventory;
    if (unreported !== undefined) {
      const sent = await this.#inventory.report(this.#client ?? client, JSON.parse(unreported) as Inventory);
      this.#unreportedInventory = undefined;
      if (sent) {
        this.#contact();
        this.#nextHeartbeatAt = now + config.reportIntervalMs;
      }
    }
    await this.#syncPolicy(this.#client ?? client);
    if (this.#clock.now() >= this.#nextHeartbeatAt) await this.#heartbeat(this.#client ?? client);
    await this.#uploadAuditChain(this.#client ?? client);
    if (config.commandPollMs !== undefined && this.#clock.now() >= this.#nextCommandPollAt) {
      const reply = await (this.#client ?? client).get('/v1/commands');
      this.#contact();
      this.#nextCommandPollAt = this.#clock.now() + config.commandPollMs;
      this.#offerCommands(pendingCommandsReplySchema.safeParse(reply.body).data?.commands);
    }
  }

  async #heartbeat(client: ManagerClient): Promise<void> {
    const config = this.#deps.config;
    const heartbeat: Heartbeat = {
      v: PROTOCOL_VERSION,
      agentVersion: this.#deps.agentVersion,
      reportIntervalMs: config.reportIntervalMs,
      sentAt: this.#clock.now(),
    };
    const reply = await client.post('/v1/heartbeat', heartbeat);
    this.#contact();
    this.#nextHeartbeatAt = this.#clock.now() + config.reportIntervalMs;
    const parsed = heartbeatReplyWithCommandsSchema.safeParse(reply.body).data;
    this.#offerCommands(parsed?.commands);
    // The site expects an outage that would outlast this certificate: renew before it starts.
    if (parsed?.renewCertificate === true) await this.#renew(this.#client ?? client);
  }

  /**
   * Sends the audit entries the manager has not anchored yet, with a checkpoint signed by the device key.
   * A refusal (the manager's copy no longer matches) is logged, not retried: it is evidence of tampering.
   */
  async #uploadAuditChain(client: ManagerClient): Promise<void> {
    const chain = this.#chain;
    if (chain === undefined) return;
    try {
      await chain.upload(
        async (body) => (await client.post<DeviceAuditAnchorReply>('/v1/audit', body)).body,
        await this.#files.readText('cert.pem'),
      );
    } catch (error) {
      if (!isEdgewardError(error, 'EW_DEVICE_AUDIT_DIVERGED')) throw error;
      this.#logger.error({ err: error.message }, 'the manager refused this device audit chain');
    }
  }

  /** Runs in the background: a long isolation must not hold up heartbeats and uploads. */
  #offerCommands(commands: Parameters<CommandDispatcher['offer']>[0] | undefined): void {
    const dispatcher = this.#commands;
    if (dispatcher === undefined) return;
    if (commands !== undefined && commands.length > 0) void dispatcher.offer(commands);
    else void dispatcher.flushResults();
  }

  /** New listening ports, kernel modules and running executables since the previous collection. */
  async #emitHostChanges(inventory: Inventory): Promise<void> {
    const previousInventory = this.#previousHost ?? (await this.#inventory.lastReported());
    const executables =
      (this.#deps.eventSources ?? 'system') === 'system'
        ? await readRunningExecutables(this.#deps.config.root)
        : [];
    await this.emit(
      hostChangeEvents({
        previousInventory,
        inventory,
        previousExecutables: this.#previousExecutables,
        executables,
        time: this.#clock.now(),
      }),
    );
    this.#previousHost = hostSnapshot(inventory);
    this.#previousExecutables = executables;
  }

  /**
   * One `agent.queue_pressure` event when the queue passes 80% of `queueMaxBytes` (the link has been down
   * long, or the device is noisier than its uplink), and again only after it fell below 60%.
   */
  async #checkQueuePressure(): Promise<void> {
    const queue = this.#queue;
    if (queue === undefined || !queue.isOpen) return;
    const stats = queue.stats();
    const fill = stats.bytes / this.#deps.config.queueMaxBytes;
    if (!this.#queuePressure && fill >= QUEUE_PRESSURE_HIGH) {
      this.#queuePressure = true;
      await this.emit([
        {
          type: 'agent.queue_pressure',
          severity: 'medium',
          time: this.#clock.now(),
          data: {
            bytes: stats.bytes,
            maxBytes: this.#deps.config.queueMaxBytes,
            events: stats.events,
            oldestTime: stats.oldestTime,
            lowSeverityPaused: stats.lowSeverityPaused,
          },
        },
      ]);
    } else if (this.#queuePressure && fill < QUEUE_PRESSURE_LOW) {
      this.#queuePressure = false;
    }
  }

  #renewalDue(): boolean {
    const certificate = this.#certificate;
    if (certificate === undefined) return false;
    const renewAt =
      certificate.notBefore + (certificate.notAfter - certificate.notBefore) * RENEW_AFTER_FRACTION;
    return this.#clock.now() >= renewAt;
  }

  /** A new certificate for the same device key, fetched over the current mTLS connection. */
  async #renew(client: ManagerClient): Promise<void> {
    const keys = await importKeyPairPem(await this.#files.readKey());
    const csrPem = await createCsr({ keys, commonName: this.#enrollment?.deviceId ?? '' });
    const grant = (await client.post<CertificateGrant>('/v1/renew', { v: PROTOCOL_VERSION, csrPem })).body;
    await this.#files.write('chain.pem', grant.chainPem);
    await this.#files.write('cert.pem', grant.certificatePem);
    await this.#connect();
    this.#push?.reconnect();
    this.#logger.info({ notAfter: isoTime(grant.notAfter) }, 'certificate renewed');
  }

  #contact(): void {
    this.#lastContactAt = this.#clock.now();
  }

  /** Waits `ms`, or less when `stop()` wakes it; returns at once once the agent is stopping. */
  #sleep(ms: number): Promise<void> {
    if (this.#state === 'draining' || this.#state === 'stopped') return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.#wake = done;
    });
  }

  #transition(next: AgentState, details: Record<string, unknown> = {}): void {
    if (next === this.#state) return;
    if (!allowed[this.#state].includes(next)) {
      throw new EdgewardError('EW_INTERNAL', `agent cannot go from ${this.#state} to ${next}`);
    }
    this.#logger.info({ from: this.#state, to: next, ...details }, 'agent state');
    this.#state = next;
    for (const listener of this.#stateListeners) listener(next);
  }

  /** The queue's figures for `agent status`; after the queue closed, the last ones it had. */
  #queueSummary(): Pick<AgentStateFile, 'queue' | 'lastEventAckAt'> {
    const queue = this.#queue;
    if (queue === undefined || !queue.isOpen) return this.#lastQueueSummary;
    const stats = queue.stats();
    this.#lastQueueSummary = {
      queue: {
        events: stats.events,
        bytes: stats.bytes,
        oldestTime: stats.oldestTime,
        lowSeverityPaused: stats.lowSeverityPaused,
      },
      lastEventAckAt: this.#forwarder?.stats().lastAckAt ?? null,
    };
    return this.#lastQueueSummary;
  }

  async #persistState(): Promise<void> {
    const state: AgentStateFile = {
      state: this.#state,
      pid: process.pid,
      updatedAt: this.#clock.now(),
      lastContactAt: this.#lastContactAt,
      lastError: this.#lastError,
      inventoryVersion: this.#inventory.version,
      ...this.#queueSummary(),
    };
    try {
      await this.#files.write('state.json', state);
    } catch (error) {
      this.#logger.warn({ err: (error as Error).message }, 'cannot write state.json');
    }
  }
}
