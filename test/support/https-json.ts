import type { IncomingHttpHeaders } from 'node:http';
import { request } from 'node:https';

export interface JsonReply<T> {
  readonly status: number;
  readonly body: T & { error?: { code: string; message: string } };
  readonly headers: IncomingHttpHeaders;
}

/**
 * One JSON request over HTTPS to an Edgeward API, as tests make them: the fleet CA, a bearer token or a
 * client certificate, a fresh connection each time. An empty reply body reads as `{}`.
 */
export function httpsJson<T = Record<string, unknown>>(
  url: URL,
  options: {
    readonly method: string;
    readonly ca: string;
    readonly token?: string | undefined;
    readonly tls?: { readonly key: string; readonly cert: string };
    readonly body?: unknown;
    /** Extra request headers (a session cookie, the dashboard's CSRF header). */
    readonly headers?: Readonly<Record<string, string>>;
  },
): Promise<JsonReply<T>> {
  return new Promise((resolve, reject) => {
    const payload = options.body === undefined ? undefined : JSON.stringify(options.body);
    const outgoing = request(
      url,
      {
        method: options.method,
        ca: options.ca,
        agent: false,
        ...options.tls,
        headers: {
          ...(options.token === undefined ? {} : { authorization: `Bearer ${options.token}` }),
          ...(payload === undefined ? {} : { 'content-type': 'application/json' }),
          ...options.headers,
        },
      },
      (response) => {
        let text = '';
        response.on('data', (chunk: Buffer) => {
          text += chunk;
        });
        response.on('end', () => {
          try {
            resolve({
              status: response.statusCode ?? 0,
              body: text === '' ? {} : JSON.parse(text),
              headers: response.headers,
            });
          } catch (error) {
            reject(error);
          }
        });
      },
    );
    outgoing.on('error', reject);
    outgoing.end(payload);
  });
}
