import { Cron } from 'croner';
import { type CompiledPolicy, type CompiledWindow, type Weekday, weekdays } from './policy.schema.ts';

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

const MINUTES_PER_DAY = 1440;

/** The cron dialect of maintenance windows: five fields (minute hour day-of-month month day-of-week). */
export function windowCron(expression: string, timeZone: string): Cron {
  return new Cron(expression, { timezone: timeZone, mode: '5-part' });
}

/**
 * An IANA zone name (`Europe/Berlin`, `UTC`) that this runtime knows. Offsets such as `+01:00` are
 * refused: they ignore daylight saving time, which is rarely what a maintenance window means.
 */
export function isValidTimeZone(timeZone: string): boolean {
  if (!/^[A-Za-z]/.test(timeZone)) return false;
  try {
    new Intl.DateTimeFormat('en-US', { timeZone });
    return true;
  } catch {
    return false;
  }
}

/** The windows that apply to a segment (those naming it, and those naming no segment), in policy order. */
export function windowsForSegment(
  policy: Pick<CompiledPolicy, 'windows'>,
  segmentId: string,
): CompiledWindow[] {
  return policy.windows.filter(
    (window) => window.segments.length === 0 || window.segments.includes(segmentId),
  );
}

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
  if (schedule.kind === 'cron') {
    // nextRun is strictly after its reference, so this finds an occurrence t with now - duration < t.
    const occurrence = windowCron(schedule.cron, window.timeZone).nextRun(
      new Date(now - schedule.durationMs),
    );
    return occurrence !== null && occurrence.getTime() <= now;
  }
  const local = wallClock(window.timeZone, now);
  const previousDay = weekdays[(local.day + 6) % 7] as Weekday;
  const today = weekdays[local.day] as Weekday;
  return schedule.ranges.some((range) => {
    const start = minutesOf(range.start);
    const end = minutesOf(range.end);
    if (end > start) return range.days.includes(today) && local.minute >= start && local.minute < end;
    return (
      (range.days.includes(today) && local.minute >= start) ||
      (range.days.includes(previousDay) && local.minute < end)
    );
  });
}

function minutesOf(clock: string): number {
  return Number(clock.slice(0, 2)) * 60 + Number(clock.slice(3, 5));
}

/** Intl's `en-US` short weekday names, Monday first like `weekdays`. */
const shortWeekdays = ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'];
// Building a formatter is costly next to using one; there is one per time zone of the policy.
const formatters = new Map<string, Intl.DateTimeFormat>();

/** Local weekday (0 = Monday) and minute of the day at `now` in `timeZone`. */
function wallClock(timeZone: string, now: number): { day: number; minute: number } {
  let formatter = formatters.get(timeZone);
  if (formatter === undefined) {
    formatter = new Intl.DateTimeFormat('en-US', {
      timeZone,
      weekday: 'short',
      hour: '2-digit',
      minute: '2-digit',
      hourCycle: 'h23',
    });
    formatters.set(timeZone, formatter);
  }
  let day = 0;
  let minute = 0;
  for (const part of formatter.formatToParts(now)) {
    if (part.type === 'weekday') day = shortWeekdays.indexOf(part.value);
    else if (part.type === 'hour') minute += Number(part.value) * 60;
    else if (part.type === 'minute') minute += Number(part.value);
  }
  return { day, minute: minute % MINUTES_PER_DAY };
}
