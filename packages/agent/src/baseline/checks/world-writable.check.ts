import type { Stats } from 'node:fs';
import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { type BaselineContext, type CheckOutcome, listSome, outcome, type SpecOf } from '../check-outcome.ts';
import { describeError, statInRoot } from '../root-files.ts';
import { formatMode } from './file.check.ts';

/** Kernel file systems: their entries are not files anyone wrote, and /proc alone holds millions. */
const notSearched = ['/proc', '/sys', '/dev'];
const isNotSearched = (path: string) => notSearched.some((top) => path === top || path.startsWith(`${top}/`));

/**
 * Writable by anyone, which lets any local user change what the system runs or trusts. A sticky
 * directory (/tmp's 1777) is exempt: there, only owners may remove or rename what they made. Symbolic
 * links always show 0777 and are neither judged nor followed.
 */
const isWorldWritable = (stats: Stats) =>
  (stats.mode & 0o002) !== 0 &&
  !stats.isSymbolicLink() &&
  !(stats.isDirectory() && (stats.mode & 0o1000) !== 0);

interface Pending {
  readonly path: string;
  readonly host: string;
}

/** Walks the given trees without following links, and lists what anyone may write, up to `maxFiles` entries. */
export async function evaluateWorldWritable(
  spec: SpecOf<'world-writable'>,
  context: BaselineContext,
): Promise<CheckOutcome> {
  const writable: string[] = [];
  const unreadable: string[] = [];
  const notes: string[] = [];
  let examined = 0;
  let stopped = false;

  walk: for (const start of spec.paths) {
    if (isNotSearched(start)) continue;
    const top = await statInRoot(context.root, start, false);
    if (top.kind === 'missing') continue;
    if (top.kind === 'unreadable') {
      unreadable.push(`${start} (${top.reason})`);
      continue;
    }
    if (top.stats.isSymbolicLink()) {
      // /bin -> usr/bin on a merged /usr: the target is searched under its own name, if listed.
      notes.push(`${start} is a symbolic link and was not followed`);
      continue;
    }
    const stack: Pending[] = [{ path: top.path, host: top.host }];
    while (stack.length > 0) {
      const item = stack.pop()!;
      if (examined >= spec.maxFiles) {
        stopped = true;
        break walk;
      }
      examined++;
      let stats: Stats;
      try {
        stats = await lstat(item.host);
      } catch (error) {
        unreadable.push(`${item.path} (${describeError(error)})`);
        continue;
      }
      if (isWorldWritable(stats)) writable.push(`${item.path} (${formatMode(stats.mode)})`);
      if (!stats.isDirectory()) continue;
      let names: string[];
      try {
        names = (await readdir(item.host)).sort();
      } catch (error) {
        unreadable.push(`${item.path} (${describeError(error)})`);
        continue;
      }
      for (const name of names.reverse()) {
        const path = item.path === '/' ? `/${name}` : `${item.path}/${name}`;
        if (!isNotSearched(path)) stack.push({ path, host: join(item.host, name) });
      }
    }
  }

  if (stopped) notes.push(`stopped after ${spec.maxFiles} entries (maxFiles)`);
  if (unreadable.length > 0) notes.push(`could not read ${listSome(unreadable, 5)}`);
  const suffix = notes.length === 0 ? '' : ` [${notes.join('; ')}]`;
  if (writable.length > 0) return outcome('fail', `world-writable: ${listSome(writable, 20)}${suffix}`);
  if (unreadable.length > 0)
    return outcome('error', `no world-writable entry among ${examined} read${suffix}`);
  return outcome('pass', `no world-writable entry among ${examined} in ${spec.paths.join(', ')}${suffix}`);
}
