import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { FaultProxy } from './fault-proxy.ts';

/** An echo server that also hands out its side of each connection, to send bytes unasked. */
let echo: Server;
const serverSides: Socket[] = [];

before(async () => {
  echo = createServer((socket) => {
    serverSides.push(socket);
    socket.on('error', () => {});
    socket.pipe(socket);
  });
  echo.listen(0, '127.0.0.1');
  await once(echo, 'listening');
});

after(async () => {
  for (const socket of serverSides) socket.destroy();
  await new Promise((resolve) => echo.close(resolve));
});

function echoPort(): number {
  const address = echo.address();
  return typeof address === 'object' && address !== null ? address.port : 0;
}

async function startProxy(t: { after: (fn: () => Promise<void>) => void }): Promise<FaultProxy> {
  const proxy = await FaultProxy.start({ target: { host: '127.0.0.1', port: echoPort() } });
  t.after(() => proxy.close());
  return proxy;
}

/** A client that records what it receives and how it ended. */
interface Client {
  readonly socket: Socket;
  received(): Buffer;
  readonly closed: Promise<void>;
  isClosed(): boolean;
  /** Resolves once at least `length` bytes have arrived; rejects after `timeoutMs`. */
  waitFor(length: number, timeoutMs?: number): Promise<Buffer>;
}

async function open(proxy: FaultProxy): Promise<Client> {
  const socket = connect({ host: '127.0.0.1', port: proxy.port, noDelay: true });
  socket.on('error', () => {});
  const chunks: Buffer[] = [];
  let waiter: (() => void) | undefined;
  let closed = false;
  socket.on('data', (chunk: Buffer) => {
    chunks.push(chunk);
    waiter?.();
  });
  // Not events.once: it rejects on the 'error' that a reset brings before 'close'.
  const closedPromise = new Promise<void>((resolve) =>
    socket.on('close', () => {
      closed = true;
      resolve();
    }),
  );
  await once(socket, 'connect');
  const received = () => Buffer.concat(chunks);
  return {
    socket,
    received,
    closed: closedPromise,
    isClosed: () => closed,
    async waitFor(length, timeoutMs = 2000) {
      const deadline = Date.now() + timeoutMs;
      while (received().length < length) {
        if (Date.now() > deadline)
          throw new Error(`got ${received().length} of ${length} bytes in ${timeoutMs} ms`);
        await new Promise<void>((resolve) => {
          waiter = resolve;
          setTimeout(resolve, 20);
        });
      }
      return received();
    },
  };
}

/** The echo server's side of the newest connection. */
async function newestServerSide(count: number): Promise<Socket> {
  while (serverSides.length < count) await sleep(5);
  return serverSides[serverSides.length - 1] as Socket;
}

test('forwards bytes both ways unchanged while no fault is set', async (t) => {
  const proxy = await startProxy(t);
  const client = await open(proxy);
  const payload = randomBytes(256 * 1024);
  client.socket.write(payload);
  assert.ok((await client.waitFor(payload.length)).equals(payload));
  client.socket.destroy();
});

test('cut() resets every open connection and refuses new ones until restore()', async (t) => {
  const proxy = await startProxy(t);
  const before = await open(proxy);
  before.socket.write('hello');
  await before.waitFor(5);

  proxy.cut();
  await before.closed;
  assert.equal(proxy.connectionCount, 0);

  const during = connect({ host: '127.0.0.1', port: proxy.port });
  const errors: Error[] = [];
  during.on('error', (error) => errors.push(error));
  during.on('connect', () => during.write('anyone?'));
  let got = 0;
  during.on('data', (chunk: Buffer) => {
    got += chunk.length;
  });
  await new Promise((resolve) => during.on('close', resolve));
  assert.equal(got, 0, 'nothing passes while cut');
  assert.ok(
    errors.some((error) => (error as NodeJS.ErrnoException).code === 'ECONNRESET'),
    'the peer sees a reset',
  );
  assert.equal(proxy.refusedCount, 1);

  proxy.restore();
  const after = await open(proxy);
  after.socket.write('again');
  assert.equal((await after.waitFor(5)).toString(), 'again');
  assert.equal(proxy.acceptedCount, 2);
  after.socket.destroy();
});

test('blackhole() keeps connections open but silently drops bytes both ways', async (t) => {
  const proxy = await startProxy(t);
  const count = serverSides.length;
  const client = await open(proxy);
  const server = await newestServerSide(count + 1);
  client.socket.write('ping');
  await client.waitFor(4);

  proxy.blackhole();
  let serverGot = 0;
  server.on('data', (chunk: Buffer) => {
    serverGot += chunk.length;
  });
  client.socket.write('lost on the way up');
  server.write('lost on the way down');
  const late = await open(proxy);
  late.socket.write('new connection, same silence');
  await sleep(300);
  assert.equal(serverGot, 0, 'nothing reaches the server');
  assert.equal(client.received().toString(), 'ping', 'nothing reaches the client');
  assert.equal(late.received().length, 0);
  assert.equal(client.isClosed() || late.isClosed(), false, 'connections stay open');

  proxy.restore();
  client.socket.write('pong');
  assert.equal((await client.waitFor(8)).toString(), 'pingpong', 'dropped bytes are gone, later ones flow');
  client.socket.destroy();
  late.socket.destroy();
});

test('blackhole() hides a peer that closes, and restore() then resets the orphaned connection', async (t) => {
  const proxy = await startProxy(t);
  const count = serverSides.length;
  const client = await open(proxy);
  const server = await newestServerSide(count + 1);

  proxy.blackhole();
  server.destroy();
  await sleep(200);
  assert.equal(client.isClosed(), false, 'the client is not told');

  proxy.restore();
  await client.closed;
});

test('delay(ms) holds every chunk that long in each direction', async (t) => {
  const proxy = await startProxy(t);
  const client = await open(proxy);
  proxy.delay(150);
  const started = Date.now();
  client.socket.write('slow');
  await client.waitFor(4);
  const roundTrip = Date.now() - started;
  assert.ok(roundTrip >= 290, `a round trip took ${roundTrip} ms, not at least 2 × 150`);
  assert.equal(proxy.mode, 'delay');
  client.socket.destroy();
});

test('delay(ms) keeps the order of chunks, also when the delay is shortened mid-stream', async (t) => {
  const proxy = await startProxy(t);
  const client = await open(proxy);
  proxy.delay(30);
  const expected: string[] = [];
  for (let i = 0; i < 100; i++) {
    const piece = `<${i}>`;
    expected.push(piece);
    client.socket.write(piece);
    if (i % 10 === 0) await sleep(1);
  }
  proxy.delay(300);
  const started = Date.now();
  client.socket.write('[slow]');
  // The delay applies when the proxy reads a chunk: let it read this one before the delay changes.
  await sleep(50);
  proxy.delay(0);
  client.socket.write('[fast]');
  expected.push('[slow]', '[fast]');
  const text = expected.join('');
  assert.equal((await client.waitFor(text.length, 3000)).toString(), text);
  assert.ok(Date.now() - started >= 290, 'the slow chunk was held, and the fast one behind it');
  client.socket.destroy();
});

test('restore() after delay() forwards at once again', async (t) => {
  const proxy = await startProxy(t);
  const client = await open(proxy);
  proxy.delay(500);
  proxy.restore();
  const started = Date.now();
  client.socket.write('quick');
  await client.waitFor(5);
  assert.ok(Date.now() - started < 250);
  client.socket.destroy();
});

test('close() stops listening and closes the open connections', async () => {
  const proxy = await FaultProxy.start({ target: { host: '127.0.0.1', port: echoPort() } });
  const client = await open(proxy);
  const port = proxy.port;
  await proxy.close();
  await client.closed;
  const refused = connect({ host: '127.0.0.1', port });
  const [error] = (await once(refused, 'error')) as [NodeJS.ErrnoException];
  assert.equal(error.code, 'ECONNREFUSED');
});

test('url names the proxy as an HTTPS address on 127.0.0.1', async (t) => {
  const proxy = await startProxy(t);
  assert.equal(proxy.url, `https://127.0.0.1:${proxy.port}`);
  assert.ok(proxy.port > 0);
});
