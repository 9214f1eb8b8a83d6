import { formatDuration, isoTime } from '@edgeward/core';

/** A plain text table: a header row, then aligned columns. */
export function table(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((header, column) =>
    Math.max(header.length, ...rows.map((row) => (row[column] ?? '').length)),
  );
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, column) => cell.padEnd(widths[column] ?? 0))
      .join('  ')
      .trimEnd();
  return [line(headers), ...rows.map(line)].join('\n');
}

export function json(value: unknown): string {
  return JSON.stringify(value, null, 2);
}

export function labelsText(labels: Record<string, string>): string {
  return (
    Object.entries(labels)
      .map(([key, value]) => `${key}=${value}`)
      .join(',') || '-'
  );
}

/** `2026-11-25 10:31:04Z (5m ago)` */
export function when(ms: number | null, now = Date.now()): string {
  if (ms === null) return 'never';
  const iso = isoTime(ms)
    .replace('T', ' ')
    .replace(/\.\d+Z$/, 'Z');
  const delta = now - ms;
  return `${iso} (${delta >= 0 ? `${formatDuration(delta)} ago` : `in ${formatDuration(-delta)}`})`;
}

export function parseLabelFlags(values: readonly string[]): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const value of values) {
    const separator = value.indexOf('=');
    if (separator <= 0)
      throw new UsageError(`--label ${value} must look like key=value, e.g. --label site=plant-a`);
    labels[value.slice(0, separator)] = value.slice(separator + 1);
  }
  return labels;
}

/** Wrong use of a command: exit code 2 with the message and a pointer to `--help`. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}
