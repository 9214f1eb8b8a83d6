import * as z from 'zod/mini';
import { EdgewardError } from '../errors/edgeward-error.ts';
import { isoTime } from '../text/iso-time.ts';
import type { DeviceEvent } from './event.schema.ts';
import { derivedEventId } from './event-id.ts';

/**
 * Protocol v2 event batches: the events of a v1 batch laid out in columns, which zstd compresses to a
 * fraction of the same events as JSON objects. Field names travel once per batch; values of one field sit
 * side by side; sequence numbers, times and other rising integers travel as differences; ids that the
 * manager can derive (`derivedEventId`) are left out; and a raw log `line` is sent as a template whose
 * stretches equal to the event's own fields (address, port, user, pid, the timestamp) are references to
 * them. Decoding gives back exactly the events that were encoded — the encoder checks each template.
 */

/** A JSON value, as event data holds. */
type Json = null | boolean | number | string | readonly Json[] | { readonly [key: string]: Json };

/** The most events one compact batch may describe (a v1 batch has no such field; the forwarder sends ≤ 5000). */
export const compactBatchMaxEvents = 100_000;

export const compactEventBatchSchema = z.object({
  v: z.literal(2),
  /** As in v1: every sequence number at or below it was delivered or evicted. */
  floorSeq: z._default(z.number().check(z.int(), z.minimum(0)), 0),
  count: z.number().check(z.int(), z.minimum(0), z.maximum(compactBatchMaxEvents)),
  /** Distinct event types and severities; the `type` and `severity` columns hold indexes into them. */
  types: z.array(z.string()),
  severities: z.array(z.string()),
  /** Distinct data layouts, each the list of its paths (a path is the list of keys down to a value). */
  shapes: z.array(z.array(z.array(z.string()))),
  /** Names of the columns whose integers are differences from the value before them in the column. */
  deltas: z.array(z.string()),
  /**
   * `seq`, `time`, `type`, `severity`, `shape`; `id` (null where derived; absent when all are); and one
   * column per data path, named `d` followed by the path as JSON, holding the values of the events that
   * have that path, in order.
   */
  columns: z.record(z.string(), z.array(z.unknown())),
});
export type CompactEventBatch = z.infer<typeof compactEventBatchSchema>;

const lineColumn = columnName(['line']);
/** Starts a reference in a line template; doubled, it stands for itself. */
const mark = '\u0001';
/** References to the event time as ISO 8601 in UTC, with and without milliseconds. */
const isoMillis = '!';
const isoSeconds = '#';
/** A reference to the event's n-th path is the character at `firstPathCode + n`, printable ASCII only. */
const firstPathCode = 0x30;
const maxPathReferences = 0x7f - firstPathCode;

function columnName(path: readonly string[]): string {
  return `d${JSON.stringify(path)}`;
}

function isPlainObject(value: unknown): value is Record<string, Json> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** Sets an own property, also for keys such as `__proto__` that plain assignment would not create. */
function setOwn(target: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

function unflatten(entries: readonly (readonly [readonly string[], unknown])[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [path, value] of entries) {
    let target = out;
    for (const key of path.slice(0, -1)) {
      const next = Object.hasOwn(target, key) ? target[key] : undefined;
      if (isPlainObject(next)) target = next as Record<string, unknown>;
      else {
        const created: Record<string, unknown> = {};
        setOwn(target, key, created);
        target = created;
      }
    }
    setOwn(target, path.at(-1) ?? '', value);
  }
  return out;
}

/** The values a line template may refer to: the event's other strings of 3 characters or more, and its integers of 2 digits or more. */
function referable(value: unknown): string | undefined {
  if (typeof value === 'string') return value.length >= 3 && !value.includes(mark) ? value : undefined;
  if (typeof value === 'number' && Number.isSafeInteger(value)) {
    const text = String(value);
    return text.length >= 2 ? text : undefined;
  }
  return undefined;
}

/** The last time's ISO forms: encoding a line and checking its template ask for the same time twice. */
let lastIsoTimes: { time: number; iso: { millis: string; seconds: string } | undefined } | undefined;

function isoTimes(time: number): { millis: string; seconds: string } | undefined {
  if (lastIsoTimes?.time === time) return lastIsoTimes.iso;
  let iso: { millis: string; seconds: string } | undefined;
  if (!Number.isNaN(new Date(time).getTime())) {
    const text = isoTime(time);
    iso = { millis: text.slice(0, 23), seconds: text.slice(0, 19) };
  }
  lastIsoTimes = { time, iso };
  return iso;
}

/**
 * The line as a template: the event time and the event's values (longest first, each at its leftmost
 * place that no longer value took) become references, the rest stays literal with its marks doubled.
 * The stretches taken are kept as positions in the line, so that the line is searched and copied once.
 */
function encodeLine(line: string, time: number, values: readonly Json[], lineAt: number): string {
  // Taken stretches, in the order taken: start, end and token of each.
  const starts: number[] = [];
  const ends: number[] = [];
  const tokens: string[] = [];
  const times = isoTimes(time);
  if (times !== undefined) {
    const millisAt = line.indexOf(times.millis);
    const secondsAt = millisAt >= 0 ? -1 : line.indexOf(times.seconds);
    if (millisAt >= 0) {
      starts.push(millisAt);
      ends.push(millisAt + times.millis.length);
      tokens.push(isoMillis);
    } else if (secondsAt >= 0) {
      starts.push(secondsAt);
      ends.push(secondsAt + times.seconds.length);
      tokens.push(isoSeconds);
    }
  }
  // Longest first, so that a port inside an address or a pid inside a longer number is not taken first;
  // of equal lengths, the earlier field first. Few values qualify: an insertion sort does.
  const texts: string[] = [];
  const indexes: number[] = [];
  const referableCount = Math.min(values.length, maxPathReferences);
  for (let index = 0; index < referableCount; index++) {
    if (index === lineAt) continue;
    const text = referable(values[index]);
    // A value the line does not hold cannot be in any of its literal stretches: no need to look there.
    if (text === undefined || !line.includes(text)) continue;
    let slot = texts.length;
    while (slot > 0 && (texts[slot - 1] as string).length < text.length) slot--;
    texts.splice(slot, 0, text);
    indexes.splice(slot, 0, index);
  }
  for (let candidate = 0; candidate < texts.length; candidate++) {
    const text = texts[candidate] as string;
    for (let at = line.indexOf(text); at >= 0; at = line.indexOf(text, at + 1)) {
      const end = at + text.length;
      let free = true;
      for (let taken = 0; taken < starts.length && free; taken++) {
        free = end <= (starts[taken] as number) || at >= (ends[taken] as number);
      }
      if (free) {
        starts.push(at);
        ends.push(end);
        tokens.push(String.fromCharCode(firstPathCode + (indexes[candidate] as number)));
        break;
      }
    }
  }
  let template = '';
  let from = 0;
  // The stretches in line order: each round takes the leftmost one not yet written.
  for (let written = 0; written < starts.length; written++) {
    let next = -1;
    for (let taken = 0; taken < starts.length; taken++) {
      const start = starts[taken] as number;
      if (start >= from && (next < 0 || start < (starts[next] as number))) next = taken;
    }
    template += literal(line.slice(from, starts[next])) + mark + tokens[next];
    from = ends[next] as number;
  }
  return template + literal(line.slice(from));
}

function literal(text: string): string {
  return text.includes(mark) ? text.replaceAll(mark, mark + mark) : text;
}

function decodeLine(template: string, time: number, values: readonly unknown[]): string {
  let out = '';
  let from = 0;
  for (let at = template.indexOf(mark); at >= 0; at = template.indexOf(mark, from)) {
    out += template.slice(from, at);
    const token = template[at + 1];
    if (token === mark) out += mark;
    else if (token === isoMillis || token === isoSeconds) {
      const times = isoTimes(time);
      if (times === undefined) throw invalid('a line template refers to a time the event does not have');
      out += token === isoMillis ? times.millis : times.seconds;
    } else {
      const code = token === undefined ? -1 : token.charCodeAt(0) - firstPathCode;
      const text = code >= 0 && code < maxPathReferences ? referable(values[code]) : undefined;
      if (text === undefined) throw invalid('a line template refers to a field the event does not have');
      out += text;
    }
    from = at + 2;
  }
  return out + template.slice(from);
}

function invalid(message: string): EdgewardError {
  return new EdgewardError(
    'EW_REQUEST_INVALID',
    `invalid v2 event batch: ${message}; send a batch made by the agent's encoder, or use v1`,
  );
}

function indexOf(list: string[], index: Map<string, number>, value: string): number {
  let at = index.get(value);
  if (at === undefined) {
    at = list.length;
    list.push(value);
    index.set(value, at);
  }
  return at;
}

/** Differences pay when the integers of a column rise or fall steadily, as sequence numbers, times and offsets do. */
function shouldDelta(values: readonly unknown[]): boolean {
  if (values.length < 2 || !values.every((value) => Number.isSafeInteger(value))) return false;
  let plain = 0;
  let differences = 0;
  let previous = 0;
  for (const value of values as number[]) {
    plain += String(value).length;
    differences += String(value - previous).length;
    previous = value;
  }
  return differences < plain;
}

/** A data layout met in the batch being encoded: its index and the column of each of its values. */
interface Layout {
  readonly index: number;
  readonly columns: unknown[][];
  /** Where the top-level `line` is among the values, or -1. */
  readonly lineAt: number;
}

/**
 * The values of `data` in layout order (nested objects walked into; arrays and empty objects whole), and
 * a key that tells its layout from every other: each key preceded by its length, nested ones bracketed.
 * Given `paths`, it also collects the path (the keys down) of each value: wanted once per layout.
 */
function valuesOf(
  data: Record<string, Json>,
  values: Json[],
  paths?: string[][],
  prefix: readonly string[] = [],
): string {
  let key = '';
  for (const name in data) {
    if (!Object.hasOwn(data, name)) continue;
    const inner = data[name] as Json;
    if (isPlainObject(inner) && Object.keys(inner).length > 0)
      key += `${name.length}:${name}{${valuesOf(inner, values, paths, paths === undefined ? prefix : [...prefix, name])}}`;
    else {
      key += `${name.length}:${name},`;
      values.push(inner);
      paths?.push([...prefix, name]);
    }
  }
  return key;
}

/** Lays out `events` (in the order given: the protocol asks for sequence order) as a v2 batch. */
export function encodeCompactBatch(events: readonly DeviceEvent[], floorSeq = 0): CompactEventBatch {
  const types: string[] = [];
  const severities: string[] = [];
  const shapes: string[][][] = [];
  const typeIndex = new Map<string, number>();
  const severityIndex = new Map<string, number>();
  const layouts = new Map<string, Layout>();
  const seqs: number[] = [];
  const times: number[] = [];
  const typeColumn: number[] = [];
  const severityColumn: number[] = [];
  const shapeColumn: number[] = [];
  const columns: Record<string, unknown[]> = {
    seq: seqs,
    time: times,
    type: typeColumn,
    severity: severityColumn,
    shape: shapeColumn,
  };
  const ids: (string | null)[] = [];
  let anyId = false;
  for (const event of events) {
    seqs.push(event.seq);
    times.push(event.time);
    typeColumn.push(indexOf(types, typeIndex, event.type));
    severityColumn.push(indexOf(severities, severityIndex, event.severity));
    const sentId = event.id === derivedEventId(event) ? null : event.id;
    if (sentId !== null) anyId = true;
    ids.push(sentId);
    const values: Json[] = [];
    const key = valuesOf(event.data as Record<string, Json>, values);
    let layout = layouts.get(key);
    if (layout === undefined) {
      const paths: string[][] = [];
      valuesOf(event.data as Record<string, Json>, [], paths);
      const names = paths.map(columnName);
      layout = {
        index: shapes.length,
        columns: names.map((name) => {
          columns[name] ??= [];
          return columns[name];
        }),
        lineAt: names.indexOf(lineColumn),
      };
      shapes.push(paths);
      layouts.set(key, layout);
    }
    shapeColumn.push(layout.index);
    const { columns: layoutColumns, lineAt } = layout;
    for (let at = 0; at < values.length; at++) {
      const value = values[at] as Json;
      const column = layoutColumns[at] as unknown[];
      if (at === lineAt && typeof value === 'string') {
        const template = encodeLine(value, event.time, values, lineAt);
        // Only what decodes to the very same line is sent as a template; anything else goes escaped.
        column.push(decodeLine(template, event.time, values) === value ? template : literal(value));
      } else column.push(value);
    }
  }
  if (anyId) columns.id = ids;
  const deltas: string[] = [];
  for (const [name, values] of Object.entries(columns)) {
    if (!shouldDelta(values)) continue;
    deltas.push(name);
    let previous = 0;
    columns[name] = (values as number[]).map((value) => {
      const difference = value - previous;
      previous = value;
      return difference;
    });
  }
  return { v: 2, floorSeq, count: events.length, types, severities, shapes, deltas, columns };
}

/**
 * The events of a v2 batch, as the agent queued them. Throws EW_REQUEST_INVALID naming what does not
 * add up (a column too short, an index out of range, a bad template); the events themselves are
 * validated afterwards like those of a v1 batch.
 */
export function decodeCompactBatch(batch: CompactEventBatch): DeviceEvent[] {
  const columns = new Map<string, unknown[]>();
  for (const [name, values] of Object.entries(batch.columns)) {
    if (!batch.deltas.includes(name)) {
      columns.set(name, values);
      continue;
    }
    let sum = 0;
    const restored = values.map((value) => {
      if (!Number.isSafeInteger(value))
        throw invalid(`column ${name} holds differences that are not integers`);
      sum += value as number;
      return sum;
    });
    columns.set(name, restored);
  }
  const cursors = new Map<string, number>();
  const next = (name: string): unknown => {
    const column = columns.get(name);
    const at = cursors.get(name) ?? 0;
    if (column === undefined || at >= column.length)
      throw invalid(`column ${name} has fewer values than its events`);
    cursors.set(name, at + 1);
    return column[at];
  };
  const pick = <T>(list: readonly T[], name: string): T => {
    const index = next(name);
    const value = typeof index === 'number' ? list[index] : undefined;
    if (value === undefined) throw invalid(`column ${name} refers to an entry its list does not have`);
    return value;
  };
  const ids = columns.get('id');
  if (ids !== undefined && ids.length !== batch.count)
    throw invalid('the id column does not have one entry per event');
  const events: DeviceEvent[] = [];
  for (let index = 0; index < batch.count; index++) {
    const seq = next('seq') as number;
    const time = next('time') as number;
    const type = pick(batch.types, 'type');
    const severity = pick(batch.severities, 'severity') as DeviceEvent['severity'];
    const shape = pick(batch.shapes, 'shape');
    const values = shape.map((path) => next(columnName(path)));
    const lineAt = shape.findIndex((path) => path.length === 1 && path[0] === 'line');
    const line = values[lineAt];
    if (lineAt >= 0 && typeof line === 'string') values[lineAt] = decodeLine(line, time, values);
    const data = unflatten(shape.map((path, at) => [path, values[at]] as const));
    const sent = ids?.[index];
    const id = typeof sent === 'string' ? sent : derivedEventId({ seq, data });
    events.push({ seq, id, type, severity, time, data });
  }
  for (const [name, column] of columns) {
    if ((cursors.get(name) ?? 0) !== column.length && name !== 'id') {
      throw invalid(`column ${name} has more values than its events`);
    }
  }
  return events;
}
