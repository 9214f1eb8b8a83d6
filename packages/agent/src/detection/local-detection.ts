import { randomBytes } from 'node:crypto';
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  type DeviceEvent,
  loadRuleEngine,
  type NewDeviceEvent,
  type PolicySourceFile,
  parseRuleFilesOnDemand,
  type RuleEngine,
  type RuleSignal,
  severityRank,
} from '@edgeward/core';
import type { CollectorLog, EmitEvents } from '../collectors/collector-events.ts';

export interface LocalDetectionOptions {
  /** Where the engine's state is kept between runs (`<dataDir>/policy/detection-state.json`). */
  readonly dir: string;
  readonly deviceId: string;
  readonly emit: EmitEvents;
  readonly now: () => number;
  readonly log: CollectorLog;
  /** How late an event may arrive and still be ordered by event time. */
  readonly allowedLatenessMs: number;
  /** Groups each rule keeps at most; the least recently used go first (counted). */
  readonly maxGroupsPerRule: number;
  /** How often buffered events are evaluated even when no newer event moves the watermark. */
  readonly flushIntervalMs: number;
  /**
   * Carries out a rule's `response` (`isolate`, `capture`) on the device, offline too. Called once per
   * new alert (not for updates), after the alert is queued.
   */
  readonly respond?: (signal: RuleSignal) => Promise<void>;
}

/**
 * Runs the policy's agent-scope detection rules on the device's own events, connected or not. Each
 * alert travels to the manager as an `alert.raised` event of at least high severity, which the
 * forwarder sends at once, ahead of routine events. The engine's windows survive a restart (snapshot on stop, restore on start).
 */
/**
 * Events held while rules load (the Sigma parser is loaded on first use), to be evaluated by the new
 * rules once they are ready; beyond this, the oldest held go unevaluated, and a warning says how many.
 */
export const MAX_EVENTS_HELD_DURING_LOAD = 10_000;

export class LocalDetection {
  readonly #options: LocalDetectionOptions;
  #engine: RuleEngine | undefined;
  #rulesKey = '';
  #loads = 0;
  #held: DeviceEvent[] = [];
  #heldDropped = 0;
  #timer: NodeJS.Timeout | undefined;
  #busy: Promise<void> = Promise.resolve();

  constructor(options: LocalDetectionOptions) {
    this.#options = options;
  }

  get stats() {
    return this.#engine?.stats();
  }

  /**
   * Loads (or reloads, when they changed) the rules of the bundle in force. A rule set that does not
   * compile here cannot have been applied by a manager of the same version; it is logged and skipped.
   */
  async load(rules: readonly PolicySourceFile[]): Promise<void> {
    const key = JSON.stringify(rules);
    if (key === this.#rulesKey) return;
    this.#loads += 1;
    try {
      await this.#install(rules, key);
    } finally {
      this.#loads -= 1;
      if (this.#loads === 0) this.#releaseHeld();
    }
  }

  /** What arrived while rules loaded goes to the rules now in force. */
  #releaseHeld(): void {
    const held = this.#held;
    this.#held = [];
    if (this.#heldDropped > 0) {
      this.#options.log.warn(
        { events: this.#heldDropped, held: MAX_EVENTS_HELD_DURING_LOAD },
        'events arrived faster than the rules loaded; the oldest were not evaluated',
      );
      this.#heldDropped = 0;
    }
    if (held.length > 0) this.observe(held);
  }

  async #install(rules: readonly PolicySourceFile[], key: string): Promise<void> {
    await this.#drain();
    this.#rulesKey = key;
    const parsed = await parseRuleFilesOnDemand(rules);
    if (!parsed.ok) {
      this.#options.log.warn(
        { problems: parsed.problems.length },
        'the policy rules do not compile here; detection is off',
      );
      await this.#turnOff();
      return;
    }
    if (parsed.rules.rules.length === 0) {
      // No rules, no engine: a device whose policy has none does not load it.
      await this.#turnOff();
      return;
    }
    const Engine = await loadRuleEngine();
    const engine = new Engine(parsed.rules, {
      scope: 'agent',
      allowedLatenessMs: this.#options.allowedLatenessMs,
      maxGroupsPerRule: this.#options.maxGroupsPerRule,
    });
    const saved = await this.#readState();
    if (saved !== undefined) {
      const restored = engine.restore(saved);
      if (!restored.ok) this.#options.log.warn({ reason: restored.reason }, 'detection state not restored');
    }
    this.#engine = engine;
    clearInterval(this.#timer);
    this.#timer = setInterval(() => void this.#flush(), this.#options.flushIntervalMs);
    this.#timer.unref();
  }

  /**
   * No engine, no timer waking the device to flush one, and no saved windows: they belong to rules no
   * longer in force, and rules that come back later start from their own events.
   */
  async #turnOff(): Promise<void> {
    this.#engine = undefined;
    clearInterval(this.#timer);
    this.#timer = undefined;
    await rm(join(this.#options.dir, 'detection-state.json'), { force: true });
  }

  /** Evaluates events the queue has just stored (never the alerts it raised itself). */
  observe(events: readonly DeviceEvent[]): void {
    if (this.#loads > 0) {
      this.#held.push(...events.filter((event) => event.type !== 'alert.raised'));
      const over = this.#held.length - MAX_EVENTS_HELD_DURING_LOAD;
      if (over > 0) {
        this.#held.splice(0, over);
        this.#heldDropped += over;
      }
      return;
    }
    const engine = this.#engine;
    if (engine === undefined) return;
    const own = events.filter((event) => event.type !== 'alert.raised');
    if (own.length === 0) return;
    const signals = engine.ingest(own.map((event) => ({ ...event, deviceId: this.#options.deviceId })));
    if (signals.length > 0) this.#raise(signals);
  }

  /** Evaluates what is buffered, saves the windows for the next start, and stops the timer. */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#drain();
    const engine = this.#engine;
    if (engine === undefined) return;
    const path = join(this.#options.dir, 'detection-state.json');
    const temporary = `${path}.${randomBytes(4).toString('hex')}.tmp`;
    try {
      await writeFile(temporary, JSON.stringify(engine.snapshot()), { mode: 0o600 });
      await rename(temporary, path);
    } catch (error) {
      await rm(temporary, { force: true });
      this.#options.log.warn({ err: (error as Error).message }, 'detection state not saved');
    }
  }

  async #drain(): Promise<void> {
    const engine = this.#engine;
    if (engine !== undefined) {
      const signals = engine.flush(this.#options.now());
      if (signals.length > 0) this.#raise(signals);
    }
    await this.#busy;
  }

  async #flush(): Promise<void> {
    const engine = this.#engine;
    if (engine === undefined) return;
    const signals = engine.flush(this.#options.now());
    if (signals.length > 0) this.#raise(signals);
  }

  #raise(signals: readonly RuleSignal[]): void {
    // At least high, so an alert travels ahead of any backlog and is never evicted by a full queue;
    // the alert's own severity is in `data.severity`, which is what rules over alerts see on the hub.
    const events: NewDeviceEvent[] = signals.map((signal) => ({
      type: 'alert.raised',
      severity: severityRank(signal.severity) >= severityRank('high') ? signal.severity : 'high',
      time: signal.lastSeen,
      data: { ...signal },
    }));
    const responding = signals.filter((signal) => !signal.update && signal.response.length > 0);
    this.#busy = this.#busy
      .then(() => this.#options.emit(events))
      .then(async () => {
        for (const signal of responding) await this.#options.respond?.(signal);
      })
      .catch((error: unknown) =>
        this.#options.log.warn({ err: (error as Error).message }, 'alert not queued'),
      );
  }

  async #readState(): Promise<unknown> {
    try {
      return JSON.parse(await readFile(join(this.#options.dir, 'detection-state.json'), 'utf8'));
    } catch {
      return undefined;
    }
  }
}
