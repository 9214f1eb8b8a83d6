/** The SQL dialects the store speaks; the shared repositories only branch on it where SQL really differs. */
export type Dialect = 'sqlite' | 'postgres';

/** A bound parameter. Times and counts are numbers; JSON payloads are strings; booleans are not used. */
export type SqlValue = string | number | null;

export type SqlRow = Record<string, unknown>;

/**
 * The small surface every repository is written against. SQL uses PostgreSQL's `$1` placeholders;
 * the SQLite engine rewrites them.
 */
export interface SqlExecutor {
  readonly dialect: Dialect;
  query<Row extends object = SqlRow>(sql: string, params?: readonly SqlValue[]): Promise<Row[]>;
  /** Runs a statement and returns how many rows it changed. */
  run(sql: string, params?: readonly SqlValue[]): Promise<number>;
  /**
   * Runs `work` in a transaction (a savepoint when already inside one). Every statement of the
   * transaction must go through `tx`: the executor that opened it refuses statements from inside
   * `work` instead of deadlocking on its own lock.
   */
  transaction<T>(work: (tx: SqlExecutor) => Promise<T>): Promise<T>;
}

/** An open database: the root executor plus the means to close it. */
export interface SqlDatabase extends SqlExecutor {
  close(): Promise<void>;
}

/** What an engine provides for one connection; `SerialExecutor` builds transactions on top of it. */
export interface SqlConnection {
  query(sql: string, params: readonly SqlValue[]): Promise<SqlRow[]>;
  run(sql: string, params: readonly SqlValue[]): Promise<number>;
}
