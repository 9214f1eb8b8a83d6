import { DatabaseSync, type StatementSync } from 'node:sqlite';
import { EdgewardError } from '@edgeward/core';
import { describeError } from '../sql/describe-error.ts';
import type { SqlConnection, SqlDatabase, SqlExecutor, SqlRow, SqlValue } from '../sql/executor.ts';
import { SerialExecutor } from '../sql/serial-executor.ts';
import { toSqlitePlaceholders } from './placeholders.ts';

/** How long a statement waits for another process's write lock before failing, in milliseconds. */
const busyTimeoutMs = 5000;
/** Prepared statements kept per connection; dynamic filters make the set of texts open-ended. */
const statementCacheSize = 256;

// SQLite primary result codes that mean "the database is not usable right now" rather than "this
// statement is wrong": BUSY, LOCKED, IOERR, CORRUPT, FULL, CANTOPEN, READONLY.
const unavailableCodes = new Set([5, 6, 8, 10, 11, 13, 14]);

function toStoreError(error: unknown): EdgewardError {
  if (error instanceof EdgewardError) return error;
  const message = describeError(error);
  const errcode = (error as { errcode?: unknown }).errcode;
  if (typeof errcode === 'number' && unavailableCodes.has(errcode & 0xff)) {
    return new EdgewardError('EW_DATABASE_UNAVAILABLE', `the SQLite database is not usable: ${message}`, {
      cause: error,
    });
  }
  return new EdgewardError('EW_INTERNAL', `a SQLite statement failed: ${message}`, { cause: error });
}

class SqliteConnection implements SqlConnection {
  readonly #db: DatabaseSync;
  readonly #statements = new Map<string, StatementSync>();

  constructor(db: DatabaseSync) {
    this.#db = db;
  }

  async query(sql: string, params: readonly SqlValue[]): Promise<SqlRow[]> {
    try {
      return this.#prepare(sql).all(...params) as SqlRow[];
    } catch (error) {
      throw toStoreError(error);
    }
  }

  async run(sql: string, params: readonly SqlValue[]): Promise<number> {
    try {
      return Number(this.#prepare(sql).run(...params).changes);
    } catch (error) {
      throw toStoreError(error);
    }
  }

  #prepare(sql: string): StatementSync {
    let statement = this.#statements.get(sql);
    if (statement === undefined) {
      statement = this.#db.prepare(toSqlitePlaceholders(sql));
      if (this.#statements.size >= statementCacheSize) {
        const oldest = this.#statements.keys().next().value;
        if (oldest !== undefined) this.#statements.delete(oldest);
      }
      this.#statements.set(sql, statement);
    }
    return statement;
  }
}

class SqliteDatabase implements SqlDatabase {
  readonly dialect = 'sqlite';
  readonly #db: DatabaseSync;
  // One connection for everything: the root executor's lock keeps other statements out of an open
  // transaction while its async body awaits.
  readonly #root: SerialExecutor;
  #closed = false;

  constructor(db: DatabaseSync) {
    this.#db = db;
    this.#root = new SerialExecutor('sqlite', new SqliteConnection(db), 0, {
      // IMMEDIATE takes the write lock at once, so a transaction never fails half-way to upgrade it.
      begin: 'BEGIN IMMEDIATE',
      commit: 'COMMIT',
      rollback: ['ROLLBACK'],
    });
  }

  query<Row extends object = SqlRow>(sql: string, params?: readonly SqlValue[]): Promise<Row[]> {
    return this.#root.query<Row>(sql, params);
  }

  run(sql: string, params?: readonly SqlValue[]): Promise<number> {
    return this.#root.run(sql, params);
  }

  transaction<T>(work: (tx: SqlExecutor) => Promise<T>): Promise<T> {
    return this.#root.transaction(work);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#root.shutdown('the store is closed', async () => {
      try {
        this.#db.exec('PRAGMA optimize');
      } finally {
        this.#db.close();
      }
    });
  }
}

/**
 * Opens (creating when missing) the SQLite database at `path` (`:memory:` for a private in-memory
 * one) in WAL mode, with foreign keys enforced and a busy timeout.
 */
export function openSqliteDatabase(path: string): SqlDatabase {
  let db: DatabaseSync | undefined;
  try {
    db = new DatabaseSync(path, { enableForeignKeyConstraints: true });
    db.exec(`PRAGMA busy_timeout = ${busyTimeoutMs}`);
    // WAL lets readers (the CLI, a backup) work while the manager writes; `:memory:` stays in memory.
    db.exec('PRAGMA journal_mode = WAL');
    db.exec('PRAGMA foreign_keys = ON');
    return new SqliteDatabase(db);
  } catch (error) {
    db?.close();
    const message = describeError(error);
    throw new EdgewardError(
      'EW_DATABASE_UNAVAILABLE',
      `cannot open the SQLite database ${JSON.stringify(path)}: ${message}; check that its directory exists and is writable`,
      { cause: error },
    );
  }
}
