import { EdgewardError } from '../errors/edgeward-error.ts';
import type { Severity } from '../events/event.schema.ts';
import { type Counted, createWindow, type Firing, type GroupWindow, restoreWindow } from './correlation.ts';
import { admitsType, type FieldAccessor, fieldAccessor } from './field-mapping.ts';
import {
  type CompiledRule,
  type CompiledRuleSet,
  type EventRef,
  MAX_EVENT_REFS,
  type RuleEvent,
  type RuleScope,
  type RuleSignal,
} from './rule.schema.ts';
import {
  compileDetection,
  type EventPredicate,
  FieldRegistry,
  MatchContext,
  requiredEventTypes,
} from './sigma-detection.ts';

/**
 * Runs a compiled rule set over events in event time (docs/rules.md, "How the engine runs"): the same
 * engine serves the agent (one device, offline), a site and the hub (many devices). Events are held
 * per stream until its watermark (the newest event time of the stream minus the allowed lateness)
 * passes them, then processed in (time, deviceId, seq) order, so that batches shuffled within the
 * lateness give the same signals as in-order delivery. Duplicates (same stream and seq) count once.
 * All state is bounded per rule and can be saved with snapshot() and loaded with restore().
 */

export interface RuleEngineOptions {
  /** Which rules run here: those of this scope, and the rules their correlations refer to. */
  readonly scope: RuleScope;
  /** How long after a newer event of its stream an event may still arrive and be ordered (ms, ≥ 0). */
  readonly allowedLatenessMs: number;
  /** Groups one rule keeps at most (windows, alert states, first-seen values); the least recently used go. */
  readonly maxGroupsPerRule: number;
}

export interface RuleEngineStats {
  /** Rules running in this scope. */
  readonly rules: number;
  readonly events: number;
  /** Events already seen (same stream and seq), not counted again. */
  readonly duplicates: number;
  /** Events older than their stream's watermark on arrival: evaluated at once, out of order. */
  readonly late: number;
  /** Events waiting for their stream's watermark. */
  readonly buffered: number;
  readonly processed: number;
  /** Detection rule matches. */
  readonly matches: number;
  readonly signals: number;
  readonly updates: number;
  /** Matches folded into an open alert by `suppress`. */
  readonly merged: number;
  /** Alerts held back by a cooldown. */
  readonly cooledDown: number;
  /** Live state entries of all rules (windows, alert states, first-seen values). */
  readonly groups: number;
  readonly evictedGroups: number;
  readonly streams: number;
}

type Counter = Exclude<keyof RuleEngineStats, 'rules' | 'buffered' | 'groups' | 'streams'>;

/** Saved engine state: plain JSON. */
export interface RuleEngineSnapshot {
  readonly format: 1;
  readonly scope: RuleScope;
  readonly streams: readonly StreamSnapshot[];
  readonly rules: readonly RuleStateSnapshot[];
  readonly counters: Readonly<Record<Counter, number>>;
}

interface StreamSnapshot {
  readonly id: string;
  readonly maxTime: number | null;
  readonly seqHigh: number;
  readonly seqRuns: readonly (readonly [number, number])[];
  readonly buffer: readonly RuleEvent[];
  /** Pending timers, with their order, so that timers due at the same time run as they would have. */
  readonly timers: readonly TimerSnapshot[];
}

interface TimerSnapshot {
  readonly due: number;
  readonly order: number;
  readonly rule: string;
  readonly key: string;
  readonly kind: 'window' | 'suppress';
}

interface RuleStateSnapshot {
  readonly id: string;
  readonly digest: string;
  readonly windows: readonly (readonly [string, WindowSnapshot])[];
  readonly signals: readonly (readonly [string, SignalState])[];
  readonly seen: readonly (readonly [string, number])[];
  readonly learning: readonly (readonly [string, number])[];
}

interface WindowSnapshot {
  readonly fields: Record<string, string>;
  readonly owner: string;
  readonly window: unknown;
  readonly event: RuleEvent | null;
}

export type RestoreResult =
  | { readonly ok: true; readonly restoredRules: number; readonly droppedRules: readonly string[] }
  | { readonly ok: false; readonly reason: string };

/**
 * Ranges of sequence numbers a stream keeps above its contiguous high-water mark before it gives up
 * on the lowest gap. A stream first seen part way (a manager started after the device) is one range.
 */
const MAX_SEQ_RUNS = 64;

/** An inclusive range of sequence numbers, [first, last]. */
type SeqRun = [number, number];
/** Event types whose rule lists are cached; beyond, lists are worked out per event. */
const MAX_CACHED_TYPES = 4096;

// --- runtime structures --------------------------------------------------------------------------

interface Hit {
  readonly time: number;
  readonly firstSeen: number;
  readonly count: number;
  /** The event that completed the hit (for a correlation, the last one). */
  readonly event: RuleEvent;
  readonly refs: readonly EventRef[];
  readonly deviceIds: readonly string[];
  /** A correlation's group values, for correlations chained on it. */
  readonly groupFields?: Readonly<Record<string, string>>;
  /** The stream whose watermark closes the windows this hit opens. */
  readonly owner: string;
}

export interface OpenSignal {
  readonly until: number;
  /** The stream whose watermark closes the suppression window. */
  readonly owner: string;
  readonly groupFields: Record<string, string>;
  readonly severity: Severity;
  readonly tier: Severity;
  firstSeen: number;
  lastSeen: number;
  count: number;
  refs: EventRef[];
  deviceIds: string[];
  /** Grown since the last signal about it. */
  pending: boolean;
}

export interface SignalState {
  cooldownUntil: number;
  open: OpenSignal | undefined;
}

interface WindowEntry {
  readonly fields: Record<string, string>;
  /** The stream whose watermark closes the window (that of the event that opened it). */
  readonly owner: string;
  readonly window: GroupWindow;
  /** The last event added, kept only when correlations are chained on this one. */
  event: RuleEvent | undefined;
}

interface Consumer {
  readonly target: RuntimeRule;
  /** Positions of the source rule in the target's list, highest first. */
  readonly positions: readonly number[];
  /** Per group-by field: the name the source's events carry it under (aliases applied). */
  readonly groupNames: readonly string[];
  readonly groupAccessors: readonly FieldAccessor[];
  readonly valueNames: readonly string[];
  readonly valueAccessors: readonly FieldAccessor[];
}

interface RuntimeRule {
  readonly rule: CompiledRule;
  readonly emits: boolean;
  readonly match: EventPredicate | undefined;
  readonly requiredTypes: ReadonlySet<string> | null;
  readonly groupAccessors: readonly FieldAccessor[];
  readonly firstSeenAccessors: readonly FieldAccessor[] | undefined;
  readonly consumers: Consumer[];
  readonly windows: LruMap<WindowEntry>;
  readonly signals: LruMap<SignalState>;
  readonly seen: LruMap<number>;
  /** When first-seen learning ends, per device (agent scope) or for the rule (''). */
  readonly learning: LruMap<number>;
}

interface TypeEntry {
  readonly rule: RuntimeRule;
  /** The event's data must have this field (a logsource that admits the type only with it). */
  readonly requires: string | undefined;
}

interface Timer {
  readonly due: number;
  readonly order: number;
  readonly rule: RuntimeRule;
  readonly key: string;
  readonly kind: 'window' | 'suppress';
}

class StreamState {
  readonly id: string;
  maxTime = Number.NEGATIVE_INFINITY;
  /** Every sequence number up to this one has been seen. */
  seqHigh = 0;
  /** Ranges seen above seqHigh (after a gap), in order, apart from each other. */
  seqRuns: SeqRun[] = [];
  buffer: RuleEvent[] = [];
  start = 0;
  touched = false;
  /** Windows and suppressions this stream opened: they close as its watermark passes them. */
  readonly timers = new TimerHeap();

  constructor(id: string) {
    this.id = id;
  }

  /** Marks `seq` as seen; false when it was seen before. */
  see(seq: number): boolean {
    if (seq <= this.seqHigh) return false;
    const runs = this.seqRuns;
    // The first run that ends at or just before `seq`, or lies after it.
    let index = 0;
    while (index < runs.length && (runs[index] as SeqRun)[1] < seq - 1) index += 1;
    const run = runs[index];
    if (run !== undefined && run[0] <= seq && seq <= run[1]) return false;
    if (run !== undefined && run[1] === seq - 1) {
      run[1] = seq;
      const next = runs[index + 1];
      if (next !== undefined && next[0] === seq + 1) {
        run[1] = next[1];
        runs.splice(index + 1, 1);
      }
    } else if (run !== undefined && run[0] === seq + 1) {
      run[0] = seq;
    } else {
      runs.splice(index, 0, [seq, seq]);
    }
    const first = runs[0];
    if (first !== undefined && first[0] === this.seqHigh + 1) {
      this.seqHigh = first[1];
      runs.shift();
    }
    if (runs.length > MAX_SEQ_RUNS) {
      // A gap that stays open this long is a loss at the source (reported by agent.loss_report);
      // moving past it keeps the memory bounded, and anything arriving in it later counts as a duplicate.
      const lowest = runs.shift() as SeqRun;
      this.seqHigh = lowest[1];
    }
    return true;
  }

  watermark(lateness: number): number {
    return this.maxTime - lateness;
  }

  get buffered(): number {
    return this.buffer.length - this.start;
  }

  insert(event: RuleEvent): void {
    const last = this.buffer[this.buffer.length - 1];
    if (this.buffered === 0 || (last !== undefined && compareInStream(last, event) <= 0)) {
      this.buffer.push(event);
      return;
    }
    let low = this.start;
    let high = this.buffer.length;
    while (low < high) {
      const middle = (low + high) >> 1;
      if (compareInStream(this.buffer[middle] as RuleEvent, event) <= 0) low = middle + 1;
      else high = middle;
    }
    this.buffer.splice(low, 0, event);
  }

  /** Moves every buffered event older than `limit` to `into`, in order. */
  release(limit: number, into: RuleEvent[]): void {
    while (this.start < this.buffer.length) {
      const event = this.buffer[this.start] as RuleEvent;
      if (event.time >= limit) break;
      into.push(event);
      this.start += 1;
    }
    if (this.start === this.buffer.length) {
      this.buffer = [];
      this.start = 0;
    } else if (this.start > 64 && this.start * 2 > this.buffer.length) {
      this.buffer = this.buffer.slice(this.start);
      this.start = 0;
    }
  }
}

function compareInStream(a: RuleEvent, b: RuleEvent): number {
  return a.time - b.time || a.seq - b.seq;
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Event-time order across streams, ties by device, stream and sequence number. */
function compareEvents(a: RuleEvent, b: RuleEvent): number {
  return (
    a.time - b.time ||
    compareText(a.deviceId, b.deviceId) ||
    compareText(a.stream ?? a.deviceId, b.stream ?? b.deviceId) ||
    a.seq - b.seq
  );
}

/** A Map used as an LRU: reading or writing an entry makes it the newest; the oldest goes when full. */
class LruMap<V> {
  readonly map = new Map<string, V>();
  private readonly max: number;
  private readonly onEvict: (key: string, value: V) => void;

  constructor(max: number, onEvict: (key: string, value: V) => void) {
    this.max = max;
    this.onEvict = onEvict;
  }

  get(key: string): V | undefined {
    const value = this.map.get(key);
    if (value !== undefined) {
      this.map.delete(key);
      this.map.set(key, value);
    }
    return value;
  }

  peek(key: string): V | undefined {
    return this.map.get(key);
  }

  set(key: string, value: V): void {
    this.map.delete(key);
    this.map.set(key, value);
    if (this.map.size > this.max) {
      const oldest = this.map.keys().next();
      if (oldest.done === true) return;
      const evicted = this.map.get(oldest.value) as V;
      this.map.delete(oldest.value);
      this.onEvict(oldest.value, evicted);
    }
  }

  delete(key: string): void {
    this.map.delete(key);
  }

  clear(): void {
    this.map.clear();
  }

  get size(): number {
    return this.map.size;
  }
}

/** A binary min-heap of timers by (due, order). */
class TimerHeap {
  private readonly items: Timer[] = [];

  get size(): number {
    return this.items.length;
  }

  peek(): Timer | undefined {
    return this.items[0];
  }

  all(): readonly Timer[] {
    return this.items;
  }

  push(timer: Timer): void {
    const items = this.items;
    items.push(timer);
    let index = items.length - 1;
    while (index > 0) {
      const parent = (index - 1) >> 1;
      if (!before(items[index] as Timer, items[parent] as Timer)) break;
      [items[index], items[parent]] = [items[parent] as Timer, items[index] as Timer];
      index = parent;
    }
  }

  pop(): Timer | undefined {
    const items = this.items;
    const top = items[0];
    const last = items.pop();
    if (top === undefined || last === undefined || items.length === 0) return top;
    items[0] = last;
    let index = 0;
    for (;;) {
      const left = index * 2 + 1;
      const right = left + 1;
      let smallest = index;
      if (left < items.length && before(items[left] as Timer, items[smallest] as Timer)) smallest = left;
      if (right < items.length && before(items[right] as Timer, items[smallest] as Timer)) smallest = right;
      if (smallest === index) break;
      [items[index], items[smallest]] = [items[smallest] as Timer, items[index] as Timer];
      index = smallest;
    }
    return top;
  }

  clear(): void {
    this.items.length = 0;
  }
}

function before(a: Timer, b: Timer): boolean {
  return a.due < b.due || (a.due === b.due && a.order < b.order);
}

/** A field's value as group text: scalars as written, anything else as JSON, missing as ''. */
function groupText(value: unknown): string {
  switch (typeof value) {
    case 'string':
      return value;
    case 'number':
    case 'boolean':
      return String(value);
    case 'undefined':
      return '';
    default:
      return value === null ? '' : JSON.stringify(value);
  }
}

function ownValue(fields: Readonly<Record<string, string>> | undefined, name: string): string | undefined {
  return fields !== undefined && Object.hasOwn(fields, name) ? fields[name] : undefined;
}

/** Stands in for the last event of a window restored from a snapshot (which does not keep events). */
const NO_EVENT: RuleEvent = { seq: 0, id: '', type: '', severity: 'info', time: 0, data: {}, deviceId: '' };

function refOf(event: RuleEvent): EventRef {
  return { deviceId: event.deviceId, seq: event.seq, id: event.id };
}

// --- the engine ----------------------------------------------------------------------------------

export class RuleEngine {
  private readonly options: RuleEngineOptions;
  private readonly rules: RuntimeRule[] = [];
  private readonly detections: readonly RuntimeRule[];
  private readonly context: MatchContext;
  private readonly byType = new Map<string, readonly TypeEntry[]>();
  private readonly streams = new Map<string, StreamState>();
  private timerOrder = 0;
  private counters: Record<Counter, number> = RuleEngine.zeroCounters();
  /** Where signals raised outside the main flow (an evicted alert's update) go: the current call's. */
  private output: RuleSignal[] = [];

  constructor(rules: CompiledRuleSet, options: RuleEngineOptions) {
    if (!Number.isFinite(options.allowedLatenessMs) || options.allowedLatenessMs < 0) {
      throw new EdgewardError(
        'EW_CONFIG_INVALID',
        `allowedLatenessMs must be 0 or more milliseconds; got ${options.allowedLatenessMs}`,
      );
    }
    if (!Number.isInteger(options.maxGroupsPerRule) || options.maxGroupsPerRule < 1) {
      throw new EdgewardError(
        'EW_CONFIG_INVALID',
        `maxGroupsPerRule must be a whole number of at least 1; got ${options.maxGroupsPerRule}`,
      );
    }
    this.options = options;
    const registry = new FieldRegistry();
    const byId = new Map(rules.rules.map((rule) => [rule.id, rule]));
    const active = activeRules(rules.rules, byId, options.scope);
    const runtime = new Map<string, RuntimeRule>();
    for (const rule of rules.rules) {
      if (!active.has(rule.id)) continue;
      const entry = this.runtimeRule(rule, registry);
      runtime.set(rule.id, entry);
      this.rules.push(entry);
    }
    for (const target of this.rules) {
      const correlation = target.rule.correlation;
      if (correlation === undefined) continue;
      const positions = new Map<string, number[]>();
      correlation.rules.forEach((id, position) => {
        positions.set(id, [position, ...(positions.get(id) ?? [])]);
      });
      for (const [id, at] of positions) {
        const source = runtime.get(id);
        if (source === undefined) continue;
        const named = (field: string) => {
          const perRule = Object.hasOwn(correlation.aliases, field) ? correlation.aliases[field] : undefined;
          return perRule !== undefined && Object.hasOwn(perRule, id) ? (perRule[id] ?? field) : field;
        };
        const groupNames = correlation.groupBy.map(named);
        const valueNames = correlation.fields.map(named);
        source.consumers.push({
          target,
          positions: at,
          groupNames,
          groupAccessors: groupNames.map(fieldAccessor),
          valueNames,
          valueAccessors: valueNames.map(fieldAccessor),
        });
      }
    }
    // A detection that neither raises alerts here nor feeds a correlation here need not run.
    this.detections = this.rules.filter(
      (rule) => rule.match !== undefined && (rule.emits || rule.consumers.length > 0),
    );
    this.context = new MatchContext(registry);
  }

  private static zeroCounters(): Record<Counter, number> {
    return {
      events: 0,
      duplicates: 0,
      late: 0,
      processed: 0,
      matches: 0,
      signals: 0,
      updates: 0,
      merged: 0,
      cooledDown: 0,
      evictedGroups: 0,
    };
  }

  private runtimeRule(rule: CompiledRule, registry: FieldRegistry): RuntimeRule {
    const evicted = () => {
      this.counters.evictedGroups += 1;
    };
    const max = this.options.maxGroupsPerRule;
    const detection = rule.detection;
    const entry: RuntimeRule = {
      rule,
      emits: rule.emits && rule.scope === this.options.scope,
      match: detection === undefined ? undefined : compileDetection(detection, registry),
      requiredTypes: detection === undefined ? null : requiredEventTypes(detection),
      groupAccessors: rule.groupKeys.map(fieldAccessor),
      firstSeenAccessors: rule.firstSeen?.keys.map(fieldAccessor),
      consumers: [],
      windows: new LruMap<WindowEntry>(max, evicted),
      // An evicted alert with growth not yet reported would lose it; it is reported on the way out.
      signals: new LruMap<SignalState>(max, (_key, state) => {
        evicted();
        if (state.open?.pending === true) this.output.push(this.updateSignal(entry, state.open));
      }),
      seen: new LruMap<number>(max, evicted),
      learning: new LruMap<number>(max, evicted),
    };
    return entry;
  }

  /** Takes a batch of events (any order, duplicates allowed) and returns the signals it caused. */
  ingest(events: readonly RuleEvent[]): RuleSignal[] {
    const out: RuleSignal[] = [];
    this.output = out;
    const released: RuleEvent[] = [];
    const touched: StreamState[] = [];
    const lateness = this.options.allowedLatenessMs;
    for (const event of events) {
      this.counters.events += 1;
      const stream = this.stream(event.stream ?? event.deviceId);
      if (!stream.see(event.seq)) {
        this.counters.duplicates += 1;
        continue;
      }
      if (event.time < stream.watermark(lateness)) {
        this.counters.late += 1;
        released.push(event);
        continue;
      }
      if (event.time > stream.maxTime) stream.maxTime = event.time;
      stream.insert(event);
      if (!stream.touched) {
        stream.touched = true;
        touched.push(stream);
      }
    }
    const lateCount = released.length;
    for (const stream of touched) stream.release(stream.watermark(lateness), released);
    if (touched.length > 1 || lateCount > 0) released.sort(compareEvents);
    this.processAll(released, out);
    for (const stream of touched) {
      stream.touched = false;
      this.fireTimers(stream, stream.watermark(lateness), out);
    }
    return out;
  }

  /**
   * Processes every buffered event, then closes what is due: without `now` (the end of the input, as in
   * `edgeward rules test`) every window and suppression closes; with `now` (an agent shutting down)
   * only those that end before it, and open alerts report their growth so far.
   */
  flush(now?: number): RuleSignal[] {
    const out: RuleSignal[] = [];
    this.output = out;
    const released: RuleEvent[] = [];
    for (const stream of this.streams.values()) stream.release(Number.POSITIVE_INFINITY, released);
    released.sort(compareEvents);
    this.processAll(released, out);
    this.fireAllTimers(now ?? Number.POSITIVE_INFINITY, out);
    if (now !== undefined) {
      for (const rule of this.rules) {
        for (const state of rule.signals.map.values()) {
          if (state.open?.pending === true) out.push(this.updateSignal(rule, state.open));
        }
      }
    }
    return out;
  }

  stats(): RuleEngineStats {
    let buffered = 0;
    for (const stream of this.streams.values()) buffered += stream.buffered;
    let groups = 0;
    for (const rule of this.rules) {
      groups += rule.windows.size + rule.signals.size + rule.seen.size + rule.learning.size;
    }
    return { rules: this.rules.length, ...this.counters, buffered, groups, streams: this.streams.size };
  }

  private stream(id: string): StreamState {
    let stream = this.streams.get(id);
    if (stream === undefined) {
      stream = new StreamState(id);
      this.streams.set(id, stream);
    }
    return stream;
  }

  private processAll(events: readonly RuleEvent[], out: RuleSignal[]): void {
    for (let index = 0; index < events.length; index += 1) {
      const event = events[index] as RuleEvent;
      this.process(event, this.stream(event.stream ?? event.deviceId), out);
    }
  }

  private process(event: RuleEvent, stream: StreamState, out: RuleSignal[]): void {
    this.counters.processed += 1;
    const next = stream.timers.peek();
    if (next !== undefined && next.due < event.time) this.fireTimers(stream, event.time, out);
    const entries = this.rulesFor(event.type);
    if (entries.length === 0) return;
    const context = this.context;
    context.reset(event);
    for (let index = 0; index < entries.length; index += 1) {
      const { rule, requires } = entries[index] as TypeEntry;
      if (requires !== undefined && event.data[requires] === undefined) continue;
      if (!(rule.match as EventPredicate)(context)) continue;
      this.counters.matches += 1;
      this.detectionMatched(rule, event, out);
    }
  }

  /** The detection rules that can match an event of `type`, in rule order; worked out once per type. */
  private rulesFor(type: string): readonly TypeEntry[] {
    const cached = this.byType.get(type);
    if (cached !== undefined) return cached;
    const entries: TypeEntry[] = [];
    for (const rule of this.detections) {
      if (rule.requiredTypes !== null && !rule.requiredTypes.has(type)) continue;
      const sources = rule.rule.detection?.sources ?? null;
      if (sources === null) {
        entries.push({ rule, requires: undefined });
        continue;
      }
      const admitting = sources.filter((source) => admitsType(source, type));
      if (admitting.length === 0) continue;
      const unconditional = admitting.some((source) => source.requires === undefined);
      entries.push({ rule, requires: unconditional ? undefined : admitting[0]?.requires });
    }
    if (this.byType.size < MAX_CACHED_TYPES) this.byType.set(type, entries);
    return entries;
  }

  private detectionMatched(rule: RuntimeRule, event: RuleEvent, out: RuleSignal[]): void {
    const firstSeen = rule.rule.firstSeen;
    if (firstSeen !== undefined) {
      const learner = rule.rule.scope === 'agent' ? event.deviceId : '';
      let learningUntil = rule.learning.get(learner);
      if (learningUntil === undefined) {
        learningUntil = event.time + firstSeen.learningMs;
        rule.learning.set(learner, learningUntil);
      }
      const key = this.keyOf(rule.firstSeenAccessors as FieldAccessor[], event);
      const known = rule.seen.get(key);
      rule.seen.set(key, known === undefined ? event.time : Math.max(known, event.time));
      if (known !== undefined || event.time < learningUntil) return;
    }
    const hit: Hit = {
      time: event.time,
      firstSeen: event.time,
      count: 1,
      event,
      refs: [refOf(event)],
      deviceIds: [event.deviceId],
      owner: event.stream ?? event.deviceId,
    };
    if (rule.emits) {
      const values = rule.groupAccessors.map((accessor) => groupText(accessor(event)));
      this.emit(rule, values, hit, out);
    }
    this.feed(rule, hit, out);
  }

  private keyOf(accessors: readonly FieldAccessor[], event: RuleEvent): string {
    return JSON.stringify(accessors.map((accessor) => groupText(accessor(event))));
  }

  private feed(source: RuntimeRule, hit: Hit, out: RuleSignal[]): void {
    for (const consumer of source.consumers) this.correlate(consumer, hit, out);
  }

  private correlate(consumer: Consumer, hit: Hit, out: RuleSignal[]): void {
    const target = consumer.target;
    const correlation = target.rule.correlation;
    if (correlation === undefined) return;
    let value: string | undefined;
    if (correlation.type === 'value_count') {
      const parts = consumer.valueNames.map((name, index) => {
        const written =
          ownValue(hit.groupFields, name) ?? (consumer.valueAccessors[index] as FieldAccessor)(hit.event);
        return written === undefined || written === null ? undefined : groupText(written);
      });
      // A match without the counted field does not count (nor open a window).
      if (parts.some((part) => part === undefined)) return;
      value = parts.length === 1 ? parts[0] : JSON.stringify(parts);
    }
    const values = consumer.groupNames.map(
      (name, index) =>
        ownValue(hit.groupFields, name) ??
        groupText((consumer.groupAccessors[index] as FieldAccessor)(hit.event)),
    );
    const key = JSON.stringify(values);
    let entry = target.windows.get(key);
    if (entry !== undefined && entry.window.closesAt !== undefined && hit.time > entry.window.closesAt) {
      this.closeWindow(target, key, entry, out);
      entry = undefined;
    }
    if (entry === undefined) {
      const fields: Record<string, string> = {};
      correlation.groupBy.forEach((field, index) => {
        fields[field] = values[index] ?? '';
      });
      entry = { fields, owner: hit.owner, window: createWindow(correlation), event: undefined };
      target.windows.set(key, entry);
    }
    const opened = entry.window.closesAt === undefined;
    const counted: Counted = { time: hit.time, refs: hit.refs, deviceIds: hit.deviceIds };
    const firing = entry.window.add(consumer.positions, counted, value);
    if (target.consumers.length > 0 || entry.event === undefined) entry.event = hit.event;
    if (opened && entry.window.closesAt !== undefined) {
      this.schedule(entry.window.closesAt, target, key, 'window', entry.owner);
    }
    if (firing !== undefined) this.fire(target, key, entry, firing, hit.event, out);
  }

  private closeWindow(rule: RuntimeRule, key: string, entry: WindowEntry, out: RuleSignal[]): void {
    rule.windows.delete(key);
    const firing = entry.window.close();
    if (firing !== undefined) this.fire(rule, key, entry, firing, entry.event ?? NO_EVENT, out);
  }

  /** A correlation's condition holds: raise (or merge) its alert and feed chained correlations. */
  private fire(
    rule: RuntimeRule,
    key: string,
    entry: WindowEntry,
    firing: Firing,
    event: RuleEvent,
    out: RuleSignal[],
  ): void {
    const values = rule.rule.groupKeys.map((field) => ownValue(entry.fields, field) ?? '');
    if (rule.emits && !this.mayRaise(rule, JSON.stringify(values), firing.lastSeen)) {
      this.counters.cooledDown += 1;
      return;
    }
    entry.window.clear();
    if (rule.windows.peek(key) === entry) rule.windows.delete(key);
    const hit: Hit = {
      time: firing.lastSeen,
      firstSeen: firing.firstSeen,
      count: firing.count,
      event,
      refs: firing.refs,
      deviceIds: firing.deviceIds,
      groupFields: entry.fields,
      owner: entry.owner,
    };
    if (rule.emits) this.emit(rule, values, hit, out);
    this.feed(rule, hit, out);
  }

  /** False while the alert of this group cools down (and no suppression window is open to merge into). */
  private mayRaise(rule: RuntimeRule, key: string, time: number): boolean {
    const state = rule.signals.peek(key);
    if (state === undefined) return true;
    if (state.open !== undefined && time <= state.open.until) return true;
    return time >= state.cooldownUntil;
  }

  private emit(rule: RuntimeRule, values: readonly string[], hit: Hit, out: RuleSignal[]): void {
    const { rule: compiled } = rule;
    const key = JSON.stringify(values);
    const keeps = compiled.cooldownMs > 0 || compiled.suppress !== undefined;
    const state = keeps ? rule.signals.get(key) : undefined;
    if (state?.open !== undefined) {
      const open = state.open;
      if (hit.time <= open.until) {
        open.count += hit.count;
        open.firstSeen = Math.min(open.firstSeen, hit.firstSeen);
        open.lastSeen = Math.max(open.lastSeen, hit.time);
        for (const ref of hit.refs) if (open.refs.length < MAX_EVENT_REFS) open.refs.push(ref);
        for (const device of hit.deviceIds) if (!open.deviceIds.includes(device)) open.deviceIds.push(device);
        open.pending = true;
        this.counters.merged += 1;
        return;
      }
      // Its window ended before this hit; its timer has not run yet.
      if (open.pending) out.push(this.updateSignal(rule, open));
      state.open = undefined;
    }
    if (state !== undefined && hit.time < state.cooldownUntil) {
      this.counters.cooledDown += 1;
      return;
    }
    const groupFields: Record<string, string> = {};
    compiled.groupKeys.forEach((field, index) => {
      groupFields[field] = values[index] ?? '';
    });
    const severity = compiled.severity === 'event' ? hit.event.severity : compiled.severity;
    const tier = compiled.tier === 'event' ? hit.event.severity : compiled.tier;
    const signal: RuleSignal = {
      ruleId: compiled.id,
      ruleTitle: compiled.title,
      kind: compiled.kind,
      groupKey: key,
      groupFields,
      severity,
      tier,
      firstSeen: hit.firstSeen,
      lastSeen: hit.time,
      count: hit.count,
      eventRefs: hit.refs.slice(0, MAX_EVENT_REFS),
      deviceIds: [...hit.deviceIds],
      response: compiled.response,
      route: compiled.route,
      update: false,
    };
    out.push(signal);
    this.counters.signals += 1;
    if (!keeps) return;
    const open: OpenSignal | undefined =
      compiled.suppress === undefined
        ? undefined
        : {
            until: hit.time + compiled.suppress.windowMs,
            owner: hit.owner,
            groupFields,
            severity,
            tier,
            firstSeen: hit.firstSeen,
            lastSeen: hit.time,
            count: hit.count,
            refs: [...signal.eventRefs],
            deviceIds: [...signal.deviceIds],
            pending: false,
          };
    rule.signals.set(key, { cooldownUntil: hit.time + compiled.cooldownMs, open });
    if (open !== undefined) this.schedule(open.until, rule, key, 'suppress', open.owner);
  }

  private updateSignal(rule: RuntimeRule, open: OpenSignal): RuleSignal {
    open.pending = false;
    const { rule: compiled } = rule;
    this.counters.updates += 1;
    return {
      ruleId: compiled.id,
      ruleTitle: compiled.title,
      kind: compiled.kind,
      groupKey: JSON.stringify(compiled.groupKeys.map((field) => ownValue(open.groupFields, field) ?? '')),
      groupFields: open.groupFields,
      severity: open.severity,
      tier: open.tier,
      firstSeen: open.firstSeen,
      lastSeen: open.lastSeen,
      count: open.count,
      eventRefs: [...open.refs],
      deviceIds: [...open.deviceIds],
      response: compiled.response,
      route: compiled.route,
      update: true,
    };
  }

  private schedule(due: number, rule: RuntimeRule, key: string, kind: Timer['kind'], owner: string): void {
    this.timerOrder += 1;
    this.stream(owner).timers.push({ due, order: this.timerOrder, rule, key, kind });
  }

  /** Runs every timer of `stream` due strictly before `limit` (event time), in due order. */
  private fireTimers(stream: StreamState, limit: number, out: RuleSignal[]): void {
    for (;;) {
      const timer = stream.timers.peek();
      if (timer === undefined || !(timer.due < limit)) return;
      stream.timers.pop();
      this.runTimer(timer, out);
    }
  }

  /** Runs the timers of every stream due before `limit`, in (due, order) across streams. */
  private fireAllTimers(limit: number, out: RuleSignal[]): void {
    const due: Timer[] = [];
    for (const stream of this.streams.values()) {
      for (
        let timer = stream.timers.peek();
        timer !== undefined && timer.due < limit;
        timer = stream.timers.peek()
      ) {
        due.push(timer);
        stream.timers.pop();
      }
    }
    due.sort((a, b) => a.due - b.due || a.order - b.order);
    // A window closing may open another (a chained correlation) that is due already; run until none is.
    for (const timer of due) this.runTimer(timer, out);
    if (due.length > 0) this.fireAllTimers(limit, out);
  }

  private runTimer(timer: Timer, out: RuleSignal[]): void {
    const { rule, key, due } = timer;
    if (timer.kind === 'window') {
      const entry = rule.windows.peek(key);
      // A timer outlives its window when the window fired, was evicted or was replaced.
      if (entry !== undefined && entry.window.closesAt === due) this.closeWindow(rule, key, entry, out);
      return;
    }
    const state = rule.signals.peek(key);
    const open = state?.open;
    if (state === undefined || open === undefined || open.until !== due) return;
    if (open.pending) out.push(this.updateSignal(rule, open));
    state.open = undefined;
  }

  // --- persistence -------------------------------------------------------------------------------

  /** The engine's state as plain JSON, to be given to restore() after a restart. */
  snapshot(): RuleEngineSnapshot {
    const streams: StreamSnapshot[] = [...this.streams.values()].map((stream) => ({
      id: stream.id,
      maxTime: Number.isFinite(stream.maxTime) ? stream.maxTime : null,
      seqHigh: stream.seqHigh,
      seqRuns: stream.seqRuns.map(([first, last]) => [first, last] as const),
      buffer: stream.buffer.slice(stream.start),
      timers: stream.timers.all().map((timer) => ({
        due: timer.due,
        order: timer.order,
        rule: timer.rule.rule.id,
        key: timer.key,
        kind: timer.kind,
      })),
    }));
    const rules: RuleStateSnapshot[] = this.rules.map((rule) => ({
      id: rule.rule.id,
      digest: rule.rule.digest,
      windows: [...rule.windows.map].map(([key, entry]) => [
        key,
        {
          fields: entry.fields,
          owner: entry.owner,
          window: entry.window.toJSON(),
          event: entry.event ?? null,
        },
      ]),
      signals: [...rule.signals.map],
      seen: [...rule.seen.map],
      learning: [...rule.learning.map],
    }));
    // A deep copy: the caller may keep it while the engine goes on.
    return JSON.parse(
      JSON.stringify({ format: 1, scope: this.options.scope, streams, rules, counters: this.counters }),
    ) as RuleEngineSnapshot;
  }

  /**
   * Replaces the engine's state with a snapshot. A rule's state is taken only when the rule is the same
   * (id and digest): a changed rule starts empty. An unusable snapshot leaves the engine empty and says why.
   */
  restore(snapshot: unknown): RestoreResult {
    this.reset();
    const saved = snapshot as Partial<RuleEngineSnapshot> | null;
    if (typeof saved !== 'object' || saved === null || saved.format !== 1) {
      return { ok: false, reason: 'not a rule engine snapshot (format 1)' };
    }
    if (saved.scope !== this.options.scope) {
      return {
        ok: false,
        reason: `the snapshot is of scope ${saved.scope}, this engine runs ${this.options.scope}`,
      };
    }
    if (!Array.isArray(saved.streams) || !Array.isArray(saved.rules)) {
      return { ok: false, reason: 'the snapshot has no streams or rules' };
    }
    try {
      for (const stream of saved.streams) this.restoreStream(stream);
      const byId = new Map(this.rules.map((rule) => [rule.rule.id, rule]));
      const restored = new Set<RuntimeRule>();
      const droppedRules: string[] = [];
      for (const state of saved.rules) {
        const rule = byId.get(state.id);
        if (rule === undefined || rule.rule.digest !== state.digest || !this.restoreRule(rule, state)) {
          if (rule !== undefined) this.clearRule(rule);
          droppedRules.push(state.id);
          continue;
        }
        restored.add(rule);
      }
      for (const stream of saved.streams) {
        for (const timer of Array.isArray(stream.timers) ? stream.timers : []) {
          const rule = byId.get(timer.rule);
          if (rule === undefined || !restored.has(rule)) continue;
          if (
            typeof timer.due !== 'number' ||
            typeof timer.order !== 'number' ||
            typeof timer.key !== 'string'
          )
            continue;
          const kind = timer.kind === 'window' ? 'window' : 'suppress';
          this.stream(stream.id).timers.push({
            due: timer.due,
            order: timer.order,
            rule,
            key: timer.key,
            kind,
          });
          this.timerOrder = Math.max(this.timerOrder, timer.order);
        }
      }
      const restoredRules = restored.size;
      const counters = saved.counters as Record<string, unknown> | undefined;
      for (const name of Object.keys(this.counters) as Counter[]) {
        const value = counters?.[name];
        if (typeof value === 'number' && Number.isFinite(value)) this.counters[name] = value;
      }
      return { ok: true, restoredRules, droppedRules };
    } catch (error) {
      this.reset();
      return {
        ok: false,
        reason: `the snapshot is damaged: ${error instanceof Error ? error.message : String(error)}`,
      };
    }
  }

  private reset(): void {
    this.streams.clear();
    this.timerOrder = 0;
    this.output = [];
    this.counters = RuleEngine.zeroCounters();
    for (const rule of this.rules) this.clearRule(rule);
  }

  private clearRule(rule: RuntimeRule): void {
    rule.windows.clear();
    rule.signals.clear();
    rule.seen.clear();
    rule.learning.clear();
  }

  private restoreStream(saved: StreamSnapshot): void {
    if (typeof saved.id !== 'string' || typeof saved.seqHigh !== 'number' || !Array.isArray(saved.buffer)) {
      throw new Error('a stream lacks its id, seqHigh or buffer');
    }
    const stream = this.stream(saved.id);
    stream.maxTime = typeof saved.maxTime === 'number' ? saved.maxTime : Number.NEGATIVE_INFINITY;
    stream.seqHigh = saved.seqHigh;
    stream.seqRuns = (Array.isArray(saved.seqRuns) ? saved.seqRuns : [])
      .filter((run) => Array.isArray(run) && Number.isInteger(run[0]) && Number.isInteger(run[1]))
      .map(([first, last]): SeqRun => [first, last]);
    for (const event of saved.buffer) stream.insert(event);
  }

  /** Loads one rule's state; false when it does not fit the rule (the caller then drops it). */
  private restoreRule(rule: RuntimeRule, saved: RuleStateSnapshot): boolean {
    const correlation = rule.rule.correlation;
    for (const [key, entry] of saved.windows ?? []) {
      if (correlation === undefined || typeof entry.owner !== 'string') return false;
      const window = restoreWindow(correlation, entry.window);
      if (window === undefined || typeof entry.fields !== 'object' || entry.fields === null) return false;
      rule.windows.set(key, {
        fields: entry.fields,
        owner: entry.owner,
        window,
        event: entry.event ?? undefined,
      });
    }
    for (const [key, state] of saved.signals ?? []) {
      if (typeof state.cooldownUntil !== 'number') return false;
      const open = state.open ?? undefined;
      if (open !== undefined && (typeof open.until !== 'number' || typeof open.owner !== 'string'))
        return false;
      rule.signals.set(key, {
        cooldownUntil: state.cooldownUntil,
        open: open === undefined ? undefined : { ...open },
      });
    }
    for (const [key, time] of saved.seen ?? []) {
      if (typeof time !== 'number') return false;
      rule.seen.set(key, time);
    }
    for (const [key, time] of saved.learning ?? []) {
      if (typeof time !== 'number') return false;
      rule.learning.set(key, time);
    }
    return true;
  }
}

/** The rules of `scope`, and every rule their correlations refer to (directly or through a chain). */
function activeRules(
  rules: readonly CompiledRule[],
  byId: ReadonlyMap<string, CompiledRule>,
  scope: RuleScope,
): Set<string> {
  const active = new Set<string>();
  const visit = (rule: CompiledRule) => {
    if (active.has(rule.id)) return;
    active.add(rule.id);
    for (const id of rule.correlation?.rules ?? []) {
      const target = byId.get(id);
      if (target !== undefined) visit(target);
    }
  };
  for (const rule of rules) if (rule.scope === scope) visit(rule);
  return active;
}
