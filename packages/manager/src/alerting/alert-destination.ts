import { readFile } from 'node:fs/promises';
import { type AlertNotification, EdgewardError, type Severity } from '@edgeward/core';
import type { Store } from '@edgeward/store';
import type { SyslogForwarder } from '../syslog/syslog-forwarder.ts';
import { type AlertDestinationConfig, destinationTiers } from './alert-destinations.ts';
import { alertSyslogEntry } from './alert-message.ts';
import { MqttAlertDestination } from './mqtt-destination.ts';
import { SmtpAlertDestination } from './smtp-destination.ts';
import { WebhookAlertDestination } from './webhook-destination.ts';

/** One notification on its way: the delivery id travels with it (the webhook's `x-edgeward-delivery`). */
export interface OutgoingNotification {
  readonly id: string;
  readonly notification: AlertNotification;
}

/** A place notifications go. */
export interface AlertDestination {
  readonly name: string;
  readonly type: AlertDestinationConfig['type'];
  readonly tiers: ReadonlySet<Severity>;
  /**
   * Hands the notification over inside the transaction that changed the alert, for a destination with a
   * durable queue of its own (syslog out's outbox): its delivery is recorded as delivered at once.
   * Absent: the delivery waits in the store for the sender, which calls `send`.
   */
  readonly handOver?: (store: Store, outgoing: OutgoingNotification, at: number) => Promise<void>;
  /**
   * Sends one notification; resolves once the receiver took it (HTTP 2xx, MQTT PUBACK, SMTP 250).
   * Throws EW_ALERT_DELIVERY_FAILED with the reason.
   */
  send(outgoing: OutgoingNotification): Promise<void>;
  /** Drops open connections. */
  close(): Promise<void>;
}

export interface AlertDestinationDeps {
  /** Syslog out, when configured (the config refuses a syslog destination without it). */
  readonly syslogOut: SyslogForwarder | undefined;
  /** One attempt fails after this long (ms). */
  readonly timeoutMs: number;
  /** The fleet name, in MQTT client ids. */
  readonly fleet: string;
}

/** Builds the configured destinations, reading their secret files (EW_CONFIG_INVALID when one is unreadable). */
export async function createAlertDestinations(
  configs: readonly AlertDestinationConfig[],
  deps: AlertDestinationDeps,
): Promise<AlertDestination[]> {
  const destinations: AlertDestination[] = [];
  for (const config of configs) {
    const tiers = destinationTiers(config);
    switch (config.type) {
      case 'webhook': {
        const secret =
          config.secretFile === undefined
            ? undefined
            : await readSecret(config.name, 'secretFile', config.secretFile);
        destinations.push(
          new WebhookAlertDestination({
            name: config.name,
            tiers,
            url: config.url,
            ...(secret === undefined ? {} : { secret }),
            timeoutMs: deps.timeoutMs,
          }),
        );
        break;
      }
      case 'mqtt': {
        const password =
          config.passwordFile === undefined
            ? undefined
            : await readSecret(config.name, 'passwordFile', config.passwordFile);
        destinations.push(
          new MqttAlertDestination({
            name: config.name,
            tiers,
            url: config.url,
            topic: config.topic,
            ...(config.username === undefined ? {} : { username: config.username }),
            ...(password === undefined ? {} : { password }),
            clientIdPrefix: `edgeward-${deps.fleet}`,
            timeoutMs: deps.timeoutMs,
          }),
        );
        break;
      }
      case 'smtp': {
        const password =
          config.passwordFile === undefined
            ? undefined
            : await readSecret(config.name, 'passwordFile', config.passwordFile);
        destinations.push(
          new SmtpAlertDestination({
            name: config.name,
            tiers,
            host: config.host,
            port: config.port,
            secure: config.secure,
            ...(config.username === undefined ? {} : { username: config.username }),
            ...(password === undefined ? {} : { password }),
            from: config.from,
            to: config.to,
            timeoutMs: deps.timeoutMs,
          }),
        );
        break;
      }
      case 'syslog':
        destinations.push(syslogDestination(config.name, tiers, deps.syslogOut));
        break;
    }
  }
  return destinations;
}

/** Alerts to the SIEM through syslog out: queued in its outbox in the alert's own transaction. */
function syslogDestination(
  name: string,
  tiers: ReadonlySet<Severity>,
  syslogOut: SyslogForwarder | undefined,
): AlertDestination {
  if (syslogOut === undefined) {
    throw new EdgewardError(
      'EW_CONFIG_INVALID',
      `alert destination ${name} is of type syslog, which sends through syslog out; set syslogOutUrl`,
    );
  }
  return {
    name,
    type: 'syslog',
    tiers,
    handOver: (store, outgoing, at) =>
      syslogOut.forward([alertSyslogEntry(outgoing.notification, at)], store),
    // Reached only for a delivery written as pending (none are); the outbox is as good as the transaction.
    send: (outgoing) => syslogOut.forward([alertSyslogEntry(outgoing.notification, Date.now())]),
    close: async () => {},
  };
}

async function readSecret(destination: string, setting: string, file: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new EdgewardError(
      'EW_CONFIG_INVALID',
      `alert destination ${destination}: ${setting} names ${file}, which cannot be read (${(error as Error).message}); point it at a file holding the secret`,
      { cause: error },
    );
  }
  const secret = text.trim();
  if (secret === '') {
    throw new EdgewardError(
      'EW_CONFIG_INVALID',
      `alert destination ${destination}: ${setting} ${file} is empty; write the secret into it`,
    );
  }
  return secret;
}
