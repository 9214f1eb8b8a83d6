/**
 * Device commands across replicas: two managers on one PostgreSQL schema, the device's push connection on
 * one of them, the operator on the other. The command must still be pushed at once, not wait for the
 * device's next heartbeat.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Agent, type DeviceCommandHandler, enrollAgent, resolveAgentConfig } from '@edgeward/agent';
import type { DeviceCommand, DeviceCommandListView } from '@edgeward/core';
import { buildManager, type Manager, resolveManagerConfig } from '@edgeward/manager';
import pg from 'pg';
import { fixtureInventory } from './support/fixture-inventory.ts';
import { httpsJson } from './support/https-json.ts';
import {
  eventually,
  ShiftableClock,
  silentLogger,
  startTestManager,
  type TestManager,
} from './support/test-manager.ts';

const url = process.env.EDGEWARD_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const schema = `Ew Commands ${process.pid}-${Date.now()}`;
const operator = { id: 'test', name: 'test', role: 'admin' as const };

let replicaA: TestManager;
let replicaB: Manager;
let replicaBOperatorUrl: string;
let work: string;
let agent: Agent | undefined;

before(async () => {
  replicaA = await startTestManager({ database: url, databaseSchema: schema });
  // Replicas share the data directory (keys) and the database.
  replicaB = await buildManager(
    resolveManagerConfig([
      {
        source: 'test',
        values: {
          dataDir: replicaA.dir,
          host: '127.0.0.1',
          devicePort: 0,
          operatorPort: 0,
          database: url,
          databaseSchema: schema,
        },
      },
    ]),
    { logger: silentLogger, clock: new ShiftableClock() },
  );
  replicaBOperatorUrl = (await replicaB.listen()).operatorUrl;
  work = await mkdtemp(join(tmpdir(), 'edgeward-commands-pg-'));
});

after(async () => {
  await agent?.stop(1000);
  await replicaB?.close();
  // Last: it removes the shared data directory.
  await replicaA?.close();
  await rm(work, { recursive: true, force: true });
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  await client.end();
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

function callReplicaB<T>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> {
  return httpsJson<T>(new URL(path, replicaBOperatorUrl), {
    method,
    ca: replicaB.pki.rootCaPem,
    token: replicaA.adminToken,
    body,
  });
}

test('a command issued on one replica reaches the agent pushed from another within 5 s', async () => {
  const dataDir = join(work, 'agent');
  const token = (await replicaA.manager.services.tokens.create(operator, {}, 3_600_000)).token;
  const { deviceId } = await enrollAgent({
    managerUrl: replicaA.deviceUrl,
    token,
    caFingerprint: replicaA.manager.pki.caFingerprint,
    dataDir,
    hostname: 'replicated-host',
    agentVersion: 'test',
    reportIntervalMs: 60_000,
    timeoutMs: 5000,
  });
  const isolation = new FakeIsolation();
  agent = new Agent({
    config: resolveAgentConfig([
      {
        source: 'test',
        values: {
          dataDir,
          // A heartbeat a minute: only the push connection can deliver within the test's 5 s.
          reportIntervalMs: 60_000,
          inventoryIntervalMs: 3_600_000,
          policyPollMs: 3_600_000,
          retryInitialMs: 100,
          retryMaxMs: 1000,
          requestTimeoutMs: 5000,
          shutdownGraceMs: 2000,
        },
      },
    ]),
    logger: silentLogger,
    agentVersion: 'test',
    collectInventory: async () => fixtureInventory('replicated-host'),
    eventSources: 'none',
    commandHandlers: { isolate: isolation, release: isolation },
  });
  await agent.start();
  await eventually(
    () => replicaA.manager.deviceServer.push.isConnected(deviceId),
    'the push connection to replica A',
    10_000,
  );
  assert.equal(replicaB.deviceServer.push.isConnected(deviceId), false, 'replica B holds no connection');

  const issuedAt = performance.now();
  const issued = await callReplicaB<{ id: string; status: string }>(
    'POST',
    `/api/v1/devices/${deviceId}/isolate`,
    { reason: 'lateral movement seen from it' },
  );
  assert.equal(issued.status, 201, JSON.stringify(issued.body));
  assert.equal(issued.body.status, 'pending', 'replica B could not push it itself');
  const isolate = await eventually(() => isolation.handled[0], 'the isolate command on the agent', 5000);
  const isolateMs = performance.now() - issuedAt;
  assert.equal(isolate.id, issued.body.id);
  assert.equal(isolate.kind, 'isolate');
  assert.ok(isolateMs < 5000, `delivered in ${isolateMs} ms`);

  // The same through replica B's service, for a release.
  const releasedAt = performance.now();
  const release = await replicaB.services.commands.release(operator, deviceId, { reason: 'cleaned' });
  assert.equal(release.status, 'pending');
  const released = await eventually(() => isolation.handled[1], 'the release command on the agent', 5000);
  assert.equal(released.id, release.id);
  assert.ok(performance.now() - releasedAt < 5000);

  const commands = await eventually(async () => {
    const listed = await callReplicaB<DeviceCommandListView>('GET', `/api/v1/devices/${deviceId}/commands`);
    return listed.body.commands.every((command) => command.status === 'done')
      ? listed.body.commands
      : undefined;
  }, 'both results stored');
  assert.deepEqual(
    commands.map((command) => [command.kind, command.result?.detail]),
    [
      ['release', 'released'],
      ['isolate', 'isolated'],
    ],
  );
  assert.equal(isolation.handled.length, 2, 'each executed once');
});
