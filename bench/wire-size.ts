// Bytes per event on the wire: realistic events (bench/realistic-events.ts) through a real EventQueue,
// taken out in batches exactly as the Forwarder takes them (peekBatch with its size and count limits),
// laid out as the Forwarder sends them (protocol v2 compact batches, and v1 for comparison), encoded as
// ManagerClient encodes request bodies (zstd from node:zlib at its default level, bodies under 1 KiB as
// they are), beside the same events as uncompressed NDJSON.
//
// The experiments below the main figures are NOT the protocol: each says what adopting it would take.
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as zlib from 'node:zlib';
import { EventQueue, forwarderDefaults } from '@edgeward/agent';
import {
  type DeviceEvent,
  decodeCompactBatch,
  type EventBatch,
  encodeCompactBatch,
  type NewDeviceEvent,
} from '@edgeward/core';
import { generateRealisticEvents } from './realistic-events.ts';
import { median } from './support.ts';

/** ManagerClient's threshold: smaller bodies go uncompressed. */
const COMPRESS_FROM_BYTES = 1024;

export interface WireRow {
  readonly label: string;
  readonly events: number;
  readonly batches: number;
  /** Request bodies as ManagerClient sends them (protocol v2), bytes in all. */
  readonly wireBytes: number;
  /** The same batches as protocol v1 bodies. */
  readonly v1WireBytes: number;
  /** The same events, one JSON object per line, uncompressed. */
  readonly ndjsonBytes: number;
}

export interface ExperimentRow {
  readonly label: string;
  /** What it would take to adopt. */
  readonly takes: string;
  readonly events: number;
  readonly wireBytes: number;
  /** Compression time, ms per MiB of batch JSON (median over batches), when measured. */
  readonly msPerMiB?: number;
}

export interface WireSize {
  readonly events: number;
  readonly authLogLines: number;
  readonly smallBatchEvents: number;
  readonly rows: WireRow[];
  readonly experiments: ExperimentRow[];
  readonly notes: string[];
}

export interface WireSizeOptions {
  /** Events generated in all (default 60 000). */
  readonly events: number;
  /** Events per batch for the steady-state rows (default 10: a few events per 5 s batch age). */
  readonly smallBatchEvents?: number;
  readonly progress?: (line: string) => void;
}

/** The bodies the forwarder would send for `events`, in order, from a real queue file in `dir`. */
async function forwarderBatches(
  events: readonly NewDeviceEvent[],
  dir: string,
  limits: { maxBytes: number; maxEvents: number },
): Promise<EventBatch[]> {
  const path = join(dir, `queue-${Math.random().toString(36).slice(2)}.db`);
  const queue = EventQueue.open({ path, queueMaxBytes: 2 ** 40 });
  try {
    for (let start = 0; start < events.length; start += 2000) queue.append(events.slice(start, start + 2000));
    const batches: EventBatch[] = [];
    for (;;) {
      const batch = queue.peekBatch(limits);
      if (batch.length === 0) break;
      batch.sort((a, b) => a.seq - b.seq);
      batches.push({ v: 1, floorSeq: queue.floorSeq(), events: batch });
      queue.acknowledge(
        0,
        batch.map((event) => event.seq),
      );
    }
    return batches;
  } finally {
    queue.close();
    await rm(path, { force: true });
    await rm(`${path}-wal`, { force: true });
    await rm(`${path}-shm`, { force: true });
  }
}

/** The body ManagerClient sends for a JSON text: zstd at node:zlib's default level from 1 KiB up. */
function clientBody(json: Buffer): Buffer {
  return json.length < COMPRESS_FROM_BYTES ? json : zlib.zstdCompressSync(json);
}

function ndjsonBytes(batches: readonly EventBatch[]): number {
  let bytes = 0;
  for (const batch of batches)
    for (const event of batch.events) bytes += Buffer.byteLength(JSON.stringify(event)) + 1;
  return bytes;
}

/** A batch as the Forwarder sends it: protocol v2, checked to decode to the very events it holds. */
function compactBody(batch: EventBatch): Buffer {
  const compact = encodeCompactBatch(batch.events, batch.floorSeq ?? 0);
  const json = JSON.stringify(compact);
  const back = decodeCompactBatch(JSON.parse(json));
  if (JSON.stringify(back) !== JSON.stringify(batch.events))
    throw new Error('a compact batch lost something');
  return Buffer.from(json);
}

function row(label: string, batches: readonly EventBatch[]): WireRow {
  let wireBytes = 0;
  let v1WireBytes = 0;
  let events = 0;
  for (const batch of batches) {
    wireBytes += clientBody(compactBody(batch)).length;
    v1WireBytes += clientBody(Buffer.from(JSON.stringify(batch))).length;
    events += batch.events.length;
  }
  return {
    label,
    events,
    batches: batches.length,
    wireBytes,
    v1WireBytes,
    ndjsonBytes: ndjsonBytes(batches),
  };
}

/** zstd of every batch with `params` (and a dictionary), checking that it decompresses to the input. */
function zstdExperiment(
  label: string,
  takes: string,
  bodies: readonly Buffer[],
  events: number,
  options: { level?: number; dictionary?: Buffer } = {},
): ExperimentRow {
  const params = { [zlib.constants.ZSTD_c_compressionLevel]: options.level ?? 3 };
  const dictionary = options.dictionary === undefined ? {} : { dictionary: options.dictionary };
  let wireBytes = 0;
  const msPerMiB: number[] = [];
  for (const body of bodies) {
    const started = performance.now();
    const compressed = zlib.zstdCompressSync(body, { params, ...dictionary });
    msPerMiB.push((performance.now() - started) / (body.length / 2 ** 20));
    if (!zlib.zstdDecompressSync(compressed, dictionary).equals(body)) {
      throw new Error(`${label}: zstd did not give back its input`);
    }
    wireBytes +=
      body.length < COMPRESS_FROM_BYTES && options.dictionary === undefined ? body.length : compressed.length;
  }
  return { label, takes, events, wireBytes, msPerMiB: median(msPerMiB) };
}

// --- trained dictionary (experiment) -------------------------------------------------------------------

/**
 * node:zlib compresses with a zstd dictionary (`dictionary`, raw content or zstd's own format) but has no
 * trainer; the zstd command-line tool trains one. Returns undefined when `zstd` is not installed.
 */
async function trainDictionary(samples: readonly DeviceEvent[], dir: string): Promise<Buffer | undefined> {
  const sampleDir = join(dir, 'dictionary-samples');
  await mkdir(sampleDir, { recursive: true });
  // Samples of the size a steady-state batch has: a handful of events each.
  for (let start = 0, index = 0; start < samples.length; start += 5, index++) {
    await writeFile(
      join(sampleDir, `${index}.json`),
      JSON.stringify(encodeCompactBatch(samples.slice(start, start + 5))),
    );
  }
  const output = join(dir, 'events.dict');
  try {
    execFileSync('zstd', ['--train', '-r', sampleDir, '-o', output, '--maxdict=65536', '-q'], {
      stdio: 'ignore',
    });
  } catch {
    return undefined;
  }
  return readFile(output);
}

/** Measures bytes per event on the wire for auth, FIM and mixed events, and the experiments. */
export async function measureWireSize(options: WireSizeOptions): Promise<WireSize> {
  const smallBatchEvents = options.smallBatchEvents ?? 10;
  const dir = await mkdtemp(join(tmpdir(), 'edgeward-bench-wire-'));
  try {
    const started = performance.now();
    const generated = await generateRealisticEvents({ events: options.events });
    options.progress?.(
      `wire size: ${generated.mixed.length} events generated by the collectors (${generated.auth.length} auth from ${generated.authLogLines} log lines, ${generated.fim.length} FIM) in ${((performance.now() - started) / 1000).toFixed(1)} s`,
    );
    const limits = { maxBytes: forwarderDefaults.batchMaxBytes, maxEvents: forwarderDefaults.batchMaxEvents };
    const small = { maxBytes: forwarderDefaults.batchMaxBytes, maxEvents: smallBatchEvents };
    const mixedBatches = await forwarderBatches(generated.mixed, dir, limits);
    const smallBatches = await forwarderBatches(generated.mixed, dir, small);
    const rows = [
      row('auth (sshd, sudo), 1 MiB batches', await forwarderBatches(generated.auth, dir, limits)),
      row('file integrity, 1 MiB batches', await forwarderBatches(generated.fim, dir, limits)),
      row('mixed, 1 MiB batches (backlog)', mixedBatches),
      row(`mixed, ${smallBatchEvents} events per batch (steady state)`, smallBatches),
    ];
    for (const result of rows) {
      options.progress?.(
        `wire size: ${result.label}: ${(result.wireBytes / result.events).toFixed(1)} B/event, NDJSON ${(result.ndjsonBytes / result.events).toFixed(1)} B/event`,
      );
    }

    // Experiments, on the mixed stream as sent (v2 bodies).
    const events = generated.mixed.length;
    const bodies = mixedBatches.map(compactBody);
    const smallBodies = smallBatches.map(compactBody);
    const levelTakes = 'an agent setting only (the manager decompresses any level); costs device CPU';
    const experiments: ExperimentRow[] = [1, 3, 9, 19].map((level) =>
      zstdExperiment(
        `v2, zstd level ${level}${level === 3 ? ' (node:zlib default, as sent)' : ''}, 1 MiB batches`,
        level === 3 ? 'nothing' : levelTakes,
        bodies,
        events,
        { level },
      ),
    );

    // Dictionaries: trained on events of another seed (never the measured ones).
    const notes: string[] = [];
    const sample = await generateRealisticEvents({ events: Math.min(20_000, options.events), seed: 7 });
    const sampleEvents = (await forwarderBatches(sample.mixed, dir, limits)).flatMap((batch) => batch.events);
    const dictionary = await trainDictionary(sampleEvents, dir);
    const dictTakes =
      'the dictionary shipped with agent and manager, a content-encoding naming it, and a new one per release when event fields change';
    if (dictionary === undefined) {
      notes.push(
        'zstd (the command-line tool) is not installed: the trained-dictionary experiment was skipped.',
      );
    } else {
      experiments.push(
        zstdExperiment(
          `v2, zstd 3 with a trained 64 KiB dictionary, 1 MiB batches`,
          dictTakes,
          bodies,
          events,
          {
            dictionary,
          },
        ),
        zstdExperiment(
          `v2, zstd 3 with a trained 64 KiB dictionary, ${smallBatchEvents}-event batches`,
          dictTakes,
          smallBodies,
          events,
          { dictionary },
        ),
      );
    }
    notes.push(
      'node:zlib (Node 24) takes a zstd dictionary (`dictionary` option, raw content or a trained zstd dictionary) but cannot train one; the dictionary here was trained with `zstd --train` on events generated from another seed.',
    );
    return { events, authLogLines: generated.authLogLines, smallBatchEvents, rows, experiments, notes };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
