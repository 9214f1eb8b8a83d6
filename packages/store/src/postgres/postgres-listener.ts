import { createHash } from 'node:crypto';
import { EdgewardError } from '@edgeward/core';
import type { ClientConfig } from 'pg';
import pg from 'pg';
import { describeError } from '../sql/describe-error.ts';
import { quoteIdentifier } from './quote-identifier.ts';

/** First and longest wait before reopening a broken listening connection, in milliseconds. */
const reconnectMinMs = 100;
const reconnectMaxMs = 30_000;
/** PostgreSQL truncates identifiers, channel names included, beyond 63 bytes. */
const maxChannelBytes = 63;

/** Called with each notification's payload; it must not throw (it runs in the connection's event handler). */
export type NotificationHandler = (payload: string) => void;

/** What the store needs from an engine that can pass notifications between processes. */
export interface NotificationListener {
  /** The name `channel` has on the server: scoped to the store's schema, so fleets sharing a database do not hear each other. */
  serverChannel(channel: string): string;
  /**
   * Calls `onPayload` for every notification on `channel` until the returned function is called.
   * Resolves once the LISTEN is in force; rejects (and listens to nothing) when the first attempt fails.
   * `onError` hears when the connection breaks later; listening then resumes on its own.
   */
  listen(
    channel: string,
    onPayload: NotificationHandler,
    onError?: (error: EdgewardError) => void,
  ): Promise<() => Promise<void>>;
  close(): Promise<void>;
}

interface Subscription {
  readonly onPayload: NotificationHandler;
  readonly onError: ((error: EdgewardError) => void) | undefined;
}

/**
 * The one connection of a process that LISTENs: a pooled connection cannot, as the pool lends it to
 * other work and closes it when idle. When it breaks, it is reopened with exponential backoff and jitter
 * and listens to every channel again. Notifications sent while it was down are lost, so whatever they
 * announce must also reach its target another way (device commands: the device's next heartbeat).
 */
export class PostgresListener implements NotificationListener {
  readonly #config: ClientConfig;
  readonly #scope: string | undefined;
  /** Keyed by server channel. */
  readonly #subscriptions = new Map<string, Set<Subscription>>();
  #client: pg.Client | undefined;
  #connecting: Promise<pg.Client> | undefined;
  #retry: NodeJS.Timeout | undefined;
  #failures = 0;
  #closed = false;

  /** @param schema the store's schema; undefined for the server's default search path. */
  constructor(config: ClientConfig, schema: string | undefined) {
    this.#config = config;
    this.#scope =
      schema === undefined ? undefined : createHash('sha256').update(schema).digest('hex').slice(0, 16);
  }

  serverChannel(channel: string): string {
    const name = this.#scope === undefined ? channel : `${channel}.${this.#scope}`;
    if (Buffer.byteLength(name) > maxChannelBytes) {
      throw new EdgewardError(
        'EW_INTERNAL',
        `notification channel ${JSON.stringify(channel)} is too long; with its schema scope, PostgreSQL keeps ${maxChannelBytes} bytes of ${JSON.stringify(name)}`,
      );
    }
    return name;
  }

  async listen(
    channel: string,
    onPayload: NotificationHandler,
    onError?: (error: EdgewardError) => void,
  ): Promise<() => Promise<void>> {
    if (this.#closed) throw new EdgewardError('EW_INTERNAL', 'the store is closed');
    const name = this.serverChannel(channel);
    const subscription: Subscription = { onPayload, onError };
    let subscriptions = this.#subscriptions.get(name);
    if (subscriptions === undefined) {
      subscriptions = new Set();
      this.#subscriptions.set(name, subscriptions);
    }
    subscriptions.add(subscription);
    try {
      const client = this.#client ?? (await this.#connect());
      // Listening twice is a no-op, and a connection opened meanwhile may not have seen this channel.
      await client.query(`LISTEN ${quoteIdentifier(name)}`);
    } catch (error) {
      this.#unsubscribe(name, subscription);
      throw toUnavailable(error);
    }
    return async () => {
      if (this.#unsubscribe(name, subscription)) {
        await this.#client?.query(`UNLISTEN ${quoteIdentifier(name)}`).catch(() => {});
      }
    };
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#retry);
    this.#subscriptions.clear();
    const client = this.#client ?? (await this.#connecting?.catch(() => undefined));
    this.#client = undefined;
    await client?.end().catch(() => {});
  }

  /** True when the channel has no subscriber left. */
  #unsubscribe(name: string, subscription: Subscription): boolean {
    const subscriptions = this.#subscriptions.get(name);
    if (subscriptions === undefined || !subscriptions.delete(subscription)) return false;
    if (subscriptions.size > 0) return false;
    this.#subscriptions.delete(name);
    return true;
  }

  /** Opens the connection and listens to every subscribed channel; one attempt at a time. */
  #connect(): Promise<pg.Client> {
    this.#connecting ??= this.#open().finally(() => {
      this.#connecting = undefined;
    });
    return this.#connecting;
  }

  async #open(): Promise<pg.Client> {
    const client = new pg.Client(this.#config);
    client.on('notification', (message) => {
      const subscriptions = this.#subscriptions.get(message.channel);
      for (const subscription of subscriptions ?? []) subscription.onPayload(message.payload ?? '');
    });
    // 'error' comes first when the connection breaks, then 'end'; either way it is reopened once.
    const broken = (error: unknown) => this.#broken(client, error);
    client.on('error', broken);
    client.on('end', () => broken(new Error('Connection terminated')));
    try {
      await client.connect();
      for (const name of this.#subscriptions.keys()) await client.query(`LISTEN ${quoteIdentifier(name)}`);
    } catch (error) {
      await client.end().catch(() => {});
      throw error;
    }
    if (this.#closed) {
      await client.end().catch(() => {});
      throw new EdgewardError('EW_INTERNAL', 'the store is closed');
    }
    this.#client = client;
    this.#failures = 0;
    return client;
  }

  #broken(client: pg.Client, error: unknown): void {
    if (this.#client !== client) return;
    this.#client = undefined;
    client.end().catch(() => {});
    this.#report(toUnavailable(error));
    this.#scheduleReconnect();
  }

  #report(error: EdgewardError): void {
    for (const subscriptions of this.#subscriptions.values()) {
      for (const subscription of subscriptions) subscription.onError?.(error);
    }
  }

  #scheduleReconnect(): void {
    if (this.#closed || this.#retry !== undefined || this.#subscriptions.size === 0) return;
    const ceiling = Math.min(reconnectMaxMs, reconnectMinMs * 2 ** this.#failures);
    this.#failures += 1;
    // Jitter between half and all of the ceiling, so replicas cut off together do not return together.
    const delayMs = ceiling / 2 + Math.random() * (ceiling / 2);
    this.#retry = setTimeout(() => {
      this.#retry = undefined;
      if (this.#client !== undefined) return;
      this.#connect().catch((error: unknown) => {
        this.#report(toUnavailable(error));
        this.#scheduleReconnect();
      });
    }, delayMs);
    // A pending retry alone must not keep the process alive.
    this.#retry.unref();
  }
}

function toUnavailable(error: unknown): EdgewardError {
  if (error instanceof EdgewardError) return error;
  return new EdgewardError(
    'EW_DATABASE_UNAVAILABLE',
    `the PostgreSQL connection that listens for notifications failed: ${describeError(error)}`,
    { cause: error },
  );
}
