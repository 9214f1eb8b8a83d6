import assert from 'node:assert/strict';
import { createHash, sign } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  type CreateRolloutRequest,
  createRolloutRequestSchema,
  type RolloutDryRunView,
  type RolloutView,
} from '@edgeward/core';
import { buildManager, type Manager, resolveManagerConfig } from '@edgeward/manager';
import { FaultProxy, type FleetSimulation, startFleetSimulation, UNHEALTHY_MARKER } from '@edgeward/sim';
import { Metadata, MetaFile, Signature, Snapshot, Timestamp } from '@tufjs/models';
import pino from 'pino';

/**
 * Updates end to end: the real manager (SQLite, mTLS on port 0) and 50 simulated devices running the real
 * updater (TUF client, resumable downloader, A/B slots with a synthetic health check).
 */

const logger = pino({ level: 'silent' });
const operator = { id: 'op-test', name: 'test', role: 'admin' } as const;
const DEVICES = 50;
/** Devices 0..39 are the `main` group; 40..49 are spares for the attack cases. */
const MAIN = 40;

let dir: string;
let manager: Manager;
let deviceUrl: string;
let fleet: FleetSimulation;
const deviceIdOf = new Map<number, string>();
const indexOf = new Map<string, number>();

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'edgeward-updates-'));
  const config = resolveManagerConfig([
    {
      source: 'test',
      values: {
        dataDir: join(dir, 'manager'),
        host: '127.0.0.1',
        devicePort: 0,
        operatorPort: 0,
        logLevel: 'silent',
        rolloutTickMs: 100,
      },
    },
  ]);
  manager = await buildManager(config, { logger });
  ({ deviceUrl } = await manager.listen());
  fleet = startFleetSimulation({
    devices: DEVICES,
    managerUrl: deviceUrl,
    caFingerprint: manager.pki.caFingerprint,
    logger,
    dataRoot: join(dir, 'fleet'),
    reportIntervalMs: 60_000,
    updates: { pollMs: 200, healthDeadlineMs: 2000 },
    agentSettings: { requestTimeoutMs: 5000, retryInitialMs: 100, retryMaxMs: 500, shutdownGraceMs: 2000 },
    createEnrollmentToken: async (index, labels) =>
      (
        await manager.services.tokens.create(
          operator,
          {
            ...labels,
            group: index < MAIN ? 'main' : 'spare',
            idx: String(index),
            site: `site-${index % 4}`,
          },
          600_000,
        )
      ).token,
  });
  const ready = await fleet.ready();
  assert.equal(ready.running, DEVICES, JSON.stringify(ready.devices.filter((d) => d.state !== 'running')));
  for (const device of ready.devices) {
    if (device.deviceId === undefined) continue;
    deviceIdOf.set(device.index, device.deviceId);
    indexOf.set(device.deviceId, device.index);
  }
});

after(async () => {
  await fleet?.stop();
  await manager?.close();
  await rm(dir, { recursive: true, force: true });
});

async function eventually<T>(
  what: string,
  check: () => Promise<T | undefined | false>,
  timeoutMs = 30_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const result = await check();
    if (result !== undefined && result !== false) return result;
    if (Date.now() > deadline) assert.fail(`timed out after ${timeoutMs} ms waiting until ${what}`);
    await sleep(100);
  }
}

function firmware(version: string, extra = ''): Buffer {
  return Buffer.from(`firmware ${version}\n${extra}\n${'x'.repeat(4096)}`);
}

async function upload(version: string, content = firmware(version), name = 'firmware') {
  return manager.services.artifacts.upload(operator, content, {
    name,
    version,
    severity: 'high',
    compat: {},
  });
}

async function createRollout(request: CreateRolloutRequest): Promise<RolloutView> {
  return (await manager.services.rollouts.create(
    operator,
    createRolloutRequestSchema.parse(request),
  )) as RolloutView;
}

async function runRollout(request: CreateRolloutRequest, until: RolloutView['state'][], timeoutMs = 30_000) {
  const rollout = await createRollout(request);
  await manager.services.rollouts.act(operator, rollout.id, 'start');
  return eventually(
    `rollout ${rollout.id} is ${until.join(' or ')}`,
    async () => {
      const view = await manager.services.rollouts.status(rollout.id);
      return until.includes(view.state) ? view : undefined;
    },
    timeoutMs,
  );
}

async function rows(rolloutId: string) {
  return (await manager.services.rollouts.devices(rolloutId)).devices;
}

function slotsOf(index: number) {
  const slots = fleet.devices[index]?.slots;
  assert.ok(slots, `device ${index} runs updates`);
  return slots;
}

async function auditActions(): Promise<string[]> {
  return (await manager.store.actions.list({ limit: 10_000 })).map((action) => action.action);
}

describe('rollouts across 50 simulated devices', () => {
  test('a good artifact completes every phase: every selected device commits it in its slot and reports it', async () => {
    await upload('1.0');
    const view = await runRollout(
      {
        artifact: { name: 'firmware', version: '1.0' },
        selector: { group: 'main' },
        phases: 'canary:5,25%,100%',
        gates: { maxFailures: 0, minSuccessPercent: 100 },
        siteConcurrency: 5,
      },
      ['completed', 'aborted'],
      60_000,
    );
    assert.equal(view.state, 'completed', view.reason ?? '');
    assert.deepEqual(
      view.phaseViews.map((phase) => [phase.label, phase.devices, phase.committed]),
      [
        ['canary:5', 5, 5],
        ['25%', 5, 5],
        ['100%', 30, 30],
      ],
    );
    for (let index = 0; index < MAIN; index += 1) {
      assert.equal(await slotsOf(index).currentVersion('firmware'), '1.0', `device ${index}`);
    }
    assert.equal(await slotsOf(MAIN).currentVersion('firmware'), null, 'a spare device was not selected');
    const running = await eventually('the devices reported what they run', async () => {
      const reported = (await manager.store.artifacts.runningOf('firmware')).filter(
        (r) => r.version === '1.0',
      );
      return reported.length === MAIN ? reported : undefined;
    });
    assert.equal(running.length, MAIN);
    const actions = await auditActions();
    for (const action of [
      'artifact.upload',
      'rollout.create',
      'rollout.start',
      'rollout.phase-advance',
      'rollout.complete',
    ]) {
      assert.ok(actions.includes(action), `the audit chain records ${action}`);
    }
  });

  test('a bad artifact aborts at the canary: the canaries roll back and no other device downloads it', async () => {
    const bad = await upload('1.1', firmware('1.1', UNHEALTHY_MARKER));
    const view = await runRollout(
      {
        artifact: { name: 'firmware', version: '1.1' },
        selector: { group: 'main' },
        phases: 'canary:3,50%,100%',
        gates: { maxFailures: 0, minSuccessPercent: 100 },
      },
      ['aborted', 'completed'],
    );
    assert.equal(view.state, 'aborted');
    assert.match(view.reason ?? '', /phase canary:3/);
    const devices = await rows(view.id);
    const canaries = devices.filter((device) => device.phase === 0);
    assert.equal(canaries.length, 3);
    // The first failure breaches the gate at once: a canary that had installed rolls back, one that had
    // not yet installed never does.
    const settled = await eventually('no canary is still rolling back', async () => {
      const now = (await rows(view.id)).filter((device) => device.phase === 0);
      return now.every((device) => device.state !== 'rollback') ? now : undefined;
    });
    assert.ok(settled.some((canary) => canary.state === 'rolled-back'));
    for (const canary of settled) {
      assert.ok(
        ['rolled-back', 'cancelled'].includes(canary.state),
        `${canary.deviceId}: ${canary.state} ${canary.detail}`,
      );
      assert.equal(await slotsOf(indexOf.get(canary.deviceId) ?? -1).currentVersion('firmware'), '1.0');
    }
    const others = devices.filter((device) => device.phase > 0);
    assert.equal(others.length, MAIN - 3);
    for (const other of others) {
      assert.equal(other.state, 'cancelled');
      const index = indexOf.get(other.deviceId) ?? -1;
      const downloads = await readdir(
        join(fleet.devices[index]?.dataDir ?? '', 'updates', 'downloads'),
      ).catch(() => []);
      assert.ok(
        !downloads.some((file) => file.startsWith(bad.sha256)),
        `device ${index} never downloaded ${bad.version}`,
      );
      assert.equal(await slotsOf(index).currentVersion('firmware'), '1.0');
    }
    assert.ok((await auditActions()).includes('rollout.abort'));
  });

  test('the anti-downgrade floor holds: a rollout below it needs an audited exception, and devices still refuse to downgrade', async () => {
    await manager.services.artifacts.setFloor(operator, 'firmware', '1.0');
    await upload('0.9');
    const request: CreateRolloutRequest = {
      artifact: { name: 'firmware', version: '0.9' },
      selector: { idx: '7' },
      phases: '100%',
      gates: { maxFailures: 0, minSuccessPercent: 100 },
    };
    await assert.rejects(createRollout(request), { code: 'EW_ARTIFACT_BELOW_FLOOR' });
    const view = await runRollout({ ...request, belowFloorReason: 'testing the device-side check' }, [
      'aborted',
      'completed',
    ]);
    assert.equal(view.state, 'aborted');
    const [row] = await rows(view.id);
    assert.equal(row?.state, 'failed');
    assert.match(row?.detail ?? '', /does not downgrade/);
    assert.equal(await slotsOf(7).currentVersion('firmware'), '1.0');
    assert.ok((await auditActions()).includes('artifact.floor-exception'));
  });
});

describe('devices refuse what TUF does not vouch for', () => {
  const tufDir = () => join(dir, 'manager', 'pki', 'tuf');

  async function latest(role: string) {
    const record = await manager.store.artifacts.latestTufMetadata(role);
    assert.ok(record);
    return record;
  }

  async function keyIdOf(role: string): Promise<string> {
    const root = JSON.parse((await latest('root')).body) as {
      signed: { roles: Record<string, { keyids: string[] }> };
    };
    return root.signed.roles[role]?.keyids[0] ?? '';
  }

  /** Signs with the manager's own online key, as an attacker who stole it (or a replay) would present. */
  // The row's expiry is the manager's bookkeeping: set far enough ahead that it serves the forged document
  // as it is instead of re-signing a fresh timestamp (a frozen or compromised mirror).
  async function publish(role: 'timestamp' | 'snapshot', signed: Timestamp | Snapshot) {
    const expiresAt = Date.now() + (role === 'snapshot' ? 6 * 86_400_000 : 23 * 3_600_000);
    const keyPem = await readFile(join(tufDir(), `${role}.key`), 'utf8');
    const keyID = await keyIdOf(role);
    const metadata = new Metadata(signed);
    metadata.sign((data) => new Signature({ keyID, sig: sign(null, data, keyPem).toString('hex') }));
    const body = JSON.stringify(metadata.toJSON());
    await manager.store.artifacts.putTufMetadata({
      role,
      version: signed.version,
      body,
      expiresAt,
      createdAt: Date.now(),
    });
    return body;
  }

  const sha = (text: string) => createHash('sha256').update(text).digest('hex');
  const iso = (at: number) => new Date(at).toISOString().replace(/\.\d{3}Z$/, 'Z');

  async function attempt(index: number, version: string, running = '1.0'): Promise<string> {
    const view = await runRollout(
      {
        artifact: { name: 'firmware', version },
        selector: { idx: String(index) },
        phases: '100%',
        gates: { maxFailures: 0, minSuccessPercent: 100 },
      },
      ['aborted', 'completed'],
    );
    const [row] = await rows(view.id);
    assert.equal(view.state, 'aborted', `the device refused (${row?.state}: ${row?.detail})`);
    assert.equal(row?.state, 'failed');
    assert.equal(await slotsOf(index).currentVersion('firmware'), running);
    // The repository signs fresh metadata again, with versions above the forged ones.
    await manager.services.tuf.publishTargets();
    return row?.detail ?? '';
  }

  test('a tampered target is refused: its SHA-256 does not match the signed one', async () => {
    const artifact = await upload('1.2');
    const path = join(dir, 'manager', 'artifacts', 'sha256', artifact.sha256);
    const original = await readFile(path);
    const forged = Buffer.from(original);
    forged[0] = forged[0] === 0x41 ? 0x42 : 0x41;
    await writeFile(path, forged);
    try {
      assert.match(await attempt(10, '1.2'), /SHA-256/);
    } finally {
      await writeFile(path, original);
    }
  });

  test('an expired timestamp is refused', async () => {
    const snapshot = await latest('snapshot');
    const timestamp = await latest('timestamp');
    const past = Date.now() - 3_600_000;
    await publish(
      'timestamp',
      new Timestamp({
        version: timestamp.version + 1,
        specVersion: '1.0.31',
        expires: iso(past),
        snapshotMeta: new MetaFile({
          version: snapshot.version,
          length: Buffer.byteLength(snapshot.body),
          hashes: { sha256: sha(snapshot.body) },
        }),
      }),
    );
    assert.match(await attempt(11, '1.2'), /TUF metadata refused.*expired/i);
  });

  test('a rolled-back snapshot is refused', async () => {
    // Device 12 trusts the current snapshot once it has checked the metadata.
    await upload('1.3');
    const view = await runRollout(
      {
        artifact: { name: 'firmware', version: '1.3' },
        selector: { idx: '12' },
        phases: '100%',
        gates: { maxFailures: 0, minSuccessPercent: 100 },
      },
      ['completed', 'aborted'],
    );
    assert.equal(view.state, 'completed');
    const trusted = await latest('snapshot');
    await upload('1.4');
    const older = await manager.store.artifacts.tufMetadata('snapshot', trusted.version - 1);
    assert.ok(older);
    const timestamp = await latest('timestamp');
    await publish(
      'timestamp',
      new Timestamp({
        version: timestamp.version + 1,
        specVersion: '1.0.31',
        expires: iso(Date.now() + 23 * 3_600_000),
        snapshotMeta: new MetaFile({
          version: older.version,
          length: Buffer.byteLength(older.body),
          hashes: { sha256: sha(older.body) },
        }),
      }),
    );
    // 1.4 is listed only in targets newer than the snapshot the forged timestamp points back to.
    const detail = await attempt(12, '1.4', '1.3');
    assert.match(detail, /TUF metadata refused/);
  });

  test('mixed-and-matched metadata is refused: a snapshot naming targets whose hash does not match', async () => {
    const targets = await latest('targets');
    const olderTargets = await manager.store.artifacts.tufMetadata('targets', targets.version - 1);
    assert.ok(olderTargets);
    const snapshot = await latest('snapshot');
    const expires = Date.now() + 23 * 3_600_000;
    const mixed = new Snapshot({
      version: snapshot.version + 1,
      specVersion: '1.0.31',
      expires: iso(expires),
      meta: {
        'targets.json': new MetaFile({
          version: targets.version,
          length: Buffer.byteLength(olderTargets.body),
          hashes: { sha256: sha(olderTargets.body) },
        }),
      },
    });
    const body = await publish('snapshot', mixed);
    const timestamp = await latest('timestamp');
    await publish(
      'timestamp',
      new Timestamp({
        version: timestamp.version + 1,
        specVersion: '1.0.31',
        expires: iso(expires),
        snapshotMeta: new MetaFile({
          version: mixed.version,
          length: Buffer.byteLength(body),
          hashes: { sha256: sha(body) },
        }),
      }),
    );
    assert.match(await attempt(13, '1.4'), /TUF metadata refused/);
  });
});

describe('on the device', () => {
  test('a download cut midway resumes where it broke after the agent restarts', async () => {
    const target = new URL(deviceUrl);
    const proxy = await FaultProxy.start({ target: { host: target.hostname, port: Number(target.port) } });
    const proxied = startFleetSimulation({
      devices: 1,
      firstIndex: 900,
      managerUrl: proxy.url,
      caFingerprint: manager.pki.caFingerprint,
      logger,
      dataRoot: join(dir, 'proxied'),
      reportIntervalMs: 60_000,
      updates: { pollMs: 200 },
      agentSettings: { requestTimeoutMs: 3000, retryInitialMs: 100, retryMaxMs: 400, shutdownGraceMs: 1000 },
      createEnrollmentToken: async (_index, labels) =>
        (await manager.services.tokens.create(operator, { ...labels, group: 'proxied' }, 600_000)).token,
    });
    try {
      assert.equal((await proxied.ready()).running, 1);
      const big = Buffer.alloc(4 * 1024 * 1024, 7);
      big.write('bigfw 2.0');
      const artifact = await upload('2.0', big, 'bigfw');
      proxy.cutAfter(1024 * 1024);
      const rollout = await createRollout({
        artifact: { name: 'bigfw', version: '2.0' },
        selector: { group: 'proxied' },
        phases: '100%',
        gates: { maxFailures: 0, minSuccessPercent: 100 },
      });
      await manager.services.rollouts.act(operator, rollout.id, 'start');
      const dataDir = proxied.devices[0]?.dataDir ?? '';
      const partial = join(dataDir, 'updates', 'downloads', `${artifact.sha256}.part`);
      const cutAt = await eventually('the download broke midway', async () => {
        if (proxy.mode !== 'cut') return undefined;
        const size = (await stat(partial).catch(() => undefined))?.size;
        return size !== undefined && size > 0 ? size : undefined;
      });
      assert.ok(cutAt < big.length);
      await proxied.restart(900);
      proxy.restore();
      const [row] = await eventually('the device committed', async () => {
        const devices = await rows(rollout.id);
        return devices[0]?.state === 'committed' ? devices : undefined;
      });
      assert.ok(row);
      const download = proxied.devices[0]?.agent?.updater?.record.download;
      const lastState = JSON.parse(await readFile(join(dataDir, 'updates', 'state.json'), 'utf8')) as {
        state: string;
      };
      assert.equal(lastState.state, 'committed');
      assert.equal(await proxied.devices[0]?.slots?.currentVersion('bigfw'), '2.0');
      // The verified file is whole, and the restarted agent did not start over.
      const downloaded = await readFile(join(dataDir, 'updates', 'downloads', artifact.sha256));
      assert.equal(createHash('sha256').update(downloaded).digest('hex'), artifact.sha256);
      assert.ok(
        download !== null && download !== undefined && download.resumedFrom > 0,
        `resumed: ${JSON.stringify(download)}`,
      );
      assert.equal(download.resumedFrom + download.fetchedBytes, big.length);
    } finally {
      await proxied.stop();
      await proxy.close();
    }
  });

  test('an agent killed during the install ends committed or rolled back, never in between', async () => {
    await upload('1.5');
    const index = 20;
    slotsOf(index).hangNextInstall();
    const rollout = await createRollout({
      artifact: { name: 'firmware', version: '1.5' },
      selector: { idx: String(index) },
      phases: '100%',
      gates: { maxFailures: 0, minSuccessPercent: 100 },
    });
    await manager.services.rollouts.act(operator, rollout.id, 'start');
    await eventually('the install is under way', async () => slotsOf(index).hung);
    await fleet.restart(index, { crash: true });
    const [row] = await eventually('the device finished', async () => {
      const devices = await rows(rollout.id);
      return devices[0] !== undefined && ['committed', 'rolled-back'].includes(devices[0].state)
        ? devices
        : undefined;
    });
    const running = await slotsOf(index).currentVersion('firmware');
    if (row?.state === 'committed') assert.equal(running, '1.5');
    else assert.equal(running, '1.0');
    const record = fleet.devices[index]?.agent?.updater?.record;
    assert.equal(record?.state, row?.state);
  });

  test('maintenance windows are respected: devices outside their window wait, the others install', async () => {
    await manager.services.policies.apply(
      operator,
      [
        {
          path: 'segments/sites.yaml',
          text: 'segments:\n  - id: open-sites\n    priority: 10\n    selector: { site: [site-0, site-1] }\n  - id: closed-sites\n    priority: 10\n    selector: { site: [site-2, site-3] }\n',
        },
        {
          path: 'windows/sites.yaml',
          text: 'windows:\n  - id: always\n    segments: [open-sites]\n    timeZone: UTC\n    cron: "* * * * *"\n    duration: 2m\n  - id: new-year\n    segments: [closed-sites]\n    timeZone: UTC\n    cron: "0 0 1 1 *"\n    duration: 1m\n',
        },
      ],
      'windows for the update test',
      undefined,
    );
    await upload('1.6');
    const request: CreateRolloutRequest = {
      artifact: { name: 'firmware', version: '1.6' },
      selector: { group: 'main' },
      phases: '100%',
      gates: { maxFailures: 0, minSuccessPercent: 100 },
      respectWindows: true,
    };
    const dryRun = (await manager.services.rollouts.create(
      operator,
      createRolloutRequestSchema.parse({ ...request, dryRun: true }),
    )) as RolloutDryRunView;
    const closed = [...indexOf.entries()]
      .filter(([, index]) => index < MAIN && index % 4 >= 2)
      .map(([id]) => id);
    assert.deepEqual([...dryRun.outsideWindow].sort(), closed.sort());
    const rollout = await createRollout(request);
    await manager.services.rollouts.act(operator, rollout.id, 'start');
    const open = await eventually('the devices inside their window committed', async () => {
      const devices = await rows(rollout.id);
      const committed = devices.filter((device) => device.state === 'committed');
      return committed.length === MAIN - closed.length ? devices : undefined;
    });
    for (const device of open) {
      const index = indexOf.get(device.deviceId) ?? -1;
      if (index % 4 >= 2) assert.equal(device.state, 'pending', `device ${index} is outside its window`);
    }
    assert.equal((await manager.services.rollouts.status(rollout.id)).state, 'running');
    await manager.services.rollouts.act(operator, rollout.id, 'abort', 'end of test');
  });
});

describe('operator actions', () => {
  test('rolling back a completed rollout returns its devices to the version they ran before', async () => {
    await upload('1.7');
    const index = 30;
    const before = await slotsOf(index).currentVersion('firmware');
    const view = await runRollout(
      {
        artifact: { name: 'firmware', version: '1.7' },
        selector: { idx: String(index) },
        phases: '100%',
        gates: { maxFailures: 0, minSuccessPercent: 100 },
      },
      ['completed', 'aborted'],
    );
    assert.equal(view.state, 'completed');
    assert.equal(await slotsOf(index).currentVersion('firmware'), '1.7');
    await manager.services.rollouts.act(operator, view.id, 'rollback', 'regression found in the field');
    const [row] = await eventually('the device rolled back', async () => {
      const devices = await rows(view.id);
      return devices[0]?.state === 'rolled-back' ? devices : undefined;
    });
    assert.equal(row?.state, 'rolled-back');
    assert.equal(await slotsOf(index).currentVersion('firmware'), before);
    assert.equal((await manager.services.rollouts.status(view.id)).state, 'rolled-back');
  });
});

describe('push', () => {
  test('devices that poll rarely are told over their push connection when their turn comes', async () => {
    const rare = startFleetSimulation({
      devices: 3,
      firstIndex: 800,
      managerUrl: deviceUrl,
      caFingerprint: manager.pki.caFingerprint,
      logger,
      dataRoot: join(dir, 'rare'),
      reportIntervalMs: 60_000,
      // Ten minutes between polls: only the push nudge can make this rollout finish in time.
      updates: { pollMs: 600_000 },
      agentSettings: { requestTimeoutMs: 5000, shutdownGraceMs: 1000 },
      createEnrollmentToken: async (_index, labels) =>
        (await manager.services.tokens.create(operator, { ...labels, group: 'rare' }, 600_000)).token,
    });
    try {
      assert.equal((await rare.ready()).running, 3);
      await eventually('every push connection is up', async () =>
        [...rare.agents].every((agent) => manager.deviceServer.push.isConnected(agent.deviceId ?? '')),
      );
      await upload('3.0', firmware('3.0'), 'rarefw');
      const view = await runRollout(
        {
          artifact: { name: 'rarefw', version: '3.0' },
          selector: { group: 'rare' },
          phases: 'canary:1,100%',
          gates: { maxFailures: 0, minSuccessPercent: 100 },
        },
        ['completed', 'aborted'],
        20_000,
      );
      assert.equal(view.state, 'completed');
    } finally {
      await rare.stop();
    }
  });
});
