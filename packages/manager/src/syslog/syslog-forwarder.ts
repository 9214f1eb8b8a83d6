import { connect as connectTcp, isIP, type Socket } from 'node:net';
import { connect as connectTls } from 'node:tls';
import {
  type Clock,
  EdgewardError,
  encodeOctetCounted,
  formatSyslog5424,
  type SyslogSdElement,
  systemClock,
} from '@edgeward/core';
import type { Store } from '@edgeward/store';
import type { Logger } from 'pino';
import type { SyslogOutTarget } from './syslog-out-url.ts';

/**
 * Syslog out: sends what the manager has to tell a SIEM (today the record of operator actions) as RFC 5424
 * messages over TCP (RFC 6587 octet counting) or TLS (RFC 5425). `forward` formats entries and queues them
 * in the store's outbox, inside the caller's transaction when it passes one, so nothing is told that did
 * not happen and nothing that happened is lost to an outage or a restart. One sender loop drains the
 * outbox in id order, with exponential backoff and jitter while the SIEM is unreachable.
 *
 * RFC 5425 (and RFC 6587) have no application acknowledgement: a write is complete once the socket's write
 * callback fired, i.e. the operating system took the bytes, and whatever still sat in its buffers when a
 * connection died is gone without a trace; the error may surface only several writes later. So what was
 * written stays in the outbox (the resend window) for `resendWindowMs`, the last batch until the next one
 * is written, and every new connection starts with the window, after a restart too (even a clean close
 * proves nothing: the SIEM's FIN may have crossed our last writes). The SIEM may see entries twice
 * (counted in `stats.resent`; each audit entry carries its action id) rather than miss one. A SIEM host
 * that vanishes without a reset can outlast the window (TCP retries for minutes): no plain syslog
 * transport rules that out.
 *
 * Several manager replicas on one PostgreSQL database each run a sender; the SIEM then receives each
 * message once per replica.
 */

/** One thing to tell the SIEM. */
export interface SyslogOutEntry {
  /** When it happened, ms since the epoch: the message's TIMESTAMP. */
  readonly at: number;
  /** 0–23; default 4 (auth: security and authorization messages). */
  readonly facility?: number;
  /** 0–7; default 5 (notice). */
  readonly severity?: number;
  /** MSGID: the kind of entry, e.g. `audit`. */
  readonly msgId: string;
  readonly structuredData?: readonly SyslogSdElement[];
  /** A readable sentence. */
  readonly message: string;
}

export interface SyslogForwarderOptions {
  readonly store: Store;
  readonly target: SyslogOutTarget;
  /** PEM certificates that verify a TLS SIEM's certificate; default the system CAs. */
  readonly caPem?: string;
  /** HOSTNAME of every message. */
  readonly hostname: string;
  /** APP-NAME of every message. */
  readonly appName: string;
  /** PROCID of every message; default none. */
  readonly procId?: string;
  /** Entries kept while the SIEM is unreachable; beyond it the oldest are dropped and reported. */
  readonly maxQueued: number;
  readonly logger: Logger;
  readonly clock?: Clock;
  /** Messages per write (default 200). */
  readonly batchMaxMessages?: number;
  /** First retry delay while the SIEM is unreachable; it doubles per failure (ms; default 1000). */
  readonly minBackoffMs?: number;
  /** Longest retry delay (ms; default 60000). */
  readonly maxBackoffMs?: number;
  /** A connection (TCP and TLS handshake) not up after this long has failed (ms; default 10000). */
  readonly connectTimeoutMs?: number;
  /** A write not handed to the operating system after this long counts as a dead connection (ms; default 30000). */
  readonly writeTimeoutMs?: number;
  /** How often an idle sender looks for entries it was not told about, e.g. queued by another replica (ms; default 1000). */
  readonly pollIntervalMs?: number;
  /** How long written entries stay in the outbox, to go again on a new connection (ms; default 30000). */
  readonly resendWindowMs?: number;
  /** How long `stop` lets a write in flight finish before it drops the connection (ms; default 5000). */
  readonly closeTimeoutMs?: number;
  /** Uniform in [0, 1), for the jitter; default Math.random. */
  readonly random?: () => number;
}

export interface SyslogForwarderStats {
  readonly connected: boolean;
  /** Messages written for the first time (overflow entries included). */
  readonly sent: number;
  /**
   * Messages written again on a new connection (the resend window, also after a restart): the most
   * duplicates the SIEM can have received.
   */
  readonly resent: number;
  /** Entries dropped, oldest first, because more than `maxQueued` waited. */
  readonly dropped: number;
  /** Connections that could not be made, or broke while writing. */
  readonly connectionFailures: number;
  /** Why the last connection failed; undefined before the first failure. */
  readonly lastError: string | undefined;
}

const AUTH_FACILITY = 4;
const NOTICE = 5;
const WARNING = 4;
/** The private enterprise number RFC 5612 reserves for documentation, until Edgeward registers its own. */
export const SYSLOG_SD_ENTERPRISE = '32473';
/** Entries dropped by trimming and not yet reported to the SIEM, kept in `meta` so a restart keeps them. */
const OVERFLOW_KEY = 'syslogOut.overflow';
/** The highest outbox id ever written, kept in `meta` so that resends after a restart are counted as such. */
const WRITTEN_KEY = 'syslogOut.writtenUpto';
/** An unreachable SIEM is logged at warn this often at most; the failures in between at debug. */
const FAILURE_LOG_INTERVAL_MS = 300_000;

interface OverflowState {
  readonly dropped: number;
  /** When the first and last dropped entries were queued; null when unknown. */
  readonly firstAt: number | null;
  readonly lastAt: number | null;
}

interface Batch {
  /** Formatted messages in sending order: the overflow entry, if any, then the outbox rows. */
  readonly messages: string[];
  /** Outbox ids of the rows, ascending; empty when the batch holds only the overflow entry. */
  readonly ids: number[];
  /** The dropped entries the overflow entry of this batch reports. */
  readonly overflowReported: number;
}

/** What the store must learn after a batch was written. */
interface Written {
  /** Rows up to this id are out of the resend window and go (0: none). */
  readonly removeUpto: number;
  readonly writtenUpto: number;
  readonly overflowReported: number;
}

export class SyslogForwarder {
  readonly #store: Store;
  readonly #target: SyslogOutTarget;
  readonly #caPem: string | undefined;
  readonly #hostname: string;
  readonly #appName: string;
  readonly #procId: string | null;
  readonly #maxQueued: number;
  readonly #logger: Logger;
  readonly #clock: Clock;
  readonly #batchMaxMessages: number;
  readonly #minBackoffMs: number;
  readonly #maxBackoffMs: number;
  readonly #connectTimeoutMs: number;
  readonly #writeTimeoutMs: number;
  readonly #pollIntervalMs: number;
  readonly #closeTimeoutMs: number;
  readonly #resendWindowMs: number;
  readonly #random: () => number;
  #socket: Socket | undefined;
  #connecting: Socket | undefined;
  /**
   * The highest outbox id written on the current connection, or 0 when the resend window has to go (again)
   * first: on a new connection, and after one broke.
   */
  #sentUpto = 0;
  /** Batches written on the current connection and still in the outbox (the resend window), oldest first. */
  #window: { readonly lastId: number; readonly writtenAt: number }[] = [];
  /** performance.now() of the last write that carried entries not written before. */
  #lastNewWriteAt = Number.NEGATIVE_INFINITY;
  /** The highest outbox id ever written (`WRITTEN_KEY`). */
  #writtenUpto = 0;
  /** A write the store has not yet heard of (it failed): recorded before anything else. */
  #unrecorded: Written | undefined;
  /** Entries believed queued: counted exactly at start and after a trim, kept up by forward and remove. */
  #queued = 0;
  #failures = 0;
  /** performance.now() before which no connection is attempted. */
  #nextAttemptAt = 0;
  #lastFailureLogAt = Number.NEGATIVE_INFINITY;
  #running: Promise<void> | undefined;
  #stopping = false;
  #woken = false;
  #wakeup: (() => void) | undefined;
  #stats = { sent: 0, resent: 0, dropped: 0, connectionFailures: 0 };
  #lastError: string | undefined;

  constructor(options: SyslogForwarderOptions) {
    this.#store = options.store;
    this.#target = options.target;
    this.#caPem = options.caPem;
    this.#hostname = options.hostname;
    this.#appName = options.appName;
    this.#procId = options.procId ?? null;
    this.#maxQueued = options.maxQueued;
    this.#logger = options.logger;
    this.#clock = options.clock ?? systemClock;
    this.#batchMaxMessages = Math.max(1, options.batchMaxMessages ?? 200);
    this.#minBackoffMs = options.minBackoffMs ?? 1000;
    this.#maxBackoffMs = Math.max(this.#minBackoffMs, options.maxBackoffMs ?? 60_000);
    this.#connectTimeoutMs = options.connectTimeoutMs ?? 10_000;
    this.#writeTimeoutMs = options.writeTimeoutMs ?? 30_000;
    this.#pollIntervalMs = options.pollIntervalMs ?? 1000;
    this.#closeTimeoutMs = options.closeTimeoutMs ?? 5000;
    this.#resendWindowMs = options.resendWindowMs ?? 30_000;
    this.#random = options.random ?? Math.random;
  }

  /** `tcp://HOST:PORT` or `tls://HOST:PORT`, for logs. */
  get url(): string {
    const { transport, host, port } = this.#target;
    return `${transport}://${isIP(host) === 6 ? `[${host}]` : host}:${port}`;
  }

  get stats(): SyslogForwarderStats {
    return { ...this.#stats, connected: this.#socket !== undefined, lastError: this.#lastError };
  }

  /**
   * Formats the entries and queues them for the SIEM, in order. Pass the store of an open transaction to
   * queue them with that transaction's writes; they are sent once it commits. Works whether or not the
   * sender runs: what is queued while it is stopped goes out after the next `start`.
   */
  async forward(entries: readonly SyslogOutEntry[], store: Store = this.#store): Promise<void> {
    if (entries.length === 0) return;
    const createdAt = this.#clock.now();
    await store.syslogOutbox.enqueue(entries.map((entry) => ({ createdAt, message: this.#format(entry) })));
    this.#queued += entries.length;
    // While it waits out a backoff the sender has nothing to do for a new entry, unless there is too much.
    if (performance.now() >= this.#nextAttemptAt || this.#queued > this.#maxQueued) this.#wake();
  }

  /** Starts the sender loop (again after `stop`). */
  start(): void {
    if (this.#running !== undefined) return;
    this.#stopping = false;
    this.#running = this.#run();
  }

  /**
   * Stops the sender: a write in flight may finish (up to `closeTimeoutMs`), then the connection is closed.
   * Entries not sent, and the resend window, stay queued for the next start.
   */
  async stop(): Promise<void> {
    const running = this.#running;
    if (running === undefined) return;
    this.#stopping = true;
    this.#wake();
    this.#connecting?.destroy();
    const timer = setTimeout(() => this.#socket?.destroy(), this.#closeTimeoutMs);
    try {
      await running;
    } finally {
      clearTimeout(timer);
    }
    await this.#closeConnection();
    this.#running = undefined;
  }

  async #run(): Promise<void> {
    let storeFailures = 0;
    let loaded = false;
    while (!this.#stopping) {
      let batch: Batch | undefined;
      try {
        if (!loaded) {
          await this.#load();
          loaded = true;
        }
        if (this.#unrecorded !== undefined) {
          await this.#record(this.#unrecorded);
          this.#unrecorded = undefined;
        }
        await this.#trimIfNeeded();
        const expired = this.#expireWindow();
        if (expired > 0) {
          await this.#record({ removeUpto: expired, writtenUpto: this.#writtenUpto, overflowReported: 0 });
        }
        batch = await this.#nextBatch();
        storeFailures = 0;
      } catch (error) {
        storeFailures += 1;
        this.#logger.error({ err: error }, 'syslog out cannot read or update its outbox; retrying');
        await this.#sleep(this.#backoffMs(storeFailures));
        continue;
      }
      if (batch === undefined) {
        await this.#sleep(this.#pollIntervalMs);
        continue;
      }
      const socket = this.#socket;
      if (socket === undefined) {
        const wait = this.#nextAttemptAt - performance.now();
        if (wait > 0) await this.#sleep(wait);
        else await this.#open();
        // A new connection starts over from the head of the outbox, resend window first.
        continue;
      }
      if (!(await this.#write(socket, batch.messages))) continue;
      const resent = batch.ids.filter((id) => id <= this.#writtenUpto).length;
      this.#stats.resent += resent;
      this.#stats.sent += batch.messages.length - resent;
      if (batch.messages.length > resent) this.#lastNewWriteAt = performance.now();
      this.#failures = 0;
      const lastId = batch.ids.at(-1);
      if (lastId !== undefined) {
        this.#sentUpto = lastId;
        this.#window.push({ lastId, writtenAt: performance.now() });
      }
      const written: Written = {
        removeUpto: this.#expireWindow(),
        writtenUpto: Math.max(lastId ?? 0, this.#writtenUpto),
        overflowReported: batch.overflowReported,
      };
      try {
        await this.#record(written);
      } catch (error) {
        // Already written: retried before the next batch, since the next one must not repeat it.
        this.#unrecorded = written;
        this.#logger.error({ err: error }, 'syslog out cannot record a sent batch in its outbox; retrying');
      }
    }
  }

  /** Reads what the store knows: how many entries wait, and how far earlier runs wrote. */
  async #load(): Promise<void> {
    this.#queued = await this.#store.syslogOutbox.count();
    const written = Number(await this.#store.meta.get(WRITTEN_KEY));
    this.#writtenUpto = Math.max(this.#writtenUpto, Number.isSafeInteger(written) ? written : 0);
  }

  /** The next messages to send on the current connection, or undefined when there are none. */
  async #nextBatch(): Promise<Batch | undefined> {
    const overflow = readOverflow(await this.#store.meta.get(OVERFLOW_KEY));
    // The resend window is still at the head of the outbox: skip what this connection already carried.
    const rows = await this.#store.syslogOutbox.peek(this.#batchMaxMessages, this.#sentUpto);
    if (rows.length === 0 && overflow.dropped === 0) return undefined;
    const messages = rows.map((row) => row.message);
    // The dropped entries were the oldest, so their report goes before everything still queued.
    if (overflow.dropped > 0) messages.unshift(this.#format(this.#overflowEntry(overflow)));
    return { messages, ids: rows.map((row) => row.id), overflowReported: overflow.dropped };
  }

  /**
   * Takes out of the window the batches written more than `resendWindowMs` ago on a connection that is
   * still up, except the last one; returns the id up to which their rows can go (0: none).
   */
  #expireWindow(): number {
    if (this.#socket === undefined) return 0;
    const before = performance.now() - this.#resendWindowMs;
    let upto = 0;
    for (
      let oldest = this.#window[0];
      this.#window.length > 1 && oldest !== undefined && oldest.writtenAt < before;
      oldest = this.#window[0]
    ) {
      upto = oldest.lastId;
      this.#window.shift();
    }
    return upto;
  }

  async #record(written: Written): Promise<void> {
    const removed = await this.#store.transaction(async (tx) => {
      // On PostgreSQL remove() holds the outbox lock until commit, so no trim (of another replica) changes
      // the overflow count between the read and the write below; remove(0) removes nothing but locks too.
      const removed = await tx.syslogOutbox.remove(written.removeUpto);
      if (written.writtenUpto > 0) await tx.meta.set(WRITTEN_KEY, String(written.writtenUpto));
      // The overflow entry is not an outbox row, so it is not resent: it counts as delivered once written.
      if (written.overflowReported > 0) {
        const pending = readOverflow(await tx.meta.get(OVERFLOW_KEY));
        const left = pending.dropped - written.overflowReported;
        // What was dropped after the report was read goes in the next report; when, is no longer known.
        const next: OverflowState =
          left > 0
            ? { dropped: left, firstAt: null, lastAt: pending.lastAt }
            : { dropped: 0, firstAt: null, lastAt: null };
        await tx.meta.set(OVERFLOW_KEY, JSON.stringify(next));
      }
      return removed;
    });
    this.#queued = Math.max(0, this.#queued - removed);
    this.#writtenUpto = written.writtenUpto;
  }

  /**
   * Drops the oldest entries beyond `maxQueued`, counting them for the overflow entry, in one transaction.
   * Rows of the resend window count too, though the SIEM may well have them: the report errs high.
   */
  async #trimIfNeeded(): Promise<void> {
    if (this.#queued <= this.#maxQueued) return;
    const trimmed = await this.#store.transaction(async (tx) => {
      const result = await tx.syslogOutbox.trim(this.#maxQueued);
      if (result.removed > 0) {
        const pending = readOverflow(await tx.meta.get(OVERFLOW_KEY));
        const next: OverflowState = {
          dropped: pending.dropped + result.removed,
          firstAt: pending.dropped > 0 ? pending.firstAt : result.firstCreatedAt,
          lastAt: result.lastCreatedAt,
        };
        await tx.meta.set(OVERFLOW_KEY, JSON.stringify(next));
      }
      return result;
    });
    this.#queued = await this.#store.syslogOutbox.count();
    if (trimmed.removed > 0) {
      this.#stats.dropped += trimmed.removed;
      this.#logger.warn(
        { dropped: trimmed.removed, maxQueued: this.#maxQueued, url: this.url },
        'syslog out outbox overflow: the oldest entries were dropped; the SIEM will receive one entry saying how many',
      );
    }
  }

  #overflowEntry(overflow: OverflowState): SyslogOutEntry {
    const when =
      overflow.firstAt !== null && overflow.lastAt !== null
        ? `; they were queued between ${new Date(overflow.firstAt).toISOString()} and ${new Date(overflow.lastAt).toISOString()}`
        : '';
    const params = [
      { name: 'dropped', value: String(overflow.dropped) },
      { name: 'maxQueued', value: String(this.#maxQueued) },
      ...(overflow.firstAt === null
        ? []
        : [{ name: 'firstAt', value: new Date(overflow.firstAt).toISOString() }]),
      ...(overflow.lastAt === null
        ? []
        : [{ name: 'lastAt', value: new Date(overflow.lastAt).toISOString() }]),
    ];
    return {
      at: this.#clock.now(),
      severity: WARNING,
      msgId: 'overflow',
      structuredData: [{ id: `overflow@${SYSLOG_SD_ENTERPRISE}`, params }],
      message: `outbox overflow: ${overflow.dropped} entries were dropped, the oldest first, because more than ${this.#maxQueued} waited for the SIEM${when}`,
    };
  }

  /** Connects; on failure the next attempt is scheduled. */
  async #open(): Promise<void> {
    let socket: Socket;
    try {
      socket = await this.#connect();
    } catch (error) {
      this.#failed(error);
      return;
    }
    if (this.#stopping) {
      socket.destroy();
      return;
    }
    this.#socket = socket;
    this.#sentUpto = 0;
    this.#window = [];
    socket.setKeepAlive(true, 30_000);
    // A SIEM sends nothing back (RFC 5425 has no replies); reading anyway is how its closing is noticed.
    socket.on('data', () => {});
    socket.on('error', (error) =>
      this.#logger.debug({ err: error, url: this.url }, 'syslog out connection error'),
    );
    socket.on('close', () => {
      if (this.#socket !== socket) return;
      this.#socket = undefined;
      // Whether the SIEM read what came last cannot be told (a clean close proves nothing: its FIN may
      // have crossed our last writes). A connection that ends soon after new entries went out is
      // reopened at once to resend them; otherwise the window waits for the next connection, so that a
      // SIEM closing idle connections does not get the last batch again each time.
      if (performance.now() - this.#lastNewWriteAt < this.#resendWindowMs) {
        this.#sentUpto = 0;
        this.#window = [];
        this.#wake();
      }
    });
    if (this.#failures > 0) {
      this.#logger.info({ url: this.url, failures: this.#failures }, 'syslog out reached the SIEM again');
    } else {
      this.#logger.debug({ url: this.url }, 'syslog out connected');
    }
  }

  #connect(): Promise<Socket> {
    const { transport, host, port } = this.#target;
    return new Promise((resolve, reject) => {
      const socket =
        transport === 'tls'
          ? connectTls({
              host,
              port,
              minVersion: 'TLSv1.2',
              // Without `ca`, Node verifies against its bundled and the system's CAs; always against the name.
              ...(this.#caPem === undefined ? {} : { ca: this.#caPem }),
              // SNI carries DNS names only; an IP address is still checked against the certificate's SAN.
              ...(isIP(host) === 0 ? { servername: host } : {}),
            })
          : connectTcp({ host, port });
      this.#connecting = socket;
      const timer = setTimeout(
        () => socket.destroy(new Error(`no connection within ${this.#connectTimeoutMs} ms`)),
        this.#connectTimeoutMs,
      );
      const cleanUp = () => {
        clearTimeout(timer);
        if (this.#connecting === socket) this.#connecting = undefined;
        socket.off('error', fail);
        socket.off('close', closed);
      };
      const fail = (error: Error) => {
        cleanUp();
        socket.destroy();
        reject(error);
      };
      const closed = () => fail(new Error('the connection closed before it was established'));
      socket.once('error', fail);
      socket.once('close', closed);
      socket.once(transport === 'tls' ? 'secureConnect' : 'connect', () => {
        cleanUp();
        resolve(socket);
      });
    });
  }

  /** Writes the messages as octet-counted frames; false (connection dropped, retry scheduled) on failure. */
  async #write(socket: Socket, messages: readonly string[]): Promise<boolean> {
    try {
      await writeWithin(
        socket,
        Buffer.concat(messages.map((message) => encodeOctetCounted(message))),
        this.#writeTimeoutMs,
      );
      return true;
    } catch (error) {
      if (this.#socket === socket) this.#socket = undefined;
      socket.destroy();
      this.#sentUpto = 0;
      this.#window = [];
      this.#failed(error);
      return false;
    }
  }

  #failed(cause: unknown): void {
    this.#failures += 1;
    this.#stats.connectionFailures += 1;
    const delay = this.#backoffMs(this.#failures);
    this.#nextAttemptAt = performance.now() + delay;
    const reason = cause instanceof Error ? cause.message : String(cause);
    this.#lastError = reason;
    if (this.#stopping) return;
    const error = new EdgewardError(
      'EW_SYSLOG_OUT_UNREACHABLE',
      `syslog out cannot deliver to the SIEM at ${this.url}: ${reason}; entries wait in the outbox and go out once it is reachable`,
      { cause },
    );
    const now = performance.now();
    const fields = { err: error, failures: this.#failures, retryInMs: Math.round(delay) };
    if (this.#failures === 1 || now - this.#lastFailureLogAt >= FAILURE_LOG_INTERVAL_MS) {
      this.#lastFailureLogAt = now;
      this.#logger.warn(fields, 'syslog out: SIEM unreachable');
    } else {
      this.#logger.debug(fields, 'syslog out: SIEM still unreachable');
    }
  }

  /** Doubles per failure from minBackoffMs to maxBackoffMs, then takes 50–100 % of it so that replicas spread out. */
  #backoffMs(failures: number): number {
    const full = Math.min(this.#maxBackoffMs, this.#minBackoffMs * 2 ** Math.min(30, failures - 1));
    return full * (0.5 + 0.5 * this.#random());
  }

  /** Ends the connection, waiting (up to `closeTimeoutMs`) for what was written to leave. */
  async #closeConnection(): Promise<void> {
    const socket = this.#socket;
    this.#socket = undefined;
    if (socket === undefined || socket.destroyed) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => socket.destroy(), this.#closeTimeoutMs);
      socket.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
      socket.end();
    });
  }

  #format(entry: SyslogOutEntry): string {
    return formatSyslog5424({
      facility: entry.facility ?? AUTH_FACILITY,
      severity: entry.severity ?? NOTICE,
      timestamp: entry.at,
      hostname: this.#hostname,
      appName: this.#appName,
      procId: this.#procId,
      msgId: entry.msgId,
      structuredData: entry.structuredData ?? [],
      message: entry.message,
    });
  }

  #wake(): void {
    this.#woken = true;
    const wakeup = this.#wakeup;
    this.#wakeup = undefined;
    wakeup?.();
  }

  /** Waits `ms`, or less when woken (by forward or stop); a wake-up that came while busy ends the next wait at once. */
  #sleep(ms: number): Promise<void> {
    if (this.#woken || this.#stopping) {
      this.#woken = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#wakeup = undefined;
        this.#woken = false;
        resolve();
      };
      const timer = setTimeout(done, ms);
      timer.unref();
      this.#wakeup = done;
    });
  }
}

function readOverflow(text: string | undefined): OverflowState {
  if (text === undefined) return { dropped: 0, firstAt: null, lastAt: null };
  const value = JSON.parse(text) as Partial<OverflowState>;
  return {
    dropped: typeof value.dropped === 'number' ? value.dropped : 0,
    firstAt: typeof value.firstAt === 'number' ? value.firstAt : null,
    lastAt: typeof value.lastAt === 'number' ? value.lastAt : null,
  };
}

/**
 * Resolves once the socket's write callback fired: the bytes are with the operating system, not (yet) with
 * the SIEM. Rejects when the connection closes first or the write does not complete within `timeoutMs`.
 */
function writeWithin(socket: Socket, data: Uint8Array, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const finish = (error?: Error | null) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.off('close', closed);
      if (error) reject(error);
      else resolve();
    };
    const closed = () => finish(new Error('the connection closed before the batch was written'));
    const timer = setTimeout(() => finish(new Error(`the SIEM took no data for ${timeoutMs} ms`)), timeoutMs);
    if (socket.destroyed || !socket.writable) {
      finish(new Error('the connection is closed'));
      return;
    }
    socket.once('close', closed);
    socket.write(data, (error) => finish(error));
  });
}
