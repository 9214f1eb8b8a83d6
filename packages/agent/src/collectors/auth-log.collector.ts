import { createHash } from 'node:crypto';
import { type FSWatcher, watch } from 'node:fs';
import { type FileHandle, open, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { journalEventId, logLineEventId, type NewDeviceEvent } from '@edgeward/core';
import * as z from 'zod/mini';
import { type CommandRunner, execFileRunner } from '../inventory/command-runner.ts';
import { createRootFs, type RootFs } from '../inventory/root-fs.ts';
import { monotonicMs } from '../runtime/monotonic-clock.ts';
import { type AuthFinding, parseAuthMessage, parseSyslogLine, unfoldRepeated } from './auth-log-parser.ts';
import { CoalescingTask } from './coalescing-task.ts';
import {
  type CollectorLog,
  type EmitEvents,
  errorCode,
  ReportedErrors,
  securityEvent,
  silentLog,
} from './collector-events.ts';
import { readJsonFile, writeFileAtomic } from './state-file.ts';

export interface AuthLogCollectorOptions {
  /** Where the collector keeps `auth-log.json`, its read positions. */
  readonly stateDir: string;
  readonly emit: EmitEvents;
  /** The Linux tree to read; `/` (the default) is this machine. */
  readonly root?: string | undefined;
  /** Logs to follow, inside `root`; those that do not exist are skipped. Default auth.log and secure. */
  readonly files?: readonly string[] | undefined;
  /**
   * Where to begin in a file never seen before: at its end (the default: the history before the agent was
   * installed is not news), or at its beginning. A file that appears after the first poll, or replaces a
   * rotated one, is always read from its beginning.
   */
  readonly startAt?: 'end' | 'beginning' | undefined;
  /** Poll period, milliseconds; default 5000. File-change notifications trigger a poll sooner. */
  readonly pollIntervalMs?: number | undefined;
  /**
   * How long a rotated file is still read after its last write, milliseconds (default 30 000): the
   * logger keeps writing to it until it reopens its file.
   */
  readonly rotatedGraceMs?: number | undefined;
  /** React to file-change notifications as well as polling; default true. */
  readonly watch?: boolean | undefined;
  /**
   * The systemd journal: `auto` (the default) reads it when `root` is `/`, journalctl exists and none of
   * the files does (a system that also writes auth.log would report everything twice); `always` whenever
   * this collector runs, `never` not at all. It begins at the journal's end.
   */
  readonly journal?: 'auto' | 'always' | 'never' | undefined;
  /** Runs journalctl; defaults to `child_process.execFile`. */
  readonly runCommand?: CommandRunner | undefined;
  /** Device clock, milliseconds since the epoch. */
  readonly now?: (() => number) | undefined;
  readonly log?: CollectorLog | undefined;
}

const positionSchema = z.object({
  /** st_ino as a decimal string: 64-bit inodes do not fit a JSON number. */
  inode: z.string(),
  /** Bytes consumed: the start of the first line not yet read. */
  offset: z.number(),
  /** `headHash` of the file's first line, `''` until it is complete: recognises a file whose inode was reused. */
  head: z.string(),
});
type Position = z.infer<typeof positionSchema>;

const stateSchema = z.object({
  v: z.literal(1),
  files: z.record(
    z.string(),
    z.object({ current: z.optional(positionSchema), rotated: z.optional(positionSchema) }),
  ),
  journalCursor: z.optional(z.string()),
});
type AuthLogState = z.infer<typeof stateSchema>;
type FollowState = AuthLogState['files'][string];

const stateFileName = 'auth-log.json';
const defaultFiles = ['/var/log/auth.log', '/var/log/secure'];
const readChunkBytes = 64 * 1024;
/** A longer "line" is cut there: a runaway writer must not grow the agent's memory. */
const maxLineBytes = 16 * 1024;
/** Bytes of the first line that identify a file. */
const headBytes = 4096;
/** Events handed to the queue at once; the position is saved after each batch. */
const batchSize = 256;
/** The `line` field keeps this many characters. */
const maxLineChars = 1024;
const journalPageSize = 1000;
/** Pages read in one poll: a backlog is worked off over several polls rather than in one long one. */
const journalMaxPages = 20;
const journalPrograms = ['sshd', 'sshd-session', 'sshd-auth', 'su', 'sudo', 'login', 'dropbear'];
const compressed = /\.(gz|xz|bz2|zst|lz4|lzma|Z|zip)$/;
/** Longest time a position moved over lines without events stays unsaved, milliseconds. */
const lazySaveMs = 60_000;
/** Wait after a change notification before polling, so that a burst of writes makes one poll. */
const watchDelayMs = 100;
/** Processes whose su/sudo outcome was already reported; a session's lines arrive within a few lines. */
const recentProcessLimit = 64;

/** A short hash of a file's first line (at most `headBytes` of it). */
function headHash(firstLine: Buffer): string {
  return createHash('sha256').update(firstLine.subarray(0, headBytes)).digest('hex').slice(0, 16);
}

interface Sibling {
  readonly full: string;
  readonly inode: string;
  readonly size: number;
  readonly mtimeMs: number;
}

/**
 * Follows the authentication logs (auth.log, secure) and, where they are absent, the systemd journal, and
 * emits `auth.login_failed`, `auth.login_succeeded` and `auth.privilege_escalation`.
 *
 * A file's position (inode, offset, hash of its first line) is saved after every batch the queue
 * accepted, so a restart neither skips nor repeats a line; only complete lines are read. Rotation is
 * followed whether the agent was running or not: a renamed file (`auth.log.1`, `secure-20240301`) is
 * found again by its inode and finished from the saved offset before the new file is read; a copied and
 * truncated file is finished from the copy, found by its first line. If the agent crashes after the queue
 * accepted a batch but before the position was saved, those lines are read again; their events then carry
 * the same ids as the first time.
 */
export class AuthLogCollector {
  readonly #options: AuthLogCollectorOptions;
  readonly #root: string;
  readonly #fs: RootFs;
  readonly #files: readonly string[];
  readonly #now: () => number;
  readonly #log: CollectorLog;
  readonly #errors = new ReportedErrors();
  readonly #task = new CoalescingTask(() => this.#pollOnce());
  readonly #recentProcesses: string[] = [];
  #state: AuthLogState = { v: 1, files: {} };
  #loaded = false;
  #useJournal = false;
  #timer: NodeJS.Timeout | undefined;
  #watchTimer: NodeJS.Timeout | undefined;
  #watchers: FSWatcher[] = [];
  #running = false;
  #unsaved = false;
  #savedAt = Number.NEGATIVE_INFINITY;

  constructor(options: AuthLogCollectorOptions) {
    this.#options = options;
    this.#root = resolve(options.root ?? '/');
    this.#fs = createRootFs(this.#root, this.#root === '/');
    this.#files = options.files ?? defaultFiles;
    this.#now = options.now ?? Date.now;
    this.#log = options.log ?? silentLog;
  }

  /** Reads what is new, then keeps polling (and watching) until `stop`. */
  async start(): Promise<void> {
    if (this.#running) return;
    this.#running = true;
    await this.poll();
    if (!this.#running) return;
    this.#timer = setInterval(() => void this.poll(), this.#options.pollIntervalMs ?? 5000);
    this.#timer.unref();
    if (this.#options.watch ?? true) this.#watch();
  }

  /** Stops polling and watching, and waits for a poll in progress to finish. */
  async stop(): Promise<void> {
    this.#running = false;
    if (this.#timer !== undefined) clearInterval(this.#timer);
    if (this.#watchTimer !== undefined) clearTimeout(this.#watchTimer);
    this.#timer = undefined;
    for (const watcher of this.#watchers) watcher.close();
    this.#watchers = [];
    await this.#task.idle();
    if (this.#unsaved) {
      await this.#save().catch((error: unknown) =>
        this.#log.warn({ err: (error as Error).message }, 'cannot save auth log positions'),
      );
    }
  }

  /** Reads every followed source up to its end once; never rejects (failures become events). */
  poll(): Promise<void> {
    return this.#task.run();
  }

  async #pollOnce(): Promise<void> {
    try {
      await this.#load();
      for (const path of this.#files) {
        try {
          await this.#follow(path);
          this.#errors.succeeded(`follow:${path}`);
        } catch (error) {
          await this.#report(`follow:${path}`, 'follow', error, { path });
        }
      }
      if (this.#useJournal) {
        try {
          await this.#pollJournal();
          this.#errors.succeeded('journal');
        } catch (error) {
          await this.#report('journal', 'journal', error);
        }
      }
    } catch (error) {
      await this.#report('poll', 'poll', error);
    }
  }

  async #load(): Promise<void> {
    if (this.#loaded) return;
    const path = join(this.#options.stateDir, stateFileName);
    try {
      const saved = await readJsonFile(path);
      if (saved !== undefined) {
        const parsed = stateSchema.safeParse(saved);
        if (!parsed.success) throw new Error(`${path} does not hold auth log positions; starting over`);
        this.#state = parsed.data;
      }
    } catch (error) {
      // Starting over costs the lines written since the last save; refusing to start costs everything.
      await this.#report('state', 'load_state', error, { path });
    }
    const mode = this.#options.journal ?? 'auto';
    if (mode === 'always') this.#useJournal = true;
    else if (mode === 'auto' && this.#fs.live) {
      const anyFile = await Promise.all(this.#files.map((file) => this.#fs.exists(file)));
      const journalctl =
        (await this.#fs.exists('usr/bin/journalctl')) || (await this.#fs.exists('bin/journalctl'));
      this.#useJournal = journalctl && !anyFile.includes(true);
    }
    this.#loaded = true;
  }

  async #save(): Promise<void> {
    await writeFileAtomic(join(this.#options.stateDir, stateFileName), `${JSON.stringify(this.#state)}\n`);
    this.#unsaved = false;
    this.#savedAt = monotonicMs();
  }

  /**
   * Saves a position that moved over lines without events at most once a minute: reading them again
   * after a crash costs nothing, while a flush every poll would wear a device's flash for no gain.
   */
  async #saveLater(): Promise<void> {
    if (monotonicMs() - this.#savedAt >= lazySaveMs) await this.#save();
    else this.#unsaved = true;
  }

  async #follow(path: string): Promise<void> {
    const known = this.#state.files[path];
    const entry: FollowState = known ?? {};
    if (known === undefined) this.#state.files[path] = entry;
    if (entry.rotated !== undefined) await this.#drainRotated(path, entry, false);

    const full = join(this.#root, path);
    const info = await stat(full, { bigint: true }).catch((error: unknown) => {
      if (errorCode(error) === 'ENOENT') return undefined;
      throw error;
    });
    if (info === undefined || !info.isFile()) {
      // Renamed away and not recreated yet: what is left of it is read as a rotated file.
      const old = entry.current;
      delete entry.current;
      if (old !== undefined) await this.#rotate(path, entry, old, false);
      else if (known === undefined) await this.#save();
      return;
    }
    const inode = info.ino.toString();
    const size = Number(info.size);
    const current = entry.current;
    if (current === undefined) {
      const fromEnd = known === undefined && (this.#options.startAt ?? 'end') === 'end';
      entry.current = {
        inode,
        offset: fromEnd ? await lastLineEnd(full, size) : 0,
        head: await readHead(full),
      };
      await this.#save();
    } else if (current.inode !== inode) {
      entry.current = { inode, offset: 0, head: await readHead(full) };
      await this.#rotate(path, entry, current, false);
    } else if (size < current.offset || (current.head !== '' && (await readHead(full)) !== current.head)) {
      // Copied and truncated in place (logrotate's copytruncate): the rest of the old content is in the copy.
      entry.current = { inode, offset: 0, head: await readHead(full) };
      const copy = await this.#findCopy(path, inode, current);
      if (copy === undefined) {
        await this.#reportLost(path, current);
        await this.#save();
      } else {
        // Nobody writes to the copy: it is read to its very end at once.
        await this.#rotate(path, entry, { ...current, inode: copy.inode }, true);
      }
    }
    const position = entry.current;
    if (position === undefined) return;
    if (position.head === '') position.head = await readHead(full);
    await this.#consume(path, full, position, false);
  }

  /** `old` is no longer the followed file: read it to its end before the new one. */
  async #rotate(path: string, entry: FollowState, old: Position, final: boolean): Promise<void> {
    // Two rotations between polls: the older file is finished first, whatever its age.
    if (entry.rotated !== undefined) await this.#drainRotated(path, entry, true);
    entry.rotated = old;
    await this.#save();
    await this.#drainRotated(path, entry, final);
  }

  /**
   * Reads the rotated file from its saved offset. It is let go once `final`, or once it has not been
   * written for `rotatedGraceMs`; a last line without its newline is then read too, since nothing will
   * complete it.
   */
  async #drainRotated(path: string, entry: FollowState, final: boolean): Promise<void> {
    const position = entry.rotated;
    if (position === undefined) return;
    const file = await this.#findRotated(path, position);
    if (file === undefined) {
      await this.#reportLost(path, position);
      delete entry.rotated;
      await this.#save();
      return;
    }
    const done = final || this.#now() - file.mtimeMs >= (this.#options.rotatedGraceMs ?? 30_000);
    await this.#consume(path, file.full, position, done);
    if (done) {
      delete entry.rotated;
      await this.#save();
    }
  }

  async #reportLost(path: string, position: Position): Promise<void> {
    const error = new Error(
      `the rotated file of ${path} is gone (compressed or deleted): lines written to it after byte ${position.offset} were not read`,
    );
    await this.#report(`rotation:${path}:${position.inode}`, 'rotation', error, { path });
  }

  /** Siblings a rotation may have produced: `auth.log.1`, `secure-20240301`; compressed ones cannot be read. */
  async #siblings(path: string): Promise<Sibling[]> {
    const dir = dirname(path);
    const base = basename(path);
    const found: Sibling[] = [];
    for (const dirent of await this.#fs.list(dir)) {
      const name = dirent.name;
      const separator = name[base.length];
      if (!name.startsWith(base) || (separator !== '.' && separator !== '-') || compressed.test(name))
        continue;
      if (!dirent.isFile()) continue;
      const full = join(this.#root, dir, name);
      const info = await stat(full, { bigint: true }).catch(() => undefined);
      if (info === undefined) continue;
      found.push({
        full,
        inode: info.ino.toString(),
        size: Number(info.size),
        mtimeMs: Number(info.mtimeMs),
      });
    }
    return found;
  }

  async #findRotated(path: string, position: Position): Promise<Sibling | undefined> {
    for (const sibling of await this.#siblings(path)) {
      if (sibling.inode !== position.inode) continue;
      // A reused inode holds another file: the first line tells them apart.
      if (position.head === '' || (await readHead(sibling.full)) === position.head) return sibling;
    }
    return undefined;
  }

  async #findCopy(path: string, inode: string, position: Position): Promise<Sibling | undefined> {
    if (position.head === '') return undefined;
    let best: Sibling | undefined;
    for (const sibling of await this.#siblings(path)) {
      if (sibling.inode === inode || sibling.size < position.offset) continue;
      if ((await readHead(sibling.full)) !== position.head) continue;
      if (best === undefined || sibling.mtimeMs > best.mtimeMs) best = sibling;
    }
    return best;
  }

  /**
   * Reads complete lines from `position.offset` to the end of the file, emitting their events in batches
   * and saving the position after each batch the queue accepted. With `final`, a trailing partial line is
   * read as well.
   */
  async #consume(path: string, full: string, position: Position, final: boolean): Promise<void> {
    let handle: FileHandle;
    try {
      handle = await open(full, 'r');
    } catch (error) {
      if (errorCode(error) === 'ENOENT') return;
      throw error;
    }
    try {
      const info = await handle.stat();
      const reference = Number(info.mtimeMs);
      // Sized to what was appended since the last poll (a few lines, usually) within 4 KiB and one chunk,
      // and dropped after it: an idle collector holds no read buffer.
      const buffer = Buffer.allocUnsafe(
        Math.min(readChunkBytes, Math.max(4096, info.size - position.offset)),
      );
      let events: NewDeviceEvent[] = [];
      let start = position.offset; // file offset of `carry`
      let carry: Buffer = Buffer.alloc(0);
      const commit = async (offset: number): Promise<void> => {
        if (events.length > 0) {
          await this.#options.emit(events);
          events = [];
          position.offset = offset;
          await this.#save();
        } else if (offset !== position.offset) {
          position.offset = offset;
          await this.#saveLater();
        }
      };
      const line = (bytes: Buffer, at: number): void => {
        if (at === 0 && position.head === '') position.head = headHash(bytes);
        const event = this.#lineEvent(path, position.head, at, bytes, reference);
        if (event !== undefined) events.push(event);
      };
      for (;;) {
        const { bytesRead } = await handle.read(buffer, 0, buffer.length, start + carry.length);
        if (bytesRead === 0) break;
        const chunk = buffer.subarray(0, bytesRead);
        const data = carry.length === 0 ? chunk : Buffer.concat([carry, chunk]);
        let from = 0;
        for (let newline = data.indexOf(10, from); newline >= 0; newline = data.indexOf(10, from)) {
          line(data.subarray(from, newline), start + from);
          from = newline + 1;
          if (events.length >= batchSize) await commit(start + from);
        }
        start += from;
        // Copied out of the read buffer, which the next read overwrites.
        carry = Buffer.from(data.subarray(from));
        if (carry.length >= maxLineBytes) {
          line(carry, start);
          start += carry.length;
          carry = Buffer.alloc(0);
        }
      }
      if (final && carry.length > 0) {
        line(carry, start);
        start += carry.length;
      }
      await commit(start);
    } finally {
      await handle.close();
    }
  }

  #lineEvent(
    path: string,
    head: string,
    offset: number,
    bytes: Buffer,
    reference: number,
  ): NewDeviceEvent | undefined {
    const text = bytes.toString('utf8').replace(/\r$/, '');
    const record = parseSyslogLine(text, reference);
    if (record === undefined) return undefined;
    const { message, repeat } = unfoldRepeated(record.message);
    const finding = parseAuthMessage(record.program, message);
    if (finding === undefined || !this.#firstForProcess(finding, record.program, record.pid))
      return undefined;
    return authEvent(finding, {
      time: record.time,
      program: record.program,
      pid: record.pid,
      line: text,
      source: path,
      fileHead: head,
      offset,
      repeat,
      // Position and content: a line read again gets its id again, while a new file that begins with the
      // same line as the one it replaced (same head) does not lend its lines the old file's ids by offset.
      id: logLineEventId(path, head, offset, text),
    });
  }

  #firstForProcess(finding: AuthFinding, program: string, pid: number | undefined): boolean {
    if (!finding.onePerProcess || pid === undefined) return true;
    const key = `${program}:${pid}:${finding.type}`;
    if (this.#recentProcesses.includes(key)) return false;
    this.#recentProcesses.push(key);
    if (this.#recentProcesses.length > recentProcessLimit) this.#recentProcesses.shift();
    return true;
  }

  async #pollJournal(): Promise<void> {
    const run = this.#options.runCommand ?? execFileRunner;
    const journalctl = async (args: readonly string[]): Promise<string> => {
      const result = await run('journalctl', ['-o', 'json', '--quiet', '--no-pager', ...args], {
        timeoutMs: 30_000,
      });
      if (result.exitCode !== 0) throw new Error(`journalctl exited with code ${result.exitCode}`);
      return result.stdout;
    };
    if (this.#state.journalCursor === undefined) {
      // The journal's newest entry, whatever its program: reading goes on after it.
      const cursor = journalEntries(await journalctl(['-n', '1'])).at(-1)?.__CURSOR;
      if (typeof cursor !== 'string') return;
      this.#state.journalCursor = cursor;
      await this.#save();
      return;
    }
    for (let page = 0; page < journalMaxPages; page++) {
      const entries = journalEntries(
        await journalctl([
          `--after-cursor=${this.#state.journalCursor}`,
          '-n',
          String(journalPageSize),
          '--output-fields=MESSAGE,SYSLOG_IDENTIFIER,SYSLOG_PID,_COMM,_PID',
          ...journalPrograms.map((program) => `_COMM=${program}`),
        ]),
      );
      const events: NewDeviceEvent[] = [];
      let cursor: string | undefined;
      for (const entry of entries) {
        if (typeof entry.__CURSOR !== 'string') continue;
        cursor = entry.__CURSOR;
        const event = this.#journalEvent(entry, cursor);
        if (event !== undefined) events.push(event);
      }
      if (cursor !== undefined) {
        if (events.length > 0) await this.#options.emit(events);
        this.#state.journalCursor = cursor;
        await (events.length > 0 ? this.#save() : this.#saveLater());
      }
      if (entries.length < journalPageSize) return;
    }
  }

  #journalEvent(entry: Record<string, unknown>, cursor: string): NewDeviceEvent | undefined {
    const text = (value: unknown): string | undefined => {
      if (typeof value === 'string') return value;
      // journalctl prints a field that is not valid UTF-8 as an array of bytes.
      if (Array.isArray(value) && value.every((b) => typeof b === 'number'))
        return Buffer.from(value).toString();
      return undefined;
    };
    const message = text(entry.MESSAGE);
    const program = text(entry.SYSLOG_IDENTIFIER) ?? text(entry._COMM);
    if (message === undefined || program === undefined) return undefined;
    const pidText = text(entry.SYSLOG_PID) ?? text(entry._PID);
    const pid = pidText === undefined || !/^\d+$/.test(pidText) ? undefined : Number(pidText);
    const micros = text(entry.__REALTIME_TIMESTAMP);
    const time =
      micros !== undefined && /^\d+$/.test(micros) ? Math.floor(Number(micros) / 1000) : this.#now();
    const { message: inner, repeat } = unfoldRepeated(message);
    const finding = parseAuthMessage(program, inner);
    if (finding === undefined || !this.#firstForProcess(finding, program, pid)) return undefined;
    return authEvent(finding, {
      time,
      program,
      pid,
      line: message,
      source: 'journal',
      cursor,
      repeat,
      id: journalEventId(cursor),
    });
  }

  #report(
    scope: string,
    operation: string,
    error: unknown,
    extra: Record<string, unknown> = {},
  ): Promise<void> {
    return this.#errors.report({
      collector: 'auth-log',
      scope,
      operation,
      error,
      time: this.#now(),
      extra,
      emit: this.#options.emit,
      log: this.#log,
    });
  }

  #watch(): void {
    const trigger = (): void => {
      if (this.#watchTimer !== undefined || !this.#running) return;
      this.#watchTimer = setTimeout(() => {
        this.#watchTimer = undefined;
        void this.poll();
      }, watchDelayMs);
      this.#watchTimer.unref();
    };
    const byDir = new Map<string, string[]>();
    for (const path of this.#files) {
      const names = byDir.get(dirname(path)) ?? [];
      names.push(basename(path));
      byDir.set(dirname(path), names);
    }
    for (const [dir, names] of byDir) {
      try {
        const watcher = watch(join(this.#root, dir), { persistent: false }, (_event, name) => {
          if (name === null || names.some((base) => name.startsWith(base))) trigger();
        });
        // Polling carries on without it (inotify limits, a directory that went away).
        watcher.on('error', () => {
          watcher.close();
          this.#watchers = this.#watchers.filter((w) => w !== watcher);
        });
        this.#watchers.push(watcher);
      } catch {
        // Not watchable here (missing directory, no inotify): polling alone.
      }
    }
  }
}

interface LineContext {
  readonly time: number;
  readonly program: string;
  readonly pid: number | undefined;
  readonly line: string;
  readonly source: string;
  /** A log file's first-line hash and the line's byte offset in it; from these and the line, its id. */
  readonly fileHead?: string;
  readonly offset?: number;
  /** A journal entry's cursor, from which its id. */
  readonly cursor?: string;
  readonly repeat: number;
  readonly id: string;
}

function authEvent(finding: AuthFinding, context: LineContext): NewDeviceEvent {
  return securityEvent(
    finding.type,
    context.time,
    {
      user: finding.user,
      targetUser: finding.targetUser,
      sourceAddress: finding.sourceAddress,
      sourcePort: finding.sourcePort,
      method: finding.method,
      tty: finding.tty,
      command: finding.command,
      cwd: finding.cwd,
      reason: finding.reason,
      program: context.program,
      pid: context.pid,
      repeat: context.repeat > 1 ? context.repeat : undefined,
      source: context.source,
      fileHead: context.fileHead,
      offset: context.offset,
      cursor: context.cursor,
      line: context.line.length > maxLineChars ? context.line.slice(0, maxLineChars) : context.line,
    },
    context.id,
  );
}

/** A short hash of the file's first complete line, or `''` while it has none. */
async function readHead(full: string): Promise<string> {
  const handle = await open(full, 'r').catch(() => undefined);
  if (handle === undefined) return '';
  try {
    const buffer = Buffer.alloc(headBytes);
    const { bytesRead } = await handle.read(buffer, 0, headBytes, 0);
    const newline = buffer.subarray(0, bytesRead).indexOf(10);
    if (newline >= 0) return headHash(buffer.subarray(0, newline));
    return bytesRead === headBytes ? headHash(buffer) : '';
  } finally {
    await handle.close();
  }
}

/** The offset just after the file's last newline: where reading starts without cutting a line. */
async function lastLineEnd(full: string, size: number): Promise<number> {
  if (size === 0) return 0;
  const handle = await open(full, 'r');
  try {
    const length = Math.min(size, readChunkBytes);
    const buffer = Buffer.alloc(length);
    const { bytesRead } = await handle.read(buffer, 0, length, size - length);
    const newline = buffer.subarray(0, bytesRead).lastIndexOf(10);
    if (newline >= 0) return size - length + newline + 1;
    return length < size ? size : 0;
  } finally {
    await handle.close();
  }
}

function journalEntries(stdout: string): Record<string, unknown>[] {
  const entries: Record<string, unknown>[] = [];
  for (const line of stdout.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      entries.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      // Not JSON (a torn write, a stray message): skipped rather than stalling every later poll on it.
    }
  }
  return entries;
}
