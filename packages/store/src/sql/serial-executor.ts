import { AsyncLocalStorage } from 'node:async_hooks';
import { EdgewardError } from '@edgeward/core';
import { AsyncLock } from './async-lock.ts';
import type { Dialect, SqlConnection, SqlExecutor, SqlRow, SqlValue } from './executor.ts';

/** The statements that open, keep and undo a transaction (or a savepoint) on one connection. */
export interface TransactionStatements {
  readonly begin: string;
  readonly commit: string;
  readonly rollback: readonly string[];
}

export function savepointStatements(depth: number): TransactionStatements {
  const name = `ew_savepoint_${depth}`;
  return {
    begin: `SAVEPOINT ${name}`,
    commit: `RELEASE SAVEPOINT ${name}`,
    rollback: [`ROLLBACK TO SAVEPOINT ${name}`, `RELEASE SAVEPOINT ${name}`],
  };
}

interface OpenTransaction {
  readonly owner: object;
  readonly parent: OpenTransaction | undefined;
  active: boolean;
}

// Which executors have a transaction open in the current async context. A statement sent to one of
// them from inside that transaction would wait for the transaction's own lock forever (SQLite) or
// silently run outside it (PostgreSQL pool), so it is refused instead.
const openTransactions = new AsyncLocalStorage<OpenTransaction>();

export function assertOutsideOwnTransaction(owner: object): void {
  for (let open = openTransactions.getStore(); open !== undefined; open = open.parent) {
    if (open.active && open.owner === owner) {
      throw new EdgewardError(
        'EW_INTERNAL',
        'a statement used the outer store while its own transaction was open; inside transaction(work), use the store passed to work',
      );
    }
  }
}

/**
 * Runs `work` between `statements.begin` and `statements.commit`, undoing it when anything throws.
 * `onRollbackFailure` hears when the rollback itself failed (the connection is then in an unknown
 * state). The error from `work` is rethrown unchanged.
 */
export async function runTransaction<T>(
  owner: object,
  connection: SqlConnection,
  statements: TransactionStatements,
  work: () => Promise<T>,
  onRollbackFailure?: (error: unknown) => void,
): Promise<T> {
  await connection.run(statements.begin, []);
  const open: OpenTransaction = { owner, parent: openTransactions.getStore(), active: true };
  try {
    const result = await openTransactions.run(open, work);
    open.active = false;
    await connection.run(statements.commit, []);
    return result;
  } catch (error) {
    open.active = false;
    try {
      for (const statement of statements.rollback) await connection.run(statement, []);
    } catch (rollbackError) {
      onRollbackFailure?.(rollbackError);
    }
    throw error;
  }
}

/**
 * An executor over one connection whose statements run one at a time: a sub-transaction holds the
 * lock for its whole (async) body, so nothing else on this connection lands inside it. Used for
 * SQLite's single connection and for every open transaction on either engine.
 */
export class SerialExecutor implements SqlExecutor {
  readonly dialect: Dialect;
  readonly #connection: SqlConnection;
  readonly #depth: number;
  readonly #subTransaction: TransactionStatements;
  readonly #lock = new AsyncLock();
  #finishedBecause: string | undefined;

  /**
   * @param depth 0 for a connection outside any transaction, n inside n nested transactions.
   * @param subTransaction how this executor opens a transaction; savepoints by default.
   */
  constructor(
    dialect: Dialect,
    connection: SqlConnection,
    depth: number,
    subTransaction: TransactionStatements = savepointStatements(depth),
  ) {
    this.dialect = dialect;
    this.#connection = connection;
    this.#depth = depth;
    this.#subTransaction = subTransaction;
  }

  query<Row extends object = SqlRow>(sql: string, params: readonly SqlValue[] = []): Promise<Row[]> {
    return this.#exclusive(() => this.#connection.query(sql, params)) as Promise<Row[]>;
  }

  run(sql: string, params: readonly SqlValue[] = []): Promise<number> {
    return this.#exclusive(() => this.#connection.run(sql, params));
  }

  transaction<T>(work: (tx: SqlExecutor) => Promise<T>): Promise<T> {
    return this.#exclusive(async () => {
      const tx = new SerialExecutor(this.dialect, this.#connection, this.#depth + 1);
      try {
        return await runTransaction(this, this.#connection, this.#subTransaction, () => work(tx));
      } finally {
        tx.finish(
          'a statement used a transaction that has already ended; await all work before transaction(work) resolves',
        );
      }
    });
  }

  /** Refuses every later statement, with `reason` as the message. */
  finish(reason: string): void {
    this.#finishedBecause = reason;
  }

  /** Waits for every queued statement and transaction, runs `work` alone, then refuses all later ones. */
  shutdown(reason: string, work: () => Promise<void>): Promise<void> {
    return this.#exclusive(async () => {
      this.finish(reason);
      await work();
    });
  }

  #exclusive<T>(work: () => Promise<T>): Promise<T> {
    assertOutsideOwnTransaction(this);
    return this.#lock.run(() => {
      if (this.#finishedBecause !== undefined) throw new EdgewardError('EW_INTERNAL', this.#finishedBecause);
      return work();
    });
  }
}
