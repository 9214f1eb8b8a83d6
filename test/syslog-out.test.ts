import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { type AddressInfo, createServer, type Server, type Socket } from 'node:net';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { createServer as createTlsServer } from 'node:tls';
import {
  createIssuingCa,
  createRootCa,
  exportPrivateKeyPem,
  generateDeviceKeyPair,
  issueServerCertificate,
  parseSyslog,
  SyslogFrameDecoder,
  type SyslogMessage,
} from '@edgeward/core';
import { buildManager, type Manager, resolveManagerConfig } from '@edgeward/manager';
import { eventually, silentLogger } from './support/test-manager.ts';

/**
 * Syslog out: a real TCP or TLS server on 127.0.0.1 plays the SIEM, real managers on SQLite send it the
 * record of operator actions, and the SIEM goes away and comes back.
 */

const ada = { id: 'op-ada', name: 'Ada', role: 'operator' } as const;
const HOUR_MS = 3_600_000;
const cleanups: (() => Promise<void>)[] = [];
after(async () => {
  for (const cleanUp of cleanups.reverse()) await cleanUp();
});

/** A SIEM: accepts octet-counted RFC 5424 over TCP or TLS and keeps every message in arrival order. */
class Siem {
  readonly received: SyslogMessage[] = [];
  port = 0;
  secureConnections = 0;
  readonly #tls: { key: string; cert: string } | undefined;
  #server: Server | undefined;
  readonly #sockets = new Set<Socket>();

  constructor(tls?: { key: string; cert: string }) {
    this.#tls = tls;
    cleanups.push(() => this.down());
  }

  /** Listens, on the port of the last `up` when there was one. */
  async up(): Promise<void> {
    const server = this.#tls === undefined ? createServer() : createTlsServer(this.#tls);
    const accept = (socket: Socket) => {
      if (this.#tls !== undefined) this.secureConnections += 1;
      this.#sockets.add(socket);
      const decoder = new SyslogFrameDecoder({ framing: 'octet-counting' });
      socket.on('data', (chunk: Buffer) => {
        for (const frame of decoder.push(chunk)) {
          const message = parseSyslog(frame, { receivedAt: Date.now() });
          assert.notEqual(message.format, 'malformed', JSON.stringify(message));
          if (message.format !== 'malformed') this.received.push(message);
        }
      });
      socket.on('error', () => {});
      socket.on('close', () => this.#sockets.delete(socket));
    };
    server.on(this.#tls === undefined ? 'connection' : 'secureConnection', accept);
    server.on('tlsClientError', () => {});
    // Coming back on its old port, the SIEM may find it briefly taken by another test's connection on
    // this machine (ports are shared); it tries again, as a restarting service would.
    for (let attempt = 0; ; attempt += 1) {
      try {
        await new Promise<void>((resolve, reject) => {
          server.once('error', reject);
          server.listen(this.port, '127.0.0.1', () => resolve());
        });
        break;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE' || attempt >= 100) throw error;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
    this.port = (server.address() as AddressInfo).port;
    this.#server = server;
  }

  /** Drops every connection, as a crashing SIEM does; `andStop` also stops listening. */
  async down(andStop = true): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    const server = this.#server;
    if (!andStop || server === undefined) return;
    this.#server = undefined;
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Action ids of the audit entries received, in arrival order, duplicates included. */
  auditIds(): string[] {
    return this.received.flatMap((message) => {
      const id = sdParam(message, 'audit@32473', 'id');
      return id === undefined ? [] : [id];
    });
  }
}

function sdParam(message: SyslogMessage, sdId: string, name: string): string | undefined {
  return message.structuredData
    .find((element) => element.id === sdId)
    ?.params.find((param) => param.name === name)?.value;
}

function firstOccurrences(ids: readonly string[]): string[] {
  return [...new Set(ids)];
}

async function dataDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'edgeward-syslog-out-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** A real manager on SQLite in `dir`, listening on free ports; closing it keeps the directory. */
async function startManager(dir: string, values: Record<string, unknown>): Promise<Manager> {
  const config = resolveManagerConfig([
    {
      source: 'test',
      values: { dataDir: dir, host: '127.0.0.1', devicePort: 0, operatorPort: 0, ...values },
    },
  ]);
  const manager = await buildManager(config, { logger: silentLogger });
  await manager.listen();
  let closed = false;
  const close = manager.close.bind(manager);
  cleanups.push(async () => {
    if (!closed) await close();
  });
  return {
    ...manager,
    close: async () => {
      closed = true;
      await close();
    },
  };
}

/** Every recorded action id, oldest first. */
async function actionIds(manager: Manager): Promise<string[]> {
  return (await manager.store.actions.list({ limit: 10_000 })).map((action) => action.id).reverse();
}

function forwarder(manager: Manager) {
  assert.ok(manager.syslogOut, 'syslog out is configured');
  return manager.syslogOut;
}

async function allArrived(siem: Siem, expected: readonly string[]): Promise<void> {
  await eventually(() => {
    const arrived = new Set(siem.auditIds());
    return expected.every((id) => arrived.has(id)) || undefined;
  }, `${expected.length} audit entries at the SIEM`);
}

test('rejects a syslogOutUrl that is not tcp:// or tls://, naming the accepted forms', () => {
  for (const url of ['udp://siem:514', 'tcp://siem', 'siem:6514', 'tls://siem:70000', 'tcp://siem:514/x']) {
    assert.throws(
      () => resolveManagerConfig([{ source: 'test', values: { syslogOutUrl: url } }]),
      (error: Error & { code?: string }) =>
        error.code === 'EW_CONFIG_INVALID' &&
        /syslogOutUrl.*tcp:\/\/HOST:PORT or tls:\/\/HOST:PORT/.test(error.message),
      url,
    );
  }
  assert.throws(
    () =>
      resolveManagerConfig([
        { source: 'test', values: { syslogOutUrl: 'tcp://siem:514', syslogOutCaFile: '/etc/ca.pem' } },
      ]),
    /syslogOutCaFile.*tls:\/\//,
  );
  const config = resolveManagerConfig([{ source: 'test', values: { syslogOutUrl: 'tls://[::1]:6514' } }]);
  assert.equal(config.syslogOutAppName, 'edgeward');
  assert.equal(config.syslogOutMaxQueued, 1_000_000);
});

test('every audit entry reaches the SIEM in order across an outage and a manager restart, none lost', async () => {
  const siem = new Siem();
  await siem.up();
  const dir = await dataDir();
  const settings = { syslogOutUrl: `tcp://127.0.0.1:${siem.port}` };
  let manager = await startManager(dir, settings);

  const first = await manager.services.tokens.create(ada, { site: 'plant-a' }, HOUR_MS);
  await allArrived(siem, await actionIds(manager));
  const entry = siem.received.find((message) => sdParam(message, 'audit@32473', 'target') === first.id);
  assert.ok(entry, 'the token.create entry');
  assert.equal(entry.facility, 4, 'auth');
  assert.equal(entry.severity, 5, 'notice');
  assert.equal(entry.appName, 'edgeward');
  assert.equal(entry.msgId, 'audit');
  assert.equal(entry.hostname, hostname().replace(/[^!-~]/g, '_'));
  assert.equal(sdParam(entry, 'audit@32473', 'operator'), 'Ada');
  assert.equal(sdParam(entry, 'audit@32473', 'action'), 'token.create');
  assert.equal(entry.message, `operator Ada created enrollment token ${first.id}`);

  // The SIEM goes down; actions go on at once, the manager restarts, more actions, and the SIEM is back.
  await siem.down();
  const during = await manager.services.tokens.create(ada, {}, HOUR_MS);
  await manager.services.tokens.revoke(ada, first.id);
  await manager.services.tokens.create(ada, {}, HOUR_MS);
  const resentBefore = forwarder(manager).stats.resent;
  await manager.close();
  manager = await startManager(dir, settings);
  await manager.services.tokens.revoke(ada, during.id);
  await manager.services.tokens.create(ada, {}, HOUR_MS);
  assert.ok((await manager.store.syslogOutbox.count()) >= 5, 'the outage entries wait on disk');
  await siem.up();

  const expected = await actionIds(manager);
  await allArrived(siem, expected);
  const ids = siem.auditIds();
  assert.deepEqual(firstOccurrences(ids), expected, 'each entry, in the order it was recorded');
  const duplicates = ids.length - expected.length;
  assert.ok(
    duplicates <= resentBefore + forwarder(manager).stats.resent,
    `${duplicates} duplicates, all from the resend window`,
  );
  // What stays queued is the resend window: entries the SIEM already has.
  const arrived = new Set(ids);
  for (const row of await manager.store.syslogOutbox.peek(1000)) {
    const id = /\[audit@32473 id="([^"]+)"/.exec(row.message)?.[1];
    assert.ok(id !== undefined && arrived.has(id), row.message);
  }
  await manager.close();
});

test('after a dropped connection the last batch is sent again, and the duplicates are counted', async () => {
  const siem = new Siem();
  await siem.up();
  const manager = await startManager(await dataDir(), { syslogOutUrl: `tcp://127.0.0.1:${siem.port}` });
  await manager.services.tokens.create(ada, {}, HOUR_MS);
  await allArrived(siem, await actionIds(manager));

  // Entries went out moments ago, so the manager reconnects at once and sends them again.
  await siem.down(false);
  await eventually(() => forwarder(manager).stats.resent > 0 || undefined, 'the resend');
  await manager.services.tokens.create(ada, {}, HOUR_MS);
  const expected = await actionIds(manager);
  await allArrived(siem, expected);

  const ids = siem.auditIds();
  assert.deepEqual(firstOccurrences(ids), expected);
  assert.equal(
    ids.length - expected.length,
    forwarder(manager).stats.resent,
    'every duplicate is a counted resend',
  );
  await manager.close();
});

test('sends over TLS to a SIEM whose certificate the CA in syslogOutCaFile issued, and to no other', async () => {
  const now = Date.now();
  const rootKeys = await generateDeviceKeyPair();
  const root = {
    certPem: await createRootCa({ fleet: 'siem.test', keys: rootKeys, now }),
    privateKey: rootKeys.privateKey,
  };
  const issuingKeys = await generateDeviceKeyPair();
  const issuing = {
    certPem: await createIssuingCa({ fleet: 'siem.test', root, keys: issuingKeys, now }),
    privateKey: issuingKeys.privateKey,
  };
  const serverKeys = await generateDeviceKeyPair();
  const serverCert = await issueServerCertificate({
    issuer: issuing,
    publicKey: serverKeys.publicKey,
    dnsNames: ['localhost'],
    ipAddresses: ['127.0.0.1'],
    now,
    validityDays: 1,
  });
  const siem = new Siem({
    key: await exportPrivateKeyPem(serverKeys.privateKey),
    cert: serverCert + issuing.certPem,
  });
  await siem.up();
  const dir = await dataDir();
  const caFile = join(dir, 'siem-ca.pem');
  await writeFile(caFile, root.certPem);

  const trusting = await startManager(join(dir, 'trusting'), {
    syslogOutUrl: `tls://127.0.0.1:${siem.port}`,
    syslogOutCaFile: caFile,
  });
  const token = await trusting.services.tokens.create(ada, {}, HOUR_MS);
  await allArrived(siem, await actionIds(trusting));
  assert.ok(siem.auditIds().length > 0);
  assert.ok(siem.received.some((message) => sdParam(message, 'audit@32473', 'target') === token.id));

  // Without the test CA, the system CAs do not vouch for this SIEM: nothing is sent.
  const untrusting = await startManager(join(dir, 'untrusting'), {
    syslogOutUrl: `tls://127.0.0.1:${siem.port}`,
  });
  await eventually(() => forwarder(untrusting).stats.lastError, 'a refused handshake');
  assert.match(forwarder(untrusting).stats.lastError ?? '', /certificate/i);
  const refused = new Set(await actionIds(untrusting));
  assert.ok(refused.size > 0);
  assert.ok(!siem.auditIds().some((id) => refused.has(id)), 'no entry of the untrusting manager arrived');
  assert.equal(forwarder(untrusting).stats.sent, 0);
  await untrusting.close();
  await trusting.close();
});

test('when more than syslogOutMaxQueued entries wait, the oldest are dropped and one overflow entry says how many', async () => {
  const siem = new Siem();
  await siem.up();
  await siem.down();
  const manager = await startManager(await dataDir(), {
    syslogOutUrl: `tcp://127.0.0.1:${siem.port}`,
    syslogOutMaxQueued: 3,
  });
  for (let index = 0; index < 5; index += 1) await manager.services.tokens.create(ada, {}, HOUR_MS);
  const all = await actionIds(manager);
  assert.equal(all.length, 7, 'the first admin, the first enrollment token and five more');
  await eventually(() => forwarder(manager).stats.dropped === 4 || undefined, 'the outbox to be trimmed');
  assert.equal(await manager.store.syslogOutbox.count(), 3);

  await siem.up();
  const kept = all.slice(-3);
  await allArrived(siem, kept);
  const overflows = siem.received.filter((message) => message.msgId === 'overflow');
  assert.equal(overflows.length, 1, 'one overflow entry');
  const [overflow] = overflows;
  assert.equal(siem.received[0], overflow, 'before the entries that were kept');
  assert.equal(sdParam(overflow!, 'overflow@32473', 'dropped'), '4');
  assert.equal(overflow!.severity, 4, 'warning');
  assert.match(
    overflow!.message,
    /^outbox overflow: 4 entries were dropped, the oldest first, because more than 3 waited/,
  );
  assert.deepEqual(siem.auditIds(), kept, 'the newest entries, in order');
  await manager.close();
});
