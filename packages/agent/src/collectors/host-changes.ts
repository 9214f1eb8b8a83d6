import { resolve } from 'node:path';
import { type Inventory, inventoryListChanges, type NewDeviceEvent } from '@edgeward/core';
import { createRootFs, type RootFs } from '../inventory/root-fs.ts';
import { securityEvent } from './collector-events.ts';

/** A program some process is running, as /proc/PID/exe names it. */
export interface RunningExecutable {
  readonly path: string;
  /** The lowest pid running it. */
  readonly pid: number;
  /** The file was deleted or replaced since the process started it (`(deleted)` in /proc). */
  readonly deleted: boolean;
}

const deletedSuffix = ' (deleted)';

/**
 * The distinct executables of the running processes, from the /proc/PID/exe links under `root` (`/` by
 * default), sorted by path. Kernel threads have none, and processes of other users are unreadable unless
 * the agent runs as root; both are left out. One readlink per process: cheap enough to run with every
 * inventory.
 */
export async function readRunningExecutables(root: string | RootFs = '/'): Promise<RunningExecutable[]> {
  const fs = typeof root === 'string' ? createRootFs(resolve(root), resolve(root) === '/') : root;
  const byPath = new Map<string, RunningExecutable>();
  for (const entry of await fs.list('proc')) {
    if (!/^\d+$/.test(entry.name)) continue;
    const target = await fs.link(`proc/${entry.name}/exe`);
    if (target === undefined || !target.startsWith('/')) continue;
    const deleted = target.endsWith(deletedSuffix);
    const path = deleted ? target.slice(0, -deletedSuffix.length) : target;
    const pid = Number(entry.name);
    const known = byPath.get(path);
    if (known === undefined || pid < known.pid) byPath.set(path, { path, pid, deleted });
  }
  return [...byPath.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/**
 * The part of an inventory that host-change events compare: listening ports and kernel modules. The
 * agent keeps only this between two collections, not the whole inventory with its packages and units.
 */
export type HostSnapshot = Pick<Inventory, 'listeners' | 'kernelModules'>;

export function hostSnapshot(inventory: HostSnapshot): HostSnapshot {
  return { listeners: inventory.listeners, kernelModules: inventory.kernelModules };
}

export interface HostChangeInput {
  /** The inventory collected before, or its host snapshot; without it (the first collection) nothing is new. */
  readonly previousInventory: HostSnapshot | undefined;
  readonly inventory: HostSnapshot & Pick<Inventory, 'collectedAt'>;
  /** The executables running at the previous collection; without them nothing is new. */
  readonly previousExecutables: readonly RunningExecutable[] | undefined;
  readonly executables: readonly RunningExecutable[];
  /** Device clock for the events, milliseconds since the epoch; defaults to the inventory's `collectedAt`. */
  readonly time?: number | undefined;
}

/**
 * Security events from two snapshots of the host: `host.listener_added` for a port newly listened on (or
 * now served by another program), `host.module_loaded` for a new kernel module, `host.executable_started`
 * for a program no process ran before. A first snapshot is a baseline and makes no event.
 */
export function hostChangeEvents(input: HostChangeInput): NewDeviceEvent[] {
  const time = input.time ?? input.inventory.collectedAt;
  const events: NewDeviceEvent[] = [];
  const previous = input.previousInventory;
  if (previous !== undefined) {
    for (const change of inventoryListChanges('listeners', previous.listeners, input.inventory.listeners)) {
      if (change.kind === 'removed') continue;
      const after = change.after as Inventory['listeners'][number];
      const before = change.before as Inventory['listeners'][number] | null;
      events.push(
        securityEvent('host.listener_added', time, {
          key: change.key,
          protocol: after.protocol,
          address: after.address,
          port: after.port,
          process: after.process,
          previousProcess: before?.process,
        }),
      );
    }
    const modules = inventoryListChanges(
      'kernelModules',
      previous.kernelModules,
      input.inventory.kernelModules,
    );
    for (const change of modules) {
      if (change.kind !== 'added') continue;
      const after = change.after as Inventory['kernelModules'][number];
      events.push(
        securityEvent('host.module_loaded', time, { name: after.name, sizeBytes: after.sizeBytes }),
      );
    }
  }
  if (input.previousExecutables !== undefined) {
    const before = new Set(input.previousExecutables.map((e) => e.path));
    for (const executable of input.executables) {
      if (before.has(executable.path)) continue;
      events.push(
        securityEvent('host.executable_started', time, {
          path: executable.path,
          pid: executable.pid,
          deleted: executable.deleted || undefined,
        }),
      );
    }
  }
  return events;
}
