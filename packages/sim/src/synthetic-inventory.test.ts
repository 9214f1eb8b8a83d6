import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  applyInventoryDelta,
  canonicalizeInventory,
  diffInventory,
  inventoryChanges,
  inventorySchema,
  isDriftSection,
} from '@edgeward/core';
import {
  evolveInventory,
  SyntheticCollector,
  simulatedHostname,
  syntheticInventory,
} from './synthetic-inventory.ts';

test('the same index and seed give the same inventory; another seed gives another device', () => {
  assert.deepEqual(syntheticInventory(42, { seed: 7 }), syntheticInventory(42, { seed: 7 }));
  const differing = Array.from({ length: 50 }, (_, index) => index).filter(
    (index) =>
      JSON.stringify(syntheticInventory(index, { seed: 1 })) !==
      JSON.stringify(syntheticInventory(index, { seed: 2 })),
  );
  assert.ok(differing.length > 25, `only ${differing.length} of 50 devices differ between seeds`);
});

test('every synthetic inventory is valid and names its device sim-NNNNN', () => {
  for (let index = 0; index < 300; index++) {
    const inventory = syntheticInventory(index, { seed: 3, collectedAt: 1_700_000_000_000 });
    assert.doesNotThrow(() => inventorySchema.parse(inventory), `device ${index}`);
    assert.equal(inventory.hostname, simulatedHostname(index));
    assert.ok(['debian', 'alpine'].includes(inventory.os.id));
    assert.ok(inventory.packages.length >= 10);
    assert.ok(inventory.listeners.some((listener) => listener.port === 22));
    assert.ok(inventory.users.some((user) => user.uid === 0));
    assert.ok(inventory.kernelModules.length > 0);
    assert.ok(inventory.uptimeSeconds > 0);
    // No two items share a key, or the manager would keep only one of them.
    const canonical = canonicalizeInventory(inventory);
    for (const section of [
      'interfaces',
      'listeners',
      'packages',
      'units',
      'users',
      'groups',
      'kernelModules',
    ] as const) {
      assert.equal(canonical[section].length, inventory[section].length, `device ${index} ${section}`);
    }
  }
  assert.equal(simulatedHostname(42), 'sim-00042');
});

test('the fleet mixes Debian and Alpine, x86_64 and aarch64', () => {
  const kinds = new Set<string>();
  for (let index = 0; index < 200; index++) {
    const inventory = syntheticInventory(index);
    kinds.add(`${inventory.os.id}/${inventory.architecture}/${inventory.packages[0]?.manager}`);
  }
  assert.deepEqual([...kinds].sort(), [
    'alpine/aarch64/apk',
    'alpine/x86_64/apk',
    'debian/aarch64/dpkg',
    'debian/x86_64/dpkg',
  ]);
});

test('each drift step makes exactly one change, in a drift section, that a delta carries to the manager', () => {
  for (const index of [0, 1, 2, 3, 17, 99]) {
    let inventory = syntheticInventory(index);
    for (let step = 1; step <= 40; step++) {
      const next = evolveInventory(inventory, step);
      assert.doesNotThrow(() => inventorySchema.parse(next));
      const changes = inventoryChanges(inventory, next);
      assert.equal(changes.length, 1, `device ${index} step ${step}: ${JSON.stringify(changes)}`);
      assert.ok(isDriftSection(changes[0]?.section ?? ''), `${changes[0]?.section} is not a drift section`);
      assert.deepEqual(
        inventoryChanges(applyInventoryDelta(inventory, diffInventory(inventory, next)), next),
        [],
        'the delta reproduces the drifted inventory',
      );
      inventory = next;
    }
  }
});

test('drift is replayable and leaves the inventory it started from untouched', () => {
  const base = syntheticInventory(5);
  const frozen = JSON.stringify(base);
  const once = evolveInventory(evolveInventory(base, 1), 2);
  const again = evolveInventory(evolveInventory(base, 1), 2);
  assert.deepEqual(once, again);
  assert.equal(JSON.stringify(base), frozen);
});

test('devices share their unchanged list items instead of copying them', () => {
  const a = syntheticInventory(0);
  const b = Array.from({ length: 200 }, (_, index) => syntheticInventory(index)).find(
    (other) =>
      other.hostname !== a.hostname && other.os.id === a.os.id && other.architecture === a.architecture,
  );
  assert.ok(b !== undefined);
  assert.equal(a.packages[0], b.packages[0]);
  assert.equal(a.os, b.os);
  const drifted = evolveInventory(a, 1);
  const unchanged = (['packages', 'listeners', 'users', 'kernelModules'] as const).filter(
    (section) => drifted[section] === a[section],
  );
  assert.equal(unchanged.length, 3, 'a drift step replaces one list and shares the others');
});

test('a collector reports the same inventory until it drifts, with a fresh collectedAt each time', async () => {
  let now = 1_700_000_000_000;
  const collector = new SyntheticCollector({ index: 9, now: () => now });
  const first = await collector.collect();
  now += 60_000;
  const second = await collector.collect();
  assert.deepEqual(inventoryChanges(first, second), []);
  assert.equal(second.collectedAt - first.collectedAt, 60_000);
  assert.equal(second.uptimeSeconds - first.uptimeSeconds, 60);
  collector.drift();
  const third = await collector.collect();
  assert.equal(collector.step, 1);
  assert.equal(inventoryChanges(second, third).length, 1);
});

test('a collector with a drift probability drifts now and then, the same way on every run', async () => {
  const steps = async () => {
    const collector = new SyntheticCollector({ index: 4, seed: 11, driftProbability: 0.2, now: () => 0 });
    const seen: number[] = [];
    for (let i = 0; i < 200; i++) {
      await collector.collect();
      seen.push(collector.step);
    }
    return seen;
  };
  const first = await steps();
  assert.deepEqual(first, await steps());
  const total = first.at(-1) ?? 0;
  assert.ok(total > 20 && total < 70, `${total} drift steps in 200 collections at p = 0.2`);
});
