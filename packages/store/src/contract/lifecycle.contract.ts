import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { migrate } from '../migrations/migrate.ts';
import { type Migration, migrations } from '../migrations/migrations.ts';
import type { SqlDatabase } from '../sql/executor.ts';
import type { Store } from '../store.ts';
import type { ContractEngine } from './engines.ts';
import { type ContractContext, device, token } from './fixtures.ts';

const allVersions = migrations.map((migration) => migration.version);

async function appliedVersions(db: SqlDatabase): Promise<number[]> {
  const rows = await db.query<{ version: number }>('SELECT version FROM schema_migrations ORDER BY version');
  return rows.map((row) => row.version);
}

async function withRaw<T>(engine: ContractEngine, work: (db: SqlDatabase) => Promise<T>): Promise<T> {
  const db = await engine.openRaw();
  try {
    return await work(db);
  } finally {
    await db.close();
  }
}

export function transactionsContract(ctx: ContractContext): void {
  describe('transactions', () => {
    it('commits every write of work and returns its result', async () => {
      const store = ctx.store();
      const result = await store.transaction(async (tx) => {
        await tx.devices.create(device('dev-1', { labels: { site: 'a' } }));
        await tx.tokens.create(token('tok-1'));
        return 'done';
      });
      assert.equal(result, 'done');
      assert.equal((await store.devices.findById('dev-1'))?.labels.site, 'a');
      assert.ok(await store.tokens.findById('tok-1'));
    });

    it('rolls back every write when work throws, and rethrows the same error', async () => {
      const store = ctx.store();
      await store.tokens.create(token('tok-1'));
      const failure = new Error('enrollment failed half-way');
      await assert.rejects(
        store.transaction(async (tx) => {
          await tx.tokens.markUsed('tok-1', 'dev-1', 2_000);
          await tx.devices.create(device('dev-1', { labels: { site: 'a' } }));
          await tx.devices.update('dev-1', { labels: { site: 'b' } });
          await tx.meta.set('fleet.id', 'f-1');
          throw failure;
        }),
        (error) => error === failure,
      );
      assert.equal((await store.tokens.findById('tok-1'))?.usedAt, null);
      assert.equal(await store.devices.findById('dev-1'), undefined);
      assert.equal(await store.devices.count({ labels: { site: 'b' } }), 0);
      assert.equal(await store.meta.get('fleet.id'), undefined);
    });

    it('a nested transaction that throws undoes only its own writes when the error is caught', async () => {
      const store = ctx.store();
      await store.transaction(async (tx) => {
        await tx.meta.set('outer', 'kept');
        await assert.rejects(
          tx.transaction(async (inner) => {
            await inner.meta.set('inner', 'undone');
            throw new Error('inner failure');
          }),
        );
        await tx.meta.set('after', 'kept');
      });
      assert.equal(await store.meta.get('outer'), 'kept');
      assert.equal(await store.meta.get('inner'), undefined);
      assert.equal(await store.meta.get('after'), 'kept');
    });

    it('concurrent writes inside one transaction all land in it', async () => {
      const store = ctx.store();
      await assert.rejects(
        store.transaction(async (tx) => {
          await Promise.all(
            ['dev-1', 'dev-2', 'dev-3'].map((id) => tx.devices.create(device(id, { labels: { site: id } }))),
          );
          assert.equal(await tx.devices.count(), 3);
          throw new Error('undo all three');
        }),
      );
      assert.equal(await store.devices.count(), 0);
    });

    it('a statement outside an open transaction is not swept into it or its rollback', async () => {
      const store = ctx.store();
      let release = (): void => {};
      const gate = new Promise<void>((resolve) => {
        release = resolve;
      });
      const failed = store.transaction(async (tx) => {
        await tx.meta.set('inside', 'undone');
        await gate;
        throw new Error('abort');
      });
      const outside = store.meta.set('outside', 'kept');
      release();
      await assert.rejects(failed);
      await outside;
      assert.equal(await store.meta.get('outside'), 'kept');
      assert.equal(await store.meta.get('inside'), undefined);
    });

    it('concurrent transactions both commit', async () => {
      const store = ctx.store();
      await Promise.all(
        ['dev-1', 'dev-2'].map((id) =>
          store.transaction(async (tx) => {
            await tx.devices.create(device(id));
            await tx.meta.set(id, 'created');
          }),
        ),
      );
      assert.equal(await store.devices.count(), 2);
    });

    it('refuses the outer store inside its own transaction instead of deadlocking', async () => {
      const store = ctx.store();
      await assert.rejects(
        store.transaction(async () => store.meta.get('anything')),
        { code: 'EW_INTERNAL' },
      );
      assert.equal(await store.meta.get('anything'), undefined);
    });

    it('refuses a transaction store used after its transaction ended', async () => {
      const store = ctx.store();
      let leaked: Store | undefined;
      await store.transaction(async (tx) => {
        leaked = tx;
      });
      assert.ok(leaked);
      await assert.rejects(leaked.meta.get('anything'), { code: 'EW_INTERNAL' });
      await assert.rejects(leaked.close(), { code: 'EW_INTERNAL' });
    });
  });
}

export function migrationsContract(ctx: ContractContext, engine: ContractEngine): void {
  describe('migrations', () => {
    it('reopening the database applies no migration twice and keeps the data', async () => {
      await ctx.store().meta.set('fleet.id', 'f-1');
      await ctx.store().devices.create(device('dev-1', { labels: { site: 'a' } }));
      const reopened = await ctx.reopen();
      assert.equal(await reopened.meta.get('fleet.id'), 'f-1');
      assert.deepEqual((await reopened.devices.findById('dev-1'))?.labels, { site: 'a' });
      await withRaw(engine, async (db) => {
        assert.deepEqual(await appliedVersions(db), allVersions);
        assert.deepEqual(await migrate(db, migrations), []);
        assert.deepEqual(await appliedVersions(db), allVersions);
      });
    });

    it('numbers migrations in strictly ascending order', () => {
      for (const [index, version] of allVersions.entries()) {
        if (index > 0) assert.ok(version > allVersions[index - 1]!, `migration ${version} is out of order`);
      }
    });

    it('a failing migration throws EW_MIGRATION_FAILED with its cause and leaves the previous version', async () => {
      const latest = allVersions.at(-1)!;
      const broken: Migration = {
        version: latest + 1,
        name: 'broken',
        up: () => ['CREATE TABLE half_done (id TEXT)', 'INSERT INTO no_such_table VALUES (1)'],
      };
      await withRaw(engine, async (db) => {
        await assert.rejects(migrate(db, [...migrations, broken]), (error: unknown) => {
          assert.equal((error as { code?: unknown }).code, 'EW_MIGRATION_FAILED');
          assert.ok((error as Error).cause, 'keeps the driver error as cause');
          assert.match((error as Error).message, new RegExp(`stays at version ${latest}`));
          return true;
        });
        assert.deepEqual(await appliedVersions(db), allVersions);
        await assert.rejects(db.query('SELECT id FROM half_done'));
        const fixed: Migration = { ...broken, up: () => ['CREATE TABLE half_done (id TEXT)'] };
        assert.deepEqual(await migrate(db, [...migrations, fixed]), [fixed.version]);
        assert.deepEqual(await db.query('SELECT id FROM half_done'), []);
      });
    });

    it('refuses to open a database migrated by a newer release', async () => {
      await ctx.store().close();
      await withRaw(engine, async (db) => {
        await db.run("INSERT INTO schema_migrations (version, name, applied_at) VALUES (9999, 'future', 0)");
      });
      await assert.rejects(engine.open(), (error: unknown) => {
        assert.equal((error as { code?: unknown }).code, 'EW_MIGRATION_FAILED');
        assert.match((error as Error).message, /newer than this Edgeward knows/);
        return true;
      });
    });
  });
}
