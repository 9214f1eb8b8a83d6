import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createStore } from '../index.ts';
import { openSqliteDatabase } from './sqlite-database.ts';

describe('SQLite engine', () => {
  let directory = '';
  before(async () => {
    directory = await mkdtemp(join(tmpdir(), 'edgeward-sqlite-'));
  });
  after(async () => {
    await rm(directory, { recursive: true, force: true });
  });

  it('opens a file database in WAL mode with foreign keys and a busy timeout', async () => {
    const db = openSqliteDatabase(join(directory, 'pragmas.db'));
    try {
      const [journal] = await db.query<{ journal_mode: string }>('PRAGMA journal_mode');
      assert.equal(journal?.journal_mode, 'wal');
      const [foreignKeys] = await db.query<{ foreign_keys: number }>('PRAGMA foreign_keys');
      assert.equal(foreignKeys?.foreign_keys, 1);
      const [timeout] = await db.query<{ timeout: number }>('PRAGMA busy_timeout');
      assert.ok((timeout?.timeout ?? 0) > 0);
    } finally {
      await db.close();
    }
  });

  it('opens a private in-memory store for sqlite::memory:', async () => {
    const first = await createStore({ database: 'sqlite::memory:' });
    const second = await createStore({ database: 'sqlite::memory:' });
    await first.meta.set('fleet.id', 'f-1');
    assert.equal(await second.meta.get('fleet.id'), undefined);
    assert.equal(first.engine, 'sqlite');
    await first.close();
    await second.close();
  });

  it('reports a file in a missing directory as EW_DATABASE_UNAVAILABLE naming the path', async () => {
    const path = join(directory, 'missing', 'edgeward.db');
    await assert.rejects(createStore({ database: `sqlite:${path}` }), (error: unknown) => {
      assert.equal((error as { code?: unknown }).code, 'EW_DATABASE_UNAVAILABLE');
      assert.ok((error as Error).message.includes(path));
      assert.ok((error as Error).cause);
      return true;
    });
  });

  it('refuses statements after close, and closing twice is harmless', async () => {
    const store = await createStore({ database: `sqlite:${join(directory, 'closed.db')}` });
    await store.close();
    await store.close();
    await assert.rejects(store.meta.get('x'), { code: 'EW_INTERNAL' });
  });

  it('close waits for an open transaction to finish', async () => {
    const store = await createStore({ database: `sqlite:${join(directory, 'drain.db')}` });
    const transaction = store.transaction(async (tx) => {
      await new Promise((resolve) => setTimeout(resolve, 20));
      await tx.meta.set('written', 'yes');
    });
    await store.close();
    await transaction;
    const reopened = await createStore({ database: `sqlite:${join(directory, 'drain.db')}` });
    assert.equal(await reopened.meta.get('written'), 'yes');
    await reopened.close();
  });
});
