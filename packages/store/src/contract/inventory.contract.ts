import assert from 'node:assert/strict';
import { beforeEach, describe, it } from 'node:test';
import type { InventorySnapshotRecord } from '@edgeward/core';
import { type ContractContext, change, device, inventory } from './fixtures.ts';

function snapshot(deviceId: string, version: number): InventorySnapshotRecord {
  return {
    deviceId,
    version,
    collectedAt: version * 1_000,
    receivedAt: version * 1_000 + 5,
    inventory: inventory(`${deviceId}-v${version}`, [
      { name: 'openssl', version: `3.0.${version}`, manager: 'dpkg', architecture: 'amd64' },
    ]),
  };
}

export function inventoryContract(ctx: ContractContext): void {
  describe('inventory', () => {
    beforeEach(async () => {
      await ctx.store().devices.create(device('dev-1'));
      await ctx.store().devices.create(device('dev-2'));
    });

    it('latest returns the highest version and get returns any stored one', async () => {
      const { inventory: repository } = ctx.store();
      for (const version of [1, 3, 2]) await repository.saveSnapshot(snapshot('dev-1', version));
      await repository.saveSnapshot(snapshot('dev-2', 9));
      assert.deepEqual(await repository.latest('dev-1'), snapshot('dev-1', 3));
      assert.deepEqual(await repository.get('dev-1', 2), snapshot('dev-1', 2));
      assert.equal(await repository.get('dev-1', 9), undefined);
      assert.equal(await repository.latest('dev-unknown'), undefined);
    });

    it('refuses a second snapshot of the same device and version', async () => {
      const { inventory: repository } = ctx.store();
      await repository.saveSnapshot(snapshot('dev-1', 1));
      await assert.rejects(repository.saveSnapshot(snapshot('dev-1', 1)));
    });

    it('listChanges is newest version first, then by section and key, for that device only', async () => {
      const { inventory: repository } = ctx.store();
      await repository.addChanges([
        change('dev-1', 1, 'packages', 'curl', {
          kind: 'added',
          before: undefined,
          after: { version: '8.0' },
        }),
        change('dev-1', 1, 'os', 'os'),
        change('dev-1', 2, 'packages', 'openssl'),
        change('dev-1', 2, 'packages', 'Zlib'),
        change('dev-1', 2, 'listeners', 'tcp/0.0.0.0:22', { kind: 'added', before: undefined }),
        change('dev-1', 3, 'users', 'bob', { kind: 'removed', after: undefined }),
        change('dev-2', 4, 'packages', 'vim'),
      ]);
      const keys = (await repository.listChanges('dev-1')).map(
        (record) => `${record.version}:${record.section}:${record.key}`,
      );
      assert.deepEqual(keys, [
        '3:users:bob',
        '2:listeners:tcp/0.0.0.0:22',
        '2:packages:Zlib',
        '2:packages:openssl',
        '1:os:os',
        '1:packages:curl',
      ]);
    });

    it('listChanges filters by section and honours limit', async () => {
      const { inventory: repository } = ctx.store();
      await repository.addChanges([
        change('dev-1', 1, 'packages', 'curl'),
        change('dev-1', 2, 'packages', 'openssl'),
        change('dev-1', 2, 'users', 'bob'),
        change('dev-1', 3, 'packages', 'vim'),
      ]);
      const keys = async (options: { limit?: number; section?: string }) =>
        (await repository.listChanges('dev-1', options)).map((record) => record.key);
      assert.deepEqual(await keys({ section: 'packages' }), ['vim', 'openssl', 'curl']);
      assert.deepEqual(await keys({ section: 'packages', limit: 2 }), ['vim', 'openssl']);
      assert.deepEqual(await keys({ limit: 1 }), ['vim']);
    });

    it('keeps before and after values exactly, telling null apart from absent', async () => {
      const { inventory: repository } = ctx.store();
      const changes = [
        change('dev-1', 1, 'packages', 'a', {
          kind: 'added',
          before: undefined,
          after: { v: '1', arch: null },
        }),
        change('dev-1', 1, 'packages', 'b', { before: null, after: 'text' }),
        change('dev-1', 1, 'packages', 'c', { before: [1, 'two', false], after: 3.5 }),
      ];
      await repository.addChanges(changes);
      assert.deepEqual(await repository.listChanges('dev-1'), changes);
    });

    it('addChanges stores large batches and accepts an empty one', async () => {
      const { inventory: repository } = ctx.store();
      await repository.addChanges([]);
      const many = Array.from({ length: 450 }, (_, index) => change('dev-1', 1, 'packages', `pkg-${index}`));
      await repository.addChanges(many);
      assert.equal((await repository.listChanges('dev-1', { limit: 1_000 })).length, 450);
    });

    it('addChanges stores all of a batch or, when one row is refused, none of it', async () => {
      const { inventory: repository } = ctx.store();
      const good = Array.from({ length: 300 }, (_, index) => change('dev-1', 1, 'packages', `pkg-${index}`));
      await assert.rejects(repository.addChanges([...good, change('dev-unknown', 1, 'packages', 'b')]));
      assert.deepEqual(await repository.listChanges('dev-1'), []);
    });
  });
}
