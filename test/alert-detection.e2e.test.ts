/**
 * Detection end to end, with real processes and real brokers: the starter rules applied with `edgeward
 * policy apply`, an `edgeward agent run` on its own fixture root behind a FaultProxy, and the manager in
 * this process sending alerts to a local webhook (HMAC checked) and to the Mosquitto broker at
 * 127.0.0.1:1883 (a real QoS 1 subscription). Failed sshd logins written to the fixture's auth.log raise
 * the brute-force alert on the agent, online and while cut off; operators then work it with the CLI.
 */
import assert from 'node:assert/strict';
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import {
  appendFile,
  copyFile,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  rm,
  stat,
  writeFile,
} from 'node:fs/promises';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, before, test } from 'node:test';
import {
  type AlertDetailView,
  type AlertListView,
  type AlertNoiseView,
  type AlertNotification,
  type AlertView,
  certificateFingerprint,
  type DeviceComplianceView,
} from '@edgeward/core';
import { FaultProxy } from '@edgeward/sim';
import { connectAsync, type MqttClient } from 'mqtt';
import {
  e2eAgentEnv,
  enrollWithCli,
  type LongRunning,
  runEdgeward,
  startEdgeward,
} from './support/cli-process.ts';
import { eventually, startTestManager, type TestManager } from './support/test-manager.ts';

const RULE = 'ew-auth-brute-force-user';
const mosquittoUrl = process.env.EDGEWARD_TEST_MQTT_URL ?? 'mqtt://127.0.0.1:1883';
const starterRules = new URL('../policies/starter/rules/', import.meta.url).pathname;

/** Short intervals, so that logs are read, rules flushed and uploads retried many times a second. */
const agentEnv = {
  ...e2eAgentEnv,
  EDGEWARD_REPORT_INTERVAL_MS: '1000',
  EDGEWARD_POLICY_POLL_MS: '1000',
  EDGEWARD_RULE_FLUSH_MS: '200',
};

const baseline = `id: device
title: E2E device baseline
checks:
  - id: ssh-no-root-login
    title: SSH refuses root logins
    severity: high
    rationale: Root logins bypass per-user accountability.
    check: {type: sshd, setting: PermitRootLogin, expect: {equals: 'no'}}
`;

interface Hook {
  readonly signatureValid: boolean;
  readonly body: AlertNotification;
}

/** An HTTP receiver that records each body and whether its HMAC is right. */
class WebhookSink {
  readonly received: Hook[] = [];
  url = '';
  readonly #secret: string;
  readonly #server: Server;

  constructor(secret: string) {
    this.#secret = secret;
    this.#server = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        const raw = Buffer.concat(chunks);
        this.received.push({
          signatureValid: this.#verify(request.headers, raw),
          body: JSON.parse(raw.toString('utf8')) as AlertNotification,
        });
        response.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
      });
    });
  }

  async listen(): Promise<void> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', () => resolve()));
    this.url = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}/hooks/edgeward`;
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }

  of(alertId: string): Hook[] {
    return this.received.filter((hook) => hook.body.kind === 'alert' && hook.body.alert.id === alertId);
  }

  #verify(headers: IncomingHttpHeaders, raw: Buffer): boolean {
    const header = headers['x-edgeward-signature'];
    if (typeof header !== 'string' || !header.startsWith('sha256=')) return false;
    const expected = createHmac('sha256', this.#secret).update(raw).digest();
    const given = Buffer.from(header.slice('sha256='.length), 'hex');
    return given.length === expected.length && timingSafeEqual(given, expected);
  }
}

interface Published {
  readonly topic: string;
  readonly qos: number;
  readonly body: AlertNotification;
}

let work: string;
let hub: TestManager;
let hook: WebhookSink;
let subscriber: MqttClient | undefined;
const published: Published[] = [];
let topicRoot: string;
let proxy: FaultProxy;
let agent: LongRunning | undefined;
let root: string;
let dataDir: string;
let deviceId: string;
let firstAlert: AlertView;
let secondAlert: AlertView;

function api(): string[] {
  return ['--api', hub.operatorUrl, '--data-dir', hub.dir, '--token', hub.adminToken];
}

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'ew-alert-e2e-'));
  const secret = randomBytes(16).toString('hex');
  const secretFile = join(work, 'webhook.secret');
  await writeFile(secretFile, `${secret}\n`, { mode: 0o600 });
  hook = new WebhookSink(secret);
  await hook.listen();

  // Subscribed before anything is raised, on a topic of this run only.
  topicRoot = `edgeward-e2e/${randomBytes(4).toString('hex')}`;
  subscriber = await connectAsync(mosquittoUrl, { connectTimeout: 5000, reconnectPeriod: 0 }, false).catch(
    (error: unknown) =>
      assert.fail(
        `Mosquitto is not reachable at ${mosquittoUrl} (${(error as Error).message}); start it, or set EDGEWARD_TEST_MQTT_URL`,
      ),
  );
  subscriber.on('message', (topic, payload, packet) => {
    published.push({
      topic,
      qos: packet.qos,
      body: JSON.parse(payload.toString('utf8')) as AlertNotification,
    });
  });
  await subscriber.subscribeAsync(`${topicRoot}/#`, { qos: 1 });

  hub = await startTestManager({
    alertDeliveryPollMs: 100,
    alertDeliveryRetryMinMs: 100,
    alertDeliveryRetryMaxMs: 500,
    alertDestinations: [
      { name: 'hook', type: 'webhook', url: hook.url, secretFile },
      { name: 'broker', type: 'mqtt', url: mosquittoUrl, topic: `${topicRoot}/alerts/{tier}` },
    ],
  });
  proxy = await FaultProxy.start({
    target: { host: '127.0.0.1', port: Number(new URL(hub.deviceUrl).port) },
  });

  // The starter rules as they ship, beside a one-check baseline that passes on the fixture.
  const policyDir = join(work, 'policy');
  await mkdir(join(policyDir, 'baselines'), { recursive: true });
  await mkdir(join(policyDir, 'rules'), { recursive: true });
  await writeFile(join(policyDir, 'baselines', 'device.yaml'), baseline);
  for (const name of await readdir(starterRules)) {
    await copyFile(join(starterRules, name), join(policyDir, 'rules', name));
  }
  const applied = await runEdgeward(['policy', 'apply', policyDir, '-m', 'starter rules', ...api()]);
  assert.equal(applied.code, 0, applied.stderr);

  root = join(work, 'root');
  dataDir = join(work, 'agent');
  await mkdir(join(root, 'etc', 'ssh'), { recursive: true });
  await mkdir(join(root, 'etc', 'edgeward-e2e'), { recursive: true });
  await mkdir(join(root, 'var', 'log'), { recursive: true });
  await writeFile(join(root, 'etc', 'ssh', 'sshd_config'), 'PermitRootLogin no\n');
  await writeFile(join(root, 'var', 'log', 'auth.log'), '');
});

after(async () => {
  await agent?.stop('SIGTERM');
  await proxy?.close();
  await hub?.close();
  await subscriber?.endAsync(true);
  await hook?.close();
  await rm(work, { recursive: true, force: true });
});

/** Appends `count` failed sshd password lines for `user` from `address`, as rsyslog writes them. */
async function failLogins(user: string, address: string, count: number): Promise<void> {
  let text = '';
  for (let index = 0; index < count; index++) {
    const pid = 4100 + index;
    text += `${new Date().toISOString()} gw-e2e sshd[${pid}]: Failed password for ${user} from ${address} port ${50_000 + index} ssh2\n`;
  }
  await appendFile(join(root, 'var', 'log', 'auth.log'), text);
}

async function alertsOfRule(): Promise<AlertView[]> {
  const run = await runEdgeward(['alerts', 'list', '--rule', RULE, '--json', ...api()]);
  assert.equal(run.code, 0, run.stderr);
  return (JSON.parse(run.stdout) as AlertListView).alerts;
}

async function showAlert(id: string): Promise<AlertDetailView> {
  const run = await runEdgeward(['alerts', 'show', id, '--json', ...api()]);
  assert.equal(run.code, 0, run.stderr);
  return JSON.parse(run.stdout) as AlertDetailView;
}

/** The brute-force alerts for `user` in the agent's durable queue (read-only; the agent is running). */
function queuedAlertsFor(user: string): number {
  const db = new DatabaseSync(join(dataDir, 'queue.db'), { readOnly: true });
  try {
    const rows = db.prepare('SELECT body FROM events').all() as { body: string }[];
    return rows
      .map((row) => JSON.parse(row.body) as { type: string; data: Record<string, unknown> })
      .filter(
        (event) =>
          event.type === 'alert.raised' &&
          event.data.ruleId === RULE &&
          (event.data.groupFields as Record<string, string> | undefined)?.User === user,
      ).length;
  } finally {
    db.close();
  }
}

function mqttOf(alertId: string): Published[] {
  return published.filter((message) => message.body.kind === 'alert' && message.body.alert.id === alertId);
}

test('an enrolled agent puts the bundle with the starter rules in force', async () => {
  const token = await runEdgeward(['tokens', 'create', '--label', 'function=gateway', '--json', ...api()]);
  assert.equal(token.code, 0, token.stderr);
  deviceId = await enrollWithCli({
    managerUrl: proxy.url,
    token: (JSON.parse(token.stdout) as { token: string }).token,
    caFingerprint: await certificateFingerprint(await readFile(join(hub.dir, 'pki', 'root-ca.crt'), 'utf8')),
    dataDir,
    hostname: 'gw-e2e',
  });
  agent = startEdgeward(['agent', 'run', '--data-dir', dataDir, '--root', root], agentEnv);

  // The report follows the rules' loading; the saved log position means new lines are news to the agent.
  const report = await eventually(async () => {
    const run = await runEdgeward(['compliance', 'device', deviceId, '--json', ...api()]);
    if (run.code !== 0) return undefined;
    const view = JSON.parse(run.stdout) as DeviceComplianceView;
    return view.bundleVersion === 1 ? view : undefined;
  }, `the first compliance report\n${agent.output()}`);
  assert.deepEqual(
    report.checks.map((check) => [check.checkId, check.status]),
    [['ssh-no-root-login', 'pass']],
  );
  await eventually(
    () => stat(join(dataDir, 'collectors', 'auth-log.json')).then(() => true),
    `the auth log collector to start\n${agent.output()}`,
  );
});

test('six failed logins for one account raise one high alert, sent signed to the webhook and at QoS 1 over MQTT', async () => {
  await failLogins('alice', '198.51.100.7', 6);
  const [alert] = await eventually(async () => {
    const alerts = await alertsOfRule();
    return alerts.length > 0 ? alerts : undefined;
  }, `the brute-force alert on the manager\n${agent?.output()}`);
  assert.ok(alert);
  firstAlert = alert;
  assert.equal(firstAlert.state, 'open');
  assert.equal(firstAlert.tier, 'high');
  assert.equal(firstAlert.severity, 'high');
  assert.equal(firstAlert.source, 'agent');
  assert.deepEqual(firstAlert.deviceIds, [deviceId]);
  assert.deepEqual(firstAlert.groupFields, { deviceId, User: 'alice' });
  assert.equal(firstAlert.count, 5, 'the fifth failure fires; the sixth starts a new count');

  const hooked = await eventually(() => hook.of(firstAlert.id)[0], 'the webhook of the first alert');
  assert.ok(hooked.signatureValid, 'the body carries a valid HMAC');
  assert.ok(hooked.body.kind === 'alert');
  assert.equal(hooked.body.reason, 'created');
  assert.deepEqual(hooked.body.alert.deviceIds, [deviceId]);
  const message = await eventually(() => mqttOf(firstAlert.id)[0], 'the MQTT message of the first alert');
  assert.equal(message.topic, `${topicRoot}/alerts/high`);
  assert.equal(message.qos, 1);
  assert.equal(message.body.kind === 'alert' && message.body.alert.ruleId, RULE);

  assert.deepEqual(
    (await alertsOfRule()).map((listed) => listed.id),
    [firstAlert.id],
    'exactly one alert',
  );
});

test('an alert raised while the link is cut is queued on the agent and delivered once the link returns', async () => {
  proxy.cut();
  await failLogins('bob', '192.0.2.44', 6);
  await eventually(
    () => queuedAlertsFor('bob') === 1,
    `the agent to raise the alert offline\n${agent?.output()}`,
  );
  assert.deepEqual(
    (await alertsOfRule()).map((listed) => listed.id),
    [firstAlert.id],
    'nothing can have arrived yet',
  );

  proxy.restore();
  secondAlert = await eventually(async () => {
    const alerts = await alertsOfRule();
    return alerts.find((listed) => listed.groupFields.User === 'bob');
  }, `the offline alert after the link returned\n${agent?.output()}`);
  assert.equal(secondAlert.state, 'open');
  assert.equal(secondAlert.tier, 'high');
  assert.deepEqual(secondAlert.deviceIds, [deviceId]);
  assert.equal(secondAlert.count, 5);

  const hooked = await eventually(() => hook.of(secondAlert.id)[0], 'the webhook of the second alert');
  assert.ok(hooked.signatureValid);
  assert.equal(hooked.body.kind === 'alert' && hooked.body.reason, 'created');
  const message = await eventually(() => mqttOf(secondAlert.id)[0], 'the MQTT message of the second alert');
  assert.equal(message.qos, 1);
  assert.equal(message.topic, `${topicRoot}/alerts/high`);

  await eventually(() => queuedAlertsFor('bob') === 0, 'the queued alert to be acknowledged by the manager');
  const first = await showAlert(firstAlert.id);
  assert.equal(first.count, firstAlert.count, "the other account's failures do not count for the first");
  assert.deepEqual(first.eventRefs, firstAlert.eventRefs);
  assert.equal((await alertsOfRule()).length, 2);
  assert.deepEqual(
    hook.received.filter((received) => !received.signatureValid),
    [],
    'every body carries a valid HMAC',
  );
  assert.deepEqual(
    [hook.of(firstAlert.id).length, hook.of(secondAlert.id).length],
    [1, 1],
    'each alert is notified once: the first is not notified again by the second burst',
  );
});

test('operators acknowledge the alert and resolve it as a false positive, and the noise figures count it', async () => {
  const acked = await runEdgeward(['alerts', 'ack', secondAlert.id, '--json', ...api()]);
  assert.equal(acked.code, 0, acked.stderr);
  const acknowledged = JSON.parse(acked.stdout) as AlertView;
  assert.equal(acknowledged.state, 'acknowledged');
  assert.notEqual(acknowledged.acknowledgedAt, null);

  const resolvedRun = await runEdgeward([
    'alerts',
    'resolve',
    secondAlert.id,
    '--false-positive',
    '-m',
    'pen test from the lab network',
    '--json',
    ...api(),
  ]);
  assert.equal(resolvedRun.code, 0, resolvedRun.stderr);
  const resolved = JSON.parse(resolvedRun.stdout) as AlertView;
  assert.equal(resolved.state, 'resolved');
  assert.equal(resolved.resolution, 'false-positive');
  const shown = await showAlert(secondAlert.id);
  assert.deepEqual(
    shown.comments.map((comment) => comment.text),
    ['pen test from the lab network'],
  );
  assert.deepEqual(
    shown.history.map((entry) => entry.kind),
    ['created', 'acknowledged', 'resolved'],
  );

  const noiseRun = await runEdgeward(['alerts', 'noise', '--json', ...api()]);
  assert.equal(noiseRun.code, 0, noiseRun.stderr);
  const rule = (JSON.parse(noiseRun.stdout) as AlertNoiseView).rules.find((entry) => entry.ruleId === RULE);
  assert.ok(rule, 'the rule is in the noise figures');
  assert.deepEqual(
    {
      raised: rule.raised,
      acknowledged: rule.acknowledged,
      resolved: rule.resolved,
      falsePositive: rule.falsePositive,
      falsePositiveShare: rule.falsePositiveShare,
      unresolved: rule.unresolved,
    },
    { raised: 2, acknowledged: 1, resolved: 1, falsePositive: 1, falsePositiveShare: 1, unresolved: 1 },
  );
  assert.equal(typeof rule.medianTimeToAcknowledgeMs, 'number');
});
