/**
 * What a site does by itself reaches its hub, and what the hub asks of a site's devices reaches them: a hub,
 * a site and an agent at the site, all real processes, with a FaultProxy on the link between site and hub.
 * While the link is cut the site's own rules raise an alert and its operator isolates the device; the hub's
 * operator releases it. When the link returns the hub holds the site's alert once, marked with the site,
 * anchors the site's audit chain (which verifies, and which the site cannot rewrite afterwards), and its
 * release runs on the device through the site. Then the hub revokes the whole site and refuses it.
 */
import assert from 'node:assert/strict';
import { appendFile, cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, before, test } from 'node:test';
import type {
  AlertView,
  AuditEntry,
  DeviceAuditChainView,
  DeviceCommandView,
  DeviceView,
  SiteView,
} from '@edgeward/core';
import { FaultProxy } from '@edgeward/sim';
import { e2eAgentEnv, enrollWithCli, type LongRunning, startEdgeward } from './support/cli-process.ts';
import { httpsJson } from './support/https-json.ts';
import { freePort, ManagerProcess } from './support/manager-process.ts';
import { eventually } from './support/test-manager.ts';

const SITE_RULE = 'e2e-site-failed-logins';
const agentEnv = {
  ...e2eAgentEnv,
  EDGEWARD_REPORT_INTERVAL_MS: '1000',
  // Commands run as for real; the firewall of the test machine is not touched.
  EDGEWARD_ISOLATION: 'report-only',
};
const siteEnv = {
  EDGEWARD_UPSTREAM_SYNC_MS: '300',
  EDGEWARD_UPSTREAM_TIMEOUT_MS: '1500',
  EDGEWARD_DETECTION_TICK_MS: '200',
};

let work: string;
let hub: ManagerProcess;
let site: ManagerProcess;
let link: FaultProxy;
let agent: LongRunning | undefined;
let siteToken = '';

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'edgeward-site-relay-'));
  hub = new ManagerProcess(join(work, 'hub'), await freePort(), await freePort());
  await hub.start();
  link = await FaultProxy.start({ target: { host: '127.0.0.1', port: hub.devicePort } });
  site = new ManagerProcess(join(work, 'site'), await freePort(), await freePort());
});

after(async () => {
  await agent?.stop('SIGKILL');
  await site?.stop('SIGKILL');
  await link?.close();
  await hub?.stop('SIGKILL');
  await rm(work, { recursive: true, force: true });
});

async function siteApi<T>(method: string, path: string, body?: unknown) {
  return httpsJson<T>(new URL(path, site.operatorUrl), {
    method,
    ca: await readFile(join(site.dataDir, 'pki', 'root-ca.crt'), 'utf8'),
    token: (await readFile(join(site.dataDir, 'admin.token'), 'utf8')).trim(),
    ...(body === undefined ? {} : { body }),
  });
}

async function siteLink(): Promise<string> {
  return (await siteApi<{ link: string }>('GET', '/api/v1/site')).body.link;
}

const hubJson = async <T>(args: readonly string[]): Promise<T> =>
  JSON.parse(await hub.cli([...args, '--json'])) as T;

function startSite(): Promise<void> {
  return site.start(
    [
      '--role',
      'site',
      '--upstream',
      link.url,
      '--upstream-token',
      siteToken,
      '--upstream-ca-fingerprint',
      hub.fingerprint,
    ],
    siteEnv,
  );
}

test('site alerts, site actions and hub commands cross the hub–site link exactly once; a revoked site is refused', async () => {
  // A policy with a rule the site runs over its devices' events.
  const policy = join(work, 'policy');
  await cp(new URL('../policies/starter', import.meta.url).pathname, policy, { recursive: true });
  await writeFile(
    join(policy, 'rules', 'site.yml'),
    `title: Failed logins across the site
id: ${SITE_RULE}
correlation: { type: event_count, rules: [ew_auth_login_failed], timespan: 1h, condition: { gte: 3 } }
level: high
edgeward: { scope: site }
`,
  );
  await hub.cli(['policy', 'apply', policy, '-m', 'site rules']);
  siteToken = (await hubJson<{ token: string }>(['sites', 'create', 'plant-1', '--max-offline', '2h'])).token;
  await startSite();

  // An agent at the site.
  const agentDir = join(work, 'agent');
  const root = join(work, 'root');
  await mkdir(join(root, 'var', 'log'), { recursive: true });
  await writeFile(join(root, 'var', 'log', 'auth.log'), '');
  const deviceId = await enrollWithCli({
    managerUrl: site.deviceUrl,
    token: (JSON.parse(await site.cli(['tokens', 'create', '--json'])) as { token: string }).token,
    caFingerprint: hub.fingerprint,
    dataDir: agentDir,
    hostname: 'kiosk-1',
  });
  agent = startEdgeward(['agent', 'run', '--data-dir', agentDir, '--root', root], agentEnv);
  await eventually(
    () => hub.query('SELECT id FROM devices WHERE id = ?', deviceId).length === 1,
    `the hub to learn of the site device\n${agent.output()}`,
  );

  // The link is cut.
  link.cut();
  await eventually(async () => (await siteLink()) === 'offline', 'the site to notice the hub is gone');

  // Offline, at the site: failed logins raise the site's own alert, and its operator isolates the device.
  let text = '';
  for (let n = 1; n <= 4; n++) {
    text += `${new Date().toISOString()} kiosk-1 sshd[${100 + n}]: Failed password for invalid user intruder${n} from 203.0.113.7 port ${n} ssh2\n`;
  }
  await appendFile(join(root, 'var', 'log', 'auth.log'), text);
  const siteAlert = await eventually(async () => {
    const listed = JSON.parse(await site.cli(['alerts', 'list', '--rule', SITE_RULE, '--json'])) as {
      alerts: AlertView[];
    };
    return listed.alerts[0];
  }, `the site-scope alert at the site\n${site.output()}`);
  assert.equal(siteAlert.source, 'site');
  await site.cli(['devices', 'isolate', deviceId, '--reason', 'brute force while the hub was away']);
  await eventually(
    () =>
      site.query<{ status: string }>(
        "SELECT status FROM device_commands WHERE device_id = ? AND kind = 'isolate'",
        deviceId,
      )[0]?.status === 'done',
    `the device to isolate itself at the site's command\n${agent.output()}`,
  );

  // Meanwhile at the hub an operator releases the device: it waits for the site.
  const release = await hubJson<DeviceCommandView>([
    'devices',
    'release',
    deviceId,
    '--reason',
    'cleared from the hub',
  ]);
  assert.equal(release.status, 'pending');
  const commandAtHub = async () =>
    (await hubJson<DeviceCommandView[]>(['devices', 'commands', deviceId])).find(
      (command) => command.id === release.id,
    );
  assert.equal((await commandAtHub())?.status, 'pending', 'pending at the hub while the site is cut off');
  assert.equal(hub.query('SELECT id FROM alerts WHERE rule_id = ?', SITE_RULE).length, 0);

  // The link returns.
  link.restore();

  // The site's alert reaches the hub once, under its id, marked with the site.
  const atHub = await eventually(async () => {
    const listed = await hubJson<{ alerts: AlertView[] }>(['alerts', 'list', '--rule', SITE_RULE]);
    return listed.alerts.find((alert) => alert.id === siteAlert.id);
  }, `the site's alert at the hub\n${site.output()}`);
  assert.equal(atHub.siteId, 'plant-1');
  assert.deepEqual(atHub.deviceIds, [deviceId]);
  const table = await hub.cli(['alerts', 'list', '--rule', SITE_RULE]);
  assert.match(table, /plant-1/, 'the alert table names the site');

  // The hub's release runs on the device through the site and shows done at the hub.
  const done = await eventually(async () => {
    const command = await commandAtHub();
    return command?.result === null ? undefined : command;
  }, `the release to come back done\n${site.output()}\n${agent.output()}`);
  assert.equal(done.status, 'done');
  assert.equal(done.result?.state.isolated, false);
  const atSite = site.query<{ id: string; created_by: string; status: string }>(
    "SELECT id, created_by, status FROM device_commands WHERE device_id = ? AND kind = 'release'",
    deviceId,
  );
  assert.deepEqual(
    atSite.map((row) => ({ ...row })),
    [{ id: release.id, created_by: `hub:${release.createdBy}`, status: 'done' }],
    'queued once at the site, under the hub id',
  );

  // The isolation done at the site while cut off is in the site chain the hub anchored, and verifies.
  const chain = await eventually(async () => {
    const held = await hubJson<DeviceAuditChainView>(['audit', 'log', '--site', 'plant-1']);
    return held.entries.some(
      (entry) =>
        (entry.details as { action?: string }).action === 'device.release' && entry.subject === deviceId,
    )
      ? held
      : undefined;
  }, `the site's audit chain at the hub\n${site.output()}`);
  const isolation = chain.entries.find(
    (entry) => (entry.details as { action?: string }).action === 'device.isolate',
  );
  assert.equal(isolation?.subject, deviceId);
  assert.match(String(isolation?.actor), /^operator:/, 'an operator of the site did it');
  assert.ok(chain.anchors.length > 0);
  assert.match(await hub.cli(['audit', 'verify', '--site', 'plant-1']), /verifies/);
  assert.match(await hub.cli(['audit', 'verify']), /verifies/);
  const hubEntries = await hubJson<{ entries: AuditEntry[] }>(['audit', 'log', '--limit', '1000']);
  assert.ok(
    hubEntries.entries.some((entry) => entry.kind === 'site.audit_anchor' && entry.subject === 'plant-1'),
    "the anchor is in the hub's own chain",
  );

  // Nothing twice, across all the syncs since.
  await eventually(async () => (await siteLink()) === 'connected', 'the site connected');
  const lastSync = Number(await readFile(join(site.dataDir, 'upstream', 'last-sync'), 'utf8'));
  await eventually(
    async () => Number(await readFile(join(site.dataDir, 'upstream', 'last-sync'), 'utf8')) > lastSync + 600,
    'two more syncs',
  );
  assert.equal(hub.query('SELECT id FROM alerts WHERE rule_id = ?', SITE_RULE).length, 1);
  assert.equal(
    site.query("SELECT id FROM device_commands WHERE device_id = ? AND kind = 'release'", deviceId).length,
    1,
  );

  // A site whose anchored history was rewritten (its database restored, edited) is refused.
  await site.stop();
  const db = new DatabaseSync(join(site.dataDir, 'edgeward.db'));
  db.prepare('UPDATE audit_entries SET hash = ? WHERE seq = 1').run('f'.repeat(64));
  db.prepare("DELETE FROM site_relay_positions WHERE stream = 'audit'").run();
  db.close();
  await startSite();
  await eventually(async () => {
    const entries = await hubJson<{ entries: AuditEntry[] }>(['audit', 'log', '--limit', '1000']);
    return entries.entries.some(
      (entry) => entry.kind === 'site.audit_diverged' && entry.subject === 'plant-1',
    );
  }, `the hub to refuse the rewritten site chain\n${site.output()}`);
  assert.match(site.output(), /EW_SITE_AUDIT_DIVERGED|no longer extends what the hub anchored/);
  assert.match(
    await hub.cli(['audit', 'verify', '--site', 'plant-1']),
    /verifies/,
    "the hub's anchored copy still verifies",
  );

  // The hub revokes the whole site: refused at the handshake, marked revoked, its devices too; audited.
  await hub.cli(['sites', 'revoke', 'plant-1', '--reason', 'site server stolen']);
  const revoked = await hubJson<SiteView>(['sites', 'show', 'plant-1']);
  assert.equal(revoked.link, 'revoked');
  assert.notEqual(revoked.revokedAt, null);
  assert.equal((await hubJson<DeviceView>(['devices', 'show', deviceId])).status, 'revoked');
  const siteTls = {
    key: await readFile(join(site.dataDir, 'upstream', 'key.pem'), 'utf8'),
    cert:
      (await readFile(join(site.dataDir, 'upstream', 'cert.pem'), 'utf8')) +
      (await readFile(join(site.dataDir, 'upstream', 'chain.pem'), 'utf8')),
  };
  const refused = await httpsJson(new URL('/v1/site/status', hub.deviceUrl), {
    method: 'POST',
    ca: await readFile(join(site.dataDir, 'upstream', 'ca.pem'), 'utf8'),
    tls: siteTls,
    body: { v: 1, backlog: 0, devices: 1, budgetEndsAt: Date.now(), conflicts: 0 },
  }).then(
    (reply) => `answered ${reply.status}`,
    (error: Error & { code?: string }) => error.code ?? error.message,
  );
  assert.match(refused, /ECONNRESET|EPIPE|socket hang up|ERR_SSL|answered 403/, refused);
  await eventually(async () => (await siteLink()) === 'offline', 'the revoked site to lose its hub');
  const { entries: latest } = await hubJson<{ entries: AuditEntry[] }>(['audit', 'log', '--limit', '50']);
  assert.ok(
    latest.some(
      (entry) =>
        (entry.details as { action?: string }).action === 'site.revoke' && entry.subject === 'plant-1',
    ),
    'the revocation is in the audit chain',
  );
});
