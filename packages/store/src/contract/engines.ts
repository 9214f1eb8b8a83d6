/**
 * The engines the repository contract runs on. SQLite uses a temporary file per test; PostgreSQL a
 * schema with an awkward name (upper case, a space) per run, emptied before each test and dropped at
 * the end, so a hard-coded `public` or an unquoted name fails the suite.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { createStore } from '../index.ts';
import { openPostgresDatabase, quoteIdentifier } from '../postgres/postgres-database.ts';
import type { SqlDatabase } from '../sql/executor.ts';
import { openSqliteDatabase } from '../sqlite/sqlite-database.ts';
import type { Store } from '../store.ts';

export interface ContractEngine {
  readonly name: 'sqlite' | 'postgres';
  /** Prepares the run; fails with what to do when the engine is not usable. */
  setUp(): Promise<void>;
  tearDown(): Promise<void>;
  /** Switches to a new, empty database (nothing migrated). */
  reset(): Promise<void>;
  /** `createStore` on the current database, as the manager opens it at every start. */
  open(): Promise<Store>;
  /** The current database without migrations, for tests of the migrator itself. */
  openRaw(): Promise<SqlDatabase>;
}

export const testPostgresUrl =
  process.env.EDGEWARD_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

const startPostgres =
  'start one with `docker run -d --name edgeward-test-pg -p 5432:5432 -e POSTGRES_HOST_AUTH_METHOD=trust -e POSTGRES_DB=test postgres:16`, ' +
  'or point EDGEWARD_TEST_POSTGRES_URL at a database where the user may create schemas';

/** A connected admin client for the test database; fails the calling test when PostgreSQL is unreachable. */
export async function connectTestPostgres(): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: testPostgresUrl, connectionTimeoutMillis: 5000 });
  client.on('error', () => {});
  try {
    await client.connect();
  } catch (error) {
    const reason = error instanceof Error && error.message !== '' ? error.message : String(error);
    assert.fail(`PostgreSQL is not reachable at ${testPostgresUrl} (${reason}); ${startPostgres}`);
  }
  return client;
}

/** A fresh schema name that needs quoting: upper case and a space. */
export function oddSchemaName(purpose: string): string {
  return `Ew ${purpose} ${randomBytes(4).toString('hex')}`;
}

function sqliteEngine(): ContractEngine {
  let directory: string | undefined;
  let databases = 0;
  let path = '';
  return {
    name: 'sqlite',
    async setUp() {
      directory = await mkdtemp(join(tmpdir(), 'edgeward-store-contract-'));
    },
    async tearDown() {
      if (directory !== undefined) await rm(directory, { recursive: true, force: true });
    },
    async reset() {
      assert.ok(directory, 'setUp() runs first');
      databases += 1;
      path = join(directory, `store-${databases}.db`);
    },
    open: () => createStore({ database: `sqlite:${path}` }),
    openRaw: async () => openSqliteDatabase(path),
  };
}

function postgresEngine(): ContractEngine {
  const schema = oddSchemaName('Contract');
  let admin: pg.Client | undefined;
  return {
    name: 'postgres',
    async setUp() {
      admin = await connectTestPostgres();
    },
    async tearDown() {
      if (admin === undefined) return;
      await admin.query(`DROP SCHEMA IF EXISTS ${quoteIdentifier(schema)} CASCADE`);
      await admin.end();
    },
    async reset() {
      assert.ok(admin, 'setUp() connects first');
      await admin.query(`DROP SCHEMA IF EXISTS ${quoteIdentifier(schema)} CASCADE`);
    },
    open: () => createStore({ database: testPostgresUrl, schema }),
    openRaw: () => openPostgresDatabase(testPostgresUrl, schema),
  };
}

export const contractEngines: readonly (() => ContractEngine)[] = [sqliteEngine, postgresEngine];
