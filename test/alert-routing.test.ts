/**
 * Alert notifications end to end: real managers send to a local HTTP webhook (checking the HMAC), to the
 * Mosquitto broker at 127.0.0.1:1883 (a real QoS 1 subscription), to an SMTP server on a free port and to a
 * syslog TCP "SIEM" through syslog out. A failing webhook is retried from the store across a restart, digests
 * go out when the clock reaches their period's end, and two replicas on one PostgreSQL database send each
 * notification once.
 */
import assert from 'node:assert/strict';
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { request } from 'node:https';
import { type AddressInfo, createServer as createTcpServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  type AlertDeliveryListView,
  type AlertDeliveryView,
  type AlertNotification,
  type AlertSignal,
  type Clock,
  parseSyslog,
  SyslogFrameDecoder,
  type SyslogMessage,
} from '@edgeward/core';
import { buildManager, type Manager, resolveManagerConfig } from '@edgeward/manager';
import { connectAsync, type MqttClient } from 'mqtt';
import pg from 'pg';
import { SMTPServer } from 'smtp-server';
import { eventually, ShiftableClock, silentLogger } from './support/test-manager.ts';

const MINUTE_MS = 60_000;
const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;
const postgresUrl = process.env.EDGEWARD_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const mosquittoUrl = process.env.EDGEWARD_TEST_MQTT_URL ?? 'mqtt://127.0.0.1:1883';

const cleanups: (() => Promise<void>)[] = [];
after(async () => {
  for (const cleanUp of cleanups.reverse()) await cleanUp().catch(() => {});
});

/** Fast retries and polls, so a test sees several attempts within a second. */
const fastDelivery = {
  alertDeliveryPollMs: 50,
  alertDeliveryRetryMinMs: 50,
  alertDeliveryRetryMaxMs: 200,
  alertDeliveryTimeoutMs: 3000,
  alertDeliveryFailingAfter: 2,
};

function signal(ruleId: string, overrides: Partial<AlertSignal> = {}): AlertSignal {
  const time = Date.now() - MINUTE_MS;
  return {
    ruleId,
    ruleTitle: `Rule ${ruleId}`,
    kind: 'detection',
    groupKey: '["gw-7"]',
    groupFields: { host: 'gw-7' },
    severity: 'critical',
    tier: 'critical',
    firstSeen: time,
    lastSeen: time,
    count: 1,
    eventRefs: [{ deviceId: 'dev-gw-7', seq: 1, id: `${ruleId}-1` }],
    deviceIds: ['dev-gw-7'],
    response: [],
    route: [],
    update: false,
    source: 'hub',
    ...overrides,
  };
}

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'edgeward-alert-routing-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

type StartedManager = Manager & { readonly operatorUrl: string };

/** A real manager in `dir`, listening on free ports; closing it keeps the directory. */
async function startManager(
  dir: string,
  values: Record<string, unknown>,
  clock: Clock = new ShiftableClock(),
): Promise<StartedManager> {
  const config = resolveManagerConfig([
    {
      source: 'test',
      values: { dataDir: dir, host: '127.0.0.1', devicePort: 0, operatorPort: 0, ...fastDelivery, ...values },
    },
  ]);
  const manager = await buildManager(config, { logger: silentLogger, clock });
  const { operatorUrl } = await manager.listen();
  let closed = false;
  cleanups.push(async () => {
    if (!closed) await manager.close();
  });
  const close = manager.close.bind(manager);
  return Object.assign(Object.create(manager) as Manager, {
    operatorUrl,
    close: async () => {
      closed = true;
      await close();
    },
  });
}

/** GET on the operator API, as `edgeward alerts deliveries` does. */
function operatorGet<T>(manager: StartedManager, path: string, token: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const outgoing = request(
      new URL(path, manager.operatorUrl),
      { ca: manager.pki.rootCaPem, headers: { authorization: `Bearer ${token}` } },
      (response) => {
        let text = '';
        response.on('data', (chunk: Buffer) => {
          text += chunk;
        });
        response.on('end', () => resolve(JSON.parse(text) as T));
      },
    );
    outgoing.on('error', reject);
    outgoing.end();
  });
}

interface Hook {
  readonly id: string;
  readonly signature: string | undefined;
  readonly body: AlertNotification;
}

/** An HTTP receiver that checks each request's HMAC and answers with `status` (changeable). */
class WebhookSink {
  readonly received: Hook[] = [];
  readonly badSignatures: string[] = [];
  status = 200;
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
        if (!this.#verify(request.headers, raw))
          this.badSignatures.push(String(request.headers['x-edgeward-delivery']));
        this.received.push({
          id: String(request.headers['x-edgeward-delivery']),
          signature: request.headers['x-edgeward-signature'] as string | undefined,
          body: JSON.parse(raw.toString('utf8')) as AlertNotification,
        });
        response
          .writeHead(this.status, { 'content-type': 'text/plain' })
          .end(this.status === 200 ? 'ok' : 'broken');
      });
    });
    cleanups.push(() => new Promise<void>((resolve) => this.#server.close(() => resolve())));
  }

  async listen(): Promise<void> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', () => resolve()));
    this.url = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}/hooks/edgeward`;
  }

  #verify(headers: IncomingHttpHeaders, raw: Buffer): boolean {
    const header = headers['x-edgeward-signature'];
    if (typeof header !== 'string' || !header.startsWith('sha256=')) return false;
    const expected = createHmac('sha256', this.#secret).update(raw).digest();
    const given = Buffer.from(header.slice('sha256='.length), 'hex');
    return given.length === expected.length && timingSafeEqual(given, expected);
  }
}

/** Mail received by an SMTP server on a free port (no TLS, no authentication). */
class MailSink {
  readonly mails: string[] = [];
  port = 0;
  readonly #server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    onData: (stream, _session, callback) => {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => {
        // Long header lines are folded (RFC 5322); unfolded here, so tests read one line per header.
        this.mails.push(
          Buffer.concat(chunks)
            .toString('utf8')
            .replace(/\r\n[ \t]+/g, ' '),
        );
        callback();
      });
    },
  });

  async listen(): Promise<void> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', () => resolve()));
    this.port = (this.#server.server.address() as AddressInfo).port;
    cleanups.push(() => new Promise<void>((resolve) => this.#server.close(() => resolve())));
  }
}

/** A SIEM on TCP: octet-counted RFC 5424 messages, parsed. */
class SyslogSink {
  readonly received: SyslogMessage[] = [];
  port = 0;
  readonly #sockets = new Set<Socket>();
  readonly #server = createTcpServer((socket) => {
    this.#sockets.add(socket);
    const decoder = new SyslogFrameDecoder({ framing: 'octet-counting' });
    socket.on('data', (chunk: Buffer) => {
      for (const frame of decoder.push(chunk)) {
        const message = parseSyslog(frame, { receivedAt: Date.now() });
        if (message.format !== 'malformed') this.received.push(message);
      }
    });
    socket.on('error', () => {});
    socket.on('close', () => this.#sockets.delete(socket));
  });

  async listen(): Promise<void> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', () => resolve()));
    this.port = (this.#server.address() as AddressInfo).port;
    cleanups.push(async () => {
      for (const socket of this.#sockets) socket.destroy();
      await new Promise<void>((resolve) => this.#server.close(() => resolve()));
    });
  }

  alerts(msgId: string): SyslogMessage[] {
    return this.received.filter((message) => message.msgId === msgId);
  }
}

function sdParam(message: SyslogMessage, sdId: string, name: string): string | undefined {
  return message.structuredData
    .find((element) => element.id === sdId)
    ?.params.find((param) => param.name === name)?.value;
}

/** A QoS 1 subscription on the real broker; every message kept with its topic and QoS. */
async function subscribe(
  topicFilter: string,
): Promise<{ client: MqttClient; received: { topic: string; qos: number; body: AlertNotification }[] }> {
  const client = await connectAsync(mosquittoUrl, { connectTimeout: 5000, reconnectPeriod: 0 }, false).catch(
    (error: unknown) => {
      assert.fail(
        `Mosquitto is not reachable at ${mosquittoUrl} (${(error as Error).message}); start it, or set EDGEWARD_TEST_MQTT_URL`,
      );
    },
  );
  cleanups.push(() => client.endAsync(true));
  const received: { topic: string; qos: number; body: AlertNotification }[] = [];
  client.on('message', (topic, payload, packet) => {
    received.push({
      topic,
      qos: packet.qos,
      body: JSON.parse(payload.toString('utf8')) as AlertNotification,
    });
  });
  await client.subscribeAsync(topicFilter, { qos: 1 });
  return { client, received };
}

describe('routing to webhook, MQTT, mail and syslog', () => {
  const secret = randomBytes(16).toString('hex');
  const topicRoot = `edgeward-test/${randomBytes(4).toString('hex')}`;
  const clock = new ShiftableClock();
  let manager: Manager;
  let hook: WebhookSink;
  let mail: MailSink;
  let siem: SyslogSink;
  let broker: Awaited<ReturnType<typeof subscribe>>;

  before(async () => {
    // Half past the hour, so that no period ends on its own while a test runs, only when a test moves the clock.
    clock.offsetMs = HOUR_MS / 2 - (Date.now() % HOUR_MS);
    const dir = await tempDir();
    const secretFile = join(dir, 'webhook.secret');
    await writeFile(secretFile, `${secret}\n`, { mode: 0o600 });
    hook = new WebhookSink(secret);
    mail = new MailSink();
    siem = new SyslogSink();
    await Promise.all([hook.listen(), mail.listen(), siem.listen()]);
    broker = await subscribe(`${topicRoot}/alerts/#`);
    manager = await startManager(
      dir,
      {
        syslogOutUrl: `tcp://127.0.0.1:${siem.port}`,
        alertDestinations: [
          { name: 'hook', type: 'webhook', url: hook.url, secretFile },
          { name: 'broker', type: 'mqtt', url: mosquittoUrl, topic: `${topicRoot}/alerts/{tier}` },
          {
            name: 'mail',
            type: 'smtp',
            host: '127.0.0.1',
            port: mail.port,
            from: 'edgeward@plant.example',
            to: ['soc@plant.example'],
            tiers: ['critical', 'high', 'medium'],
          },
          { name: 'siem', type: 'syslog' },
        ],
      },
      clock,
    );
  });

  const deliveries = async (alertId: string): Promise<AlertDeliveryView[]> =>
    (await manager.services.alerts.show(alertId)).deliveries;

  test('a critical alert reaches every destination at once: signed webhook, QoS 1 MQTT, mail and syslog', async () => {
    const { alertId } = await manager.services.alerts.raise(signal('critical-now'));
    const hooked = await eventually(
      () => hook.received.find((entry) => entry.body.kind === 'alert' && entry.body.alert.id === alertId),
      'the webhook',
    );
    assert.deepEqual(hook.badSignatures, [], 'every body carries a valid HMAC');
    assert.equal(hooked.body.kind === 'alert' && hooked.body.reason, 'created');
    const published = await eventually(
      () => broker.received.find((entry) => entry.body.kind === 'alert' && entry.body.alert.id === alertId),
      'the MQTT message',
    );
    assert.equal(published.topic, `${topicRoot}/alerts/critical`);
    assert.equal(published.qos, 1);
    const mailed = await eventually(() => mail.mails.find((text) => text.includes(alertId)), 'the mail');
    assert.match(
      mailed,
      /^Subject: \[Edgeward edgeward\.local\] CRITICAL: Rule critical-now \(host=gw-7\) on dev-gw-7: created$/m,
    );
    assert.match(mailed, /To: soc@plant\.example/);
    const logged = await eventually(
      () => siem.alerts('alert').find((message) => sdParam(message, 'alert@32473', 'id') === alertId),
      'the syslog message',
    );
    assert.deepEqual([logged.facility, logged.severity], [14, 2]);
    assert.equal(sdParam(logged, 'alert@32473', 'reason'), 'created');

    const states = await eventually(async () => {
      const all = await deliveries(alertId);
      return all.length === 4 && all.every((delivery) => delivery.state === 'delivered') ? all : undefined;
    }, 'four delivered notifications');
    const hookDelivery = states.find((delivery) => delivery.destination === 'hook');
    assert.equal(hooked.id, hookDelivery?.id, 'x-edgeward-delivery names the delivery');
    assert.equal(hook.received.filter((entry) => entry.id === hooked.id).length, 1, 'sent once');
  });

  test("a rule's route narrows the destinations to the ones it names", async () => {
    const routed = await manager.services.alerts.raise(
      signal('routed', { tier: 'high', route: ['hook', 'nowhere'] }),
    );
    await eventually(
      () =>
        hook.received.some((entry) => entry.body.kind === 'alert' && entry.body.alert.id === routed.alertId),
      'the routed webhook',
    );
    const routedDeliveries = await deliveries(routed.alertId);
    assert.deepEqual(
      routedDeliveries.map((delivery) => delivery.destination),
      ['hook'],
    );
  });

  test('medium alerts wait for the hourly digest: one message per destination listing them', async () => {
    const first = await manager.services.alerts.raise(
      signal('digest-a', { tier: 'medium', severity: 'medium' }),
    );
    const second = await manager.services.alerts.raise(
      signal('digest-b', { tier: 'medium', severity: 'high', groupFields: { host: 'plc-2' } }),
    );
    assert.equal(first.queued + second.queued, 0, 'nothing goes out at once');
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.ok(!hook.received.some((entry) => entry.body.kind === 'digest'), 'no digest before the hour ends');

    clock.offsetMs += HOUR_MS;
    const digest = await eventually(
      () => hook.received.find((entry) => entry.body.kind === 'digest' && entry.body.schedule === 'medium'),
      'the medium digest on the webhook',
    );
    assert.ok(digest.body.kind === 'digest');
    assert.deepEqual(
      digest.body.alerts.map((alert) => alert.id).sort(),
      [first.alertId, second.alertId].sort(),
    );
    assert.equal(digest.body.total, 2);
    assert.equal(digest.body.to % HOUR_MS, 0, 'the period ends on the hour');
    const published = await eventually(
      () => broker.received.find((entry) => entry.body.kind === 'digest'),
      'the digest over MQTT',
    );
    assert.equal(published.topic, `${topicRoot}/alerts/digest-medium`);
    const mailed = await eventually(
      () => mail.mails.find((text) => /Subject: .*digest: 2 medium alerts/.test(text)),
      'the digest mail',
    );
    assert.match(mailed, new RegExp(first.alertId));
    const logged = await eventually(() => siem.alerts('alert-digest')[0], 'the digest at the SIEM');
    assert.equal(sdParam(logged, 'alertDigest@32473', 'total'), '2');
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(
      hook.received.filter((entry) => entry.body.kind === 'digest').length,
      1,
      'one digest per destination',
    );
  });

  test('low alerts wait for the daily digest, which skips destinations not taking the low tier', async () => {
    const low = await manager.services.alerts.raise(signal('digest-low', { tier: 'low', severity: 'low' }));
    const mailsBefore = mail.mails.length;
    clock.offsetMs += DAY_MS;
    const digest = await eventually(
      () => hook.received.find((entry) => entry.body.kind === 'digest' && entry.body.schedule === 'low'),
      'the daily digest',
    );
    assert.ok(digest.body.kind === 'digest');
    assert.deepEqual(
      digest.body.alerts.map((alert) => alert.id),
      [low.alertId],
    );
    assert.equal(digest.body.to % DAY_MS, 0, 'the day ends at 00:00 UTC');
    await eventually(
      () => broker.received.find((entry) => entry.body.kind === 'digest' && entry.body.schedule === 'low'),
      'the low digest over MQTT',
    );
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(mail.mails.length, mailsBefore, 'the mail destination takes no low tier');
  });
});

describe('a failing destination', () => {
  test('a webhook answering 500 is retried from the store, shows as failing, and is delivered after a restart', async () => {
    const secret = 'shared-secret';
    const hook = new WebhookSink(secret);
    await hook.listen();
    hook.status = 500;
    const dir = await tempDir();
    const secretFile = join(dir, 'hook.secret');
    await writeFile(secretFile, secret);
    const settings = { alertDestinations: [{ name: 'flaky', type: 'webhook', url: hook.url, secretFile }] };
    let manager = await startManager(dir, settings);
    const adminToken = manager.firstStart?.adminToken.token ?? '';
    assert.ok(adminToken);

    const { alertId } = await manager.services.alerts.raise(signal('flaky'));
    const failing = await eventually(async () => {
      const { deliveries } = await operatorGet<AlertDeliveryListView>(
        manager,
        '/api/v1/alert-deliveries?state=failing',
        adminToken,
      );
      return deliveries.find((delivery) => delivery.alertId === alertId);
    }, 'the delivery shown as failing');
    assert.ok(failing.attempts >= 2);
    assert.match(failing.lastError ?? '', /webhook flaky answered HTTP 500: broken/);
    await manager.close();
    const attemptsWhileDown = hook.received.length;
    assert.ok(attemptsWhileDown >= 2, `${attemptsWhileDown} attempts`);
    assert.ok(
      hook.received.every((entry) => entry.id === failing.id),
      'the same delivery each time',
    );

    // The receiver is fixed; a new manager process picks the delivery up from the store.
    hook.status = 200;
    manager = await startManager(dir, settings);
    const delivered = await eventually(async () => {
      const { deliveries } = await manager.services.alerts.deliveries(undefined, 10);
      const found = deliveries.find((delivery) => delivery.id === failing.id);
      return found?.state === 'delivered' ? found : undefined;
    }, 'the delivery after the restart');
    assert.ok(delivered.attempts > attemptsWhileDown - 1);
    assert.equal(delivered.lastError, null);
    assert.deepEqual(
      (
        await operatorGet<AlertDeliveryListView>(
          manager,
          '/api/v1/alert-deliveries?state=failing',
          adminToken,
        )
      ).deliveries,
      [],
    );
    assert.deepEqual(hook.badSignatures, []);
    assert.ok(hook.received.length > attemptsWhileDown);
    await manager.close();
  });

  test('a destination whose secret file cannot be read stops the start with what to fix', async () => {
    const dir = await tempDir();
    await assert.rejects(
      startManager(dir, {
        alertDestinations: [
          { name: 'hook', type: 'webhook', url: 'http://127.0.0.1:9/x', secretFile: join(dir, 'missing') },
        ],
      }),
      (error: Error & { code?: string }) =>
        error.code === 'EW_CONFIG_INVALID' &&
        /alert destination hook: secretFile names .*missing/.test(error.message),
    );
  });

  test('alertDestinations are validated: JSON from the environment, unique names, syslog needs syslog out', () => {
    const resolve = (values: Record<string, unknown>) =>
      resolveManagerConfig([{ source: 'environment', values }]);
    const config = resolve({
      alertDestinations: JSON.stringify([
        { name: 'pager', type: 'webhook', url: 'https://hooks.example/x', tiers: ['critical'] },
      ]),
    });
    assert.deepEqual(config.alertDestinations, [
      { name: 'pager', type: 'webhook', url: 'https://hooks.example/x', tiers: ['critical'] },
    ]);
    assert.throws(() => resolve({ alertDestinations: '[{' }), /alertDestinations .*not valid JSON/);
    assert.throws(
      () =>
        resolve({
          alertDestinations: [
            { name: 'a', type: 'syslog' },
            { name: 'a', type: 'webhook', url: 'https://x.example' },
          ],
        }),
      /destination names must be unique/,
    );
    assert.throws(() => resolve({ alertDestinations: [{ name: 's', type: 'syslog' }] }), /set syslogOutUrl/);
    assert.throws(
      () => resolve({ alertDestinations: [{ name: 'm', type: 'mqtt', url: 'http://broker:1883' }] }),
      /mqtt:\/\//,
    );
    assert.throws(
      () =>
        resolve({
          alertDestinations: [{ name: 'w', type: 'webhook', url: 'https://x.example', secret: 'inline' }],
        }),
      /alertDestinations/,
      'secrets are never inline',
    );
  });
});

describe('replicas on one PostgreSQL database', () => {
  const schema = `Ew Alerts ${process.pid}-${Date.now()}`;
  after(async () => {
    const client = new pg.Client({ connectionString: postgresUrl });
    await client.connect();
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await client.end();
  });

  test('each notification is sent once by one of the replicas', async () => {
    const hook = new WebhookSink('k');
    await hook.listen();
    const dir = await tempDir();
    await writeFile(join(dir, 'hook.secret'), 'k');
    const settings = {
      database: postgresUrl,
      databaseSchema: schema,
      alertDestinations: [
        { name: 'hook', type: 'webhook', url: hook.url, secretFile: join(dir, 'hook.secret') },
      ],
    };
    // Replicas share the data directory (keys) and the database.
    const first = await startManager(dir, settings);
    const second = await startManager(dir, settings);
    const raised = await Promise.all(
      Array.from({ length: 20 }, (_, index) =>
        (index % 2 === 0 ? first : second).services.alerts.raise(
          signal('replicated', { groupKey: `["${index}"]`, groupFields: { n: String(index) } }),
        ),
      ),
    );
    assert.equal(new Set(raised.map((result) => result.alertId)).size, 20);
    await eventually(() => hook.received.length >= 20 || undefined, '20 webhooks');
    await new Promise((resolve) => setTimeout(resolve, 500));
    const ids = hook.received.map((entry) => entry.id);
    assert.equal(ids.length, 20, 'no notification sent twice');
    assert.equal(new Set(ids).size, 20);
    await first.close();
    await second.close();
  });
});
