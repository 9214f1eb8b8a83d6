/**
 * Moves events from the durable queue to the manager: batches read from the queue file, posted to
 * `/v1/events`, deleted from the queue only once the manager's reply says it stored them. A crash or a
 * lost reply means the batch is sent again, and the manager ignores what it already holds: at-least-once
 * on the wire, exactly-once in the store.
 */
import { promisify } from 'node:util';
import * as zlib from 'node:zlib';
import {
  type Clock,
  type CompactEventBatch,
  type DeviceEvent,
  EdgewardError,
  type EventBatch,
  encodeCompactBatch,
  eventBatchReplySchema,
  isEdgewardError,
  systemClock,
} from '@edgeward/core';
import type { Logger } from 'pino';
import * as z from 'zod/mini';
import type { EventQueue } from '../queue/event-queue.ts';
import { Backoff } from '../runtime/backoff.ts';
import { monotonicMs } from '../runtime/monotonic-clock.ts';
import type { ManagerClient } from '../transport/manager-client.ts';

const zstdCompress = typeof zlib.zstdCompress === 'function' ? promisify(zlib.zstdCompress) : undefined;
const gzip = promisify(zlib.gzip);

/** ManagerClient sends bodies below this size uncompressed; the pacing measures them the same way. */
const COMPRESS_FROM_BYTES = 1024;
/** The smallest batch budget the forwarder shrinks to when the manager says a batch is too large. */
const MIN_BATCH_BYTES = 16 * 1024;
/**
 * Until a batch gets through (at start, and after a failed attempt) batches are at most this big: a
 * partition then costs each retry a few kilobytes read, laid out and compressed instead of a megabyte,
 * an agent that starts offline with a backlog does not build a full batch for nothing (3 MB less peak
 * memory with 100,000 events queued), and the first batch is a quick probe of the link.
 */
export const RETRY_BATCH_BYTES = 16 * 1024;

export const forwarderDefaults = {
  /** Upper bound on a batch's JSON body, in bytes (before compression). */
  batchMaxBytes: 1024 * 1024,
  batchMaxEvents: 5000,
  /** A batch goes out once its oldest event has waited this long, in milliseconds. */
  batchMaxAgeMs: 5000,
  /** How often the queue is looked at when nobody calls `wake()`, in milliseconds. */
  pollIntervalMs: 1000,
  retryInitialMs: 1000,
  retryMaxMs: 60_000,
  /** How long `stop()` waits for the batch in flight, in milliseconds. */
  shutdownGraceMs: 5000,
} as const;

export interface ForwarderOptions {
  readonly queue: EventQueue;
  /** The mTLS client to the manager; only `post` is used. */
  readonly client: Pick<ManagerClient, 'post'>;
  readonly logger: Logger;
  /** Ages batches against event times and stamps `lastAckAt`; defaults to the system clock. */
  readonly clock?: Clock;
  /** Upper bound on a batch's JSON body in bytes; a batch this full is sent at once. Default 1 MiB. */
  readonly batchMaxBytes?: number;
  /** Upper bound on events per batch. Default 5000. */
  readonly batchMaxEvents?: number;
  /** A batch is sent once its oldest event is this old, in milliseconds. Default 5000. */
  readonly batchMaxAgeMs?: number;
  /** Queue check interval when not woken, in milliseconds. Default 1000. */
  readonly pollIntervalMs?: number;
  /** Retry delays while the manager is unreachable: exponential with jitter (see Backoff). */
  readonly retryInitialMs?: number;
  readonly retryMaxMs?: number;
  /** Random source for the retry jitter, for tests. */
  readonly random?: () => number;
  /**
   * Upload cap in bytes per second, counted on the request bodies as sent (compressed, without HTTP and
   * TLS framing or the replies). Absent: no cap.
   */
  readonly maxBytesPerSecond?: number;
  /** How long `stop()` waits for the batch in flight, in milliseconds. Default 5000. */
  readonly shutdownGraceMs?: number;
  /**
   * Send protocol v2 compact batches (columns, derived ids, line templates: about a third of v1's bytes).
   * Default true; a manager that refuses them by version gets v1 batches from then on.
   */
  readonly compactBatches?: boolean;
}

export type ForwarderState = 'idle' | 'running' | 'stopping' | 'stopped';

export interface ForwarderStats {
  readonly state: ForwarderState;
  /** Events the manager confirmed storing since start. */
  readonly sent: number;
  /** Batches the manager confirmed. */
  readonly batches: number;
  /** When the last confirmation arrived (clock time), or null. */
  readonly lastAckAt: number | null;
  /** The manager's last `ackedSeq`, or null before the first reply. */
  readonly ackedSeq: number | null;
  /** Events still queued. */
  readonly backlog: number;
  /** Failed attempts since the last success. */
  readonly failures: number;
  readonly lastError: string | null;
}

/**
 * Token bucket on monotonic time: refills at `rate` bytes per second up to one second's worth. It starts
 * empty, so an agent that restarts in a loop cannot exceed the cap with start-up bursts. A batch larger
 * than the bucket is sent once the bucket is full and leaves a debt that the next batch waits out, so the
 * average rate holds for any batch size.
 */
class TokenBucket {
  readonly #rate: number;
  #tokens = 0;
  #updatedAt = monotonicMs();

  constructor(bytesPerSecond: number) {
    this.#rate = bytesPerSecond;
  }

  /** Milliseconds to wait before `bytes` may be sent. */
  delayMs(bytes: number): number {
    this.#refill();
    const needed = Math.min(bytes, this.#rate);
    return this.#tokens >= needed ? 0 : Math.ceil(((needed - this.#tokens) / this.#rate) * 1000);
  }

  /** Empties the bucket: the cap starts counting now. */
  reset(): void {
    this.#tokens = 0;
    this.#updatedAt = monotonicMs();
  }

  take(bytes: number): void {
    this.#refill();
    this.#tokens -= bytes;
  }

  #refill(): void {
    const now = monotonicMs();
    this.#tokens = Math.min(this.#rate, this.#tokens + ((now - this.#updatedAt) / 1000) * this.#rate);
    this.#updatedAt = now;
  }
}

/** The size of the body ManagerClient.post will send for `body`: same threshold, same compressor. */
async function wireBytes(body: unknown): Promise<number> {
  const json = Buffer.from(JSON.stringify(body));
  if (json.length < COMPRESS_FROM_BYTES) return json.length;
  return (zstdCompress ? await zstdCompress(json) : await gzip(json)).length;
}

/**
 * The loop that forwards queued events: a batch goes out when it is full (`batchMaxBytes`), when its oldest
 * event is `batchMaxAgeMs` old, or at once when a high or critical event waits. Failures are retried with
 * exponential backoff and jitter; `stop()` lets the batch in flight finish within a grace period.
 */
export class Forwarder {
  readonly #queue: EventQueue;
  readonly #client: Pick<ManagerClient, 'post'>;
  readonly #logger: Logger;
  readonly #clock: Clock;
  readonly #backoff: Backoff;
  readonly #bucket: TokenBucket | undefined;
  readonly #batchMaxEvents: number;
  readonly #batchMaxAgeMs: number;
  readonly #pollIntervalMs: number;
  readonly #graceMs: number;
  #batchMaxBytes: number;
  #compact: boolean;
  #state: ForwarderState = 'idle';
  #loop: Promise<void> | undefined;
  /** Ends the current sleep early: `wake()` may end an idle wait, `stop()` ends any wait. */
  #interrupt: ((byStop: boolean) => void) | undefined;
  #woken = false;
  /** When this forwarder first saw the queue non-empty: bounds the wait if event times lie in the future. */
  #pendingSince: number | null = null;
  #sent = 0;
  #batches = 0;
  #lastAckAt: number | null = null;
  #ackedSeq: number | null = null;
  #lastError: string | null = null;

  constructor(options: ForwarderOptions) {
    this.#queue = options.queue;
    this.#client = options.client;
    this.#logger = options.logger;
    this.#clock = options.clock ?? systemClock;
    this.#backoff = new Backoff({
      initialMs: options.retryInitialMs ?? forwarderDefaults.retryInitialMs,
      maxMs: options.retryMaxMs ?? forwarderDefaults.retryMaxMs,
      ...(options.random === undefined ? {} : { random: options.random }),
    });
    if (options.maxBytesPerSecond !== undefined && !(options.maxBytesPerSecond > 0)) {
      throw new EdgewardError(
        'EW_CONFIG_INVALID',
        `maxBytesPerSecond must be a positive number of bytes, got ${options.maxBytesPerSecond}`,
      );
    }
    this.#bucket =
      options.maxBytesPerSecond === undefined ? undefined : new TokenBucket(options.maxBytesPerSecond);
    this.#batchMaxBytes = options.batchMaxBytes ?? forwarderDefaults.batchMaxBytes;
    this.#batchMaxEvents = options.batchMaxEvents ?? forwarderDefaults.batchMaxEvents;
    this.#batchMaxAgeMs = options.batchMaxAgeMs ?? forwarderDefaults.batchMaxAgeMs;
    this.#pollIntervalMs = options.pollIntervalMs ?? forwarderDefaults.pollIntervalMs;
    this.#graceMs = options.shutdownGraceMs ?? forwarderDefaults.shutdownGraceMs;
    this.#compact = options.compactBatches ?? true;
  }

  get state(): ForwarderState {
    return this.#state;
  }

  start(): void {
    if (this.#state !== 'idle') {
      throw new EdgewardError('EW_INTERNAL', `the forwarder cannot start from state ${this.#state}`);
    }
    this.#state = 'running';
    this.#bucket?.reset();
    this.#loop = this.#run();
  }

  /**
   * Looks at the queue now instead of at the next poll: call it after appending a high-severity event (or
   * any event; it is cheap). It does not cut a retry delay short, so events cannot hammer a failing manager.
   */
  wake(): void {
    this.#woken = true;
    this.#interrupt?.(false);
  }

  /**
   * Stops taking new batches, waits up to `graceMs` for the batch in flight, then returns. A batch still in
   * flight after that stays queued and is sent again next time; the manager ignores the duplicate.
   */
  async stop(graceMs = this.#graceMs): Promise<void> {
    if (this.#state === 'stopped') return;
    if (this.#state === 'idle') {
      this.#state = 'stopped';
      return;
    }
    this.#state = 'stopping';
    this.#interrupt?.(true);
    let timer: NodeJS.Timeout | undefined;
    const forced = new Promise<'forced'>((resolve) => {
      timer = setTimeout(() => resolve('forced'), graceMs);
    });
    const outcome = await Promise.race([this.#loop?.then(() => 'finished' as const), forced]);
    clearTimeout(timer);
    if (outcome === 'forced')
      this.#logger.warn({ graceMs }, 'event batch still in flight at shutdown; it will be sent again');
    this.#state = 'stopped';
  }

  stats(): ForwarderStats {
    let backlog = 0;
    try {
      if (this.#queue.isOpen) backlog = this.#queue.stats().events;
    } catch {
      // A queue that cannot be read reports no backlog here; the loop logs the error itself.
    }
    return {
      state: this.#state,
      sent: this.#sent,
      batches: this.#batches,
      lastAckAt: this.#lastAckAt,
      ackedSeq: this.#ackedSeq,
      backlog,
      failures: this.#backoff.failures,
      lastError: this.#lastError,
    };
  }

  async #run(): Promise<void> {
    while (this.#state === 'running') {
      try {
        const waitMs = this.#msUntilDue();
        if (waitMs > 0) {
          await this.#sleep(waitMs, true);
          continue;
        }
        await this.#sendBatch();
        // What is left starts its own wait, so young leftovers of a sent batch are not sent half-empty.
        this.#pendingSince = null;
        this.#backoff.reset();
        this.#lastError = null;
      } catch (error) {
        if (this.#state !== 'running') break;
        this.#lastError = error instanceof Error ? error.message : String(error);
        if (isEdgewardError(error, 'EW_REQUEST_TOO_LARGE') && this.#batchMaxBytes > MIN_BATCH_BYTES) {
          // The manager's body limit is below our batch size: halve it for the life of this forwarder.
          this.#batchMaxBytes = Math.max(MIN_BATCH_BYTES, Math.floor(this.#batchMaxBytes / 2));
          this.#logger.warn(
            { batchMaxBytes: this.#batchMaxBytes },
            'event batch too large for the manager; sending smaller batches',
          );
          continue;
        }
        const delay = this.#backoff.nextDelayMs();
        this.#logger.warn({ err: this.#lastError, retryInMs: delay }, 'forwarding events failed');
        await this.#sleep(delay, false);
      }
    }
  }

  /** 0 when a batch is due now, else how long to wait before looking again. */
  #msUntilDue(): number {
    this.#woken = false;
    const stats = this.#queue.stats();
    if (stats.events === 0) {
      this.#pendingSince = null;
      return this.#pollIntervalMs;
    }
    if (stats.bySeverity.high + stats.bySeverity.critical > 0) return 0;
    if (stats.bytes >= this.#batchMaxBytes) return 0;
    const now = this.#clock.now();
    this.#pendingSince ??= now;
    const dueAt = Math.min(
      (stats.oldestTime ?? now) + this.#batchMaxAgeMs,
      this.#pendingSince + this.#batchMaxAgeMs,
    );
    return Math.min(Math.max(0, dueAt - now), this.#pollIntervalMs);
  }

  async #sendBatch(): Promise<void> {
    const probing = this.#backoff.failures > 0 || this.#batches === 0;
    const maxBytes = probing ? Math.min(this.#batchMaxBytes, RETRY_BATCH_BYTES) : this.#batchMaxBytes;
    const events = this.#queue.peekBatch({
      maxBytes,
      maxEvents: this.#batchMaxEvents,
      holdInFlight: true,
    });
    if (events.length === 0) return;
    try {
      await this.#upload(events);
    } finally {
      // Acknowledged events are gone; after a failure eviction may take them again while we wait.
      if (this.#queue.isOpen) this.#queue.releaseInFlight();
    }
  }

  async #upload(events: DeviceEvent[]): Promise<void> {
    // Chosen by priority, sent in sequence order as the protocol asks.
    events.sort((a, b) => a.seq - b.seq);
    const floorSeq = this.#queue.floorSeq();
    const batch: EventBatch | CompactEventBatch = this.#compact
      ? encodeCompactBatch(events, floorSeq)
      : { v: 1, floorSeq, events };
    if (this.#bucket !== undefined) {
      const bytes = await wireBytes(batch);
      for (let delay = this.#bucket.delayMs(bytes); delay > 0; delay = this.#bucket.delayMs(bytes)) {
        await this.#sleep(delay, false);
        if (this.#state !== 'running') return;
      }
      this.#bucket.take(bytes);
    }
    let response: { body: unknown };
    try {
      response = await this.#client.post<unknown>('/v1/events', batch);
    } catch (error) {
      // A manager older than protocol v2 refuses the compact batch by its version: it gets v1 from now on.
      if (!this.#compact || !isEdgewardError(error, 'EW_PROTOCOL_VERSION_UNSUPPORTED')) throw error;
      this.#compact = false;
      this.#logger.warn('the manager does not take compact (v2) event batches; sending v1 batches');
      response = await this.#client.post<unknown>('/v1/events', {
        v: 1,
        floorSeq,
        events,
      } satisfies EventBatch);
    }
    const reply = z.safeParse(eventBatchReplySchema, response.body);
    if (!reply.success) {
      throw new EdgewardError(
        'EW_REQUEST_INVALID',
        'the manager answered POST /v1/events without a valid { v: 1, ackedSeq } reply',
        { cause: reply.error },
      );
    }
    const { ackedSeq } = reply.data;
    // After a forced stop the owner may have closed the queue; the batch is then simply sent again.
    if (!this.#queue.isOpen) return;
    const nextSeq = this.#queue.stats().nextSeq;
    if (ackedSeq >= nextSeq) {
      this.#logger.warn(
        { ackedSeq, nextSeq },
        'the manager holds sequence numbers this queue has not reached (was the queue file lost?); numbering jumps past them',
      );
    }
    // The reply means the whole batch is stored, gaps or not; everything up to ackedSeq is too.
    this.#queue.acknowledge(
      ackedSeq,
      events.map((event) => event.seq),
    );
    this.#sent += events.length;
    this.#batches += 1;
    this.#lastAckAt = this.#clock.now();
    this.#ackedSeq = ackedSeq;
  }

  /** Waits `ms`; `stop()` ends the wait, and so does `wake()` when `wakeable`. */
  #sleep(ms: number, wakeable: boolean): Promise<void> {
    if (this.#state !== 'running' || (wakeable && this.#woken)) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#interrupt = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.#interrupt = (byStop) => {
        if (byStop || wakeable) done();
      };
    });
  }
}
