/**
 * The device's isolation as a persisted decision: what was asked, by whom, until when. The firewall
 * rules are its consequence and are rebuilt from it — after an agent restart, or a reboot that emptied
 * the firewall — and the dead-man timer releases the device by itself when the operator said so, also
 * when that moment passed while the agent was down.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isoTime } from '@edgeward/core';
import * as z from 'zod/mini';
import { writeFileAtomically } from '../baseline/atomic-write.ts';
import { isMissingError } from '../baseline/root-files.ts';
import type { EnforcementResult, EnforcerMode, IsolationEnforcer } from './isolation-enforcer.ts';
import type { IsolationSpec } from './isolation-policy.ts';

export const ISOLATION_STATE_FILE = 'isolation.json';
/** How soon a failed re-apply or timed release is tried again. */
const RETRY_MS = 30_000;
/** setTimeout's limit (about 24.8 days); a later release re-arms on the way. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export interface IsolationLog {
  info(details: object, message: string): void;
  warn(details: object, message: string): void;
}

/** Reported on every change, for the event queue (`emit` maps it to the agent's event type). */
export interface IsolationChange {
  /** `reapplied`: the persisted isolation was loaded again at start; `failed`: the firewall refused. */
  readonly action: 'isolated' | 'released' | 'reapplied' | 'failed';
  readonly time: number;
  readonly reason: string;
  /** Who asked: an operator id, `dead-man-timer`, `agent-start`. */
  readonly by: string;
  readonly mode: EnforcerMode;
  /** False when nothing on the device changed (report-only, or a failure). */
  readonly applied: boolean;
  readonly detail: string;
  readonly releaseAt?: number;
}

export interface IsolationState {
  readonly isolated: boolean;
  readonly since: number | null;
  readonly reason: string | null;
  readonly by: string | null;
  readonly releaseAt: number | null;
  readonly mode: EnforcerMode;
}

export interface IsolationManagerOptions {
  /** The agent's data folder; the decision is kept in `<dataDir>/isolation.json`. */
  readonly dataDir: string;
  readonly enforcer: IsolationEnforcer;
  readonly now: () => number;
  readonly log: IsolationLog;
  readonly emit?: (change: IsolationChange) => Promise<void>;
}

const allowEntrySchema = z.object({
  name: z.string(),
  address: z.string(),
  port: z.optional(z.number()),
  protocol: z.enum(['tcp', 'udp', 'any']),
  direction: z.enum(['in', 'out', 'both']),
});

const specSchema = z.object({
  manager: z.object({ host: z.string(), port: z.number() }),
  resolvedManagerAddresses: z.array(z.string()),
  allowDns: z.boolean(),
  allow: z.array(allowEntrySchema),
  releaseAt: z.optional(z.number()),
});

const persistedSchema = z.object({
  version: z.literal(1),
  isolation: z.nullable(
    z.object({ spec: specSchema, since: z.number(), reason: z.string(), by: z.string() }),
  ),
});

interface Isolation {
  readonly spec: IsolationSpec;
  readonly since: number;
  readonly reason: string;
  readonly by: string;
}

/** Isolates and releases the device, keeps the decision on disk, and enforces it again at start. */
export class IsolationManager {
  readonly #options: IsolationManagerOptions;
  readonly #path: string;
  #isolation: Isolation | null = null;
  /** Operations run one at a time: an isolate racing a timed release must not interleave rules. */
  #queue: Promise<unknown> = Promise.resolve();
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(options: IsolationManagerOptions) {
    this.#options = options;
    this.#path = join(options.dataDir, ISOLATION_STATE_FILE);
  }

  state(): IsolationState {
    const isolation = this.#isolation;
    return {
      isolated: isolation !== null,
      since: isolation?.since ?? null,
      reason: isolation?.reason ?? null,
      by: isolation?.by ?? null,
      releaseAt: isolation?.spec.releaseAt ?? null,
      mode: this.#options.enforcer.mode,
    };
  }

  /**
   * Brings the firewall in line with the persisted decision: loads the isolation again (the rules may
   * have vanished with a reboot), releases it when its dead-man time has passed, and removes a leftover
   * isolation table when the decision is "not isolated" (a crash between removing it and saving that).
   * Never throws for the firewall: a refusal is logged, reported and retried.
   */
  start(): Promise<void> {
    this.#stopped = false;
    return this.#serialized(async () => {
      const loaded = await this.#load();
      this.#isolation = loaded === 'unreadable' ? null : loaded;
      const isolation = this.#isolation;
      if (loaded === 'unreadable') return;
      if (isolation === null) {
        await this.#releaseLeftover();
        return;
      }
      const releaseAt = isolation.spec.releaseAt;
      if (releaseAt !== undefined && releaseAt <= this.#options.now()) {
        await this.#timedRelease('the dead-man time passed while the agent was stopped');
        return;
      }
      await this.#apply(isolation, 'reapplied', 'agent-start', isolation.reason);
    });
  }

  /** Stops the dead-man timer (the agent is stopping); the decision stays on disk for the next start. */
  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /**
   * Isolates the device as `spec` says, replacing an earlier isolation (isolating twice leaves one set
   * of rules; `since` stays the first time). The decision is saved before the rules load, so a crash
   * in between is completed at the next start. Throws when the firewall refuses; the previous
   * decision is then restored on disk and in force.
   */
  isolate(spec: IsolationSpec, reason: string, by: string): Promise<EnforcementResult> {
    return this.#serialized(async () => {
      const previous = this.#isolation;
      const next: Isolation = { spec, since: previous?.since ?? this.#options.now(), reason, by };
      await this.#save(next);
      try {
        return await this.#enforce(next, 'isolated', by, reason);
      } catch (error) {
        await this.#save(previous);
        this.#armTimer();
        throw error;
      }
    });
  }

  /**
   * Releases the device. The rules go first and the decision is saved after, so a crash in between
   * leaves the device isolated (the safe side) until the next start removes the leftover table.
   */
  release(reason: string, by: string): Promise<EnforcementResult> {
    return this.#serialized(() => this.#release(reason, by));
  }

  async #release(reason: string, by: string): Promise<EnforcementResult> {
    const { enforcer } = this.#options;
    let result: EnforcementResult;
    try {
      result = await enforcer.release();
    } catch (error) {
      await this.#report({ action: 'failed', by, reason, applied: false, detail: (error as Error).message });
      throw error;
    }
    await this.#save(null);
    this.#armTimer();
    await this.#report({ action: 'released', by, reason, applied: result.applied, detail: result.detail });
    return result;
  }

  async #apply(isolation: Isolation, action: 'reapplied', by: string, reason: string): Promise<void> {
    try {
      await this.#enforce(isolation, action, by, reason);
    } catch {
      // Reported by #enforce; the decision stands, so keep trying to enforce it.
      this.#armRetry(() => this.#apply(isolation, action, by, reason));
    }
  }

  async #enforce(
    isolation: Isolation,
    action: 'isolated' | 'reapplied',
    by: string,
    reason: string,
  ): Promise<EnforcementResult> {
    const releaseAt = isolation.spec.releaseAt;
    const extra = releaseAt === undefined ? {} : { releaseAt };
    let result: EnforcementResult;
    try {
      result = await this.#options.enforcer.isolate(isolation.spec);
    } catch (error) {
      await this.#report({
        action: 'failed',
        by,
        reason,
        applied: false,
        detail: (error as Error).message,
        ...extra,
      });
      throw error;
    }
    this.#armTimer();
    await this.#report({ action, by, reason, applied: result.applied, detail: result.detail, ...extra });
    return result;
  }

  async #releaseLeftover(): Promise<void> {
    let status: { isolated: boolean; detail: string };
    try {
      status = await this.#options.enforcer.status();
    } catch (error) {
      this.#options.log.warn({ err: (error as Error).message }, 'cannot read the isolation status');
      return;
    }
    if (!status.isolated) return;
    await this.#release('the isolation rules outlived the decision to isolate', 'agent-start').catch(() =>
      this.#armRetry(() => this.#releaseLeftover()),
    );
  }

  async #timedRelease(reason: string): Promise<void> {
    await this.#release(reason, 'dead-man-timer').catch(() =>
      this.#armRetry(() => this.#timedRelease(reason)),
    );
  }

  /** Arms the dead-man timer for the isolation in force, or clears it. */
  #armTimer(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const releaseAt = this.#isolation?.spec.releaseAt;
    if (releaseAt === undefined || this.#stopped) return;
    const delay = Math.max(0, releaseAt - this.#options.now());
    this.#timer = setTimeout(
      () => {
        this.#timer = undefined;
        void this.#serialized(async () => {
          if (this.#isolation?.spec.releaseAt !== releaseAt) return;
          // A delay beyond setTimeout's range arrives early: wait the rest.
          if (releaseAt > this.#options.now()) this.#armTimer();
          else await this.#timedRelease(`the dead-man time ${isoTime(releaseAt)} passed`);
        });
      },
      Math.min(delay, MAX_TIMER_MS),
    );
    // The agent's own work keeps the process alive; a pending release alone must not.
    this.#timer.unref();
  }

  #armRetry(attempt: () => Promise<void>): void {
    if (this.#stopped) return;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.#serialized(attempt);
    }, RETRY_MS);
    this.#timer.unref();
  }

  async #report(change: Omit<IsolationChange, 'time' | 'mode'>): Promise<void> {
    const full: IsolationChange = { ...change, time: this.#options.now(), mode: this.#options.enforcer.mode };
    const { log, emit } = this.#options;
    if (change.action === 'failed') log.warn(full, 'network isolation failed');
    else log.info(full, `network isolation ${change.action}`);
    if (emit === undefined) return;
    try {
      await emit(full);
    } catch (error) {
      log.warn({ err: (error as Error).message }, 'cannot record the isolation change as an event');
    }
  }

  /** The persisted decision; `unreadable` leaves the firewall as it is (there is no spec to act on). */
  async #load(): Promise<Isolation | null | 'unreadable'> {
    let text: string;
    try {
      text = await readFile(this.#path, 'utf8');
    } catch (error) {
      if (isMissingError(error)) return null;
      throw error;
    }
    let parsed: z.infer<typeof persistedSchema>;
    try {
      parsed = persistedSchema.parse(JSON.parse(text));
    } catch (error) {
      this.#options.log.warn(
        { path: this.#path, err: (error as Error).message },
        'unreadable isolation state; the firewall is left as it is',
      );
      return 'unreadable';
    }
    return parsed.isolation === null ? null : (stripUndefined(parsed.isolation) as Isolation);
  }

  async #save(isolation: Isolation | null): Promise<void> {
    const persisted = { version: 1, isolation };
    await writeFileAtomically(this.#path, `${JSON.stringify(persisted, null, 2)}\n`, { mode: 0o600 });
    this.#isolation = isolation;
  }

  #serialized<T>(operation: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(operation, operation);
    this.#queue = run.catch(() => undefined);
    return run;
  }
}

/** zod/mini's optional fields come back as `undefined` keys; the spec type has them absent. */
function stripUndefined<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}
