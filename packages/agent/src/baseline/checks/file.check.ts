import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { type BaselineContext, type CheckOutcome, outcome, type SpecOf } from '../check-outcome.ts';
import { colonRecords, describeError, readTextInRoot, statInRoot } from '../root-files.ts';

/** Large enough for any configuration file, small enough that a regex search cannot exhaust the agent. */
const maxSearchBytes = 16 * 1024 * 1024;

export const formatMode = (mode: number): string => `0${(mode & 0o7777).toString(8).padStart(3, '0')}`;

/** Names of ids in the root's own account databases (`/etc/passwd` or `/etc/group`). */
export async function accountNames(
  root: string,
  database: '/etc/passwd' | '/etc/group',
): Promise<Map<number, string>> {
  const read = await readTextInRoot(root, database);
  const names = new Map<number, string>();
  if (read.kind !== 'text') return names;
  for (const [name, , id] of colonRecords(read.text)) {
    if (name !== undefined && id !== undefined && /^\d+$/.test(id) && !names.has(Number(id)))
      names.set(Number(id), name);
  }
  return names;
}

async function sha256Of(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Presence, permission bits, ownership and content of one file. */
export async function evaluateFile(spec: SpecOf<'file'>, context: BaselineContext): Promise<CheckOutcome> {
  const found = await statInRoot(context.root, spec.path);
  if (found.kind === 'unreadable') return outcome('error', `cannot inspect ${spec.path}: ${found.reason}`);
  if (!spec.present) {
    return found.kind === 'missing'
      ? outcome('pass', `${spec.path} does not exist`)
      : outcome('fail', `${spec.path} exists and should not`);
  }
  if (found.kind === 'missing') return outcome('fail', `${spec.path} does not exist`);

  const { stats } = found;
  const problems: string[] = [];
  const facts: string[] = [`mode ${formatMode(stats.mode)}`];
  if (spec.maxMode !== undefined) {
    const beyond = stats.mode & 0o7777 & ~Number.parseInt(spec.maxMode, 8);
    if (beyond !== 0) problems.push(`mode ${formatMode(stats.mode)} allows more than ${spec.maxMode}`);
  }
  if (spec.owner !== undefined) {
    const owner = (await accountNames(context.root, '/etc/passwd')).get(stats.uid) ?? String(stats.uid);
    facts.push(`owner ${owner}`);
    if (owner !== spec.owner && String(stats.uid) !== spec.owner)
      problems.push(`owner is ${owner}, expected ${spec.owner}`);
  }
  if (spec.group !== undefined) {
    const group = (await accountNames(context.root, '/etc/group')).get(stats.gid) ?? String(stats.gid);
    facts.push(`group ${group}`);
    if (group !== spec.group && String(stats.gid) !== spec.group)
      problems.push(`group is ${group}, expected ${spec.group}`);
  }
  if (spec.contains !== undefined || spec.notContains !== undefined) {
    if (!stats.isFile())
      return outcome('error', `${spec.path} is not a regular file, so its content cannot be searched`);
    const read = await readTextInRoot(context.root, spec.path, maxSearchBytes);
    if (read.kind !== 'text') {
      return outcome(
        'error',
        `cannot read ${spec.path}: ${read.kind === 'unreadable' ? read.reason : 'it vanished'}`,
      );
    }
    if (spec.contains !== undefined && !new RegExp(spec.contains, 'm').test(read.text)) {
      problems.push(`no line matches /${spec.contains}/`);
    }
    const refused = spec.notContains === undefined ? null : new RegExp(spec.notContains, 'm').exec(read.text);
    if (refused !== null) {
      const line = read.text.slice(0, refused.index).split('\n').length;
      problems.push(`line ${line} matches /${spec.notContains}/`);
    }
  }
  if (spec.sha256 !== undefined) {
    if (!stats.isFile()) return outcome('error', `${spec.path} is not a regular file, so it has no SHA-256`);
    let digest: string;
    try {
      digest = await sha256Of(found.host);
    } catch (error) {
      return outcome('error', `cannot read ${spec.path}: ${describeError(error)}`);
    }
    if (digest !== spec.sha256) problems.push(`SHA-256 is ${digest}, expected ${spec.sha256}`);
  }
  if (problems.length > 0) return outcome('fail', `${spec.path}: ${problems.join('; ')}`);
  return outcome('pass', `${spec.path}: ${facts.join(', ')}`);
}
