// The devices' side of the event-ingest benchmark, on its own thread so that their TLS and HTTP work
// does not share the manager's event loop: real devices are other machines.
import { Agent as HttpsAgent, request } from 'node:https';
import { parentPort, workerData } from 'node:worker_threads';

export interface SenderDevice {
  readonly key: string;
  readonly cert: string;
  readonly ca: string;
  readonly warmUp: Uint8Array;
  readonly timed: Uint8Array[];
}

export interface SenderData {
  readonly url: string;
  readonly encoding: string;
  readonly devices: SenderDevice[];
}

/** Messages from the benchmark: `warm-up` sends each device's first batch, `go` all the others. */
export type SenderCommand = 'warm-up' | 'go';
/** Replies: the highest acknowledged sequence per device, or what went wrong. */
export type SenderReply = { readonly acked: number[] } | { readonly error: string };

function postBatch(url: URL, agent: HttpsAgent, encoding: string, body: Uint8Array): Promise<number> {
  return new Promise((resolve, reject) => {
    const outgoing = request(
      url,
      {
        method: 'POST',
        agent,
        headers: {
          'content-type': 'application/json',
          'content-encoding': encoding,
          'content-length': body.length,
        },
      },
      (response) => {
        let text = '';
        response.on('data', (chunk: Buffer) => {
          text += chunk;
        });
        response.on('end', () => {
          if (response.statusCode !== 200) {
            reject(new Error(`POST /v1/events answered ${response.statusCode}: ${text}`));
            return;
          }
          resolve((JSON.parse(text) as { ackedSeq: number }).ackedSeq);
        });
      },
    );
    outgoing.on('error', reject);
    outgoing.end(body);
  });
}

const data = workerData as SenderData;
const url = new URL(data.url);
// One kept-alive connection per device, as an agent holds it.
const agents = data.devices.map(
  (device) =>
    new HttpsAgent({ keepAlive: true, maxSockets: 1, ca: device.ca, key: device.key, cert: device.cert }),
);

parentPort?.on('message', (command: SenderCommand) => {
  const work = data.devices.map(async (device, index) => {
    const agent = agents[index]!;
    if (command === 'warm-up') return postBatch(url, agent, data.encoding, device.warmUp);
    let acked = 0;
    for (const body of device.timed) acked = await postBatch(url, agent, data.encoding, body);
    return acked;
  });
  Promise.all(work).then(
    (acked) => parentPort?.postMessage({ acked } satisfies SenderReply),
    (error: unknown) => parentPort?.postMessage({ error: String(error) } satisfies SenderReply),
  );
  if (command === 'go') {
    Promise.allSettled(work).then(() => {
      for (const agent of agents) agent.destroy();
    });
  }
});
