import { type DeviceCommand, pushMessageSchema } from '@edgeward/core';
import type { Logger } from 'pino';
import WebSocket from 'ws';
import { Backoff } from '../runtime/backoff.ts';

export interface PushClientOptions {
  /** https://HOST:PORT of the manager's device API; the connection goes to wss://HOST:PORT/v1/push. */
  readonly managerUrl: string;
  /** Returns the current TLS material (it changes when the certificate is renewed). */
  readonly tls: () => { readonly ca: string; readonly key: string; readonly cert: string };
  readonly onCommand: (command: DeviceCommand) => void;
  /** Called each time the connection is up: a chance to poll for what was missed while it was down. */
  readonly onConnected: () => void;
  /** A rollout has news for the device: poll for its update now. */
  readonly onUpdate?: () => void;
  readonly retryInitialMs: number;
  readonly retryMaxMs: number;
  /**
   * No ping from the manager for this long means the connection is dead: it is dropped and reopened.
   * Default: three times the manager's 30 s ping period.
   */
  readonly silenceMs?: number;
  readonly log: Logger;
}

/**
 * The agent's end of the push channel: a WebSocket over the same mutual TLS as every device call,
 * reopened with exponential backoff and jitter whenever it drops. Commands arriving here are also
 * delivered by heartbeats and polls; this only makes them fast.
 */
export class PushClient {
  readonly #options: PushClientOptions;
  readonly #backoff: Backoff;
  #socket: WebSocket | undefined;
  #retry: NodeJS.Timeout | undefined;
  #silence: NodeJS.Timeout | undefined;
  #running = false;
  #connected = false;

  constructor(options: PushClientOptions) {
    this.#options = options;
    this.#backoff = new Backoff({ initialMs: options.retryInitialMs, maxMs: options.retryMaxMs });
  }

  get connected(): boolean {
    return this.#connected;
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#open();
  }

  stop(): void {
    this.#running = false;
    clearTimeout(this.#retry);
    clearTimeout(this.#silence);
    this.#socket?.terminate();
    this.#socket = undefined;
    this.#connected = false;
  }

  /** Drops the connection and opens a new one (after a certificate renewal). */
  reconnect(): void {
    this.#socket?.terminate();
  }

  #open(): void {
    if (!this.#running) return;
    const url = new URL('/v1/push', this.#options.managerUrl);
    url.protocol = 'wss:';
    const tls = this.#options.tls();
    const socket = new WebSocket(url, { ca: tls.ca, key: tls.key, cert: tls.cert, maxPayload: 1_048_576 });
    this.#socket = socket;
    const log = this.#options.log;
    socket.on('open', () => {
      this.#connected = true;
      this.#backoff.reset();
      this.#heard();
      log.debug('push connection open');
      this.#options.onConnected();
    });
    socket.on('ping', () => this.#heard());
    socket.on('message', (data) => {
      this.#heard();
      let parsed: unknown;
      try {
        parsed = JSON.parse(String(data));
      } catch {
        log.warn('push message is not JSON; ignored');
        return;
      }
      const message = pushMessageSchema.safeParse(parsed);
      if (!message.success) {
        log.warn({ problem: message.error.message }, 'push message not understood; ignored');
        return;
      }
      if (message.data.type === 'command') this.#options.onCommand(message.data.command);
      if (message.data.type === 'update') this.#options.onUpdate?.();
    });
    socket.on('unexpected-response', (_request, response) => {
      log.warn({ status: response.statusCode }, 'push connection refused by the manager');
      socket.terminate();
    });
    socket.on('error', (error) => log.debug({ err: error.message }, 'push connection error'));
    socket.on('close', () => {
      clearTimeout(this.#silence);
      const wasConnected = this.#connected;
      this.#connected = false;
      if (this.#socket === socket) this.#socket = undefined;
      if (!this.#running) return;
      const delay = this.#backoff.nextDelayMs();
      if (wasConnected) log.info({ retryInMs: delay }, 'push connection closed; reopening');
      this.#retry = setTimeout(() => this.#open(), delay);
      this.#retry.unref();
    });
  }

  #heard(): void {
    clearTimeout(this.#silence);
    this.#silence = setTimeout(() => {
      this.#options.log.info('push connection silent; reopening');
      this.#socket?.terminate();
    }, this.#options.silenceMs ?? 90_000);
    this.#silence.unref();
  }
}
