import { basename } from 'node:path';
import type { InventoryUnit } from '@edgeward/core';
import type { CommandRunner } from './command-runner.ts';
import type { RootFs } from './root-fs.ts';

/**
 * Unit types worth an inventory: what runs, listens or fires. Devices, mounts, slices, scopes and
 * targets are many, move at every hot-plug, and say little about what a device does.
 */
const unitTypes = ['service', 'socket', 'timer', 'path'] as const;
const unitSuffix = /\.(service|socket|timer|path)$/;

const systemctlTimeoutMs = 15_000;
const unknown = 'unknown';

/**
 * `systemctl list-units` columns: UNIT LOAD ACTIVE SUB DESCRIPTION; failed units carry a bullet. With
 * `--all` it also names units that something refers to but no file defines (`not-found`): left out.
 */
export function parseListUnits(stdout: string): Map<string, string> {
  const states = new Map<string, string>();
  for (const line of stdout.split('\n')) {
    const [name, load, active] = line.replace(/^[\s\u25CF*]+/, '').split(/\s+/);
    if (name === undefined || !unitSuffix.test(name) || active === undefined || load === 'not-found')
      continue;
    states.set(name, active);
  }
  return states;
}

/** `systemctl list-unit-files` columns: UNIT FILE, STATE, and since systemd 245 VENDOR PRESET. */
export function parseListUnitFiles(stdout: string): Map<string, string> {
  const states = new Map<string, string>();
  for (const line of stdout.split('\n')) {
    const [name, state] = line.trim().split(/\s+/);
    if (name !== undefined && unitSuffix.test(name) && state !== undefined) states.set(name, state);
  }
  return states;
}

async function fromSystemctl(run: CommandRunner): Promise<InventoryUnit[] | undefined> {
  const common = ['--no-legend', '--no-pager', '--plain', '--full', `--type=${unitTypes.join(',')}`];
  const options = { timeoutMs: systemctlTimeoutMs };
  const units = await run('systemctl', ['list-units', '--all', ...common], options);
  if (units.exitCode !== 0) return undefined;
  const files = await run('systemctl', ['list-unit-files', ...common], options);
  if (files.exitCode !== 0) return undefined;
  const active = parseListUnits(units.stdout);
  const enabled = parseListUnitFiles(files.stdout);
  const names = new Set([...active.keys(), ...enabled.keys()]);
  // A unit file that is not loaded is inactive: list-units --all shows loaded units only.
  return [...names].map((name) => ({
    name,
    activeState: active.get(name) ?? 'inactive',
    enabledState: enabled.get(name) ?? unknown,
  }));
}

/** Where unit files live, the administrator's first: a unit in etc overrides a vendor one. */
const unitDirs = ['etc/systemd/system', 'usr/lib/systemd/system', 'lib/systemd/system'];

/** `getty@tty1.service` is an instance of the template `getty@.service`. */
function template(name: string): string {
  return name.replace(/@[^.]*\./, '@.');
}

/**
 * Unit states read from files, as systemctl would infer them without a running systemd: masked (linked
 * to /dev/null), enabled (wanted or required from etc/systemd/system), disabled (has an [Install]
 * section), static (has none), linked (a file kept elsewhere). Whether a unit runs cannot be known.
 */
async function fromFiles(fs: RootFs): Promise<InventoryUnit[]> {
  const etc = unitDirs[0]!;
  const wanted = new Set<string>();
  for (const entry of await fs.list(etc)) {
    if (!/\.(wants|requires|upholds)$/.test(entry.name)) continue;
    for (const link of await fs.list(`${etc}/${entry.name}`)) wanted.add(template(link.name));
  }
  const units = new Map<string, InventoryUnit>();
  for (const dir of unitDirs) {
    for (const entry of await fs.list(dir)) {
      const name = entry.name;
      if (units.has(name) || !unitSuffix.test(name) || !(entry.isFile() || entry.isSymbolicLink())) continue;
      const path = `${dir}/${name}`;
      let enabledState: string | undefined;
      if (entry.isSymbolicLink()) {
        const target = (await fs.link(path)) ?? '';
        if (target === '/dev/null') enabledState = 'masked';
        // A link under another name is an alias (dbus-org.….service); its unit is listed as itself.
        else if (basename(target) !== name) continue;
        else if (dir === etc) enabledState = wanted.has(name) ? 'enabled' : 'linked';
      }
      if (enabledState === undefined && wanted.has(template(name))) enabledState = 'enabled';
      if (enabledState === undefined) {
        const text = (await fs.text(path)) ?? '';
        enabledState = /^\s*\[Install\]/m.test(text) ? 'disabled' : 'static';
      }
      units.set(name, { name, activeState: unknown, enabledState });
    }
  }
  return [...units.values()];
}

/**
 * OpenRC (Alpine and other small distributions): each etc/init.d script is a service, enabled when a
 * runlevel links it; run/openrc/started tells which run when this is the live root.
 */
async function fromOpenRc(fs: RootFs): Promise<InventoryUnit[]> {
  const scripts = await fs.list('etc/init.d');
  if (scripts.length === 0) return [];
  const enabled = new Set<string>();
  for (const level of await fs.list('etc/runlevels')) {
    for (const link of await fs.list(`etc/runlevels/${level.name}`)) enabled.add(link.name);
  }
  const booted = await fs.exists('run/openrc');
  const started = new Set((await fs.list('run/openrc/started')).map((entry) => entry.name));
  return scripts
    .filter((entry) => entry.isFile() || entry.isSymbolicLink())
    .map(({ name }) => ({
      name,
      activeState: booted ? (started.has(name) ? 'active' : 'inactive') : unknown,
      enabledState: enabled.has(name) ? 'enabled' : 'disabled',
    }));
}

/**
 * Service units: from systemctl when this is the live root and systemd answers, else from unit files,
 * else from OpenRC scripts.
 */
export async function readUnits(fs: RootFs, run: CommandRunner | undefined): Promise<InventoryUnit[]> {
  if (fs.live && run !== undefined) {
    const units = await fromSystemctl(run).catch(() => undefined);
    if (units !== undefined) return units;
  }
  const units = await fromFiles(fs);
  return units.length > 0 ? units : fromOpenRc(fs);
}
