import type { IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request } from 'node:https';
import { promisify } from 'node:util';
import * as zlib from 'node:zlib';
import { EdgewardError, isErrorCode } from '@edgeward/core';

const gzip = promisify(zlib.gzip);
const gunzip = promisify(zlib.gunzip);
/** Smaller bodies go as they are: compressing them costs more than it saves. */
const COMPRESS_FROM_BYTES = 1024;

export interface UpstreamClientOptions {
  /** https://HOST:PORT of the hub's device API. */
  readonly url: string;
  /** Trusted CA certificates (PEM); undefined accepts any server — only to fetch the CA for pinning. */
  readonly ca: string | undefined;
  readonly keyPem?: string;
  readonly certChainPem?: string;
  readonly timeoutMs: number;
}

/**
 * The site's HTTPS client to its hub's device API, with the site certificate for mutual TLS: JSON in and
 * out, large bodies gzip-compressed, one kept-alive connection. Error replies become EdgewardErrors with the
 * hub's code; network failures EW_UPSTREAM_UNREACHABLE. (The agent has its own client in its package: the
 * manager never imports the agent, and core does no I/O.)
 */
export class UpstreamClient {
  readonly #options: UpstreamClientOptions;
  readonly #agent: HttpsAgent;
  readonly #url: URL;

  constructor(options: UpstreamClientOptions) {
    this.#options = options;
    this.#url = new URL(options.url);
    this.#agent = new HttpsAgent({
      keepAlive: true,
      maxSockets: 1,
      ...(options.ca === undefined ? { rejectUnauthorized: false } : { ca: options.ca }),
      ...(options.keyPem === undefined ? {} : { key: options.keyPem }),
      ...(options.certChainPem === undefined ? {} : { cert: options.certChainPem }),
    });
  }

  get<T>(path: string): Promise<T | undefined> {
    return this.#send<T>('GET', path, undefined);
  }

  async post<T>(path: string, body: unknown): Promise<T> {
    const json = Buffer.from(JSON.stringify(body));
    const payload =
      json.length < COMPRESS_FROM_BYTES
        ? { bytes: json, encoding: 'identity' }
        : { bytes: await gzip(json), encoding: 'gzip' };
    return (await this.#send<T>('POST', path, payload)) as T;
  }

  /**
   * A GET whose body the caller streams (TUF metadata, artifacts with `range`); any HTTP status resolves,
   * network failures reject with EW_UPSTREAM_UNREACHABLE.
   */
  getStream(path: string, headers: Record<string, string> = {}): Promise<IncomingMessage> {
    const url = new URL(path, this.#url);
    return new Promise((resolve, reject) => {
      const outgoing = request(
        url,
        { method: 'GET', agent: this.#agent, timeout: this.#options.timeoutMs, headers },
        resolve,
      );
      outgoing.on('timeout', () =>
        outgoing.destroy(new Error(`no answer within ${this.#options.timeoutMs} ms`)),
      );
      outgoing.on('error', (error) => reject(unreachable(url, error)));
      outgoing.end();
    });
  }

  close(): void {
    this.#agent.destroy();
  }

  #send<T>(
    method: string,
    path: string,
    body: { bytes: Buffer; encoding: string } | undefined,
  ): Promise<T | undefined> {
    const url = new URL(path, this.#url);
    return new Promise((resolve, reject) => {
      const outgoing = request(
        url,
        {
          method,
          agent: this.#agent,
          timeout: this.#options.timeoutMs,
          headers: {
            accept: 'application/json',
            'accept-encoding': 'gzip',
            ...(body === undefined
              ? {}
              : {
                  'content-type': 'application/json',
                  'content-encoding': body.encoding,
                  'content-length': body.bytes.length,
                }),
          },
        },
        (response) => {
          const chunks: Buffer[] = [];
          response.on('data', (chunk: Buffer) => chunks.push(chunk));
          response.on('error', (error) => reject(unreachable(url, error)));
          response.on('end', async () => {
            let parsed: unknown;
            try {
              const raw = Buffer.concat(chunks);
              const text = (
                response.headers['content-encoding'] === 'gzip' ? await gunzip(raw) : raw
              ).toString('utf8');
              parsed = text === '' ? undefined : JSON.parse(text);
            } catch (error) {
              reject(unreachable(url, error));
              return;
            }
            const status = response.statusCode ?? 0;
            if (status >= 200 && status < 300) resolve(parsed as T | undefined);
            else reject(fromReply(url, status, parsed));
          });
        },
      );
      outgoing.on('timeout', () =>
        outgoing.destroy(new Error(`no answer within ${this.#options.timeoutMs} ms`)),
      );
      outgoing.on('error', (error) => reject(unreachable(url, error)));
      outgoing.end(body?.bytes);
    });
  }
}

function unreachable(url: URL, cause: unknown): EdgewardError {
  const reason = cause instanceof Error ? cause.message : String(cause);
  return new EdgewardError('EW_UPSTREAM_UNREACHABLE', `cannot reach the hub at ${url.origin}: ${reason}`, {
    cause,
  });
}

function fromReply(url: URL, status: number, body: unknown): EdgewardError {
  const error = (body as { error?: { code?: string; message?: string } } | undefined)?.error;
  if (error?.code !== undefined && isErrorCode(error.code)) {
    return new EdgewardError(error.code, `the hub at ${url.origin} refused: ${error.message ?? error.code}`, {
      details: { status },
    });
  }
  return new EdgewardError('EW_UPSTREAM_UNREACHABLE', `the hub at ${url.origin} answered HTTP ${status}`);
}
