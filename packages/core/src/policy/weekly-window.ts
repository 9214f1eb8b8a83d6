import { type CompiledPolicy, type CompiledWindow, type Weekday, weekdays } from './policy.schema.ts';

// The parts of maintenance windows that need no cron parser (see maintenance-window.ts for the rules).

const MINUTES_PER_DAY = 1440;

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

type WeeklyRange = Extract<CompiledWindow['schedule'], { kind: 'weekly' }>['ranges'][number];

/** Whether one of the weekly ranges, read on the wall clock of `timeZone`, is open at `now`. */
export function isInsideWeeklyRanges(ranges: readonly WeeklyRange[], timeZone: string, now: number): boolean {
  const local = wallClock(timeZone, now);
  const previousDay = weekdays[(local.day + 6) % 7] as Weekday;
  const today = weekdays[local.day] as Weekday;
  return ranges.some((range) => {
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
