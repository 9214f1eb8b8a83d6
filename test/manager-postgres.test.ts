import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { enrollAgent, ManagerClient } from '@edgeward/agent';
import { PROTOCOL_VERSION } from '@edgeward/core';
import pg from 'pg';
import { fixtureInventory } from './support/fixture-inventory.ts';
import { startTestManager, type TestManager } from './support/test-manager.ts';

/** The same manager on PostgreSQL, in a fresh, oddly named schema, as a hub that outgrew SQLite runs. */
const url = process.env.EDGEWARD_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const schema = `Ew Manager ${process.pid}-${Date.now()}`;
let hub: TestManager;
let work: string;

before(async () => {
  hub = await startTestManager({ database: url, databaseSchema: schema });
  work = await mkdtemp(join(tmpdir(), 'edgeward-pg-agent-'));
});

after(async () => {
  await hub?.close();
  await rm(work, { recursive: true, force: true });
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  await client.end();
});

test('a hub on PostgreSQL enrolls a device, stores its inventory and lists it', async () => {
  assert.equal(hub.manager.store.engine, 'postgres');
  const token = await hub.manager.services.tokens.create(
    { id: 't', name: 't', role: 'admin' },
    { site: 'pg' },
    60_000,
  );
  const dataDir = join(work, 'agent');
  const enrollment = await enrollAgent({
    managerUrl: hub.deviceUrl,
    token: token.token,
    caFingerprint: hub.manager.pki.caFingerprint,
    dataDir,
    hostname: 'pg-device',
    agentVersion: 'test',
    reportIntervalMs: 1000,
    timeoutMs: 5000,
  });
  const { AgentFiles } = await import('@edgeward/agent');
  const files = new AgentFiles(dataDir);
  const client = new ManagerClient({
    managerUrl: hub.deviceUrl,
    ca: `${await files.readText('ca.pem')}${await files.readText('chain.pem')}`,
    keyPem: await files.readKey(),
    certChainPem: `${await files.readText('cert.pem')}${await files.readText('chain.pem')}`,
    timeoutMs: 5000,
  });
  try {
    await client.post('/v1/inventory', {
      v: PROTOCOL_VERSION,
      kind: 'full',
      inventory: fixtureInventory('pg-device'),
    });
  } finally {
    client.close();
  }
  const page = await hub.manager.services.devices.list({ labels: { site: 'pg' } }, 10);
  assert.deepEqual(
    page.devices.map((device) => [device.id, device.status, device.inventoryVersion]),
    [[enrollment.deviceId, 'online', 1]],
  );
  const pool = new pg.Client({ connectionString: url });
  await pool.connect();
  try {
    const tables = await pool.query(
      'SELECT count(*)::int AS n FROM information_schema.tables WHERE table_schema = $1',
      [schema],
    );
    assert.ok((tables.rows[0] as { n: number }).n > 5, 'the tables live in the configured schema');
  } finally {
    await pool.end();
  }
});
