import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect as connectTcp, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { connect as connectTls } from 'node:tls';
import { encodeOctetCounted, isEdgewardError, type ParsedSyslogMessage } from '@edgeward/core';
import pino from 'pino';
import { FleetPki } from '../pki/fleet-pki.ts';
import { SyslogListener, type SyslogListenerOptions, type SyslogSource } from './syslog-listener.ts';

const logger = pino({ level: 'silent' });
const local = { host: '127.0.0.1', port: 0 };
let pkiDir: string;
let pki: FleetPki;

before(async () => {
  pkiDir = await mkdtemp(join(tmpdir(), 'edgeward-syslog-'));
  ({ pki } = await FleetPki.open({
    dir: pkiDir,
    fleet: 'edgeward.local',
    serverNames: ['localhost', '127.0.0.1'],
    clock: { now: () => Date.now() },
    logger,
  }));
});
after(() => rm(pkiDir, { recursive: true, force: true }));

interface Received {
  readonly source: SyslogSource;
  readonly message: ParsedSyslogMessage;
}

/** A listener whose handler records every message; `handler` may be replaced per test. */
async function startListener(
  options: Partial<SyslogListenerOptions> & {
    handler?: (source: SyslogSource, messages: ParsedSyslogMessage[]) => Promise<void>;
  },
) {
  const received: Received[] = [];
  const batches: number[] = [];
  const { handler, ...rest } = options;
  const listener = new SyslogListener({
    logger,
    onMessages: async (source, messages) => {
      batches.push(messages.length);
      if (handler !== undefined) await handler(source, messages);
      for (const message of messages) received.push({ source, message });
    },
    ...rest,
  });
  const addresses = await listener.listen();
  return { listener, addresses, received, batches };
}

async function waitFor(condition: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

const texts = (received: readonly Received[]) =>
  received.map(({ message }) => (message.format === 'malformed' ? `!${message.raw}` : message.message));

function openTcp(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connectTcp(port, '127.0.0.1', () => resolve(socket));
    socket.once('error', reject);
  });
}

async function writeSlowly(socket: Socket, data: Uint8Array, pieceBytes: number): Promise<void> {
  for (let offset = 0; offset < data.length; offset += pieceBytes) {
    socket.write(data.subarray(offset, offset + pieceBytes));
    await new Promise((resolve) => setImmediate(resolve));
  }
}

test('UDP: one message per datagram, oversize datagrams skipped and counted', async (t) => {
  const { listener, addresses, received } = await startListener({ udp: local, maxMessageBytes: 200 });
  t.after(() => listener.close());
  const client = createSocket('udp4');
  t.after(() => client.close());
  const send = (text: string) =>
    new Promise<void>((resolve, reject) =>
      client.send(text, addresses.udp?.port ?? 0, '127.0.0.1', (error) =>
        error ? reject(error) : resolve(),
      ),
    );
  await send('<34>1 2025-05-12T10:15:30Z edge-07 sshd 812 - - Failed password for root\n');
  await send('<38>May 12 10:15:30 web01 sshd[1234]: Accepted publickey');
  await send(`<13>${'x'.repeat(300)}`);
  await send('not syslog');
  await waitFor(() => received.length === 3, 'three UDP messages');
  assert.deepEqual(texts(received), ['Failed password for root', 'Accepted publickey', '!not syslog']);
  assert.equal(received[0]?.source.transport, 'udp');
  assert.equal(received[0]?.source.address, '127.0.0.1');
  assert.equal(received[0]?.message.format === '5424' && received[0].message.hostname, 'edge-07');
  assert.deepEqual(
    {
      received: listener.stats.received,
      malformed: listener.stats.malformed,
      oversize: listener.stats.oversize,
    },
    { received: 3, malformed: 1, oversize: 1 },
  );
});

test('TCP: newline framing with CRLF, split across writes, and a last line without line end', async (t) => {
  const { listener, addresses, received } = await startListener({ tcp: local });
  t.after(() => listener.close());
  const socket = await openTcp(addresses.tcp?.port ?? 0);
  const stream = Buffer.from(
    '<13>May 12 10:15:30 h app: one\r\n<13>May 12 10:15:31 h app: two\n\n<13>May 12 10:15:32 h app: three',
  );
  await writeSlowly(socket, stream, 7);
  socket.end();
  await waitFor(() => received.length === 3, 'three TCP lines');
  assert.deepEqual(texts(received), ['one', 'two', 'three']);
  assert.equal(received[0]?.source.transport, 'tcp');
});

test('TCP: octet counting detected from the first digit, messages may contain line breaks', async (t) => {
  const { listener, addresses, received } = await startListener({ tcp: local });
  t.after(() => listener.close());
  const socket = await openTcp(addresses.tcp?.port ?? 0);
  const stream = Buffer.concat([
    encodeOctetCounted('<13>1 - h app - - - first\nwith a second line'),
    encodeOctetCounted('<13>1 - h app - - [a b="c\\]"] grüße'),
  ]);
  await writeSlowly(socket, stream, 3);
  await waitFor(() => received.length === 2, 'two octet-counted messages');
  assert.deepEqual(texts(received), ['first\nwith a second line', 'grüße']);
  socket.destroy();
});

test('TLS (RFC 5425): octet-counted messages over the manager’s server certificate', async (t) => {
  const { listener, addresses, received } = await startListener({
    tls: { ...local, ...pki.serverCredentials },
  });
  t.after(() => listener.close());
  const socket = connectTls({
    host: '127.0.0.1',
    port: addresses.tls?.port ?? 0,
    servername: 'localhost',
    ca: pki.rootCaPem,
  });
  t.after(() => socket.destroy());
  await new Promise<void>((resolve, reject) => {
    socket.once('secureConnect', resolve);
    socket.once('error', reject);
  });
  socket.write(encodeOctetCounted('<86>1 2025-05-12T10:15:30Z edge-07 sshd 1 - - over TLS'));
  socket.write(encodeOctetCounted('<86>1 2025-05-12T10:15:31Z edge-07 sshd 1 - - again'));
  await waitFor(() => received.length === 2, 'two messages over TLS');
  assert.deepEqual(texts(received), ['over TLS', 'again']);
  assert.equal(received[0]?.source.transport, 'tls');

  const plain = await openTcp(addresses.tls?.port ?? 0);
  plain.write('<13>May 12 10:15:30 h app: not TLS\n');
  await waitFor(() => listener.stats.tlsErrors === 1, 'the failed handshake to be counted');
  plain.destroy();
  assert.equal(received.length, 2);
});

test('a throwing handler is counted and the listener keeps delivering', async (t) => {
  let calls = 0;
  const { listener, addresses, received } = await startListener({
    tcp: local,
    handler: async () => {
      calls += 1;
      if (calls === 1) throw new Error('store down');
    },
  });
  t.after(() => listener.close());
  const socket = await openTcp(addresses.tcp?.port ?? 0);
  socket.write('<13>May 12 10:15:30 h app: lost\n');
  await waitFor(() => listener.stats.handlerErrors === 1, 'the handler error');
  socket.write('<13>May 12 10:15:30 h app: kept\n');
  await waitFor(() => received.length === 1, 'the next message');
  assert.deepEqual(texts(received), ['kept']);
  socket.destroy();
});

test('a handler stuck on one connection does not hold back another', async (t) => {
  let release: () => void = () => {};
  const stuck = new Promise<void>((resolve) => {
    release = resolve;
  });
  const { listener, addresses, received } = await startListener({
    tcp: local,
    closeTimeoutMs: 200,
    handler: async (_, messages) => {
      if (messages.some((message) => message.format !== 'malformed' && message.message.startsWith('slow')))
        await stuck;
    },
  });
  t.after(() => listener.close());
  const slow = await openTcp(addresses.tcp?.port ?? 0);
  const fast = await openTcp(addresses.tcp?.port ?? 0);
  slow.write('<13>May 12 10:15:30 h app: slow 1\n');
  await new Promise((resolve) => setTimeout(resolve, 20));
  for (let index = 0; index < 50; index += 1) fast.write(`<13>May 12 10:15:30 h app: fast ${index}\n`);
  await waitFor(() => received.length === 50, 'the other connection’s messages');
  assert.ok(texts(received).every((text) => text.startsWith('fast')));
  release();
  await waitFor(() => received.length === 51, 'the stuck message once released');
  slow.destroy();
  fast.destroy();
});

test('a slow handler pauses reading its connection and loses nothing, in order', async (t) => {
  const { listener, addresses, received, batches } = await startListener({
    tcp: local,
    maxPendingMessages: 20,
    maxBatchMessages: 10,
    handler: () => new Promise((resolve) => setTimeout(resolve, 2)),
  });
  t.after(() => listener.close());
  const socket = await openTcp(addresses.tcp?.port ?? 0);
  const count = 2000;
  const lines = Array.from({ length: count }, (_, index) => `<13>May 12 10:15:30 h app: m${index}\n`);
  await writeSlowly(socket, Buffer.from(lines.join('')), 1000);
  await waitFor(() => received.length === count, `${count} messages`, 20_000);
  assert.ok(listener.stats.backpressurePauses > 0, 'the connection was paused');
  assert.deepEqual(
    texts(received),
    Array.from({ length: count }, (_, index) => `m${index}`),
  );
  assert.ok(Math.max(...batches) <= 10, 'batches stay small');
  socket.destroy();
});

test('connections beyond maxConnections are refused and counted', async (t) => {
  const { listener, addresses } = await startListener({ tcp: local, maxConnections: 1 });
  t.after(() => listener.close());
  const first = await openTcp(addresses.tcp?.port ?? 0);
  await waitFor(() => listener.stats.connections === 1, 'the first connection');
  const second = await openTcp(addresses.tcp?.port ?? 0);
  await new Promise((resolve) => second.once('close', resolve));
  assert.equal(listener.stats.connectionsRejected, 1);
  first.destroy();
});

test('random bytes over TCP never stall a well-formed sender on another connection', async (t) => {
  const { listener, addresses, received } = await startListener({ tcp: local, maxMessageBytes: 4096 });
  t.after(() => listener.close());
  const port = addresses.tcp?.port ?? 0;
  const fuzzers = await Promise.all([openTcp(port), openTcp(port), openTcp(port), openTcp(port)]);
  for (const fuzzer of fuzzers) fuzzer.on('error', () => {});
  const prefixes = [Buffer.alloc(0), Buffer.from('7'), Buffer.from('999999999 '), Buffer.from('<13>')];
  let fuzzing = true;
  const fuzz = Promise.all(
    fuzzers.map(async (fuzzer, index) => {
      fuzzer.write(prefixes[index] ?? Buffer.alloc(0));
      while (fuzzing && !fuzzer.destroyed) {
        fuzzer.write(randomBytes(1 + Math.floor(Math.random() * 8192)));
        await new Promise((resolve) => setImmediate(resolve));
      }
    }),
  );
  // Let the fuzzers get going before the well-formed sender starts, so that the two overlap throughout.
  await new Promise((resolve) => setTimeout(resolve, 50));
  const sender = await openTcp(port);
  const count = 500;
  for (let index = 0; index < count; index += 1) {
    sender.write(encodeOctetCounted(`<13>1 - good app - - - well-formed ${index}`));
    if (index % 50 === 0) await new Promise((resolve) => setTimeout(resolve, 1));
  }
  const fromGood = () =>
    received.filter(({ message }) => message.format === '5424' && message.hostname === 'good');
  await waitFor(() => fromGood().length === count, 'every well-formed message', 15_000);
  assert.deepEqual(
    fromGood().map(({ message }) => (message.format === 'malformed' ? '' : message.message)),
    Array.from({ length: count }, (_, index) => `well-formed ${index}`),
  );
  fuzzing = false;
  await fuzz;
  for (const fuzzer of fuzzers) fuzzer.destroy();
  sender.destroy();
  assert.ok(listener.stats.received > count, 'the fuzzers’ frames were read too');
});

test('close() ends open connections and does not wait forever for a stuck handler', async () => {
  const { listener, addresses, received } = await startListener({
    tcp: local,
    udp: local,
    closeTimeoutMs: 100,
    handler: () => new Promise(() => {}),
  });
  const socket = await openTcp(addresses.tcp?.port ?? 0);
  const closed = new Promise((resolve) => socket.once('close', resolve));
  socket.write('<13>May 12 10:15:30 h app: never handled\n');
  await waitFor(() => listener.stats.received === 1, 'the message to be read');
  const started = Date.now();
  await listener.close();
  await closed;
  assert.ok(Date.now() - started < 2000);
  assert.equal(received.length, 0);
  assert.equal(listener.stats.connections, 0);
});

test('a port in use is reported as EW_SYSLOG_LISTEN_FAILED and nothing stays bound', async (t) => {
  const { listener, addresses } = await startListener({ tcp: local });
  t.after(() => listener.close());
  const clash = new SyslogListener({
    logger,
    onMessages: async () => {},
    udp: local,
    tcp: { host: '127.0.0.1', port: addresses.tcp?.port ?? 0 },
  });
  await assert.rejects(clash.listen(), (error) => {
    assert.ok(isEdgewardError(error, 'EW_SYSLOG_LISTEN_FAILED'));
    assert.match(error.message, /over tcp on 127\.0\.0\.1:\d+/);
    return true;
  });
});
