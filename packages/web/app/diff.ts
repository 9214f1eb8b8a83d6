/** A line diff (longest common subsequence), enough for policy files of a few hundred lines. */
export interface DiffLine {
  readonly kind: ' ' | '+' | '-';
  readonly text: string;
}

export function diffLines(before: string, after: string): DiffLine[] {
  const a = before === '' ? [] : before.split('\n');
  const b = after === '' ? [] : after.split('\n');
  // Beyond this the table would not fit in memory comfortably: show a replacement instead.
  if (a.length * b.length > 4_000_000) {
    return [
      ...a.map((text) => ({ kind: '-' as const, text })),
      ...b.map((text) => ({ kind: '+' as const, text })),
    ];
  }
  const lengths: number[][] = Array.from({ length: a.length + 1 }, () =>
    new Array<number>(b.length + 1).fill(0),
  );
  for (let i = a.length - 1; i >= 0; i--) {
    const row = lengths[i] as number[];
    const below = lengths[i + 1] as number[];
    for (let j = b.length - 1; j >= 0; j--) {
      row[j] =
        a[i] === b[j] ? (below[j + 1] as number) + 1 : Math.max(below[j] as number, row[j + 1] as number);
    }
  }
  const out: DiffLine[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    if (a[i] === b[j]) {
      out.push({ kind: ' ', text: a[i] as string });
      i++;
      j++;
    } else if ((lengths[i + 1]?.[j] ?? 0) >= (lengths[i]?.[j + 1] ?? 0)) {
      out.push({ kind: '-', text: a[i] as string });
      i++;
    } else {
      out.push({ kind: '+', text: b[j] as string });
      j++;
    }
  }
  while (i < a.length) out.push({ kind: '-', text: a[i++] as string });
  while (j < b.length) out.push({ kind: '+', text: b[j++] as string });
  return out;
}

/** A value of an inventory change as lines: objects as indented JSON, absent as nothing. */
export function valueLines(value: unknown): string {
  if (value === null || value === undefined) return '';
  return typeof value === 'string' ? value : JSON.stringify(value, null, 2);
}
