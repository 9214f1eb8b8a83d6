import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { type DeviceCommand, PROTOCOL_VERSION, type PushMessage } from '@edgeward/core';
import type { Logger } from 'pino';
import { type WebSocket, WebSocketServer } from 'ws';

/** Where devices open their push connection on the device port. */
export const PUSH_PATH = '/v1/push';

export interface PushHubOptions {
  readonly logger: Logger;
  readonly now: () => number;
  /** Ping period; a connection that has not answered the previous ping by the next one is dropped. */
  readonly pingIntervalMs: number;
  /**
   * The device behind the upgrade request's TLS connection, once it is known to be enrolled and not
   * revoked; throws otherwise (the request is answered with 401 or 403 and the socket closed).
   */
  readonly authenticate: (request: IncomingMessage) => Promise<string>;
  /** Called when a device's connection is up: deliver what waits for it. */
  readonly onConnected: (deviceId: string) => Promise<void>;
}

/**
 * The devices' push connections: one WebSocket per device over the device listener's mutual TLS (a new
 * connection replaces the device's previous one), carrying commands the moment they are issued.
 */
export class PushHub {
  readonly #options: PushHubOptions;
  readonly #server = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024 });
  readonly #sockets = new Map<string, WebSocket>();
  readonly #alive = new WeakSet<WebSocket>();
  #pinger: NodeJS.Timeout | undefined;

  constructor(options: PushHubOptions) {
    this.#options = options;
  }

  /** Serves upgrades of `server` to PUSH_PATH; other upgrade requests are refused. */
  attach(server: Server): void {
    server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
      void this.#upgrade(request, socket, head);
    });
    this.#pinger = setInterval(() => this.#ping(), this.#options.pingIntervalMs);
    this.#pinger.unref();
  }

  /** True when the command went out on a live connection of its device. */
  send(command: DeviceCommand): boolean {
    const socket = this.#sockets.get(command.deviceId);
    if (socket === undefined || socket.readyState !== socket.OPEN) return false;
    const message: PushMessage = { v: PROTOCOL_VERSION, type: 'command', command };
    socket.send(JSON.stringify(message));
    return true;
  }

  /** Tells a connected device that a rollout has news for it; false when it has no live connection. */
  nudgeUpdate(deviceId: string, rolloutId: string): boolean {
    const socket = this.#sockets.get(deviceId);
    if (socket === undefined || socket.readyState !== socket.OPEN) return false;
    const message: PushMessage = { v: PROTOCOL_VERSION, type: 'update', rolloutId };
    socket.send(JSON.stringify(message));
    return true;
  }

  isConnected(deviceId: string): boolean {
    return this.#sockets.get(deviceId)?.readyState === 1;
  }

  disconnect(deviceId: string): void {
    this.#sockets.get(deviceId)?.terminate();
    this.#sockets.delete(deviceId);
  }

  close(): void {
    clearInterval(this.#pinger);
    for (const socket of this.#sockets.values()) socket.terminate();
    this.#sockets.clear();
    this.#server.close();
  }

  async #upgrade(request: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const path = new URL(request.url ?? '/', 'https://device.invalid').pathname;
    if (path !== PUSH_PATH) {
      refuse(socket, 404, 'Not Found');
      return;
    }
    let deviceId: string;
    try {
      deviceId = await this.#options.authenticate(request);
    } catch (error) {
      const code = (error as { code?: string }).code;
      this.#options.logger.info(
        { remote: request.socket.remoteAddress, err: (error as Error).message },
        'push connection refused',
      );
      refuse(socket, code === 'EW_DEVICE_REVOKED' ? 403 : 401, 'Unauthorized');
      return;
    }
    this.#server.handleUpgrade(request, socket, head, (ws) => this.#connected(deviceId, ws));
  }

  #connected(deviceId: string, ws: WebSocket): void {
    const logger = this.#options.logger;
    const previous = this.#sockets.get(deviceId);
    this.#sockets.set(deviceId, ws);
    // After the map holds the new one, so the old one's close handler does not remove it.
    previous?.terminate();
    this.#alive.add(ws);
    ws.on('pong', () => this.#alive.add(ws));
    ws.on('error', (error) => logger.debug({ deviceId, err: error.message }, 'push connection error'));
    ws.on('close', () => {
      if (this.#sockets.get(deviceId) === ws) this.#sockets.delete(deviceId);
      logger.debug({ deviceId }, 'push connection closed');
    });
    // Devices only listen on this connection; whatever they send is ignored.
    ws.on('message', () => {});
    logger.debug({ deviceId }, 'push connection open');
    const hello: PushMessage = { v: PROTOCOL_VERSION, type: 'hello', serverTime: this.#options.now() };
    ws.send(JSON.stringify(hello));
    this.#options.onConnected(deviceId).catch((error: unknown) => {
      logger.warn(
        { err: error, deviceId },
        'cannot deliver waiting commands; they go with the next heartbeat',
      );
    });
  }

  #ping(): void {
    for (const [deviceId, ws] of this.#sockets) {
      if (!this.#alive.has(ws)) {
        this.#options.logger.info({ deviceId }, 'push connection silent; dropping it');
        ws.terminate();
        this.#sockets.delete(deviceId);
        continue;
      }
      this.#alive.delete(ws);
      ws.ping();
    }
  }
}

function refuse(socket: Duplex, status: number, text: string): void {
  socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
}
