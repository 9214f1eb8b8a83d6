import { chmod, chown, readFile, stat, unlink, writeFile } from 'node:fs/promises';
import type { RemediationAction } from '@edgeward/core';
import { writeFileAtomically } from './atomic-write.ts';
import type { BaselineContext } from './check-outcome.ts';
import { formatMode } from './checks/file.check.ts';
import { sysctlPath } from './checks/sysctl.check.ts';
import {
  colonRecords,
  existsInRoot,
  isMissingError,
  listInRoot,
  readTextInRoot,
  resolveInRoot,
} from './root-files.ts';
import { unitName, usesOpenRc, usesSystemd } from './service-state.ts';

export interface ActionResult {
  readonly ok: boolean;
  /** What was changed, or why nothing could be. */
  readonly detail: string;
}

const done = (detail: string): ActionResult => ({ ok: true, detail });
const refused = (detail: string): ActionResult => ({ ok: false, detail });

/** `set PermitRootLogin no in /etc/ssh/sshd_config`: an action in a few words, for details. */
export function describeAction(action: RemediationAction): string {
  switch (action.type) {
    case 'file-content':
      return `write ${action.path}`;
    case 'file-line':
      return `set "${action.line}" in ${action.path}`;
    case 'chmod':
      return `chmod ${action.mode} ${action.path}`;
    case 'chown':
      return `chown ${[action.owner, action.group].filter((v) => v !== undefined).join(':')} ${action.path}`;
    case 'sysctl':
      return `set ${action.key} = ${action.value}`;
    case 'service':
      return `${action.action} ${action.name}`;
    case 'command':
      return `run ${action.run.join(' ')}`;
  }
}

async function readIfPresent(host: string): Promise<string | undefined> {
  try {
    return await readFile(host, 'utf8');
  } catch (error) {
    if (isMissingError(error)) return undefined;
    throw error;
  }
}

/**
 * Every line matching `match` becomes `line`; with none matching, `line` is appended. The file is
 * created when missing and replaced atomically when changed.
 */
async function setLine(root: string, path: string, match: RegExp, line: string): Promise<ActionResult> {
  const target = await resolveInRoot(root, path);
  if (!target.ok) return refused(target.reason);
  const before = await readIfPresent(target.host);
  const lines = before === undefined || before === '' ? [] : before.replace(/\n$/, '').split('\n');
  let replaced = 0;
  const updated = lines.map((existing) => {
    if (!match.test(existing)) return existing;
    replaced++;
    return line;
  });
  if (replaced === 0) updated.push(line);
  const after = `${updated.join('\n')}\n`;
  if (after === before) return done(`${path} already holds "${line}"`);
  await writeFileAtomically(target.host, after);
  return done(
    replaced === 0
      ? `${before === undefined ? 'created' : 'appended to'} ${path}: "${line}"`
      : `replaced ${replaced} line${replaced === 1 ? '' : 's'} of ${path} with "${line}"`,
  );
}

/** A user or group id by name (or number) from the root's own databases. */
async function idOf(
  root: string,
  database: '/etc/passwd' | '/etc/group',
  name: string,
): Promise<number | undefined> {
  if (/^\d+$/.test(name)) return Number(name);
  const read = await readTextInRoot(root, database);
  if (read.kind !== 'text') return undefined;
  const id = colonRecords(read.text).find(([entry]) => entry === name)?.[2];
  return id !== undefined && /^\d+$/.test(id) ? Number(id) : undefined;
}

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

async function persistSysctl(
  root: string,
  key: string,
  value: string,
  persistFile: string,
): Promise<ActionResult> {
  // sysctl.d accepts either spelling of a key, and a leading `-` that silences errors.
  const spellings = [key, key.replaceAll('.', '/'), key.replaceAll('/', '.')].map(escapeRegExp);
  const match = new RegExp(`^\\s*-?\\s*(${[...new Set(spellings)].join('|')})\\s*=`);
  return setLine(root, persistFile, match, `${key} = ${value}`);
}

async function removeInRoot(root: string, path: string): Promise<boolean> {
  const target = await resolveInRoot(root, path, false);
  if (!target.ok) return false;
  try {
    await unlink(target.host);
    return true;
  } catch (error) {
    if (isMissingError(error)) return false;
    throw error;
  }
}

/** Every `<dir>/<group>/<name>` entry, for *.wants links and runlevel links. */
async function linksNamed(root: string, dir: string, name: string, groups: RegExp): Promise<string[]> {
  const listing = await listInRoot(root, dir);
  if (listing.kind !== 'found') return [];
  const links: string[] = [];
  for (const group of listing.entries) {
    if (groups.test(group.name) && (await existsInRoot(root, `${dir}/${group.name}/${name}`))) {
      links.push(`${dir}/${group.name}/${name}`);
    }
  }
  return links;
}

/**
 * On the live system, systemctl or OpenRC's tools. On any other root, what those tools would change
 * on disk (and what the evaluation reads there): stopping removes the init system's record of the
 * running service, disabling removes the links that start it at boot.
 */
async function changeService(
  action: Extract<RemediationAction, { type: 'service' }>,
  context: BaselineContext,
  timeoutMs: number,
): Promise<ActionResult> {
  const { root } = context;
  const stop = action.action !== 'disable';
  const disable = action.action !== 'stop';
  const unit = unitName(action.name);
  const name = action.name.replace(/\.service$/, '');
  const systemd =
    (await usesSystemd(root)) || (!context.live && (await existsInRoot(root, '/etc/systemd/system')));
  const openRc = (await usesOpenRc(root)) || (!context.live && (await existsInRoot(root, '/etc/runlevels')));
  if (!systemd && !openRc) return refused('neither systemd nor OpenRC manages services here');

  if (context.live) {
    const run = context.run;
    if (run === undefined) return refused('no command runner is available to change the service');
    const commands: string[][] = [];
    if (systemd)
      commands.push([
        'systemctl',
        ...(stop && disable ? ['disable', '--now'] : [stop ? 'stop' : 'disable']),
        unit,
      ]);
    else {
      if (stop) commands.push(['rc-service', name, 'stop']);
      if (disable) {
        for (const link of await linksNamed(root, '/etc/runlevels', name, /.*/)) {
          commands.push(['rc-update', 'del', name, link.split('/')[3]!]);
        }
      }
    }
    for (const [program, ...args] of commands) {
      const result = await run(program!, args, { timeoutMs });
      if (result.exitCode !== 0)
        return refused(`${[program, ...args].join(' ')} exited with ${result.exitCode}`);
    }
    return done(
      commands.length === 0
        ? `${name} was not enabled`
        : `ran ${commands.map((c) => c.join(' ')).join('; ')}`,
    );
  }

  const removed: string[] = [];
  const remove = async (path: string) => {
    if (await removeInRoot(root, path)) removed.push(path);
  };
  if (systemd) {
    if (stop) await remove(`/run/systemd/units/invocation:${unit}`);
    if (disable)
      for (const link of await linksNamed(root, '/etc/systemd/system', unit, /\.(wants|requires)$/))
        await remove(link);
  }
  if (openRc) {
    if (stop) await remove(`/run/openrc/started/${name}`);
    if (disable) for (const link of await linksNamed(root, '/etc/runlevels', name, /.*/)) await remove(link);
  }
  return done(
    removed.length === 0 ? `${action.name} was neither running nor enabled` : `removed ${removed.join(', ')}`,
  );
}

/**
 * Applies one remediation under the context's root. Paths never leave the root (see `resolveInRoot`);
 * programs run only on the live system, each bounded by `timeoutMs`. Failures of the file system
 * propagate as exceptions; a refusal is a result.
 */
export async function applyRemediationAction(
  action: RemediationAction,
  context: BaselineContext,
  timeoutMs: number,
): Promise<ActionResult> {
  const { root } = context;
  switch (action.type) {
    case 'file-content': {
      const target = await resolveInRoot(root, action.path);
      if (!target.ok) return refused(target.reason);
      const before = await readIfPresent(target.host);
      const mode = action.mode === undefined ? undefined : Number.parseInt(action.mode, 8);
      if (
        before === action.content &&
        (mode === undefined || ((await stat(target.host)).mode & 0o7777) === mode)
      ) {
        return done(`${action.path} already has this content`);
      }
      await writeFileAtomically(target.host, action.content, mode === undefined ? {} : { mode });
      return done(`wrote ${action.path} (${Buffer.byteLength(action.content)} bytes)`);
    }
    case 'file-line':
      return setLine(root, action.path, new RegExp(action.match), action.line);
    case 'chmod': {
      const target = await resolveInRoot(root, action.path);
      if (!target.ok) return refused(target.reason);
      const before = await stat(target.host).catch(() => undefined);
      if (before === undefined) return refused(`${action.path} does not exist`);
      await chmod(target.host, Number.parseInt(action.mode, 8));
      return done(`chmod ${action.mode} ${action.path} (was ${formatMode(before.mode)})`);
    }
    case 'chown': {
      const target = await resolveInRoot(root, action.path);
      if (!target.ok) return refused(target.reason);
      const uid = action.owner === undefined ? -1 : await idOf(root, '/etc/passwd', action.owner);
      const gid = action.group === undefined ? -1 : await idOf(root, '/etc/group', action.group);
      if (uid === undefined) return refused(`there is no user ${action.owner} in the root's /etc/passwd`);
      if (gid === undefined) return refused(`there is no group ${action.group} in the root's /etc/group`);
      await chown(target.host, uid, gid);
      return done(describeAction(action));
    }
    case 'sysctl': {
      const procPath = sysctlPath(action.key);
      let runtime: string;
      // A fixture root holds a stand-in for the kernel's file; an offline image has no /proc at all.
      if (context.live || (await existsInRoot(root, procPath))) {
        const target = await resolveInRoot(root, procPath);
        if (!target.ok) return refused(target.reason);
        await writeFile(target.host, `${action.value}\n`);
        runtime = `set ${action.key} = ${action.value}`;
      } else {
        runtime = 'left the running kernel alone (not the live system)';
      }
      const persisted = await persistSysctl(root, action.key, action.value, action.persistFile);
      return { ok: persisted.ok, detail: `${runtime}; ${persisted.detail}` };
    }
    case 'service':
      return changeService(action, context, timeoutMs);
    case 'command': {
      if (!context.live) return refused(`commands run only on the live system, not on the tree at ${root}`);
      if (context.run === undefined) return refused('no command runner is available to run the remediation');
      const [program, ...args] = action.run;
      const result = await context.run(program!, args, { timeoutMs });
      const commandLine = action.run.join(' ');
      return result.exitCode === 0
        ? done(`ran ${commandLine}`)
        : refused(`${commandLine} exited with ${result.exitCode}`);
    }
  }
}
