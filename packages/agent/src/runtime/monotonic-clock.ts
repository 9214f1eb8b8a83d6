/**
 * Milliseconds on the monotonic clock, which does not jump when the wall clock is set. Read through
 * `process.hrtime`, the same clock as `performance.now()`: the `performance` object loads Node's
 * performance timing modules, memory a device agent would keep for one clock.
 */
export function monotonicMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}
