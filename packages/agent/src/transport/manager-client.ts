import { Agent as HttpsAgent, request } from 'node:https';
import { promisify } from 'node:util';
import * as zlib from 'node:zlib';
import { EdgewardError, isErrorCode } from '@edgeward/core';

const zstdCompress = typeof zlib.zstdCompress === 'function' ? promisify(zlib.zstdCompress) : undefined;
const gzip = promisify(zlib.gzip);
const zstdDecompress = typeof zlib.zstdDecompress === 'function' ? promisify(zlib.zstdDecompress) : undefined;
const gunzip = promisify(zlib.gunzip);

/** A reply body as the manager sent it (large policy bundles come compressed). */
async function decoded(body: Buffer, encoding: string | undefined): Promise<Buffer> {
  if (encoding === undefined || encoding === 'identity' || body.length === 0) return body;
  if (encoding === 'gzip') return gunzip(body);
  if (encoding === 'zstd' && zstdDecompress !== undefined) return zstdDecompress(body);
  throw new Error(`the reply is ${encoding}-encoded, which this agent cannot read`);
}

/** Bodies smaller than this are sent as they are: compressing them costs more than it saves. */
const COMPRESS_FROM_BYTES = 1024;

export interface ManagerClientOptions {
  /** https://HOST:PORT of the manager's device API. */
  readonly managerUrl: string;
  /** Trusted CA certificates (PEM); `undefined` accepts any server — only to fetch the CA for pinning. */
  readonly ca: string | undefined;
  /** Client key and certificate chain (PEM) for mutual TLS; absent while enrolling. */
  readonly keyPem?: string;
  readonly certChainPem?: string;
  readonly timeoutMs: number;
}

export interface ManagerResponse<T> {
  readonly body: T;
}

/**
 * HTTPS to the manager's device API: JSON in and out, uploads compressed with zstd (gzip where zstd is
 * missing), one kept-alive connection reused between calls. Error replies become EdgewardErrors with the
 * manager's code; network failures become EW_MANAGER_UNREACHABLE.
 */
export class ManagerClient {
  readonly #options: ManagerClientOptions;
  readonly #agent: HttpsAgent;
  readonly #url: URL;

  constructor(options: ManagerClientOptions) {
    this.#options = options;
    this.#url = new URL(options.managerUrl);
    this.#agent = new HttpsAgent({
      keepAlive: true,
      maxSockets: 1,
      ...(options.ca === undefined ? { rejectUnauthorized: false } : { ca: options.ca }),
      ...(options.keyPem === undefined ? {} : { key: options.keyPem }),
      ...(options.certChainPem === undefined ? {} : { cert: options.certChainPem }),
    });
  }

  get<T>(path: string): Promise<ManagerResponse<T>> {
    return this.#send('GET', path, undefined);
  }

  async post<T>(path: string, body: unknown): Promise<ManagerResponse<T>> {
    const json = Buffer.from(JSON.stringify(body));
    if (json.length < COMPRESS_FROM_BYTES)
      return this.#send('POST', path, { bytes: json, encoding: 'identity' });
    const bytes = zstdCompress ? await zstdCompress(json) : await gzip(json);
    return this.#send('POST', path, { bytes, encoding: zstdCompress ? 'zstd' : 'gzip' });
  }

  /** Sends raw bytes (an evidence chunk) as they are: they are compressed data or not worth it. */
  put<T>(path: string, bytes: Buffer): Promise<ManagerResponse<T>> {
    return this.#send('PUT', path, { bytes, encoding: 'identity', type: 'application/octet-stream' });
  }

  close(): void {
    this.#agent.destroy();
  }

  #send<T>(
    method: string,
    path: string,
    body: { bytes: Buffer; encoding: string; type?: string } | undefined,
  ): Promise<ManagerResponse<T>> {
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
            'accept-encoding': zstdDecompress === undefined ? 'gzip' : 'zstd, gzip',
            ...(body === undefined
              ? {}
              : {
                  'content-type': body.type ?? 'application/json',
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
              const text = (
                await decoded(Buffer.concat(chunks), response.headers['content-encoding'])
              ).toString('utf8');
              parsed = text === '' ? undefined : JSON.parse(text);
            } catch (error) {
              reject(unreachable(url, error));
              return;
            }
            const status = response.statusCode ?? 0;
            if (status >= 200 && status < 300) {
              resolve({ body: parsed as T });
              return;
            }
            reject(fromReply(url, status, parsed));
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
  return new EdgewardError('EW_MANAGER_UNREACHABLE', `cannot reach the manager at ${url.origin}: ${reason}`, {
    cause,
  });
}

function fromReply(url: URL, status: number, body: unknown): EdgewardError {
  const error = (body as { error?: { code?: string; message?: string; details?: Record<string, unknown> } })
    ?.error;
  if (error?.code !== undefined && isErrorCode(error.code)) {
    return new EdgewardError(error.code, error.message ?? error.code, {
      details: { status, ...(error.details ?? {}) },
    });
  }
  return new EdgewardError('EW_MANAGER_UNREACHABLE', `the manager at ${url.origin} answered HTTP ${status}`);
}
