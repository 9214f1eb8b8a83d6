import { Cron } from 'croner';
import type { CompiledWindow } from './policy.schema.ts';

// The cron windows of maintenance windows (see maintenance-window.ts for the rules), apart from the rest
// so that a device whose windows are all weekly ranges never loads the cron parser.

/** The cron dialect of maintenance windows: five fields (minute hour day-of-month month day-of-week). */
export function windowCron(expression: string, timeZone: string): Cron {
  return new Cron(expression, { timezone: timeZone, mode: '5-part' });
}

type CronSchedule = Extract<CompiledWindow['schedule'], { kind: 'cron' }>;

/** Whether an occurrence of the cron window, evaluated in `timeZone`, began less than its duration ago. */
export function isInsideCronWindow(schedule: CronSchedule, timeZone: string, now: number): boolean {
  // nextRun is strictly after its reference, so this finds an occurrence t with now - duration < t.
  const occurrence = windowCron(schedule.cron, timeZone).nextRun(new Date(now - schedule.durationMs));
  return occurrence !== null && occurrence.getTime() <= now;
}
