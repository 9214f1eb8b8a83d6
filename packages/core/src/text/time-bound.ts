import { EdgewardError } from '../errors/edgeward-error.ts';
import { parseDuration } from './duration.ts';

/**
 * A point in time given the ways people type it in a query: a duration back from `now` (`90s`, `1h`,
 * `7d`, `1h30m`), an ISO 8601 date or date-time (`2026-05-01`, `2026-05-01T10:00:00Z`), or milliseconds
 * since the epoch (`1767225600000`). Throws EW_REQUEST_INVALID naming `parameter` otherwise.
 */
export function parseTimeBound(text: string, now: number, parameter = 'time'): number {
  const trimmed = text.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed);
  if (/^\d{4}-\d{2}-\d{2}/.test(trimmed)) {
    const ms = Date.parse(trimmed);
    if (Number.isFinite(ms)) return ms;
  } else {
    try {
      return now - parseDuration(trimmed, parameter);
    } catch {
      // Reported below with every accepted form, not only durations.
    }
  }
  throw new EdgewardError(
    'EW_REQUEST_INVALID',
    `${parameter} "${text}" is not a time; give a duration back from now (30m, 1h, 7d), an ISO date (2026-05-01T10:00:00Z) or milliseconds since the epoch`,
  );
}
