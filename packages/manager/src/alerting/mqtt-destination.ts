import { randomBytes } from 'node:crypto';
import { type AlertNotification, EdgewardError, type Severity } from '@edgeward/core';
import { connectAsync, type MqttClient } from 'mqtt';
import type { AlertDestination, OutgoingNotification } from './alert-destination.ts';

export interface MqttOptions {
  readonly name: string;
  readonly tiers: ReadonlySet<Severity>;
  /** mqtt://host:1883, mqtts://…, ws://…, wss://… */
  readonly url: string;
  /** `{tier}` becomes the alert's tier, or the digest's schedule. */
  readonly topic: string;
  readonly username?: string;
  readonly password?: string;
  /** A random suffix is added: brokers drop an older session when a new one takes its client id. */
  readonly clientIdPrefix: string;
  readonly timeoutMs: number;
}

/**
 * Publishes each notification's JSON with QoS 1 and counts it delivered when the broker's PUBACK arrives.
 * One connection, opened on first use and kept; a failed publish drops it, and the retry opens a new one
 * (the sender's backoff paces reconnects, not the MQTT client's own loop).
 */
export class MqttAlertDestination implements AlertDestination {
  readonly type = 'mqtt';
  readonly name: string;
  readonly tiers: ReadonlySet<Severity>;
  readonly #options: MqttOptions;
  readonly #clientId: string;
  #client: Promise<MqttClient> | undefined;

  constructor(options: MqttOptions) {
    this.name = options.name;
    this.tiers = options.tiers;
    this.#options = options;
    this.#clientId = `${options.clientIdPrefix}-${randomBytes(4).toString('hex')}`.slice(0, 64);
  }

  async send(outgoing: OutgoingNotification): Promise<void> {
    const topic = topicFor(this.#options.topic, outgoing.notification);
    let client: MqttClient;
    try {
      client = await this.#connect();
    } catch (error) {
      throw new EdgewardError(
        'EW_ALERT_DELIVERY_FAILED',
        `MQTT broker of ${this.name} (${redacted(this.#options.url)}) refused or did not answer: ${(error as Error).message}`,
        { cause: error },
      );
    }
    try {
      await withTimeout(
        client.publishAsync(topic, JSON.stringify(outgoing.notification), { qos: 1 }),
        this.#options.timeoutMs,
        'no PUBACK',
      );
    } catch (error) {
      await this.#drop();
      throw new EdgewardError(
        'EW_ALERT_DELIVERY_FAILED',
        `MQTT publish of ${this.name} to ${topic} failed: ${(error as Error).message}`,
        { cause: error },
      );
    }
  }

  async close(): Promise<void> {
    await this.#drop();
  }

  #connect(): Promise<MqttClient> {
    const existing = this.#client;
    if (existing !== undefined) {
      return existing.then((client) => {
        if (client.connected) return client;
        return this.#drop().then(() => this.#connect());
      });
    }
    const { url, username, password, timeoutMs } = this.#options;
    const connecting = connectAsync(
      url,
      {
        clientId: this.#clientId,
        ...(username === undefined ? {} : { username }),
        ...(password === undefined ? {} : { password }),
        connectTimeout: timeoutMs,
        reconnectPeriod: 0,
        clean: true,
      },
      false,
    );
    this.#client = connecting;
    connecting.catch(() => {
      if (this.#client === connecting) this.#client = undefined;
    });
    return connecting;
  }

  async #drop(): Promise<void> {
    const pending = this.#client;
    this.#client = undefined;
    const client = await pending?.catch(() => undefined);
    await client?.endAsync(true).catch(() => {});
  }
}

function topicFor(template: string, notification: AlertNotification): string {
  const tier = notification.kind === 'alert' ? notification.alert.tier : `digest-${notification.schedule}`;
  return template.replaceAll('{tier}', tier);
}

function redacted(url: string): string {
  const parsed = new URL(url);
  parsed.username = '';
  parsed.password = '';
  return parsed.toString();
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
