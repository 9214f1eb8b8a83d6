import { EdgewardError } from '../errors/edgeward-error.ts';

const unitMs: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};

/** Parses `90s`, `30m`, `2h`, `7d`, `1h30m` or a bare number of milliseconds. */
export function parseDuration(text: string, setting = 'duration'): number {
  const trimmed = text.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed);
  const parts = [...trimmed.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h|d|w)/g)];
  if (parts.length === 0 || parts.map((part) => part[0]).join('') !== trimmed) {
    throw new EdgewardError(
      'EW_CONFIG_INVALID',
      `${setting} "${text}" is not a duration; write it like 90s, 30m, 2h, 7d or 1h30m`,
    );
  }
  return Math.round(
    parts.reduce((total, part) => total + Number(part[1]) * (unitMs[part[2] ?? 'ms'] ?? 1), 0),
  );
}

/** `2h 5m`, `3d 4h`, `45s`: the two largest units, for people. */
export function formatDuration(ms: number): string {
  const negative = ms < 0;
  let rest = Math.abs(Math.round(ms));
  const pieces: string[] = [];
  for (const [unit, size] of [
    ['d', 86_400_000],
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1000],
  ] as const) {
    if (rest >= size) {
      pieces.push(`${Math.floor(rest / size)}${unit}`);
      rest %= size;
    }
  }
  const text = pieces.slice(0, 2).join(' ') || `${rest}ms`;
  return negative ? `-${text}` : text;
}
