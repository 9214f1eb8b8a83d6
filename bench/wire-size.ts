// Bytes per event on the wire: realistic events (bench/realistic-events.ts) through a real EventQueue,
// taken out in batches exactly as the Forwarder takes them (peekBatch with its size and count limits,
// `{ v: 1, floorSeq, events }`), encoded as ManagerClient encodes request bodies (zstd from node:zlib at
// its default level, bodies under 1 KiB as they are), beside the same events as uncompressed NDJSON.
//
// The experiments below the main figures are NOT the protocol: each says what adopting it would take.
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as zlib from 'node:zlib';
import { EventQueue, forwarderDefaults } from '@edgeward/agent';
import type { DeviceEvent, EventBatch, NewDeviceEvent } from '@edgeward/core';
import { generateRealisticEvents } from './realistic-events.ts';
import { median } from './support.ts';

/** ManagerClient's threshold: smaller bodies go uncompressed. */
const COMPRESS_FROM_BYTES = 1024;

export interface WireRow {
  readonly label: string;
  readonly events: number;
  readonly batches: number;
  /** Request bodies as ManagerClient sends them, bytes in all. */
  readonly wireBytes: number;
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

function row(label: string, batches: readonly EventBatch[]): WireRow {
  let wireBytes = 0;
  let events = 0;
  for (const batch of batches) {
    wireBytes += clientBody(Buffer.from(JSON.stringify(batch))).length;
    events += batch.events.length;
  }
  return { label, events, batches: batches.length, wireBytes, ndjsonBytes: ndjsonBytes(batches) };
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

// --- columnar batches (experiment) ---------------------------------------------------------------------

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** Nested data flattened to `a.b` paths; arrays, empty objects and keys holding a dot stay whole. */
function flatten(value: Record<string, Json>, prefix: string, out: [string, Json][]): void {
  for (const [key, inner] of Object.entries(value)) {
    const path = prefix === '' ? key : `${prefix}.${key}`;
    const nested =
      inner !== null &&
      typeof inner === 'object' &&
      !Array.isArray(inner) &&
      Object.keys(inner).length > 0 &&
      Object.keys(inner).every((name) => !name.includes('.'));
    if (nested && !key.includes('.')) flatten(inner as Record<string, Json>, path, out);
    else out.push([path, inner]);
  }
}

function unflatten(entries: [string, Json][]): Record<string, Json> {
  const out: Record<string, Json> = {};
  for (const [path, value] of entries) {
    const parts = path.split('.');
    let target = out;
    for (const part of parts.slice(0, -1)) {
      target[part] ??= {};
      target = target[part] as Record<string, Json>;
    }
    target[parts.at(-1) ?? ''] = value;
  }
  return out;
}

interface ColumnarBatch {
  v: 2;
  floorSeq: number;
  /** Distinct type names, severities and data shapes (lists of paths); events refer to them by index. */
  types: string[];
  severities: string[];
  shapes: string[][];
  /** One array per field: seq and time as differences from the previous event, the rest as they are. */
  columns: Record<string, Json[]>;
}

/**
 * A batch as columns: field names once per batch instead of once per event, a column per data path
 * (values of one kind side by side, which zstd likes), sequence numbers and times as differences.
 * `withIds: false` and `withLine: false` leave a field out, to show what it costs.
 */
function toColumnar(batch: EventBatch, options: { withIds: boolean; withLine: boolean }): ColumnarBatch {
  const types: string[] = [];
  const severities: string[] = [];
  const shapes: string[][] = [];
  const shapeIndex = new Map<string, number>();
  const columns: Record<string, Json[]> = { seq: [], time: [], type: [], severity: [], shape: [] };
  if (options.withIds) columns.id = [];
  const indexOf = (list: string[], value: string) => {
    const at = list.indexOf(value);
    if (at >= 0) return at;
    list.push(value);
    return list.length - 1;
  };
  let seq = 0;
  let time = 0;
  for (const event of batch.events) {
    columns.seq?.push(event.seq - seq);
    columns.time?.push(event.time - time);
    seq = event.seq;
    time = event.time;
    columns.type?.push(indexOf(types, event.type));
    columns.severity?.push(indexOf(severities, event.severity));
    if (options.withIds) columns.id?.push(event.id);
    const entries: [string, Json][] = [];
    flatten(event.data as Record<string, Json>, '', entries);
    const kept = options.withLine ? entries : entries.filter(([path]) => path !== 'line');
    const paths = kept.map(([path]) => path);
    const key = paths.join('\u0000');
    let shape = shapeIndex.get(key);
    if (shape === undefined) {
      shape = shapes.length;
      shapes.push(paths);
      shapeIndex.set(key, shape);
    }
    columns.shape?.push(shape);
    for (const [path, value] of kept) {
      const column = columns[`data.${path}`] ?? [];
      column.push(value);
      columns[`data.${path}`] = column;
    }
  }
  return { v: 2, floorSeq: batch.floorSeq ?? 0, types, severities, shapes, columns };
}

function fromColumnar(batch: ColumnarBatch): DeviceEvent[] {
  const cursor = new Map<string, number>();
  const next = (column: string): Json => {
    const at = cursor.get(column) ?? 0;
    cursor.set(column, at + 1);
    return batch.columns[column]?.[at] ?? null;
  };
  const events: DeviceEvent[] = [];
  let seq = 0;
  let time = 0;
  const count = batch.columns.seq?.length ?? 0;
  for (let index = 0; index < count; index++) {
    seq += next('seq') as number;
    time += next('time') as number;
    const type = batch.types[next('type') as number] ?? '';
    const severity = batch.severities[next('severity') as number] ?? '';
    const id = batch.columns.id === undefined ? '' : (next('id') as string);
    const shape = batch.shapes[next('shape') as number] ?? [];
    const data = unflatten(shape.map((path) => [path, next(`data.${path}`)]));
    events.push({ seq, id, type, severity, time, data } as DeviceEvent);
  }
  return events;
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
    await writeFile(join(sampleDir, `${index}.json`), JSON.stringify(samples.slice(start, start + 5)));
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

    // Experiments, on the mixed stream.
    const events = generated.mixed.length;
    const bodies = mixedBatches.map((batch) => Buffer.from(JSON.stringify(batch)));
    const smallBodies = smallBatches.map((batch) => Buffer.from(JSON.stringify(batch)));
    const levelTakes = 'an agent setting only (the manager decompresses any level); costs device CPU';
    const experiments: ExperimentRow[] = [1, 3, 9, 19].map((level) =>
      zstdExperiment(
        `zstd level ${level}${level === 3 ? ' (node:zlib default, as sent today)' : ''}, 1 MiB batches`,
        level === 3 ? 'nothing' : levelTakes,
        bodies,
        events,
        { level },
      ),
    );
    const columnarTakes =
      'protocol v2: a batch schema in core, an encoder in the forwarder, a decoder on the manager, both versions accepted during rollout';
    const columnar = (label: string, takes: string, withIds: boolean, withLine: boolean, level: number) => {
      const encoded = mixedBatches.map((batch) => {
        const body = toColumnar(batch, { withIds, withLine });
        if (withIds && withLine) {
          // Lossless: decoding gives the same events back.
          const back = fromColumnar(JSON.parse(JSON.stringify(body)) as ColumnarBatch);
          if (JSON.stringify(back.map(sortKeys)) !== JSON.stringify(batch.events.map(sortKeys)))
            throw new Error('the columnar encoding lost something');
        }
        return Buffer.from(JSON.stringify(body));
      });
      return zstdExperiment(label, takes, encoded, events, { level });
    };
    experiments.push(
      columnar(
        'columnar batch (keys once per batch, seq/time as deltas), zstd 3',
        columnarTakes,
        true,
        true,
        3,
      ),
      columnar('columnar batch, zstd 19', `${columnarTakes}; and the level's CPU`, true, true, 19),
      columnar(
        'columnar, zstd 3, without event ids',
        'ids made by the manager from (device, seq), and re-read log lines (same deterministic id) dropped by the agent before they reach the wire, e.g. a unique id index in the queue; plus protocol v2',
        false,
        true,
        3,
      ),
      columnar(
        'columnar, zstd 3, without the raw log `line` of auth events',
        'dropping a field users read (the parsed fields hold most of it, not the exact text); plus protocol v2',
        true,
        false,
        3,
      ),
      columnar(
        'columnar, zstd 3, without `line` and without event ids',
        'both of the above',
        false,
        false,
        3,
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
        zstdExperiment(`zstd 3 with a trained 64 KiB dictionary, 1 MiB batches`, dictTakes, bodies, events, {
          dictionary,
        }),
        zstdExperiment(
          `zstd 3 with a trained 64 KiB dictionary, ${smallBatchEvents}-event batches`,
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

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(
    Object.entries(value)
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([key, inner]) => [key, sortKeys(inner)]),
  );
}
