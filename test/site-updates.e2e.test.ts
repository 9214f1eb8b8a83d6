/**
 * Updates at a site while it is cut off from its hub, all real processes: a hub, a site, a FaultProxy on
 * the link between them, and agents at the site with the `command` installer. The site mirrors the hub's
 * TUF metadata and artifacts while connected, signs its devices' timestamps with the key the hub's root
 * delegates to it, and runs a rollout from its cache after the hub's own timestamp expired. A site that
 * changes an artifact or the targets metadata is refused by its devices.
 */
import assert from 'node:assert/strict';
import { createHash, createPrivateKey, sign } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, before, test } from 'node:test';
import type { RolloutView } from '@edgeward/core';
import { FaultProxy } from '@edgeward/sim';
import { Metadata, MetadataKind, type Root, Signature, type Targets, type Timestamp } from '@tufjs/models';
import { enrollWithCli, type LongRunning, runEdgeward, startEdgeward } from './support/cli-process.ts';
import { httpsJson } from './support/https-json.ts';
import { freePort, ManagerProcess } from './support/manager-process.ts';
import { eventually } from './support/test-manager.ts';

/** The shortest timestamp the hub may sign (one minute): the test waits for it to expire. */
const HUB_TIMESTAMP_TTL_MS = 60_000;
const CACHE_MAX_BYTES = 64 * 1024;

let work: string;
let hub: ManagerProcess;
let site: ManagerProcess;
let link: FaultProxy;
const agents: LongRunning[] = [];
let third: Awaited<ReturnType<typeof startSiteAgent>>;

interface SiteStatus {
  link: string;
  artifactCache: {
    bytes: number;
    maxBytes: number;
    delegatedTimestamp: boolean;
    refused: { path: string; code: string; message: string }[];
  };
}

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'edgeward-site-updates-'));
  hub = new ManagerProcess(join(work, 'hub'), await freePort(), await freePort());
  await hub.start([], { EDGEWARD_TUF_TIMESTAMP_TTL_MS: String(HUB_TIMESTAMP_TTL_MS) });
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

async function siteApi() {
  return {
    ca: await readFile(join(site.dataDir, 'pki', 'root-ca.crt'), 'utf8'),
    token: (await readFile(join(site.dataDir, 'admin.token'), 'utf8')).trim(),
  };
}

async function siteStatus(): Promise<SiteStatus> {
  const reply = await httpsJson<SiteStatus>(new URL('/api/v1/site', site.operatorUrl), {
    method: 'GET',
    ...(await siteApi()),
  });
  assert.equal(reply.status, 200, JSON.stringify(reply.body));
  return reply.body;
}

async function upload(name: string, version: string, content: Buffer): Promise<string> {
  const file = join(work, `${name}-${version}.bin`);
  await writeFile(file, content);
  await hub.cli(['artifacts', 'upload', file, '--name', name, '--version', version, '--severity', 'high']);
  return createHash('sha256').update(content).digest('hex');
}

/** Enrolls an agent at the site with a `command` installer that leaves marks, and starts it. */
async function startSiteAgent(name: string) {
  const dataDir = join(work, name, 'agent');
  const root = join(work, name, 'root');
  const marks = join(work, name, 'marks');
  await mkdir(join(root, 'var', 'log'), { recursive: true });
  await mkdir(marks, { recursive: true });
  await writeFile(join(root, 'var', 'log', 'auth.log'), '');
  const token = (
    JSON.parse(await site.cli(['tokens', 'create', '--label', `line=${name}`, '--json'])) as { token: string }
  ).token;
  const deviceId = await enrollWithCli({
    managerUrl: site.deviceUrl,
    token,
    caFingerprint: hub.fingerprint,
    dataDir,
    hostname: name,
  });
  const agent = startEdgeward(['agent', 'run', '--data-dir', dataDir, '--root', root], {
    EDGEWARD_UPDATE_HANDLER: 'command',
    EDGEWARD_UPDATE_POLL_MS: '300',
    EDGEWARD_UPDATE_ARTIFACTS: 'gw-image',
    // Version 4.0 is the broken build: its install fails on every device.
    EDGEWARD_UPDATE_INSTALL_COMMAND: `test "$EDGEWARD_VERSION" != 4.0 && cp "$EDGEWARD_FILE" ${marks}/installed-$EDGEWARD_VERSION`,
    EDGEWARD_UPDATE_COMMIT_COMMAND: `touch ${marks}/committed-$EDGEWARD_VERSION`,
    EDGEWARD_UPDATE_ROLLBACK_COMMAND: `touch ${marks}/rolled-back-$EDGEWARD_VERSION`,
    EDGEWARD_ISOLATION: 'off',
    EDGEWARD_AUTH_LOG_FILES: '/var/log/auth.log',
    EDGEWARD_FIM_PATHS: '/etc/edgeward-e2e',
    EDGEWARD_RETRY_INITIAL_MS: '100',
    EDGEWARD_RETRY_MAX_MS: '500',
    EDGEWARD_REQUEST_TIMEOUT_MS: '3000',
    EDGEWARD_LOG_LEVEL: 'warn',
  });
  agents.push(agent);
  return { name, deviceId, dataDir, marks, agent };
}

/** Creates and starts a rollout at the site (its operator API), and waits until it ends. */
async function rolloutAtSite(artifact: string, line: string): Promise<RolloutView> {
  const created = JSON.parse(
    await site.cli([
      'rollouts',
      'create',
      '--artifact',
      artifact,
      '--selector',
      `line=${line}`,
      '--phases',
      '100%',
      '--json',
    ]),
  ) as RolloutView;
  await site.cli(['rollouts', 'start', created.id]);
  return eventually(
    async () => {
      const view = JSON.parse(await site.cli(['rollouts', 'status', created.id, '--json'])) as RolloutView;
      return view.state === 'completed' || view.state === 'aborted' ? view : undefined;
    },
    `the rollout of ${artifact} at the site to end`,
    60_000,
  );
}

function siteDevices(rolloutId: string): { device_id: string; state: string; detail: string }[] {
  return site.query('SELECT device_id, state, detail FROM rollout_devices WHERE rollout_id = ?', rolloutId);
}

const exists = (path: string) =>
  stat(path).then(
    () => true,
    () => false,
  );

test('a site cut off past the hub timestamp updates its devices from its cache; a changed artifact or targets file is refused', async () => {
  const created = JSON.parse(
    await hub.cli(['sites', 'create', 'plant-1', '--max-offline', '2h', '--json']),
  ) as { token: string };
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
    {
      EDGEWARD_UPSTREAM_SYNC_MS: '300',
      EDGEWARD_UPSTREAM_TIMEOUT_MS: '1500',
      EDGEWARD_ROLLOUT_TICK_MS: '200',
      EDGEWARD_SITE_ARTIFACT_CACHE_MAX_BYTES: String(CACHE_MAX_BYTES),
    },
  );

  // The delegation registered the site's timestamp key and the hub signed a root that lists it.
  const siteKeyPem = await readFile(join(site.dataDir, 'pki', 'tuf-timestamp.pub'), 'utf8');
  const rootRow = hub.query<{ body: string }>(
    "SELECT body FROM tuf_metadata WHERE role = 'root' ORDER BY version DESC LIMIT 1",
  )[0];
  assert.ok(rootRow);
  const root = Metadata.fromJSON(MetadataKind.Root, JSON.parse(rootRow.body)) as Metadata<Root>;
  assert.equal(root.signed.version, 2, 'root version 2 names the site key');
  assert.equal(root.signed.roles.timestamp?.keyIDs.length, 2, 'the hub timestamp key and the site key');
  assert.equal(root.signed.roles.timestamp?.threshold, 1);
  assert.ok(
    Object.values(root.signed.keys).some((key) => key.keyVal.public?.trim() === siteKeyPem.trim()),
    "the root lists the site's public key",
  );

  // Three artifacts at the hub: two fit in the site's cache, the third is larger than all of it.
  const good = await upload('gw-image', '2.0', Buffer.from(`image 2.0\n${'a'.repeat(8000)}`));
  const tamperedTarget = await upload('gw-image', '2.1', Buffer.from(`image 2.1\n${'b'.repeat(8000)}`));
  await upload('camera-fw', '9.0', Buffer.alloc(CACHE_MAX_BYTES + 1, 7));
  const first = await startSiteAgent('line-1');
  const second = await startSiteAgent('line-2');

  const mirrored = await eventually(
    async () => {
      const status = await siteStatus();
      const rows = site.query<{ name: string; version: string }>('SELECT name, version FROM artifacts');
      return rows.length === 2 && status.artifactCache.refused.length === 1 ? status : undefined;
    },
    'the site to mirror the artifacts that fit and refuse the one that does not',
    30_000,
  );
  assert.equal(mirrored.artifactCache.delegatedTimestamp, true);
  assert.ok(mirrored.artifactCache.bytes <= CACHE_MAX_BYTES);
  const [refused] = mirrored.artifactCache.refused;
  assert.equal(refused?.path, 'camera-fw/9.0');
  assert.equal(refused?.code, 'EW_SITE_CACHE_FULL');
  assert.match(
    refused?.message ?? '',
    /does not fit in the site's artifact cache.*siteArtifactCacheMaxBytes/,
  );
  assert.equal(await exists(join(site.dataDir, 'artifacts', 'sha256', good)), true);

  // A site cannot publish an artifact of its own.
  const file = join(work, 'rogue.bin');
  await writeFile(file, 'rogue');
  const rogue = await runEdgeward([
    'artifacts',
    'upload',
    file,
    '--name',
    'gw-image',
    '--version',
    '9.9',
    '--api',
    site.operatorUrl,
    '--data-dir',
    site.dataDir,
  ]);
  assert.notEqual(rogue.code, 0);
  assert.match(rogue.stderr, /EW_SITE_ARTIFACTS_FROM_HUB|cannot publish its own/, rogue.stderr);

  // Cut the link and wait past the expiry of the hub's own timestamp that the site holds.
  link.cut();
  await eventually(
    async () => ((await siteStatus()).link === 'offline' ? true : undefined),
    'the site to notice the hub is gone',
  );
  const hubTimestamp = JSON.parse(
    await readFile(join(site.dataDir, 'tuf-mirror', 'hub', 'timestamp.json'), 'utf8'),
  ) as { signed: { expires: string } };
  const hubExpiry = Date.parse(hubTimestamp.signed.expires);
  await eventually(
    () => (Date.now() > hubExpiry + 1000 ? true : undefined),
    "the hub's timestamp to expire",
    HUB_TIMESTAMP_TTL_MS + 30_000,
  );

  // The site serves a fresh timestamp signed with its delegated key, over the hub's snapshot.
  const tls = await agentTls(first.dataDir);
  const served = await httpsJson<unknown>(new URL('/v1/tuf/timestamp.json', site.deviceUrl), {
    method: 'GET',
    ca: tls.ca,
    tls,
  });
  assert.equal(served.status, 200);
  const timestamp = Metadata.fromJSON(MetadataKind.Timestamp, served.body) as Metadata<Timestamp>;
  assert.ok(Date.parse(timestamp.signed.expires) > Date.now(), 'fresh while the hub is cut off');
  root.verifyDelegate('timestamp', timestamp);
  const hubSnapshot = hub.query<{ version: number }>(
    "SELECT MAX(version) AS version FROM tuf_metadata WHERE role = 'snapshot'",
  )[0];
  assert.equal(timestamp.signed.snapshotMeta.version, hubSnapshot?.version, "it names the hub's snapshot");

  // Offline, a rollout at the site installs 2.0 on the first device from the site's cache.
  const installed = await rolloutAtSite('gw-image@2.0', 'line-1');
  assert.equal(installed.state, 'completed', JSON.stringify(siteDevices(installed.id)));
  assert.equal(await readFile(join(first.marks, 'installed-2.0'), 'utf8'), `image 2.0\n${'a'.repeat(8000)}`);
  assert.equal(await exists(join(first.marks, 'committed-2.0')), true);

  // A site that changes an artifact's bytes: the device refuses them against the hub-signed target.
  const cached = join(site.dataDir, 'artifacts', 'sha256', tamperedTarget);
  const original = await readFile(cached);
  await writeFile(cached, Buffer.from(original.toString('utf8').replace('image 2.1', 'image 6.6')));
  const changedArtifact = await rolloutAtSite('gw-image@2.1', 'line-1');
  const [artifactRow] = siteDevices(changedArtifact.id);
  assert.equal(artifactRow?.state, 'failed', JSON.stringify(artifactRow));
  assert.match(artifactRow?.detail ?? '', /SHA-256/);
  assert.equal(await exists(join(first.marks, 'installed-2.1')), false, 'nothing of it was installed');

  // A site that changes the targets metadata (signing it with the only key it holds): refused too.
  const db = new DatabaseSync(join(site.dataDir, 'edgeward.db'));
  try {
    const row = db
      .prepare("SELECT version, body FROM tuf_metadata WHERE role = 'targets' ORDER BY version DESC LIMIT 1")
      .get() as { version: number; body: string };
    const targets = Metadata.fromJSON(MetadataKind.Targets, JSON.parse(row.body)) as Metadata<Targets>;
    const entry = targets.signed.targets['gw-image/2.0'];
    assert.ok(entry);
    (entry.hashes as Record<string, string>).sha256 = tamperedTarget;
    const siteKey = createPrivateKey(await readFile(join(site.dataDir, 'pki', 'tuf-timestamp.key'), 'utf8'));
    const keyID = Object.keys(timestamp.signatures)[0] ?? '';
    targets.sign((data) => new Signature({ keyID, sig: sign(null, data, siteKey).toString('hex') }), false);
    db.prepare("UPDATE tuf_metadata SET body = ? WHERE role = 'targets' AND version = ?").run(
      JSON.stringify(targets.toJSON()),
      row.version,
    );
  } finally {
    db.close();
  }
  const changedTargets = await rolloutAtSite('gw-image@2.0', 'line-2');
  const [targetsRow] = siteDevices(changedTargets.id);
  assert.equal(targetsRow?.state, 'failed', JSON.stringify(targetsRow));
  assert.match(targetsRow?.detail ?? '', /TUF metadata refused/);
  assert.equal(await exists(join(second.marks, 'installed-2.0')), false, 'nothing of it was installed');
});

async function agentTls(dataDir: string) {
  const read = (file: string) => readFile(join(dataDir, file), 'utf8');
  return {
    key: await read('key.pem'),
    cert: (await read('cert.pem')) + (await read('chain.pem')),
    ca: await read('ca.pem'),
  };
}

/** Starts a hub rollout and waits until the site has taken it over. */
async function startAndHandToSite(rolloutId: string): Promise<void> {
  await hub.cli(['rollouts', 'start', rolloutId]);
  await eventually(
    () =>
      site.query<{ id: string }>('SELECT id FROM rollouts WHERE id = ?', rolloutId).length === 1
        ? true
        : undefined,
    'the site to take the hub rollout',
    30_000,
  );
}

/** The rollout as the site shows it once it completed or aborted there. */
function endedAtSite(rolloutId: string): Promise<RolloutView> {
  return eventually(
    async () => {
      const view = JSON.parse(await site.cli(['rollouts', 'status', rolloutId, '--json'])) as RolloutView;
      return view.state === 'completed' || view.state === 'aborted' ? view : undefined;
    },
    'the hub rollout to end at the site',
    60_000,
  );
}

test("a hub rollout of site devices runs at the site while cut off, and the hub learns each device's outcome and version", async () => {
  link.restore();
  await eventually(
    async () => ((await siteStatus()).link === 'connected' ? true : undefined),
    'the site to reach the hub again',
    30_000,
  );
  const content = Buffer.from(`image 3.0\n${'c'.repeat(8000)}`);
  await upload('gw-image', '3.0', content);
  third = await startSiteAgent('line-3');
  await eventually(
    () =>
      hub.query<{ id: string }>('SELECT id FROM devices WHERE id = ?', third.deviceId).length === 1 &&
      site.query<{ n: number }>("SELECT count(*) AS n FROM artifacts WHERE version = '3.0'")[0]?.n === 1
        ? true
        : undefined,
    'the hub to know the new site device and the site to mirror 3.0',
    30_000,
  );

  const created = JSON.parse(
    await hub.cli([
      'rollouts',
      'create',
      '--artifact',
      'gw-image@3.0',
      '--selector',
      'line=line-3',
      '--phases',
      '100%',
      '--json',
    ]),
  ) as RolloutView;
  await startAndHandToSite(created.id);

  // The hub leaves the site's device to the site; cut off, the site runs the rollout to its end.
  link.cut();
  const atSite = await endedAtSite(created.id);
  assert.equal(atSite.state, 'completed', JSON.stringify(siteDevices(created.id)));
  assert.equal(await readFile(join(third.marks, 'installed-3.0'), 'utf8'), content.toString('utf8'));
  const whileCut = hub.query<{ state: string }>(
    'SELECT state FROM rollout_devices WHERE rollout_id = ? AND device_id = ?',
    created.id,
    third.deviceId,
  );
  assert.deepEqual(
    whileCut.map((row) => row.state),
    ['pending'],
    'the hub did not offer it the update itself',
  );

  // The link returns: the hub records the device's outcome and completes its rollout.
  link.restore();
  await eventually(
    () => {
      const [row] = hub.query<{ state: string }>(
        'SELECT state FROM rollout_devices WHERE rollout_id = ? AND device_id = ?',
        created.id,
        third.deviceId,
      );
      const [rollout] = hub.query<{ state: string }>('SELECT state FROM rollouts WHERE id = ?', created.id);
      return row?.state === 'committed' && rollout?.state === 'completed' ? true : undefined;
    },
    'the hub to record the commit and complete its rollout',
    30_000,
  );

  await eventually(
    () =>
      hub.query<{ version: string }>(
        "SELECT version FROM device_artifact_versions WHERE device_id = ? AND name = 'gw-image'",
        third.deviceId,
      )[0]?.version === '3.0'
        ? true
        : undefined,
    'the hub to know what the site device runs',
    30_000,
  );

  // A site speaks only for its own devices.
  const upstream = (file: string) => readFile(join(site.dataDir, 'upstream', file), 'utf8');
  const foreign = await httpsJson(new URL('/v1/site/rollouts', hub.deviceUrl), {
    method: 'POST',
    ca: await upstream('ca.pem'),
    tls: {
      key: await upstream('key.pem'),
      cert: (await upstream('cert.pem')) + (await upstream('chain.pem')),
    },
    body: {
      v: 1,
      devices: [{ rolloutId: created.id, deviceId: 'not-of-this-site', state: 'committed', detail: '' }],
    },
  });
  assert.equal(foreign.status, 403, JSON.stringify(foreign.body));
  assert.equal(foreign.body.error?.code, 'EW_SITE_DEVICE_FOREIGN');
});

test('a failing hub rollout breaches its gate at the cut-off site, which aborts it there; the hub then aborts too', async () => {
  await upload('gw-image', '4.0', Buffer.from(`image 4.0\n${'d'.repeat(8000)}`));
  await eventually(
    () =>
      site.query<{ n: number }>("SELECT count(*) AS n FROM artifacts WHERE version = '4.0'")[0]?.n === 1
        ? true
        : undefined,
    'the site to mirror 4.0',
    30_000,
  );
  const created = JSON.parse(
    await hub.cli([
      'rollouts',
      'create',
      '--artifact',
      'gw-image@4.0',
      '--selector',
      'line=line-3',
      '--phases',
      '100%',
      '--max-failures',
      '0',
      '--json',
    ]),
  ) as RolloutView;
  await startAndHandToSite(created.id);
  link.cut();
  const atSite = await endedAtSite(created.id);
  assert.equal(atSite.state, 'aborted', 'the site decided the gate by itself');
  assert.match(atSite.reason ?? '', /failed/);
  // A failed install goes back to the previous version: the gates count it as a failure.
  const [failedRow] = siteDevices(created.id);
  assert.equal(failedRow?.state, 'rolled-back', JSON.stringify(failedRow));

  link.restore();
  await eventually(
    () => {
      const [rollout] = hub.query<{ state: string }>('SELECT state FROM rollouts WHERE id = ?', created.id);
      const [row] = hub.query<{ state: string }>(
        'SELECT state FROM rollout_devices WHERE rollout_id = ? AND device_id = ?',
        created.id,
        third.deviceId,
      );
      return rollout?.state === 'aborted' && row?.state === 'rolled-back' ? true : undefined;
    },
    "the hub to take the device's failure and abort its rollout",
    30_000,
  );
});
