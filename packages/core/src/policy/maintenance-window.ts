import { isInsideCronWindow } from './cron-window.ts';
import type { CompiledPolicy, CompiledWindow } from './policy.schema.ts';
import { isInsideWeeklyRanges, windowsForSegment } from './weekly-window.ts';

export { isValidTimeZone, windowsForSegment } from './weekly-window.ts';

/**
 * Maintenance windows: when a device of a segment may change (install, remediate, expect drift).
 *
 * Weekly ranges are wall-clock times in the window's IANA time zone. A range whose `end` is not after
 * its `start` crosses midnight and belongs to the day it starts on (`fri 22:00–02:00` is open early on
 * Saturday, not early on Friday); `start` equal to `end` is a whole 24 hours. Daylight saving time is
 * read off the wall clock, as people expect from "02:00 to 05:00": on the day the clocks go forward a
 * range loses the skipped hour (one that lies entirely inside it does not open that day), and on the
 * day they go back a range covering the repeated hour is open during both passes.
 *
 * Cron windows open at each occurrence of a five-field cron expression (croner, evaluated in the
 * window's time zone) and stay open for `durationMs`. croner runs an occurrence that falls in the
 * skipped hour at the first valid time after it, and a fixed-time occurrence in the repeated hour once.
 */

/** The first window (by id) of the segment that is open at `now` (ms since the epoch), if any. */
export function activeMaintenanceWindow(
  policy: Pick<CompiledPolicy, 'windows'>,
  segmentId: string,
  now: number,
): CompiledWindow | undefined {
  return windowsForSegment(policy, segmentId).find((window) => isInsideWindow(window, now));
}

/** Whether the window is open at `now` (ms since the epoch). */
export function isInsideWindow(window: CompiledWindow, now: number): boolean {
  const schedule = window.schedule;
  return schedule.kind === 'cron'
    ? isInsideCronWindow(schedule, window.timeZone, now)
    : isInsideWeeklyRanges(schedule.ranges, window.timeZone, now);
}
