/**
 * Event ingest end to end: a real manager (on SQLite, then on PostgreSQL), real enrolled devices posting
 * compressed batches over mutual TLS with the agent's own client, and the operator API and CLI reading
 * them back.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { AgentFiles, enrollAgent, ManagerClient } from '@edgeward/agent';
import {
  type DeviceEvent,
  type EdgewardError,
  type EventBatchReply,
  type EventListView,
  encodeCompactBatch,
  queuedEventId,
} from '@edgeward/core';
import { buildManager, resolveManagerConfig } from '@edgeward/manager';
import { createStore } from '@edgeward/store';
import pg from 'pg';
import { runEdgeward } from './support/cli-process.ts';
import { eventually, silentLogger, startTestManager, type TestManager } from './support/test-manager.ts';

const postgresUrl = process.env.EDGEWARD_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const DAY_MS = 86_400_000;
const admin = { id: 'test', name: 'test', role: 'admin' as const };

/** Event `seq` with data large enough that a batch of a few dozen travels zstd-compressed. */
function event(seq: number, overrides: Partial<DeviceEvent> = {}): DeviceEvent {
  return {
    seq,
    id: `00000000-0000-4000-8000-${String(seq).padStart(12, '0')}`,
    type: 'auth.login_failed',
    severity: 'medium',
    time: Date.now() - 60_000 + seq,
    data: { user: 'root', source: '10.0.0.9', service: 'sshd', message: `Failed password for root (${seq})` },
    ...overrides,
  };
}
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, index) => from + index);
const batch = (seqs: readonly number[], overrides: Partial<DeviceEvent> = {}) => ({
  v: 1 as const,
  events: seqs.map((seq) => event(seq, overrides)),
});

for (const engine of ['sqlite', 'postgres'] as const) {
  describe(`event ingest on ${engine}`, () => {
    const schema = `Ew Events ${process.pid}-${Date.now()}`;
    let hub: TestManager;
    let work: string;
    const clients: ManagerClient[] = [];

    before(async () => {
      hub = await startTestManager(
        engine === 'postgres' ? { database: postgresUrl, databaseSchema: schema } : {},
      );
      work = await mkdtemp(join(tmpdir(), 'edgeward-event-agents-'));
    });
    after(async () => {
      for (const client of clients) client.close();
      await hub?.close();
      await rm(work, { recursive: true, force: true });
      if (engine === 'postgres') {
        const client = new pg.Client({ connectionString: postgresUrl });
        await client.connect();
        await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
        await client.end();
      }
    });

    let devices = 0;
    /** Enrolls a new device; returns its id and a way to open more mTLS connections as it. */
    async function enrolledDevice(): Promise<{ deviceId: string; connect: () => Promise<ManagerClient> }> {
      const dataDir = join(work, `agent-${++devices}`);
      const token = await hub.manager.services.tokens.create(admin, { bench: 'events' }, 3_600_000);
      const { deviceId } = await enrollAgent({
        managerUrl: hub.deviceUrl,
        token: token.token,
        caFingerprint: hub.manager.pki.caFingerprint,
        dataDir,
        hostname: `events-${devices}`,
        agentVersion: 'test',
        reportIntervalMs: 1000,
        timeoutMs: 5000,
      });
      const files = new AgentFiles(dataDir);
      const connect = async () => {
        const chain = await files.readText('chain.pem');
        const client = new ManagerClient({
          managerUrl: hub.deviceUrl,
          ca: `${await files.readText('ca.pem')}${chain}`,
          keyPem: await files.readKey(),
          certChainPem: `${await files.readText('cert.pem')}${chain}`,
          timeoutMs: 10_000,
        });
        clients.push(client);
        return client;
      };
      return { deviceId, connect };
    }

    const post = async (client: ManagerClient, body: unknown) =>
      (await client.post<EventBatchReply>('/v1/events', body)).body;
    const storedSeqs = async (deviceId: string) =>
      (await hub.manager.store.events.query({ deviceId, limit: 10_000 }))
        .map((record) => record.seq)
        .sort((a, b) => a - b);

    test('a compressed batch is stored and acknowledged; posting it again stores nothing twice', async () => {
      const { deviceId, connect } = await enrolledDevice();
      const client = await connect();
      const body = batch(range(1, 40));
      assert.ok(JSON.stringify(body).length > 1024, 'large enough for the client to compress');
      assert.deepEqual(await post(client, body), { v: 1, ackedSeq: 40 });
      assert.deepEqual(await post(client, body), { v: 1, ackedSeq: 40 });
      assert.deepEqual(await post(client, batch(range(30, 45))), { v: 1, ackedSeq: 45 });
      assert.deepEqual(await storedSeqs(deviceId), range(1, 45));
    });

    test('events out of order: a gap holds the acknowledgement, then filling it advances past what was held', async () => {
      const { deviceId, connect } = await enrolledDevice();
      const client = await connect();
      assert.equal((await post(client, batch(range(1, 10)))).ackedSeq, 10);
      assert.equal((await post(client, batch([...range(16, 20), 25]))).ackedSeq, 10);
      const held = await hub.manager.store.events.deliveryState(deviceId);
      assert.deepEqual(held.gaps, [
        { from: 11, to: 15 },
        { from: 21, to: 24 },
      ]);
      assert.equal((await post(client, batch(range(11, 15)))).ackedSeq, 20);
      assert.equal((await post(client, batch(range(21, 24)))).ackedSeq, 25);
      assert.deepEqual(await storedSeqs(deviceId), range(1, 25));
      assert.deepEqual(
        (await hub.manager.store.events.deliveryState(deviceId)).detectedGaps.map(({ from, to }) => [
          from,
          to,
        ]),
        [
          [21, 24],
          [11, 15],
        ],
        'each gap is recorded when first seen',
      );
    });

    test("a batch's floorSeq moves the acknowledgement over events the device evicted", async () => {
      const { deviceId, connect } = await enrolledDevice();
      const client = await connect();
      assert.equal((await post(client, batch(range(1, 5)))).ackedSeq, 5);
      assert.equal((await post(client, batch(range(9, 12)))).ackedSeq, 5);
      assert.deepEqual(await post(client, { ...batch(range(13, 14)), floorSeq: 8 }), { v: 1, ackedSeq: 14 });
      assert.deepEqual(await storedSeqs(deviceId), [...range(1, 5), ...range(9, 14)]);
    });

    test('the same batch posted twice at once over two connections is stored once', async () => {
      const { deviceId, connect } = await enrolledDevice();
      const [first, second, third] = await Promise.all([connect(), connect(), connect()]);
      const body = batch(range(1, 300));
      const replies = await Promise.all([first, second, third].map((client) => post(client!, body)));
      assert.deepEqual(
        replies.map((reply) => reply.ackedSeq),
        [300, 300, 300],
      );
      assert.deepEqual(await storedSeqs(deviceId), range(1, 300));
    });

    test('an event keeps the device time it was sent with beside the time the manager received it', async () => {
      const { deviceId, connect } = await enrolledDevice();
      const client = await connect();
      const deviceTime = Date.now() - 2 * 3_600_000;
      const beforeMs = hub.clock.now();
      await post(client, batch([1], { time: deviceTime }));
      const afterMs = hub.clock.now();
      const [stored] = await hub.manager.store.events.query({ deviceId });
      assert.equal(stored?.time, deviceTime);
      assert.ok(stored !== undefined && stored.receivedAt >= beforeMs && stored.receivedAt <= afterMs);
      const device = await hub.manager.store.devices.findById(deviceId);
      assert.ok(device?.lastSeenAt !== null && (device?.lastSeenAt ?? 0) >= beforeMs, 'the device was seen');
    });

    test('a compact (v2) batch is stored as the very events it encodes, each once', async () => {
      const { deviceId, connect } = await enrolledDevice();
      const client = await connect();
      const line = (seq: number) =>
        `2026-11-20T00:00:05.447113+00:00 gw sshd[${4000 + seq}]: Failed password for root from 203.0.113.${seq} port ${30_000 + seq} ssh2`;
      const events = range(1, 60).map((seq) =>
        event(seq, {
          id: seq % 3 === 0 ? queuedEventId(seq) : event(seq).id,
          data: {
            user: 'root',
            sourceAddress: `203.0.113.${seq}`,
            sourcePort: 30_000 + seq,
            pid: 4000 + seq,
            line: line(seq),
          },
        }),
      );
      assert.deepEqual(await post(client, encodeCompactBatch(events)), { v: 1, ackedSeq: 60 });
      assert.deepEqual(await post(client, encodeCompactBatch(events.slice(50))), { v: 1, ackedSeq: 60 });
      const stored = await hub.manager.store.events.query({ deviceId, limit: 10_000 });
      assert.deepEqual(
        stored
          .map(({ seq, id, type, severity, time, data }) => ({ seq, id, type, severity, time, data }))
          .sort((a, b) => a.seq - b.seq),
        events,
      );
    });

    test('a malformed batch is refused naming the field, a newer protocol version by its version', async () => {
      const { deviceId, connect } = await enrolledDevice();
      const client = await connect();
      await assert.rejects(
        post(client, { v: 1, events: [{ ...event(1), seq: 0 }] }),
        (error: EdgewardError) => {
          assert.equal(error.code, 'EW_REQUEST_INVALID');
          assert.match(error.message, /events\.0\.seq/);
          return true;
        },
      );
      await assert.rejects(post(client, { v: 3, events: [] }), { code: 'EW_PROTOCOL_VERSION_UNSUPPORTED' });
      await assert.rejects(
        post(client, { ...encodeCompactBatch([event(1)]), count: 2 }),
        (error: EdgewardError) => {
          assert.equal(error.code, 'EW_REQUEST_INVALID');
          assert.match(error.message, /the id column does not have one entry per event/);
          return true;
        },
      );
      assert.deepEqual(await storedSeqs(deviceId), []);
    });

    test('a client without a device certificate cannot post events', async () => {
      const anonymous = new ManagerClient({
        managerUrl: hub.deviceUrl,
        ca: hub.manager.pki.rootCaPem,
        timeoutMs: 5000,
      });
      clients.push(anonymous);
      await assert.rejects(post(anonymous, batch([1])), { code: 'EW_CLIENT_CERT_REQUIRED' });
    });

    test('the operator API filters by device, type, minimum severity and time, and pages with a cursor', async () => {
      const { deviceId, connect } = await enrolledDevice();
      const other = await enrolledDevice();
      const now = Date.now();
      await post(await connect(), {
        v: 1,
        events: [
          event(1, { type: 'auth.login_failed', severity: 'low', time: now - 3 * 3_600_000 }),
          event(2, { type: 'auth.login_failed', severity: 'high', time: now - 30 * 60_000 }),
          event(3, { type: 'auth.login_succeeded', severity: 'info', time: now - 20 * 60_000 }),
          event(4, { type: 'fim.permissions_changed', severity: 'high', time: now - 10 * 60_000 }),
          event(5, { type: 'auth.login_failed', severity: 'critical', time: now - 5 * 60_000 }),
        ],
      });
      await post(await other.connect(), batch([1], { severity: 'critical', time: now - 60_000 }));
      const list = async (query: string) => {
        const reply = await operatorGet<EventListView>(`/api/v1/events?${query}`);
        assert.equal(reply.status, 200, JSON.stringify(reply.body));
        return reply.body;
      };
      const seqs = async (query: string) => (await list(query)).events.map((item) => item.seq);
      const device = `device=${deviceId}`;
      assert.deepEqual(await seqs(device), [5, 4, 3, 2, 1]);
      assert.deepEqual(await seqs(`${device}&type=auth.login_failed`), [5, 2, 1]);
      assert.deepEqual(await seqs(`${device}&severity=high`), [5, 4, 2]);
      assert.deepEqual(await seqs(`${device}&since=1h`), [5, 4, 3, 2]);
      assert.deepEqual(
        await seqs(`${device}&since=${now - 25 * 60_000}&until=${new Date(now - 7 * 60_000).toISOString()}`),
        [4, 3],
      );
      assert.deepEqual(await seqs(`${device}&type=auth.login_failed&severity=high&since=1h`), [5, 2]);
      const critical = await list('severity=critical&since=1h');
      assert.deepEqual(
        critical.events.map((item) => item.deviceId),
        [other.deviceId, deviceId],
        'without a device, every device',
      );

      const first = await list(`${device}&limit=2`);
      assert.deepEqual(
        first.events.map((item) => item.seq),
        [5, 4],
      );
      assert.ok(first.nextBefore);
      const second = await list(`${device}&limit=2&before=${first.nextBefore}`);
      const third = await list(`${device}&limit=2&before=${second.nextBefore}`);
      assert.deepEqual(
        [...second.events, ...third.events].map((item) => item.seq),
        [3, 2, 1],
      );
      assert.equal(third.nextBefore, null);
      const [latest] = first.events;
      assert.equal(latest?.data.service, 'sshd');
      assert.equal(typeof latest?.receivedAt, 'number');
    });

    test('the operator API refuses an unknown device, a bad time and a bad cursor, naming each', async () => {
      const unknown = await operatorGet<{ error: { code: string } }>('/api/v1/events?device=dev-nope');
      assert.equal(unknown.status, 404);
      assert.equal(unknown.body.error.code, 'EW_DEVICE_NOT_FOUND');
      for (const [query, name] of [
        ['since=yesterday', /since "yesterday"/],
        ['before=not-a-cursor', /before "not-a-cursor"/],
        ['severity=urgent', /severity/],
        ['limit=5000', /limit/],
      ] as const) {
        const bad = await operatorGet<{ error: { code: string; message: string } }>(
          `/api/v1/events?${query}`,
        );
        assert.equal(bad.status, 400, query);
        assert.equal(bad.body.error.code, 'EW_REQUEST_INVALID');
        assert.match(bad.body.error.message, name);
      }
    });

    test('retention prunes events received longer ago than eventRetentionDays (30 by default)', async () => {
      const { deviceId, connect } = await enrolledDevice();
      const client = await connect();
      try {
        hub.clock.offsetMs = -31 * DAY_MS;
        await post(client, batch(range(1, 5)));
        hub.clock.offsetMs = -29 * DAY_MS;
        await post(client, batch(range(6, 8)));
      } finally {
        hub.clock.offsetMs = 0;
      }
      assert.equal(await hub.manager.services.events.prune(), 5);
      assert.deepEqual(await storedSeqs(deviceId), [6, 7, 8]);
      assert.deepEqual(
        await post(client, batch(range(1, 9))),
        { v: 1, ackedSeq: 9 },
        'pruned events stay acknowledged',
      );
      assert.deepEqual(await storedSeqs(deviceId), [6, 7, 8, 9]);
    });

    if (engine === 'sqlite') {
      test('edgeward events prints a table with device time, receipt time and a data summary, or JSON', async () => {
        const { deviceId, connect } = await enrolledDevice();
        await post(await connect(), batch([1, 2], { time: Date.now() - 2 * 3_600_000, severity: 'high' }));
        const api = ['--api', hub.operatorUrl, '--token', hub.adminToken, '--data-dir', hub.dir];
        const table = await runEdgeward([
          'events',
          '--device',
          deviceId,
          '--severity',
          'high',
          '--since',
          '3h',
          ...api,
        ]);
        assert.equal(table.code, 0, table.stderr);
        const lines = table.stdout.trim().split('\n');
        assert.match(lines[0] ?? '', /^TIME \(DEVICE\)\s+RECEIVED\s+DEVICE\s+SEVERITY\s+TYPE\s+DATA$/);
        assert.equal(lines.length, 3);
        assert.match(
          lines[1] ?? '',
          new RegExp(
            `\\(\\+2h( \\d+s)?\\)\\s+${deviceId}\\s+high\\s+auth\\.login_failed\\s+user=root source=10\\.0\\.0\\.9`,
          ),
        );
        assert.match(table.stderr, /2 events/);
        const asJson = await runEdgeward(['events', '--device', deviceId, '--limit', '1', '--json', ...api]);
        assert.equal(asJson.code, 0, asJson.stderr);
        const page = JSON.parse(asJson.stdout) as EventListView;
        assert.deepEqual(
          page.events.map((item) => [item.deviceId, item.seq]),
          [[deviceId, 2]],
        );
        assert.ok(page.nextBefore);
      });
    }

    function operatorGet<T>(path: string): Promise<{ status: number; body: T }> {
      return new Promise((resolve, reject) => {
        const outgoing = request(
          new URL(path, hub.operatorUrl),
          { ca: hub.manager.pki.rootCaPem, headers: { authorization: `Bearer ${hub.adminToken}` } },
          (response) => {
            let text = '';
            response.on('data', (chunk: Buffer) => {
              text += chunk;
            });
            response.on('end', () =>
              resolve({ status: response.statusCode ?? 0, body: JSON.parse(text) as T }),
            );
          },
        );
        outgoing.on('error', reject);
        outgoing.end();
      });
    }
  });
}

test('a starting manager prunes events already past retention', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'edgeward-retention-'));
  const store = await createStore({ database: `sqlite:${join(dir, 'edgeward.db')}` });
  const config = resolveManagerConfig([
    {
      source: 'test',
      values: { dataDir: dir, host: '127.0.0.1', devicePort: 0, operatorPort: 0, eventRetentionDays: 7 },
    },
  ]);
  const manager = await buildManager(config, { logger: silentLogger, store });
  try {
    await store.devices.create({
      id: 'dev-old',
      name: 'dev-old',
      labels: {},
      enrolledAt: 0,
      enrollmentTokenId: null,
      lastSeenAt: null,
      reportIntervalMs: 60_000,
      agentVersion: 'test',
      inventoryVersion: 0,
      revokedAt: null,
    });
    await store.events.ingest('dev-old', [event(1), event(2)], Date.now() - 8 * DAY_MS);
    await store.events.ingest('dev-old', [event(3)], Date.now() - 6 * DAY_MS);
    await manager.listen();
    await eventually(
      async () => (await store.events.query()).length === 1,
      'the events older than 7 days to be pruned',
    );
    assert.deepEqual(
      (await store.events.query()).map((record) => record.seq),
      [3],
    );
  } finally {
    await manager.close();
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
});
