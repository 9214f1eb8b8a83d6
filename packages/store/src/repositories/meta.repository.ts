import type { SqlExecutor } from '../sql/executor.ts';
import type { MetaRepository } from '../store.ts';

export class SqlMetaRepository implements MetaRepository {
  readonly #db: SqlExecutor;

  constructor(db: SqlExecutor) {
    this.#db = db;
  }

  async get(key: string): Promise<string | undefined> {
    const rows = await this.#db.query<{ value: string }>('SELECT value FROM meta WHERE key = $1', [key]);
    return rows[0]?.value;
  }

  async set(key: string, value: string): Promise<void> {
    await this.#db.run(
      'INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value',
      [key, value],
    );
  }
}
