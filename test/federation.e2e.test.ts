/**
 * A hub, a site and agents at the site, all real processes, with a FaultProxy on the one link between
 * site and hub. While that link is cut the site keeps enrolling and renewing devices (its delegated CA),
 * serves the hub's signed policy from its cache, refuses a device it revoked, and stores every event; when
 * the link returns the hub gets every event exactly once, marked with its site.
 */
import assert from 'node:assert/strict';
import { appendFile, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import {
  type CertificateGrant,
  createCsr,
  importKeyPairPem,
  type PolicyBundleReply,
  parseCertificate,
  type SiteView,
} from '@edgeward/core';
import { FaultProxy } from '@edgeward/sim';
import { e2eAgentEnv, enrollWithCli, type LongRunning, startEdgeward } from './support/cli-process.ts';
import { httpsJson } from './support/https-json.ts';
import { freePort, ManagerProcess } from './support/manager-process.ts';
import { eventually } from './support/test-manager.ts';

const agentEnv = {
  ...e2eAgentEnv,
  EDGEWARD_REPORT_INTERVAL_MS: '1000',
};
const siteEnv = {
  EDGEWARD_UPSTREAM_SYNC_MS: '300',
  EDGEWARD_UPSTREAM_TIMEOUT_MS: '1500',
  // One hour, shorter than the outage declared below: those devices must renew before it.
  EDGEWARD_DEVICE_CERT_VALIDITY_MS: '3600000',
};

let work: string;
let hub: ManagerProcess;
let site: ManagerProcess;
let link: FaultProxy;
const agents: Agent[] = [];

class Agent {
  readonly name: string;
  readonly dataDir: string;
  readonly root: string;
  deviceId = '';
  readonly written: string[] = [];
  #process: LongRunning | undefined;

  constructor(name: string) {
    this.name = name;
    this.dataDir = join(work, name, 'agent');
    this.root = join(work, name, 'root');
  }

  static async enrollAtSite(name: string): Promise<Agent> {
    const agent = new Agent(name);
    agents.push(agent);
    await mkdir(join(agent.root, 'var', 'log'), { recursive: true });
    await writeFile(join(agent.root, 'var', 'log', 'auth.log'), '');
    const token = (JSON.parse(await site.cli(['tokens', 'create', '--json'])) as { token: string }).token;
    agent.deviceId = await enrollWithCli({
      managerUrl: site.deviceUrl,
      token,
      // The fleet root: the same at the hub and at every site.
      caFingerprint: hub.fingerprint,
      dataDir: agent.dataDir,
      hostname: name,
    });
    return agent;
  }

  async start(): Promise<void> {
    this.#process = startEdgeward(
      ['agent', 'run', '--data-dir', this.dataDir, '--root', this.root],
      agentEnv,
    );
    await eventually(
      () => stat(join(this.dataDir, 'collectors', 'auth-log.json')).then(() => true),
      `${this.name}: the auth log collector to start\n${this.output()}`,
    );
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    await this.#process?.stop(signal);
    this.#process = undefined;
  }

  output(): string {
    return this.#process?.output() ?? '';
  }

  async append(count: number): Promise<void> {
    let text = '';
    for (let index = 0; index < count; index++) {
      const n = this.written.length + 1;
      const marker = `${this.name}-${String(n).padStart(5, '0')}`;
      this.written.push(marker);
      text += `${new Date().toISOString()} ${this.name} sshd[${1000 + n}]: Failed password for invalid user ${marker} from 203.0.113.${n % 250} port ${n} ssh2\n`;
    }
    await appendFile(join(this.root, 'var', 'log', 'auth.log'), text);
  }

  async tls(): Promise<{ key: string; cert: string; ca: string }> {
    const read = (file: string) => readFile(join(this.dataDir, file), 'utf8');
    return {
      key: await read('key.pem'),
      cert: (await read('cert.pem')) + (await read('chain.pem')),
      ca: await read('ca.pem'),
    };
  }

  /** Every written marker stored exactly once by `manager`, nothing else. */
  async assertStoredExactlyOnce(manager: ManagerProcess, timeoutMs = 30_000): Promise<void> {
    await eventually(
      () => this.written.every((marker) => manager.storedMarkers(this.deviceId).has(marker)),
      `${this.name}: every event at ${manager === hub ? 'the hub' : 'the site'}\n${this.output()}`,
      timeoutMs,
    ).catch(() => undefined);
    const stored = manager.storedMarkers(this.deviceId);
    const missing = this.written.filter((marker) => !stored.has(marker));
    const duplicated = [...stored].filter(([, n]) => n > 1).map(([marker]) => marker);
    const unexpected = [...stored.keys()].filter((marker) => !this.written.includes(marker));
    assert.deepEqual(
      {
        missing: missing.slice(0, 5),
        duplicated: duplicated.slice(0, 5),
        unexpected: unexpected.slice(0, 5),
      },
      { missing: [], duplicated: [], unexpected: [] },
      `${this.name}: ${this.written.length} written, ${stored.size} stored\n${site.output()}`,
    );
  }
}

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'edgeward-federation-'));
  hub = new ManagerProcess(join(work, 'hub'), await freePort(), await freePort());
  await hub.start();
  link = await FaultProxy.start({ target: { host: '127.0.0.1', port: hub.devicePort } });
  site = new ManagerProcess(join(work, 'site'), await freePort(), await freePort());
});

after(async () => {
  for (const agent of agents) await agent.stop('SIGKILL');
  await site?.stop('SIGKILL');
  await link?.close();
  await hub?.stop('SIGKILL');
  await rm(work, { recursive: true, force: true });
});

test('a site cut off from its hub keeps enrolling, renewing, enforcing and collecting; the hub then gets every event once', async () => {
  // The hub declares the site and applies a policy, which the site caches and serves.
  const created = JSON.parse(
    await hub.cli(['sites', 'create', 'plant-1', '--max-offline', '2h', '--json']),
  ) as {
    token: string;
  };
  await hub.cli([
    'policy',
    'apply',
    new URL('../policies/starter', import.meta.url).pathname,
    '-m',
    'starter',
  ]);
  await site.start(
    [
      '--role',
      'site',
      '--upstream',
      link.url,
      '--upstream-token',
      created.token,
      '--upstream-ca-fingerprint',
      hub.fingerprint,
    ],
    siteEnv,
  );
  assert.equal(site.fingerprint, hub.fingerprint, 'the site serves the fleet root of its hub');

  const first = await Agent.enrollAtSite('site-agent-1');
  const second = await Agent.enrollAtSite('site-agent-2');
  await Promise.all([first.start(), second.start()]);
  await first.append(20);
  await second.append(20);
  await first.assertStoredExactlyOnce(hub);
  await second.assertStoredExactlyOnce(hub);
  const marked = hub.query<{ value: string }>(
    "SELECT value FROM device_labels WHERE device_id = ? AND key = 'edgeward.site'",
    first.deviceId,
  );
  assert.deepEqual(
    marked.map((row) => row.value),
    ['plant-1'],
    'the hub marks site devices with their site',
  );
  const heldBundle = await eventually(
    () => stat(join(site.dataDir, 'hub-bundle.json')).then(() => true),
    'the site to cache the hub policy bundle',
  );
  assert.ok(heldBundle);

  // An outage of two hours is declared: certificates valid one hour are renewed before it, to outlast it.
  const siteApi = {
    ca: await readFile(join(site.dataDir, 'pki', 'root-ca.crt'), 'utf8'),
    token: (await readFile(join(site.dataDir, 'admin.token'), 'utf8')).trim(),
  };
  const before = await parseCertificate(await readFile(join(first.dataDir, 'cert.pem'), 'utf8'));
  const declared = await httpsJson<{ endsAt: number }>(new URL('/api/v1/site/outage', site.operatorUrl), {
    method: 'POST',
    ...siteApi,
    body: { durationMs: 2 * 3_600_000, reason: 'planned link maintenance' },
  });
  assert.equal(declared.status, 201, JSON.stringify(declared.body));
  assert.ok(before.notAfter < declared.body.endsAt, 'the first certificate would end during the outage');
  for (const agent of [first, second]) {
    await eventually(async () => {
      const held = await parseCertificate(await readFile(join(agent.dataDir, 'cert.pem'), 'utf8'));
      return held.notAfter >= declared.body.endsAt;
    }, `${agent.name} to renew before the outage\n${agent.output()}`);
  }

  // Cut the only link between site and hub.
  link.cut();
  await eventually(async () => {
    const status = await httpsJson<{ link: string }>(new URL('/api/v1/site', site.operatorUrl), {
      method: 'GET',
      ...siteApi,
    });
    return status.body.link === 'offline';
  }, 'the site to notice the hub is gone');

  // Offline: events keep flowing to the site, a new device enrolls, a device renews, policy is served.
  await first.append(30);
  await second.append(30);
  const third = await Agent.enrollAtSite('site-agent-3');
  await third.start();
  await third.append(15);
  for (const agent of [first, second, third]) await agent.assertStoredExactlyOnce(site);

  const firstTls = await first.tls();
  const renewed = await httpsJson<CertificateGrant>(new URL('/v1/renew', site.deviceUrl), {
    method: 'POST',
    ca: firstTls.ca,
    tls: firstTls,
    body: {
      v: 1,
      csrPem: await createCsr({ keys: await importKeyPairPem(firstTls.key), commonName: first.deviceId }),
    },
  });
  assert.equal(renewed.status, 200, JSON.stringify(renewed.body));
  const certificate = await parseCertificate(renewed.body.certificatePem);
  assert.deepEqual(certificate.uris, [`spiffe://edgeward.local/site/plant-1/device/${first.deviceId}`]);

  const policy = await httpsJson<PolicyBundleReply>(new URL('/v1/policy', site.deviceUrl), {
    method: 'GET',
    ca: firstTls.ca,
    tls: firstTls,
  });
  assert.equal(policy.status, 200);
  const hubKeyId = await readFile(join(hub.dataDir, 'pki', 'policy-signing.pub'), 'utf8');
  assert.ok(hubKeyId.length > 0);
  assert.equal(policy.body.bundle.payload.version, 1, 'the hub bundle, served by the site while offline');

  // A device the site revokes while offline is refused at the handshake.
  await site.cli(['devices', 'revoke', second.deviceId]);
  const secondTls = await second.tls();
  const refused = await httpsJson(new URL('/v1/heartbeat', site.deviceUrl), {
    method: 'POST',
    ca: secondTls.ca,
    tls: secondTls,
    body: { v: 1, agentVersion: 'x', reportIntervalMs: 60_000, sentAt: Date.now() },
  }).then(
    (reply) => `answered ${reply.status}`,
    (error: Error & { code?: string }) => error.code ?? error.message,
  );
  assert.match(refused, /ECONNRESET|EPIPE|socket hang up|ERR_SSL|answered 403/, refused);
  assert.equal(hub.storedMarkers(first.deviceId).size, 20, 'nothing reached the hub while cut off');

  // The link returns: every event reaches the hub exactly once.
  link.restore();
  const restoredAt = Date.now();
  for (const agent of [first, second, third]) await agent.assertStoredExactlyOnce(hub, 60_000);
  for (const agent of [first, second, third]) {
    await eventually(
      () =>
        (hub.query<{ v: number }>(
          'SELECT inventory_version AS v FROM devices WHERE id = ?',
          agent.deviceId,
        )[0]?.v ?? 0) >= 1,
      `${agent.name}: its inventory at the hub`,
    );
  }
  await eventually(
    () =>
      hub.query<{ v: number }>(
        'SELECT bundle_version AS v FROM compliance_state WHERE device_id = ?',
        first.deviceId,
      )[0]?.v === 1,
    'the compliance of a site device at the hub',
  );
  await eventually(
    () =>
      (hub.query<{ at: number }>('SELECT last_seen_at AS at FROM devices WHERE id = ?', first.deviceId)[0]
        ?.at ?? 0) >
      restoredAt + 1000,
    'the hub to see the site devices alive through the site',
  );
  const sites = JSON.parse(await hub.cli(['sites', 'list', '--json'])) as SiteView[];
  const plant = sites.find((entry) => entry.id === 'plant-1');
  assert.equal(plant?.link, 'connected');
  assert.equal(plant?.devices, 3);
  await eventually(
    () =>
      JSON.parse(
        hub
          .query<{ v: string }>("SELECT backlog AS v FROM sites WHERE id = 'plant-1'")
          .map((row) => String(row.v))[0] ?? '1',
      ) === 0
        ? true
        : undefined,
    'the site to report an empty backlog',
  );
});
