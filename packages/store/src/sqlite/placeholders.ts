/**
 * Rewrites PostgreSQL's `$1` placeholders as SQLite's `?1`, which bind the same positional value
 * (so a repeated `$1` stays one parameter). Quoted strings and identifiers are left alone.
 */
export function toSqlitePlaceholders(sql: string): string {
  let result = '';
  let quote: string | undefined;
  for (let i = 0; i < sql.length; i++) {
    const char = sql[i]!;
    if (quote !== undefined) {
      if (char === quote) quote = undefined;
    } else if (char === "'" || char === '"') {
      quote = char;
    } else if (char === '$' && /[0-9]/.test(sql[i + 1] ?? '')) {
      result += '?';
      continue;
    }
    result += char;
  }
  return result;
}
