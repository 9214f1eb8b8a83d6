import { randomUUID } from 'node:crypto';
import {
  activeMaintenanceWindow,
  type Clock,
  type CompiledPolicy,
  type CreateRolloutSpec,
  countPhase,
  type DeviceRecord,
  type DeviceRolloutState,
  deviceRolloutStates,
  EdgewardError,
  evaluatePhaseGates,
  IN_PROGRESS_STATES,
  matchesSelector,
  parsePhases,
  phaseLabel,
  planPhases,
  type RolloutDryRunView,
  type RolloutPhaseView,
  type RolloutState,
  type RolloutView,
  type Severity,
  type SiteRolloutReport,
  type SiteRolloutsReply,
  segmentOf,
  severities,
  severityRank,
  targetPathOf,
  type UpdateAssignment,
  type UpdateReport,
} from '@edgeward/core';
import type { RolloutDeviceRecord, RolloutRecord, Store } from '@edgeward/store';
import type { Logger } from 'pino';
import type { AuditTrail } from '../services/audit-trail.ts';
import { type OperatorContext, systemOperator } from '../services/operator-context.ts';
import { SITE_LABEL } from '../services/site.service.ts';
import type { ArtifactService } from './artifact.service.ts';

/** Wall-clock gap between two ticks started by wake(), ms: results arriving together share one tick. */
const MIN_TICK_GAP_MS = 200;

/** Devices read per page when a rollout selects its devices. */
const DEVICE_PAGE = 1000;

/**
 * Which rollout states an operator action may start from. Every transition is guarded in the store
 * (`UPDATE … WHERE state IN (…)`), so two replicas or a timer racing an operator cannot both win.
 */
const operatorTransitions = {
  start: { from: ['created'], to: 'running' },
  pause: { from: ['running'], to: 'paused' },
  resume: { from: ['paused'], to: 'running' },
  abort: { from: ['created', 'running', 'paused'], to: 'aborted' },
  rollback: { from: ['running', 'paused', 'completed', 'aborted'], to: 'rolled-back' },
} as const satisfies Record<string, { from: readonly RolloutState[]; to: RolloutState }>;
export type RolloutAction = keyof typeof operatorTransitions;

/** What a device's report moves its rollout row to, and from which states. */
const reportTransitions: Record<
  UpdateReport['state'],
  { from: readonly DeviceRolloutState[]; to: DeviceRolloutState }
> = {
  downloading: { from: ['assigned', 'downloading'], to: 'downloading' },
  verified: { from: ['assigned', 'downloading', 'verified'], to: 'verified' },
  installing: { from: ['assigned', 'downloading', 'verified', 'installing'], to: 'installing' },
  'awaiting-health': {
    from: ['assigned', 'downloading', 'verified', 'installing', 'awaiting-health'],
    to: 'awaiting-health',
  },
  // A device that finishes after it was skipped still counts: it did install.
  committed: { from: ['assigned', ...IN_PROGRESS_STATES, 'skipped'], to: 'committed' },
  failed: { from: ['assigned', ...IN_PROGRESS_STATES, 'skipped'], to: 'failed' },
  'rolled-back': {
    from: ['assigned', ...IN_PROGRESS_STATES, 'committed', 'rollback', 'skipped'],
    to: 'rolled-back',
  },
};

/** Devices that took (or are taking) the update and must go back when the rollout is aborted. */
const TOOK_UPDATE: readonly DeviceRolloutState[] = ['installing', 'awaiting-health', 'committed'];
/** Devices that had not installed yet: they never start once the rollout stops. */
const NOT_STARTED: readonly DeviceRolloutState[] = ['pending', 'assigned', 'downloading', 'verified'];

/**
 * Staged rollouts as a persisted state machine: created → running ⇄ paused → completed, or aborted /
 * rolled-back. The state, the current phase and every device's part live in the store, so a restarted
 * manager resumes from there. `tick` drives running rollouts: it offers the current phase's devices
 * (inside their maintenance window, under the per-site cap), marks devices skipped past the offline
 * deadline, and evaluates the phase gates; a breach aborts the rollout, so the devices that took the
 * update roll back and the others never start. Devices learn their part by polling `GET /v1/update`.
 */
export class RolloutService {
  readonly #store: Store;
  readonly #clock: Clock;
  readonly #audit: AuditTrail;
  readonly #artifacts: ArtifactService;
  readonly #policy: () => Promise<CompiledPolicy | undefined>;
  readonly #logger: Logger;
  #ticking: Promise<void> | undefined;
  #tickAgain = false;
  #wakeTimer: NodeJS.Timeout | undefined;
  #lastTickAt = 0;
  #nudge: (deviceId: string, rolloutId: string) => boolean = () => false;

  constructor(deps: {
    store: Store;
    clock: Clock;
    audit: AuditTrail;
    artifacts: ArtifactService;
    /** The policy in force (maintenance windows, segments), undefined when none is applied. */
    policy: () => Promise<CompiledPolicy | undefined>;
    logger: Logger;
  }) {
    this.#store = deps.store;
    this.#clock = deps.clock;
    this.#audit = deps.audit;
    this.#artifacts = deps.artifacts;
    this.#policy = deps.policy;
    this.#logger = deps.logger;
  }

  /**
   * Set by the device listener: tells a connected device to poll now when its turn comes or it must roll
   * back. Devices without a push connection (or on another replica) learn it at their next poll.
   */
  usePush(nudge: (deviceId: string, rolloutId: string) => boolean): void {
    this.#nudge = nudge;
  }

  /** Creates a rollout (state `created`), or with `dryRun` only shows its plan. */
  async create(operator: OperatorContext, spec: CreateRolloutSpec): Promise<RolloutView | RolloutDryRunView> {
    const phases = parsePhases(spec.phases);
    const artifact = await this.#artifacts.require(spec.artifact.name, spec.artifact.version);
    // Devices whose labels do not carry the artifact's compat pairs are left out (and would refuse it).
    const devices = (await this.#selectDevices(spec)).filter((device) =>
      Object.entries(artifact.compat).every(([key, value]) => device.labels[key] === value),
    );
    if (devices.length === 0) {
      throw new EdgewardError(
        'EW_ROLLOUT_INVALID',
        `the selector ${JSON.stringify(spec.selector)} matches no active device compatible with ${JSON.stringify(artifact.compat)}; check the labels with \`edgeward devices list\``,
      );
    }
    const plan = planPhases(
      devices.map((device) => device.id),
      phases,
    );
    if (spec.dryRun) {
      const policy = spec.respectWindows ? await this.#policy() : undefined;
      const now = this.#clock.now();
      return {
        phases: plan.map((deviceIds, index) => ({
          label: phaseLabel(phases[index] ?? phases[0]!),
          deviceIds,
        })),
        canaries: phases[0]?.kind === 'canary' ? (plan[0] ?? []) : [],
        outsideWindow:
          policy === undefined
            ? []
            : devices.filter((device) => !insideWindow(policy, device, now)).map((device) => device.id),
      };
    }
    const now = this.#clock.now();
    const record: RolloutRecord = {
      id: `ro-${randomUUID()}`,
      spec: { ...spec, dryRun: false },
      state: 'created',
      currentPhase: 0,
      phaseStartedAt: null,
      reason: null,
      createdAt: now,
      createdBy: operator.name,
      updatedAt: now,
    };
    const labelsOf = new Map(devices.map((device) => [device.id, device.labels]));
    const rows = plan.flatMap((deviceIds, phase) =>
      deviceIds.map((deviceId) => ({
        deviceId,
        phase,
        site: labelsOf.get(deviceId)?.[spec.siteLabel] ?? '',
        state: 'pending' as const,
        assignedAt: null,
        finishedAt: null,
        detail: '',
        updatedAt: now,
      })),
    );
    await this.#store.transaction(async (store) => {
      await this.#artifacts.checkFloor(
        store,
        operator,
        artifact.name,
        artifact.version,
        spec.belowFloorReason,
      );
      await store.rollouts.create(record, rows);
      await this.#audit.record(store, operator, 'rollout.create', record.id, {
        artifact: `${artifact.name}@${artifact.version}`,
        selector: spec.selector,
        phases: spec.phases,
        gates: spec.gates,
        devices: rows.length,
        canaries: phases[0]?.kind === 'canary' ? (plan[0] ?? []) : [],
      });
    });
    this.#logger.info({ rolloutId: record.id, devices: rows.length }, 'rollout created');
    return this.status(record.id);
  }

  /** start, pause, resume, abort or rollback, as an operator asks. */
  async act(
    operator: OperatorContext,
    id: string,
    action: RolloutAction,
    reason?: string,
  ): Promise<RolloutView> {
    const rollout = await this.#require(id);
    const transition = operatorTransitions[action];
    const now = this.#clock.now();
    await this.#store.transaction(async (store) => {
      const moved = await store.rollouts.transition(id, transition.from, {
        state: transition.to,
        updatedAt: now,
        ...(action === 'start' ? { phaseStartedAt: now } : {}),
        ...(reason === undefined ? {} : { reason }),
      });
      if (!moved) {
        throw new EdgewardError(
          'EW_ROLLOUT_STATE_CONFLICT',
          `rollout ${id} is ${rollout.state}; ${action} needs it ${transition.from.join(' or ')}`,
        );
      }
      if (action === 'abort')
        await this.#stopDevices(store, id, now, reason ?? `aborted by ${operator.name}`);
      if (action === 'rollback')
        await this.#rollBackDevices(store, id, now, reason ?? `rolled back by ${operator.name}`);
      await this.#audit.record(store, operator, `rollout.${action}`, id, {
        from: rollout.state,
        to: transition.to,
        ...(reason === undefined ? {} : { reason }),
      });
    });
    this.#logger.info({ rolloutId: id, action, by: operator.name }, 'rollout state changed');
    if (action === 'abort' || action === 'rollback') await this.#nudgeRollbacks(id);
    this.wake();
    return this.status(id);
  }

  async list(limit = 50): Promise<{ rollouts: RolloutView[] }> {
    const records = await this.#store.rollouts.list(limit);
    return { rollouts: await Promise.all(records.map((record) => this.#view(record))) };
  }

  async status(id: string): Promise<RolloutView> {
    return this.#view(await this.#require(id));
  }

  /** The devices of a rollout with their state and detail. */
  async devices(id: string): Promise<{ devices: RolloutDeviceRecord[] }> {
    await this.#require(id);
    return { devices: await this.#store.rollouts.devices(id) };
  }

  /** GET /v1/update: the device's open part in a rollout, if any. */
  async assignmentFor(deviceId: string): Promise<UpdateAssignment> {
    const open = await this.#store.rollouts.openForDevice(deviceId);
    if (open === undefined) return { v: 1, update: null };
    const { name, version } = open.rollout.spec.artifact;
    const update = { rolloutId: open.rolloutId, name, version, targetPath: targetPathOf(name, version) };
    if (open.state === 'rollback') return { v: 1, update: { ...update, action: 'rollback' } };
    // Paused: devices under way finish, devices that have not started wait.
    if (open.rollout.state === 'paused' && open.state === 'assigned') return { v: 1, update: null };
    if (open.rollout.state !== 'running' && open.rollout.state !== 'paused') return { v: 1, update: null };
    return { v: 1, update: { ...update, action: 'install' } };
  }

  /** POST /v1/update/report: moves the device's row if the report follows from its state; else ignored. */
  async report(deviceId: string, report: UpdateReport): Promise<{ accepted: boolean }> {
    const transition = reportTransitions[report.state];
    const finished =
      report.state === 'committed' || report.state === 'failed' || report.state === 'rolled-back';
    const moved = await this.#store.rollouts.moveDevices(
      report.rolloutId,
      [deviceId],
      transition.from,
      transition.to,
      this.#clock.now(),
      { detail: report.detail, finished },
    );
    // Only a report that moved nothing needs the row read: to tell a repeat from a stranger.
    if (moved === 0 && (await this.#store.rollouts.device(report.rolloutId, deviceId)) === undefined) {
      throw new EdgewardError(
        'EW_ROLLOUT_NOT_FOUND',
        `device ${deviceId} has no part in rollout ${report.rolloutId}`,
      );
    }
    if (moved > 0 && finished) {
      this.#logger.debug(
        { deviceId, rolloutId: report.rolloutId, state: report.state },
        'device finished its update',
      );
      this.wake();
    }
    return { accepted: moved > 0 };
  }

  /**
   * The device fell back from a version it had committed (boot attempts exhausted, or a later failed
   * health check): the manager stops counting it as updated.
   */
  async deviceFellBack(deviceId: string, name: string, fellBackFrom: string, detail: string): Promise<void> {
    const rollouts = await this.#store.rollouts.list(1000);
    for (const rollout of rollouts) {
      if (rollout.spec.artifact.name !== name || rollout.spec.artifact.version !== fellBackFrom) continue;
      const moved = await this.#store.rollouts.moveDevices(
        rollout.id,
        [deviceId],
        ['committed', ...IN_PROGRESS_STATES],
        'rolled-back',
        this.#clock.now(),
        { detail, finished: true },
      );
      if (moved > 0) {
        this.#logger.warn(
          { deviceId, rolloutId: rollout.id, fellBackFrom },
          'device fell back from the update',
        );
        this.wake();
      }
    }
  }

  /**
   * On a hub: its started rollouts with devices among `deviceIds` (a site's), those devices and their
   * phase, newest first.
   */
  async forSite(deviceIds: ReadonlySet<string>): Promise<SiteRolloutsReply['rollouts']> {
    const relayed: SiteRolloutsReply['rollouts'][number][] = [];
    for (const rollout of await this.#store.rollouts.list(100)) {
      // Not yet started, or finished everywhere (so at the site too): nothing for the site to do.
      if (rollout.state === 'created' || rollout.state === 'completed') continue;
      const devices = (await this.#store.rollouts.devices(rollout.id))
        .filter((device) => deviceIds.has(device.deviceId))
        .map((device) => ({ deviceId: device.deviceId, phase: device.phase }));
      if (devices.length === 0) continue;
      relayed.push({
        id: rollout.id,
        spec: rollout.spec,
        state: rollout.state,
        reason: rollout.reason,
        devices,
      });
    }
    return relayed;
  }

  /**
   * On a hub: a site says where its devices stand. The hub's row follows the site's, whatever it was,
   * because the site runs them; a finished device wakes the gates.
   */
  async siteReport(deviceIds: ReadonlySet<string>, report: SiteRolloutReport): Promise<{ moved: number }> {
    const now = this.#clock.now();
    let moved = 0;
    let finished = false;
    for (const entry of report.devices) {
      if (!deviceIds.has(entry.deviceId)) {
        throw new EdgewardError(
          'EW_SITE_DEVICE_FOREIGN',
          `device ${entry.deviceId} is not a device of this site; only its own devices' rollout states are taken`,
        );
      }
      const done = FINISHED.includes(entry.state);
      const count = await this.#store.rollouts.moveDevices(
        entry.rolloutId,
        [entry.deviceId],
        deviceRolloutStates.filter((state) => state !== entry.state),
        entry.state,
        now,
        { detail: entry.detail, finished: done },
      );
      moved += count;
      if (count > 0 && done) finished = true;
    }
    if (finished) this.wake();
    return { moved };
  }

  /**
   * On a site: takes the hub's rollouts that include its devices. A running or paused one it does not hold
   * yet is created here (same id and spec, its own devices in their phases) once its artifact is mirrored,
   * and then runs here; a pause, resume, abort or rollback at the hub is done here too. Only a change at the
   * hub is repeated: the state the hub last showed is kept, so a site operator's own pause or resume (made
   * while cut off, say) stands until the hub changes the rollout itself.
   */
  async adoptFromHub(relayed: SiteRolloutsReply['rollouts']): Promise<void> {
    const hub: OperatorContext = { id: 'hub', name: 'hub', role: 'admin' };
    for (const entry of relayed) {
      const seenAtHub = `hub-rollout-state:${entry.id}`;
      const held = await this.#store.rollouts.find(entry.id);
      if (held === undefined) {
        if (entry.state !== 'running' && entry.state !== 'paused') continue;
        if (await this.#adopt(hub, entry)) await this.#store.sites.saveRelayPosition(seenAtHub, entry.state);
        continue;
      }
      if ((await this.#store.sites.relayPosition(seenAtHub)) === entry.state) continue;
      const action = hubAction(held.state, entry.state);
      if (action !== undefined) {
        try {
          await this.act(hub, entry.id, action, entry.reason ?? `${action} at the hub`);
        } catch (error) {
          if (!(error instanceof EdgewardError && error.code === 'EW_ROLLOUT_STATE_CONFLICT')) throw error;
        }
      }
      await this.#store.sites.saveRelayPosition(seenAtHub, entry.state);
    }
  }

  /** On a site: its devices' rows in the rollouts it took from the hub, once they started. */
  async hubRolloutRows(): Promise<SiteRolloutReport['devices']> {
    const rows: SiteRolloutReport['devices'][number][] = [];
    for (const rollout of await this.#store.rollouts.list(100)) {
      if (rollout.createdBy !== HUB_AUTHOR) continue;
      for (const device of await this.#store.rollouts.devices(rollout.id)) {
        if (device.state === 'pending' || device.state === 'assigned') continue;
        rows.push({
          rolloutId: rollout.id,
          deviceId: device.deviceId,
          state: device.state,
          detail: device.detail,
        });
      }
    }
    return rows;
  }

  /** Whether the rollout now runs here: it waits while its artifact is not mirrored or no device is here. */
  async #adopt(hub: OperatorContext, entry: SiteRolloutsReply['rollouts'][number]): Promise<boolean> {
    const { name, version } = entry.spec.artifact;
    if ((await this.#store.artifacts.find(name, version)) === undefined) {
      this.#logger.info(
        { rolloutId: entry.id, artifact: `${name}@${version}` },
        'a hub rollout waits until its artifact is mirrored here',
      );
      return false;
    }
    const now = this.#clock.now();
    const rows: Omit<RolloutDeviceRecord, 'rolloutId'>[] = [];
    for (const device of entry.devices) {
      const record = await this.#store.devices.findById(device.deviceId);
      if (record === undefined) continue;
      rows.push({
        deviceId: device.deviceId,
        phase: device.phase,
        site: record.labels[entry.spec.siteLabel] ?? '',
        state: 'pending',
        assignedAt: null,
        finishedAt: null,
        detail: '',
        updatedAt: now,
      });
    }
    if (rows.length === 0) return false;
    const record: RolloutRecord = {
      id: entry.id,
      spec: entry.spec,
      state: entry.state,
      currentPhase: 0,
      phaseStartedAt: now,
      reason: entry.reason,
      createdAt: now,
      createdBy: HUB_AUTHOR,
      updatedAt: now,
    };
    await this.#store.transaction(async (store) => {
      await store.rollouts.create(record, rows);
      await this.#audit.record(store, hub, 'rollout.create', record.id, {
        artifact: `${name}@${version}`,
        from: 'hub',
        devices: rows.length,
      });
    });
    this.#logger.info({ rolloutId: record.id, devices: rows.length }, 'runs a rollout of the hub here');
    this.wake();
    return true;
  }

  /**
   * Asks for a tick soon (after a device finished, or an operator action). Ticks never overlap and start
   * at most every MIN_TICK_GAP_MS, so a burst of results costs one pass, not one per device.
   */
  wake(): void {
    if (this.#ticking !== undefined) {
      this.#tickAgain = true;
      return;
    }
    if (this.#wakeTimer !== undefined) return;
    const wait = Math.max(0, this.#lastTickAt + MIN_TICK_GAP_MS - Date.now());
    this.#wakeTimer = setTimeout(() => {
      this.#wakeTimer = undefined;
      this.#lastTickAt = Date.now();
      this.#ticking = this.tick()
        .catch((error: unknown) => {
          this.#logger.error({ err: error }, 'rollout tick failed; it is retried at the next one');
        })
        .finally(() => {
          this.#ticking = undefined;
          if (this.#tickAgain) {
            this.#tickAgain = false;
            this.wake();
          }
        });
    }, wait);
  }

  /** Waits for a running tick (tests, shutdown). */
  async idle(): Promise<void> {
    clearTimeout(this.#wakeTimer);
    this.#wakeTimer = undefined;
    while (this.#ticking !== undefined) await this.#ticking;
  }

  /** One pass over every running rollout: offer devices, skip the overdue, decide the gates. */
  async tick(): Promise<void> {
    const active = await this.#store.rollouts.listActive();
    for (const rollout of active) {
      if (rollout.state === 'running') await this.#drive(rollout);
    }
  }

  async #drive(rollout: RolloutRecord): Promise<void> {
    const now = this.#clock.now();
    const { spec } = rollout;
    const phases = parsePhases(spec.phases);
    const phase = rollout.currentPhase;
    const label = phaseLabel(phases[phase] ?? phases[0]!);
    // Offered devices that never started before the deadline are skipped; they no longer hold the phase.
    const overdue = (
      await this.#store.rollouts.devices(rollout.id, {
        phase,
        states: ['assigned'],
        assignedBefore: now - spec.offlineDeadlineMs,
      })
    ).map((device) => device.deviceId);
    if (overdue.length > 0) {
      await this.#store.rollouts.moveDevices(rollout.id, overdue, ['assigned'], 'skipped', now, {
        detail: `did not start within ${spec.offlineDeadlineMs} ms of its turn`,
        finished: true,
      });
      await this.#record(rollout.id, 'rollout.devices-skipped', { phase: label, devices: overdue });
    }
    await this.#offer(rollout, phase, now);

    const severitiesAtGate = severities.filter(
      (severity: Severity) => severityRank(severity) >= severityRank(spec.gates.alertSeverity),
    );
    const [counts, alerted] = await Promise.all([
      this.#store.rollouts.counts(rollout.id),
      this.#store.rollouts.alertedDevices(rollout.id, phase, severitiesAtGate),
    ]);
    const inPhase = counts.filter((count) => count.phase === phase);
    const states = inPhase.flatMap((count) => Array<DeviceRolloutState>(count.count).fill(count.state));
    // A phase without devices here (at a site: the hub's devices were in it) passes at once, soak or not.
    const empty = states.length === 0;
    const lastFinishedAt = inPhase.reduce<number | null>(
      (latest, count) =>
        count.lastFinishedAt === null ? latest : Math.max(latest ?? 0, count.lastFinishedAt),
      null,
    );
    const decision = empty
      ? ({ kind: 'advance' } as const)
      : evaluatePhaseGates(countPhase(states, alerted.length), spec.gates, {
          soakMs: spec.soakMs,
          lastFinishedAt,
          now,
        });
    if (decision.kind === 'breach') {
      await this.#abortOnBreach(rollout, label, decision.reason, alerted);
      return;
    }
    if (decision.kind === 'wait') return;
    const last = phase >= phases.length - 1;
    await this.#store.transaction(async (store) => {
      const moved = await store.rollouts.transition(
        rollout.id,
        ['running'],
        last
          ? { state: 'completed', updatedAt: now }
          : { currentPhase: phase + 1, phaseStartedAt: now, updatedAt: now },
      );
      if (!moved) return;
      await this.#audit.record(
        store,
        systemOperator,
        last ? 'rollout.complete' : 'rollout.phase-advance',
        rollout.id,
        {
          phase: label,
          ...(last ? {} : { next: phaseLabel(phases[phase + 1]!) }),
          gates: spec.gates,
        },
      );
    });
    this.#logger.info(
      { rolloutId: rollout.id, phase: label, completed: last },
      'rollout phase passed its gates',
    );
    if (!last) await this.#offer({ ...rollout, currentPhase: phase + 1 }, phase + 1, now);
  }

  /** Offers the phase's pending devices whose window is open, keeping each site under its cap. */
  async #offer(rollout: RolloutRecord, phase: number, now: number): Promise<void> {
    const { spec } = rollout;
    const pending = await this.#store.rollouts.devices(rollout.id, { phase, states: ['pending'] });
    if (pending.length === 0) return;
    // A site manager runs its own devices' part (GET /v1/site/rollouts) and reports how they fare.
    const runHere: RolloutDeviceRecord[] = [];
    for (const device of pending) {
      const record = await this.#store.devices.findById(device.deviceId);
      if (record?.labels[SITE_LABEL] === undefined) runHere.push(device);
    }
    let eligible = runHere;
    if (spec.respectWindows) {
      const policy = await this.#policy();
      if (policy !== undefined) {
        const labels = new Map<string, DeviceRecord['labels']>();
        for (const device of pending) {
          const record = await this.#store.devices.findById(device.deviceId);
          if (record !== undefined) labels.set(device.deviceId, record.labels);
        }
        eligible = pending.filter((device) =>
          insideWindow(policy, { labels: labels.get(device.deviceId) ?? {} }, now),
        );
      }
    }
    if (spec.siteConcurrency !== undefined) {
      const busy = await this.#store.rollouts.devices(rollout.id, {
        states: ['assigned', ...IN_PROGRESS_STATES],
      });
      const perSite = new Map<string, number>();
      for (const device of busy) perSite.set(device.site, (perSite.get(device.site) ?? 0) + 1);
      eligible = eligible.filter((device) => {
        const used = perSite.get(device.site) ?? 0;
        if (used >= (spec.siteConcurrency ?? Number.POSITIVE_INFINITY)) return false;
        perSite.set(device.site, used + 1);
        return true;
      });
    }
    if (eligible.length === 0) return;
    await this.#store.rollouts.moveDevices(
      rollout.id,
      eligible.map((device) => device.deviceId),
      ['pending'],
      'assigned',
      now,
      { assigned: true },
    );
    for (const device of eligible) this.#nudge(device.deviceId, rollout.id);
  }

  /** Tells the connected devices asked to roll back. */
  async #nudgeRollbacks(rolloutId: string): Promise<void> {
    for (const device of await this.#store.rollouts.devices(rolloutId, { states: ['rollback'] })) {
      this.#nudge(device.deviceId, rolloutId);
    }
  }

  async #abortOnBreach(
    rollout: RolloutRecord,
    phase: string,
    reason: string,
    alerted: readonly string[],
  ): Promise<void> {
    const now = this.#clock.now();
    await this.#store.transaction(async (store) => {
      const moved = await store.rollouts.transition(rollout.id, ['running'], {
        state: 'aborted',
        reason: `phase ${phase}: ${reason}`,
        updatedAt: now,
      });
      if (!moved) return;
      if (alerted.length > 0) {
        await store.rollouts.moveDevices(rollout.id, alerted, ['committed'], 'rollback', now, {
          detail: 'new alert after the update',
        });
      }
      await this.#stopDevices(store, rollout.id, now, `phase ${phase} breached its gates: ${reason}`);
      await this.#audit.record(store, systemOperator, 'rollout.abort', rollout.id, {
        phase,
        reason,
        gates: rollout.spec.gates,
      });
    });
    this.#logger.warn({ rolloutId: rollout.id, phase, reason }, 'rollout aborted: a gate was breached');
    await this.#nudgeRollbacks(rollout.id);
  }

  /** Aborting: devices that have not installed never start; those that took the update go back. */
  async #stopDevices(store: Store, id: string, now: number, detail: string): Promise<void> {
    await store.rollouts.moveDevices(id, 'all', NOT_STARTED, 'cancelled', now, { detail });
    await store.rollouts.moveDevices(id, 'all', TOOK_UPDATE, 'rollback', now, { detail });
  }

  async #rollBackDevices(store: Store, id: string, now: number, detail: string): Promise<void> {
    await this.#stopDevices(store, id, now, detail);
  }

  async #record(id: string, action: string, details: Record<string, unknown>): Promise<void> {
    await this.#store.transaction((store) => this.#audit.record(store, systemOperator, action, id, details));
  }

  async #require(id: string): Promise<RolloutRecord> {
    const rollout = await this.#store.rollouts.find(id);
    if (rollout === undefined) {
      throw new EdgewardError(
        'EW_ROLLOUT_NOT_FOUND',
        `no rollout ${id}; list them with \`edgeward rollouts list\``,
      );
    }
    return rollout;
  }

  async #selectDevices(spec: CreateRolloutSpec): Promise<DeviceRecord[]> {
    const selected: DeviceRecord[] = [];
    let after: string | undefined;
    for (;;) {
      const page = await this.#store.devices.list(
        {},
        { limit: DEVICE_PAGE, ...(after === undefined ? {} : { after }) },
      );
      for (const device of page) if (matchesSelector(spec.selector, device.labels)) selected.push(device);
      if (page.length < DEVICE_PAGE) return selected;
      after = page.at(-1)?.id;
    }
  }

  async #view(record: RolloutRecord): Promise<RolloutView> {
    const phases = parsePhases(record.spec.phases);
    const counts = await this.#store.rollouts.counts(record.id);
    const phaseViews: RolloutPhaseView[] = phases.map((phase, index) => {
      const of = (...states: DeviceRolloutState[]) =>
        counts
          .filter((count) => count.phase === index && states.includes(count.state))
          .reduce((total, count) => total + count.count, 0);
      return {
        index,
        label: phaseLabel(phase),
        devices: of(
          ...([
            'pending',
            'assigned',
            ...IN_PROGRESS_STATES,
            'committed',
            'failed',
            'rolled-back',
            'rollback',
            'skipped',
            'cancelled',
          ] as DeviceRolloutState[]),
        ),
        committed: of('committed'),
        failed: of('failed'),
        inProgress: of('assigned', ...IN_PROGRESS_STATES, 'rollback'),
        pending: of('pending'),
        skipped: of('skipped', 'cancelled'),
        rolledBack: of('rolled-back'),
      };
    });
    return {
      id: record.id,
      artifact: record.spec.artifact,
      selector: record.spec.selector,
      phases: record.spec.phases,
      gates: record.spec.gates,
      soakMs: record.spec.soakMs,
      respectWindows: record.spec.respectWindows,
      siteConcurrency: record.spec.siteConcurrency ?? null,
      offlineDeadlineMs: record.spec.offlineDeadlineMs,
      state: record.state,
      currentPhase: record.currentPhase,
      reason: record.reason,
      createdAt: record.createdAt,
      createdBy: record.createdBy,
      updatedAt: record.updatedAt,
      phaseViews,
    };
  }
}

function insideWindow(policy: CompiledPolicy, device: Pick<DeviceRecord, 'labels'>, now: number): boolean {
  return activeMaintenanceWindow(policy, segmentOf(policy, device.labels), now) !== undefined;
}

/** The author of the rollouts a site took from its hub. */
const HUB_AUTHOR = 'hub';

const FINISHED: readonly DeviceRolloutState[] = [
  'committed',
  'failed',
  'rolled-back',
  'skipped',
  'cancelled',
];

/** What a site does when the hub's rollout it runs changed state there. */
function hubAction(here: RolloutState, atHub: RolloutState): RolloutAction | undefined {
  if (atHub === 'paused' && here === 'running') return 'pause';
  if (atHub === 'running' && here === 'paused') return 'resume';
  if (atHub === 'aborted' && (here === 'running' || here === 'paused')) return 'abort';
  if (atHub === 'rolled-back' && here !== 'rolled-back') return 'rollback';
  return undefined;
}
