import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createStore } from '../index.ts';
import { describeDatabase, parseDatabaseLocation } from './database-url.ts';

describe('database setting', () => {
  it('reads sqlite:PATH, sqlite::memory: and postgres URLs', () => {
    assert.deepEqual(parseDatabaseLocation('sqlite:/var/lib/edgeward/edgeward.db', undefined), {
      engine: 'sqlite',
      path: '/var/lib/edgeward/edgeward.db',
    });
    assert.deepEqual(parseDatabaseLocation('sqlite::memory:', undefined), {
      engine: 'sqlite',
      path: ':memory:',
    });
    assert.deepEqual(parseDatabaseLocation('postgresql://u@db:5432/fleet', 'Edge Ward'), {
      engine: 'postgres',
      url: 'postgresql://u@db:5432/fleet',
      schema: 'Edge Ward',
    });
  });

  for (const database of ['mysql://u@h/db', '/var/lib/edgeward.db', 'sqlite:', '', 'postgres://[bad']) {
    it(`refuses ${JSON.stringify(database)} with EW_CONFIG_INVALID naming the accepted forms`, async () => {
      await assert.rejects(createStore({ database }), (error: unknown) => {
        assert.equal((error as { code?: unknown }).code, 'EW_CONFIG_INVALID');
        assert.match((error as Error).message, /sqlite:PATH.*sqlite::memory:.*postgres:\/\//);
        return true;
      });
    });
  }

  it('refuses a schema for SQLite and an unusable PostgreSQL schema name', () => {
    assert.throws(() => parseDatabaseLocation('sqlite:x.db', 'public'), { code: 'EW_CONFIG_INVALID' });
    assert.throws(() => parseDatabaseLocation('postgres://u@h/db', ''), { code: 'EW_CONFIG_INVALID' });
    assert.throws(() => parseDatabaseLocation('postgres://u@h/db', 'x'.repeat(64)), {
      code: 'EW_CONFIG_INVALID',
    });
  });

  it('hides the password when describing a URL', () => {
    assert.equal(describeDatabase('postgres://u:secret@h:5432/db'), 'postgres://u:***@h:5432/db');
    assert.equal(describeDatabase('postgres://u:secret@[bad'), 'postgres://***@[bad');
  });
});
