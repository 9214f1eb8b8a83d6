import { request } from 'node:https';

export interface JsonReply<T> {
  readonly status: number;
  readonly body: T & { error?: { code: string; message: string } };
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
        },
      },
      (response) => {
        let text = '';
        response.on('data', (chunk: Buffer) => {
          text += chunk;
        });
        response.on('end', () => {
          try {
            resolve({ status: response.statusCode ?? 0, body: text === '' ? {} : JSON.parse(text) });
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
