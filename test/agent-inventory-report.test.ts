import assert from 'node:assert/strict';
import { copyFile, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Agent, enrollAgent, resolveAgentConfig } from '@edgeward/agent';
import type { Inventory } from '@edgeward/core';
import { fixtureInventory } from './support/fixture-inventory.ts';
import { eventually, silentLogger, startTestManager } from './support/test-manager.ts';

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
    const started = new Agent({
      config: resolveAgentConfig([
        {
          source: 'test',
          values: {
            dataDir,
            root: dataDir,
            pushEnabled: false,
            reportIntervalMs: 60_000,
            inventoryIntervalMs: 1000,
            policyPollMs: 3_600_000,
            isolation: 'report-only',
          },
        },
      ]),
      logger: silentLogger,
      agentVersion: 'test',
      collectInventory: async () => {
        collections += 1;
        return { ...current, collectedAt: Date.now() };
      },
      eventSources: 'none',
    });
    await started.start();
    return started;
  };
  try {
    const operator = { id: 'test', name: 'test', role: 'admin' as const };
    const { deviceId } = await enrollAgent({
      managerUrl: hub.deviceUrl,
      token: (await hub.manager.services.tokens.create(operator, {}, 3_600_000)).token,
      caFingerprint: hub.manager.pki.caFingerprint,
      dataDir,
      hostname: 'inventory-1',
      agentVersion: 'test',
      reportIntervalMs: 60_000,
      timeoutMs: 5000,
    });
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
