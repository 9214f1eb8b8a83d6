import { EdgewardError } from '@edgeward/core';
import type { SqlValue } from '../sql/executor.ts';

/** Collects bound values and hands out their `$n` placeholders, for statements built piece by piece. */
export class Params {
  readonly values: SqlValue[] = [];

  add(value: SqlValue): string {
    this.values.push(value);
    return `$${this.values.length}`;
  }
}

export function whereClause(conditions: readonly string[]): string {
  return conditions.length === 0 ? '' : `WHERE ${conditions.join(' AND ')}`;
}

/** Rows returned when a list call names no limit. */
export const defaultLimit = 100;

export function limitOf(limit: number | undefined): number {
  if (limit === undefined) return defaultLimit;
  if (!Number.isSafeInteger(limit) || limit < 0) {
    throw new EdgewardError('EW_REQUEST_INVALID', `limit ${limit} is invalid; use a whole number, 0 or more`);
  }
  return limit;
}

/** JSON text for a nullable column: `undefined` becomes SQL NULL, everything else (null too) JSON. */
export function toJsonColumn(value: unknown): string | null {
  return value === undefined ? null : JSON.stringify(value);
}

export function fromJsonColumn(text: string | null): unknown {
  return text === null ? undefined : JSON.parse(text);
}

/** A `LIKE` pattern matching `text` anywhere, with its own `%`, `_` and `\` taken literally (ESCAPE '\'). */
export function containsPattern(text: string): string {
  return `%${text.replace(/[\\%_]/g, (char) => `\\${char}`)}%`;
}
