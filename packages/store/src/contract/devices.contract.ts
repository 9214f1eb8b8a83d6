import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { DeviceListFilter, Page, Store } from '../store.ts';
import { type ContractContext, device } from './fixtures.ts';

async function ids(store: Store, filter?: DeviceListFilter, page?: Page): Promise<string[]> {
  return (await store.devices.list(filter, page)).map((record) => record.id);
}

export function devicesContract(ctx: ContractContext): void {
  describe('devices', () => {
    it('round-trips a device with its labels and nullable fields', async () => {
      const { devices } = ctx.store();
      const plain = device('dev-1');
      const full = device('dev-2', {
        name: 'gateway-2',
        labels: { site: 'plant-7', function: 'gateway', 'zone/cell': 'a b' },
        enrollmentTokenId: 'tok-1',
        lastSeenAt: 1_700_000_000_123,
        reportIntervalMs: 30_000,
        agentVersion: '1.2.3',
        inventoryVersion: 42,
        revokedAt: 1_700_000_000_999,
      });
      await devices.create(plain);
      await devices.create(full);
      assert.deepEqual(await devices.findById('dev-1'), plain);
      assert.deepEqual(await devices.findById('dev-2'), full);
      assert.equal(await devices.findById('dev-unknown'), undefined);
    });

    it('create refuses a second device with the same id and keeps the first', async () => {
      const { devices } = ctx.store();
      await devices.create(device('dev-1', { labels: { site: 'a' } }));
      await assert.rejects(devices.create(device('dev-1', { name: 'other', labels: { site: 'b' } })));
      assert.deepEqual(await devices.findById('dev-1'), device('dev-1', { labels: { site: 'a' } }));
    });

    it('update changes only the given fields and returns the updated record', async () => {
      const { devices } = ctx.store();
      await devices.create(device('dev-1', { labels: { site: 'a' } }));
      const updated = await devices.update('dev-1', { lastSeenAt: 5_000, agentVersion: '0.2.0' });
      const expected = device('dev-1', { labels: { site: 'a' }, lastSeenAt: 5_000, agentVersion: '0.2.0' });
      assert.deepEqual(updated, expected);
      assert.deepEqual(await devices.findById('dev-1'), expected);
      assert.deepEqual(await devices.update('dev-1', {}), expected);
    });

    it('update returns undefined for an unknown device and creates nothing', async () => {
      const { devices } = ctx.store();
      assert.equal(await devices.update('dev-unknown', { name: 'x', labels: { site: 'a' } }), undefined);
      assert.equal(await devices.count({ includeRevoked: true }), 0);
    });

    it('update replaces the labels as a whole, so removed labels no longer match', async () => {
      const store = ctx.store();
      await store.devices.create(device('dev-1', { labels: { site: 'a', risk: 'high' } }));
      const updated = await store.devices.update('dev-1', { labels: { site: 'b' } });
      assert.deepEqual(updated?.labels, { site: 'b' });
      assert.deepEqual(await ids(store, { labels: { risk: 'high' } }), []);
      assert.deepEqual(await ids(store, { labels: { site: 'b' } }), ['dev-1']);
    });

    it('filters by several labels, all of which must match', async () => {
      const store = ctx.store();
      await store.devices.create(device('dev-1', { labels: { site: 'a', risk: 'high', function: 'plc' } }));
      await store.devices.create(device('dev-2', { labels: { site: 'a', risk: 'low' } }));
      await store.devices.create(device('dev-3', { labels: { site: 'b', risk: 'high' } }));
      assert.deepEqual(await ids(store, { labels: { site: 'a' } }), ['dev-1', 'dev-2']);
      assert.deepEqual(await ids(store, { labels: { site: 'a', risk: 'high' } }), ['dev-1']);
      assert.deepEqual(await ids(store, { labels: { risk: 'high' } }), ['dev-1', 'dev-3']);
      assert.deepEqual(await ids(store, { labels: { site: 'a', risk: 'none' } }), []);
      assert.deepEqual(await ids(store, { labels: { owner: 'a' } }), []);
      assert.equal(await store.devices.count({ labels: { site: 'a', risk: 'high' } }), 1);
    });

    it('status online means seen within three reporting intervals of now, per device', async () => {
      const store = ctx.store();
      const now = 10_000_000;
      await store.devices.create(device('at-limit', { lastSeenAt: now - 3 * 60_000 }));
      await store.devices.create(device('just-late', { lastSeenAt: now - 3 * 60_000 - 1 }));
      await store.devices.create(device('never-seen', { lastSeenAt: null }));
      await store.devices.create(
        device('fast-reporter', { lastSeenAt: now - 60_000, reportIntervalMs: 10_000 }),
      );
      await store.devices.create(device('recent', { lastSeenAt: now - 1 }));
      assert.deepEqual(await ids(store, { status: 'online', now }), ['at-limit', 'recent']);
      assert.deepEqual(await ids(store, { status: 'offline', now }), [
        'fast-reporter',
        'just-late',
        'never-seen',
      ]);
      assert.equal(await store.devices.count({ status: 'offline', now }), 3);
      assert.deepEqual(await ids(store, { status: 'online', now: now - 1 + 3 * 60_000 }), ['recent']);
    });

    it('a status filter without now is refused rather than guessed', async () => {
      await assert.rejects(ctx.store().devices.list({ status: 'online' }), { code: 'EW_INTERNAL' });
    });

    it('search matches a substring of id or name, ignoring case, with % and _ taken literally', async () => {
      const store = ctx.store();
      await store.devices.create(device('gw-100', { name: 'Boiler Room Gateway' }));
      await store.devices.create(device('plc_1', { name: 'Line 50% Controller' }));
      await store.devices.create(device('kiosk-7', { name: 'Lobby' }));
      assert.deepEqual(await ids(store, { search: 'ROOM' }), ['gw-100']);
      assert.deepEqual(await ids(store, { search: 'GW-1' }), ['gw-100']);
      assert.deepEqual(await ids(store, { search: '50%' }), ['plc_1']);
      assert.deepEqual(await ids(store, { search: '_' }), ['plc_1']);
      assert.deepEqual(await ids(store, { search: 'o' }), ['gw-100', 'kiosk-7', 'plc_1']);
      assert.deepEqual(await ids(store, { search: 'absent' }), []);
      assert.equal(await store.devices.count({ search: 'lobby' }), 1);
    });

    it('hides revoked devices unless includeRevoked is set', async () => {
      const store = ctx.store();
      await store.devices.create(device('dev-1'));
      await store.devices.create(device('dev-2', { revokedAt: 5_000 }));
      assert.deepEqual(await ids(store), ['dev-1']);
      assert.deepEqual(await ids(store, { includeRevoked: true }), ['dev-1', 'dev-2']);
      assert.equal(await store.devices.count(), 1);
      assert.equal(await store.devices.count({ includeRevoked: true }), 2);
    });

    it('pages by ascending id: 100 rows by default, then the rows after the last id', async () => {
      const store = ctx.store();
      const all = Array.from({ length: 105 }, (_, index) => `dev-${String(index).padStart(3, '0')}`);
      await store.transaction(async (tx) => {
        for (const id of [...all].reverse()) await tx.devices.create(device(id, { labels: { site: 'a' } }));
      });
      const first = await ids(store);
      assert.deepEqual(first, all.slice(0, 100));
      assert.deepEqual(await ids(store, {}, { after: 'dev-099' }), all.slice(100));
      assert.deepEqual(await ids(store, { labels: { site: 'a' } }, { after: 'dev-001', limit: 2 }), [
        'dev-002',
        'dev-003',
      ]);
      assert.deepEqual(await ids(store, {}, { after: 'dev-104' }), []);
      assert.equal(await store.devices.count({ labels: { site: 'a' } }), 105);
    });

    it('a page limit counts devices, not their labels', async () => {
      const store = ctx.store();
      for (const id of ['dev-1', 'dev-2', 'dev-3']) {
        await store.devices.create(device(id, { labels: { site: 'a', risk: 'high', function: 'plc' } }));
      }
      const page = await store.devices.list({}, { limit: 2 });
      assert.deepEqual(
        page.map((record) => [record.id, Object.keys(record.labels).length]),
        [
          ['dev-1', 3],
          ['dev-2', 3],
        ],
      );
    });

    it('orders ids byte-wise on every engine, whatever the database collation', async () => {
      const store = ctx.store();
      for (const id of ['b', 'B', '_x', 'a', 'A-1', 'a-1']) await store.devices.create(device(id));
      assert.deepEqual(await ids(store), ['A-1', 'B', '_x', 'a', 'a-1', 'b']);
      assert.deepEqual(await ids(store, {}, { after: 'B' }), ['_x', 'a', 'a-1', 'b']);
    });
  });
}
