import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type pg from 'pg';
import { connectTestPostgres, oddSchemaName, testPostgresUrl } from '../contract/engines.ts';
import { createStore } from '../index.ts';
import type { Store } from '../store.ts';
import { quoteIdentifier } from './quote-identifier.ts';

/** Resolves with what `probe` returns once it is neither undefined nor false; fails after `timeoutMs`. */
async function eventually<T>(probe: () => T | undefined | false, what: string, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('PostgreSQL notifications', () => {
  const schema = oddSchemaName('Notify');
  const otherSchema = oddSchemaName('Notify other');
  let admin: pg.Client | undefined;
  const stores: Store[] = [];
  const open = async (inSchema = schema) => {
    const store = await createStore({ database: testPostgresUrl, schema: inSchema });
    stores.push(store);
    return store;
  };

  before(async () => {
    admin = await connectTestPostgres();
  });
  after(async () => {
    await Promise.allSettled(stores.map((store) => store.close()));
    for (const name of [schema, otherSchema]) {
      await admin?.query(`DROP SCHEMA IF EXISTS ${quoteIdentifier(name)} CASCADE`);
    }
    await admin?.end();
  });

  it('delivers a notification to another store on the same schema, and to the sender', async () => {
    const [sender, receiver] = [await open(), await open()];
    const heard: string[] = [];
    const echoed: string[] = [];
    const stop = await receiver.notifications.listen('ew_test', (payload) => heard.push(payload));
    const stopEcho = await sender.notifications.listen('ew_test', (payload) => echoed.push(payload));
    await sender.notifications.notify('ew_test', 'device-1');
    await eventually(() => heard.length === 1 && echoed.length === 1, 'both listeners');
    assert.deepEqual(heard, ['device-1']);
    assert.deepEqual(echoed, ['device-1']);

    await stop();
    await sender.notifications.notify('ew_test', 'device-2');
    await eventually(() => echoed.length === 2, 'the remaining listener');
    await pause(100);
    assert.deepEqual(heard, ['device-1'], 'a stopped listener hears nothing more');
    await stopEcho();
  });

  it('sends a notification made in a transaction at its commit, and none on rollback', async () => {
    const [sender, receiver] = [await open(), await open()];
    const heard: string[] = [];
    const stop = await receiver.notifications.listen('ew_tx', (payload) => heard.push(payload));
    await sender.transaction(async (tx) => {
      await tx.notifications.notify('ew_tx', 'committed');
      await pause(150);
      assert.deepEqual(heard, [], 'nothing before the commit');
    });
    await assert.rejects(
      sender.transaction(async (tx) => {
        await tx.notifications.notify('ew_tx', 'rolled back');
        throw new Error('undo');
      }),
      /undo/,
    );
    await sender.notifications.notify('ew_tx', 'after');
    await eventually(() => heard.length === 2, 'two notifications');
    assert.deepEqual(heard, ['committed', 'after']);
    await stop();
  });

  it('keeps the notifications of stores on other schemas apart', async () => {
    const [sender, stranger] = [await open(), await open(otherSchema)];
    const [receiver] = [await open()];
    const strangerHeard: string[] = [];
    const heard: string[] = [];
    const stopStranger = await stranger.notifications.listen('ew_scoped', (p) => strangerHeard.push(p));
    const stop = await receiver.notifications.listen('ew_scoped', (p) => heard.push(p));
    await sender.notifications.notify('ew_scoped', 'mine');
    await eventually(() => heard.length === 1, 'the same-schema listener');
    await pause(100);
    assert.deepEqual(strangerHeard, []);
    await Promise.all([stop(), stopStranger()]);
  });

  it('listens again after its connection is cut, and says so', async () => {
    assert.ok(admin);
    const [sender, receiver] = [await open(), await open()];
    const channel = `ew_cut_${randomBytes(4).toString('hex')}`;
    const heard: string[] = [];
    const errors: Error[] = [];
    const stop = await receiver.notifications.listen(
      channel,
      (payload) => heard.push(payload),
      (error) => errors.push(error),
    );
    const cut = await admin.query(
      `SELECT pg_terminate_backend(pid) AS cut FROM pg_stat_activity
        WHERE application_name = 'edgeward-listen' AND query LIKE $1`,
      [`LISTEN "${channel}.%`],
    );
    assert.equal(cut.rowCount, 1, 'the listening connection was found and cut');
    await eventually(() => errors.length > 0, 'the reported break');
    assert.equal((errors[0] as Error & { code?: string }).code, 'EW_DATABASE_UNAVAILABLE');
    // Sent until one arrives: those sent before the connection is back are lost, as documented.
    let sent = 0;
    await eventually(() => {
      if (heard.length > 0) return true;
      void sender.notifications.notify(channel, `try-${++sent}`);
      return undefined;
    }, 'a notification after the reconnect');
    await stop();
  });

  it('stops listening when the store closes', async () => {
    const store = await open();
    await store.notifications.listen('ew_closed', () => {});
    await store.close();
    await assert.rejects(
      store.notifications.listen('ew_closed', () => {}),
      /closed/,
    );
  });
});
