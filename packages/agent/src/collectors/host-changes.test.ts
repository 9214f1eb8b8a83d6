import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Inventory } from '@edgeward/core';
import {
  hostChangeEvents,
  hostSnapshot,
  type RunningExecutable,
  readRunningExecutables,
} from './host-changes.ts';

const base: Inventory = {
  collectedAt: 1_717_000_000_000,
  hostname: 'gw',
  os: { id: 'debian', name: 'Debian GNU/Linux', version: '12', versionId: '12', prettyName: 'Debian 12' },
  kernel: { release: '6.1.0', version: '#1' },
  architecture: 'x86_64',
  firmware: { source: 'none' },
  cpu: { model: 'cpu', cores: 2 },
  memory: { totalBytes: 1024 },
  uptimeSeconds: 10,
  interfaces: [],
  listeners: [
    { protocol: 'tcp', address: '0.0.0.0', port: 22, process: { pid: 612, name: 'sshd' } },
    { protocol: 'udp', address: '127.0.0.1', port: 323, process: { pid: 520, name: 'chronyd' } },
  ],
  connections: { established: 0, topRemotes: [] },
  packages: [],
  units: [],
  users: [],
  groups: [],
  kernelModules: [{ name: 'e1000e', sizeBytes: 311296 }],
};

const exe = (path: string, pid: number, deleted = false): RunningExecutable => ({ path, pid, deleted });

describe('hostChangeEvents', () => {
  it('reports a new listener, a listener now served by another program and a new kernel module', () => {
    const next: Inventory = {
      ...base,
      collectedAt: 1_717_000_060_000,
      listeners: [
        { protocol: 'tcp', address: '0.0.0.0', port: 22, process: { pid: 9001, name: 'nc' } },
        { protocol: 'tcp', address: '::', port: 4444, process: { pid: 9002, name: 'backdoor' } },
      ],
      kernelModules: [...base.kernelModules, { name: 'diamorphine', sizeBytes: 16384 }],
    };
    const events = hostChangeEvents({
      previousInventory: base,
      inventory: next,
      previousExecutables: undefined,
      executables: [],
    });
    assert.deepEqual(
      events.map((e) => [e.type, e.severity, e.time, e.data]),
      [
        [
          'host.listener_added',
          'medium',
          1_717_000_060_000,
          {
            key: 'tcp/0.0.0.0:22',
            protocol: 'tcp',
            address: '0.0.0.0',
            port: 22,
            process: { pid: 9001, name: 'nc' },
            previousProcess: { pid: 612, name: 'sshd' },
          },
        ],
        [
          'host.listener_added',
          'medium',
          1_717_000_060_000,
          {
            key: 'tcp/[::]:4444',
            protocol: 'tcp',
            address: '::',
            port: 4444,
            process: { pid: 9002, name: 'backdoor' },
          },
        ],
        ['host.module_loaded', 'high', 1_717_000_060_000, { name: 'diamorphine', sizeBytes: 16384 }],
      ],
    );
  });

  it('ignores a restarted daemon that kept its port but got a new pid, and removals', () => {
    const next: Inventory = {
      ...base,
      listeners: [{ protocol: 'tcp', address: '0.0.0.0', port: 22, process: { pid: 7000, name: 'sshd' } }],
      kernelModules: [],
    };
    const events = hostChangeEvents({
      previousInventory: base,
      inventory: next,
      previousExecutables: [],
      executables: [],
    });
    assert.deepEqual(events, []);
  });

  it('reports an executable no process ran before, once per path, and flags a deleted binary', () => {
    const events = hostChangeEvents({
      previousInventory: base,
      inventory: base,
      previousExecutables: [exe('/usr/sbin/sshd', 612)],
      executables: [exe('/tmp/.x/miner', 9100, true), exe('/usr/bin/nc', 9001), exe('/usr/sbin/sshd', 612)],
      time: 5,
    });
    assert.deepEqual(
      events.map((e) => [e.type, e.severity, e.time, e.data]),
      [
        ['host.executable_started', 'low', 5, { path: '/tmp/.x/miner', pid: 9100, deleted: true }],
        ['host.executable_started', 'low', 5, { path: '/usr/bin/nc', pid: 9001 }],
      ],
    );
  });

  it('makes the same events from the host snapshot kept of the previous inventory as from the whole of it', () => {
    const previous: Inventory = {
      ...base,
      packages: [{ name: 'openssh-server', version: '1:9.2p1-2', manager: 'dpkg' }],
      units: [{ name: 'ssh.service', activeState: 'active', enabledState: 'enabled' }],
    };
    const next: Inventory = {
      ...base,
      listeners: [...base.listeners, { protocol: 'tcp', address: '::', port: 4444 }],
      packages: [],
      units: [],
      kernelModules: [{ name: 'diamorphine', sizeBytes: 16384 }],
    };
    const input = { inventory: next, previousExecutables: undefined, executables: [], time: 7 };
    const fromSnapshot = hostChangeEvents({ ...input, previousInventory: hostSnapshot(previous) });
    assert.deepEqual(Object.keys(hostSnapshot(previous)).sort(), ['kernelModules', 'listeners']);
    assert.deepEqual(
      fromSnapshot.map((e) => [e.type, e.data]),
      [
        ['host.listener_added', { key: 'tcp/[::]:4444', protocol: 'tcp', address: '::', port: 4444 }],
        ['host.module_loaded', { name: 'diamorphine', sizeBytes: 16384 }],
      ],
    );
    assert.deepEqual(fromSnapshot, hostChangeEvents({ ...input, previousInventory: previous }));
  });

  it('makes no event from a first snapshot: it is the baseline', () => {
    const events = hostChangeEvents({
      previousInventory: undefined,
      inventory: base,
      previousExecutables: undefined,
      executables: [exe('/usr/sbin/sshd', 612)],
    });
    assert.deepEqual(events, []);
  });
});

describe('readRunningExecutables', () => {
  let root: string;
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'edgeward-proc-'));
    const proc = async (pid: string, target?: string, asFile = false) => {
      await mkdir(join(root, 'proc', pid), { recursive: true });
      if (target === undefined) return;
      if (asFile) await writeFile(join(root, 'proc', pid, 'exe'), `${target}\n`);
      else await symlink(target, join(root, 'proc', pid, 'exe'));
    };
    await proc('1', '/usr/lib/systemd/systemd');
    await proc('2'); // a kernel thread: no exe
    await proc('612', '/usr/sbin/sshd');
    await proc('613', '/usr/sbin/sshd');
    await proc('9100', '/tmp/.x/miner (deleted)', true);
    await mkdir(join(root, 'proc', 'sys'), { recursive: true });
  });
  after(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('lists each executable once with its lowest pid, skipping kernel threads and non-process entries', async () => {
    assert.deepEqual(await readRunningExecutables(root), [
      { path: '/tmp/.x/miner', pid: 9100, deleted: true },
      { path: '/usr/lib/systemd/systemd', pid: 1, deleted: false },
      { path: '/usr/sbin/sshd', pid: 612, deleted: false },
    ]);
  });

  it("reads this machine's own processes, itself included", async () => {
    const running = await readRunningExecutables('/');
    assert.ok(running.some((e) => e.pid === process.pid || e.path === process.execPath));
  });
});
