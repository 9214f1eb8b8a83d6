import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import * as zlib from 'node:zlib';
import { enrollAgent } from '@edgeward/agent';
import { type DeviceEvent, type EventBatch, type EventType, eventTypes } from '@edgeward/core';
import { buildManager, resolveManagerConfig } from '@edgeward/manager';
import pg from 'pg';
import pino from 'pino';
import type { SenderCommand, SenderData, SenderDevice, SenderReply } from './event-sender.worker.ts';

export interface IngestRate {
  readonly engine: 'sqlite' | 'postgres';
  /** Events timed (the warm-up batch of each device is not counted). */
  readonly events: number;
  readonly batchSize: number;
  readonly devices: number;
  readonly encoding: 'zstd' | 'gzip';
  /** Mean compressed batch size, bytes. */
  readonly batchBytes: number;
  readonly seconds: number;
  /** Events per second, from the first request to the last reply (each reply follows the commit). */
  readonly rate: number;
}

export interface IngestRateOptions {
  readonly engine: 'sqlite' | 'postgres';
  /** Events to time, spread evenly over the devices. */
  readonly events: number;
  readonly batchSize: number;
  /** Devices posting at once, each over its own mTLS connection, one batch at a time (default 4). */
  readonly devices?: number;
  /** PostgreSQL only; a fresh schema is created in it and dropped afterwards. */
  readonly postgresUrl?: string;
  readonly progress?: (line: string) => void;
}

const encoding = typeof zlib.zstdCompressSync === 'function' ? 'zstd' : 'gzip';
const compress = (bytes: Buffer) =>
  encoding === 'zstd' ? zlib.zstdCompressSync(bytes) : zlib.gzipSync(bytes);
const sampleTypes = Object.keys(eventTypes).filter((type) => type !== 'syslog.message') as EventType[];

/** Events a small Linux device plausibly reports: logins, file changes, listeners, with a few fields each. */
function sampleEvent(seq: number, deviceIndex: number): DeviceEvent {
  const type = sampleTypes[(seq * 7 + deviceIndex) % sampleTypes.length] ?? 'auth.login_failed';
  return {
    seq,
    id: `${deviceIndex.toString(16).padStart(8, '0')}-0000-4000-8000-${seq.toString(16).padStart(12, '0')}`,
    type,
    severity: eventTypes[type],
    time: Date.now() - 3_600_000 + seq,
    data: {
      user: seq % 3 === 0 ? 'root' : 'operator',
      source: `10.0.${deviceIndex % 256}.${seq % 256}`,
      path: `/etc/edgeward/sample-${seq % 50}.conf`,
      pid: 1000 + (seq % 30_000),
      message: `sample ${type} event ${seq} on device ${deviceIndex}`,
    },
  };
}

function compressedBatches(
  deviceIndex: number,
  firstSeq: number,
  count: number,
  batchSize: number,
): Buffer[] {
  const batches: Buffer[] = [];
  for (let start = 0; start < count; start += batchSize) {
    const size = Math.min(batchSize, count - start);
    const body: EventBatch = {
      v: 1,
      events: Array.from({ length: size }, (_, index) => sampleEvent(firstSeq + start + index, deviceIndex)),
    };
    batches.push(compress(Buffer.from(JSON.stringify(body))));
  }
  return batches;
}

/** Sends `command` to the sender thread and waits for its reply. */
function ask(worker: Worker, command: SenderCommand): Promise<number[]> {
  return new Promise((resolve, reject) => {
    const onError = (error: Error) => reject(error);
    worker.once('error', onError);
    worker.once('message', (reply: SenderReply) => {
      worker.off('error', onError);
      if ('error' in reply) reject(new Error(reply.error));
      else resolve(reply.acked);
    });
    worker.postMessage(command);
  });
}

/**
 * Events per second into one manager, end to end: batches prepared and compressed beforehand (that
 * work belongs to the devices), then POSTed to /v1/events over mutual TLS by several enrolled devices
 * at once, from a worker thread (the devices' TLS is not the manager's work); the clock stops at the
 * last reply, which the manager sends only after the commit. Each device first sends one untimed
 * warm-up batch (connection set-up, JIT).
 */
export async function measureIngestRate(options: IngestRateOptions): Promise<IngestRate> {
  const devices = options.devices ?? 4;
  const { batchSize } = options;
  const perDevice = Math.ceil(options.events / devices);
  const dir = await mkdtemp(join(tmpdir(), 'edgeward-bench-events-'));
  const postgresUrl =
    options.postgresUrl ??
    process.env.EDGEWARD_TEST_POSTGRES_URL ??
    'postgres://postgres@127.0.0.1:5432/test';
  const schema = `ew_bench_events_${process.pid}_${Date.now()}`;
  const config = resolveManagerConfig([
    {
      source: 'bench',
      values: {
        dataDir: join(dir, 'manager'),
        host: '127.0.0.1',
        devicePort: 0,
        operatorPort: 0,
        ...(options.engine === 'postgres' ? { database: postgresUrl, databaseSchema: schema } : {}),
      },
    },
  ]);
  const manager = await buildManager(config, { logger: pino({ level: 'warn' }) });
  let sender: Worker | undefined;
  try {
    const { deviceUrl } = await manager.listen();
    const url = new URL('/v1/events', deviceUrl.replace('localhost', '127.0.0.1'));
    const operator = { id: 'bench', name: 'bench', role: 'admin' as const };
    const devicesSending = await Promise.all(
      Array.from({ length: devices }, async (_, index) => {
        const dataDir = join(dir, `agent-${index}`);
        const token = (await manager.services.tokens.create(operator, {}, 3_600_000)).token;
        const { deviceId } = await enrollAgent({
          managerUrl: url.origin,
          token,
          caFingerprint: manager.pki.caFingerprint,
          dataDir,
          hostname: `bench-${index}`,
          agentVersion: 'bench',
          reportIntervalMs: 60_000,
          timeoutMs: 30_000,
        });
        const read = (name: string) => readFile(join(dataDir, name), 'utf8');
        const [key, cert, chain, ca] = await Promise.all([
          read('key.pem'),
          read('cert.pem'),
          read('chain.pem'),
          read('ca.pem'),
        ]);
        const device: SenderDevice & { deviceId: string } = {
          deviceId,
          key,
          cert: `${cert}${chain}`,
          ca: `${ca}${chain}`,
          warmUp: compressedBatches(index, 1, batchSize, batchSize)[0]!,
          timed: compressedBatches(index, batchSize + 1, perDevice, batchSize),
        };
        return device;
      }),
    );
    const timedBatches = devicesSending.flatMap((device) => device.timed);
    const batchBytes = timedBatches.reduce((sum, body) => sum + body.length, 0) / timedBatches.length;
    options.progress?.(
      `event ingest (${options.engine}): ${devices} devices × ${perDevice} events in batches of ${batchSize} (${encoding}, ${Math.round(batchBytes)} bytes each)`,
    );
    const data: SenderData = {
      url: url.href,
      encoding,
      devices: devicesSending.map(({ key, cert, ca, warmUp, timed }) => ({ key, cert, ca, warmUp, timed })),
    };
    sender = new Worker(new URL('./event-sender.worker.ts', import.meta.url), { workerData: data });
    await ask(sender, 'warm-up');

    const started = performance.now();
    const acked = await ask(sender, 'go');
    const seconds = (performance.now() - started) / 1000;

    const expectedAck = batchSize + perDevice;
    for (const [index, device] of devicesSending.entries()) {
      const { ackedSeq } = await manager.store.events.deliveryState(device.deviceId);
      if (ackedSeq !== expectedAck || acked[index] !== expectedAck) {
        throw new Error(
          `device ${device.deviceId} ended at seq ${ackedSeq} (reply ${acked[index]}), expected ${expectedAck}`,
        );
      }
    }
    const events = perDevice * devices;
    const rate = events / seconds;
    options.progress?.(`event ingest (${options.engine}): ${Math.round(rate)} events/s`);
    return { engine: options.engine, events, batchSize, devices, encoding, batchBytes, seconds, rate };
  } finally {
    await sender?.terminate();
    await manager.close();
    await rm(dir, { recursive: true, force: true });
    if (options.engine === 'postgres') {
      const client = new pg.Client({ connectionString: postgresUrl });
      await client.connect();
      await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await client.end();
    }
  }
}
