/**
 * A lower site's CA can never outlive its region's. Once it is due for renewal while the region's CA ends no
 * later than its own (the region cut off from the hub cannot renew), asking again would only churn
 * certificates and audit entries at every sync; the lower site waits instead. A hub, a region and a lower
 * site in one process, over mTLS on loopback.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { eventually, startTestManager, type TestManager } from './support/test-manager.ts';

const operator = { id: 'op-test', name: 'tess', role: 'admin' as const };
const HOUR_MS = 3_600_000;

let hub: TestManager;
let region: TestManager;
let lower: TestManager;

before(async () => {
  hub = await startTestManager();
  const north = await hub.manager.services.sites?.create(operator, {
    id: 'north',
    maxOfflineMs: 2 * HOUR_MS,
    ttlMs: HOUR_MS,
    region: true,
  });
  assert.ok(north);
  region = await startTestManager({
    role: 'site',
    upstreamUrl: hub.deviceUrl,
    upstreamToken: north.token,
    upstreamCaFingerprint: hub.manager.pki.caFingerprint,
    upstreamSyncMs: 100,
  });
  const plant = await region.manager.services.sites?.create(operator, {
    id: 'plant-7',
    maxOfflineMs: 2 * HOUR_MS,
    ttlMs: HOUR_MS,
  });
  assert.ok(plant);
  lower = await startTestManager({
    role: 'site',
    upstreamUrl: region.deviceUrl,
    upstreamToken: plant.token,
    upstreamCaFingerprint: hub.manager.pki.caFingerprint,
    upstreamSyncMs: 100,
  });
});

after(async () => {
  await lower?.close();
  await region?.close();
  await hub?.close();
});

/** Resolves after the lower site has completed `count` more syncs with the region. */
async function syncs(count: number): Promise<void> {
  const uplink = lower.manager.siteUplink;
  assert.ok(uplink);
  let last = uplink.status().lastSyncAt;
  for (let seen = 0; seen < count; seen++) {
    await eventually(() => {
      const now = uplink.status().lastSyncAt;
      if (now === null || now === last) return undefined;
      last = now;
      return true;
    }, 'a sync of the lower site with its region');
  }
}

test("a lower site due for renewal does not ask again while the region's CA cannot outlast its own", async () => {
  await syncs(2);
  const held = await region.manager.store.sites.findById('plant-7');
  assert.ok(held?.caSerial && held.caNotAfter);
  const regionCaEnd = region.manager.siteUplink?.caNotAfter ?? 0;
  assert.ok(held.caNotAfter <= regionCaEnd, "the lower site's CA ends no later than the region's");
  // Same budget as the region: 1.5 h on, the lower site has less than 1.5 budgets of CA left, but no CA the
  // region issues can end later than the one it holds.
  lower.clock.offsetMs = 1.5 * HOUR_MS;
  await syncs(4);
  const after = await region.manager.store.sites.findById('plant-7');
  assert.equal(after?.caSerial, held.caSerial, 'no new delegation while it could not extend the CA');
  assert.equal(lower.manager.siteUplink?.status().link, 'connected');
});
