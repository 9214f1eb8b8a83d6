/**
 * A stand-in for the manager's POST /v1/events, for forwarder tests until the real one exists: HTTPS with
 * mutual TLS from a throw-away fleet PKI, the batch contract (zstd/gzip bodies, `applyBatch` for
 * exactly-once storage, `{ v: 1, ackedSeq }` replies) and injectable faults per request.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import * as zlib from 'node:zlib';
import {
  type AckState,
  applyBatch,
  compactEventBatchSchema,
  createCsr,
  createIssuingCa,
  createRootCa,
  type DeviceEvent,
  decodeCompactBatch,
  deviceSpiffeId,
  EdgewardError,
  eventBatchSchema,
  exportPrivateKeyPem,
  generateDeviceKeyPair,
  issueDeviceCertificate,
  issueServerCertificate,
  toErrorReply,
} from '@edgeward/core';
import * as z from 'zod/mini';
import type { ManagerClientOptions } from '../transport/manager-client.ts';

const FLEET = 'acme.example';
const DAY_MS = 86_400_000;

/**
 * `drop-mid-batch`: the connection is cut while the body arrives, nothing is stored.
 * `unavailable`: the batch is read and answered 503, nothing is stored.
 * `lose-reply`: the batch is stored, then the connection is cut before the reply.
 * `too-large`: the batch is read and refused with EW_REQUEST_TOO_LARGE (413), nothing is stored.
 */
export type Fault = 'drop-mid-batch' | 'unavailable' | 'lose-reply' | 'too-large';

export interface Arrival {
  /** Sequence numbers of the batch, in the order sent. */
  readonly seqs: number[];
  /** Request body size on the wire (compressed) and as JSON. */
  readonly wireBytes: number;
  readonly jsonBytes: number;
  /** The batch's protocol version. */
  readonly version: 1 | 2;
  /** performance.now() when the body was complete. */
  readonly at: number;
  readonly fault: Fault | undefined;
}

export interface TestManager {
  /** Client options with a device certificate, for a ManagerClient. */
  readonly clientOptions: ManagerClientOptions;
  /** Stored events by seq: each stored once. */
  readonly stored: Map<number, DeviceEvent>;
  /** Every batch that arrived whole (including those answered with a fault). */
  readonly arrivals: Arrival[];
  /** Faults for the next requests, in order; `undefined` entries are served normally. */
  readonly faults: (Fault | undefined)[];
  /** Events in batches that the contract ignored as already stored. */
  duplicates: number;
  /** Delay before each reply, in milliseconds. */
  replyDelayMs: number;
  /** Takes protocol v2 (compact) batches; when false it refuses them by version, as a v1 manager does. */
  acceptsCompact: boolean;
  readonly ackState: () => AckState;
  /** Resolves once `predicate` holds (checked every 5 ms), or rejects after `timeoutMs`. */
  readonly waitFor: (predicate: () => boolean, timeoutMs?: number) => Promise<void>;
  readonly close: () => Promise<void>;
}

export async function startTestManager(): Promise<TestManager> {
  const now = Date.now();
  const rootKeys = await generateDeviceKeyPair();
  const root = {
    certPem: await createRootCa({ fleet: FLEET, keys: rootKeys, now }),
    privateKey: rootKeys.privateKey,
  };
  const issuingKeys = await generateDeviceKeyPair();
  const issuing = {
    certPem: await createIssuingCa({ fleet: FLEET, root, keys: issuingKeys, now }),
    privateKey: issuingKeys.privateKey,
  };
  const serverKeys = await generateDeviceKeyPair();
  const serverCert = await issueServerCertificate({
    issuer: issuing,
    publicKey: serverKeys.publicKey,
    dnsNames: ['manager.acme.example'],
    ipAddresses: ['127.0.0.1'],
    now,
    validityDays: 1,
  });
  const deviceKeys = await generateDeviceKeyPair();
  const device = await issueDeviceCertificate({
    csrPem: await createCsr({ keys: deviceKeys, commonName: 'device-1' }),
    issuer: issuing,
    spiffeId: deviceSpiffeId(FLEET, 'device-1'),
    commonName: 'device-1',
    now,
    validityMs: DAY_MS,
  });

  const server = createServer(
    {
      key: await exportPrivateKeyPem(serverKeys.privateKey),
      cert: serverCert + issuing.certPem,
      ca: [root.certPem, issuing.certPem],
      requestCert: true,
      rejectUnauthorized: true,
    },
    (request, response) => {
      // `handle` is defined below; requests arrive only after `manager` exists.
      handle(request, response).catch(() => request.socket.destroy());
    },
  );
  server.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  const { port } = server.address() as AddressInfo;

  let ack: AckState = { ackedSeq: 0, heldAbove: [] };
  const manager: TestManager = {
    clientOptions: {
      managerUrl: `https://127.0.0.1:${port}`,
      ca: root.certPem,
      keyPem: await exportPrivateKeyPem(deviceKeys.privateKey),
      certChainPem: device.certPem + issuing.certPem,
      timeoutMs: 5000,
    },
    stored: new Map(),
    arrivals: [],
    faults: [],
    duplicates: 0,
    replyDelayMs: 0,
    acceptsCompact: true,
    ackState: () => ack,
    waitFor: async (predicate, timeoutMs = 10_000) => {
      const deadline = performance.now() + timeoutMs;
      while (!predicate()) {
        if (performance.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    },
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };

  const handle = async (request: IncomingMessage, response: ServerResponse) => {
    if (request.method !== 'POST' || request.url !== '/v1/events') {
      response.writeHead(404).end();
      return;
    }
    const fault = manager.faults.shift();
    if (fault === 'drop-mid-batch') {
      request.once('data', () => request.socket.destroy());
      return;
    }
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    const encoding = request.headers['content-encoding'] ?? 'identity';
    const json =
      encoding === 'zstd'
        ? zlib.zstdDecompressSync(body)
        : encoding === 'gzip'
          ? zlib.gunzipSync(body)
          : body;
    const sent = JSON.parse(json.toString('utf8')) as { v?: unknown };
    const compact = sent.v === 2 ? z.safeParse(compactEventBatchSchema, sent) : undefined;
    if (compact !== undefined && !manager.acceptsCompact) {
      response.writeHead(400, { 'content-type': 'application/json' });
      const refusal = new EdgewardError(
        'EW_PROTOCOL_VERSION_UNSUPPORTED',
        'event batch has protocol version 2',
      );
      response.end(JSON.stringify(toErrorReply(refusal)));
      return;
    }
    const parsed = z.safeParse(
      eventBatchSchema,
      compact?.success === true
        ? { v: 1, floorSeq: compact.data.floorSeq, events: decodeCompactBatch(compact.data) }
        : sent,
    );
    if (!parsed.success) {
      response.writeHead(400, { 'content-type': 'application/json' });
      response.end(
        JSON.stringify(toErrorReply(new EdgewardError('EW_REQUEST_INVALID', parsed.error.message))),
      );
      return;
    }
    const events = parsed.data.events;
    manager.arrivals.push({
      seqs: events.map((event) => event.seq),
      wireBytes: body.length,
      jsonBytes: json.length,
      version: compact === undefined ? 1 : 2,
      at: performance.now(),
      fault,
    });
    if (manager.replyDelayMs > 0) await new Promise((resolve) => setTimeout(resolve, manager.replyDelayMs));
    if (fault === 'unavailable' || fault === 'too-large') {
      const error =
        fault === 'unavailable'
          ? new EdgewardError('EW_DATABASE_UNAVAILABLE', 'the store is down')
          : new EdgewardError('EW_REQUEST_TOO_LARGE', 'the batch is over the body limit');
      response.writeHead(fault === 'unavailable' ? 503 : 413, { 'content-type': 'application/json' });
      response.end(JSON.stringify(toErrorReply(error)));
      return;
    }
    const outcome = applyBatch(
      ack,
      events.map((event) => event.seq),
    );
    const accepted = new Set(outcome.accept);
    for (const event of events) if (accepted.has(event.seq)) manager.stored.set(event.seq, event);
    manager.duplicates += events.length - outcome.accept.length;
    ack = outcome.state;
    if (fault === 'lose-reply') {
      request.socket.destroy();
    } else {
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ v: 1, ackedSeq: ack.ackedSeq }));
    }
  };

  return manager;
}
