import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { isEdgewardError } from '../errors/edgeward-error.ts';
import { type Inventory, inventorySchema } from './inventory.schema.ts';
import { inventoryChanges, inventoryListChanges } from './inventory-changes.ts';
import {
  applyInventoryDelta,
  diffInventory,
  inventoryDeltaSchema,
  isEmptyInventoryDelta,
} from './inventory-delta.ts';
import { canonicalizeInventory, inventoryItemKey, inventoryListSections } from './inventory-keys.ts';

// Small value domains so that two independent inventories share many keys and items collide often:
// that is where added, removed and changed items all show up.
const word = fc.constantFrom('a', 'b', 'c', 'sshd', 'ssh', 'libc6');
const version = fc.constantFrom('1.0', '1.1', '2.0-1');

const interfaceArb = fc.record(
  {
    name: fc.constantFrom('eth0', 'eth1', 'lo', 'wlan0'),
    mac: fc.constantFrom('02:00:00:00:00:01', '02:00:00:00:00:02'),
    addresses: fc.array(fc.constantFrom('10.0.0.1/24', '10.0.0.2/24', 'fe80::1/64'), { maxLength: 3 }),
    up: fc.boolean(),
  },
  { requiredKeys: ['name', 'addresses'] },
);
const listenerArb = fc.record(
  {
    protocol: fc.constantFrom('tcp' as const, 'udp' as const),
    address: fc.constantFrom('0.0.0.0', '127.0.0.1', '::'),
    port: fc.constantFrom(22, 53, 443),
    process: fc.record({ pid: fc.integer({ min: 1, max: 4 }), name: word }),
  },
  { requiredKeys: ['protocol', 'address', 'port'] },
);
const packageArb = fc.record(
  {
    name: word,
    version,
    manager: fc.constantFrom('dpkg' as const, 'apk' as const),
    architecture: fc.constantFrom('amd64', 'all'),
  },
  { requiredKeys: ['name', 'version', 'manager'] },
);
const unitArb = fc.record({
  name: fc.constantFrom('ssh.service', 'cron.service', 'fstrim.timer'),
  activeState: fc.constantFrom('active', 'inactive', 'unknown'),
  enabledState: fc.constantFrom('enabled', 'disabled', 'static'),
});
const userArb = fc.record({
  name: word,
  uid: fc.constantFrom(0, 1000),
  gid: fc.constantFrom(0, 1000),
  home: fc.constantFrom('/root', '/home/a'),
  shell: fc.constantFrom('/bin/sh', '/usr/sbin/nologin'),
});
const groupArb = fc.record({
  name: word,
  gid: fc.constantFrom(0, 27),
  members: fc.array(word, { maxLength: 3 }),
});
const moduleArb = fc.record({ name: word, sizeBytes: fc.constantFrom(4096, 8192) });

const rawInventoryArb: fc.Arbitrary<Inventory> = fc.record({
  collectedAt: fc.integer({ min: 0, max: 2_000_000_000_000 }),
  hostname: fc.constantFrom('gw-1', 'gw-2'),
  os: fc.record({
    id: fc.constantFrom('debian', 'alpine'),
    name: fc.constantFrom('Debian GNU/Linux', 'Alpine Linux'),
    version: fc.constantFrom('12 (bookworm)', ''),
    versionId: fc.constantFrom('12', '3.20.3'),
    prettyName: fc.constantFrom('Debian GNU/Linux 12 (bookworm)', 'Alpine Linux v3.20'),
  }),
  kernel: fc.record({
    release: fc.constantFrom('6.1.0-18-amd64', '6.6.31'),
    version: fc.constantFrom('#1 SMP'),
  }),
  architecture: fc.constantFrom('x86_64', 'aarch64'),
  firmware: fc.record(
    {
      source: fc.constantFrom('dmi' as const, 'device-tree' as const, 'file' as const, 'none' as const),
      vendor: fc.constantFrom('Intel', 'raspberrypi'),
      version: version,
      date: fc.constantFrom('01/02/2024'),
      model: fc.constantFrom('NUC', 'Raspberry Pi 4 Model B'),
    },
    { requiredKeys: ['source'] },
  ),
  cpu: fc.record({
    model: fc.constantFrom('Intel Atom', 'Cortex-A72'),
    cores: fc.integer({ min: 0, max: 8 }),
  }),
  memory: fc.record({ totalBytes: fc.constantFrom(1_073_741_824, 2_147_483_648) }),
  uptimeSeconds: fc.integer({ min: 0, max: 10_000_000 }).map((n) => n / 100),
  interfaces: fc.array(interfaceArb, { maxLength: 4 }),
  listeners: fc.array(listenerArb, { maxLength: 6 }),
  connections: fc.record({
    established: fc.integer({ min: 0, max: 50 }),
    topRemotes: fc.array(
      fc.record({ address: fc.constantFrom('10.0.0.9', '10.0.0.8'), count: fc.integer({ min: 1, max: 5 }) }),
      { maxLength: 2 },
    ),
  }),
  packages: fc.array(packageArb, { maxLength: 8 }),
  units: fc.array(unitArb, { maxLength: 3 }),
  users: fc.array(userArb, { maxLength: 4 }),
  groups: fc.array(groupArb, { maxLength: 4 }),
  kernelModules: fc.array(moduleArb, { maxLength: 4 }),
});
// fast-check sometimes builds null-prototype records; inventories arrive as JSON, so make them plain.
const inventoryArb = rawInventoryArb.map((inventory): Inventory => JSON.parse(JSON.stringify(inventory)));
/** As a collector produces them: no two items share a key. */
const uniqueInventoryArb = inventoryArb.map(canonicalizeInventory);

/** The same inventory with every list (and every nested list) in another order. */
function shuffled(inventory: Inventory, seed: number): Inventory {
  const shuffle = <T>(items: readonly T[]): T[] => {
    const out = [...items];
    let state = seed;
    for (let i = out.length - 1; i > 0; i--) {
      state = (state * 1103515245 + 12345) % 2147483648;
      const j = state % (i + 1);
      [out[i], out[j]] = [out[j]!, out[i]!];
    }
    return out;
  };
  return {
    ...inventory,
    interfaces: shuffle(inventory.interfaces.map((i) => ({ ...i, addresses: shuffle(i.addresses) }))),
    listeners: shuffle(inventory.listeners),
    packages: shuffle(inventory.packages),
    units: shuffle(inventory.units),
    users: shuffle(inventory.users),
    groups: shuffle(inventory.groups.map((g) => ({ ...g, members: shuffle(g.members) }))),
    kernelModules: shuffle(inventory.kernelModules),
  };
}

describe('diffInventory and applyInventoryDelta', () => {
  it('applying the diff of a to b onto a gives b in canonical order', () => {
    fc.assert(
      fc.property(inventoryArb, inventoryArb, (a, b) => {
        assert.deepStrictEqual(applyInventoryDelta(a, diffInventory(a, b)), canonicalizeInventory(b));
      }),
      { numRuns: 500 },
    );
  });

  it('a delta survives JSON and the wire schema and still rebuilds b', () => {
    fc.assert(
      fc.property(inventoryArb, inventoryArb, (a, b) => {
        const wire = inventoryDeltaSchema.parse(JSON.parse(JSON.stringify(diffInventory(a, b))));
        const rebuilt = applyInventoryDelta(JSON.parse(JSON.stringify(a)), wire);
        assert.deepStrictEqual(rebuilt, canonicalizeInventory(b));
        assert.deepStrictEqual(inventorySchema.parse(rebuilt), rebuilt);
      }),
      { numRuns: 200 },
    );
  });

  it('the diff of an inventory with itself, in any list order, is empty', () => {
    fc.assert(
      fc.property(uniqueInventoryArb, fc.integer({ min: 1, max: 1_000_000 }), (a, seed) => {
        const delta = diffInventory(a, shuffled(a, seed));
        assert.ok(isEmptyInventoryDelta(delta));
        assert.deepStrictEqual(delta, { collectedAt: a.collectedAt, uptimeSeconds: a.uptimeSeconds });
      }),
    );
  });

  it('carries collectedAt and uptime without counting them as a change', () => {
    fc.assert(
      fc.property(inventoryArb, fc.integer({ min: 0, max: 1e12 }), (a, later) => {
        const b = { ...a, collectedAt: a.collectedAt + later, uptimeSeconds: a.uptimeSeconds + 60 };
        const delta = diffInventory(a, b);
        assert.ok(isEmptyInventoryDelta(delta));
        assert.equal(delta.collectedAt, b.collectedAt);
        assert.equal(delta.uptimeSeconds, b.uptimeSeconds);
      }),
    );
  });

  it('every change record has a matching entry of the same kind in the delta', () => {
    fc.assert(
      fc.property(inventoryArb, inventoryArb, (a, b) => {
        const delta = diffInventory(a, b);
        for (const change of inventoryChanges(a, b)) {
          const entry = delta[change.section];
          assert.notEqual(entry, undefined, `${change.section} changed but is not in the delta`);
          if (typeof entry !== 'object' || entry === null || !('removed' in entry)) continue;
          const keysOf = (items: readonly unknown[]) =>
            items.map((item) =>
              inventoryItemKey(change.section as 'packages', item as Inventory['packages'][0]),
            );
          const keys =
            change.kind === 'removed'
              ? entry.removed
              : keysOf(change.kind === 'added' ? entry.added : entry.changed);
          assert.ok(keys.includes(change.key), `${change.kind} ${change.section} ${change.key}`);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('refuses a delta whose base is not the inventory it is applied to', () => {
    const a = fc.sample(inventoryArb, { numRuns: 1, seed: 7 })[0]!;
    const base = { ...a, packages: [{ name: 'openssl', version: '3.0.11', manager: 'dpkg' as const }] };
    const removal = diffInventory(base, { ...base, packages: [] });
    const elsewhere = { ...base, packages: [] };
    assert.throws(
      () => applyInventoryDelta(elsewhere, removal),
      (error) => isEdgewardError(error, 'EW_INVENTORY_BASE_MISMATCH') && /dpkg\/openssl/.test(error.message),
    );
    const addition = diffInventory(elsewhere, base);
    assert.throws(
      () => applyInventoryDelta(base, addition),
      (error) => isEdgewardError(error, 'EW_INVENTORY_BASE_MISMATCH'),
    );
  });
});

describe('inventoryChanges on generated inventories', () => {
  it('is empty for identical inventories, whatever the list order', () => {
    fc.assert(
      fc.property(uniqueInventoryArb, fc.integer({ min: 1, max: 1_000_000 }), (a, seed) => {
        assert.deepStrictEqual(inventoryChanges(a, shuffled(a, seed)), []);
      }),
    );
  });

  it('is empty when only volatile figures move: times, uptime, connections, listener pids', () => {
    fc.assert(
      fc.property(uniqueInventoryArb, fc.integer({ min: 1, max: 9 }), (a, bump) => {
        const b: Inventory = {
          ...a,
          collectedAt: a.collectedAt + bump,
          uptimeSeconds: a.uptimeSeconds + bump,
          connections: { established: a.connections.established + bump, topRemotes: [] },
          listeners: a.listeners.map((l) =>
            l.process === undefined ? l : { ...l, process: { ...l.process, pid: l.process.pid + bump } },
          ),
        };
        assert.deepStrictEqual(inventoryChanges(a, b), []);
      }),
    );
  });
});

describe('inventoryListChanges on generated inventories', () => {
  it('gives for one section exactly what inventoryChanges gives for it, duplicates and order included', () => {
    fc.assert(
      fc.property(inventoryArb, inventoryArb, (a, b) => {
        for (const section of inventoryListSections) {
          assert.deepStrictEqual(
            inventoryListChanges(section, a[section], b[section]),
            inventoryChanges(a, b).filter((change) => change.section === section),
          );
        }
      }),
    );
  });
});
