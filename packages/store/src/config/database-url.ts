import { EdgewardError } from '@edgeward/core';

export type DatabaseLocation =
  | { readonly engine: 'sqlite'; readonly path: string }
  | { readonly engine: 'postgres'; readonly url: string; readonly schema: string | undefined };

const acceptedForms =
  'use `sqlite:PATH` (for example `sqlite:/var/lib/edgeward/edgeward.db`), `sqlite::memory:`, or a `postgres://USER@HOST:PORT/DATABASE` URL';

/** PostgreSQL truncates longer identifiers, which would silently put the tables elsewhere. */
const maxIdentifierBytes = 63;

/** Reads the `database` and `schema` options into where the store lives; EW_CONFIG_INVALID when malformed. */
export function parseDatabaseLocation(database: string, schema: string | undefined): DatabaseLocation {
  if (database.startsWith('sqlite:')) {
    const path = database.slice('sqlite:'.length);
    if (path === '') {
      throw new EdgewardError('EW_CONFIG_INVALID', `database "sqlite:" names no file; ${acceptedForms}`);
    }
    if (schema !== undefined) {
      throw new EdgewardError(
        'EW_CONFIG_INVALID',
        `schema ${JSON.stringify(schema)} applies to PostgreSQL only; remove it for a SQLite database`,
      );
    }
    return { engine: 'sqlite', path };
  }
  if (database.startsWith('postgres://') || database.startsWith('postgresql://')) {
    if (!URL.canParse(database)) {
      throw new EdgewardError(
        'EW_CONFIG_INVALID',
        `database ${JSON.stringify(describeDatabase(database))} is not a valid URL; ${acceptedForms}`,
      );
    }
    if (schema !== undefined) validateSchemaName(schema);
    return { engine: 'postgres', url: database, schema };
  }
  throw new EdgewardError(
    'EW_CONFIG_INVALID',
    `database ${JSON.stringify(describeDatabase(database))} is not supported; ${acceptedForms}`,
  );
}

function validateSchemaName(schema: string): void {
  const byteLength = Buffer.byteLength(schema);
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is refused
  if (byteLength === 0 || byteLength > maxIdentifierBytes || /[\u0000-\u001f]/.test(schema)) {
    throw new EdgewardError(
      'EW_CONFIG_INVALID',
      `schema ${JSON.stringify(schema)} is not a usable PostgreSQL schema name; use 1 to ${maxIdentifierBytes} bytes without control characters`,
    );
  }
}

/** The database setting with any password hidden, for messages and logs. */
export function describeDatabase(database: string): string {
  if (!URL.canParse(database)) return database.replace(/\/\/[^@/]*@/, '//***@');
  const url = new URL(database);
  if (url.password !== '') url.password = '***';
  return url.toString();
}
