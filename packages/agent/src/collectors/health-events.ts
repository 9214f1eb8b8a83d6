import { createHash } from 'node:crypto';
import { join } from 'node:path';
import type { NewDeviceEvent } from '@edgeward/core';
import { monotonicMs } from '../runtime/monotonic-clock.ts';
import { securityEvent } from './collector-events.ts';
import { readJsonFile, writeFileAtomic } from './state-file.ts';

/** Events about the agent itself: started, stopped, its configuration changed, the clock jumped. */

export interface AgentStartedDetails {
  readonly time: number;
  readonly version: string;
  readonly pid?: number | undefined;
  /** Hash of the effective configuration (`configHash`). */
  readonly configHash?: string | undefined;
}

export function agentStartedEvent(details: AgentStartedDetails): NewDeviceEvent {
  const { time, ...data } = details;
  return securityEvent('agent.started', time, { ...data });
}

export interface AgentStoppedDetails {
  readonly time: number;
  /** Why: `signal:SIGTERM`, `update`, `fatal`, … */
  readonly reason: string;
  readonly uptimeMs?: number | undefined;
}

export function agentStoppedEvent(details: AgentStoppedDetails): NewDeviceEvent {
  const { time, ...data } = details;
  return securityEvent('agent.stopped', time, { ...data });
}

/** JSON with object keys sorted at every level, so that the same configuration always hashes the same. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map((v) => canonicalJson(v ?? null)).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/** SHA-256 of the configuration's canonical JSON. */
export function configHash(config: Record<string, unknown>): string {
  return sha256(canonicalJson(config));
}

const configStateFile = 'config-hash.json';

export interface ConfigChangeOptions {
  /** The effective configuration, after defaults, file, environment and flags. */
  readonly config: Record<string, unknown>;
  /** Where `config-hash.json` keeps the hash of the configuration last seen. */
  readonly stateDir: string;
  readonly time: number;
}

/**
 * Compares the effective configuration with the one saved at the previous start and saves it: an
 * `agent.config_changed` naming the keys that changed (never their values, which may be secrets or paths
 * to them) when it differs, nothing the first time or when it is the same. Only hashes are kept on disk.
 */
export async function checkConfigChange(options: ConfigChangeOptions): Promise<NewDeviceEvent | undefined> {
  const path = join(options.stateDir, configStateFile);
  const keys: Record<string, string> = {};
  for (const [key, value] of Object.entries(options.config)) {
    if (value !== undefined) keys[key] = sha256(canonicalJson(value)).slice(0, 16);
  }
  const hash = configHash(options.config);
  const saved = (await readJsonFile(path).catch(() => undefined)) as
    | { hash?: unknown; keys?: Record<string, unknown> }
    | undefined;
  const previous = typeof saved?.hash === 'string' ? saved.hash : undefined;
  if (previous !== hash) await writeFileAtomic(path, `${JSON.stringify({ v: 1, hash, keys })}\n`);
  if (previous === undefined || previous === hash) return undefined;
  const before = saved?.keys ?? {};
  const changedKeys = [...new Set([...Object.keys(before), ...Object.keys(keys)])]
    .filter((key) => before[key] !== keys[key])
    .sort();
  return securityEvent('agent.config_changed', options.time, { previousHash: previous, hash, changedKeys });
}

export interface ClockJumpOptions {
  /** Wall clock, milliseconds since the epoch; defaults to `Date.now`. */
  readonly wallNow?: (() => number) | undefined;
  /** A clock that only moves forward, milliseconds; defaults to `monotonicMs`. */
  readonly monotonicNow?: (() => number) | undefined;
  /** Difference between the two clocks' progress that counts as a jump, milliseconds; default 300 000. */
  readonly thresholdMs?: number | undefined;
}

/**
 * Notices the wall clock being set (by hand, by NTP after a long drift, by an attacker covering tracks):
 * between two ticks the wall clock should move as far as the monotonic clock. Call `tick` periodically,
 * say every minute. The monotonic clock stops while the device is suspended, so a resume looks like a
 * forward jump; edge devices rarely suspend.
 */
export class ClockJumpDetector {
  readonly #wallNow: () => number;
  readonly #monotonicNow: () => number;
  readonly #thresholdMs: number;
  #last: { wall: number; monotonic: number } | undefined;

  constructor(options: ClockJumpOptions = {}) {
    this.#wallNow = options.wallNow ?? Date.now;
    this.#monotonicNow = options.monotonicNow ?? monotonicMs;
    this.#thresholdMs = options.thresholdMs ?? 300_000;
  }

  /** An `agent.clock_jump` when the wall clock moved more or less than the monotonic one by the threshold. */
  tick(): NewDeviceEvent | undefined {
    const now = { wall: this.#wallNow(), monotonic: this.#monotonicNow() };
    const last = this.#last;
    this.#last = now;
    if (last === undefined) return undefined;
    const elapsedMs = now.monotonic - last.monotonic;
    const jumpMs = Math.round(now.wall - last.wall - elapsedMs);
    if (Math.abs(jumpMs) < this.#thresholdMs) return undefined;
    return securityEvent('agent.clock_jump', now.wall, {
      jumpMs,
      direction: jumpMs > 0 ? 'forward' : 'backward',
      previousWallTime: last.wall,
      wallTime: now.wall,
      elapsedMs: Math.round(elapsedMs),
    });
  }
}
