import { randomBytes } from 'node:crypto';
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import {
  ALERT_RAISED_EVENT,
  type AlertSignal,
  type Clock,
  type DeviceEvent,
  OFFLINE_AFTER_INTERVALS,
  parseRuleFiles,
  RuleEngine,
  type RuleEvent,
  type RuleSignal,
  type Severity,
  severities,
} from '@edgeward/core';
import type { Store } from '@edgeward/store';
import type { Logger } from 'pino';
import type { AlertService } from './alert.service.ts';

/** The hub's built-in alert for a device that stopped reporting (not expressible as an event rule). */
export const SILENT_DEVICE_RULE_ID = 'ew-agent-silent';
/** Devices looked at per sweep for silence; the rest wait for the next sweep. */
const SILENT_SWEEP_LIMIT = 10_000;

interface SavedState {
  readonly policyVersion: number;
  readonly engine: unknown;
  /** Sequence numbers of the alert streams fed back, per device. */
  readonly alertStreams: Record<string, number>;
  readonly silentSince: Record<string, number>;
}

export interface DetectionServiceDeps {
  readonly store: Store;
  readonly alerts: Pick<AlertService, 'raise'>;
  readonly clock: Clock;
  readonly logger: Logger;
  /** `<dataDir>/detection-state.json`: the engine's windows across restarts. */
  readonly statePath: string;
  readonly allowedLatenessMs: number;
  readonly maxGroupsPerRule: number;
  /** `hub` (default), or `site` on a site manager: which rules of the policy run here. */
  readonly scope?: 'hub' | 'site';
}

/**
 * Runs the hub-scope detection rules of the policy in force on the events the manager stores (fleet
 * correlations: one indicator on several devices, several low alerts on one device), raises their
 * alerts, feeds every alert back as an `alert.raised` event so rules over alerts see them, and raises
 * the built-in alert for devices that fell silent. Each replica evaluates the events it receives.
 */
export class DetectionService {
  readonly #deps: DetectionServiceDeps;
  #engine: RuleEngine | undefined;
  #policyVersion = 0;
  #alertStreams = new Map<string, number>();
  #silentSince = new Map<string, number>();
  #queue: Promise<void> = Promise.resolve();

  constructor(deps: DetectionServiceDeps) {
    this.#deps = deps;
  }

  get stats() {
    return this.#engine?.stats();
  }

  /** Loads the rules in force and the saved windows. */
  async start(): Promise<void> {
    let saved: SavedState | undefined;
    try {
      saved = JSON.parse(await readFile(this.#deps.statePath, 'utf8')) as SavedState;
    } catch {
      saved = undefined;
    }
    this.#alertStreams = new Map(Object.entries(saved?.alertStreams ?? {}));
    this.#silentSince = new Map(Object.entries(saved?.silentSince ?? {}));
    await this.#reload(saved);
  }

  /** Events just stored for `deviceId` (duplicates are recognised by the engine). */
  observe(deviceId: string, events: readonly DeviceEvent[]): void {
    if (events.length === 0) return;
    this.#enqueue(async () => {
      const engine = this.#engine;
      if (engine === undefined) return;
      await this.#raise(engine.ingest(events.map((event) => ({ ...alertSeverity(event), deviceId }))));
    });
  }

  /**
   * A version was applied on this replica: later batches are evaluated by its rules. (Another replica's
   * versions are picked up by `tick`.)
   */
  policyChanged(): Promise<void> {
    return this.#enqueue(() => this.#reload(undefined));
  }

  /**
   * The periodic step: picks up a new policy version, evaluates what waits for its watermark, and
   * raises the silent-device alerts.
   */
  tick(): Promise<void> {
    return this.#enqueue(async () => {
      await this.#reload(undefined);
      const engine = this.#engine;
      if (engine !== undefined) await this.#raise(engine.flush(this.#deps.clock.now()));
      await this.#silentDevices();
    });
  }

  async close(): Promise<void> {
    await this.#enqueue(async () => {
      const engine = this.#engine;
      const state: SavedState = {
        policyVersion: this.#policyVersion,
        engine: engine?.snapshot() ?? null,
        alertStreams: Object.fromEntries(this.#alertStreams),
        silentSince: Object.fromEntries(this.#silentSince),
      };
      const temporary = `${this.#deps.statePath}.${randomBytes(4).toString('hex')}.tmp`;
      try {
        await writeFile(temporary, JSON.stringify(state), { mode: 0o600 });
        await rename(temporary, this.#deps.statePath);
      } catch (error) {
        await rm(temporary, { force: true });
        this.#deps.logger.warn({ err: (error as Error).message }, 'detection state not saved');
      }
    });
  }

  #enqueue(work: () => Promise<void>): Promise<void> {
    const next = this.#queue.then(work).catch((error: unknown) => {
      this.#deps.logger.warn({ err: (error as Error).message }, 'detection step failed');
    });
    this.#queue = next;
    return next;
  }

  async #reload(saved: SavedState | undefined): Promise<void> {
    const latest = await this.#deps.store.policies.latest();
    if (latest === undefined || latest.version === this.#policyVersion) return;
    const policy = (await this.#deps.store.policies.get(latest.version))?.policy;
    this.#policyVersion = latest.version;
    const parsed = parseRuleFiles(policy?.rules ?? []);
    if (!parsed.ok) {
      this.#deps.logger.warn(
        { version: latest.version },
        'the rules in force do not compile here; hub detection is off',
      );
      this.#engine = undefined;
      return;
    }
    const previous = this.#engine;
    const engine = new RuleEngine(parsed.rules, {
      scope: this.#deps.scope ?? 'hub',
      allowedLatenessMs: this.#deps.allowedLatenessMs,
      maxGroupsPerRule: this.#deps.maxGroupsPerRule,
    });
    // Windows carry over a new version for the rules it kept (restore drops the others).
    const carried =
      saved?.policyVersion !== undefined && saved.engine !== null ? saved.engine : previous?.snapshot();
    if (carried !== undefined && carried !== null) engine.restore(carried);
    this.#engine = engine;
  }

  async #raise(signals: readonly RuleSignal[]): Promise<void> {
    for (const signal of signals) {
      await this.#deps.alerts.raise({ ...signal, source: this.#deps.scope ?? 'hub' });
      this.#feedBack(signal);
    }
  }

  /** Hub alerts become events of their devices' alert streams, for the rules over alerts. */
  #feedBack(signal: RuleSignal): void {
    const engine = this.#engine;
    if (engine === undefined || signal.update) return;
    const events: RuleEvent[] = signal.deviceIds.map((deviceId) => {
      const seq = (this.#alertStreams.get(deviceId) ?? 0) + 1;
      this.#alertStreams.set(deviceId, seq);
      return {
        deviceId,
        stream: `alert:${deviceId}`,
        seq,
        id: `alert:${deviceId}:${seq}`,
        type: ALERT_RAISED_EVENT,
        severity: signal.severity,
        time: signal.lastSeen,
        data: {
          ruleId: signal.ruleId,
          ruleTitle: signal.ruleTitle,
          kind: signal.kind,
          tier: signal.tier,
          groupKey: signal.groupKey,
          count: signal.count,
          firstSeen: signal.firstSeen,
          lastSeen: signal.lastSeen,
        },
      };
    });
    const more = engine.ingest(events);
    // Rules over alerts are not fed back (docs/rules.md), so this cannot loop.
    for (const next of more) void this.#deps.alerts.raise({ ...next, source: this.#deps.scope ?? 'hub' });
  }

  /** One alert per silence: a device past three report intervals without contact. */
  async #silentDevices(): Promise<void> {
    const now = this.#deps.clock.now();
    const silent = await this.#deps.store.devices.list(
      { status: 'offline', now },
      { limit: SILENT_SWEEP_LIMIT },
    );
    const stillSilent = new Set<string>();
    for (const device of silent) {
      if (device.lastSeenAt === null || device.labels.legacy !== undefined) continue;
      stillSilent.add(device.id);
      if (this.#silentSince.get(device.id) === device.lastSeenAt) continue;
      this.#silentSince.set(device.id, device.lastSeenAt);
      const signal: AlertSignal = {
        ruleId: SILENT_DEVICE_RULE_ID,
        ruleTitle: 'Agent silent: no report for three intervals',
        kind: 'detection',
        groupKey: JSON.stringify([device.id]),
        groupFields: { deviceId: device.id },
        severity: 'high',
        tier: 'high',
        firstSeen: device.lastSeenAt + OFFLINE_AFTER_INTERVALS * device.reportIntervalMs,
        lastSeen: now,
        count: 1,
        eventRefs: [],
        deviceIds: [device.id],
        response: [],
        route: [],
        update: false,
        source: this.#deps.scope ?? 'hub',
      };
      await this.#deps.alerts.raise(signal);
    }
    for (const deviceId of this.#silentSince.keys())
      if (!stillSilent.has(deviceId)) this.#silentSince.delete(deviceId);
  }
}

/**
 * An agent sends its alerts at high severity or above so that they travel first; rules over alerts
 * judge the alert's own severity, which the event carries in `data.severity`.
 */
function alertSeverity(event: DeviceEvent): DeviceEvent {
  if (event.type !== ALERT_RAISED_EVENT) return event;
  const own = event.data.severity;
  return typeof own === 'string' && (severities as readonly string[]).includes(own)
    ? { ...event, severity: own as Severity }
    : event;
}
