import assert from 'node:assert/strict';
import { copyFile, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Agent } from '@edgeward/agent';
import type { Inventory } from '@edgeward/core';
import { fixtureInventory } from './support/fixture-inventory.ts';
import { enrollTestDevice, inventoryOnlyAgent } from './support/inventory-agent.ts';
import { eventually, startTestManager } from './support/test-manager.ts';

const nc = { name: 'netcat-openbsd', version: '1.219-1', manager: 'dpkg', architecture: 'amd64' } as const;
const curl = { name: 'curl', version: '7.88.1-10', manager: 'dpkg', architecture: 'amd64' } as const;

/**
 * The agent reports its inventory as differences from the snapshot the manager acknowledged last, which it
 * keeps on disk only: across restarts, and when that file is an older copy (a data directory restored
 * from a backup), the manager ends up holding exactly what the device runs.
 */
test('an agent reports only changed inventories, goes on with differences after a restart, and recovers when its last snapshot on disk is stale', async () => {
  const hub = await startTestManager();
  const dataDir = await mkdtemp(join(tmpdir(), 'edgeward-inventory-report-'));
  let agent: Agent | undefined;
  let current: Inventory = fixtureInventory('inventory-1');
  let collections = 0;
  const startAgent = async () => {
    const started = inventoryOnlyAgent(dataDir, { inventoryIntervalMs: 1000 }, async () => {
      collections += 1;
      return { ...current, collectedAt: Date.now() };
    });
    await started.start();
    return started;
  };
  try {
    const deviceId = await enrollTestDevice(hub, { dataDir, hostname: 'inventory-1' });
    const atManager = () => hub.manager.services.devices.show(deviceId);
    const packagesAtManager = async () =>
      (((await atManager()).inventory as Inventory | null)?.packages ?? []).map((item) => item.name).sort();
    const versionOnDisk = async () =>
      (JSON.parse(await readFile(join(dataDir, 'inventory.json'), 'utf8')) as { version: number }).version;

    agent = await startAgent();
    await eventually(
      async () => ((await atManager()).inventoryVersion === 1 ? true : undefined),
      'version 1',
    );
    await copyFile(join(dataDir, 'inventory.json'), join(dataDir, 'inventory-v1.json'));
    const seen = collections;
    await eventually(() => collections >= seen + 2 || undefined, 'two more collections');
    assert.equal((await atManager()).inventoryVersion, 1, 'an unchanged inventory is not sent again');

    current = { ...current, packages: [...current.packages, nc] };
    await eventually(
      async () => ((await atManager()).inventoryVersion === 2 ? true : undefined),
      'version 2',
    );
    assert.deepEqual(await packagesAtManager(), ['bash', 'netcat-openbsd', 'openssh-server']);
    assert.equal(agent.inventoryVersion, 2);

    await agent.stop(2000);
    current = { ...current, packages: current.packages.filter((item) => item.name !== nc.name) };
    agent = await startAgent();
    await eventually(
      async () => ((await atManager()).inventoryVersion === 3 ? true : undefined),
      'version 3',
    );
    const removed = (await hub.manager.services.devices.history(deviceId, { limit: 10 })).filter(
      (change) => change.version === 3,
    );
    assert.deepEqual(
      removed.map((change) => [change.section, change.key, change.kind]),
      [['packages', 'dpkg/netcat-openbsd:amd64', 'removed']],
    );

    await agent.stop(2000);
    await copyFile(join(dataDir, 'inventory-v1.json'), join(dataDir, 'inventory.json'));
    current = { ...current, packages: [...current.packages, curl] };
    agent = await startAgent();
    await eventually(
      async () => ((await atManager()).inventoryVersion === 4 ? true : undefined),
      'version 4',
    );
    assert.deepEqual(await packagesAtManager(), ['bash', 'curl', 'openssh-server']);
    assert.equal(await versionOnDisk(), 4);
  } finally {
    await agent?.stop(2000);
    await hub.close();
    await rm(dataDir, { recursive: true, force: true });
  }
});

/**
 * While the manager fails, each retry asks with a heartbeat whether it is back before the agent lays
 * out and sends its inventory again: a dead link gets a few hundred bytes per attempt, not the inventory.
 */
test('after a failed attempt the agent retries with a heartbeat and sends its inventory once the manager answers', async () => {
  const hub = await startTestManager();
  const dataDir = await mkdtemp(join(tmpdir(), 'edgeward-inventory-retry-'));
  let agent: Agent | undefined;
  const calls: string[] = [];
  let failing = true;
  const devices = hub.manager.services.devices;
  const heartbeat = devices.heartbeat.bind(devices);
  const ingestInventory = devices.ingestInventory.bind(devices);
  Object.assign(devices, {
    heartbeat: (...args: Parameters<typeof heartbeat>) => {
      calls.push(failing ? 'heartbeat refused' : 'heartbeat');
      if (failing) throw new Error('the manager is failing (test)');
      return heartbeat(...args);
    },
    ingestInventory: (...args: Parameters<typeof ingestInventory>) => {
      calls.push(failing ? 'inventory refused' : 'inventory');
      if (failing) throw new Error('the manager is failing (test)');
      return ingestInventory(...args);
    },
  });
  try {
    const deviceId = await enrollTestDevice(hub, { dataDir, hostname: 'inventory-retry' });
    agent = inventoryOnlyAgent(
      dataDir,
      { inventoryIntervalMs: 3_600_000, retryInitialMs: 20, retryMaxMs: 40 },
      async () => ({ ...fixtureInventory('inventory-retry'), collectedAt: Date.now() }),
    );
    await agent.start();
    await eventually(() => calls.length >= 6 || undefined, 'six refused attempts');
    const refused = [...calls];
    assert.equal(refused[0], 'inventory refused', 'the first attempt sends the inventory');
    assert.deepEqual(
      new Set(refused.slice(1)),
      new Set(['heartbeat refused']),
      'the retries send nothing but a heartbeat',
    );
    failing = false;
    await eventually(
      async () =>
        (await hub.manager.services.devices.show(deviceId)).inventoryVersion === 1 ? true : undefined,
      'the inventory at the manager',
    );
    const answered = calls.slice(calls.indexOf('heartbeat'));
    assert.deepEqual(answered.slice(0, 2), ['heartbeat', 'inventory']);
    assert.equal(answered.filter((call) => call === 'inventory').length, 1, 'the inventory is sent once');
  } finally {
    await agent?.stop(2000);
    await hub.close();
    await rm(dataDir, { recursive: true, force: true });
  }
});
