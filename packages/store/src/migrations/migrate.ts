import { EdgewardError } from '@edgeward/core';
import { describeError } from '../sql/describe-error.ts';
import type { SqlExecutor } from '../sql/executor.ts';
import type { Migration } from './migrations.ts';

const createMigrationsTable = `CREATE TABLE IF NOT EXISTS schema_migrations (
  version INTEGER PRIMARY KEY,
  name TEXT NOT NULL,
  applied_at BIGINT NOT NULL
)`;

// Several manager replicas may start at once against one PostgreSQL schema: the first to take this
// lock migrates, the others then find the work done. SQLite's BEGIN IMMEDIATE already excludes them.
const lockMigrations = "SELECT pg_advisory_xact_lock(hashtext('edgeward.migrations.' || current_schema()))";

async function lock(tx: SqlExecutor): Promise<void> {
  if (tx.dialect === 'postgres') await tx.query(lockMigrations);
}

async function appliedVersions(tx: SqlExecutor): Promise<number[]> {
  const rows = await tx.query<{ version: number }>('SELECT version FROM schema_migrations ORDER BY version');
  return rows.map((row) => Number(row.version));
}

/**
 * Brings the schema up to the last of `migrations`, each in its own transaction recorded in
 * `schema_migrations`; already applied ones are skipped, so this runs at every start. A failure
 * throws EW_MIGRATION_FAILED and leaves the database at the last migration that succeeded.
 *
 * @returns the versions applied now (empty when the schema was current).
 */
export async function migrate(
  db: SqlExecutor,
  migrations: readonly Migration[],
  now: () => number = Date.now,
): Promise<number[]> {
  let applied: number[];
  try {
    applied = await db.transaction(async (tx) => {
      await lock(tx);
      await tx.run(createMigrationsTable);
      return appliedVersions(tx);
    });
  } catch (error) {
    throw new EdgewardError(
      'EW_MIGRATION_FAILED',
      `cannot read the schema version: ${describeError(error)}; check that the database is reachable and writable`,
      { cause: error },
    );
  }

  const latestKnown = migrations.at(-1)?.version ?? 0;
  const newest = applied.at(-1) ?? 0;
  if (newest > latestKnown) {
    throw new EdgewardError(
      'EW_MIGRATION_FAILED',
      `the database schema is at version ${newest}, newer than this Edgeward knows (${latestKnown}); run the Edgeward release that migrated it, or a newer one`,
    );
  }

  const done: number[] = [];
  let current = newest;
  for (const migration of migrations) {
    if (applied.includes(migration.version)) continue;
    try {
      const ran = await db.transaction(async (tx) => {
        await lock(tx);
        // Another replica may have applied it since the first read.
        if ((await appliedVersions(tx)).includes(migration.version)) return false;
        for (const statement of migration.up(tx.dialect)) await tx.run(statement);
        await tx.run('INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)', [
          migration.version,
          migration.name,
          now(),
        ]);
        return true;
      });
      if (ran) done.push(migration.version);
      current = migration.version;
    } catch (error) {
      throw new EdgewardError(
        'EW_MIGRATION_FAILED',
        `migration ${migration.version} (${migration.name}) failed: ${describeError(error)}; the database stays at version ${current}`,
        { cause: error, details: { version: migration.version, schemaVersion: current } },
      );
    }
  }
  return done;
}
