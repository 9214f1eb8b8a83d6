import { createHash } from 'node:crypto';
import { constants, type FSWatcher, type Stats, watch } from 'node:fs';
import { lstat, open, readdir, readlink } from 'node:fs/promises';
import { join, posix, relative, resolve } from 'node:path';
import type { NewDeviceEvent } from '@edgeward/core';
import { CoalescingTask } from './coalescing-task.ts';
import {
  type CollectorLog,
  type EmitEvents,
  errorCode,
  ReportedErrors,
  securityEvent,
  silentLog,
} from './collector-events.ts';
import { readLines, writeLinesAtomic } from './state-file.ts';

export interface FimCollectorOptions {
  /** Files and directories (walked recursively) to watch over, inside `root`: `/etc/passwd`, `/etc/ssh`. */
  readonly paths: readonly string[];
  /** Where the collector keeps `fim-baseline.jsonl`, one line per file. */
  readonly stateDir: string;
  readonly emit: EmitEvents;
  /** The Linux tree to read; `/` (the default) is this machine. */
  readonly root?: string | undefined;
  /** Full rescan period, milliseconds; default 600 000 (10 min). */
  readonly rescanIntervalMs?: number | undefined;
  /** Files tracked at most (default 10 000); one `fim.limit_reached` when a scan finds more. */
  readonly maxFiles?: number | undefined;
  /** Rescan soon after a change notification as well as on schedule; default true. */
  readonly watch?: boolean | undefined;
  /** Wait after a change notification before rescanning, milliseconds; default 2000. */
  readonly watchDebounceMs?: number | undefined;
  /** Directories watched at most (shallowest first), default 256; deeper ones rely on the rescan. */
  readonly maxWatchedDirs?: number | undefined;
  /** Device clock, milliseconds since the epoch. */
  readonly now?: (() => number) | undefined;
  readonly log?: CollectorLog | undefined;
}

/** What one scan found. */
export interface FimScanResult {
  readonly files: number;
  /** True when this scan made the first baseline (no events but `fim.baseline`). */
  readonly baseline: boolean;
  readonly created: number;
  readonly modified: number;
  readonly deleted: number;
  readonly permissionsChanged: number;
  readonly limitReached: boolean;
}

interface FileRecord {
  readonly type: 'f' | 'l';
  /** Hex SHA-256 of the content (of the target, for a symlink); `''` when the file could not be read. */
  readonly sha256: string;
  readonly size: number;
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  /** Inode, mtime and ctime: when all three and the size are unchanged, the content is not hashed again. */
  readonly ino: number;
  readonly mtimeMs: number;
  readonly ctimeMs: number;
}

interface BaselineHeader {
  readonly v: 1;
  readonly paths: readonly string[];
  readonly limitReached: boolean;
}

interface Baseline {
  readonly header: BaselineHeader;
  readonly files: Map<string, FileRecord>;
}

const baselineFileName = 'fim-baseline.jsonl';
const hashChunkBytes = 64 * 1024;
const batchSize = 256;

const octal = (mode: number): string => (mode & 0o7777).toString(8).padStart(4, '0');
const isUnder = (path: string, base: string): boolean =>
  path === base || path.startsWith(base === '/' ? '/' : `${base}/`);

function describeRecord(record: FileRecord): Record<string, unknown> {
  return {
    type: record.type === 'l' ? 'symlink' : 'file',
    sha256: record.sha256 === '' ? undefined : record.sha256,
    size: record.size,
    mode: octal(record.mode),
    uid: record.uid,
    gid: record.gid,
  };
}

function encodeRecord(path: string, r: FileRecord): string {
  return JSON.stringify([path, r.type, r.sha256, r.size, r.mode, r.uid, r.gid, r.ino, r.mtimeMs, r.ctimeMs]);
}

function decodeRecord(line: string): [string, FileRecord] | undefined {
  const fields = JSON.parse(line) as unknown;
  if (!Array.isArray(fields) || fields.length !== 10) return undefined;
  const [path, type, sha256, size, mode, uid, gid, ino, mtimeMs, ctimeMs] = fields as unknown[];
  if (typeof path !== 'string' || (type !== 'f' && type !== 'l') || typeof sha256 !== 'string')
    return undefined;
  const numbers = [size, mode, uid, gid, ino, mtimeMs, ctimeMs];
  if (!numbers.every((n) => typeof n === 'number')) return undefined;
  const [s, m, u, g, i, mt, ct] = numbers as number[];
  return [
    path,
    {
      type,
      sha256,
      size: s ?? 0,
      mode: m ?? 0,
      uid: u ?? 0,
      gid: g ?? 0,
      ino: i ?? 0,
      mtimeMs: mt ?? 0,
      ctimeMs: ct ?? 0,
    },
  ];
}

/** State of one scan in progress. */
interface ScanContext {
  readonly previous: Baseline | undefined;
  readonly next: Map<string, FileRecord>;
  /** Directories seen, for the watchers. */
  readonly dirs: string[];
  /** Directories that could not be listed: their files are carried over, not reported deleted. */
  readonly unlisted: string[];
  readonly events: NewDeviceEvent[];
  readonly unreadable: { count: number; first?: string; error?: unknown };
  counts: { created: number; modified: number; deleted: number; permissionsChanged: number };
  /** Files not in the baseline this scan may still take: the limit less what the baseline tracks. */
  room: number;
  limitReached: boolean;
  changed: boolean;
}

/**
 * File integrity monitoring: SHA-256, size, mode, owner and group of every file under the configured
 * paths, compared with a baseline kept in the state directory. The first scan records the baseline and
 * says so in one `fim.baseline` event; later scans report `fim.created`, `fim.modified`, `fim.deleted`
 * and `fim.permissions_changed` with the values before and after, including changes made while the agent
 * was not running. Symlinks are recorded (their target is their content), not followed; the walk stays on
 * the filesystem of each configured path, so `/` does not wander into /proc.
 *
 * A file whose size, inode, mtime and ctime are unchanged is not read again (ctime cannot be set back by
 * a user, unlike mtime), which keeps a rescan of thousands of files to a few milliseconds of stat calls.
 */
export class FimCollector {
  readonly #options: FimCollectorOptions;
  readonly #root: string;
  readonly #paths: readonly string[];
  readonly #maxFiles: number;
  readonly #now: () => number;
  readonly #log: CollectorLog;
  readonly #errors = new ReportedErrors();
  readonly #task = new CoalescingTask(() => this.#scanOnce());
  /** The state directory as seen inside the root, left out of the walk: its baseline changes every scan. */
  readonly #excluded: string | undefined;
  #baseline: Baseline | undefined;
  #loaded = false;
  #lastResult: FimScanResult | undefined;
  #timer: NodeJS.Timeout | undefined;
  #watchTimer: NodeJS.Timeout | undefined;
  #watchers = new Map<string, FSWatcher>();
  #running = false;

  constructor(options: FimCollectorOptions) {
    this.#options = options;
    this.#root = resolve(options.root ?? '/');
    this.#paths = [...new Set(options.paths.map((path) => posix.join('/', path)))].sort();
    this.#maxFiles = options.maxFiles ?? 10_000;
    this.#now = options.now ?? Date.now;
    this.#log = options.log ?? silentLog;
    const state = relative(this.#root, resolve(options.stateDir));
    this.#excluded = state.startsWith('..') ? undefined : posix.join('/', state);
  }

  /** Scans (making the baseline the first time), then rescans on schedule and on change until `stop`. */
  async start(): Promise<void> {
    if (this.#running) return;
    this.#running = true;
    await this.scan();
    if (!this.#running) return;
    this.#timer = setInterval(() => void this.scan(), this.#options.rescanIntervalMs ?? 600_000);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    this.#running = false;
    if (this.#timer !== undefined) clearInterval(this.#timer);
    if (this.#watchTimer !== undefined) clearTimeout(this.#watchTimer);
    this.#timer = undefined;
    this.#watchTimer = undefined;
    for (const watcher of this.#watchers.values()) watcher.close();
    this.#watchers.clear();
    await this.#task.idle();
  }

  /**
   * Compares the tree with the baseline, emits what changed and saves the new baseline. Never rejects:
   * a failure becomes an `agent.collector_error` and the result of the last successful scan is returned.
   */
  async scan(): Promise<FimScanResult | undefined> {
    await this.#task.run();
    return this.#lastResult;
  }

  async #scanOnce(): Promise<void> {
    try {
      await this.#load();
      const previous = this.#baseline;
      const context: ScanContext = {
        previous,
        next: new Map(),
        dirs: [],
        unlisted: [],
        events: [],
        unreadable: { count: 0 },
        counts: { created: 0, modified: 0, deleted: 0, permissionsChanged: 0 },
        room: this.#maxFiles - this.#tracked(previous),
        limitReached: false,
        changed: previous === undefined,
      };
      for (const path of this.#paths) await this.#walk(path, undefined, context);
      const time = this.#now();

      if (previous !== undefined) {
        for (const [path, old] of previous.files) {
          if (context.next.has(path)) continue;
          const configured = this.#paths.some((base) => isUnder(path, base));
          if (configured && context.unlisted.some((dir) => isUnder(path, dir))) {
            context.next.set(path, old);
            continue;
          }
          context.changed = true;
          // A path no longer configured leaves the baseline quietly: it was not deleted.
          if (!configured) continue;
          context.counts.deleted++;
          await this.#push(
            context,
            securityEvent('fim.deleted', time, { path, before: describeRecord(old) }),
          );
        }
      }

      const baseline = previous === undefined;
      if (baseline) {
        context.events.push(
          securityEvent('fim.baseline', time, {
            files: context.next.size,
            paths: this.#paths,
            limitReached: context.limitReached,
          }),
        );
      } else {
        const added = this.#paths.filter((path) => !previous.header.paths.includes(path));
        if (added.length > 0) {
          const files = [...context.next.keys()].filter((p) => added.some((base) => isUnder(p, base))).length;
          context.events.push(
            securityEvent('fim.baseline', time, { files, paths: added, limitReached: context.limitReached }),
          );
        }
      }
      if (context.limitReached && previous?.header.limitReached !== true) {
        context.events.push(
          securityEvent('fim.limit_reached', time, { limit: this.#maxFiles, paths: this.#paths }),
        );
      }
      if (context.unreadable.count > 0) {
        await this.#report('hash', 'hash', context.unreadable.error, {
          path: context.unreadable.first,
          files: context.unreadable.count,
        });
      } else {
        this.#errors.succeeded('hash');
      }
      await this.#flush(context);

      const header: BaselineHeader = { v: 1, paths: this.#paths, limitReached: context.limitReached };
      const headerChanged = JSON.stringify(header) !== JSON.stringify(previous?.header);
      if (context.changed || headerChanged) {
        await this.#saveBaseline({ header, files: context.next });
      }
      this.#baseline = { header, files: context.next };
      this.#lastResult = {
        files: context.next.size,
        baseline,
        ...context.counts,
        limitReached: context.limitReached,
      };
      this.#errors.succeeded('scan');
      if (this.#running && (this.#options.watch ?? true)) this.#reconcileWatches(context.dirs);
    } catch (error) {
      await this.#report('scan', 'scan', error);
    }
  }

  /** Files of the baseline under a path still configured. */
  #tracked(baseline: Baseline | undefined): number {
    let count = 0;
    for (const path of baseline?.files.keys() ?? []) {
      if (this.#paths.some((base) => isUnder(path, base))) count++;
    }
    return count;
  }

  async #walk(path: string, device: number | undefined, context: ScanContext): Promise<void> {
    if (this.#excluded !== undefined && isUnder(path, this.#excluded)) return;
    const full = join(this.#root, path);
    let info: Stats;
    try {
      info = await lstat(full);
    } catch (error) {
      if (errorCode(error) !== 'ENOENT' && errorCode(error) !== 'ENOTDIR')
        this.#unreadable(context, path, error);
      return;
    }
    if (info.isDirectory()) {
      if (device !== undefined && info.dev !== device) return;
      context.dirs.push(path);
      let names: string[];
      try {
        names = (await readdir(full)).sort();
      } catch (error) {
        if (errorCode(error) === 'ENOENT') return;
        context.unlisted.push(path);
        this.#unreadable(context, path, error);
        return;
      }
      for (const name of names) await this.#walk(posix.join(path, name), info.dev, context);
      return;
    }
    if (!info.isFile() && !info.isSymbolicLink()) return;
    if (context.next.has(path)) return;
    const old = context.previous?.files.get(path);
    // Files already in the baseline keep their place, wherever they come in the walk; new ones are
    // taken while there is room, so that a new file never pushes a tracked one out (a false deletion).
    if (old === undefined) {
      if (context.room <= 0) {
        context.limitReached = true;
        return;
      }
      context.room--;
    }
    const record = await this.#record(path, full, info, old, context);
    if (record === undefined) return;
    context.next.set(path, record);
    if (record === old) return;
    context.changed = true;
    await this.#compare(path, old, record, context);
  }

  async #compare(
    path: string,
    old: FileRecord | undefined,
    record: FileRecord,
    context: ScanContext,
  ): Promise<void> {
    const previous = context.previous;
    if (previous === undefined) return;
    const time = this.#now();
    if (old === undefined) {
      // Under a path added to the configuration since the baseline: part of the new baseline, not news.
      if (!previous.header.paths.some((base) => isUnder(path, base))) return;
      context.counts.created++;
      await this.#push(context, securityEvent('fim.created', time, { path, after: describeRecord(record) }));
      return;
    }
    const contentKnown = old.sha256 !== '' && record.sha256 !== '';
    if (old.type !== record.type || (contentKnown && old.sha256 !== record.sha256)) {
      context.counts.modified++;
      const content = (r: FileRecord) => ({
        type: r.type === 'l' ? 'symlink' : 'file',
        sha256: r.sha256 === '' ? undefined : r.sha256,
        size: r.size,
      });
      await this.#push(
        context,
        securityEvent('fim.modified', time, { path, before: content(old), after: content(record) }),
      );
    }
    if (old.mode !== record.mode || old.uid !== record.uid || old.gid !== record.gid) {
      context.counts.permissionsChanged++;
      const access = (r: FileRecord) => ({ mode: octal(r.mode), uid: r.uid, gid: r.gid });
      await this.#push(
        context,
        securityEvent('fim.permissions_changed', time, { path, before: access(old), after: access(record) }),
      );
    }
  }

  /** The file's record: the baseline's own when nothing about it moved, else a fresh one with its hash. */
  async #record(
    path: string,
    full: string,
    info: Stats,
    old: FileRecord | undefined,
    context: ScanContext,
  ): Promise<FileRecord | undefined> {
    const type = info.isSymbolicLink() ? 'l' : 'f';
    if (
      old !== undefined &&
      old.type === type &&
      old.ino === info.ino &&
      old.size === info.size &&
      old.mtimeMs === info.mtimeMs &&
      old.ctimeMs === info.ctimeMs &&
      old.sha256 !== ''
    ) {
      return old;
    }
    const stats = (s: Stats, sha256: string): FileRecord => ({
      type,
      sha256,
      size: s.size,
      mode: s.mode & 0o7777,
      uid: s.uid,
      gid: s.gid,
      ino: s.ino,
      mtimeMs: s.mtimeMs,
      ctimeMs: s.ctimeMs,
    });
    try {
      if (type === 'l') {
        const target = await readlink(full);
        return stats(info, createHash('sha256').update(target).digest('hex'));
      }
      return await this.#hashFile(full, stats);
    } catch (error) {
      if (errorCode(error) === 'ENOENT') return undefined;
      this.#unreadable(context, path, error);
      return stats(info, '');
    }
  }

  /**
   * Hashes in chunks of at most `hashChunkBytes`: memory does not grow with the file. The buffer lives as
   * long as the hash, so that an idle collector holds none.
   */
  async #hashFile(
    full: string,
    record: (s: Stats, sha256: string) => FileRecord,
  ): Promise<FileRecord | undefined> {
    // O_NONBLOCK: a FIFO swapped in since lstat must not hang the scan; O_NOFOLLOW: nor a symlink.
    const handle = await open(full, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    try {
      const info = await handle.stat();
      if (!info.isFile()) return undefined;
      const hash = createHash('sha256');
      const buffer = Buffer.allocUnsafe(Math.min(hashChunkBytes, Math.max(4096, info.size)));
      for (;;) {
        const { bytesRead } = await handle.read(buffer, 0, buffer.length, null);
        if (bytesRead === 0) break;
        hash.update(buffer.subarray(0, bytesRead));
      }
      return record(info, hash.digest('hex'));
    } finally {
      await handle.close();
    }
  }

  #unreadable(context: ScanContext, path: string, error: unknown): void {
    context.unreadable.count++;
    if (context.unreadable.first === undefined) {
      context.unreadable.first = path;
      context.unreadable.error = error;
    }
  }

  async #push(context: ScanContext, event: NewDeviceEvent): Promise<void> {
    context.events.push(event);
    if (context.events.length >= batchSize) await this.#flush(context);
  }

  async #flush(context: ScanContext): Promise<void> {
    if (context.events.length === 0) return;
    await this.#options.emit(context.events.splice(0));
  }

  async #load(): Promise<void> {
    if (this.#loaded) return;
    const path = join(this.#options.stateDir, baselineFileName);
    try {
      const lines = await readLines(path);
      if (lines !== undefined) {
        let header: BaselineHeader | undefined;
        const files = new Map<string, FileRecord>();
        for await (const line of lines) {
          if (line === '') continue;
          if (header === undefined) {
            const parsed = JSON.parse(line) as Partial<BaselineHeader>;
            if (parsed.v !== 1 || !Array.isArray(parsed.paths))
              throw new Error(`${path} is not a FIM baseline`);
            header = { v: 1, paths: parsed.paths, limitReached: parsed.limitReached === true };
            continue;
          }
          const entry = decodeRecord(line);
          if (entry !== undefined) files.set(entry[0], entry[1]);
        }
        if (header !== undefined) this.#baseline = { header, files };
      }
    } catch (error) {
      // A new baseline loses the changes made since the last scan; refusing to scan loses all of them.
      await this.#report('load', 'load_baseline', error, { path });
    }
    this.#loaded = true;
  }

  async #saveBaseline(baseline: Baseline): Promise<void> {
    const { header, files } = baseline;
    function* lines(): Generator<string> {
      yield JSON.stringify(header);
      for (const [path, record] of files) yield encodeRecord(path, record);
    }
    await writeLinesAtomic(join(this.#options.stateDir, baselineFileName), lines());
  }

  #report(
    scope: string,
    operation: string,
    error: unknown,
    extra: Record<string, unknown> = {},
  ): Promise<void> {
    return this.#errors.report({
      collector: 'fim',
      scope,
      operation,
      error,
      time: this.#now(),
      extra,
      emit: this.#options.emit,
      log: this.#log,
    });
  }

  /**
   * Watches the configured paths' directories, shallowest first, up to `maxWatchedDirs`; a configured
   * file is watched through its directory, since editors replace a file rather than write into it.
   */
  #reconcileWatches(dirs: readonly string[]): void {
    const wanted = new Map<string, ReadonlySet<string> | undefined>();
    const depth = (path: string) => path.split('/').length;
    for (const dir of [...dirs].sort((a, b) => depth(a) - depth(b))) {
      if (wanted.size >= (this.#options.maxWatchedDirs ?? 256)) break;
      wanted.set(dir, undefined);
    }
    for (const path of this.#paths) {
      if (dirs.includes(path)) continue;
      const parent = posix.dirname(path);
      if (wanted.has(parent) && wanted.get(parent) === undefined) continue;
      wanted.set(parent, new Set([...(wanted.get(parent) ?? []), posix.basename(path)]));
    }
    for (const [dir, watcher] of this.#watchers) {
      if (!wanted.has(dir)) {
        watcher.close();
        this.#watchers.delete(dir);
      }
    }
    for (const [dir, names] of wanted) {
      if (this.#watchers.has(dir)) continue;
      try {
        const watcher = watch(join(this.#root, dir), { persistent: false }, (_event, name) => {
          if (names === undefined || name === null || names.has(name)) this.#changed();
        });
        watcher.on('error', () => {
          watcher.close();
          this.#watchers.delete(dir);
        });
        this.#watchers.set(dir, watcher);
      } catch {
        // Not watchable (gone, out of inotify watches): the scheduled rescan covers it.
      }
    }
  }

  #changed(): void {
    if (this.#watchTimer !== undefined || !this.#running) return;
    this.#watchTimer = setTimeout(() => {
      this.#watchTimer = undefined;
      void this.scan();
    }, this.#options.watchDebounceMs ?? 2000);
    this.#watchTimer.unref();
  }
}
