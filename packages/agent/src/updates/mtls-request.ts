import type { IncomingMessage } from 'node:http';
import { type Agent as HttpsAgent, request } from 'node:https';

/** The device's mutual TLS material (PEM), as the agent holds it after enrollment. */
export interface DeviceTls {
  readonly ca: string;
  readonly key: string;
  readonly cert: string;
}

/** One mutually authenticated GET; the caller reads (or destroys) the response. */
export function mtlsGet(
  url: URL,
  tls: DeviceTls,
  options: { headers?: Record<string, string>; timeoutMs: number; agent?: HttpsAgent },
): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const outgoing = request(
      url,
      {
        method: 'GET',
        ...(options.agent === undefined
          ? { ca: tls.ca, key: tls.key, cert: tls.cert }
          : { agent: options.agent }),
        headers: options.headers ?? {},
        timeout: options.timeoutMs,
      },
      resolve,
    );
    outgoing.on('timeout', () => outgoing.destroy(new Error(`no answer within ${options.timeoutMs} ms`)));
    outgoing.on('error', reject);
    outgoing.end();
  });
}

export async function readBody(response: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of response) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}
