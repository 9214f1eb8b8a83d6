import assert from 'node:assert/strict';
import { generateKeyPairSync, sign } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { runEdgeward } from '@edgeward/cli';
import {
  type CreateRolloutRequest,
  canonicalJson,
  createRolloutRequestSchema,
  type DeviceRecord,
  generatePolicyKeyPair,
  type RolloutView,
  type UpdateReport,
} from '@edgeward/core';
import { buildManager, type Manager, resolveManagerConfig, TufRepository } from '@edgeward/manager';
import { captureIo } from '../packages/cli/src/cli-io.fixture.ts';
import { ShiftableClock, silentLogger } from './support/test-manager.ts';

/**
 * The manager's side of updates without agents: rollouts driven by reported device states (gates, alerts,
 * deadlines, site caps, a restart), the TUF timestamp's re-signing, a root changed by detached k-of-n
 * signatures, the patch SLA, and the CLI commands over the operator API.
 */

const operator = { id: 'op-test', name: 'test', role: 'admin' } as const;
let dir: string;
let clock: ShiftableClock;
let manager: Manager;
let operatorUrl: string;
let adminToken: string;

function config() {
  return resolveManagerConfig([
    {
      source: 'test',
      values: {
        dataDir: join(dir, 'manager'),
        host: '127.0.0.1',
        devicePort: 0,
        operatorPort: 0,
        logLevel: 'silent',
        // Driven by hand (tick) so that every step of the test is deterministic.
        rolloutTickMs: 3_600_000,
      },
    },
  ]);
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'edgeward-updates-manager-'));
  clock = new ShiftableClock();
  manager = await buildManager(config(), { logger: silentLogger, clock });
  ({ operatorUrl } = await manager.listen());
  adminToken = manager.firstStart?.adminToken.token ?? '';
  for (let index = 0; index < 12; index += 1) await manager.store.devices.create(device(index));
});

after(async () => {
  await manager?.close();
  await rm(dir, { recursive: true, force: true });
});

function device(index: number): DeviceRecord {
  return {
    id: `dev-${String(index).padStart(2, '0')}`,
    name: `host-${index}`,
    labels: { fn: 'gateway', site: `s${index % 3}`, board: index < 11 ? 'imx8' : 'rpi4' },
    enrolledAt: 1_000,
    enrollmentTokenId: null,
    lastSeenAt: null,
    reportIntervalMs: 60_000,
    agentVersion: '0.1.0',
    inventoryVersion: 0,
    revokedAt: null,
  };
}

/** An operator command against this manager. */
async function cli(...args: string[]) {
  return local(
    ...args,
    '--api',
    operatorUrl,
    '--token',
    adminToken,
    '--ca-file',
    join(dir, 'manager', 'pki', 'root-ca.crt'),
  );
}

/** A command that needs no manager (`tuf sign`, run where a root key lives). */
async function local(...args: string[]) {
  const io = captureIo();
  const code = await runEdgeward(args, io);
  return { code, out: io.stdout.join('\n'), err: io.stderr.join('\n') };
}

let versionCounter = 0;
let completedRolloutId = '';
async function freshArtifact(severity: 'high' | 'critical' = 'high') {
  versionCounter += 1;
  return manager.services.artifacts.upload(operator, Buffer.from(`build ${versionCounter}`), {
    name: 'fw',
    version: `1.${versionCounter}`,
    severity,
    compat: {},
  });
}

async function started(
  request: Omit<CreateRolloutRequest, 'artifact'>,
  version: string,
): Promise<RolloutView> {
  const spec = createRolloutRequestSchema.parse({ ...request, artifact: { name: 'fw', version } });
  const view = (await manager.services.rollouts.create(operator, spec)) as RolloutView;
  await manager.services.rollouts.act(operator, view.id, 'start');
  await manager.services.rollouts.tick();
  return manager.services.rollouts.status(view.id);
}

async function report(view: RolloutView, deviceId: string, state: UpdateReport['state']) {
  await manager.services.rollouts.report(deviceId, {
    v: 1,
    rolloutId: view.id,
    name: view.artifact.name,
    version: view.artifact.version,
    state,
    detail: state,
    at: clock.now(),
  });
}

async function devicesIn(id: string, state: string) {
  return (await manager.services.rollouts.devices(id)).devices.filter((row) => row.state === state);
}

test('a phase advances only once every device finished and its gates hold; a restarted manager resumes the rollout', async () => {
  const artifact = await freshArtifact();
  let view = await started(
    {
      selector: { fn: 'gateway' },
      phases: 'canary:2,50%,100%',
      gates: { maxFailures: 0, minSuccessPercent: 100 },
    },
    artifact.version,
  );
  const canaries = await devicesIn(view.id, 'assigned');
  assert.equal(canaries.length, 2);
  assert.deepEqual(
    (await manager.services.rollouts.assignmentFor(canaries[0]?.deviceId ?? '')).update?.action,
    'install',
  );
  await report(view, canaries[0]?.deviceId ?? '', 'committed');
  await manager.services.rollouts.tick();
  assert.equal((await manager.services.rollouts.status(view.id)).currentPhase, 0, 'one canary still runs');
  await report(view, canaries[1]?.deviceId ?? '', 'committed');
  await manager.services.rollouts.tick();
  view = await manager.services.rollouts.status(view.id);
  assert.equal(view.currentPhase, 1);
  const second = await devicesIn(view.id, 'assigned');
  assert.equal(second.length, 4);

  // The manager stops and starts again on the same data: the rollout goes on where it was.
  await manager.close();
  manager = await buildManager(config(), { logger: silentLogger, clock });
  ({ operatorUrl } = await manager.listen());
  assert.equal((await manager.services.rollouts.status(view.id)).currentPhase, 1);
  for (const row of second) await report(view, row.deviceId, 'committed');
  await manager.services.rollouts.tick();
  const last = await devicesIn(view.id, 'assigned');
  assert.equal(last.length, 6);
  for (const row of last) await report(view, row.deviceId, 'committed');
  await manager.services.rollouts.tick();
  assert.equal((await manager.services.rollouts.status(view.id)).state, 'completed');
  completedRolloutId = view.id;
});

test('`rollouts watch` draws a bar per phase and returns once the rollout has ended', async () => {
  const watched = await cli('rollouts', 'watch', completedRolloutId, '--interval', '100ms');
  assert.equal(watched.code, 0, watched.err);
  assert.match(watched.out, /completed/);
  assert.match(watched.out, /canary:2 +\[█{24}\] 2\/2 committed/);
  assert.match(watched.out, /100% +\[█{24}\] 6\/6 committed/);
});

test('a new high-severity alert on an updated device counts as a failure and aborts the rollout', async () => {
  const artifact = await freshArtifact();
  const view = await started(
    {
      selector: { fn: 'gateway' },
      phases: 'canary:2,100%',
      gates: { maxFailures: 0, minSuccessPercent: 0 },
      soakMs: 60_000,
    },
    artifact.version,
  );
  const canaries = await devicesIn(view.id, 'assigned');
  for (const row of canaries) await report(view, row.deviceId, 'committed');
  await manager.services.rollouts.tick();
  assert.equal((await manager.services.rollouts.status(view.id)).state, 'running', 'soaking');
  const victim = canaries[0]?.deviceId ?? '';
  const at = clock.now() + 1000;
  await manager.store.alerts.insert({
    id: `al-${view.id}`,
    ruleId: 'r',
    ruleTitle: 'new process after update',
    kind: 'detection',
    groupKey: '["x"]',
    groupFields: {},
    severity: 'high',
    tier: 'high',
    state: 'open',
    source: 'agent',
    deviceIds: [victim],
    firstSeen: at,
    lastSeen: at,
    count: 1,
    eventRefs: [],
    bursts: [],
    response: [],
    route: [],
    assignee: null,
    resolution: null,
    suppressedUntil: null,
    createdAt: at,
    openedAt: at,
    acknowledgedAt: null,
    resolvedAt: null,
    reopenedCount: 0,
    siteId: null,
    siteChangedAt: null,
    lastSignalAt: at,
    updatedAt: at,
  });
  await manager.services.rollouts.tick();
  const after = await manager.services.rollouts.status(view.id);
  assert.equal(after.state, 'aborted');
  assert.match(after.reason ?? '', /1 new alert/);
  assert.equal((await manager.services.rollouts.assignmentFor(victim)).update?.action, 'rollback');
  assert.equal((await devicesIn(view.id, 'cancelled')).length, 10, 'the devices of later phases never start');
});

test('devices that do not start before the offline deadline are skipped, and a site never has more than its cap updating', async () => {
  const artifact = await freshArtifact();
  const view = await started(
    {
      selector: { fn: 'gateway' },
      phases: '100%',
      gates: { maxFailures: 0, minSuccessPercent: 100 },
      siteConcurrency: 1,
      offlineDeadlineMs: 60_000,
    },
    artifact.version,
  );
  const first = await devicesIn(view.id, 'assigned');
  assert.deepEqual(first.map((row) => row.site).sort(), ['s0', 's1', 's2']);
  await report(view, first[0]?.deviceId ?? '', 'downloading');
  clock.offsetMs += 61_000;
  await manager.services.rollouts.tick();
  const skipped = await devicesIn(view.id, 'skipped');
  assert.equal(skipped.length, 2, 'the two that never started');
  const assigned = await devicesIn(view.id, 'assigned');
  assert.deepEqual(
    assigned.map((row) => row.site).sort(),
    ['s1', 's2'].filter((site) => skipped.some((row) => row.site === site)).sort(),
  );
  assert.ok(!assigned.some((row) => row.site === first[0]?.site), 'the busy site gets no second device');
  await manager.services.rollouts.act(operator, view.id, 'abort', 'end of test');
});

test('a device that reports it fell back from a committed version is no longer counted as updated; a report not signed by it is refused', async () => {
  const artifact = await freshArtifact();
  const view = await started(
    { selector: { idx: 'none' }, phases: '100%', gates: { maxFailures: 5, minSuccessPercent: 0 } },
    artifact.version,
  ).catch(() => undefined);
  assert.equal(view, undefined, 'a selector without devices is refused');
  const rollout = await started(
    { selector: { site: 's0' }, phases: '100%', gates: { maxFailures: 5, minSuccessPercent: 0 } },
    artifact.version,
  );
  const [first] = await devicesIn(rollout.id, 'assigned');
  const deviceId = first?.deviceId ?? '';
  await report(rollout, deviceId, 'committed');
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const payload = { deviceId, name: 'fw', version: '1.0', fellBackFrom: artifact.version, at: clock.now() };
  const signature = sign('sha256', Buffer.from(canonicalJson(payload)), privateKey).toString('base64');
  const other = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).publicKey;
  await assert.rejects(
    manager.services.versions.reportRunning(deviceId, { v: 1, payload, signature }, other),
    { code: 'EW_UPDATE_REPORT_SIGNATURE_INVALID' },
  );
  await manager.services.versions.reportRunning(deviceId, { v: 1, payload, signature }, publicKey);
  const [row] = (await manager.services.rollouts.devices(rollout.id)).devices.filter(
    (d) => d.deviceId === deviceId,
  );
  assert.equal(row?.state, 'rolled-back');
  assert.match(row?.detail ?? '', /fell back from/);
  assert.equal((await manager.store.artifacts.running(deviceId, 'fw'))?.version, '1.0');
  await manager.services.rollouts.act(operator, rollout.id, 'abort', 'end of test');
});

test('a paused rollout starts no new device but lets those under way finish; resumed, it goes on', async () => {
  const artifact = await freshArtifact();
  const view = await started(
    { selector: { site: 's1' }, phases: '100%', gates: { maxFailures: 0, minSuccessPercent: 100 } },
    artifact.version,
  );
  const [busy, idle] = await devicesIn(view.id, 'assigned');
  assert.ok(busy && idle);
  await report(view, busy.deviceId, 'downloading');
  await manager.services.rollouts.act(operator, view.id, 'pause', 'change freeze');
  assert.equal((await manager.services.rollouts.assignmentFor(idle.deviceId)).update, null);
  assert.equal((await manager.services.rollouts.assignmentFor(busy.deviceId)).update?.action, 'install');
  await assert.rejects(manager.services.rollouts.act(operator, view.id, 'start'), {
    code: 'EW_ROLLOUT_STATE_CONFLICT',
  });
  await manager.services.rollouts.act(operator, view.id, 'resume');
  assert.equal((await manager.services.rollouts.assignmentFor(idle.deviceId)).update?.action, 'install');
  await manager.services.rollouts.act(operator, view.id, 'abort', 'end of test');
  assert.notEqual((await manager.services.rollouts.assignmentFor(idle.deviceId)).update?.rolloutId, view.id);
});

test('the TUF timestamp is re-signed once half its lifetime passed', async () => {
  const before = JSON.parse((await manager.services.tuf.metadataFile('timestamp.json')) ?? '{}');
  assert.equal(
    JSON.parse((await manager.services.tuf.metadataFile('timestamp.json')) ?? '{}').signed.version,
    before.signed.version,
  );
  clock.offsetMs += 13 * 3_600_000;
  const after = JSON.parse((await manager.services.tuf.metadataFile('timestamp.json')) ?? '{}');
  assert.equal(after.signed.version, before.signed.version + 1);
  assert.ok(Date.parse(after.signed.expires) > Date.parse(before.signed.expires));
});

test('a new root needs k of n detached signatures from the new keys and the current root key', async () => {
  const keys = [generatePolicyKeyPair(), generatePolicyKeyPair(), generatePolicyKeyPair()];
  const files = await Promise.all(
    keys.map(async (pair, index) => {
      const publicFile = join(dir, `root-${index}.pub`);
      const privateFile = join(dir, `root-${index}.key`);
      await writeFile(publicFile, pair.publicKeyPem);
      await writeFile(privateFile, pair.privateKeyPem, { mode: 0o600 });
      return { publicFile, privateFile };
    }),
  );
  const draft = join(dir, 'root-draft.json');
  const drafted = await cli(
    'tuf',
    'root-draft',
    ...files.flatMap((file) => ['--key', file.publicFile]),
    '--threshold',
    '2',
    '--out',
    draft,
  );
  assert.equal(drafted.code, 0, `${drafted.err} ${drafted.out}`);
  const oldRootKey = join(dir, 'manager', 'pki', 'tuf', 'root.key');
  assert.equal((await local('tuf', 'sign', draft, '--key', oldRootKey)).code, 0);
  assert.equal((await local('tuf', 'sign', draft, '--key', files[0]?.privateFile ?? '')).code, 0);
  const tooFew = await cli('tuf', 'root-install', draft);
  assert.notEqual(tooFew.code, 0);
  assert.match(tooFew.err, /1 valid signature\(s\) of the 2 required/);
  assert.equal((await local('tuf', 'sign', draft, '--key', files[2]?.privateFile ?? '')).code, 0);
  const installed = await cli('tuf', 'root-install', draft);
  assert.equal(installed.code, 0, installed.err);
  const root = JSON.parse((await manager.services.tuf.metadataFile('2.root.json')) ?? '{}');
  assert.equal(root.signed.roles.root.threshold, 2);
  assert.equal(root.signed.roles.root.keyids.length, 3);
  assert.equal(JSON.parse(await readFile(draft, 'utf8')).signatures.length, 3);
});

test("a site's timestamp key waits for the root holders once the root key no longer signs root alone, and the next root draft lists it", async () => {
  const sites = manager.services.sites;
  assert.ok(sites);
  await sites.create(operator, { id: 'plant-9', maxOfflineMs: 86_400_000, ttlMs: 600_000 });
  const siteKey = generatePolicyKeyPair();
  await manager.store.sites.update('plant-9', { tufTimestampPublicKeyPem: siteKey.publicKeyPem });
  const tuf = manager.services.tuf;
  assert.ok(tuf instanceof TufRepository, 'the hub signs its own repository');
  const rootBefore = await manager.store.artifacts.latestTufMetadata('root');
  // The previous test moved root to three new keys, threshold 2: the manager's root key alone cannot sign.
  assert.equal(await tuf.admitSiteTimestampKeys(), 'needs-root-signatures');
  assert.equal((await manager.store.artifacts.latestTufMetadata('root'))?.version, rootBefore?.version);
  const draft = JSON.parse(await tuf.rootDraft([generatePolicyKeyPair().publicKeyPem], 1)) as {
    signed: {
      roles: { timestamp: { keyids: string[] } };
      keys: Record<string, { keyval: { public: string } }>;
    };
  };
  const timestampKeys = draft.signed.roles.timestamp.keyids.map((id) =>
    draft.signed.keys[id]?.keyval.public.trim(),
  );
  assert.equal(timestampKeys.length, 2, "the manager's timestamp key and the site's");
  assert.ok(timestampKeys.includes(siteKey.publicKeyPem.trim()));
});

test('the CLI uploads an artifact, sets a floor, plans a rollout dry (leaving out incompatible devices), and lists devices in breach of the patch SLA', async () => {
  const file = join(dir, 'image.bin');
  await writeFile(file, 'critical fix');
  const uploaded = await cli(
    'artifacts',
    'upload',
    file,
    '--name',
    'kernel',
    '--version',
    '5.15.2',
    '--severity',
    'critical',
    '--compat',
    'board=imx8',
  );
  assert.equal(uploaded.code, 0, uploaded.err);
  assert.match(uploaded.out, /published kernel@5\.15\.2/);
  assert.equal((await cli('artifacts', 'floor', 'kernel', '5.15.2')).code, 0);
  const listed = JSON.parse((await cli('artifacts', 'list', '--json')).out);
  assert.equal(listed.floors.kernel, '5.15.2');
  const dry = await cli(
    'rollouts',
    'create',
    '--artifact',
    'kernel@5.15.2',
    '--selector',
    'fn=gateway',
    '--phases',
    'canary:3,50%,100%',
    '--dry-run',
  );
  assert.equal(dry.code, 0, dry.err);
  // dev-11 is an rpi4 board: the imx8 image is not for it.
  assert.match(dry.out, /canary:3 +3 device\(s\)/);
  assert.match(dry.out, /50% +3 device\(s\)/);
  assert.match(dry.out, /100% +5 device\(s\)/);
  assert.doesNotMatch(dry.out, /dev-11/);

  await manager.store.artifacts.reportRunning({
    deviceId: 'dev-01',
    name: 'kernel',
    version: '5.15.1',
    fellBackFrom: null,
    reportedAt: clock.now(),
  });
  await manager.store.artifacts.reportRunning({
    deviceId: 'dev-02',
    name: 'kernel',
    version: '5.15.2',
    fellBackFrom: null,
    reportedAt: clock.now(),
  });
  assert.match((await cli('patches', 'sla')).out, /no device is in breach/);
  clock.offsetMs += 2 * 86_400_000 + 1000;
  const breaches = JSON.parse((await cli('patches', 'sla', '--json')).out);
  assert.deepEqual(
    breaches.map((breach: { deviceId: string; version: string; running: string }) => [
      breach.deviceId,
      breach.version,
      breach.running,
    ]),
    [['dev-01', '5.15.2', '5.15.1']],
  );
});

test("a rollout taken from the hub follows the hub's changes only: a local pause stands until the hub changes the rollout", async () => {
  const artifact = await freshArtifact();
  const spec = createRolloutRequestSchema.parse({
    selector: { fn: 'gateway' },
    phases: '100%',
    gates: { maxFailures: 0, minSuccessPercent: 0 },
    artifact: { name: 'fw', version: artifact.version },
  });
  const id = 'r-from-hub';
  const relayed = (state: RolloutView['state']) => [
    { id, spec, state, reason: null, devices: [{ deviceId: 'dev-00', phase: 0 }] },
  ];
  const rollouts = manager.services.rollouts;
  const stateHere = async () => (await rollouts.status(id)).state;

  await rollouts.adoptFromHub(relayed('running'));
  assert.equal(await stateHere(), 'running', 'taken as the hub runs it');

  // An operator here pauses it (cut off from the hub, say); the hub still shows it running, unchanged.
  await rollouts.act(operator, id, 'pause', 'held at the site');
  await rollouts.adoptFromHub(relayed('running'));
  assert.equal(await stateHere(), 'paused', "the hub's unchanged state does not undo the local pause");

  // A change at the hub is repeated here: the hub pauses and resumes, then aborts.
  await rollouts.adoptFromHub(relayed('paused'));
  await rollouts.adoptFromHub(relayed('running'));
  assert.equal(await stateHere(), 'running', "the hub's resume is repeated");
  await rollouts.adoptFromHub(relayed('aborted'));
  assert.equal(await stateHere(), 'aborted', "the hub's abort is repeated");
});
