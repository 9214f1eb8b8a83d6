import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, test } from 'node:test';
import type { DeviceEvent, NewDeviceEvent, PolicySourceFile } from '@edgeward/core';
import { silentLog } from '../collectors/collector-events.ts';
import { LocalDetection } from './local-detection.ts';

const rulesDir = new URL('../../../../policies/starter/rules/', import.meta.url);
const starterRules: PolicySourceFile[] = readdirSync(rulesDir)
  .filter((name) => name.endsWith('.yml'))
  .map((name) => ({ path: `rules/${name}`, text: readFileSync(new URL(name, rulesDir), 'utf8') }));

let dir: string;
let emitted: NewDeviceEvent[];
let seq: number;
const t0 = Date.parse('2026-11-25T10:00:00Z');

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ew-detection-'));
  emitted = [];
  seq = 0;
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

function detection(): LocalDetection {
  return new LocalDetection({
    dir,
    deviceId: 'dev-1',
    emit: async (events) => {
      emitted.push(...events);
    },
    now: () => t0 + 3_600_000,
    log: silentLog,
    allowedLatenessMs: 0,
    maxGroupsPerRule: 100,
    flushIntervalMs: 60_000,
  });
}

function failedLogin(offsetMs: number, user = 'root'): DeviceEvent {
  seq += 1;
  return {
    seq,
    id: `e-${seq}`,
    type: 'auth.login_failed',
    severity: 'medium',
    time: t0 + offsetMs,
    data: { user, sourceAddress: '203.0.113.9', program: 'sshd', method: 'password' },
  };
}

const alerts = () => emitted.filter((event) => event.type === 'alert.raised');

test('five failed logins for one account within five minutes raise one high alert event', async () => {
  const local = detection();
  await local.load(starterRules);
  local.observe([0, 20_000, 40_000, 60_000].map((offset) => failedLogin(offset)));
  await local.stop();
  assert.equal(alerts().filter((event) => event.data.ruleId === 'ew-auth-brute-force-user').length, 0);

  const again = detection();
  await again.load(starterRules);
  again.observe([failedLogin(80_000)]);
  await again.stop();
  const raised = alerts().filter((event) => event.data.ruleId === 'ew-auth-brute-force-user');
  assert.equal(raised.length, 1, 'the window survived the restart');
  assert.equal(raised[0]?.severity, 'high');
  assert.equal(raised[0]?.data.count, 5);
  assert.deepEqual(raised[0]?.data.deviceIds, ['dev-1']);
});

test('a policy without rules drops the saved windows, so rules that come back later start from their own events', async () => {
  const local = detection();
  await local.load(starterRules);
  local.observe([0, 20_000, 40_000, 60_000].map((offset) => failedLogin(offset)));
  await local.stop();
  assert.ok(existsSync(join(dir, 'detection-state.json')));

  const none = detection();
  await none.load([]);
  await none.stop();
  assert.equal(existsSync(join(dir, 'detection-state.json')), false);

  const back = detection();
  await back.load(starterRules);
  back.observe([failedLogin(80_000)]);
  await back.stop();
  assert.deepEqual(alerts(), []);
});

test('events that arrive while the rules load are evaluated by them once they are ready', async () => {
  const local = detection();
  const loading = local.load(starterRules);
  local.observe([0, 20_000, 40_000, 60_000, 80_000].map((offset) => failedLogin(offset)));
  await loading;
  await local.stop();
  const raised = alerts().filter((event) => event.data.ruleId === 'ew-auth-brute-force-user');
  assert.equal(raised.length, 1);
  assert.equal(raised[0]?.data.count, 5);
});

test('the alerts it raised itself are not evaluated again, and bad rules turn detection off', async () => {
  const local = detection();
  await local.load(starterRules);
  local.observe([
    {
      seq: 1,
      id: 'a',
      type: 'alert.raised',
      severity: 'high',
      time: t0,
      data: { ruleId: 'x', severity: 'low' },
    },
  ]);
  await local.stop();
  assert.equal(emitted.length, 0);

  const broken = detection();
  await broken.load([{ path: 'rules/bad.yml', text: 'title: broken\n' }]);
  broken.observe([0, 1, 2, 3, 4, 5].map((offset) => failedLogin(offset)));
  await broken.stop();
  assert.equal(broken.stats, undefined);
  assert.equal(emitted.length, 0);
});

test('a rule that asks for a response gets it once, after its alert is queued, also offline', async () => {
  const responded: string[] = [];
  const local = new LocalDetection({
    dir,
    deviceId: 'dev-1',
    emit: async (events) => {
      emitted.push(...events);
    },
    now: () => t0,
    log: silentLog,
    allowedLatenessMs: 0,
    maxGroupsPerRule: 100,
    flushIntervalMs: 60_000,
    respond: async (signal) => {
      responded.push(`${signal.ruleId}:${signal.response.join(',')}:${emitted.length}`);
    },
  });
  await local.load([
    {
      path: 'rules/miner.yml',
      text: `title: Crypto miner started
id: test-miner
logsource: {product: linux, category: process_creation}
detection:
  selection:
    Image|endswith: /xmrig
  condition: selection
level: critical
edgeward:
  response: [isolate]
`,
    },
  ]);
  const started = (seqNo: number, path: string): DeviceEvent => ({
    seq: seqNo,
    id: `x-${seqNo}`,
    type: 'host.executable_started',
    severity: 'low',
    time: t0 + seqNo,
    data: { path, pid: 100 + seqNo },
  });
  local.observe([started(1, '/usr/bin/ls'), started(2, '/tmp/.x/xmrig')]);
  await local.stop();
  assert.deepEqual(responded, ['test-miner:isolate:1'], 'once, after the alert event was queued');
  assert.equal(alerts()[0]?.severity, 'critical');
});

test('rules that stop compiling turn detection off, flush timer included', async (t) => {
  const setInterval = t.mock.method(globalThis, 'setInterval');
  const clearInterval = t.mock.method(globalThis, 'clearInterval');
  const local = detection();
  await local.load(starterRules);
  assert.equal(setInterval.mock.callCount(), 1);
  const timer = setInterval.mock.calls[0]?.result;
  await local.load([{ path: 'rules/broken.yml', text: 'title: broken\ndetection: not a map\n' }]);
  assert.ok(
    clearInterval.mock.calls.some((call) => call.arguments[0] === timer),
    'the flush timer was not cleared',
  );
  assert.equal(local.stats, undefined);
  await local.stop();
});
