import { monotonicMs } from './monotonic-clock.ts';

/**
 * V8's full collection in its memory-reducing form (the one V8 runs before giving up at its heap limit):
 * it also hands back the pages the collection emptied. Node offers it only as `gc()` under `--expose-gc`,
 * which the device launcher sets.
 */
export type FullCollection = () => void;

/** The memory-reducing collection when this process was started with `--expose-gc`, else undefined. */
export function exposedFullCollection(): FullCollection | undefined {
  const gc = (globalThis as { gc?: unknown }).gc;
  if (typeof gc !== 'function') return undefined;
  return () => gc({ type: 'major', execution: 'sync', flavor: 'last-resort' });
}

/**
 * Growth of the resident set since the last collection that is worth handing back. An agent cut off with
 * a backlog grows by a few hundred kilobytes between collections (each retry reads and lays out a batch):
 * at 512 KB it was 0.7 MB bigger (bench/RESULTS.md). A collection costs a few milliseconds, at most every
 * RECLAIM_MIN_INTERVAL_MS.
 */
export const RECLAIM_GROWTH_BYTES = 256 * 1024;
/** How long the agent must have been idle after its work before the collection runs. */
export const RECLAIM_DELAY_MS = 2000;
/** Collections this reclaimer runs are at least this far apart. */
export const RECLAIM_MIN_INTERVAL_MS = 30_000;

export interface MemoryReclaimerOptions {
  /** Undefined turns the reclaimer off (a process without `--expose-gc`). */
  readonly collect: FullCollection | undefined;
  /**
   * The process's resident bytes now; default `process.memoryUsage.rss()`. Not the V8 heap's own count:
   * pages a collection emptied leave that count at once but stay resident until a memory-reducing one.
   */
  readonly residentBytes?: () => number;
  /** Monotonic milliseconds; default `monotonicMs`. */
  readonly now?: () => number;
  readonly growthBytes?: number;
  readonly delayMs?: number;
  readonly minIntervalMs?: number;
}

/**
 * Hands the memory a burst of work took (an inventory, a drained backlog, a policy evaluation) back to
 * the system once the agent is idle again. V8 keeps a heap that grew until a later collection finds a
 * reason to shrink it, which on a quiet device can take minutes: each inventory left the agent 4 MB
 * bigger for 20 s or more. One memory-reducing collection of the agent's heap costs a few milliseconds.
 */
export class MemoryReclaimer {
  readonly #collect: FullCollection | undefined;
  readonly #residentBytes: () => number;
  readonly #now: () => number;
  readonly #growthBytes: number;
  readonly #delayMs: number;
  readonly #minIntervalMs: number;
  #baselineBytes: number;
  #lastAt = Number.NEGATIVE_INFINITY;
  #timer: NodeJS.Timeout | undefined;
  #collections = 0;

  constructor(options: MemoryReclaimerOptions) {
    this.#collect = options.collect;
    this.#residentBytes = options.residentBytes ?? (() => process.memoryUsage.rss());
    this.#now = options.now ?? monotonicMs;
    this.#growthBytes = options.growthBytes ?? RECLAIM_GROWTH_BYTES;
    this.#delayMs = options.delayMs ?? RECLAIM_DELAY_MS;
    this.#minIntervalMs = options.minIntervalMs ?? RECLAIM_MIN_INTERVAL_MS;
    this.#baselineBytes = this.#collect === undefined ? 0 : this.#residentBytes();
  }

  /** Collections run so far. */
  get collections(): number {
    return this.#collections;
  }

  /**
   * Called when a piece of work is done: if the process grew by `growthBytes` since the last collection, one
   * runs `delayMs` later (a later call moves it on, so that it follows the last of a burst), and never
   * sooner than `minIntervalMs` after the one before.
   */
  workDone(): void {
    if (this.#collect === undefined) return;
    if (this.#residentBytes() - this.#baselineBytes < this.#growthBytes) return;
    clearTimeout(this.#timer);
    const due = Math.max(this.#delayMs, this.#lastAt + this.#minIntervalMs - this.#now());
    this.#timer = setTimeout(() => this.#run(), due);
    this.#timer.unref();
  }

  stop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #run(): void {
    this.#timer = undefined;
    this.#collect?.();
    this.#collections += 1;
    this.#lastAt = this.#now();
    this.#baselineBytes = this.#residentBytes();
  }
}
