import { EdgewardError } from '@edgeward/core';
import type { CustomTypesConfig, Pool, PoolClient } from 'pg';
import pg from 'pg';
import { describeDatabase } from '../config/database-url.ts';
import { describeError } from '../sql/describe-error.ts';
import type { SqlConnection, SqlDatabase, SqlExecutor, SqlRow, SqlValue } from '../sql/executor.ts';
import { assertOutsideOwnTransaction, runTransaction, SerialExecutor } from '../sql/serial-executor.ts';
import { PostgresListener } from './postgres-listener.ts';
import { quoteIdentifier } from './quote-identifier.ts';

export { quoteIdentifier };

/** How long to wait for a connection (new, or free in the pool) before failing, in milliseconds. */
const connectTimeoutMs = 10_000;
const bigintOid = 20;

// BIGINT holds millisecond times and COUNT(*) results, all far below 2^53, but pg returns it as a
// string by default. Set on this pool only, not on pg's global registry that other code may share.
const types: CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === bigintOid && format !== 'binary'
      ? Number
      : pg.types.getTypeParser(oid, format)) as CustomTypesConfig['getTypeParser'],
};

const unavailableSocketCodes = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
  'EAI_AGAIN',
]);

function isUnavailable(error: unknown): boolean {
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string') {
    // SQLSTATE classes 08 (connection), 53 (insufficient resources), 57P (server shutting down).
    if (code.startsWith('08') || code.startsWith('53') || code.startsWith('57P')) return true;
    if (unavailableSocketCodes.has(code)) return true;
  }
  const message = error instanceof Error ? error.message : '';
  return /Connection terminated|timeout exceeded when trying to connect|connection error/i.test(message);
}

function toStoreError(error: unknown): EdgewardError {
  if (error instanceof EdgewardError) return error;
  const message = describeError(error);
  if (isUnavailable(error)) {
    return new EdgewardError('EW_DATABASE_UNAVAILABLE', `PostgreSQL is not reachable: ${message}`, {
      cause: error,
    });
  }
  return new EdgewardError('EW_INTERNAL', `a PostgreSQL statement failed: ${message}`, { cause: error });
}

/** Escapes a value for the startup `options` string, where spaces separate arguments. */
function escapeStartupOption(value: string): string {
  return value.replace(/[\\ ]/g, (char) => `\\${char}`);
}

class ClientConnection implements SqlConnection {
  readonly #client: PoolClient;

  constructor(client: PoolClient) {
    this.#client = client;
  }

  async query(sql: string, params: readonly SqlValue[]): Promise<SqlRow[]> {
    try {
      return (await this.#client.query<SqlRow>(sql, [...params])).rows;
    } catch (error) {
      throw toStoreError(error);
    }
  }

  async run(sql: string, params: readonly SqlValue[]): Promise<number> {
    try {
      return (await this.#client.query(sql, [...params])).rowCount ?? 0;
    } catch (error) {
      throw toStoreError(error);
    }
  }
}

class PostgresDatabase implements SqlDatabase {
  readonly dialect = 'postgres';
  /** LISTEN for the store's notifications, on a connection of its own. */
  readonly listener: PostgresListener;
  readonly #pool: Pool;
  #closed = false;

  constructor(pool: Pool, listener: PostgresListener) {
    this.#pool = pool;
    this.listener = listener;
  }

  async query<Row extends object = SqlRow>(sql: string, params: readonly SqlValue[] = []): Promise<Row[]> {
    this.#assertUsable();
    try {
      return (await this.#pool.query(sql, [...params])).rows as Row[];
    } catch (error) {
      throw toStoreError(error);
    }
  }

  async run(sql: string, params: readonly SqlValue[] = []): Promise<number> {
    this.#assertUsable();
    try {
      return (await this.#pool.query(sql, [...params])).rowCount ?? 0;
    } catch (error) {
      throw toStoreError(error);
    }
  }

  async transaction<T>(work: (tx: SqlExecutor) => Promise<T>): Promise<T> {
    this.#assertUsable();
    let client: PoolClient;
    try {
      client = await this.#pool.connect();
    } catch (error) {
      throw toStoreError(error);
    }
    const connection = new ClientConnection(client);
    const tx = new SerialExecutor('postgres', connection, 1);
    let broken: Error | boolean = false;
    try {
      return await runTransaction(
        this,
        connection,
        { begin: 'BEGIN', commit: 'COMMIT', rollback: ['ROLLBACK'] },
        () => work(tx),
        (error) => {
          broken = error instanceof Error ? error : true;
        },
      );
    } finally {
      tx.finish(
        'a statement used a transaction that has already ended; await all work before transaction(work) resolves',
      );
      // A connection whose rollback failed is in an unknown state: destroy it rather than reuse it.
      client.release(broken);
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.listener.close();
    await this.#pool.end();
  }

  #assertUsable(): void {
    if (this.#closed) throw new EdgewardError('EW_INTERNAL', 'the store is closed');
    assertOutsideOwnTransaction(this);
  }
}

async function ensureSchema(pool: Pool, schema: string): Promise<void> {
  const existing = await pool.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [schema]);
  if (existing.rowCount !== 0) return;
  try {
    await pool.query(`CREATE SCHEMA IF NOT EXISTS ${quoteIdentifier(schema)}`);
  } catch (error) {
    // Another replica starting at the same moment may have created it between the check and here.
    const code = (error as { code?: unknown }).code;
    if (code !== '42P06' && code !== '23505') throw error;
  }
}

/**
 * Opens a pool on the PostgreSQL database at `url`. With `schema`, every connection's search_path is
 * that schema alone (created when missing), so the tables live there.
 */
export async function openPostgresDatabase(url: string, schema: string | undefined): Promise<SqlDatabase> {
  const clientConfig = {
    connectionString: url,
    types,
    connectionTimeoutMillis: connectTimeoutMs,
    ...(schema === undefined
      ? {}
      : { options: `-c search_path=${escapeStartupOption(quoteIdentifier(schema))}` }),
  };
  const pool = new pg.Pool({ ...clientConfig, application_name: 'edgeward' });
  // An idle connection that breaks (server restart) emits 'error' on the pool, which would crash the
  // process if unheard; the pool drops that connection and the next statement reports the failure.
  pool.on('error', () => {});
  try {
    if (schema === undefined) await pool.query('SELECT 1');
    else await ensureSchema(pool, schema);
  } catch (error) {
    await pool.end().catch(() => {});
    const message = describeError(error);
    throw new EdgewardError(
      'EW_DATABASE_UNAVAILABLE',
      `cannot use PostgreSQL at ${describeDatabase(url)}${schema === undefined ? '' : ` (schema ${JSON.stringify(schema)})`}: ${message}; check the \`database\` setting and that the server accepts connections`,
      { cause: error },
    );
  }
  // Named apart from the pool's connections, so an operator can tell (and tests can cut) the one that listens.
  const listener = new PostgresListener({ ...clientConfig, application_name: 'edgeward-listen' }, schema);
  return new PostgresDatabase(pool, listener);
}
