import type { CompiledPolicy, CompiledWindow } from './policy.schema.ts';
import { isInsideWeeklyRanges, windowsForSegment } from './weekly-window.ts';

/**
 * `activeMaintenanceWindow` with the cron parser loaded only when the segment has a cron window: the agent
 * looks at its windows at every evaluation, and a device whose windows are weekly ranges (or that has none)
 * never loads it.
 */
export async function activeMaintenanceWindowOnDemand(
  policy: Pick<CompiledPolicy, 'windows'>,
  segmentId: string,
  now: number,
): Promise<CompiledWindow | undefined> {
  const windows = windowsForSegment(policy, segmentId);
  const cron = windows.some((window) => window.schedule.kind === 'cron')
    ? await import('./cron-window.ts')
    : undefined;
  return windows.find((window) =>
    window.schedule.kind === 'cron'
      ? cron?.isInsideCronWindow(window.schedule, window.timeZone, now) === true
      : isInsideWeeklyRanges(window.schedule.ranges, window.timeZone, now),
  );
}
