import * as z from 'zod/mini';

/**
 * Hybrid logical clock timestamps (Kulkarni et al., 2014): wall-clock milliseconds, a counter that
 * orders events within one millisecond (or while the wall clock stands behind the last seen value), and
 * the node that made them, so that any two timestamps compare in one total order on every machine.
 */
export const hybridTimestampSchema = z.strictObject({
  wallMs: z.number().check(z.int(), z.minimum(0)),
  counter: z.number().check(z.int(), z.minimum(0)),
  /** Who made the edit (`hub`, `site/<id>`, an operator's node); breaks ties between equal clocks. */
  node: z.string().check(z.minLength(1), z.maxLength(200)),
});
export type HybridTimestamp = z.infer<typeof hybridTimestampSchema>;

/** Negative, zero or positive as `a` is before, equal to or after `b`. */
export function compareHybrid(a: HybridTimestamp, b: HybridTimestamp): number {
  if (a.wallMs !== b.wallMs) return a.wallMs < b.wallMs ? -1 : 1;
  if (a.counter !== b.counter) return a.counter < b.counter ? -1 : 1;
  if (a.node === b.node) return 0;
  return a.node < b.node ? -1 : 1;
}

/** The timestamp of a local event: after `last` and never behind the wall clock. */
export function tickHybrid(last: HybridTimestamp | undefined, nowMs: number, node: string): HybridTimestamp {
  if (last === undefined || nowMs > last.wallMs) return { wallMs: nowMs, counter: 0, node };
  return { wallMs: last.wallMs, counter: last.counter + 1, node };
}

export type HybridReceipt =
  | { readonly ok: true; readonly clock: HybridTimestamp }
  | { readonly ok: false; readonly reason: 'clock-ahead'; readonly aheadMs: number };

/**
 * Folds a remote timestamp into the local clock. A remote wall clock more than `maxAheadMs` ahead of
 * local time is refused rather than adopted: one machine with a clock set years ahead would otherwise
 * win every later edit, everywhere.
 */
export function receiveHybrid(
  last: HybridTimestamp | undefined,
  remote: HybridTimestamp,
  nowMs: number,
  node: string,
  maxAheadMs: number,
): HybridReceipt {
  const aheadMs = remote.wallMs - nowMs;
  if (aheadMs > maxAheadMs) return { ok: false, reason: 'clock-ahead', aheadMs };
  const lastWall = last?.wallMs ?? -1;
  const wallMs = Math.max(nowMs, lastWall, remote.wallMs);
  let counter = 0;
  if (wallMs === lastWall && wallMs === remote.wallMs) {
    counter = Math.max(last?.counter ?? 0, remote.counter) + 1;
  } else if (wallMs === lastWall) {
    counter = (last?.counter ?? 0) + 1;
  } else if (wallMs === remote.wallMs) {
    counter = remote.counter + 1;
  }
  return { ok: true, clock: { wallMs, counter, node } };
}

/** `wallMs.counter@node`, for messages and map keys. */
export function formatHybrid(timestamp: HybridTimestamp): string {
  return `${timestamp.wallMs}.${timestamp.counter}@${timestamp.node}`;
}
