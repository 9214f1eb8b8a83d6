/**
 * Offline overrides told apart from connected edits, end to end in one process (a hub and a site manager
 * over mTLS, with a FaultProxy on the link): an override the site makes while cut off must end within its
 * offline budget, and when it loosens a setting the hub changed meanwhile, the hub's value holds at
 * reconnection and the site raises an alert; the same override made while connected is the site's to decide.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import {
  authorizeSiteOverlay,
  type PolicyBundle,
  type PolicySourceFile,
  type SiteOverlay,
  sitePolicyOf,
} from '@edgeward/core';
import { FaultProxy } from '@edgeward/sim';
import { httpsJson } from './support/https-json.ts';
import { eventually, startTestManager, type TestManager } from './support/test-manager.ts';

const operator = { id: 'op-test', name: 'tess', role: 'admin' as const };
const HOUR_MS = 3_600_000;
const SETTING = 'settings.evaluationIntervalMs';
const federation = (hubValueMs: number): PolicySourceFile[] => [
  {
    path: 'federation.yaml',
    text: `maxClockAhead: 5m
settings:
  ${SETTING}: { kind: maximum, mode: site-owned, value: ${hubValueMs} }
delegate:
  '*': [${SETTING}]
`,
  },
];

let hub: TestManager;
let site: TestManager;
let link: FaultProxy;

before(async () => {
  hub = await startTestManager();
  await hub.manager.services.policies.apply(operator, federation(HOUR_MS), 'site-owned interval', undefined);
  const created = await hub.manager.services.sites?.create(operator, {
    id: 'plant-1',
    maxOfflineMs: 2 * HOUR_MS,
    ttlMs: HOUR_MS,
  });
  assert.ok(created);
  link = await FaultProxy.start({ target: { host: '127.0.0.1', port: Number(new URL(hub.deviceUrl).port) } });
  site = await startTestManager({
    role: 'site',
    upstreamUrl: link.url,
    upstreamToken: created.token,
    upstreamCaFingerprint: hub.manager.pki.caFingerprint,
    upstreamSyncMs: 100,
    upstreamTimeoutMs: 1000,
  });
});

after(async () => {
  await site?.close();
  await link?.close();
  await hub?.close();
});

async function siteApi<T>(method: string, path: string, body?: unknown) {
  return httpsJson<T & { error?: { code: string; message: string } }>(new URL(path, site.operatorUrl), {
    method,
    ca: site.manager.pki.rootCaPem,
    token: site.adminToken,
    body,
  });
}

const linkState = async () => (await siteApi<{ link: string }>('GET', '/api/v1/site')).body.link;

async function heldBundle(): Promise<PolicyBundle> {
  return JSON.parse(await readFile(join(site.dir, 'hub-bundle.json'), 'utf8')) as PolicyBundle;
}

/** How the site's devices merge the overlay in force with the hub bundle the site holds now. */
async function effective() {
  const bundle = await heldBundle();
  const overlay = (await site.manager.store.sites.findOverlay('plant-1'))?.overlayJson;
  assert.ok(overlay !== undefined && bundle.payload.federation !== undefined);
  const authorized = authorizeSiteOverlay(JSON.parse(overlay) as SiteOverlay, {
    fleet: bundle.payload.fleet,
    federation: bundle.payload.federation,
    nowMs: Date.now(),
  });
  assert.ok(authorized.ok, authorized.ok ? '' : authorized.message);
  return sitePolicyOf(bundle.payload, authorized.payload, Date.now());
}

test('an offline loosening override loses to a concurrent hub change and is shadowed with an alert; a connected one stands', async () => {
  await eventually(
    async () => (await heldBundle()).payload.federation?.sites.some((entry) => entry.site === 'plant-1'),
    'the hub bundle with the site delegation at the site',
  );
  await eventually(async () => (await linkState()) === 'connected', 'the site connected');

  link.cut();
  await eventually(
    async () => (await linkState()) === 'offline',
    'the site to notice the hub is gone',
    30_000,
  );
  // Offline, an override may not outlast the site's offline budget of two hours.
  const tooLong = await siteApi('PUT', '/api/v1/site/overlay', {
    edits: [{ setting: SETTING, value: 24 * HOUR_MS, expiresAt: Date.now() + 3 * HOUR_MS }],
  });
  assert.equal(tooLong.status, 403);
  assert.match(tooLong.body.error?.message ?? '', /outlives-budget/);
  // Within it, the loosening override is accepted and enforced while the hub says nothing new.
  const offline = await siteApi<{ overlay: SiteOverlay }>('PUT', '/api/v1/site/overlay', {
    edits: [{ setting: SETTING, value: 24 * HOUR_MS, expiresAt: Date.now() + HOUR_MS, reason: 'link down' }],
  });
  assert.equal(offline.status, 200, JSON.stringify(offline.body));
  assert.equal(offline.body.overlay.payload.edits[0]?.link, 'offline');
  assert.equal((await effective()).policy.settings.evaluationIntervalMs, 24 * HOUR_MS);
  assert.equal(
    (await site.manager.store.alerts.list()).some(
      (alert) => alert.ruleId === 'edgeward.site.override-shadowed',
    ),
    false,
  );

  // Meanwhile the hub changes the setting; the link returns.
  const before = (await heldBundle()).payload.version;
  await hub.manager.services.policies.apply(operator, federation(HOUR_MS / 2), 'tighter interval', undefined);
  link.restore();
  await eventually(
    async () => (await heldBundle()).payload.version > before,
    'the new hub bundle at the site',
  );
  const merged = await effective();
  assert.equal(merged.policy.settings.evaluationIntervalMs, HOUR_MS / 2, 'the hub value holds');
  assert.deepEqual(
    merged.merge.outcomes.map((outcome) => [outcome.kind, outcome.alert]),
    [['shadowed', true]],
  );
  const alert = await eventually(
    async () =>
      (await site.manager.store.alerts.list()).find(
        (entry) => entry.ruleId === 'edgeward.site.override-shadowed',
      ),
    'the shadowed override alert at the site',
  );
  assert.equal(alert.source, 'site');
  await eventually(
    async () => ((await hub.manager.services.sites?.show('plant-1'))?.conflicts ?? 0) >= 1,
    'the hub to see the conflict',
  );

  // The same override made while connected, with the hub's value in view, is the site's decision.
  await eventually(async () => (await linkState()) === 'connected', 'the site connected again');
  const connected = await siteApi<{ overlay: SiteOverlay }>('PUT', '/api/v1/site/overlay', {
    edits: [{ setting: SETTING, value: 24 * HOUR_MS, expiresAt: Date.now() + 3 * HOUR_MS }],
  });
  assert.equal(connected.status, 200, JSON.stringify(connected.body));
  assert.equal(connected.body.overlay.payload.edits[0]?.link, 'connected');
  const decided = await effective();
  assert.equal(decided.policy.settings.evaluationIntervalMs, 24 * HOUR_MS);
  assert.deepEqual(
    decided.merge.outcomes.map((outcome) => outcome.kind),
    ['applied'],
  );
});
