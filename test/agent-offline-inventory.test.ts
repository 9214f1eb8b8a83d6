import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Agent } from '@edgeward/agent';
import { FaultProxy } from '@edgeward/sim';
import { fixtureInventory } from './support/fixture-inventory.ts';
import { enrollTestDevice, inventoryOnlyAgent } from './support/inventory-agent.ts';
import { eventually, startTestManager } from './support/test-manager.ts';

/**
 * Cut off from its manager, an agent retries every few hundred milliseconds at first. Each retry used to
 * read the whole inventory again (package databases, processes, sockets) before failing to send it; the
 * inventory is read once per interval, offline too, and the one read is sent when the link returns.
 */
test('an agent cut off from its manager reads its inventory once per interval, not at every retry, and sends it when the link returns', async () => {
  const hub = await startTestManager();
  const proxy = await FaultProxy.start({
    target: { host: '127.0.0.1', port: Number(new URL(hub.deviceUrl).port) },
  });
  const dataDir = await mkdtemp(join(tmpdir(), 'edgeward-offline-inventory-'));
  let agent: Agent | undefined;
  try {
    const deviceId = await enrollTestDevice(hub, { dataDir, hostname: 'offline-1', managerUrl: proxy.url });
    proxy.cut();
    let collections = 0;
    agent = inventoryOnlyAgent(
      dataDir,
      {
        inventoryIntervalMs: 3_600_000,
        retryInitialMs: 50,
        retryMaxMs: 100,
        requestTimeoutMs: 2000,
      },
      async () => {
        collections += 1;
        return fixtureInventory('offline-1');
      },
    );
    await agent.start();
    const refusedBefore = proxy.refusedCount;
    await eventually(
      () => proxy.refusedCount - refusedBefore >= 8 || undefined,
      'eight refused connections while cut off',
    );
    assert.equal(collections, 1, 'one inventory read, however many retries');
    assert.equal((await hub.manager.services.devices.show(deviceId)).inventoryVersion, 0);

    proxy.restore();
    await eventually(
      async () =>
        (await hub.manager.services.devices.show(deviceId)).inventoryVersion > 0 ? true : undefined,
      'the inventory at the manager once the link is back',
    );
    assert.equal(collections, 1, 'the inventory read while cut off is the one sent');
  } finally {
    await agent?.stop(2000);
    await proxy.close();
    await hub.close();
    await rm(dataDir, { recursive: true, force: true });
  }
});
