import { describeDatabase, parseDatabaseLocation } from './config/database-url.ts';
import { migrate } from './migrations/migrate.ts';
import { migrations } from './migrations/migrations.ts';
import type { SqlDatabase } from './sql/executor.ts';
import { SqlStore } from './sql-store.ts';
import { openSqliteDatabase } from './sqlite/sqlite-database.ts';
import type { Store, StoreOptions } from './store.ts';

export type * from './store.ts';
export { describeDatabase };

/**
 * Opens the store named by `options.database` and brings its schema up to date.
 * Throws EW_CONFIG_INVALID for a malformed setting, EW_DATABASE_UNAVAILABLE when the database cannot
 * be opened or reached, and EW_MIGRATION_FAILED when the schema cannot be migrated.
 */
export async function createStore(options: StoreOptions): Promise<Store> {
  const location = parseDatabaseLocation(options.database, options.schema);
  // pg loads only for a PostgreSQL database, so SQLite processes (sites, agents) never carry it.
  const db: SqlDatabase =
    location.engine === 'sqlite'
      ? openSqliteDatabase(location.path)
      : await (await import('./postgres/postgres-database.ts')).openPostgresDatabase(
          location.url,
          location.schema,
        );
  try {
    await migrate(db, migrations);
  } catch (error) {
    await db.close().catch(() => {});
    throw error;
  }
  return new SqlStore(db, () => db.close());
}
