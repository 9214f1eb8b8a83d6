import { connect, createServer, type Server, type Socket } from 'node:net';

/**
 * A TCP proxy that breaks the network on command, for fault tests: put it between an agent and the
 * manager (it forwards bytes, so TLS passes through untouched) and cut, blackhole or slow the link.
 *
 * - `cut()`: every open connection is reset, and new ones are reset on arrival, until `restore()`.
 * - `blackhole()`: connections stay open but every byte, both ways, is dropped, as on a link that died
 *   without telling anyone; a peer closing is not passed on either. Connections that lost a side while
 *   blackholed are reset at `restore()`.
 * - `delay(ms)`: every chunk, both ways, is held `ms` before it is passed on, in order.
 */
export type FaultMode = 'pass' | 'cut' | 'blackhole' | 'delay';

export interface FaultProxyOptions {
  readonly target: { readonly host: string; readonly port: number };
  /** Where to listen. Default 127.0.0.1, port 0 (a free port). */
  readonly host?: string;
  readonly port?: number;
}

type Queued =
  | { readonly dueAt: number; readonly chunk: Buffer }
  | { readonly dueAt: number; readonly end: true };

/** One direction of one connection: a FIFO of chunks waiting for their time. */
class Lane {
  readonly #to: Socket;
  readonly #queue: Queued[] = [];
  #timer: NodeJS.Timeout | undefined;
  #lastDueAt = 0;

  constructor(to: Socket) {
    this.#to = to;
  }

  /** Passes `chunk` on after `delayMs`, never before anything queued earlier. */
  push(item: { chunk: Buffer } | { end: true }, delayMs: number): void {
    if (delayMs <= 0 && this.#queue.length === 0) {
      this.#deliver(item);
      return;
    }
    const dueAt = Math.max(Date.now() + delayMs, this.#lastDueAt);
    this.#lastDueAt = dueAt;
    this.#queue.push({ dueAt, ...item });
    this.#schedule();
  }

  clear(): void {
    this.#queue.length = 0;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #schedule(): void {
    if (this.#timer !== undefined) return;
    const head = this.#queue[0];
    if (head === undefined) return;
    this.#timer = setTimeout(() => this.#drain(), Math.max(0, head.dueAt - Date.now()));
  }

  #drain(): void {
    this.#timer = undefined;
    const now = Date.now();
    while (this.#queue.length > 0 && (this.#queue[0]?.dueAt ?? 0) <= now) {
      const item = this.#queue.shift();
      if (item !== undefined) this.#deliver(item);
    }
    this.#schedule();
  }

  #deliver(item: { chunk: Buffer } | { end: true }): void {
    if (this.#to.destroyed) return;
    if ('chunk' in item) this.#to.write(item.chunk);
    else this.#to.end();
  }
}

interface Connection {
  readonly client: Socket;
  readonly upstream: Socket;
  readonly toUpstream: Lane;
  readonly toClient: Lane;
  /** A side closed while blackholed; the other side is kept open, silently, until `restore()`. */
  orphaned: boolean;
}

export class FaultProxy {
  readonly #server: Server;
  readonly #target: { readonly host: string; readonly port: number };
  readonly #connections = new Set<Connection>();
  /** Every client socket not yet closed, tracked apart from connections so that `close()` never waits on one. */
  readonly #openSockets = new Set<Socket>();
  #mode: FaultMode = 'pass';
  #delayMs = 0;
  #cutAfterBytes: number | undefined;
  #accepted = 0;
  #refused = 0;

  private constructor(server: Server, target: { host: string; port: number }) {
    this.#server = server;
    this.#target = target;
    server.on('connection', (socket) => this.#accept(socket));
  }

  /** Listens (127.0.0.1, a free port unless told otherwise) and forwards everything to `target`. */
  static async start(options: FaultProxyOptions): Promise<FaultProxy> {
    // Half-open sockets let one direction finish its delayed bytes after the other has ended.
    const server = createServer({ allowHalfOpen: true, noDelay: true });
    const proxy = new FaultProxy(server, { host: options.target.host, port: options.target.port });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    return proxy;
  }

  get port(): number {
    const address = this.#server.address();
    return typeof address === 'object' && address !== null ? address.port : 0;
  }

  get host(): string {
    const address = this.#server.address();
    return typeof address === 'object' && address !== null ? address.address : '127.0.0.1';
  }

  /** The proxy as an HTTPS address (both manager APIs are HTTPS), e.g. to give agents as their manager. */
  get url(): string {
    const host = this.host.includes(':') ? `[${this.host}]` : this.host;
    return `https://${host}:${this.port}`;
  }

  get mode(): FaultMode {
    return this.#mode;
  }

  /** Connections accepted and forwarded since the start (blackholed ones included). */
  get acceptedCount(): number {
    return this.#accepted;
  }

  /** Connections reset on arrival while cut: how often a peer tried to get through. */
  get refusedCount(): number {
    return this.#refused;
  }

  /** Connections currently open through the proxy. */
  get connectionCount(): number {
    return this.#connections.size;
  }

  /** Resets every open connection and every new one until `restore()`. */
  cut(): void {
    this.#mode = 'cut';
    this.#delayMs = 0;
    for (const connection of this.#connections) this.#reset(connection);
  }

  /** Keeps connections open and accepts new ones, but drops every byte both ways until `restore()`. */
  blackhole(): void {
    this.#mode = 'blackhole';
    this.#delayMs = 0;
    for (const connection of this.#connections) {
      connection.toClient.clear();
      connection.toUpstream.clear();
    }
  }

  /** Holds every chunk, both ways, `ms` milliseconds before passing it on; order is kept. */
  delay(ms: number): void {
    if (!Number.isFinite(ms) || ms < 0)
      throw new RangeError(`delay must be a number of milliseconds ≥ 0, not ${ms}`);
    this.#mode = ms === 0 ? 'pass' : 'delay';
    this.#delayMs = ms;
  }

  /**
   * Passes `bytes` more bytes towards the clients (all connections together), then cuts as `cut()` does:
   * a download broken midway, at a point the test chooses.
   */
  cutAfter(bytes: number): void {
    if (!Number.isInteger(bytes) || bytes < 0)
      throw new RangeError(`bytes must be a whole number ≥ 0, not ${bytes}`);
    this.#cutAfterBytes = bytes;
  }

  /** Back to plain forwarding; connections orphaned while blackholed are reset now. */
  restore(): void {
    this.#cutAfterBytes = undefined;
    this.#mode = 'pass';
    this.#delayMs = 0;
    for (const connection of this.#connections) if (connection.orphaned) this.#reset(connection);
  }

  /** Stops listening and resets every open connection. */
  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    for (const connection of this.#connections) this.#reset(connection);
    // The server waits for every socket it accepted, also one whose connection was already forgotten.
    for (const socket of this.#openSockets) if (!socket.destroyed) socket.destroy();
    await closed;
  }

  #accept(client: Socket): void {
    this.#openSockets.add(client);
    client.once('close', () => this.#openSockets.delete(client));
    if (this.#mode === 'cut') {
      this.#refused += 1;
      client.on('error', () => {});
      client.resetAndDestroy();
      return;
    }
    this.#accepted += 1;
    const upstream = connect({
      host: this.#target.host,
      port: this.#target.port,
      allowHalfOpen: true,
      noDelay: true,
    });
    const connection: Connection = {
      client,
      upstream,
      toUpstream: new Lane(upstream),
      toClient: new Lane(client),
      orphaned: false,
    };
    this.#connections.add(connection);
    const forward = (lane: Lane) => (chunk: Buffer) => {
      if (this.#mode === 'blackhole' || this.#mode === 'cut') return;
      if (lane === connection.toClient && this.#cutAfterBytes !== undefined) {
        if (chunk.length >= this.#cutAfterBytes) {
          lane.push({ chunk: chunk.subarray(0, this.#cutAfterBytes) }, 0);
          this.#cutAfterBytes = undefined;
          // After what was allowed has been written out.
          setImmediate(() => this.cut());
          return;
        }
        this.#cutAfterBytes -= chunk.length;
      }
      lane.push({ chunk }, this.#delayMs);
    };
    const ended = (lane: Lane) => () => {
      if (this.#mode === 'blackhole') connection.orphaned = true;
      else if (this.#mode !== 'cut') lane.push({ end: true }, this.#delayMs);
    };
    client.on('data', forward(connection.toUpstream));
    upstream.on('data', forward(connection.toClient));
    client.on('end', ended(connection.toUpstream));
    upstream.on('end', ended(connection.toClient));
    // A reset or refused side resets the other, unless the link is blackholed and must stay silent.
    const failed = () => {
      if (this.#mode === 'blackhole') connection.orphaned = true;
      else this.#reset(connection);
    };
    client.on('error', failed);
    upstream.on('error', failed);
    const closed = () => {
      if (client.destroyed && upstream.destroyed) this.#forget(connection);
      else if (this.#mode === 'blackhole') connection.orphaned = true;
    };
    client.on('close', closed);
    upstream.on('close', closed);
  }

  #reset(connection: Connection): void {
    connection.toClient.clear();
    connection.toUpstream.clear();
    for (const socket of [connection.client, connection.upstream]) {
      if (socket.destroyed) continue;
      // An RST, as a broken link or a dead host gives, rather than a polite FIN. Not on a socket already
      // ending: a reset that races its pending shutdown leaves the handle behind, and Node then spins
      // forever at process exit waiting for it (seen with Node 24); that one is destroyed instead.
      if (socket.writableEnded) socket.destroy();
      else socket.resetAndDestroy();
    }
    this.#forget(connection);
  }

  #forget(connection: Connection): void {
    connection.toClient.clear();
    connection.toUpstream.clear();
    this.#connections.delete(connection);
  }
}
