import { endianness } from 'node:os';
import { resolve } from 'node:path';
import { canonicalizeInventory, type Inventory } from '@edgeward/core';
import { readGroups, readUsers } from './accounts.ts';
import { type CommandRunner, execFileRunner } from './command-runner.ts';
import { type ByteOrder, readInterfaces, readSockets } from './network.ts';
import { readPackages } from './packages.ts';
import { createRootFs, type SourceErrorHandler } from './root-fs.ts';
import {
  readArchitecture,
  readCpu,
  readFirmware,
  readHostname,
  readKernel,
  readKernelModules,
  readMemory,
  readOs,
  readUptimeSeconds,
} from './system.ts';
import { readUnits } from './units.ts';

export interface CollectInventoryOptions {
  /** The Linux tree to read; `/` (the default) is this machine, anything else a mounted or fixture tree. */
  readonly root?: string | undefined;
  /**
   * A `KEY=value` file (VENDOR, VERSION, DATE, MODEL) naming the firmware, for devices whose firmware
   * neither SMBIOS nor the device tree describes. Resolved inside `root`; it wins over both when present.
   */
  readonly firmwareFile?: string | undefined;
  /** Device clock, milliseconds since the epoch: the inventory's `collectedAt`. */
  readonly now: () => number;
  /**
   * Runs `rpm` and `systemctl`, only when `root` is `/`. Defaults to `child_process.execFile`; a test or
   * a hardened deployment passes its own.
   */
  readonly runCommand?: CommandRunner;
  /** Byte order of the kernel that wrote `root`'s /proc/net files; defaults to this machine's. */
  readonly procByteOrder?: ByteOrder;
  /**
   * Told of unexpected read or parse failures (not of missing or forbidden files, which are normal).
   * The section concerned is then empty or default; collection goes on.
   */
  readonly onSourceError?: SourceErrorHandler;
}

/**
 * Reads a device's inventory from a Linux tree. Never throws for what the tree lacks or hides: a source
 * that is missing, unreadable or malformed yields an empty list or a default value. The result is in
 * canonical order (see `canonicalizeInventory`), so two collections of an unchanged device are equal
 * except for the volatile figures.
 */
export async function collectInventory(options: CollectInventoryOptions): Promise<Inventory> {
  const root = resolve(options.root ?? '/');
  const live = root === '/';
  const fs = createRootFs(root, live, options.onSourceError);
  const run = live ? (options.runCommand ?? execFileRunner) : undefined;
  const order = options.procByteOrder ?? endianness();

  async function guard<T>(source: string, read: () => Promise<T>, fallback: T): Promise<T> {
    try {
      return await read();
    } catch (error) {
      options.onSourceError?.(source, error);
      return fallback;
    }
  }

  const [hostname, os, kernel, architecture, firmware, cpu, memory, uptimeSeconds] = await Promise.all([
    guard('hostname', () => readHostname(fs), ''),
    guard('os', () => readOs(fs), {
      id: 'linux',
      name: 'Linux',
      version: '',
      versionId: '',
      prettyName: 'Linux',
    }),
    guard('kernel', () => readKernel(fs), { release: '', version: '' }),
    guard('architecture', () => readArchitecture(fs), 'unknown'),
    guard('firmware', () => readFirmware(fs, options.firmwareFile), { source: 'none' as const }),
    guard('cpu', () => readCpu(fs), { model: '', cores: 0 }),
    guard('memory', () => readMemory(fs), { totalBytes: 0 }),
    guard('uptime', () => readUptimeSeconds(fs), 0),
  ]);
  // Sequential from here: each walks many files, and a small device should not have all of it in flight.
  const interfaces = await guard('interfaces', () => readInterfaces(fs, order), []);
  const sockets = await guard('sockets', () => readSockets(fs, order), {
    listeners: [],
    connections: { established: 0, topRemotes: [] },
  });
  const packages = await guard('packages', () => readPackages(fs, run), []);
  const units = await guard('units', () => readUnits(fs, run), []);
  const users = await guard('users', () => readUsers(fs), []);
  const groups = await guard('groups', () => readGroups(fs), []);
  const kernelModules = await guard('kernelModules', () => readKernelModules(fs), []);

  // A copy: the fields parsed above are slices of whole files (dpkg's status is a megabyte or more), and
  // V8 keeps a file's text alive as long as one slice of it lives; the agent holds its last inventory.
  return structuredClone(
    canonicalizeInventory({
      collectedAt: options.now(),
      hostname,
      os,
      kernel,
      architecture,
      firmware,
      cpu,
      memory,
      uptimeSeconds,
      interfaces,
      listeners: sockets.listeners,
      connections: sockets.connections,
      packages,
      units,
      users,
      groups,
      kernelModules,
    }),
  );
}
