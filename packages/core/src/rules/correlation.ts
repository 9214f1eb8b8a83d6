import { type CompiledCorrelation, type EventRef, MAX_EVENT_REFS } from './rule.schema.ts';

/**
 * The window of one group of one correlation rule (docs/rules.md, "Correlations"). The engine feeds
 * it the matches of the referenced rules in event-time order; it answers when its condition holds.
 * Every window is bounded: a sliding count keeps at most its threshold of entries, a distinct count at
 * most its threshold of values, an anchored window only counters, a temporal one one entry per rule.
 *
 * Boundaries are inclusive: entries whose times differ by exactly the timespan lie within it.
 */

/** One match as a window keeps it: when, which events, from which devices. */
export interface Counted {
  readonly time: number;
  readonly refs: readonly EventRef[];
  readonly deviceIds: readonly string[];
}

/** What a window reports when its condition holds. */
export interface Firing {
  readonly firstSeen: number;
  readonly lastSeen: number;
  /** Events (event_count), distinct values (value_count) or rules (temporal). */
  readonly count: number;
  readonly refs: readonly EventRef[];
  readonly deviceIds: readonly string[];
}

export interface GroupWindow {
  /**
   * Adds a match of the rule(s) at `positions` of the correlation's list (descending); `value` is the
   * counted field's value for value_count. Returns a firing when the condition now holds; the window
   * keeps its entries until `clear()`, so that a firing held back by a cooldown can happen later.
   */
  add(positions: readonly number[], entry: Counted, value: string | undefined): Firing | undefined;
  clear(): void;
  /** Anchored windows close at this event time and are judged then; sliding ones never close. */
  readonly closesAt: number | undefined;
  /** Judges an anchored window at its close. */
  close(): Firing | undefined;
  isEmpty(): boolean;
  toJSON(): unknown;
}

/** The counts that satisfy a condition, as an inclusive range. */
export interface CountRange {
  readonly low: number;
  readonly high: number;
}

export function countRange(correlation: CompiledCorrelation): CountRange {
  const { gt, gte, lt, lte, eq } = correlation.condition;
  const low = eq ?? gte ?? (gt === undefined ? 1 : gt + 1);
  const high = eq ?? lte ?? (lt === undefined ? Number.POSITIVE_INFINITY : lt - 1);
  return { low: Math.max(low, 1), high };
}

/**
 * A count with only a lower bound fires as soon as it is reached, in a window sliding with the events;
 * one with an upper bound (`lt`, `lte`, `eq`) can only be judged once the time is up, so its window is
 * anchored at its first event and judged when the timespan after it has passed.
 */
export function createWindow(correlation: CompiledCorrelation): GroupWindow {
  const range = countRange(correlation);
  const span = correlation.timespanMs;
  switch (correlation.type) {
    case 'event_count':
    case 'value_count':
      if (range.high !== Number.POSITIVE_INFINITY) {
        return new AnchoredWindow(span, range, correlation.type === 'value_count');
      }
      return correlation.type === 'event_count'
        ? new SlidingCount(span, range.low)
        : new SlidingDistinct(span, range.low);
    case 'temporal':
      return new TemporalWindow(span, correlation.rules.length, range.low);
    case 'temporal_ordered':
      return new OrderedWindow(span, correlation.rules.length);
  }
}

/** A window saved by `toJSON()`, back in its live form; undefined when the saved form does not fit. */
export function restoreWindow(correlation: CompiledCorrelation, saved: unknown): GroupWindow | undefined {
  const window = createWindow(correlation);
  try {
    return (window as GroupWindow & { load(saved: unknown): boolean }).load(saved) ? window : undefined;
  } catch {
    return undefined;
  }
}

// --- helpers -----------------------------------------------------------------------------------

function collect(entries: Iterable<Counted>): { refs: EventRef[]; deviceIds: string[] } {
  const refs: EventRef[] = [];
  const devices = new Set<string>();
  for (const entry of entries) {
    for (const ref of entry.refs) if (refs.length < MAX_EVENT_REFS) refs.push(ref);
    for (const device of entry.deviceIds) devices.add(device);
  }
  return { refs, deviceIds: [...devices] };
}

function isCounted(value: unknown): value is Counted {
  if (typeof value !== 'object' || value === null) return false;
  const entry = value as Record<string, unknown>;
  return typeof entry.time === 'number' && Array.isArray(entry.refs) && Array.isArray(entry.deviceIds);
}

function savedEntry(entry: Counted): Counted {
  return { time: entry.time, refs: entry.refs, deviceIds: entry.deviceIds };
}

// --- event_count, lower bound only ---------------------------------------------------------------

/**
 * The latest `threshold` entries in time order, in a ring: the condition holds when the oldest of them
 * lies within the timespan of the newest. Older entries cannot matter any more and are overwritten.
 */
class SlidingCount implements GroupWindow {
  readonly closesAt = undefined;
  private ring: (Counted | undefined)[];
  private start = 0;
  private size = 0;
  private readonly span: number;
  private readonly threshold: number;

  constructor(span: number, threshold: number) {
    this.span = span;
    this.threshold = threshold;
    this.ring = new Array<Counted | undefined>(threshold);
  }

  add(_positions: readonly number[], entry: Counted): Firing | undefined {
    const newest = this.at(this.size - 1);
    if (newest === undefined || entry.time >= newest.time) this.push(entry);
    else this.insertOutOfOrder(entry);
    return this.check();
  }

  private at(index: number): Counted | undefined {
    if (index < 0 || index >= this.size) return undefined;
    return this.ring[(this.start + index) % this.threshold];
  }

  private push(entry: Counted): void {
    if (this.size < this.threshold) {
      this.ring[(this.start + this.size) % this.threshold] = entry;
      this.size += 1;
    } else {
      this.ring[this.start] = entry;
      this.start = (this.start + 1) % this.threshold;
    }
  }

  /** A late entry (another device's, or beyond the lateness): rebuilt in order, the newest kept. */
  private insertOutOfOrder(entry: Counted): void {
    const entries = this.entries();
    let index = entries.length;
    while (index > 0 && (entries[index - 1] as Counted).time > entry.time) index -= 1;
    entries.splice(index, 0, entry);
    this.fill(entries.slice(-this.threshold));
  }

  private fill(entries: readonly Counted[]): void {
    this.ring = new Array<Counted | undefined>(this.threshold);
    this.start = 0;
    this.size = 0;
    for (const entry of entries) this.push(entry);
  }

  private entries(): Counted[] {
    const entries: Counted[] = [];
    for (let index = 0; index < this.size; index += 1) entries.push(this.at(index) as Counted);
    return entries;
  }

  private check(): Firing | undefined {
    if (this.size < this.threshold) return undefined;
    const oldest = this.at(0) as Counted;
    const newest = this.at(this.size - 1) as Counted;
    if (newest.time - oldest.time > this.span) return undefined;
    return { firstSeen: oldest.time, lastSeen: newest.time, count: this.size, ...collect(this.entries()) };
  }

  clear(): void {
    this.ring = new Array<Counted | undefined>(this.threshold);
    this.start = 0;
    this.size = 0;
  }

  close(): Firing | undefined {
    return undefined;
  }

  isEmpty(): boolean {
    return this.size === 0;
  }

  toJSON(): unknown {
    return { entries: this.entries().map(savedEntry) };
  }

  load(saved: unknown): boolean {
    const entries = (saved as { entries?: unknown }).entries;
    if (!Array.isArray(entries) || !entries.every(isCounted)) return false;
    this.fill([...entries].sort((a, b) => a.time - b.time).slice(-this.threshold));
    return true;
  }
}

// --- value_count, lower bound only ---------------------------------------------------------------

/**
 * The latest entry of each distinct value; values last seen more than the timespan before the newest
 * entry drop out. The condition holds when enough values remain.
 */
class SlidingDistinct implements GroupWindow {
  readonly closesAt = undefined;
  private latest = new Map<string, Counted>();
  private newest = Number.NEGATIVE_INFINITY;
  private readonly span: number;
  private readonly threshold: number;

  constructor(span: number, threshold: number) {
    this.span = span;
    this.threshold = threshold;
  }

  add(_positions: readonly number[], entry: Counted, value: string | undefined): Firing | undefined {
    if (value === undefined) return undefined;
    const known = this.latest.get(value);
    if (known === undefined || entry.time >= known.time) {
      // Re-inserted so that the map stays in the order of each value's latest time.
      this.latest.delete(value);
      this.latest.set(value, entry);
    }
    const inOrder = entry.time >= this.newest;
    if (inOrder) this.newest = entry.time;
    this.expire(!inOrder);
    if (this.latest.size < this.threshold) return undefined;
    // Judged exactly: an out-of-order entry may sit behind newer ones.
    this.expire(true);
    if (this.latest.size < this.threshold) return undefined;
    let firstSeen = Number.POSITIVE_INFINITY;
    for (const counted of this.latest.values()) firstSeen = Math.min(firstSeen, counted.time);
    return {
      firstSeen,
      lastSeen: this.newest,
      count: this.latest.size,
      ...collect(this.latest.values()),
    };
  }

  private expire(everything: boolean): void {
    const limit = this.newest - this.span;
    for (const [value, counted] of this.latest) {
      if (counted.time < limit) this.latest.delete(value);
      else if (!everything) break;
    }
  }

  clear(): void {
    this.latest = new Map();
    this.newest = Number.NEGATIVE_INFINITY;
  }

  close(): Firing | undefined {
    return undefined;
  }

  isEmpty(): boolean {
    return this.latest.size === 0;
  }

  toJSON(): unknown {
    return { values: [...this.latest].map(([value, entry]) => [value, savedEntry(entry)]) };
  }

  load(saved: unknown): boolean {
    const values = (saved as { values?: unknown }).values;
    if (!Array.isArray(values)) return false;
    for (const pair of values) {
      if (!Array.isArray(pair) || typeof pair[0] !== 'string' || !isCounted(pair[1])) return false;
      this.latest.set(pair[0], pair[1]);
      this.newest = Math.max(this.newest, pair[1].time);
    }
    return true;
  }
}

// --- event_count / value_count with an upper bound -----------------------------------------------

/**
 * Opens at its first entry and takes every entry up to `timespan` later; judged at its close. Distinct
 * values are remembered only up to one more than the upper bound, which already decides the outcome.
 */
class AnchoredWindow implements GroupWindow {
  closesAt: number | undefined = undefined;
  private firstSeen = 0;
  private lastSeen = 0;
  private count = 0;
  private values = new Set<string>();
  private refs: EventRef[] = [];
  private devices = new Set<string>();
  private readonly span: number;
  private readonly range: CountRange;
  private readonly distinct: boolean;

  constructor(span: number, range: CountRange, distinct: boolean) {
    this.span = span;
    this.range = range;
    this.distinct = distinct;
  }

  add(_positions: readonly number[], entry: Counted, value: string | undefined): Firing | undefined {
    if (this.distinct && value === undefined) return undefined;
    if (this.closesAt === undefined) {
      this.closesAt = entry.time + this.span;
      this.firstSeen = entry.time;
      this.lastSeen = entry.time;
    }
    this.firstSeen = Math.min(this.firstSeen, entry.time);
    this.lastSeen = Math.max(this.lastSeen, entry.time);
    this.count += 1;
    if (value !== undefined && this.values.size <= this.range.high) this.values.add(value);
    for (const ref of entry.refs) if (this.refs.length < MAX_EVENT_REFS) this.refs.push(ref);
    for (const device of entry.deviceIds) this.devices.add(device);
    return undefined;
  }

  close(): Firing | undefined {
    if (this.closesAt === undefined) return undefined;
    const count = this.distinct ? this.values.size : this.count;
    const firing =
      count >= this.range.low && count <= this.range.high
        ? {
            firstSeen: this.firstSeen,
            lastSeen: this.lastSeen,
            count,
            refs: this.refs,
            deviceIds: [...this.devices],
          }
        : undefined;
    this.clear();
    return firing;
  }

  clear(): void {
    this.closesAt = undefined;
    this.count = 0;
    this.values = new Set();
    this.refs = [];
    this.devices = new Set();
  }

  isEmpty(): boolean {
    return this.closesAt === undefined;
  }

  toJSON(): unknown {
    return {
      closesAt: this.closesAt ?? null,
      firstSeen: this.firstSeen,
      lastSeen: this.lastSeen,
      count: this.count,
      values: [...this.values],
      refs: this.refs,
      deviceIds: [...this.devices],
    };
  }

  load(saved: unknown): boolean {
    const state = saved as Record<string, unknown>;
    if (typeof state.closesAt !== 'number' || typeof state.count !== 'number') return false;
    if (!Array.isArray(state.values) || !Array.isArray(state.refs) || !Array.isArray(state.deviceIds))
      return false;
    this.closesAt = state.closesAt;
    this.firstSeen = Number(state.firstSeen);
    this.lastSeen = Number(state.lastSeen);
    this.count = state.count;
    this.values = new Set(state.values.map(String));
    this.refs = state.refs as EventRef[];
    this.devices = new Set(state.deviceIds.map(String));
    return true;
  }
}

// --- temporal ------------------------------------------------------------------------------------

/** The latest match of each referenced rule; fires when enough rules matched within the timespan. */
class TemporalWindow implements GroupWindow {
  readonly closesAt = undefined;
  private latest: (Counted | undefined)[];
  private readonly span: number;
  private readonly threshold: number;

  constructor(span: number, rules: number, threshold: number) {
    this.span = span;
    this.threshold = threshold;
    this.latest = new Array<Counted | undefined>(rules);
  }

  add(positions: readonly number[], entry: Counted): Firing | undefined {
    for (const position of positions) {
      const known = this.latest[position];
      if (known === undefined || entry.time >= known.time) this.latest[position] = entry;
    }
    let newest = Number.NEGATIVE_INFINITY;
    for (const counted of this.latest) if (counted !== undefined) newest = Math.max(newest, counted.time);
    const within = this.latest.filter(
      (counted): counted is Counted => counted !== undefined && newest - counted.time <= this.span,
    );
    if (within.length < this.threshold) return undefined;
    const firstSeen = Math.min(...within.map((counted) => counted.time));
    return { firstSeen, lastSeen: newest, count: within.length, ...collect(within) };
  }

  clear(): void {
    this.latest = new Array<Counted | undefined>(this.latest.length);
  }

  close(): Firing | undefined {
    return undefined;
  }

  isEmpty(): boolean {
    return this.latest.every((counted) => counted === undefined);
  }

  toJSON(): unknown {
    return { latest: this.latest.map((counted) => (counted === undefined ? null : savedEntry(counted))) };
  }

  load(saved: unknown): boolean {
    const latest = (saved as { latest?: unknown }).latest;
    if (!Array.isArray(latest) || latest.length !== this.latest.length) return false;
    if (!latest.every((counted) => counted === null || isCounted(counted))) return false;
    this.latest = latest.map((counted) => (counted === null ? undefined : (counted as Counted)));
    return true;
  }
}

// --- temporal_ordered ----------------------------------------------------------------------------

interface Chain {
  /** Time of the chain's first match: the chain must complete within the timespan of it. */
  readonly start: number;
  readonly entries: readonly Counted[];
}

/**
 * For each position of the list, the chain through it that started latest (the one most likely to
 * complete in time): a match of the rule at position i extends the chain at position i − 1.
 */
class OrderedWindow implements GroupWindow {
  readonly closesAt = undefined;
  private chains: (Chain | undefined)[];
  private readonly span: number;

  constructor(span: number, rules: number) {
    this.span = span;
    this.chains = new Array<Chain | undefined>(rules);
  }

  add(positions: readonly number[], entry: Counted): Firing | undefined {
    for (let index = 0; index < this.chains.length; index += 1) {
      const chain = this.chains[index];
      if (chain !== undefined && entry.time - chain.start > this.span) this.chains[index] = undefined;
    }
    // Highest position first, so that one event never extends a chain it has just started.
    for (const position of positions) {
      if (position === 0) {
        this.chains[0] = { start: entry.time, entries: [entry] };
        continue;
      }
      const previous = this.chains[position - 1];
      if (previous === undefined) continue;
      this.chains[position] = { start: previous.start, entries: [...previous.entries, entry] };
    }
    const complete = this.chains[this.chains.length - 1];
    if (complete === undefined) return undefined;
    const lastSeen = Math.max(...complete.entries.map((counted) => counted.time));
    return {
      firstSeen: complete.start,
      lastSeen,
      count: this.chains.length,
      ...collect(complete.entries),
    };
  }

  clear(): void {
    this.chains = new Array<Chain | undefined>(this.chains.length);
  }

  close(): Firing | undefined {
    return undefined;
  }

  isEmpty(): boolean {
    return this.chains.every((chain) => chain === undefined);
  }

  toJSON(): unknown {
    return {
      chains: this.chains.map((chain) =>
        chain === undefined ? null : { start: chain.start, entries: chain.entries.map(savedEntry) },
      ),
    };
  }

  load(saved: unknown): boolean {
    const chains = (saved as { chains?: unknown }).chains;
    if (!Array.isArray(chains) || chains.length !== this.chains.length) return false;
    const loaded: (Chain | undefined)[] = [];
    for (const chain of chains) {
      if (chain === null) {
        loaded.push(undefined);
        continue;
      }
      const { start, entries } = chain as { start?: unknown; entries?: unknown };
      if (typeof start !== 'number' || !Array.isArray(entries) || !entries.every(isCounted)) return false;
      loaded.push({ start, entries });
    }
    this.chains = loaded;
    return true;
  }
}
