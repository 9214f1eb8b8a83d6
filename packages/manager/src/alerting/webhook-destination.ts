import { createHmac } from 'node:crypto';
import { EdgewardError, type Severity } from '@edgeward/core';
import type { AlertDestination, OutgoingNotification } from './alert-destination.ts';

/** Characters of a refusing receiver's answer kept in the delivery's last error. */
const ANSWER_CHARS = 200;

export interface WebhookOptions {
  readonly name: string;
  readonly tiers: ReadonlySet<Severity>;
  readonly url: string;
  /** HMAC-SHA256 key; without it the body is not signed. */
  readonly secret?: string;
  readonly timeoutMs: number;
}

/**
 * POSTs each notification as JSON. The receiver can check `x-edgeward-signature: sha256=<hex HMAC-SHA256 of
 * the body>` with the shared secret, and drop repeats by `x-edgeward-delivery` (delivery is at least once).
 * Any 2xx answer is a delivery; anything else, or no answer in time, is retried.
 */
export class WebhookAlertDestination implements AlertDestination {
  readonly type = 'webhook';
  readonly name: string;
  readonly tiers: ReadonlySet<Severity>;
  readonly #url: string;
  readonly #secret: string | undefined;
  readonly #timeoutMs: number;

  constructor(options: WebhookOptions) {
    this.name = options.name;
    this.tiers = options.tiers;
    this.#url = options.url;
    this.#secret = options.secret;
    this.#timeoutMs = options.timeoutMs;
  }

  async send(outgoing: OutgoingNotification): Promise<void> {
    const body = JSON.stringify(outgoing.notification);
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      'user-agent': 'edgeward-manager',
      'x-edgeward-delivery': outgoing.id,
    };
    if (this.#secret !== undefined) {
      headers['x-edgeward-signature'] =
        `sha256=${createHmac('sha256', this.#secret).update(body).digest('hex')}`;
    }
    let response: Response;
    try {
      response = await fetch(this.#url, {
        method: 'POST',
        headers,
        body,
        redirect: 'error',
        signal: AbortSignal.timeout(this.#timeoutMs),
      });
    } catch (error) {
      throw new EdgewardError(
        'EW_ALERT_DELIVERY_FAILED',
        `webhook ${this.name} (${this.#url}) cannot be reached: ${describeFetchError(error, this.#timeoutMs)}`,
        { cause: error },
      );
    }
    const answer = await response.text().catch(() => '');
    if (response.status < 200 || response.status >= 300) {
      const excerpt = answer.length > ANSWER_CHARS ? `${answer.slice(0, ANSWER_CHARS)}…` : answer;
      throw new EdgewardError(
        'EW_ALERT_DELIVERY_FAILED',
        `webhook ${this.name} answered HTTP ${response.status}${excerpt === '' ? '' : `: ${excerpt}`}`,
      );
    }
  }

  async close(): Promise<void> {}
}

function describeFetchError(error: unknown, timeoutMs: number): string {
  if (error instanceof DOMException && error.name === 'TimeoutError')
    return `no answer within ${timeoutMs} ms`;
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  if (cause?.code !== undefined)
    return `${cause.code}${cause.message === undefined ? '' : ` (${cause.message})`}`;
  return error instanceof Error ? error.message : String(error);
}
