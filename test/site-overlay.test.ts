/**
 * A site's own decisions, end to end in one process (a hub and a site manager over mTLS on loopback): the
 * hub's policy governs settings in `federation.yaml`, the site's delegation reaches devices in a re-signed
 * hub bundle, the site publishes a signed overlay that may tighten but never loosen, its devices fetch
 * both and merge them with the one merge function, and the hub receives the overlay at the next sync.
 */
import assert from 'node:assert/strict';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import {
  authorizeSiteOverlay,
  type CertificateGrant,
  createCsr,
  exportPrivateKeyPem,
  generateDeviceKeyPair,
  type PolicyBundle,
  type PolicySourceFile,
  sitePolicyOf,
} from '@edgeward/core';
import { httpsJson } from './support/https-json.ts';
import { eventually, startTestManager, type TestManager } from './support/test-manager.ts';

const operator = { id: 'op-test', name: 'tess', role: 'admin' as const };
const HOUR_MS = 3_600_000;
const files: PolicySourceFile[] = [
  {
    path: 'federation.yaml',
    text: `maxClockAhead: 5m
settings:
  settings.evaluationIntervalMs: { kind: maximum, mode: floor, value: 3600000 }
  settings.patchSlaMs.critical: { kind: maximum, mode: lock, value: 172800000 }
delegate:
  '*': [settings.evaluationIntervalMs]
`,
  },
  {
    path: 'rules/site.yml',
    text: `title: Failed login
id: t-login-failed
name: t_login_failed
logsource: { product: edgeward, service: auth }
detection: { selection: { type: auth.login_failed }, condition: selection }
level: low
---
title: Failed logins across the site
id: t-site-failed-logins
correlation: { type: event_count, rules: [t_login_failed], timespan: 1h, condition: { gte: 3 } }
level: high
edgeward: { scope: site }
`,
  },
];

let hub: TestManager;
let site: TestManager;

before(async () => {
  hub = await startTestManager();
  await hub.manager.services.policies.apply(operator, files, 'federation', undefined);
  const created = await hub.manager.services.sites?.create(operator, {
    id: 'plant-1',
    maxOfflineMs: 2 * HOUR_MS,
    ttlMs: HOUR_MS,
  });
  assert.ok(created);
  site = await startTestManager({
    role: 'site',
    upstreamUrl: hub.deviceUrl,
    upstreamToken: created.token,
    upstreamCaFingerprint: hub.manager.pki.caFingerprint,
    upstreamSyncMs: 100,
    detectionTickMs: 100,
  });
});

after(async () => {
  await site?.close();
  // The last test closes the hub's manager itself: a second close fails, and the folder is left to remove.
  await hub?.close().catch(() => rm(hub.dir, { recursive: true, force: true }));
});

async function siteApi(method: string, path: string, body?: unknown) {
  return httpsJson<{ overlay?: unknown; error?: { code: string; message: string } }>(
    new URL(path, site.operatorUrl),
    {
      method,
      ca: site.manager.pki.rootCaPem,
      token: site.adminToken,
      body,
    },
  );
}

test('a site overlay tightens a hub floor, is refused when it would loosen it, and devices merge it', async () => {
  // The site's delegation reaches it in a bundle the hub re-signed after delegating.
  const bundle = await eventually(async () => {
    const held = JSON.parse(await readFile(join(site.dir, 'hub-bundle.json'), 'utf8')) as PolicyBundle;
    return held.payload.federation?.sites.some((entry) => entry.site === 'plant-1') ? held : undefined;
  }, 'the hub bundle with the site delegation at the site');
  const now = Date.now();

  const loosening = await siteApi('PUT', '/api/v1/site/overlay', {
    edits: [{ setting: 'settings.evaluationIntervalMs', value: 24 * HOUR_MS, expiresAt: now + HOUR_MS }],
  });
  assert.equal(loosening.status, 403);
  assert.equal(loosening.body.error?.code, 'EW_SITE_OVERLAY_REFUSED');
  assert.match(loosening.body.error?.message ?? '', /settings\.evaluationIntervalMs \(loosens-floor/);

  const locked = await siteApi('PUT', '/api/v1/site/overlay', {
    edits: [{ setting: 'settings.patchSlaMs.critical', value: HOUR_MS, expiresAt: now + HOUR_MS }],
  });
  assert.equal(locked.status, 403);
  assert.match(locked.body.error?.message ?? '', /did not delegate/);

  const tightening = await siteApi('PUT', '/api/v1/site/overlay', {
    edits: [
      {
        setting: 'settings.evaluationIntervalMs',
        value: 600_000,
        expiresAt: now + HOUR_MS,
        reason: 'audit week',
      },
    ],
  });
  assert.equal(tightening.status, 200, JSON.stringify(tightening.body));

  // A device of the site fetches the hub's bundle and the overlay, and merges them.
  const keys = await generateDeviceKeyPair();
  const token = await site.manager.services.tokens.create(operator, {}, HOUR_MS);
  const grant: CertificateGrant = await site.manager.services.enrollment.enroll({
    v: 1,
    token: token.token,
    csrPem: await createCsr({ keys, commonName: 'device' }),
    hostname: 'device',
    agentVersion: 'test',
    reportIntervalMs: 60_000,
  });
  const tls = {
    key: await exportPrivateKeyPem(keys.privateKey),
    cert: grant.certificatePem + grant.chainPem,
  };
  const served = await httpsJson<{ bundle: PolicyBundle }>(new URL('/v1/policy', site.deviceUrl), {
    method: 'GET',
    ca: grant.rootCaPem,
    tls,
  });
  const overlay = await httpsJson<{ overlay: unknown }>(new URL('/v1/policy/overlay', site.deviceUrl), {
    method: 'GET',
    ca: grant.rootCaPem,
    tls,
  });
  assert.equal(overlay.status, 200);
  const federation = served.body.bundle.payload.federation;
  assert.ok(federation);
  assert.equal(served.body.bundle.signature.keyId, bundle.signature.keyId, 'signed by the hub, served as is');
  const authorized = authorizeSiteOverlay(overlay.body.overlay, {
    fleet: grant.fleet,
    federation,
    nowMs: Date.now(),
  });
  assert.ok(authorized.ok, authorized.ok ? '' : authorized.message);
  const effective = sitePolicyOf(served.body.bundle.payload, authorized.payload, Date.now());
  assert.equal(effective.policy.settings.evaluationIntervalMs, 600_000);
  assert.equal(effective.policy.settings.patchSlaMs.critical, 172_800_000);
  assert.deepEqual(
    effective.merge.outcomes.map((outcome) => [outcome.setting, outcome.kind]),
    [['settings.evaluationIntervalMs', 'applied']],
  );

  // The hub receives the overlay at the next sync, checked as agents check it.
  const atHub = await eventually(
    () => hub.manager.store.sites.findOverlay('plant-1'),
    'the overlay at the hub',
  );
  assert.equal(atHub.version, 1);
});

test("the site runs the site-scope rules of the hub policy on its devices' events and alerts locally", async () => {
  const keys = await generateDeviceKeyPair();
  const token = await site.manager.services.tokens.create(operator, {}, HOUR_MS);
  const grant = await site.manager.services.enrollment.enroll({
    v: 1,
    token: token.token,
    csrPem: await createCsr({ keys, commonName: 'device' }),
    hostname: 'kiosk',
    agentVersion: 'test',
    reportIntervalMs: 60_000,
  });
  const now = Date.now();
  await site.manager.services.events.ingest(grant.deviceId, {
    v: 1,
    events: [1, 2, 3].map((seq) => ({
      seq,
      id: `login-${seq}`,
      type: 'auth.login_failed',
      severity: 'medium' as const,
      time: now + seq,
      data: { user: 'root', source: '203.0.113.9' },
    })),
  });
  const alert = await eventually(
    async () =>
      (await site.manager.store.alerts.list()).find((entry) => entry.ruleId === 't-site-failed-logins'),
    'the site-scope alert at the site',
  );
  assert.equal(alert.source, 'site');
  // The site's alert reaches the hub at the next sync, under its id and marked with the site; the hub
  // does not run site-scope rules itself, so it holds that one alert of the rule and no other.
  const atHub = await eventually(
    () => hub.manager.store.alerts.get(alert.id),
    'the site-scope alert at the hub',
  );
  assert.equal(atHub.siteId, 'plant-1');
  assert.equal(atHub.source, 'site');
  assert.deepEqual(atHub.deviceIds, [grant.deviceId]);
  assert.deepEqual(
    (await hub.manager.store.alerts.list({ ruleId: 't-site-failed-logins' })).map((entry) => entry.id),
    [alert.id],
  );

  // The site owns its state: the hub refuses to resolve it. A comment at the hub (its clock an hour ahead
  // of the site's) does not hold back the site's later change, which follows at the next sync.
  await assert.rejects(hub.manager.services.alerts.resolve(operator, alert.id, 'fixed'), {
    code: 'EW_ALERT_STATE_CONFLICT',
    message: /raised at site plant-1, which owns its state/,
  });
  hub.clock.offsetMs = HOUR_MS;
  await hub.manager.services.alerts.comment(operator, alert.id, 'looked at from the hub');
  hub.clock.offsetMs = 0;
  await site.manager.services.alerts.resolve(operator, alert.id, 'fixed');
  await eventually(
    async () => (await hub.manager.store.alerts.get(alert.id))?.state === 'resolved',
    'the resolution at the hub',
  );
  const listed = await httpsJson<{ alerts: { id: string; siteId: string | null }[] }>(
    new URL('/api/v1/alerts?rule=t-site-failed-logins', hub.operatorUrl),
    { method: 'GET', ca: hub.manager.pki.rootCaPem, token: hub.adminToken },
  );
  assert.deepEqual(
    listed.body.alerts.filter((entry) => entry.id === alert.id).map((entry) => entry.siteId),
    ['plant-1'],
    "the hub's operator API shows the alert marked with its site",
  );

  // A batch sent again (a reply lost on the way), or an older copy of the alert, changes nothing.
  const held = await site.manager.store.alerts.get(alert.id);
  assert.ok(held);
  const { source: _source, siteId: _siteId, bursts: _bursts, assignee: _assignee, ...sent } = held;
  const read = (name: string) => readFile(join(site.dir, 'upstream', name), 'utf8');
  const tls = { key: await read('key.pem'), cert: (await read('cert.pem')) + (await read('chain.pem')) };
  const historyBefore = await hub.manager.store.alerts.history(alert.id);
  for (const copy of [
    sent,
    sent,
    { ...sent, state: 'open', resolution: null, updatedAt: sent.updatedAt - 1 },
  ]) {
    const reply = await httpsJson<{ stored: number }>(new URL('/v1/site/alerts', hub.deviceUrl), {
      method: 'POST',
      ca: hub.manager.pki.rootCaPem,
      tls,
      body: { v: 1, alerts: [copy] },
    });
    assert.equal(reply.status, 200, JSON.stringify(reply.body));
    assert.equal(reply.body.stored, 0);
  }
  assert.equal((await hub.manager.store.alerts.get(alert.id))?.state, 'resolved');
  assert.equal((await hub.manager.store.alerts.history(alert.id)).length, historyBefore.length);
});

test('a site cut off from its hub says when it nears the end of its offline budget', async () => {
  const status = async () =>
    (
      await httpsJson<{ link: string; nearBudgetEnd: boolean; budgetEndsAt: number; lastSyncAt: number }>(
        new URL('/api/v1/site', site.operatorUrl),
        { method: 'GET', ca: site.manager.pki.rootCaPem, token: site.adminToken },
      )
    ).body;
  const connected = await eventually(async () => {
    const current = await status();
    return current.link === 'connected' ? current : undefined;
  }, 'the site connected');
  assert.equal(connected.nearBudgetEnd, false);
  // The hub goes away; the site notices, and its budget runs from its last sync.
  await hub.manager.close();
  const offline = await eventually(
    async () => {
      const current = await status();
      return current.link === 'offline' ? current : undefined;
    },
    'the site to notice the hub is gone',
    30_000,
  );
  assert.equal(offline.budgetEndsAt, offline.lastSyncAt + 2 * HOUR_MS);
  assert.equal(offline.nearBudgetEnd, false);
  site.clock.offsetMs = 1.7 * HOUR_MS;
  assert.equal((await status()).nearBudgetEnd, true);
});
