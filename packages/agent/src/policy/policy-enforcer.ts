import { randomBytes } from 'node:crypto';
import { type FSWatcher, watch } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import {
  activeMaintenanceWindowOnDemand,
  authorizeSiteOverlay,
  type CheckResult,
  type CheckStatus,
  type CompiledCheck,
  type CompiledPolicy,
  type ComplianceReport,
  checksForSegment,
  evaluationIntervalFor,
  isBundleExpired,
  isConflict,
  type NewDeviceEvent,
  type PolicyBundle,
  type PolicyBundlePayload,
  type SiteOverlayPayload,
  segmentOf,
  sitePolicyOf,
  verifyPolicyBundle,
} from '@edgeward/core';
import { CoalescingTask } from '../collectors/coalescing-task.ts';
import { type CollectorLog, type EmitEvents, securityEvent } from '../collectors/collector-events.ts';

const REMEMBERED_REFUSALS = 32;

/** What a check found on the device. */
export interface CheckOutcome {
  readonly status: CheckStatus;
  readonly detail: string;
}

export interface RemediationResult {
  readonly outcome: 'fixed' | 'not-fixed' | 'failed';
  readonly detail: string;
  readonly after: CheckOutcome;
}

/** Evaluates and remediates checks: the real baseline on the device's root, or a synthetic one. */
export interface BaselineRunner {
  evaluate(check: CompiledCheck): Promise<CheckOutcome>;
  remediate(check: CompiledCheck): Promise<RemediationResult>;
}

export interface PolicyEnforcerOptions {
  /** `<dataDir>/policy`: the bundle in force and the last results, each replaced atomically. */
  readonly dir: string;
  /** The policy key pinned at enrollment; without one, every bundle is refused. */
  readonly publicKeyPem: string | undefined;
  readonly labels: Readonly<Record<string, string>>;
  readonly runner: BaselineRunner;
  readonly emit: EmitEvents;
  readonly now: () => number;
  readonly log: CollectorLog;
  /** Device root the watched paths live under ('/' on a real device). */
  readonly root: string;
  /** False turns every `remediate: auto` into a report (a device where nothing may change by itself). */
  readonly remediationEnabled: boolean;
  /** Re-evaluate when a watched file changes (default true). */
  readonly watch?: boolean;
  readonly watchDebounceMs?: number;
  /** Called when a bundle comes into force (from disk at start, or a newer version from the manager). */
  readonly onBundle?: (payload: PolicyBundlePayload) => Promise<void>;
}

interface PersistedResults {
  readonly version: number;
  readonly issuedAt: number;
  readonly segment: string;
  readonly evaluatedAt: number;
  readonly results: Record<string, CheckResult>;
  /** The evaluation whose report the manager has not confirmed yet. */
  readonly reportPending: boolean;
  /** The bundle (by issue time) for which `policy.stale` was raised, so it is raised once. */
  readonly staleRaisedFor: number | null;
}

/**
 * Enforces the signed policy on the device, connected or not: verifies each bundle against the key
 * pinned at enrollment, keeps the last good one on disk, evaluates its checks for the device's segment
 * on schedule, on a new bundle and when a watched file changes, reports drift, remediates where the
 * policy says `auto`, and keeps the latest results for the manager. An expired bundle stays in force.
 */
export class PolicyEnforcer {
  readonly #options: PolicyEnforcerOptions;
  readonly #evaluation: CoalescingTask;
  #bundle: PolicyBundlePayload | undefined;
  /** The overlay of this device's site, authorized by the delegation in the bundle in force. */
  #overlay: SiteOverlayPayload | undefined;
  #state: PersistedResults | undefined;
  #timer: NodeJS.Timeout | undefined;
  #watchTimer: NodeJS.Timeout | undefined;
  #watchers = new Map<string, FSWatcher>();
  /** Recently refused bundles, so a manager offering the same bad bundle every poll is one event. */
  readonly #refusals = new Set<string>();
  #stopped = false;
  #pendingReason = 'schedule';

  constructor(options: PolicyEnforcerOptions) {
    this.#options = options;
    this.#evaluation = new CoalescingTask(() => this.#evaluate());
  }

  /** The bundle in force, if any. */
  get inForce():
    | { readonly version: number; readonly issuedAt: number; readonly expiresAt: number }
    | undefined {
    const bundle = this.#bundle;
    return bundle === undefined
      ? undefined
      : { version: bundle.version, issuedAt: bundle.issuedAt, expiresAt: bundle.expiresAt };
  }

  get segment(): string | undefined {
    return this.#bundle === undefined ? undefined : segmentOf(this.#bundle.policy, this.#options.labels);
  }

  get results(): readonly CheckResult[] {
    return Object.values(this.#state?.results ?? {});
  }

  /** Loads the bundle kept on disk (verified again: the disk is not trusted more than the network). */
  async start(): Promise<void> {
    await mkdir(this.#options.dir, { recursive: true, mode: 0o700 });
    const stored = await this.#readJson<PolicyBundle>('bundle.json');
    if (stored !== undefined) {
      const verification = this.#verify(stored, undefined);
      if (verification.ok) this.#bundle = verification.payload;
      else await this.#refused(verification.reason, verification.message, stored, 'disk');
    }
    const overlay = await this.#readJson<unknown>('overlay.json');
    if (overlay !== undefined) this.#overlay = this.#authorizeOverlay(overlay);
    const state = await this.#readJson<PersistedResults>('results.json');
    if (state !== undefined && state.version === this.#bundle?.version) this.#state = state;
    if (this.#bundle !== undefined) {
      await this.#options.onBundle?.(this.#bundle);
      this.#watchPaths();
      await this.evaluateNow('start');
    }
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    clearTimeout(this.#watchTimer);
    for (const watcher of this.#watchers.values()) watcher.close();
    this.#watchers.clear();
    await this.#evaluation.idle();
  }

  /**
   * Offers a bundle from the manager. A fresh, valid one replaces the bundle in force (kept on disk
   * first) and is evaluated at once; anything else is refused with a `policy.bundle_refused` event.
   */
  async offer(bundle: unknown): Promise<'applied' | 'refreshed' | 'unchanged' | 'refused'> {
    const verification = this.#verify(bundle, this.#bundle);
    if (!verification.ok) {
      await this.#refused(verification.reason, verification.message, bundle, 'manager');
      return 'refused';
    }
    if (!verification.fresh) return 'unchanged';
    const previous = this.#bundle;
    await this.#writeJson('bundle.json', bundle);
    this.#bundle = verification.payload;
    this.#refusals.clear();
    if (previous !== undefined && previous.version === verification.payload.version) {
      // The same policy re-signed (new expiry or CRL): nothing to evaluate, but it is no longer stale.
      return 'refreshed';
    }
    // The rules first: once `policy.bundle_applied` is recorded, the bundle's detection runs.
    await this.#options.onBundle?.(verification.payload);
    await this.#options.emit([
      securityEvent('policy.bundle_applied', this.#options.now(), {
        version: verification.payload.version,
        previousVersion: previous?.version,
        issuedAt: verification.payload.issuedAt,
        expiresAt: verification.payload.expiresAt,
        segment: segmentOf(verification.payload.policy, this.#options.labels),
        checks: verification.payload.policy.checks.length,
      }),
    ]);
    this.#watchPaths();
    await this.evaluateNow('bundle');
    return 'applied';
  }

  /** Whether the bundle in force governs settings that a site may override. */
  get acceptsOverlay(): boolean {
    return this.#bundle?.federation !== undefined;
  }

  /**
   * Offers the overlay of this device's site. It counts only when it is authorized by the delegation in
   * the bundle in force (signed by the site's delegated key, within its scope, unexpired, not older);
   * the merge then decides, setting by setting, what it changes (docs/federation.md).
   */
  async offerOverlay(overlay: unknown): Promise<'applied' | 'unchanged' | 'refused'> {
    const payload = this.#authorizeOverlay(overlay);
    if (payload === undefined) return 'refused';
    if (payload.version === this.#overlay?.version) return 'unchanged';
    await this.#writeJson('overlay.json', overlay);
    this.#overlay = payload;
    await this.evaluateNow('overlay');
    return 'applied';
  }

  #authorizeOverlay(overlay: unknown): SiteOverlayPayload | undefined {
    const bundle = this.#bundle;
    if (bundle?.federation === undefined) return undefined;
    const verdict = authorizeSiteOverlay(overlay, {
      fleet: bundle.fleet,
      federation: bundle.federation,
      nowMs: this.#options.now(),
      ...(this.#overlay === undefined ? {} : { inForceVersion: this.#overlay.version }),
    });
    if (!verdict.ok) {
      this.#options.log.warn({ reason: verdict.reason, detail: verdict.message }, 'site overlay refused');
      return undefined;
    }
    return verdict.payload;
  }

  /** The bundle's policy with the site overlay merged in, by the one merge every tier uses. */
  #effectivePolicy(bundle: PolicyBundlePayload, now: number): CompiledPolicy {
    if (this.#overlay === undefined || bundle.federation === undefined) return bundle.policy;
    const { policy, merge } = sitePolicyOf(bundle, this.#overlay, now);
    const conflicts = merge.outcomes.filter(isConflict);
    if (conflicts.length > 0) {
      this.#options.log.warn(
        { conflicts: conflicts.map((outcome) => `${outcome.setting}: ${outcome.kind}`) },
        'site overlay conflicts with the hub policy; the merge rules decided',
      );
    }
    return policy;
  }

  /** The policy-wide settings in effect, after any site overlay. */
  get effectiveSettings(): CompiledPolicy['settings'] | undefined {
    const bundle = this.#bundle;
    return bundle === undefined ? undefined : this.#effectivePolicy(bundle, this.#options.now()).settings;
  }

  /** Evaluates now (one run at a time; requests during a run share one follow-up run). */
  evaluateNow(reason: string): Promise<void> {
    this.#pendingReason = reason;
    return this.#evaluation.run();
  }

  /** The report the manager has not confirmed yet. */
  pendingReport(): ComplianceReport | undefined {
    const state = this.#state;
    const bundle = this.#bundle;
    if (state === undefined || bundle === undefined || !state.reportPending) return undefined;
    return {
      v: 1,
      bundleVersion: state.version,
      segment: state.segment,
      evaluatedAt: state.evaluatedAt,
      stale: isBundleExpired(bundle, this.#options.now()),
      results: Object.values(state.results),
    };
  }

  /** The manager stored `report`; later evaluations stay pending. */
  async reportDelivered(report: ComplianceReport): Promise<void> {
    const state = this.#state;
    if (state === undefined || state.evaluatedAt !== report.evaluatedAt) return;
    await this.#saveState({ ...state, reportPending: false });
  }

  async #evaluate(): Promise<void> {
    const bundle = this.#bundle;
    if (bundle === undefined || this.#stopped) return;
    const reason = this.#pendingReason;
    const now = this.#options.now();
    const policy = this.#effectivePolicy(bundle, now);
    const segment = segmentOf(policy, this.#options.labels);
    const window = await activeMaintenanceWindowOnDemand(policy, segment, now);
    const previous = this.#state?.version === bundle.version ? this.#state.results : {};
    const results: Record<string, CheckResult> = {};
    const events: NewDeviceEvent[] = [];
    for (const check of checksForSegment(policy, segment)) {
      if (this.#stopped) return;
      let outcome = await this.#safeEvaluate(check);
      const before = previous[check.id];
      const evaluatedAt = this.#options.now();
      if (before?.status === 'pass' && outcome.status === 'fail') {
        const data = {
          checkId: check.id,
          title: check.title,
          baseline: check.baseline,
          segment,
          bundleVersion: bundle.version,
          before: before.detail,
          after: outcome.detail,
          trigger: reason,
        };
        events.push(
          window === undefined
            ? { ...securityEvent('policy.config_drift', evaluatedAt, data), severity: check.severity }
            : securityEvent('policy.expected_change', evaluatedAt, { ...data, window: window.id }),
        );
      }
      let remediation = before?.remediation;
      // Inside a maintenance window changes are expected: they are remediated after it closes.
      if (
        outcome.status === 'fail' &&
        check.remediate === 'auto' &&
        check.remediation !== undefined &&
        this.#options.remediationEnabled &&
        window === undefined
      ) {
        const result = await this.#safeRemediate(check, outcome);
        remediation = { at: this.#options.now(), outcome: result.outcome, detail: result.detail };
        const data = {
          checkId: check.id,
          title: check.title,
          action: check.remediation.action.type,
          before: outcome.detail,
          after: result.after.detail,
          outcome: result.outcome,
          detail: result.detail,
        };
        events.push(
          result.outcome === 'fixed'
            ? securityEvent('policy.remediated', this.#options.now(), data)
            : securityEvent('policy.remediation_failed', this.#options.now(), data),
        );
        outcome = result.after;
      }
      results[check.id] = {
        checkId: check.id,
        status: outcome.status,
        detail: outcome.detail.slice(0, 2000),
        evaluatedAt,
        ...(remediation === undefined ? {} : { remediation }),
      };
    }
    if (isBundleExpired(bundle, now) && this.#state?.staleRaisedFor !== bundle.issuedAt) {
      events.push(
        securityEvent('policy.stale', now, {
          version: bundle.version,
          expiresAt: bundle.expiresAt,
          issuedAt: bundle.issuedAt,
        }),
      );
    }
    await this.#options.emit(events);
    const staleRaisedFor = isBundleExpired(bundle, now)
      ? bundle.issuedAt
      : (this.#state?.staleRaisedFor ?? null);
    await this.#saveState({
      version: bundle.version,
      issuedAt: bundle.issuedAt,
      segment,
      evaluatedAt: this.#options.now(),
      results,
      reportPending: true,
      staleRaisedFor,
    });
    this.#schedule(evaluationIntervalFor(policy, segment));
  }

  async #safeEvaluate(check: CompiledCheck): Promise<CheckOutcome> {
    try {
      return await this.#options.runner.evaluate(check);
    } catch (error) {
      return { status: 'error', detail: `evaluation failed: ${(error as Error).message}` };
    }
  }

  async #safeRemediate(check: CompiledCheck, before: CheckOutcome): Promise<RemediationResult> {
    try {
      return await this.#options.runner.remediate(check);
    } catch (error) {
      return { outcome: 'failed', detail: `remediation failed: ${(error as Error).message}`, after: before };
    }
  }

  #schedule(intervalMs: number): void {
    clearTimeout(this.#timer);
    if (this.#stopped) return;
    this.#timer = setTimeout(() => void this.evaluateNow('schedule'), intervalMs);
    this.#timer.unref();
  }

  /**
   * Watches the parent directory of every watched path: files are often replaced by rename, which
   * ends a watch on the file itself. Where watching fails, the schedule still catches the change.
   */
  #watchPaths(): void {
    if (this.#options.watch === false || this.#bundle === undefined) return;
    const wanted = new Map<string, Set<string>>();
    for (const check of this.#bundle.policy.checks) {
      for (const path of check.watch) {
        const full = join(this.#options.root, path);
        const directory = dirname(full);
        const names = wanted.get(directory) ?? new Set<string>();
        names.add(basename(full));
        wanted.set(directory, names);
        // A watched directory (sshd_config.d) changes through its own entries.
        const own = wanted.get(full) ?? new Set<string>();
        own.add('*');
        wanted.set(full, own);
      }
    }
    for (const [directory, watcher] of this.#watchers) {
      if (!wanted.has(directory)) {
        watcher.close();
        this.#watchers.delete(directory);
      }
    }
    for (const [directory, names] of wanted) {
      if (this.#watchers.has(directory)) continue;
      try {
        const watcher = watch(directory, { persistent: false }, (_event, name) => {
          if (names.has('*') || (name !== null && names.has(name.toString()))) this.#changed();
        });
        watcher.on('error', () => {
          watcher.close();
          this.#watchers.delete(directory);
        });
        this.#watchers.set(directory, watcher);
      } catch {
        // Missing or not a directory: nothing to watch there.
      }
    }
  }

  #changed(): void {
    if (this.#stopped) return;
    clearTimeout(this.#watchTimer);
    this.#watchTimer = setTimeout(
      () => void this.evaluateNow('file-change'),
      this.#options.watchDebounceMs ?? 1000,
    );
    this.#watchTimer.unref();
  }

  #verify(bundle: unknown, inForce: PolicyBundlePayload | undefined) {
    const publicKeyPem = this.#options.publicKeyPem;
    if (publicKeyPem === undefined) {
      return {
        ok: false as const,
        reason: 'wrong-key' as const,
        message: 'this agent pinned no policy key at enrollment; enroll it again to trust policy bundles',
      };
    }
    return verifyPolicyBundle(bundle, {
      publicKeyPem,
      ...(inForce === undefined ? {} : { inForce: { version: inForce.version, issuedAt: inForce.issuedAt } }),
    });
  }

  /** One event per distinct refused bundle. */
  async #refused(
    reason: string,
    message: string,
    bundle: unknown,
    source: 'manager' | 'disk',
  ): Promise<void> {
    const payload = (bundle as { payload?: { version?: unknown; issuedAt?: unknown } } | null)?.payload;
    const key = `${source}:${reason}:${String(payload?.version)}:${String(payload?.issuedAt)}`;
    this.#options.log.warn(
      { reason, source, version: payload?.version },
      `policy bundle refused: ${message}`,
    );
    if (this.#refusals.has(key)) return;
    if (this.#refusals.size >= REMEMBERED_REFUSALS) this.#refusals.clear();
    this.#refusals.add(key);
    await this.#options.emit([
      securityEvent('policy.bundle_refused', this.#options.now(), {
        reason,
        message,
        source,
        version: typeof payload?.version === 'number' ? payload.version : undefined,
        inForceVersion: this.#bundle?.version,
      }),
    ]);
  }

  async #saveState(state: PersistedResults): Promise<void> {
    this.#state = state;
    await this.#writeJson('results.json', state);
  }

  async #readJson<T>(name: string): Promise<T | undefined> {
    try {
      return JSON.parse(await readFile(join(this.#options.dir, name), 'utf8')) as T;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
        this.#options.log.warn(
          { file: name, err: (error as Error).message },
          'policy state unreadable; ignored',
        );
      }
      return undefined;
    }
  }

  async #writeJson(name: string, value: unknown): Promise<void> {
    const path = join(this.#options.dir, name);
    const temporary = `${path}.${randomBytes(4).toString('hex')}.tmp`;
    await writeFile(temporary, `${JSON.stringify(value)}\n`, { mode: 0o600 });
    await rename(temporary, path);
  }
}
