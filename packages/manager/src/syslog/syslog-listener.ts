import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createServer as createTcpServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import {
  type Clock,
  DEFAULT_SYSLOG_MAX_MESSAGE_BYTES,
  EdgewardError,
  type ParsedSyslogMessage,
  parseSyslog,
  SyslogFrameDecoder,
  type SyslogFrameStats,
  systemClock,
} from '@edgeward/core';
import type { Logger } from 'pino';

/**
 * Receives syslog from devices that cannot run the agent (switches, firewalls, appliances): UDP (RFC 5426,
 * one message per datagram), TCP (RFC 6587, octet counting or one message per line, detected per
 * connection) and TLS (RFC 5425). It parses and hands messages over in small batches; what becomes of them
 * is the caller's `onMessages`. Each connection has its own queue, so a slow or failing handler holds back
 * only the connection it is working for (TCP backpressure), and UDP drops and counts what it cannot queue.
 */

export type SyslogTransport = 'udp' | 'tcp' | 'tls';

/** Who sent a batch, and when it arrived. */
export interface SyslogSource {
  /** The peer's IP address (IPv4-mapped IPv6 addresses are written as IPv4). */
  readonly address: string;
  readonly port: number;
  readonly transport: SyslogTransport;
  /** When the batch's bytes arrived, ms since the epoch (the parser's reference for year-less timestamps). */
  readonly receivedAt: number;
}

export interface SyslogEndpoint {
  /** Address to bind, e.g. `0.0.0.0`, `::` or `127.0.0.1`. */
  readonly host: string;
  /** 0 picks a free port (tests). */
  readonly port: number;
}

export interface SyslogListenerOptions {
  /** Plain syslog over UDP; usually port 514. */
  readonly udp?: SyslogEndpoint;
  /** Plain syslog over TCP; usually port 514 or 601. */
  readonly tcp?: SyslogEndpoint;
  /** Syslog over TLS, usually port 6514, with the manager's server key and chain (`FleetPki.serverCredentials`). */
  readonly tls?: SyslogEndpoint & { readonly keyPem: string; readonly certChainPem: string };
  /**
   * Receives the parsed messages of one sender, in arrival order, at most `maxBatchMessages` at a time;
   * calls for one connection never overlap. A rejection is counted and logged, and the messages are gone.
   */
  readonly onMessages: (source: SyslogSource, messages: ParsedSyslogMessage[]) => Promise<void>;
  readonly logger: Logger;
  readonly clock?: Clock;
  /** Larger messages are skipped and counted as oversize (bytes; default 65536). */
  readonly maxMessageBytes?: number;
  /** Open connections per stream listener (TCP, TLS) beyond which new ones are refused (default 1000). */
  readonly maxConnections?: number;
  /** Messages per `onMessages` call (default 100). */
  readonly maxBatchMessages?: number;
  /**
   * Messages waiting for `onMessages`, per TCP or TLS connection and for UDP as a whole: above it a
   * connection stops being read until the handler catches up, and UDP datagrams are dropped (default 1000).
   */
  readonly maxPendingMessages?: number;
  /** A stream connection that sends nothing for this long is closed (ms; default 300000). */
  readonly idleTimeoutMs?: number;
  /** A TLS client that has not completed its handshake after this long is dropped (ms; default 10000). */
  readonly tlsHandshakeTimeoutMs?: number;
  /** How long `close()` waits for handlers still running (ms; default 5000). */
  readonly closeTimeoutMs?: number;
  /** Offset from UTC of the devices' clocks, for BSD timestamps, which have no zone (minutes; default 0). */
  readonly bsdUtcOffsetMinutes?: number;
}

export interface SyslogListenerStats {
  /** Messages parsed, malformed ones included. */
  readonly received: number;
  readonly malformed: number;
  /** Datagrams and frames skipped for exceeding `maxMessageBytes`. */
  readonly oversize: number;
  /** Stream frames that broke octet counting, or were cut short by the connection's end. */
  readonly framingErrors: number;
  /** UDP messages dropped because `maxPendingMessages` were already waiting. */
  readonly dropped: number;
  /** `onMessages` calls that threw or rejected. */
  readonly handlerErrors: number;
  /** Stream connections open now. */
  readonly connections: number;
  /** Stream connections refused at `maxConnections`. */
  readonly connectionsRejected: number;
  /** TLS handshakes that failed or timed out. */
  readonly tlsErrors: number;
  /** Times a stream connection stopped being read because its handler fell behind. */
  readonly backpressurePauses: number;
}

/** The bound addresses, with the ports actually chosen. */
export interface SyslogListenerAddresses {
  readonly udp?: SyslogEndpoint;
  readonly tcp?: SyslogEndpoint;
  readonly tls?: SyslogEndpoint;
}

const HANDLER_ERROR_LOG_INTERVAL_MS = 10_000;

export class SyslogListener {
  readonly #options: SyslogListenerOptions;
  readonly #logger: Logger;
  readonly #clock: Clock;
  readonly #maxMessageBytes: number;
  readonly #maxBatchMessages: number;
  readonly #maxPendingMessages: number;
  readonly #servers: Server[] = [];
  readonly #connections = new Set<Socket>();
  readonly #queues = new Set<BatchQueue>();
  #udp: UdpSocket | undefined;
  #udpQueue: BatchQueue | undefined;
  /** UDP messages of this event-loop turn, by sender, flushed as one batch each. */
  #udpPending = new Map<string, { source: SyslogSource; messages: ParsedSyslogMessage[] }>();
  #udpPendingMessages = 0;
  #udpFlushScheduled = false;
  #closing: Promise<void> | undefined;
  #lastHandlerErrorLogAt = Number.NEGATIVE_INFINITY;
  #handlerErrorsNotLogged = 0;
  #stats = {
    received: 0,
    malformed: 0,
    oversize: 0,
    framingErrors: 0,
    dropped: 0,
    handlerErrors: 0,
    connectionsRejected: 0,
    tlsErrors: 0,
    backpressurePauses: 0,
  };

  constructor(options: SyslogListenerOptions) {
    this.#options = options;
    this.#logger = options.logger;
    this.#clock = options.clock ?? systemClock;
    this.#maxMessageBytes = options.maxMessageBytes ?? DEFAULT_SYSLOG_MAX_MESSAGE_BYTES;
    this.#maxBatchMessages = Math.max(1, options.maxBatchMessages ?? 100);
    this.#maxPendingMessages = Math.max(1, options.maxPendingMessages ?? 1000);
  }

  get stats(): SyslogListenerStats {
    return { ...this.#stats, connections: this.#connections.size };
  }

  /** Binds every configured transport; if one fails, the others are closed again and it rejects. */
  async listen(): Promise<SyslogListenerAddresses> {
    const addresses: { udp?: SyslogEndpoint; tcp?: SyslogEndpoint; tls?: SyslogEndpoint } = {};
    try {
      const { udp, tcp, tls } = this.#options;
      if (udp !== undefined) addresses.udp = await this.#listenUdp(udp);
      if (tcp !== undefined) addresses.tcp = await this.#listenStream('tcp', tcp, createTcpServer());
      if (tls !== undefined) {
        const server = createTlsServer({
          key: tls.keyPem,
          cert: tls.certChainPem,
          minVersion: 'TLSv1.2',
          handshakeTimeout: this.#options.tlsHandshakeTimeoutMs ?? 10_000,
        });
        server.on('tlsClientError', (error, socket) => {
          this.#stats.tlsErrors += 1;
          this.#logger.debug({ err: error, address: peerAddress(socket) }, 'syslog TLS handshake failed');
        });
        addresses.tls = await this.#listenStream('tls', tls, server, 'secureConnection');
      }
    } catch (error) {
      await this.close();
      throw error;
    }
    return addresses;
  }

  /** Stops listening, drops open connections and waits (up to `closeTimeoutMs`) for running handlers. */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    const closed = this.#servers.map(
      (server) => new Promise<void>((resolve) => server.close(() => resolve())),
    );
    for (const socket of this.#connections) socket.destroy();
    if (this.#udp !== undefined) {
      const udp = this.#udp;
      closed.push(
        new Promise<void>((resolve) => {
          try {
            udp.close(() => resolve());
          } catch {
            // Never bound (its bind failed): nothing to close.
            resolve();
          }
        }),
      );
      this.#flushUdp();
    }
    await Promise.all(closed);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), this.#options.closeTimeoutMs ?? 5000);
    });
    const outcome = await Promise.race([
      Promise.all([...this.#queues].map((queue) => queue.idle())).then(() => 'idle' as const),
      timeout,
    ]);
    clearTimeout(timer);
    if (outcome === 'timeout') {
      this.#logger.warn('syslog handlers still running at close; their messages may not be stored');
    }
  }

  #listenUdp(endpoint: SyslogEndpoint): Promise<SyslogEndpoint> {
    const socket = createSocket({ type: endpoint.host.includes(':') ? 'udp6' : 'udp4' });
    const queue = this.#newQueue();
    this.#udp = socket;
    this.#udpQueue = queue;
    socket.on('message', (datagram, peer) => {
      if (datagram.length > this.#maxMessageBytes) {
        this.#stats.oversize += 1;
        return;
      }
      if (queue.pendingMessages + this.#udpPendingMessages >= this.#maxPendingMessages) {
        this.#stats.dropped += 1;
        return;
      }
      const receivedAt = this.#clock.now();
      const message = this.#parse(datagram, receivedAt);
      const key = `${peer.address}|${peer.port}`;
      let batch = this.#udpPending.get(key);
      if (batch === undefined) {
        batch = {
          source: { address: normalizeAddress(peer.address), port: peer.port, transport: 'udp', receivedAt },
          messages: [],
        };
        this.#udpPending.set(key, batch);
      }
      batch.messages.push(message);
      this.#udpPendingMessages += 1;
      if (batch.messages.length >= this.#maxBatchMessages) {
        this.#udpPending.delete(key);
        this.#udpPendingMessages -= batch.messages.length;
        queue.push(batch.source, batch.messages);
      }
      if (!this.#udpFlushScheduled) {
        // Datagrams that arrive in one turn of the event loop travel together, without a timer.
        this.#udpFlushScheduled = true;
        setImmediate(() => this.#flushUdp());
      }
    });
    socket.on('error', (error) => this.#logger.error({ err: error }, 'syslog UDP socket error'));
    return bind('udp', endpoint, (onError, onListening) => {
      socket.once('error', onError);
      socket.bind(endpoint.port, endpoint.host, () => {
        socket.off('error', onError);
        const address = socket.address();
        onListening({ host: address.address, port: address.port });
      });
    });
  }

  #flushUdp(): void {
    this.#udpFlushScheduled = false;
    const queue = this.#udpQueue;
    if (queue === undefined) return;
    for (const batch of this.#udpPending.values()) queue.push(batch.source, batch.messages);
    this.#udpPending.clear();
    this.#udpPendingMessages = 0;
  }

  #listenStream(
    transport: 'tcp' | 'tls',
    endpoint: SyslogEndpoint,
    server: Server,
    connectionEvent: 'connection' | 'secureConnection' = 'connection',
  ): Promise<SyslogEndpoint> {
    server.maxConnections = this.#options.maxConnections ?? 1000;
    server.on('drop', (peer) => {
      this.#stats.connectionsRejected += 1;
      this.#logger.warn(
        { address: peer?.remoteAddress, transport, maxConnections: server.maxConnections },
        'syslog connection refused: too many open connections',
      );
    });
    server.on(connectionEvent, (socket: Socket) => this.#accept(transport, socket));
    server.on('error', (error) => this.#logger.error({ err: error, transport }, 'syslog listener error'));
    this.#servers.push(server);
    return bind(transport, endpoint, (onError, onListening) => {
      server.once('error', onError);
      server.listen(endpoint.port, endpoint.host, () => {
        server.off('error', onError);
        const address = server.address();
        onListening(
          typeof address === 'object' && address !== null
            ? { host: address.address, port: address.port }
            : { host: endpoint.host, port: endpoint.port },
        );
      });
    });
  }

  #accept(transport: 'tcp' | 'tls', socket: Socket): void {
    if (this.#closing !== undefined) {
      socket.destroy();
      return;
    }
    const address = peerAddress(socket);
    const port = socket.remotePort ?? 0;
    const decoder = new SyslogFrameDecoder({ maxMessageBytes: this.#maxMessageBytes });
    let counted: SyslogFrameStats = decoder.stats;
    const queue = this.#newQueue(() => {
      // Resume at half the limit, so that a busy connection is read in runs rather than message by message.
      if (socket.isPaused() && queue.pendingMessages <= this.#maxPendingMessages / 2) socket.resume();
    });
    const deliver = (frames: Uint8Array[]) => {
      const stats = decoder.stats;
      this.#stats.oversize += stats.oversize - counted.oversize;
      this.#stats.framingErrors += stats.framingErrors - counted.framingErrors;
      counted = stats;
      if (frames.length === 0) return;
      const receivedAt = this.#clock.now();
      const source: SyslogSource = { address, port, transport, receivedAt };
      const messages = frames.map((frame) => this.#parse(frame, receivedAt));
      for (let start = 0; start < messages.length; start += this.#maxBatchMessages)
        queue.push(source, messages.slice(start, start + this.#maxBatchMessages));
    };
    this.#connections.add(socket);
    this.#logger.debug({ address, port, transport }, 'syslog connection opened');
    socket.setTimeout(this.#options.idleTimeoutMs ?? 300_000, () => socket.destroy());
    socket.on('data', (chunk: Buffer) => {
      deliver(decoder.push(chunk));
      if (queue.pendingMessages >= this.#maxPendingMessages && !socket.isPaused()) {
        this.#stats.backpressurePauses += 1;
        socket.pause();
      }
    });
    socket.on('end', () => deliver(decoder.end()));
    socket.on('error', (error) =>
      this.#logger.debug({ err: error, address, transport }, 'syslog connection error'),
    );
    socket.on('close', () => {
      this.#connections.delete(socket);
      this.#logger.debug({ address, port, transport, ...decoder.stats }, 'syslog connection closed');
      void queue.idle().then(() => this.#queues.delete(queue));
    });
  }

  #parse(frame: Uint8Array, receivedAt: number): ParsedSyslogMessage {
    const offset = this.#options.bsdUtcOffsetMinutes;
    const message = parseSyslog(
      frame,
      offset === undefined ? { receivedAt } : { receivedAt, bsdUtcOffsetMinutes: offset },
    );
    this.#stats.received += 1;
    if (message.format === 'malformed') this.#stats.malformed += 1;
    return message;
  }

  #newQueue(onProgress?: () => void): BatchQueue {
    const queue = new BatchQueue((source, messages) => this.#handle(source, messages), onProgress);
    this.#queues.add(queue);
    return queue;
  }

  async #handle(source: SyslogSource, messages: ParsedSyslogMessage[]): Promise<void> {
    try {
      await this.#options.onMessages(source, messages);
    } catch (error) {
      this.#stats.handlerErrors += 1;
      // A handler that fails on every batch would otherwise write a log line per batch.
      const now = this.#clock.now();
      if (now - this.#lastHandlerErrorLogAt < HANDLER_ERROR_LOG_INTERVAL_MS) {
        this.#handlerErrorsNotLogged += 1;
        return;
      }
      this.#logger.error(
        {
          err: error,
          address: source.address,
          transport: source.transport,
          messages: messages.length,
          alsoFailedSinceLastLog: this.#handlerErrorsNotLogged,
        },
        'syslog messages could not be handled and are lost',
      );
      this.#lastHandlerErrorLogAt = now;
      this.#handlerErrorsNotLogged = 0;
    }
  }
}

/** Batches of one sender, handed to the handler one at a time and in order. */
class BatchQueue {
  readonly #handle: (source: SyslogSource, messages: ParsedSyslogMessage[]) => Promise<void>;
  readonly #onProgress: (() => void) | undefined;
  readonly #batches: { source: SyslogSource; messages: ParsedSyslogMessage[] }[] = [];
  #pendingMessages = 0;
  #running: Promise<void> | undefined;

  constructor(
    handle: (source: SyslogSource, messages: ParsedSyslogMessage[]) => Promise<void>,
    onProgress?: () => void,
  ) {
    this.#handle = handle;
    this.#onProgress = onProgress;
  }

  /** Messages queued or being handled. */
  get pendingMessages(): number {
    return this.#pendingMessages;
  }

  push(source: SyslogSource, messages: ParsedSyslogMessage[]): void {
    if (messages.length === 0) return;
    this.#batches.push({ source, messages });
    this.#pendingMessages += messages.length;
    this.#running ??= this.#run();
  }

  /** Resolves once every queued batch was handled. */
  async idle(): Promise<void> {
    while (this.#running !== undefined) await this.#running;
  }

  async #run(): Promise<void> {
    for (let batch = this.#batches.shift(); batch !== undefined; batch = this.#batches.shift()) {
      // `#handle` never rejects: handler failures are counted there.
      await this.#handle(batch.source, batch.messages);
      this.#pendingMessages -= batch.messages.length;
      this.#onProgress?.();
    }
    this.#running = undefined;
  }
}

function bind(
  transport: SyslogTransport,
  endpoint: SyslogEndpoint,
  start: (onError: (error: Error) => void, onListening: (address: SyslogEndpoint) => void) => void,
): Promise<SyslogEndpoint> {
  return new Promise((resolve, reject) => {
    start(
      (error) =>
        reject(
          new EdgewardError(
            'EW_SYSLOG_LISTEN_FAILED',
            `could not listen for syslog over ${transport} on ${endpoint.host}:${endpoint.port}: ${error.message}; free the port or choose another`,
            { cause: error },
          ),
        ),
      resolve,
    );
  });
}

function peerAddress(socket: Socket): string {
  return normalizeAddress(socket.remoteAddress ?? 'unknown');
}

/** `::ffff:192.0.2.1` (an IPv4 peer on a dual-stack socket) is written as `192.0.2.1`. */
function normalizeAddress(address: string): string {
  return /^::ffff:\d+\.\d+\.\d+\.\d+$/i.test(address) ? address.slice(7) : address;
}
