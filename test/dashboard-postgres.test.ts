/**
 * The dashboard's live stream across replicas: two managers on one PostgreSQL schema, a dashboard
 * listening to one of them, an operator acting on the other. The dashboard must hear of it.
 */
import assert from 'node:assert/strict';
import { request } from 'node:https';
import { after, before, test } from 'node:test';
import type { LiveUpdate } from '@edgeward/core';
import { buildManager, type Manager, resolveManagerConfig } from '@edgeward/manager';
import pg from 'pg';
import { httpsJson } from './support/https-json.ts';
import {
  eventually,
  ShiftableClock,
  silentLogger,
  startTestManager,
  type TestManager,
} from './support/test-manager.ts';

const url = process.env.EDGEWARD_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const schema = `Ew Live ${process.pid}-${Date.now()}`;

let replicaA: TestManager;
let replicaB: Manager;
let replicaBOperatorUrl: string;

before(async () => {
  replicaA = await startTestManager({ database: url, databaseSchema: schema });
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
  await replicaA.manager.store.devices.create({
    id: 'dev-live-1',
    name: 'gateway-1',
    labels: {},
    enrolledAt: Date.now(),
    enrollmentTokenId: null,
    lastSeenAt: Date.now(),
    reportIntervalMs: 60_000,
    agentVersion: '0.1.0',
    inventoryVersion: 0,
    revokedAt: null,
  });
});

after(async () => {
  await replicaB?.close();
  // Last: it removes the shared data directory.
  await replicaA?.close();
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  await client.end();
});

test('a dashboard on one replica hears of a command issued on another, once', async () => {
  const updates: LiveUpdate[] = [];
  const stream = request(new URL('/api/v1/stream', replicaBOperatorUrl), {
    ca: replicaA.manager.pki.rootCaPem,
    agent: false,
    headers: { authorization: `Bearer ${replicaA.adminToken}`, accept: 'text/event-stream' },
  });
  stream.on('response', (response) => {
    let buffer = '';
    response.on('data', (chunk: Buffer) => {
      buffer += chunk.toString('utf8');
      for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
        const data = buffer
          .slice(0, end)
          .split('\n')
          .find((line) => line.startsWith('data: '));
        if (data !== undefined) updates.push(JSON.parse(data.slice('data: '.length)) as LiveUpdate);
        buffer = buffer.slice(end + 2);
      }
    });
  });
  stream.on('error', () => {});
  stream.end();
  try {
    await eventually(() => updates.find((update) => update.topic === 'fleet'), 'the stream open');
    const issued = await httpsJson<{ id: string }>(
      new URL('/api/v1/devices/dev-live-1/isolate', replicaA.operatorUrl),
      {
        method: 'POST',
        ca: replicaA.manager.pki.rootCaPem,
        token: replicaA.adminToken,
        body: { reason: 'across replicas' },
      },
    );
    assert.equal(issued.status, 201);
    await eventually(
      () => updates.find((update) => update.topic === 'devices' && update.deviceIds.includes('dev-live-1')),
      'the device update on the other replica',
    );
    const commands = updates.filter(
      (update) => update.topic === 'commands' && update.commandId === issued.body.id,
    );
    assert.equal(commands.length, 1);
  } finally {
    stream.destroy();
  }
});
