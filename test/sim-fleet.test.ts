import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { type CliIo, runEdgeward } from '@edgeward/cli';
import { buildManager, type Manager, resolveManagerConfig } from '@edgeward/manager';
import { FaultProxy, type FleetSimulation, startFleetSimulation } from '@edgeward/sim';
import pino from 'pino';

/**
 * The simulator against a real manager (SQLite, real mTLS on port 0): many real agents in one process,
 * each enrolled with its own token and key, and a fault-injecting proxy between an agent and the manager.
 */

const logger = pino({ level: 'silent' });
const operator = { id: 'op-test', name: 'test', role: 'admin' } as const;

let dir: string;
let manager: Manager;
let deviceUrl: string;
let operatorUrl: string;
const simulations: FleetSimulation[] = [];

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'edgeward-sim-fleet-'));
  const config = resolveManagerConfig([
    {
      source: 'test',
      values: {
        dataDir: join(dir, 'manager'),
        host: '127.0.0.1',
        devicePort: 0,
        operatorPort: 0,
        logLevel: 'silent',
      },
    },
  ]);
  manager = await buildManager(config, { logger });
  ({ deviceUrl, operatorUrl } = await manager.listen());
});

after(async () => {
  await Promise.all(simulations.map((simulation) => simulation.stop()));
  await manager?.close();
  await rm(dir, { recursive: true, force: true });
});

async function createToken(_index: number, labels: Record<string, string>): Promise<string> {
  return (await manager.services.tokens.create(operator, labels, 600_000)).token;
}

function simulate(options: Omit<Parameters<typeof startFleetSimulation>[0], 'caFingerprint' | 'logger'>) {
  const simulation = startFleetSimulation({ caFingerprint: manager.pki.caFingerprint, logger, ...options });
  simulations.push(simulation);
  return simulation;
}

/** Polls `check` until it returns true; fails with `what` after `timeoutMs`. */
async function eventually(
  what: string,
  check: () => Promise<boolean> | boolean,
  timeoutMs = 30_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`timed out after ${timeoutMs} ms waiting until ${what}`);
    await sleep(100);
  }
}

async function devicesLabelled(labels: Record<string, string>) {
  return (await manager.services.devices.list({ labels }, 10_000)).devices;
}

test('200 simulated agents enroll with their own certificates, report inventory, and their drift becomes change records', async () => {
  const simulation = simulate({
    devices: 200,
    managerUrl: deviceUrl,
    createEnrollmentToken: createToken,
    dataRoot: join(dir, 'fleet'),
    labels: { site: 'plant-a' },
    reportIntervalMs: 3000,
    inventoryIntervalMs: 1000,
  });

  const ready = await simulation.ready();
  assert.equal(
    ready.failed,
    0,
    JSON.stringify(ready.devices.filter((device) => device.error !== undefined).slice(0, 3)),
  );
  assert.equal(ready.running, 200);
  const ids = ready.devices.map((device) => device.deviceId);
  assert.equal(new Set(ids).size, 200, 'every device has its own id');

  const registered = await devicesLabelled({ site: 'plant-a', sim: 'true' });
  assert.equal(registered.length, 200);
  const serials = new Set<string>();
  for (const device of registered) {
    const certificates = await manager.store.certificates.listByDevice(device.id);
    assert.equal(certificates.length, 1, `${device.id} holds one certificate`);
    for (const certificate of certificates) serials.add(certificate.serial);
  }
  assert.equal(serials.size, 200, '200 distinct certificate serials');

  await eventually('every device reported its inventory', async () =>
    (await devicesLabelled({ site: 'plant-a' })).every(
      (device) => device.inventoryVersion >= 1 && device.lastSeenAt !== null,
    ),
  );
  const names = new Set(registered.map((device) => device.name));
  assert.ok(
    names.has('sim-00000') && names.has('sim-00199'),
    'devices are named after their synthetic hostnames',
  );
  // The manager stores an inventory before its reply reaches the agent: wait for the agents' side too.
  await eventually('every agent holds its inventory version', () => simulation.stats().reported === 200);

  const drifted = [3, 50, 120];
  assert.equal(simulation.drift(drifted), 3);
  const idOf = (index: number) => ready.devices.find((device) => device.index === index)?.deviceId ?? '';
  await eventually('the drifted devices sent their changes', async () => {
    const versions = await Promise.all(
      drifted.map(async (index) => (await manager.services.devices.show(idOf(index))).inventoryVersion),
    );
    return versions.every((version) => version >= 2);
  });
  for (const index of drifted) {
    const changes = await manager.services.devices.history(idOf(index), { limit: 50 });
    assert.equal(changes.length, 1, `${JSON.stringify(changes)}`);
    assert.equal(changes[0]?.version, 2);
    assert.equal(changes[0]?.drift, true);
  }
  const untouched = await manager.services.devices.show(idOf(4));
  assert.equal(untouched.inventoryVersion, 1, 'a device that did not drift keeps its version');

  const stopping = Date.now();
  await simulation.stop();
  assert.ok(Date.now() - stopping < 10_000, 'every agent stops within its grace period');
  assert.ok(simulation.agents.every((agent) => agent.state === 'stopped'));
  assert.equal(simulation.stats().running, 0);
});

test('a simulation started again on the same data root reuses its enrollments instead of taking tokens', async () => {
  const dataRoot = join(dir, 'rerun');
  const options = { devices: 3, firstIndex: 500, managerUrl: deviceUrl, dataRoot, reportIntervalMs: 1000 };
  const first = simulate({ ...options, createEnrollmentToken: createToken });
  const firstIds = (await first.ready()).devices.map((device) => device.deviceId);
  await first.stop();

  const second = simulate({
    ...options,
    createEnrollmentToken: () => Promise.reject(new Error('no token should be needed')),
  });
  const ready = await second.ready();
  assert.equal(ready.running, 3);
  assert.deepEqual(
    ready.devices.map((device) => device.deviceId),
    firstIds,
  );
  await second.stop();
});

test('an agent cut off from the manager by a FaultProxy retries, and reaches the manager again after restore()', async () => {
  const target = new URL(deviceUrl);
  const proxy = await FaultProxy.start({ target: { host: target.hostname, port: Number(target.port) } });
  try {
    const simulation = simulate({
      devices: 1,
      firstIndex: 900,
      managerUrl: proxy.url,
      createEnrollmentToken: createToken,
      dataRoot: join(dir, 'faults'),
      reportIntervalMs: 1000,
      agentSettings: { retryInitialMs: 100, retryMaxMs: 400, requestTimeoutMs: 2000, shutdownGraceMs: 2000 },
    });
    const ready = await simulation.ready();
    assert.equal(ready.running, 1);
    const agent = simulation.agents[0];
    assert.ok(agent !== undefined);
    await eventually('the agent reached the manager', () => agent.lastContactAt !== null);

    proxy.cut();
    const cutAt = Date.now();
    await sleep(2500);
    const lastBeforeRestore = agent.lastContactAt ?? 0;
    assert.ok(lastBeforeRestore <= cutAt + 500, 'no contact gets through the cut');
    assert.ok(proxy.refusedCount >= 3, `the agent retried (${proxy.refusedCount} connections refused)`);
    assert.equal(agent.state, 'running', 'an unreachable manager does not fail the agent');

    proxy.restore();
    const restoredAt = Date.now();
    await eventually(
      'the agent made contact after restore()',
      () => (agent.lastContactAt ?? 0) >= restoredAt,
      5000,
    );
    const device = await manager.services.devices.show(agent.deviceId ?? '');
    assert.ok((device.lastSeenAt ?? 0) >= restoredAt, 'the manager saw the device again');

    await simulation.stop();
    assert.equal(agent.state, 'stopped');
  } finally {
    await proxy.close();
  }
});

test('edgeward sim creates a token per device through the operator API, runs the fleet for --duration and prints a summary', async () => {
  const adminToken = manager.firstStart?.adminToken.token;
  assert.ok(adminToken !== undefined, 'the manager made its first admin');
  const out: string[] = [];
  const err: string[] = [];
  const io: CliIo = {
    out: (text) => out.push(text),
    err: (text) => err.push(text),
    env: {},
    isTty: false,
    stopRequested: new Promise(() => {}),
  };
  const code = await runEdgeward(
    [
      'sim',
      '--devices',
      '4',
      '--manager',
      deviceUrl,
      '--ca-fingerprint',
      manager.pki.caFingerprint,
      '--api',
      operatorUrl,
      '--token',
      adminToken,
      '--ca-file',
      join(manager.config.dataDir, 'pki', 'root-ca.crt'),
      '--label',
      'site=cli-lab',
      '--report-interval',
      '1s',
      '--inventory-interval',
      '1s',
      '--duration',
      '1500ms',
      '--log-level',
      'silent',
      '--json',
    ],
    io,
  );
  assert.equal(code, 0, err.join('\n'));
  const summary = JSON.parse(out.join('\n')) as {
    devices: number;
    enrolled: number;
    running: number;
    failed: number;
    stoppedBy: string;
  };
  assert.deepEqual(
    {
      devices: summary.devices,
      enrolled: summary.enrolled,
      running: summary.running,
      failed: summary.failed,
      stoppedBy: summary.stoppedBy,
    },
    { devices: 4, enrolled: 4, running: 4, failed: 0, stoppedBy: 'duration' },
  );
  assert.ok(
    err.some((line) => line.startsWith('started in')),
    err.join('\n'),
  );
  const registered = await devicesLabelled({ site: 'cli-lab', sim: 'true' });
  assert.equal(registered.length, 4);
  const tokens = await manager.services.tokens.list(true);
  assert.equal(tokens.filter((token) => token.labels.site === 'cli-lab' && token.state === 'used').length, 4);
});

test('edgeward sim --help shows an example', async () => {
  const out: string[] = [];
  const io: CliIo = {
    out: (text) => out.push(text),
    err: () => {},
    env: {},
    isTty: false,
    stopRequested: new Promise(() => {}),
  };
  assert.equal(await runEdgeward(['sim', '--help'], io), 0);
  const help = out.join('');
  assert.match(help, /--devices <n>/);
  assert.match(help, /Example:\n\s+\$ edgeward sim --devices/);
});
