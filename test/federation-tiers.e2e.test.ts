/**
 * Three tiers, all real processes: a hub, a region (a site of the hub that has sites of its own) and a lower
 * site under the region, with an agent at the lower site and a FaultProxy on each link (region to hub, lower
 * site to region). The lower site enrolls with the region and gets an identity and a CA under the region's
 * prefix; its device's events climb both tiers exactly once, marked at the hub with their site path; a
 * revocation at the hub reaches the lowest site; and identities a CA issued outside its prefix are refused.
 */
import assert from 'node:assert/strict';
import { appendFile, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import {
  createCsr,
  exportPrivateKeyPem,
  generateDeviceKeyPair,
  importPrivateKeyPem,
  issueDeviceCertificate,
  type PolicyBundle,
  parseCertificate,
  policyKeyId,
  type SiteView,
} from '@edgeward/core';
import { FaultProxy } from '@edgeward/sim';
import {
  e2eAgentEnv,
  enrollWithCli,
  type LongRunning,
  runEdgeward,
  startEdgeward,
} from './support/cli-process.ts';
import { httpsJson } from './support/https-json.ts';
import { freePort, ManagerProcess } from './support/manager-process.ts';
import { eventually } from './support/test-manager.ts';

const FLEET = 'edgeward.local';
const agentEnv = {
  ...e2eAgentEnv,
  EDGEWARD_REPORT_INTERVAL_MS: '1000',
};
const siteEnv = { EDGEWARD_UPSTREAM_SYNC_MS: '300', EDGEWARD_UPSTREAM_TIMEOUT_MS: '1500' };

let work: string;
let hub: ManagerProcess;
let region: ManagerProcess;
let lower: ManagerProcess;
let hubLink: FaultProxy;
let regionLink: FaultProxy;
let agent: LongRunning | undefined;

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'edgeward-tiers-'));
  hub = new ManagerProcess(join(work, 'hub'), await freePort(), await freePort());
  await hub.start();
  hubLink = await FaultProxy.start({ target: { host: '127.0.0.1', port: hub.devicePort } });
  region = new ManagerProcess(join(work, 'region'), await freePort(), await freePort());
  regionLink = await FaultProxy.start({ target: { host: '127.0.0.1', port: region.devicePort } });
  lower = new ManagerProcess(join(work, 'lower'), await freePort(), await freePort());
});

after(async () => {
  await agent?.stop('SIGKILL');
  await lower?.stop('SIGKILL');
  await regionLink?.close();
  await region?.stop('SIGKILL');
  await hubLink?.close();
  await hub?.stop('SIGKILL');
  await rm(work, { recursive: true, force: true });
});

function startSite(site: ManagerProcess, upstreamUrl: string, token: string): Promise<void> {
  return site.start(
    [
      '--role',
      'site',
      '--upstream',
      upstreamUrl,
      '--upstream-token',
      token,
      '--upstream-ca-fingerprint',
      hub.fingerprint,
    ],
    siteEnv,
  );
}

/** The client identity a site holds at its upstream (key, certificate and chain, the CAs it trusts). */
async function upstreamTls(site: ManagerProcess) {
  const read = (file: string) => readFile(join(site.dataDir, 'upstream', file), 'utf8');
  return {
    key: await read('key.pem'),
    cert: (await read('cert.pem')) + (await read('chain.pem')),
    ca: await read('ca.pem'),
  };
}

/**
 * A certificate for `spiffe` minted with the site's own delegated CA key, as a stolen or misbehaving site
 * could: the CA's name constraints allow any path in the fleet's trust domain.
 */
async function mintWithSiteCa(site: ManagerProcess, spiffeId: string) {
  const read = (file: string) => readFile(join(site.dataDir, 'pki', file), 'utf8');
  const caCertPem = await read('site-ca.crt');
  const upper = JSON.parse(await read('upper-cas.json')) as { caPems: string[] };
  const keys = await generateDeviceKeyPair();
  const issued = await issueDeviceCertificate({
    csrPem: await createCsr({ keys, commonName: 'forged' }),
    issuer: { certPem: caCertPem, privateKey: await importPrivateKeyPem(await read('site-ca.key')) },
    spiffeId,
    commonName: 'forged',
    now: Date.now(),
    validityMs: 3_600_000,
  });
  return {
    key: await exportPrivateKeyPem(keys.privateKey),
    cert: issued.certPem + caCertPem + [...upper.caPems].reverse().join(''),
  };
}

/** What the device API at `url` does with a client identity: answers, or drops it at the handshake. */
async function presented(url: string, ca: string, tls: { key: string; cert: string }): Promise<string> {
  return httpsJson(new URL('/v1/policy', url), { method: 'GET', ca, tls }).then(
    (reply) => `answered ${reply.status}`,
    (error: Error & { code?: string }) => `refused ${error.code ?? error.message}`,
  );
}

test('hub, region and lower site: events climb both tiers once, revocations come down, prefixes hold', async () => {
  await hub.cli([
    'policy',
    'apply',
    new URL('../policies/starter', import.meta.url).pathname,
    '-m',
    'starter',
  ]);
  const regionToken = (
    JSON.parse(
      await hub.cli(['sites', 'create', 'region-1', '--region', '--max-offline', '2h', '--json']),
    ) as { token: string }
  ).token;
  await startSite(region, hubLink.url, regionToken);
  assert.deepEqual(
    (await parseCertificate(await readFile(join(region.dataDir, 'upstream', 'cert.pem'), 'utf8'))).uris,
    [`spiffe://${FLEET}/site/region-1`],
  );

  // A lower site may not outlast the region offline, and tiers go no deeper than hub, region, site.
  const tooLong = await runEdgeward([
    'sites',
    'create',
    'plant-7',
    '--max-offline',
    '3h',
    '--api',
    region.operatorUrl,
    '--data-dir',
    region.dataDir,
  ]);
  assert.notEqual(tooLong.code, 0);
  assert.match(tooLong.stderr, /EW_SITE_TIER_NOT_ALLOWED|longer than this region's/);
  const deeper = await runEdgeward([
    'sites',
    'create',
    'sub-region',
    '--region',
    '--api',
    region.operatorUrl,
    '--data-dir',
    region.dataDir,
  ]);
  assert.notEqual(deeper.code, 0);
  assert.match(deeper.stderr, /cannot be a region here/);

  const lowerToken = (
    JSON.parse(await region.cli(['sites', 'create', 'plant-7', '--max-offline', '1h', '--json'])) as {
      token: string;
    }
  ).token;
  await startSite(lower, regionLink.url, lowerToken);
  assert.equal(lower.fingerprint, hub.fingerprint, 'one fleet root at every tier');
  // A plain site has no sites of its own: its CA may sign leaves only.
  const belowLower = await runEdgeward([
    'sites',
    'create',
    'plant-9',
    '--max-offline',
    '30m',
    '--api',
    lower.operatorUrl,
    '--data-dir',
    lower.dataDir,
  ]);
  assert.notEqual(belowLower.code, 0);
  assert.match(belowLower.stderr, /is not a region, so it cannot have sites of its own/);
  const lowerIdentity = await parseCertificate(
    await readFile(join(lower.dataDir, 'upstream', 'cert.pem'), 'utf8'),
  );
  assert.deepEqual(lowerIdentity.uris, [`spiffe://${FLEET}/site/region-1/site/plant-7`]);
  const lowerCa = await parseCertificate(await readFile(join(lower.dataDir, 'pki', 'site-ca.crt'), 'utf8'));
  const regionCa = await parseCertificate(await readFile(join(region.dataDir, 'pki', 'site-ca.crt'), 'utf8'));
  assert.equal(lowerCa.issuer, regionCa.subject, "the lower site's CA is issued by the region's");
  assert.equal(regionCa.pathLength, 1);
  assert.equal(lowerCa.pathLength, 0);
  assert.ok(lowerCa.notAfter <= regionCa.notAfter, "the lower site's CA never outlives the region's");

  // A device at the lower site enrolls there and reports.
  const agentDir = join(work, 'agent');
  const agentRoot = join(work, 'agent-root');
  await mkdir(join(agentRoot, 'var', 'log'), { recursive: true });
  await writeFile(join(agentRoot, 'var', 'log', 'auth.log'), '');
  const deviceToken = (JSON.parse(await lower.cli(['tokens', 'create', '--json'])) as { token: string })
    .token;
  const deviceId = await enrollWithCli({
    managerUrl: lower.deviceUrl,
    token: deviceToken,
    caFingerprint: hub.fingerprint,
    dataDir: agentDir,
    hostname: 'lower-agent',
  });
  assert.deepEqual((await parseCertificate(await readFile(join(agentDir, 'cert.pem'), 'utf8'))).uris, [
    `spiffe://${FLEET}/site/region-1/site/plant-7/device/${deviceId}`,
  ]);
  agent = startEdgeward(['agent', 'run', '--data-dir', agentDir, '--root', agentRoot], agentEnv);
  await eventually(
    () => stat(join(agentDir, 'collectors', 'auth-log.json')).then(() => true),
    `the agent's auth log collector to start\n${agent.output()}`,
  );
  const written: string[] = [];
  const append = async (count: number) => {
    let text = '';
    for (let index = 0; index < count; index++) {
      const n = written.length + 1;
      const marker = `tier-${String(n).padStart(5, '0')}`;
      written.push(marker);
      text += `${new Date().toISOString()} lower-agent sshd[${1000 + n}]: Failed password for invalid user ${marker} from 203.0.113.${n % 250} port ${n} ssh2\n`;
    }
    await appendFile(join(agentRoot, 'var', 'log', 'auth.log'), text);
  };
  const exactlyOnce = async (manager: ManagerProcess, what: string) => {
    await eventually(
      () => written.every((marker) => manager.storedMarkers(deviceId).has(marker)),
      `every event at ${what}\n${agent?.output()}\n${lower.output()}\n${region.output()}`,
      60_000,
    ).catch(() => undefined);
    const stored = manager.storedMarkers(deviceId);
    assert.deepEqual(
      {
        missing: written.filter((marker) => !stored.has(marker)).slice(0, 5),
        duplicated: [...stored].filter(([, n]) => n > 1).map(([marker]) => marker),
        unexpected: [...stored.keys()].filter((marker) => !written.includes(marker)),
      },
      { missing: [], duplicated: [], unexpected: [] },
      `at ${what}: ${written.length} written, ${stored.size} stored`,
    );
  };
  await append(10);
  await exactlyOnce(hub, 'the hub');
  const labels = Object.fromEntries(
    hub
      .query<{ key: string; value: string }>(
        "SELECT key, value FROM device_labels WHERE device_id = ? AND key LIKE 'edgeward.site%'",
        deviceId,
      )
      .map((row) => [row.key, row.value]),
  );
  assert.deepEqual(
    labels,
    { 'edgeward.site': 'region-1', 'edgeward.site-path': 'region-1/plant-7' },
    'the hub marks the device with the path of sites it came through',
  );

  // Both links cut: the lower site keeps storing; then the lower link returns first, then the hub's.
  hubLink.cut();
  regionLink.cut();
  await append(25);
  await exactlyOnce(lower, 'the lower site');
  assert.equal(region.storedMarkers(deviceId).size, 10, 'nothing reached the region while cut off');
  regionLink.restore();
  await exactlyOnce(region, 'the region');
  assert.equal(hub.storedMarkers(deviceId).size, 10, 'nothing reached the hub while cut off');
  hubLink.restore();
  await exactlyOnce(hub, 'the hub, after both links returned');

  // The hub's policy came down both tiers, and the device's inventory and compliance went up both.
  await eventually(
    () =>
      (hub.query<{ v: number }>('SELECT inventory_version AS v FROM devices WHERE id = ?', deviceId)[0]?.v ??
        0) >= 1,
    'the inventory of the lower site device at the hub',
  );
  await eventually(
    () =>
      hub.query<{ v: number }>(
        'SELECT bundle_version AS v FROM compliance_state WHERE device_id = ?',
        deviceId,
      )[0]?.v === 1,
    'the compliance of the lower site device at the hub, on the hub bundle',
  );
  const lowerBundle = JSON.parse(
    await readFile(join(lower.dataDir, 'hub-bundle.json'), 'utf8'),
  ) as PolicyBundle;
  const hubKey = await readFile(join(hub.dataDir, 'pki', 'policy-signing.pub'), 'utf8');
  assert.equal(lowerBundle.payload.version, 1);
  assert.equal(
    lowerBundle.signature.keyId,
    policyKeyId(hubKey),
    "the hub's bundle, signed by the hub, two tiers down",
  );
  const regions = JSON.parse(await hub.cli(['sites', 'list', '--json'])) as SiteView[];
  assert.equal(regions.find((entry) => entry.id === 'region-1')?.link, 'connected');
  const lowerSites = JSON.parse(await region.cli(['sites', 'list', '--json'])) as SiteView[];
  assert.equal(lowerSites.find((entry) => entry.id === 'plant-7')?.link, 'connected');

  // Prefixes: each tier accepts only what its own CA issued directly under its own path.
  const lowerTls = await upstreamTls(lower);
  assert.match(await presented(region.deviceUrl, lowerTls.ca, lowerTls), /answered 20[04]/);
  const regionTls = await upstreamTls(region);
  assert.match(await presented(hub.deviceUrl, regionTls.ca, regionTls), /answered 20[04]/);
  // Issued by the lower site's CA outside its prefix, shown to the region; by the region's, to the hub.
  // (Neither holds a CRL of the CA below it, so the handshake refuses them before the identity is read.)
  for (const forged of [
    `spiffe://${FLEET}/site/region-1/device/forged`,
    `spiffe://${FLEET}/site/region-1/site/plant-8`,
  ]) {
    const outcome = await presented(region.deviceUrl, lowerTls.ca, await mintWithSiteCa(lower, forged));
    assert.match(outcome, /refused/, `the region refuses ${forged} from the lower site's CA: ${outcome}`);
  }
  for (const forged of [
    `spiffe://${FLEET}/site/forged`,
    `spiffe://${FLEET}/device/forged`,
    `spiffe://${FLEET}/site/region-1/site/plant-7`,
  ]) {
    const outcome = await presented(hub.deviceUrl, regionTls.ca, await mintWithSiteCa(region, forged));
    assert.match(outcome, /refused/, `the hub refuses ${forged} from the region's CA: ${outcome}`);
  }
  // Issued by the region's CA, which the region and the lower site hold CRLs of, so the handshake passes:
  // the region refuses what is not directly under its own path, the lower site what its own CA did not issue.
  for (const forged of [
    `spiffe://${FLEET}/device/forged`,
    `spiffe://${FLEET}/site/region-1/site/plant-7/device/forged`,
  ]) {
    const outcome = await presented(region.deviceUrl, lowerTls.ca, await mintWithSiteCa(region, forged));
    assert.match(outcome, /refused/, `the region refuses ${forged}, outside its own path: ${outcome}`);
  }
  const root = await readFile(join(lower.dataDir, 'pki', 'root-ca.crt'), 'utf8');
  const inLowerPrefix = `spiffe://${FLEET}/site/region-1/site/plant-7/device/forged`;
  const byRegion = await presented(lower.deviceUrl, root, await mintWithSiteCa(region, inLowerPrefix));
  assert.match(
    byRegion,
    /refused/,
    `the lower site refuses ${inLowerPrefix} from the region's CA: ${byRegion}`,
  );

  // A revocation at the hub reaches the lowest site, which refuses the device from then on.
  await hub.cli(['devices', 'revoke', deviceId]);
  await eventually(
    () =>
      lower.query<{ at: number | null }>('SELECT revoked_at AS at FROM devices WHERE id = ?', deviceId)[0]
        ?.at != null,
    `the revocation at the lower site\n${lower.output()}\n${region.output()}`,
  );
  const read = (file: string) => readFile(join(agentDir, file), 'utf8');
  const deviceTls = {
    key: await read('key.pem'),
    cert: (await read('cert.pem')) + (await read('chain.pem')),
  };
  await eventually(
    async () => /refused/.test(await presented(lower.deviceUrl, await read('ca.pem'), deviceTls)),
    'the lower site to refuse the revoked device at the handshake',
  );
});
