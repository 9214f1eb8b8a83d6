/**
 * The hub's own detection on a real manager: hub-scope rules of the policy in force over the events it
 * stores (one address failing on several devices; several low alerts on one device, fed back as
 * `alert.raised`), and the built-in alert for a device that fell silent.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import type { AlertView, DeviceEvent, PolicySourceFile } from '@edgeward/core';
import { eventually, startTestManager, type TestManager } from './support/test-manager.ts';

const admin = { id: 'test', name: 'test', role: 'admin' as const };
const rulesDir = new URL('../policies/starter/rules/', import.meta.url);
const starterRules: PolicySourceFile[] = readdirSync(rulesDir)
  .filter((name) => name.endsWith('.yml'))
  .map((name) => ({ path: `rules/${name}`, text: readFileSync(new URL(name, rulesDir), 'utf8') }));

const sprayRule = `title: One address failing logins on several devices
id: test-spray
correlation:
  type: value_count
  rules:
    - ew_auth_login_failed_remote
  group-by:
    - SourceIp
  timespan: 10m
  condition:
    field: deviceId
    gte: 3
level: high
edgeward:
  scope: hub
`;

let hub: TestManager;
const seqs = new Map<string, number>();

before(async () => {
  hub = await startTestManager({ detectionTickMs: 200, ruleLatenessMs: 0 });
  await hub.manager.services.policies.apply(
    admin,
    [...starterRules, { path: 'rules/spray.yml', text: sprayRule }],
    'rules',
    undefined,
  );
  const now = Date.now();
  for (const [id, lastSeenAt] of [
    ['dev-a', now],
    ['dev-b', now],
    ['dev-c', now],
    ['dev-quiet', now - 60_000],
  ] as const) {
    await hub.manager.store.devices.create({
      id,
      name: id,
      labels: {},
      enrolledAt: now - 3_600_000,
      enrollmentTokenId: null,
      lastSeenAt,
      reportIntervalMs: 5000,
      agentVersion: 'test',
      inventoryVersion: 0,
      revokedAt: null,
    });
  }
});

after(async () => {
  await hub?.close();
});

async function send(deviceId: string, events: Omit<DeviceEvent, 'seq' | 'id'>[]): Promise<void> {
  const numbered = events.map((event) => {
    const seq = (seqs.get(deviceId) ?? 0) + 1;
    seqs.set(deviceId, seq);
    return { ...event, seq, id: `${deviceId}-${seq}` };
  });
  await hub.manager.services.events.ingest(deviceId, { v: 1, floorSeq: 0, events: numbered });
}

async function alertsOf(rule: string): Promise<AlertView[]> {
  return (await hub.manager.services.alerts.list({ rule, limit: 10 })).alerts;
}

test('one address failing logins on three devices is one hub alert naming the three', async () => {
  const time = Date.now() - 60_000;
  for (const [index, deviceId] of ['dev-a', 'dev-b', 'dev-c'].entries()) {
    const failed = {
      type: 'auth.login_failed',
      severity: 'medium' as const,
      time: time + index * 1000,
      data: { user: `u${index}`, sourceAddress: '198.51.100.23', program: 'sshd', method: 'password' },
    };
    await send(deviceId, [failed]);
    // The same batch again (a lost reply): stored once, counted once.
    seqs.set(deviceId, (seqs.get(deviceId) ?? 1) - 1);
    await send(deviceId, [failed]);
  }
  const [alert] = await eventually(async () => {
    const found = await alertsOf('test-spray');
    return found.length > 0 ? found : undefined;
  }, 'the spray alert');
  assert.equal((await alertsOf('test-spray')).length, 1);
  assert.deepEqual([...(alert?.deviceIds ?? [])].sort(), ['dev-a', 'dev-b', 'dev-c']);
  assert.equal(alert?.tier, 'high');
  assert.equal(alert?.source, 'hub');
});

test('three different low-severity alerts on one device become one high alert', async () => {
  const time = Date.now() - 30_000;
  await send(
    'dev-a',
    ['rule-x', 'rule-y', 'rule-z'].map((ruleId, index) => ({
      type: 'alert.raised',
      severity: 'low' as const,
      time: time + index * 1000,
      data: {
        ruleId,
        ruleTitle: `Rule ${ruleId}`,
        kind: 'detection',
        groupKey: '[]',
        groupFields: {},
        severity: 'low',
        tier: 'low',
        firstSeen: time + index * 1000,
        lastSeen: time + index * 1000,
        count: 1,
        eventRefs: [],
        deviceIds: ['dev-a'],
        response: [],
        route: [],
        update: false,
      },
    })),
  );
  const [cluster] = await eventually(async () => {
    const found = await alertsOf('ew-alert-low-cluster');
    return found.length > 0 ? found : undefined;
  }, 'the low-severity cluster alert');
  assert.equal(cluster?.severity, 'high');
  assert.deepEqual(cluster?.deviceIds, ['dev-a']);
  assert.equal((await alertsOf('rule-x')).length, 1, 'the agent alerts themselves are kept too');
});

test('a device silent for three report intervals raises the built-in alert once', async () => {
  const [silent] = await eventually(async () => {
    const found = await alertsOf('ew-agent-silent');
    return found.some((alert) => alert.deviceIds.includes('dev-quiet')) ? found : undefined;
  }, 'the silent-device alert');
  assert.equal(silent?.tier, 'high');
  await new Promise((resolve) => setTimeout(resolve, 600));
  const again = (await alertsOf('ew-agent-silent')).filter((alert) => alert.deviceIds.includes('dev-quiet'));
  assert.equal(again.length, 1);
  assert.equal(again[0]?.count, 1, 'the same silence is not counted again at every tick');
});
