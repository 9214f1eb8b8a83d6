import type { Dirent, Stats } from 'node:fs';
import { lstat, open, readdir, readlink, stat } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * File access confined to a device's root directory, for reading checks and for writing remediations.
 * Paths are absolute within the root and resolved as a chroot would: an absolute symbolic link is read
 * from the root, not from this machine. A path that names `..`, and a link that climbs above the root,
 * are refused rather than followed, so that a remediation can never write outside the tree it was
 * given, whatever links the tree holds.
 */

export type Resolution =
  | {
      readonly ok: true /** Where the file is on this machine. */;
      readonly host: string /** Within the root, links followed. */;
      readonly path: string;
    }
  | { readonly ok: false; readonly reason: string };

/** More than Linux's own limit (40), which a tree built to loop would reach. */
const maxLinks = 40;

const errorCode = (error: unknown): string | undefined => {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
};

/** A file that does not exist, as opposed to one that cannot be read. */
export const isMissingError = (error: unknown): boolean => {
  const code = errorCode(error);
  return code === 'ENOENT' || code === 'ENOTDIR';
};

export const describeError = (error: unknown): string => {
  const code = errorCode(error);
  const message = error instanceof Error ? error.message : String(error);
  return code !== undefined && !message.includes(code) ? `${code}: ${message}` : message;
};

/**
 * Resolves `path` under `root`. Components that do not exist yet are kept as written, so the result
 * can name a file about to be created. With `followLast` false a link at the end is not followed (to
 * inspect or replace the link itself).
 */
export async function resolveInRoot(root: string, path: string, followLast = true): Promise<Resolution> {
  if (!path.startsWith('/')) return { ok: false, reason: `${path} is not an absolute path` };
  if (path.includes('\0')) return { ok: false, reason: `${JSON.stringify(path)} contains a NUL byte` };
  const requested = path.split('/').filter((part) => part !== '' && part !== '.');
  if (requested.includes('..')) return { ok: false, reason: `${path} contains "..", which is refused` };
  const host = (parts: readonly string[]) => join(root, ...parts);
  const pending = [...requested];
  let resolved: string[] = [];
  let links = 0;
  let missing = false;
  while (pending.length > 0) {
    const name = pending.shift()!;
    if (name === '' || name === '.') continue;
    if (name === '..') {
      if (resolved.length === 0)
        return { ok: false, reason: `a symbolic link in ${path} leads outside the root` };
      resolved.pop();
      continue;
    }
    const candidate = [...resolved, name];
    if (missing || (pending.length === 0 && !followLast)) {
      resolved = candidate;
      continue;
    }
    let stats: Stats;
    try {
      stats = await lstat(host(candidate));
    } catch (error) {
      if (!isMissingError(error)) {
        return { ok: false, reason: `cannot inspect /${candidate.join('/')}: ${describeError(error)}` };
      }
      missing = true;
      resolved = candidate;
      continue;
    }
    if (!stats.isSymbolicLink()) {
      resolved = candidate;
      continue;
    }
    if (++links > maxLinks) return { ok: false, reason: `too many symbolic links in ${path}` };
    let target: string;
    try {
      target = await readlink(host(candidate));
    } catch (error) {
      return { ok: false, reason: `cannot read the link /${candidate.join('/')}: ${describeError(error)}` };
    }
    if (target.startsWith('/')) resolved = [];
    pending.unshift(...target.split('/'));
  }
  return { ok: true, host: host(resolved), path: `/${resolved.join('/')}` };
}

export type RootText =
  | { readonly kind: 'text'; readonly text: string; readonly path: string }
  | { readonly kind: 'missing'; readonly path: string }
  | { readonly kind: 'unreadable'; readonly path: string; readonly reason: string };

/** Configuration and status files are small; a larger one is refused rather than read into memory. */
export const DEFAULT_MAX_READ_BYTES = 4 * 1024 * 1024;

/** Reads a text file under the root; `path` in the result is after links. */
export async function readTextInRoot(
  root: string,
  path: string,
  maxBytes = DEFAULT_MAX_READ_BYTES,
): Promise<RootText> {
  const resolution = await resolveInRoot(root, path);
  if (!resolution.ok) return { kind: 'unreadable', path, reason: resolution.reason };
  try {
    const handle = await open(resolution.host, 'r');
    try {
      // /proc files report size 0 and are read to their end regardless.
      const { size } = await handle.stat();
      if (size > maxBytes) {
        return { kind: 'unreadable', path: resolution.path, reason: `it is larger than ${maxBytes} bytes` };
      }
      return { kind: 'text', text: await handle.readFile('utf8'), path: resolution.path };
    } finally {
      await handle.close();
    }
  } catch (error) {
    if (isMissingError(error)) return { kind: 'missing', path: resolution.path };
    return { kind: 'unreadable', path: resolution.path, reason: describeError(error) };
  }
}

export type RootStat =
  | { readonly kind: 'found'; readonly stats: Stats; readonly host: string; readonly path: string }
  | { readonly kind: 'missing'; readonly path: string }
  | { readonly kind: 'unreadable'; readonly path: string; readonly reason: string };

export async function statInRoot(root: string, path: string, followLast = true): Promise<RootStat> {
  const resolution = await resolveInRoot(root, path, followLast);
  if (!resolution.ok) return { kind: 'unreadable', path, reason: resolution.reason };
  try {
    const stats = followLast ? await stat(resolution.host) : await lstat(resolution.host);
    return { kind: 'found', stats, host: resolution.host, path: resolution.path };
  } catch (error) {
    if (isMissingError(error)) return { kind: 'missing', path: resolution.path };
    return { kind: 'unreadable', path: resolution.path, reason: describeError(error) };
  }
}

export async function existsInRoot(root: string, path: string): Promise<boolean> {
  return (await statInRoot(root, path, false)).kind === 'found';
}

export type RootListing =
  | { readonly kind: 'found'; readonly entries: Dirent[]; readonly path: string }
  | { readonly kind: 'missing'; readonly path: string }
  | { readonly kind: 'unreadable'; readonly path: string; readonly reason: string };

/** A directory's entries, sorted by name so that every walk visits them in the same order. */
export async function listInRoot(root: string, path: string): Promise<RootListing> {
  const resolution = await resolveInRoot(root, path);
  if (!resolution.ok) return { kind: 'unreadable', path, reason: resolution.reason };
  try {
    const entries = await readdir(resolution.host, { withFileTypes: true });
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    return { kind: 'found', entries, path: resolution.path };
  } catch (error) {
    if (isMissingError(error)) return { kind: 'missing', path: resolution.path };
    return { kind: 'unreadable', path: resolution.path, reason: describeError(error) };
  }
}

/** Lines of a colon-separated account database (passwd, shadow, group), comments and NIS lines left out. */
export function colonRecords(text: string): string[][] {
  return text
    .split('\n')
    .filter((line) => line.trim() !== '' && !/^[#+-]/.test(line))
    .map((line) => line.split(':'));
}
