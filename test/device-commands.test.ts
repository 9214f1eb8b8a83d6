import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Agent, type DeviceCommandHandler, enrollAgent, resolveAgentConfig } from '@edgeward/agent';
import type { DeviceCommand, DeviceCommandListView, DeviceIsolationView } from '@edgeward/core';
import WebSocket from 'ws';
import { runEdgeward } from './support/cli-process.ts';
import { fixtureInventory } from './support/fixture-inventory.ts';
import { httpsJson } from './support/https-json.ts';
import { eventually, silentLogger, startTestManager, type TestManager } from './support/test-manager.ts';

let hub: TestManager;
let work: string;
const systemOperator = { id: 'test', name: 'test', role: 'admin' as const };
const agents: Agent[] = [];

before(async () => {
  hub = await startTestManager();
  work = await mkdtemp(join(tmpdir(), 'edgeward-commands-'));
});
after(async () => {
  await Promise.allSettled(agents.map((agent) => agent.stop(1000)));
  await hub.close();
  await rm(work, { recursive: true, force: true });
});

/** Stands in for the isolation enforcer: records what it was asked and claims to have done it. */
class FakeIsolation implements DeviceCommandHandler {
  readonly handled: DeviceCommand[] = [];
  async handle(command: DeviceCommand) {
    this.handled.push(command);
    const isolated = command.kind === 'isolate';
    return {
      status: 'done' as const,
      detail: isolated ? 'isolated' : 'released',
      state: {
        isolated,
        since: isolated ? command.createdAt : null,
        releaseAt: null,
        reason: command.params.reason,
      },
    };
  }
}

let agentCount = 0;
async function startAgent(values: Record<string, unknown> = {}, ownIsolation = false) {
  const dataDir = join(work, `agent-${++agentCount}`);
  const hostname = `host-${agentCount}`;
  const token = (await hub.manager.services.tokens.create(systemOperator, {}, 3_600_000)).token;
  const enrollment = await enrollAgent({
    managerUrl: hub.deviceUrl,
    token,
    caFingerprint: hub.manager.pki.caFingerprint,
    dataDir,
    hostname,
    agentVersion: 'test',
    reportIntervalMs: 60_000,
    timeoutMs: 5000,
  });
  const isolation = new FakeIsolation();
  const agent = new Agent({
    config: resolveAgentConfig([
      {
        source: 'test',
        values: {
          dataDir,
          // A heartbeat a minute: push delivery must not wait for one.
          reportIntervalMs: 60_000,
          inventoryIntervalMs: 3_600_000,
          policyPollMs: 3_600_000,
          retryInitialMs: 100,
          retryMaxMs: 1000,
          requestTimeoutMs: 5000,
          shutdownGraceMs: 2000,
          ...values,
        },
      },
    ]),
    logger: silentLogger,
    agentVersion: 'test',
    collectInventory: async () => fixtureInventory(hostname),
    eventSources: 'none',
    ...(ownIsolation ? {} : { commandHandlers: { isolate: isolation, release: isolation } }),
  });
  agents.push(agent);
  await agent.start();
  return { agent, isolation, deviceId: enrollment.deviceId, dataDir };
}

function call<T = Record<string, unknown>>(
  method: string,
  path: string,
  token: string,
  body?: unknown,
): Promise<{ status: number; body: T & { error?: { code: string } } }> {
  return httpsJson<T>(new URL(path, hub.operatorUrl), { method, ca: hub.manager.pki.rootCaPem, token, body });
}

const admin = () => hub.adminToken;
const commandsOf = async (deviceId: string) =>
  (await call<DeviceCommandListView>('GET', `/api/v1/devices/${deviceId}/commands`, admin())).body.commands;
const isolationOf = async (deviceId: string) =>
  (await call<{ isolation: DeviceIsolationView }>('GET', `/api/v1/devices/${deviceId}`, admin())).body
    .isolation;

describe('commands to a connected agent', () => {
  test('an isolate command reaches a connected agent over push without waiting for a heartbeat', async () => {
    const { isolation, deviceId } = await startAgent();
    await eventually(
      () => hub.manager.deviceServer.push.isConnected(deviceId),
      'the push connection',
      10_000,
    );

    const issued = await call('POST', `/api/v1/devices/${deviceId}/isolate`, admin(), {
      reason: 'beaconing to a known C2',
      allow: [{ name: 'siem', address: '10.0.0.5', port: 514, protocol: 'udp' }],
      releaseAfterMs: 7_200_000,
    });
    assert.equal(issued.status, 201, JSON.stringify(issued.body));
    assert.equal(issued.body.status, 'sent');
    const issuedAt = performance.now();
    // The next heartbeat is a minute away: only the push connection can deliver this in time.
    const handled = await eventually(() => isolation.handled[0], 'the isolate command', 5000);
    const deliveryMs = performance.now() - issuedAt;
    assert.equal(handled.id, issued.body.id);
    assert.equal(handled.kind, 'isolate');
    assert.deepEqual(handled.params, {
      reason: 'beaconing to a known C2',
      allow: [{ name: 'siem', address: '10.0.0.5', port: 514, protocol: 'udp', direction: 'out' }],
      releaseAfterMs: 7_200_000,
      allowDns: false,
    });
    assert.ok(deliveryMs < 5000, `delivered in ${deliveryMs} ms`);

    const [stored] = await eventually(async () => {
      const commands = await commandsOf(deviceId);
      return commands[0]?.status === 'done' ? commands : undefined;
    }, 'the stored result');
    assert.equal(stored?.result?.detail, 'isolated');
    const state = await isolationOf(deviceId);
    assert.equal(state.desired, 'isolated');
    assert.equal(state.desiredBy, 'admin');
    assert.equal(state.reported?.isolated, true);
    assert.equal(isolation.handled.length, 1, 'executed once');
  });

  test('a command for a device without a push connection waits as pending', async () => {
    const { isolation, deviceId, agent } = await startAgent();
    await eventually(
      () => hub.manager.deviceServer.push.isConnected(deviceId),
      'the push connection',
      10_000,
    );
    await agent.stop(1000);
    await eventually(() => !hub.manager.deviceServer.push.isConnected(deviceId), 'the dropped connection');
    const issued = await call('POST', `/api/v1/devices/${deviceId}/isolate`, admin(), { reason: 'x' });
    assert.equal(issued.body.status, 'pending', 'nobody to push it to');
    assert.equal(isolation.handled.length, 0);
  });

  test('a viewer cannot isolate or release; an unknown or revoked device cannot be isolated', async () => {
    const viewer = await call<{ token: string }>('POST', '/api/v1/operators', admin(), {
      name: 'vic',
      role: 'viewer',
    });
    const { deviceId } = await startAgent({ pushEnabled: false });
    for (const action of ['isolate', 'release']) {
      const refused = await call('POST', `/api/v1/devices/${deviceId}/${action}`, viewer.body.token, {
        reason: 'x',
      });
      assert.equal(refused.status, 403);
      assert.equal(refused.body.error?.code, 'EW_OPERATOR_ROLE_INSUFFICIENT');
    }
    assert.equal((await call('GET', `/api/v1/devices/${deviceId}/commands`, viewer.body.token)).status, 200);
    const missing = await call('POST', '/api/v1/devices/dev-nope/isolate', admin(), { reason: 'x' });
    assert.equal(missing.body.error?.code, 'EW_DEVICE_NOT_FOUND');
    const noReason = await call('POST', `/api/v1/devices/${deviceId}/isolate`, admin(), {});
    assert.equal(noReason.status, 400);
    assert.deepEqual(await commandsOf(deviceId), []);
  });

  test('every isolate and release is an operator action in the audit chain', async () => {
    const { deviceId } = await startAgent({ pushEnabled: false });
    await call('POST', `/api/v1/devices/${deviceId}/isolate`, admin(), { reason: 'audit me' });
    await call('POST', `/api/v1/devices/${deviceId}/release`, admin(), { reason: 'done' });
    const { body } = await call<{ entries: { subject: string; details: { action: string } }[] }>(
      'GET',
      '/api/v1/audit/entries?limit=50',
      admin(),
    );
    const actions = body.entries
      .filter((entry) => entry.subject === deviceId)
      .map((entry) => entry.details.action);
    assert.ok(actions.includes('device.isolate'), JSON.stringify(actions));
    assert.ok(actions.includes('device.release'), JSON.stringify(actions));
    const verified = await call<{ ok: boolean }>('GET', '/api/v1/audit/verify', admin());
    assert.equal(verified.body.ok, true);
  });
});

describe('commands without a push connection', () => {
  test('an agent without push gets the command with its next heartbeat reply, and executes it once', async () => {
    const { isolation, deviceId, agent } = await startAgent({ pushEnabled: false, reportIntervalMs: 1000 });
    await eventually(() => agent.lastContactAt, 'the first contact');
    assert.equal(hub.manager.deviceServer.push.isConnected(deviceId), false);
    const issued = await call('POST', `/api/v1/devices/${deviceId}/isolate`, admin(), {
      reason: 'slow path',
    });
    assert.equal(issued.body.status, 'pending');
    await eventually(() => isolation.handled[0], 'the command with a heartbeat reply', 10_000);
    await eventually(async () => (await commandsOf(deviceId))[0]?.status === 'done', 'the result');
    // Later heartbeats carry no open command, and nothing runs twice.
    await new Promise((resolve) => setTimeout(resolve, 2500));
    assert.equal(isolation.handled.length, 1);
  });

  test('a command offered again after a restart does not run again', async () => {
    const first = await startAgent({ reportIntervalMs: 60_000 });
    await eventually(
      () => hub.manager.deviceServer.push.isConnected(first.deviceId),
      'the push connection',
      10_000,
    );
    await call('POST', `/api/v1/devices/${first.deviceId}/isolate`, admin(), { reason: 'once' });
    await eventually(async () => (await commandsOf(first.deviceId))[0]?.status === 'done', 'the result');
    const state = JSON.parse(await readFile(join(first.dataDir, 'commands.json'), 'utf8')) as {
      executed: string[];
    };
    assert.equal(state.executed.length, 1);
    await first.agent.stop(1000);
    // Offer the same command to a fresh agent on the same data directory, as a re-delivery would.
    const [command] = await commandsOf(first.deviceId);
    assert.ok(command);
    const { CommandDispatcher } = await import('@edgeward/agent');
    const reports: unknown[] = [];
    const handled: string[] = [];
    const dispatcher = new CommandDispatcher({
      stateFile: join(first.dataDir, 'commands.json'),
      handlers: {
        isolate: {
          async handle(c) {
            handled.push(c.id);
            return {
              status: 'done',
              detail: '',
              state: { isolated: true, since: 1, releaseAt: null, reason: '' },
            };
          },
        },
      },
      report: async (result) => {
        reports.push(result);
      },
      now: () => Date.now(),
      log: silentLogger,
    });
    const { status: _s, sentAt: _a, acknowledgedAt: _b, result: _r, ...plain } = command;
    await dispatcher.offer([plain as DeviceCommand]);
    assert.deepEqual(handled, []);
  });
});

describe('revocation and the CLI', () => {
  test('revoking a device closes its push connection and it cannot open another', async () => {
    const { deviceId, dataDir } = await startAgent();
    await eventually(
      () => hub.manager.deviceServer.push.isConnected(deviceId),
      'the push connection',
      10_000,
    );
    await hub.manager.services.devices.revoke(systemOperator, deviceId, 'stolen');
    await eventually(() => !hub.manager.deviceServer.push.isConnected(deviceId), 'the closed connection');

    const read = (name: string) => readFile(join(dataDir, name), 'utf8');
    const [key, cert, chain, ca] = await Promise.all([
      read('key.pem'),
      read('cert.pem'),
      read('chain.pem'),
      read('ca.pem'),
    ]);
    const url = new URL('/v1/push', hub.deviceUrl);
    url.protocol = 'wss:';
    const outcome = await new Promise<string>((resolve) => {
      const socket = new WebSocket(url, { ca: `${ca}${chain}`, key, cert: `${cert}${chain}` });
      socket.on('open', () => {
        socket.terminate();
        resolve('open');
      });
      socket.on('unexpected-response', (_request, response) => resolve(`http ${response.statusCode}`));
      socket.on('error', (error) => resolve(`error ${error.message}`));
    });
    assert.notEqual(outcome, 'open');
    assert.equal(hub.manager.deviceServer.push.isConnected(deviceId), false);
    const refused = await call('POST', `/api/v1/devices/${deviceId}/isolate`, admin(), { reason: 'x' });
    assert.equal(refused.body.error?.code, 'EW_DEVICE_REVOKED');
  });

  test('edgeward devices isolate, release, commands and show', async () => {
    const { isolation, deviceId } = await startAgent();
    await eventually(
      () => hub.manager.deviceServer.push.isConnected(deviceId),
      'the push connection',
      10_000,
    );
    const api = [
      '--api',
      hub.operatorUrl,
      '--token',
      admin(),
      '--ca-file',
      join(hub.dir, 'pki', 'root-ca.crt'),
    ];
    const isolated = await runEdgeward([
      'devices',
      'isolate',
      deviceId,
      '--reason',
      'ransomware note found',
      '--allow',
      'siem=10.0.0.5:514/udp',
      '--allow',
      'jump=[2001:db8::7]:22/tcp',
      '--release-after',
      '2h',
      ...api,
    ]);
    assert.equal(isolated.code, 0, isolated.stderr);
    assert.match(isolated.stdout, /sent over its push connection/);
    const handled = await eventually(() => isolation.handled[0], 'the isolate command', 5000);
    assert.deepEqual(handled.kind === 'isolate' ? handled.params.allow : undefined, [
      { name: 'siem', address: '10.0.0.5', port: 514, protocol: 'udp', direction: 'out' },
      { name: 'jump', address: '2001:db8::7', port: 22, protocol: 'tcp', direction: 'out' },
    ]);
    assert.equal(handled.kind === 'isolate' ? handled.params.releaseAfterMs : 0, 7_200_000);
    await eventually(async () => (await commandsOf(deviceId))[0]?.status === 'done', 'the result');
    const shown = await runEdgeward(['devices', 'show', deviceId, ...api]);
    assert.equal(shown.code, 0, shown.stderr);
    assert.match(
      shown.stdout,
      /isolation: +isolated by admin .*ransomware note found.*device reports isolated/,
    );

    const released = await runEdgeward(['devices', 'release', deviceId, '--reason', 'reimaged', ...api]);
    assert.equal(released.code, 0, released.stderr);
    await eventually(() => isolation.handled[1], 'the release command', 5000);
    await eventually(async () => (await commandsOf(deviceId))[0]?.status === 'done', 'the release result');
    const listed = await runEdgeward(['devices', 'commands', deviceId, ...api]);
    assert.equal(listed.code, 0, listed.stderr);
    assert.match(listed.stdout, /release\s+done\s+admin/);
    assert.match(listed.stdout, /isolate\s+done\s+admin/);
    const state = await isolationOf(deviceId);
    assert.equal(state.desired, 'released');
    assert.equal(state.reported?.isolated, false);

    const bad = await runEdgeward([
      'devices',
      'isolate',
      deviceId,
      '--reason',
      'x',
      '--allow',
      'nope',
      ...api,
    ]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /NAME=ADDR/);
    const noReason = await runEdgeward(['devices', 'isolate', deviceId, ...api]);
    assert.notEqual(noReason.code, 0);
  });
});

describe('the isolation manager of the agent', () => {
  test('report-only isolation carries out isolate and release, keeps the manager in its rules, and reports', async () => {
    const { deviceId, dataDir } = await startAgent({ isolation: 'report-only' }, true);
    await eventually(
      () => hub.manager.deviceServer.push.isConnected(deviceId),
      'the push connection',
      10_000,
    );
    const issued = await call('POST', `/api/v1/devices/${deviceId}/isolate`, admin(), {
      reason: 'suspected compromise',
      allow: [{ name: 'scada', address: '10.20.0.7', port: 502, protocol: 'tcp', direction: 'both' }],
    });
    assert.equal(issued.status, 201, JSON.stringify(issued.body));
    const [done] = await eventually(async () => {
      const commands = await commandsOf(deviceId);
      return commands[0]?.status === 'done' ? commands : undefined;
    }, 'the isolate result');
    assert.match(done?.result?.detail ?? '', /report-only/);
    assert.equal((await isolationOf(deviceId)).reported?.isolated, true);
    const saved = JSON.parse(await readFile(join(dataDir, 'isolation.json'), 'utf8')) as {
      isolation: { spec: { resolvedManagerAddresses: string[]; allow: { name: string }[] } } | null;
    };
    assert.deepEqual(saved.isolation?.spec.resolvedManagerAddresses, ['127.0.0.1']);
    assert.deepEqual(
      saved.isolation?.spec.allow.map((entry) => entry.name),
      ['scada'],
    );

    const released = await call('POST', `/api/v1/devices/${deviceId}/release`, admin(), { reason: 'clean' });
    assert.equal(released.status, 201, JSON.stringify(released.body));
    await eventually(async () => (await isolationOf(deviceId)).reported?.isolated === false, 'the release');
  });
});
