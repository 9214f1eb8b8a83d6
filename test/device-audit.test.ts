import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, before, describe, test } from 'node:test';
import { Agent, enrollAgent, resolveAgentConfig } from '@edgeward/agent';
import {
  type AuditEntriesView,
  type AuditEntry,
  appendEntry,
  type DeviceAuditChainView,
} from '@edgeward/core';
import { runEdgeward } from './support/cli-process.ts';
import { fixtureInventory } from './support/fixture-inventory.ts';
import { httpsJson } from './support/https-json.ts';
import { eventually, silentLogger, startTestManager, type TestManager } from './support/test-manager.ts';

let hub: TestManager;
let work: string;
const agents: Agent[] = [];
const systemOperator = { id: 'test', name: 'test', role: 'admin' as const };

before(async () => {
  hub = await startTestManager();
  work = await mkdtemp(join(tmpdir(), 'edgeward-device-audit-'));
});
after(async () => {
  await Promise.allSettled(agents.map((agent) => agent.stop(1000)));
  await hub.close();
  await rm(work, { recursive: true, force: true });
});

function newAgent(dataDir: string, hostname: string): Agent {
  const agent = new Agent({
    config: resolveAgentConfig([
      {
        source: 'test',
        values: {
          dataDir,
          // Short, so that the chain travels within a second of an action.
          reportIntervalMs: 1000,
          inventoryIntervalMs: 3_600_000,
          policyPollMs: 3_600_000,
          retryInitialMs: 100,
          retryMaxMs: 500,
          requestTimeoutMs: 5000,
          shutdownGraceMs: 2000,
          isolation: 'report-only',
        },
      },
    ]),
    logger: silentLogger,
    agentVersion: 'test',
    collectInventory: async () => fixtureInventory(hostname),
    eventSources: 'none',
  });
  agents.push(agent);
  return agent;
}

let count = 0;
async function startAgent() {
  const dataDir = join(work, `agent-${++count}`);
  const token = (await hub.manager.services.tokens.create(systemOperator, {}, 3_600_000)).token;
  const { deviceId } = await enrollAgent({
    managerUrl: hub.deviceUrl,
    token,
    caFingerprint: hub.manager.pki.caFingerprint,
    dataDir,
    hostname: `rtu-${count}`,
    agentVersion: 'test',
    reportIntervalMs: 1000,
    timeoutMs: 5000,
  });
  const agent = newAgent(dataDir, `rtu-${count}`);
  await agent.start();
  await eventually(() => hub.manager.deviceServer.push.isConnected(deviceId), 'the push connection', 10_000);
  return { agent, deviceId, dataDir };
}

function call<T>(method: string, path: string, body?: unknown) {
  return httpsJson<T & { error?: { code: string } }>(new URL(path, hub.operatorUrl), {
    method,
    ca: hub.manager.pki.rootCaPem,
    token: hub.adminToken,
    body,
  });
}

const chainOf = async (deviceId: string) =>
  (await call<DeviceAuditChainView>('GET', `/api/v1/audit/devices/${deviceId}`)).body;
const api = () => [
  '--api',
  hub.operatorUrl,
  '--token',
  hub.adminToken,
  '--ca-file',
  join(hub.dir, 'pki', 'root-ca.crt'),
];

describe("the agent's own audit chain", () => {
  test('an isolation is chained on the device, anchored in the manager chain, and verifies; an edit on the manager is found', async () => {
    const { deviceId } = await startAgent();
    await call('POST', `/api/v1/devices/${deviceId}/isolate`, { reason: 'beaconing' });
    const chain = await eventually(async () => {
      const held = await chainOf(deviceId);
      return held.entries.some((entry) => entry.kind === 'agent.isolation_changed') && held.anchors.length > 0
        ? held
        : undefined;
    }, 'the anchored isolation');
    const isolation = chain.entries.find((entry) => entry.kind === 'agent.isolation_changed');
    assert.equal(isolation?.details.action, 'isolated');
    const { body: managerChain } = await call<AuditEntriesView>('GET', '/api/v1/audit/entries?limit=1000');
    const anchor = chain.anchors.at(-1);
    const recorded = managerChain.entries.find((entry) => entry.seq === anchor?.managerSeq);
    assert.equal(recorded?.kind, 'device.audit_anchor');
    assert.equal(recorded?.details.hash, anchor?.hash);

    const logged = await runEdgeward(['audit', 'log', '--device', deviceId, ...api()]);
    assert.equal(logged.code, 0, logged.stderr);
    assert.match(logged.stdout, /\d+\*? +\S+ +agent\.isolation_changed +admin +/);
    const verified = await runEdgeward(['audit', 'verify', '--device', deviceId, ...api()]);
    assert.equal(verified.code, 0, verified.stderr);
    assert.match(
      verified.stdout,
      new RegExp(`the audit chain of ${deviceId} verifies: \\d+ entries, \\d+ anchors`),
    );

    // Someone with database access rewrites what the device reported.
    const db = new DatabaseSync(join(hub.dir, 'edgeward.db'));
    try {
      db.prepare(
        "UPDATE device_audit_entries SET details = ? WHERE device_id = ? AND kind = 'agent.isolation_changed'",
      ).run(JSON.stringify({ ...isolation?.details, action: 'released' }), deviceId);
    } finally {
      db.close();
    }
    const broken = await runEdgeward(['audit', 'verify', '--device', deviceId, ...api()]);
    assert.equal(broken.code, 5, broken.stdout);
    assert.match(broken.stderr, /EW_AUDIT_CHAIN_BROKEN.*at seq \d+ \(edited\)/);
  });

  test('a device that rewrites its anchored history is refused at its next upload, and the manager keeps its copy', async () => {
    const { agent, deviceId, dataDir } = await startAgent();
    await call('POST', `/api/v1/devices/${deviceId}/isolate`, { reason: 'first' });
    const anchored = await eventually(async () => {
      const held = await chainOf(deviceId);
      return held.anchors.length > 0 ? held : undefined;
    }, 'the first anchor');
    await agent.stop(1000);

    // Rewrite the isolation as if it never happened, recomputing every hash after it.
    const file = join(dataDir, 'audit', 'chain.jsonl');
    const original = (await readFile(file, 'utf8'))
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => JSON.parse(line) as AuditEntry);
    const rewritten: AuditEntry[] = [];
    for (const entry of original) {
      const details =
        entry.kind === 'agent.isolation_changed'
          ? { ...entry.details, reason: 'routine maintenance' }
          : entry.details;
      rewritten.push(appendEntry(rewritten.at(-1), { ...entry, details }));
    }
    await writeFile(file, rewritten.map((entry) => `${JSON.stringify(entry)}\n`).join(''));
    await rm(join(dataDir, 'audit', 'anchored.json'));

    const again = newAgent(dataDir, 'rtu-again');
    await again.start();
    await call('POST', `/api/v1/devices/${deviceId}/release`, { reason: 'clean' });
    await eventually(async () => {
      const { body } = await call<AuditEntriesView>('GET', '/api/v1/audit/entries?limit=1000');
      return body.entries.some(
        (entry) => entry.kind === 'device.audit_diverged' && entry.subject === deviceId,
      );
    }, 'the refused upload');
    const held = await chainOf(deviceId);
    assert.deepEqual(
      held.entries.map((entry) => entry.hash),
      anchored.entries.map((entry) => entry.hash),
      "the manager keeps the device's history as anchored",
    );
    const verified = await runEdgeward(['audit', 'verify', '--device', deviceId, ...api()]);
    assert.equal(verified.code, 0, verified.stderr);
  });
});
