import { EdgewardError, type Severity } from '@edgeward/core';
import { createTransport, type Transporter } from 'nodemailer';
import type { AlertDestination, OutgoingNotification } from './alert-destination.ts';
import { notificationSubject, notificationText } from './alert-message.ts';

export interface SmtpOptions {
  readonly name: string;
  readonly tiers: ReadonlySet<Severity>;
  readonly host: string;
  readonly port: number;
  /** TLS from the first byte; otherwise STARTTLS whenever the server offers it. */
  readonly secure: boolean;
  readonly username?: string;
  readonly password?: string;
  readonly from: string;
  readonly to: readonly string[];
  readonly timeoutMs: number;
}

/** Mails each notification as plain text; delivered once the server accepted it for every recipient. */
export class SmtpAlertDestination implements AlertDestination {
  readonly type = 'smtp';
  readonly name: string;
  readonly tiers: ReadonlySet<Severity>;
  readonly #options: SmtpOptions;
  readonly #transport: Transporter;

  constructor(options: SmtpOptions) {
    this.name = options.name;
    this.tiers = options.tiers;
    this.#options = options;
    this.#transport = createTransport({
      host: options.host,
      port: options.port,
      secure: options.secure,
      ...(options.username === undefined
        ? {}
        : { auth: { user: options.username, pass: options.password ?? '' } }),
      connectionTimeout: options.timeoutMs,
      greetingTimeout: options.timeoutMs,
      socketTimeout: options.timeoutMs,
    });
  }

  async send(outgoing: OutgoingNotification): Promise<void> {
    let rejected: readonly unknown[] = [];
    try {
      const info = await this.#transport.sendMail({
        from: this.#options.from,
        to: [...this.#options.to],
        subject: notificationSubject(outgoing.notification),
        text: notificationText(outgoing.notification),
        headers: { 'X-Edgeward-Delivery': outgoing.id },
      });
      rejected = (info as { rejected?: unknown[] }).rejected ?? [];
    } catch (error) {
      throw new EdgewardError(
        'EW_ALERT_DELIVERY_FAILED',
        `mail server of ${this.name} (${this.#options.host}:${this.#options.port}) did not take the mail: ${(error as Error).message}`,
        { cause: error },
      );
    }
    // A partial refusal is retried whole: the recipients who got it see it twice rather than others never.
    if (rejected.length > 0) {
      throw new EdgewardError(
        'EW_ALERT_DELIVERY_FAILED',
        `mail server of ${this.name} refused recipients ${rejected.map(String).join(', ')}`,
      );
    }
  }

  async close(): Promise<void> {
    this.#transport.close();
  }
}
