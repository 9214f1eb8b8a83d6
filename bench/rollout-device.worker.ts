// The devices' side of the rollout benchmark, on its own thread so that their TLS and HTTP work does not
// share the manager's event loop (real devices are other machines). Each simulated device speaks the real
// device protocol over mutual TLS with its own certificate: it polls `GET /v1/update`; once offered the
// update it fetches the TUF metadata (timestamp, snapshot, targets), reports downloading, verified,
// installing, awaiting-health and committed, and posts its signed running version. The artifact's bytes
// are not downloaded: this measures control traffic.
import { sign } from 'node:crypto';
import { Agent as HttpsAgent, request } from 'node:https';
import { parentPort, workerData } from 'node:worker_threads';
import { canonicalJson } from '@edgeward/core';

export interface RolloutDevice {
  readonly deviceId: string;
  readonly cert: string;
}

export interface RolloutWorkerData {
  readonly url: string;
  readonly ca: string;
  readonly key: string;
  readonly devices: RolloutDevice[];
  /** Devices talking to the manager at once. */
  readonly concurrency: number;
  /** A device that was not offered anything asks again after this long. */
  readonly pollMs: number;
  /**
   * `poll`: every device polls until it has committed. `nudge`: a device contacts the manager only when
   * the manager tells it its turn came (the push nudge, relayed by the benchmark as a thread message).
   */
  readonly mode: 'poll' | 'nudge';
}

/** Benchmark → worker in `nudge` mode: the manager nudged this device. */
export interface RolloutNudge {
  readonly deviceId: string;
}

export type RolloutWorkerReply =
  | { readonly done: true; readonly requests: number; readonly polls: number }
  | { readonly error: string };

const data = workerData as RolloutWorkerData;
const base = new URL(data.url);
let requests = 0;
let polls = 0;

function call(agent: HttpsAgent, method: string, path: string, body?: unknown): Promise<unknown> {
  const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
  requests += 1;
  return new Promise((resolve, reject) => {
    const outgoing = request(
      new URL(path, base),
      {
        method,
        agent,
        headers:
          payload === undefined
            ? {}
            : { 'content-type': 'application/json', 'content-length': payload.length },
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          if ((response.statusCode ?? 0) >= 300)
            reject(new Error(`${method} ${path}: HTTP ${response.statusCode} ${text}`));
          else resolve(text === '' ? undefined : JSON.parse(text));
        });
        response.on('error', reject);
      },
    );
    outgoing.on('error', reject);
    outgoing.end(payload);
  });
}

/** One contact of one device: a poll, and the whole update when one is offered. True once it committed. */
const agents = new Map<string, HttpsAgent>();

async function contact(device: RolloutDevice): Promise<boolean> {
  // One connection per contact (keep-alive within it), closed afterwards, as a device that sleeps
  // between polls; the device's agent keeps its TLS session, so later contacts resume it, as the agent's
  // own kept client does.
  let agent = agents.get(device.deviceId);
  if (agent === undefined) {
    agent = new HttpsAgent({ keepAlive: true, maxSockets: 1, ca: data.ca, key: data.key, cert: device.cert });
    agents.set(device.deviceId, agent);
  }
  try {
    polls += 1;
    const { update } = (await call(agent, 'GET', '/v1/update')) as {
      update: { rolloutId: string; name: string; version: string } | null;
    };
    if (update === null) return false;
    const timestamp = (await call(agent, 'GET', '/v1/tuf/timestamp.json')) as {
      signed: { meta: Record<string, { version: number }> };
    };
    const snapshotVersion = timestamp.signed.meta['snapshot.json']?.version ?? 1;
    const snapshot = (await call(agent, 'GET', `/v1/tuf/${snapshotVersion}.snapshot.json`)) as {
      signed: { meta: Record<string, { version: number }> };
    };
    await call(agent, 'GET', `/v1/tuf/${snapshot.signed.meta['targets.json']?.version ?? 1}.targets.json`);
    for (const state of ['downloading', 'verified', 'installing', 'awaiting-health', 'committed']) {
      await call(agent, 'POST', '/v1/update/report', {
        v: 1,
        rolloutId: update.rolloutId,
        name: update.name,
        version: update.version,
        state,
        detail: state,
        at: Date.now(),
      });
    }
    const payload = {
      deviceId: device.deviceId,
      name: update.name,
      version: update.version,
      fellBackFrom: null,
      at: Date.now(),
    };
    const signature = sign('sha256', Buffer.from(canonicalJson(payload)), data.key).toString('base64');
    await call(agent, 'POST', '/v1/update/running', { v: 1, payload, signature });
    agents.delete(device.deviceId);
    agent.destroy();
    return true;
  } finally {
    // Close the connection, keep the session.
    for (const sockets of Object.values(agent.freeSockets))
      for (const socket of sockets ?? []) socket.destroy();
  }
}

/** `nudge` mode: contacts only nudged devices, `concurrency` at a time, until every device committed. */
async function runNudged(): Promise<void> {
  const byId = new Map(data.devices.map((device) => [device.deviceId, device]));
  const queue: RolloutDevice[] = [];
  let committed = 0;
  let wake: (() => void) | undefined;
  parentPort?.on('message', (message: RolloutNudge) => {
    const device = byId.get(message.deviceId);
    if (device === undefined) return;
    queue.push(device);
    wake?.();
  });
  const workers = Array.from({ length: data.concurrency }, async () => {
    while (committed < data.devices.length) {
      const device = queue.shift();
      if (device === undefined) {
        await new Promise<void>((resolve) => {
          wake = resolve;
          setTimeout(resolve, 50);
        });
        continue;
      }
      if (await contact(device)) committed += 1;
    }
  });
  await Promise.all(workers);
}

async function run(): Promise<void> {
  if (data.mode === 'nudge') return runNudged();
  const waiting = [...data.devices];
  const nextContactAt = new Map<string, number>();
  const workers = Array.from({ length: data.concurrency }, async () => {
    while (waiting.length > 0) {
      const device = waiting.shift();
      if (device === undefined) return;
      const due = nextContactAt.get(device.deviceId) ?? 0;
      if (due > Date.now()) await new Promise((resolve) => setTimeout(resolve, due - Date.now()));
      const committed = await contact(device);
      if (!committed) {
        nextContactAt.set(device.deviceId, Date.now() + data.pollMs);
        waiting.push(device);
      }
    }
  });
  await Promise.all(workers);
}

run().then(
  () => parentPort?.postMessage({ done: true, requests, polls } satisfies RolloutWorkerReply),
  (error: unknown) =>
    parentPort?.postMessage({ error: (error as Error).stack ?? String(error) } satisfies RolloutWorkerReply),
);
