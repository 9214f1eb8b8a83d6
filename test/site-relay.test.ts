/**
 * The edges of what crosses between a site and its hub, in one process (a hub and a site manager over mTLS
 * on loopback): a hub command handed over again is queued once, a command for a device the site does not
 * hold comes back refused, a site's audit upload that rewrites what the hub anchored is refused with its
 * own error code, and a revoked site is refused even where its certificate would still pass.
 */
import assert from 'node:assert/strict';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import {
  type AuditEntry,
  createCsr,
  type DeviceCommand,
  deviceAuditSigner,
  generateDeviceKeyPair,
  signCheckpoint,
} from '@edgeward/core';
import { httpsJson } from './support/https-json.ts';
import { eventually, startTestManager, type TestManager } from './support/test-manager.ts';
import { x509 } from './support/x509.ts';

const operator = { id: 'op-test', name: 'tess', role: 'admin' as const };
const HOUR_MS = 3_600_000;

let hub: TestManager;
let site: TestManager;
let deviceId = '';

before(async () => {
  hub = await startTestManager();
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
  });
  const token = await site.manager.services.tokens.create(operator, {}, HOUR_MS);
  const grant = await site.manager.services.enrollment.enroll({
    v: 1,
    token: token.token,
    csrPem: await createCsr({ keys: await generateDeviceKeyPair(), commonName: 'device' }),
    hostname: 'kiosk',
    agentVersion: 'test',
    reportIntervalMs: 60_000,
  });
  deviceId = grant.deviceId;
  await site.manager.services.events.ingest(deviceId, {
    v: 1,
    events: [{ seq: 1, id: 'boot', type: 'agent.started', severity: 'info', time: Date.now(), data: {} }],
  });
  await eventually(
    () => hub.manager.store.devices.findById(deviceId),
    'the hub to learn of the site device from its events',
  );
});

after(async () => {
  await site?.close();
  await hub?.close().catch(() => rm(hub.dir, { recursive: true, force: true }));
});

async function siteTls() {
  const read = (name: string) => readFile(join(site.dir, 'upstream', name), 'utf8');
  return { key: await read('key.pem'), cert: (await read('cert.pem')) + (await read('chain.pem')) };
}

test('a hub command handed over again is queued once at the site, and its result reaches the hub once', async () => {
  const issued = await hub.manager.services.commands.isolate(operator, deviceId, {
    reason: 'beaconing',
    allow: [],
    allowDns: false,
  });
  const queued = await eventually(
    () => site.manager.store.commands.findById(issued.id),
    'the command queued at the site',
  );
  assert.equal(queued.createdBy, 'hub:tess');
  assert.equal((await hub.manager.store.commands.findById(issued.id))?.status, 'sent');

  // Until a result comes back, every status reply hands it over again; the site queues it once.
  const command = (await hub.manager.store.commands.findById(issued.id)) as DeviceCommand;
  assert.equal((await site.manager.services.commands.relayFromHub(command)).kind, 'held');
  assert.deepEqual(
    (await site.manager.store.commands.listByDevice(deviceId)).map((held) => held.id),
    [issued.id],
  );

  // The device reports (as its heartbeat would post it to the site); the hub shows it done.
  await site.manager.services.commands.recordResult(deviceId, issued.id, {
    v: 1,
    commandId: issued.id,
    status: 'done',
    detail: 'isolated',
    at: Date.now(),
    state: { isolated: true, since: Date.now(), releaseAt: null, reason: 'beaconing' },
  });
  const done = await eventually(async () => {
    const held = await hub.manager.store.commands.findById(issued.id);
    return held?.status === 'done' ? held : undefined;
  }, 'the result at the hub');
  assert.equal(done.result?.detail, 'isolated');
  assert.equal((await hub.manager.services.commands.isolation(deviceId)).reported?.isolated, true);
  // The site marks the result forwarded once the hub's reply is in, which may come just after the hub stored it.
  await eventually(
    async () => ((await site.manager.store.sites.pendingRelayedResults(10)).length === 0 ? true : undefined),
    'the site to mark the result forwarded',
  );
});

test('a hub command for a device the site revoked, or does not hold, comes back refused', async () => {
  const unknown = {
    id: '00000000-0000-4000-8000-00000000beef',
    deviceId: 'dev-never-here',
    kind: 'release' as const,
    params: { reason: 'x' },
    createdAt: Date.now(),
    createdBy: 'tess',
  };
  const outcome = await site.manager.services.commands.relayFromHub(unknown);
  assert.equal(outcome.kind, 'unknown-device');
  assert.match(
    outcome.kind === 'unknown-device' ? outcome.refusal.detail : '',
    /dev-never-here is not enrolled at this site/,
  );

  // A device revoked at the site (and not at the hub yet): the refusal is the command's result at the hub.
  const token = await site.manager.services.tokens.create(operator, {}, HOUR_MS);
  const grant = await site.manager.services.enrollment.enroll({
    v: 1,
    token: token.token,
    csrPem: await createCsr({ keys: await generateDeviceKeyPair(), commonName: 'device' }),
    hostname: 'kiosk-2',
    agentVersion: 'test',
    reportIntervalMs: 60_000,
  });
  await site.manager.services.events.ingest(grant.deviceId, {
    v: 1,
    events: [{ seq: 1, id: 'boot', type: 'agent.started', severity: 'info', time: Date.now(), data: {} }],
  });
  await eventually(() => hub.manager.store.devices.findById(grant.deviceId), 'the second device at the hub');
  await site.manager.services.devices.revoke(operator, grant.deviceId, 'lost');
  const issued = await hub.manager.services.commands.release(operator, grant.deviceId, { reason: 'x' });
  const refused = await eventually(async () => {
    const held = await hub.manager.store.commands.findById(issued.id);
    return held?.result === null ? undefined : held;
  }, 'the refusal at the hub');
  assert.equal(refused.status, 'failed');
  assert.equal(refused.result?.status, 'refused');
  assert.match(refused.result?.detail ?? '', /is revoked at this site/);
});

test("a site upload that rewrites what the hub anchored is refused with EW_SITE_AUDIT_DIVERGED, and the hub's copy holds", async () => {
  const chain = await eventually(async () => {
    const held = await hub.manager.services.deviceAudit.chain('plant-1');
    return held.entries.length > 0 ? held : undefined;
  }, "the site's chain anchored at the hub");
  const first = chain.entries[0] as AuditEntry;
  const rewritten: AuditEntry = {
    ...first,
    details: { ...first.details, forged: true },
    hash: 'f'.repeat(64),
  };
  const tls = await siteTls();
  const reply = await httpsJson<{ error?: { code: string; message: string } }>(
    new URL('/v1/site/audit', hub.deviceUrl),
    {
      method: 'POST',
      ca: hub.manager.pki.rootCaPem,
      tls,
      body: {
        v: 1,
        entries: [rewritten],
        checkpoint: signCheckpoint(deviceAuditSigner(tls.key), rewritten, Date.now()),
        certificatePem: await readFile(join(site.dir, 'upstream', 'cert.pem'), 'utf8'),
      },
    },
  );
  assert.equal(reply.status, 409);
  assert.equal(reply.body.error?.code, 'EW_SITE_AUDIT_DIVERGED');
  assert.match(reply.body.error?.message ?? '', /site plant-1: entry 1 differs/);
  const recorded = await hub.manager.store.audit.list({ limit: 20 });
  assert.ok(recorded.some((entry) => entry.kind === 'site.audit_diverged' && entry.subject === 'plant-1'));
  assert.equal((await hub.manager.services.deviceAudit.verifySite('plant-1')).ok, true);
});

test("a site cannot overwrite the hub's own alerts or name the hub's devices in its alerts", async () => {
  const hubAlert = await hub.manager.services.alerts.raise({
    ruleId: 'hub-rule',
    ruleTitle: 'A hub rule',
    kind: 'detection',
    groupKey: '["x"]',
    groupFields: { user: 'x' },
    severity: 'high',
    tier: 'high',
    deviceIds: [deviceId],
    firstSeen: Date.now(),
    lastSeen: Date.now(),
    count: 1,
    eventRefs: [{ deviceId, seq: 1, id: 'boot' }],
    response: [],
    route: [],
    update: false,
    source: 'hub',
  });
  const held = await hub.manager.store.alerts.get(hubAlert.alertId);
  assert.ok(held);
  const {
    source: _source,
    siteId: _siteId,
    siteChangedAt: _changed,
    bursts: _bursts,
    assignee: _assignee,
    ...copy
  } = held;
  const post = async (alert: unknown) =>
    httpsJson<{ error?: { code: string; message: string } }>(new URL('/v1/site/alerts', hub.deviceUrl), {
      method: 'POST',
      ca: hub.manager.pki.rootCaPem,
      tls: await siteTls(),
      body: { v: 1, alerts: [alert] },
    });
  const overwrite = await post({ ...copy, state: 'resolved', updatedAt: Date.now() + HOUR_MS });
  assert.equal(overwrite.status, 403);
  assert.equal(overwrite.body.error?.code, 'EW_SITE_ALERT_FOREIGN');
  assert.equal((await hub.manager.store.alerts.get(hubAlert.alertId))?.state, 'open');

  const hubToken = await hub.manager.services.tokens.create(operator, {}, HOUR_MS);
  const hubDevice = await hub.manager.services.enrollment.enroll({
    v: 1,
    token: hubToken.token,
    csrPem: await createCsr({ keys: await generateDeviceKeyPair(), commonName: 'device' }),
    hostname: 'hub-device',
    agentVersion: 'test',
    reportIntervalMs: 60_000,
  });
  const foreign = await post({ ...copy, id: 'site-alert-1', deviceIds: [hubDevice.deviceId] });
  assert.equal(foreign.status, 403);
  assert.equal(foreign.body.error?.code, 'EW_SITE_DEVICE_FOREIGN');
  assert.equal(await hub.manager.store.alerts.get('site-alert-1'), undefined);
});

test('a revoked site is refused by name, its CA is in the root CRL, and the revocation is audited', async () => {
  const caSerial = (await hub.manager.store.sites.findById('plant-1'))?.caSerial;
  assert.ok(caSerial);
  const view = await hub.manager.services.sites?.revoke(operator, 'plant-1', 'site server stolen');
  assert.equal(view?.link, 'revoked');
  await assert.rejects(
    hub.manager.services.sites?.status('plant-1', {
      v: 1,
      backlog: 0,
      devices: 1,
      budgetEndsAt: Date.now(),
      conflicts: 0,
      seen: [],
    }) ?? Promise.resolve(),
    { code: 'EW_SITE_REVOKED', message: /site plant-1 was revoked at the hub/ },
  );
  assert.notEqual((await hub.manager.store.devices.findById(deviceId))?.revokedAt, null);
  const rootCrl = hub.manager.services.revocations.crls[0] ?? '';
  const serials = new x509.X509Crl(rootCrl).entries.map((entry) => entry.serialNumber.toLowerCase());
  assert.ok(serials.includes(caSerial.toLowerCase()), `${caSerial} in ${serials.join(',')}`);
  const actions = await hub.manager.store.audit.list({ limit: 20 });
  assert.ok(
    actions.some(
      (entry) =>
        (entry.details as { action?: string }).action === 'site.revoke' && entry.subject === 'plant-1',
    ),
  );
});
