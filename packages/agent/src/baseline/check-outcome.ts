import type { CheckSpec, CheckStatus, CheckType } from '@edgeward/core';
import type { CommandRunner } from '../inventory/command-runner.ts';
import type { ByteOrder } from '../inventory/network.ts';
import type { RunningProcess } from './service-state.ts';

/** Where and how checks run. */
export interface BaselineContext {
  /** The device's root directory, absolute: `/` for this machine, anything else for a mounted or fixture tree. */
  readonly root: string;
  /**
   * True when `root` is this running system, so the kernel, the init system and commands may be asked
   * (`systemctl`, `timedatectl`, writes to /proc/sys). A fixture or mounted tree is only read from files.
   */
  readonly live: boolean;
  /** Runs programs without a shell; `undefined` where nothing may run. */
  readonly run: CommandRunner | undefined;
  /** Device clock, milliseconds since the epoch. */
  readonly now: () => number;
  /** Byte order of the kernel that wrote the root's /proc/net files; defaults to this machine's. */
  readonly procByteOrder?: ByteOrder;
  /**
   * The root's process table, shared by the checks of one evaluation pass (reading every
   * /proc/PID costs tens of milliseconds); without it, each check reads its own.
   */
  readonly processTable?: () => Promise<readonly RunningProcess[]>;
}

/** The spec of one check type. */
export type SpecOf<T extends CheckType> = Extract<CheckSpec, { type: T }>;

export interface CheckOutcome {
  readonly status: CheckStatus;
  /** What was found, for people; at most `MAX_DETAIL_LENGTH` characters. */
  readonly detail: string;
}

/** The limit of `checkResultSchema.detail`. */
export const MAX_DETAIL_LENGTH = 2000;

export function clipDetail(detail: string): string {
  return detail.length <= MAX_DETAIL_LENGTH ? detail : `${detail.slice(0, MAX_DETAIL_LENGTH - 1)}…`;
}

export const outcome = (status: CheckStatus, detail: string): CheckOutcome => ({
  status,
  detail: clipDetail(detail),
});

/** `a, b, c and 4 more`: long lists in a detail stay readable and within its limit. */
export function listSome(items: readonly string[], shown = 10): string {
  if (items.length <= shown) return items.join(', ');
  return `${items.slice(0, shown).join(', ')} and ${items.length - shown} more`;
}

/** `30s`, `1.5s`, `250ms`: timeouts in details. */
export function formatMs(ms: number): string {
  if (ms < 1000) return `${ms}ms`;
  return `${Number((ms / 1000).toFixed(1))}s`;
}

export type Deadline<T> = { readonly done: true; readonly value: T } | { readonly done: false };

/**
 * Waits for `work` at most `timeoutMs`. The work is not cancelled when the time is up (a file write in
 * flight finishes on its own); commands are bounded by their runner's own timeout as well.
 */
export async function withDeadline<T>(work: Promise<T>, timeoutMs: number): Promise<Deadline<T>> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<Deadline<T>>((resolve) => {
    timer = setTimeout(() => resolve({ done: false }), timeoutMs);
  });
  const finished = work.then((value) => ({ done: true as const, value }));
  // A failure after the deadline has nobody left to hear it; it must not become an unhandled rejection.
  finished.catch(() => undefined);
  try {
    return await Promise.race([finished, expired]);
  } finally {
    clearTimeout(timer);
  }
}
