import { sign } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  type Clock,
  canonicalJson,
  compareArtifactVersions,
  EdgewardError,
  isEdgewardError,
  PROTOCOL_VERSION,
  type RunningVersionPayload,
  type UpdateAssignment,
  type UpdateReport,
  type UpdaterState,
} from '@edgeward/core';
import type { Logger } from 'pino';
import type { InstallHandler, InstallTarget } from './install-handler.ts';
import type { DeviceTls } from './mtls-request.ts';
import { downloadResumable } from './resumable-download.ts';
import { updatesDir } from './tuf-trust.ts';
import type { VerifiedTargetInfo } from './tuf-verifier.ts';

export type UpdaterPhase = 'idle' | UpdaterState;

/** The updater's persisted record (`<dataDir>/updates/state.json`, written then renamed). */
export interface UpdaterRecord {
  readonly state: UpdaterPhase;
  readonly rolloutId: string | null;
  readonly name: string | null;
  readonly version: string | null;
  readonly targetPath: string | null;
  readonly sha256: string | null;
  readonly length: number | null;
  /** What ran before this update: the version a rollback returns to. */
  readonly previousVersion: string | null;
  /** Starts of the agent while installing or awaiting health, without a commit. */
  readonly attempts: number;
  readonly detail: string;
  /** The manager acknowledged a report of this state. */
  readonly reported: boolean;
  /** Set when the device went back from `version` by itself (health check, boot attempts). */
  readonly fellBackFrom: string | null;
  /** The last download: where it resumed from and how many bytes it fetched then. */
  readonly download: { readonly resumedFrom: number; readonly fetchedBytes: number } | null;
}

const IDLE: UpdaterRecord = {
  state: 'idle',
  rolloutId: null,
  name: null,
  version: null,
  targetPath: null,
  sha256: null,
  length: null,
  previousVersion: null,
  attempts: 0,
  detail: '',
  reported: true,
  fellBackFrom: null,
  download: null,
};

/** Which state may follow which; anything else is a bug and throws. */
const allowed: Record<UpdaterPhase, readonly UpdaterPhase[]> = {
  idle: ['downloading', 'rolled-back'],
  downloading: ['downloading', 'verified', 'failed', 'committed', 'idle'],
  verified: ['installing', 'failed', 'idle'],
  installing: ['installing', 'awaiting-health', 'rolled-back'],
  'awaiting-health': ['awaiting-health', 'committed', 'rolled-back'],
  committed: ['committed', 'rolled-back', 'downloading', 'idle'],
  'rolled-back': ['rolled-back', 'downloading', 'idle'],
  failed: ['failed', 'downloading', 'idle'],
};

/** The final states: reported, then kept until the next assignment. */
const FINAL: readonly UpdaterPhase[] = ['committed', 'rolled-back', 'failed'];

export interface UpdaterClient {
  get<T>(path: string): Promise<{ body: T }>;
  post<T>(path: string, body: unknown): Promise<{ body: T }>;
}

export interface UpdaterOptions {
  readonly dataDir: string;
  readonly deviceId: string;
  readonly managerUrl: string;
  readonly tls: DeviceTls;
  /** The device key (PEM) that signs running-version reports. */
  readonly keyPem: string;
  readonly client: UpdaterClient;
  readonly handler: InstallHandler;
  /** Artifact names whose running version is reported at every start. */
  readonly artifactNames: readonly string[];
  /** The device's labels: every `compat` pair of a target must match one (board, model, OS). */
  readonly labels: Readonly<Record<string, string>>;
  readonly pollMs: number;
  readonly healthDeadlineMs: number;
  /** Starts without a commit after which the device goes back. */
  readonly maxAttempts: number;
  readonly requestTimeoutMs: number;
  readonly clock: Clock;
  readonly logger: Logger;
  /** TUF verification; by default the tuf-js client, loaded when first needed. */
  readonly verifyTarget?: (targetPath: string) => Promise<VerifiedTargetInfo>;
}

/**
 * The device's updater: a persisted state machine (downloading → verified → installing → awaiting-health
 * → committed | rolled-back, or failed when the update was refused) driven by the assignment it polls
 * (`GET /v1/update`). Each state is written to disk before the work it names starts, so a crash or reboot
 * resumes it: a download continues where it broke, an install is repeated, a pending health check runs
 * again — and once the agent has started `maxAttempts` times without committing, the device goes back.
 */
export class Updater {
  readonly #options: UpdaterOptions;
  readonly #dir: string;
  #record: UpdaterRecord = IDLE;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #stopped = false;

  constructor(options: UpdaterOptions) {
    this.#options = options;
    this.#dir = updatesDir(options.dataDir);
  }

  get record(): UpdaterRecord {
    return this.#record;
  }

  /** Resumes what a previous run left, reports the running versions, and starts polling. */
  async start(): Promise<void> {
    await mkdir(this.#dir, { recursive: true });
    this.#record = await this.#load();
    this.#stopped = false;
    await this.#resumeAfterStart();
    await this.#reportRunning().catch((error: unknown) =>
      this.#warn(error, 'cannot report the running version yet'),
    );
    this.#schedule(0);
  }

  /** Stops polling; a step under way finishes (its state is on disk either way). */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#running;
  }

  /** Stops at once without waiting, as a killed process would (tests). */
  abandon(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#running = undefined;
  }

  /** One poll now (after a push nudge, and tests), after the one under way. */
  pollNow(): Promise<void> {
    return this.#enqueuePoll();
  }

  /** Polls run one after another, never two at once on the same record. */
  #enqueuePoll(): Promise<void> {
    const next = (this.#running ?? Promise.resolve()).then(() => this.#poll());
    this.#running = next;
    return next;
  }

  #schedule(delayMs: number): void {
    if (this.#stopped) return;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      void this.#enqueuePoll().finally(() => this.#schedule(this.#options.pollMs));
    }, delayMs);
    this.#timer.unref?.();
  }

  async #poll(): Promise<void> {
    if (this.#stopped) return;
    try {
      if (!this.#record.reported) await this.#report();
      const { body } = await this.#options.client.get<UpdateAssignment>('/v1/update');
      await this.#follow(body.update);
    } catch (error) {
      this.#warn(error, 'update poll failed; retried at the next one');
    }
  }

  async #follow(assignment: UpdateAssignment['update']): Promise<void> {
    const record = this.#record;
    if (assignment === null) {
      // The rollout stopped before this device installed: drop it (a partial download stays for later).
      if (record.state === 'downloading' || record.state === 'verified') {
        await this.#move('idle', { detail: 'the rollout no longer offers this update' });
      }
      return;
    }
    const same = record.rolloutId === assignment.rolloutId;
    if (assignment.action === 'rollback') {
      if (same && record.state === 'rolled-back') {
        if (!record.reported) await this.#report();
        return;
      }
      await this.#rollBackOnRequest(assignment);
      return;
    }
    if (same && FINAL.includes(record.state)) return;
    if (!same || record.state === 'idle') {
      if (this.#stopped) return;
      await this.#move('downloading', {
        ...IDLE,
        rolloutId: assignment.rolloutId,
        name: assignment.name,
        version: assignment.version,
        targetPath: assignment.targetPath,
        previousVersion: await this.#options.handler.currentVersion(assignment.name),
        detail: 'verifying the signed metadata',
      });
    }
    await this.#advance();
  }

  /** Carries the current update forward from the state on disk until it rests or ends. */
  async #advance(): Promise<void> {
    while (!this.#stopped) {
      const record = this.#record;
      try {
        if (record.state === 'downloading') await this.#download();
        else if (record.state === 'verified') {
          await this.#move('installing', { detail: `installing with ${this.#options.handler.kind}` });
        } else if (record.state === 'installing') {
          await this.#options.handler.install(this.#target());
          await this.#move('awaiting-health', { detail: 'running the health check' });
        } else if (record.state === 'awaiting-health') await this.#checkHealth();
        else return;
      } catch (error) {
        if (await this.#onStepError(error)) return;
      }
    }
  }

  async #download(): Promise<void> {
    const record = this.#record;
    const name = record.name ?? '';
    const version = record.version ?? '';
    const info = await this.#verify(record.targetPath ?? '');
    if (info.custom.name !== name || info.custom.version !== version) {
      throw new EdgewardError(
        'EW_UPDATE_REFUSED',
        `the signed target ${info.path} is not ${name}@${version}`,
      );
    }
    const compat = (info.custom.compat ?? {}) as Record<string, string>;
    const mismatch = Object.entries(compat).find(([key, value]) => this.#options.labels[key] !== value);
    if (mismatch !== undefined) {
      throw new EdgewardError(
        'EW_UPDATE_REFUSED',
        `${name}@${version} needs ${mismatch[0]}=${mismatch[1]}, this device has ${mismatch[0]}=${this.#options.labels[mismatch[0]] ?? '(none)'}`,
      );
    }
    const running = await this.#options.handler.currentVersion(name);
    if (running !== null && compareArtifactVersions(version, running) < 0) {
      throw new EdgewardError(
        'EW_UPDATE_REFUSED',
        `${name}@${version} is older than the running ${running}: the device does not downgrade`,
      );
    }
    if (running === version) {
      await this.#move('committed', { detail: `already running ${version}` });
      return;
    }
    const url = new URL(`/v1/targets/${info.sha256}`, this.#options.managerUrl);
    const result = await downloadResumable(
      { url, length: info.length, sha256: info.sha256 },
      this.#targetFile(info.sha256),
      this.#options.tls,
      this.#options.requestTimeoutMs,
    );
    await this.#move('verified', {
      sha256: info.sha256,
      length: info.length,
      download: result,
      detail: `downloaded ${info.length} bytes (resumed from ${result.resumedFrom}); length and SHA-256 match`,
    });
  }

  async #checkHealth(): Promise<void> {
    const handler = this.#options.handler;
    const target = this.#target();
    const healthy = await handler
      .healthCheck(target, this.#options.healthDeadlineMs)
      .catch((error: unknown) => {
        this.#warn(error, 'the health check failed to run');
        return false;
      });
    if (healthy) {
      await handler.commit(target);
      await this.#move('committed', { detail: 'healthy; committed', attempts: 0 });
    } else {
      await handler.rollback(target);
      await this.#move('rolled-back', {
        detail: `the health check failed within ${this.#options.healthDeadlineMs} ms; back to ${this.#record.previousVersion ?? 'the previous version'}`,
        fellBackFrom: target.version,
      });
    }
    await this.#reportRunning().catch((error: unknown) =>
      this.#warn(error, 'cannot report the running version yet'),
    );
  }

  /** True when the update ended (refused or rolled back); false to retry the step at the next poll. */
  async #onStepError(error: unknown): Promise<boolean> {
    const record = this.#record;
    if (isEdgewardError(error, 'EW_UPDATE_REFUSED')) {
      await this.#move('failed', { detail: error.message });
      return true;
    }
    if (record.state === 'downloading' || record.state === 'verified') {
      // Network trouble: the download resumes at the next poll.
      this.#warn(error, 'update step failed; retried at the next poll');
      return true;
    }
    // Installing or checking failed: go back to what ran before.
    await this.#options.handler.rollback(this.#target()).catch((rollbackError: unknown) => {
      this.#warn(rollbackError, 'rollback after a failed install failed too');
    });
    await this.#move('rolled-back', {
      detail: `install failed: ${(error as Error).message}`,
      fellBackFrom: record.version,
    });
    return true;
  }

  async #rollBackOnRequest(assignment: NonNullable<UpdateAssignment['update']>): Promise<void> {
    const handler = this.#options.handler;
    const running = await handler.currentVersion(assignment.name);
    if (running === assignment.version)
      await handler.rollback({ name: assignment.name, version: assignment.version });
    const previous =
      this.#record.rolloutId === assignment.rolloutId ? this.#record : { ...IDLE, previousVersion: running };
    await this.#move('rolled-back', {
      ...previous,
      rolloutId: assignment.rolloutId,
      name: assignment.name,
      version: assignment.version,
      targetPath: assignment.targetPath,
      detail: 'rolled back at the manager’s request',
      fellBackFrom: null,
    });
    await this.#reportRunning().catch((error: unknown) =>
      this.#warn(error, 'cannot report the running version yet'),
    );
  }

  /** After a start: count the attempt of an unfinished install, and go back once they are used up. */
  async #resumeAfterStart(): Promise<void> {
    const record = this.#record;
    if (record.state !== 'installing' && record.state !== 'awaiting-health') {
      return;
    }
    const attempts = record.attempts + 1;
    if (attempts > this.#options.maxAttempts) {
      await this.#options.handler.rollback(this.#target()).catch((error: unknown) => {
        this.#warn(error, 'rollback after the last boot attempt failed');
      });
      await this.#move('rolled-back', {
        attempts,
        detail: `${record.attempts} start(s) without a commit; back to ${record.previousVersion ?? 'the previous version'}`,
        fellBackFrom: record.version,
      });
      return;
    }
    await this.#move(record.state, { attempts, detail: `resumed after a restart (attempt ${attempts})` });
    await this.#advance();
  }

  async #verify(targetPath: string): Promise<VerifiedTargetInfo> {
    if (this.#options.verifyTarget !== undefined) return this.#options.verifyTarget(targetPath);
    const { TufVerifier } = await import('./tuf-verifier.ts');
    const verifier = new TufVerifier({
      dir: this.#dir,
      managerUrl: this.#options.managerUrl,
      tls: this.#options.tls,
      timeoutMs: this.#options.requestTimeoutMs,
    });
    return verifier.targetInfo(targetPath);
  }

  /** Guarded, logged, persisted (written then renamed) before the caller acts on it, and reported. */
  async #move(state: UpdaterPhase, changes: Partial<UpdaterRecord>): Promise<void> {
    const from = this.#record.state;
    if (!allowed[from].includes(state)) {
      throw new EdgewardError('EW_INTERNAL', `the updater cannot go from ${from} to ${state}`);
    }
    // Every state but idle is news for the manager, whatever record the changes were spread from.
    this.#record = { ...this.#record, ...changes, state, reported: state === 'idle' };
    const path = join(this.#dir, 'state.json');
    await writeFile(`${path}.tmp`, JSON.stringify(this.#record));
    await rename(`${path}.tmp`, path);
    this.#options.logger.info(
      {
        from,
        to: state,
        rolloutId: this.#record.rolloutId,
        version: this.#record.version,
        detail: this.#record.detail,
      },
      'updater state',
    );
    if (!this.#record.reported)
      await this.#report().catch((error: unknown) => this.#warn(error, 'report failed; retried'));
  }

  async #report(): Promise<void> {
    const record = this.#record;
    if (
      record.state === 'idle' ||
      record.rolloutId === null ||
      record.name === null ||
      record.version === null
    )
      return;
    const report: UpdateReport = {
      v: PROTOCOL_VERSION,
      rolloutId: record.rolloutId,
      name: record.name,
      version: record.version,
      state: record.state,
      detail: record.detail.slice(0, 2000),
      at: this.#options.clock.now(),
    };
    await this.#options.client.post('/v1/update/report', report);
    if (this.#record === record) {
      this.#record = { ...record, reported: true };
      const path = join(this.#dir, 'state.json');
      await writeFile(`${path}.tmp`, JSON.stringify(this.#record));
      await rename(`${path}.tmp`, path);
    }
  }

  /** What the device actually runs, per artifact name, signed with the device key. */
  async #reportRunning(): Promise<void> {
    const names = new Set(this.#options.artifactNames);
    if (this.#record.name !== null) names.add(this.#record.name);
    for (const name of names) {
      const payload: RunningVersionPayload = {
        deviceId: this.#options.deviceId,
        name,
        version: await this.#options.handler.currentVersion(name),
        fellBackFrom: this.#record.name === name ? this.#record.fellBackFrom : null,
        at: this.#options.clock.now(),
      };
      const signature = sign('sha256', Buffer.from(canonicalJson(payload)), this.#options.keyPem).toString(
        'base64',
      );
      await this.#options.client.post('/v1/update/running', { v: PROTOCOL_VERSION, payload, signature });
    }
  }

  #target(): InstallTarget {
    const record = this.#record;
    return {
      name: record.name ?? '',
      version: record.version ?? '',
      file: this.#targetFile(record.sha256 ?? ''),
    };
  }

  #targetFile(sha256: string): string {
    return join(this.#dir, 'downloads', sha256);
  }

  async #load(): Promise<UpdaterRecord> {
    try {
      return {
        ...IDLE,
        ...(JSON.parse(await readFile(join(this.#dir, 'state.json'), 'utf8')) as UpdaterRecord),
      };
    } catch {
      return IDLE;
    }
  }

  #warn(error: unknown, message: string): void {
    this.#options.logger.warn({ err: error instanceof Error ? error.message : String(error) }, message);
  }
}
