import assert from 'node:assert/strict';
import { appendFile, cp, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { type Inventory, inventoryChanges, inventorySchema, isDriftSection } from '@edgeward/core';
import { collectInventory } from './collect-inventory.ts';

// The fixture trees hold no symlinks: Biome refuses them and not every checkout makes them. A link
// (proc/PID/fd/N, a *.wants or runlevel entry) is a small file holding its target, which is how git
// writes one without symlink support and how RootFs reads one. Tests needing real links make them in
// a temporary copy.
const fixtures = fileURLToPath(new URL('./fixtures/', import.meta.url));
const now = () => 1_717_000_000_000;
const collect = (root: string, extra: { firmwareFile?: string } = {}) =>
  collectInventory({ root, now, procByteOrder: 'LE', ...extra });

const debian: Inventory = {
  collectedAt: 1_717_000_000_000,
  hostname: 'ipc-line3',
  os: {
    id: 'debian',
    name: 'Debian GNU/Linux',
    version: '12 (bookworm)',
    versionId: '12',
    prettyName: 'Debian GNU/Linux 12 (bookworm)',
  },
  kernel: { release: '6.1.0-18-amd64', version: '#1 SMP PREEMPT_DYNAMIC Debian 6.1.76-1 (2024-02-01)' },
  architecture: 'x86_64',
  firmware: {
    source: 'dmi',
    vendor: 'American Megatrends International, LLC.',
    version: '5.19',
    date: '06/12/2023',
    model: 'IPC-400-J6412',
  },
  cpu: { model: 'Intel(R) Celeron(R) J6412 @ 2.00GHz', cores: 2 },
  memory: { totalBytes: 8_024_132 * 1024 },
  uptimeSeconds: 86400.52,
  interfaces: [
    {
      name: 'eth0',
      mac: '00:1b:21:3a:4f:10',
      addresses: ['192.168.10.7/24', 'fe80::21b:21ff:fe3a:4f10/64'],
      up: true,
    },
    { name: 'lo', addresses: ['127.0.0.1/8', '::1/128'], up: true },
  ],
  listeners: [
    { protocol: 'tcp', address: '0.0.0.0', port: 22, process: { pid: 612, name: 'sshd' } },
    { protocol: 'tcp', address: '127.0.0.1', port: 25, process: { pid: 801, name: 'exim4' } },
    { protocol: 'tcp', address: '::1', port: 25, process: { pid: 801, name: 'exim4' } },
    { protocol: 'tcp', address: '::', port: 22, process: { pid: 612, name: 'sshd' } },
    { protocol: 'udp', address: '0.0.0.0', port: 68, process: { pid: 480, name: 'dhclient' } },
    { protocol: 'udp', address: '127.0.0.1', port: 323, process: { pid: 520, name: 'chronyd' } },
    { protocol: 'udp', address: '::1', port: 323, process: { pid: 520, name: 'chronyd' } },
  ],
  connections: {
    established: 3,
    topRemotes: [
      { address: '192.168.10.2', count: 2 },
      { address: '192.168.10.50', count: 1 },
    ],
  },
  packages: [
    { name: 'base-files', version: '12.4+deb12u5', manager: 'dpkg', architecture: 'amd64' },
    { name: 'libc6', version: '2.36-9+deb12u4', manager: 'dpkg', architecture: 'amd64' },
    { name: 'libc6', version: '2.36-9+deb12u4', manager: 'dpkg', architecture: 'i386' },
    { name: 'openssh-server', version: '1:9.2p1-2+deb12u2', manager: 'dpkg', architecture: 'amd64' },
    { name: 'tzdata', version: '2024a-0+deb12u1', manager: 'dpkg', architecture: 'all' },
  ],
  units: [
    { name: 'apt-daily.timer', activeState: 'unknown', enabledState: 'disabled' },
    { name: 'cron.service', activeState: 'unknown', enabledState: 'disabled' },
    { name: 'getty@.service', activeState: 'unknown', enabledState: 'enabled' },
    { name: 'line3-gateway.service', activeState: 'unknown', enabledState: 'enabled' },
    { name: 'ssh.service', activeState: 'unknown', enabledState: 'enabled' },
    { name: 'systemd-journald.service', activeState: 'unknown', enabledState: 'static' },
  ],
  users: [
    { name: 'Debian-exim', uid: 101, gid: 102, home: '/var/spool/exim4', shell: '/usr/sbin/nologin' },
    { name: 'bin', uid: 2, gid: 2, home: '/bin', shell: '/usr/sbin/nologin' },
    { name: 'daemon', uid: 1, gid: 1, home: '/usr/sbin', shell: '/usr/sbin/nologin' },
    { name: 'ops', uid: 1000, gid: 1000, home: '/home/ops', shell: '/bin/bash' },
    { name: 'root', uid: 0, gid: 0, home: '/root', shell: '/bin/bash' },
    { name: 'sshd', uid: 100, gid: 65534, home: '/run/sshd', shell: '/usr/sbin/nologin' },
  ],
  groups: [
    { name: 'Debian-exim', gid: 102, members: [] },
    { name: 'adm', gid: 4, members: ['ops'] },
    { name: 'daemon', gid: 1, members: [] },
    { name: 'ops', gid: 1000, members: [] },
    { name: 'root', gid: 0, members: [] },
    { name: 'sudo', gid: 27, members: ['ops'] },
  ],
  kernelModules: [
    { name: 'e1000e', sizeBytes: 311296 },
    { name: 'ipmi_si', sizeBytes: 86016 },
    { name: 'nf_tables', sizeBytes: 319488 },
  ],
};

const alpine: Inventory = {
  collectedAt: 1_717_000_000_000,
  hostname: 'sensor-gw-12',
  os: {
    id: 'alpine',
    name: 'Alpine Linux',
    version: '3.20.3',
    versionId: '3.20.3',
    prettyName: 'Alpine Linux v3.20',
  },
  kernel: { release: '6.6.31-0-rpi', version: '#1-Alpine SMP PREEMPT Fri May 24 10:13:25 UTC 2024' },
  architecture: 'aarch64',
  firmware: {
    source: 'device-tree',
    vendor: 'raspberrypi',
    version: '2024.04',
    model: 'Raspberry Pi 4 Model B Rev 1.4',
  },
  cpu: { model: 'BCM2835', cores: 4 },
  memory: { totalBytes: 3_884_328 * 1024 },
  uptimeSeconds: 5023.17,
  interfaces: [
    {
      name: 'eth0',
      mac: 'dc:a6:32:0b:7e:21',
      addresses: ['10.20.0.12/24', 'fe80::dea6:32ff:fe0b:7e21/64'],
      up: true,
    },
    { name: 'lo', addresses: ['127.0.0.1/8', '::1/128'], up: true },
    { name: 'wlan0', mac: 'dc:a6:32:0b:7e:22', addresses: [], up: false },
  ],
  listeners: [
    { protocol: 'tcp', address: '0.0.0.0', port: 1883, process: { pid: 455, name: 'mosquitto' } },
    { protocol: 'tcp', address: '0.0.0.0', port: 22, process: { pid: 401, name: 'dropbear' } },
    { protocol: 'tcp', address: '::', port: 1883, process: { pid: 455, name: 'mosquitto' } },
    // ntpd's fd directory cannot be read: the port is known, its process is not.
    { protocol: 'udp', address: '0.0.0.0', port: 123 },
  ],
  connections: {
    established: 4,
    topRemotes: [
      { address: '10.20.0.31', count: 2 },
      { address: '10.20.0.32', count: 1 },
      { address: '10.20.0.33', count: 1 },
    ],
  },
  packages: [
    { name: 'alpine-baselayout', version: '3.6.5-r0', manager: 'apk', architecture: 'aarch64' },
    { name: 'busybox', version: '1.36.1-r29', manager: 'apk', architecture: 'aarch64' },
    { name: 'dropbear', version: '2024.85-r0', manager: 'apk', architecture: 'aarch64' },
    { name: 'mosquitto', version: '2.0.18-r0', manager: 'apk', architecture: 'aarch64' },
    { name: 'musl', version: '1.2.5-r0', manager: 'apk', architecture: 'aarch64' },
  ],
  units: [
    { name: 'chronyd', activeState: 'unknown', enabledState: 'disabled' },
    { name: 'dropbear', activeState: 'unknown', enabledState: 'enabled' },
    { name: 'mosquitto', activeState: 'unknown', enabledState: 'enabled' },
    { name: 'networking', activeState: 'unknown', enabledState: 'enabled' },
  ],
  users: [
    { name: 'bin', uid: 1, gid: 1, home: '/bin', shell: '/sbin/nologin' },
    { name: 'daemon', uid: 2, gid: 2, home: '/sbin', shell: '/sbin/nologin' },
    { name: 'maint', uid: 0, gid: 0, home: '/root', shell: '/bin/sh' },
    { name: 'mosquitto', uid: 100, gid: 101, home: '/var/empty', shell: '/sbin/nologin' },
    { name: 'nobody', uid: 65534, gid: 65534, home: '/', shell: '/sbin/nologin' },
    { name: 'ntp', uid: 123, gid: 123, home: '/var/empty', shell: '/sbin/nologin' },
    { name: 'root', uid: 0, gid: 0, home: '/root', shell: '/bin/sh' },
  ],
  groups: [
    { name: 'bin', gid: 1, members: ['bin', 'daemon', 'root'] },
    { name: 'daemon', gid: 2, members: ['bin', 'daemon', 'root'] },
    { name: 'mosquitto', gid: 101, members: ['mosquitto'] },
    { name: 'nogroup', gid: 65533, members: [] },
    { name: 'ntp', gid: 123, members: ['ntp'] },
    { name: 'root', gid: 0, members: ['root'] },
    { name: 'wheel', gid: 10, members: ['maint', 'root'] },
  ],
  kernelModules: [
    { name: 'brcmfmac', sizeBytes: 335872 },
    { name: 'brcmutil', sizeBytes: 24576 },
    { name: 'cfg80211', sizeBytes: 851968 },
  ],
};

let scratch: string;
before(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'edgeward-inventory-'));
});
after(async () => {
  await rm(scratch, { recursive: true, force: true });
});

async function copyFixture(name: string, as: string): Promise<string> {
  const root = join(scratch, as);
  await cp(join(fixtures, name), root, { recursive: true, verbatimSymlinks: true });
  return root;
}

describe('collectInventory on fixture trees', () => {
  it('reads the Debian-like root: DMI firmware, dpkg with multi-arch, systemd unit files, fd-mapped listeners', async () => {
    const inventory = await collect(join(fixtures, 'debian'));
    assert.deepStrictEqual(inventory, debian);
    assert.deepStrictEqual(inventorySchema.parse(inventory), inventory);
  });

  it('reads the Alpine-like root: device-tree firmware, apk, OpenRC services, a second UID 0 account', async () => {
    const inventory = await collect(join(fixtures, 'alpine'));
    assert.deepStrictEqual(inventory, alpine);
    assert.deepStrictEqual(
      inventory.users.filter((u) => u.uid === 0).map((u) => u.name),
      ['maint', 'root'],
    );
  });

  it('reports a new package, listener, UID 0 user and module and a new BIOS version as drift', async () => {
    const root = await copyFixture('debian', 'changed');
    await appendFile(
      join(root, 'var/lib/dpkg/status'),
      '\nPackage: netcat-traditional\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1.10-47\n',
    );
    await appendFile(
      join(root, 'proc/net/tcp'),
      '   6: 00000000:115C 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 40001 1 0000000000000000 100 0 0 10 0\n',
    );
    // A real symlink this time, as /proc has them.
    await mkdir(join(root, 'proc/9100/fd'), { recursive: true });
    // The thread name says nothing useful; the command line names the program.
    await writeFile(join(root, 'proc/9100/comm'), 'MainThread\n');
    await writeFile(join(root, 'proc/9100/cmdline'), '/usr/bin/nc\0-l\0-p\x004444\0');
    await symlink('socket:[40001]', join(root, 'proc/9100/fd/3'));
    await appendFile(join(root, 'etc/passwd'), 'toor:x:0:0::/root:/bin/sh\n');
    await appendFile(join(root, 'proc/modules'), 'usb_storage 81920 0 - Live 0x0000000000000000\n');
    await writeFile(join(root, 'sys/class/dmi/id/bios_version'), '5.27\n');

    const changes = inventoryChanges(debian, await collect(root));
    assert.deepStrictEqual(changes, [
      {
        section: 'firmware',
        key: 'firmware',
        kind: 'changed',
        before: debian.firmware,
        after: { ...debian.firmware, version: '5.27' },
      },
      {
        section: 'listeners',
        key: 'tcp/0.0.0.0:4444',
        kind: 'added',
        before: null,
        after: { protocol: 'tcp', address: '0.0.0.0', port: 4444, process: { pid: 9100, name: 'nc' } },
      },
      {
        section: 'packages',
        key: 'dpkg/netcat-traditional:amd64',
        kind: 'added',
        before: null,
        after: { name: 'netcat-traditional', version: '1.10-47', manager: 'dpkg', architecture: 'amd64' },
      },
      {
        section: 'users',
        key: 'toor',
        kind: 'added',
        before: null,
        after: { name: 'toor', uid: 0, gid: 0, home: '/root', shell: '/bin/sh' },
      },
      {
        section: 'kernelModules',
        key: 'usb_storage',
        kind: 'added',
        before: null,
        after: { name: 'usb_storage', sizeBytes: 81920 },
      },
    ]);
    assert.ok(changes.every((change) => isDriftSection(change.section)));
  });

  it('takes the firmware from the configured file over DMI, in KEY=value form or as a bare version', async () => {
    const root = await copyFixture('debian', 'firmware-file');
    await mkdir(join(root, 'etc/edgeward'), { recursive: true });
    await writeFile(
      join(root, 'etc/edgeward/firmware'),
      'VENDOR="Acme Controls"\nVERSION=4.2.0\nMODEL=PLC-GW\n',
    );
    const keyed = await collect(root, { firmwareFile: '/etc/edgeward/firmware' });
    assert.deepStrictEqual(keyed.firmware, {
      source: 'file',
      vendor: 'Acme Controls',
      version: '4.2.0',
      model: 'PLC-GW',
    });
    await writeFile(join(root, 'etc/edgeward/firmware'), '4.2.1\n');
    const bare = await collect(root, { firmwareFile: '/etc/edgeward/firmware' });
    assert.deepStrictEqual(bare.firmware, { source: 'file', version: '4.2.1' });
    const missing = await collect(root, { firmwareFile: '/etc/edgeward/absent' });
    assert.equal(missing.firmware.source, 'dmi');
  });

  it('collects the same inventory twice from an unchanged tree', async () => {
    const root = join(fixtures, 'alpine');
    assert.deepStrictEqual(inventoryChanges(await collect(root), await collect(root)), []);
  });
});

describe('collectInventory on missing and broken sources', () => {
  it('returns defaults from an empty root instead of failing', async () => {
    const root = join(scratch, 'empty');
    await mkdir(root);
    assert.deepStrictEqual(await collect(root), {
      collectedAt: 1_717_000_000_000,
      hostname: '',
      os: { id: 'linux', name: 'Linux', version: '', versionId: '', prettyName: 'Linux' },
      kernel: { release: '', version: '' },
      architecture: 'unknown',
      firmware: { source: 'none' },
      cpu: { model: '', cores: 0 },
      memory: { totalBytes: 0 },
      uptimeSeconds: 0,
      interfaces: [],
      listeners: [],
      connections: { established: 0, topRemotes: [] },
      packages: [],
      units: [],
      users: [],
      groups: [],
      kernelModules: [],
    });
  });

  it('skips malformed lines and reports an unreadable source to onSourceError without failing', async () => {
    const root = await copyFixture('alpine', 'broken');
    await rm(join(root, 'etc/passwd'));
    await mkdir(join(root, 'etc/passwd')); // reading a directory fails with EISDIR, not a normal absence
    await writeFile(join(root, 'proc/modules'), 'garbage\n\nloop 40960 0 - Live 0x0\nbad size x\n');
    await writeFile(join(root, 'proc/net/tcp'), 'header\n   0: nonsense\n');
    const errors: string[] = [];
    const inventory = await collectInventory({
      root,
      now,
      procByteOrder: 'LE',
      onSourceError: (source) => errors.push(source),
    });
    assert.deepStrictEqual(inventory.users, []);
    assert.deepStrictEqual(inventory.kernelModules, [{ name: 'loop', sizeBytes: 40960 }]);
    assert.deepStrictEqual(
      inventory.listeners.map((l) => `${l.protocol}/${l.address}:${l.port}`),
      ['tcp/:::1883', 'udp/0.0.0.0:123'],
    );
    assert.deepStrictEqual(errors, ['etc/passwd']);
  });
});

describe('collectInventory on this machine', () => {
  it('returns a plausible inventory of the live root', async () => {
    const inventory = await collectInventory({ now: Date.now });
    assert.deepStrictEqual(inventorySchema.parse(inventory), inventory);
    assert.notEqual(inventory.hostname, '');
    assert.ok(inventory.packages.length > 0, 'at least one package');
    assert.ok(inventory.interfaces.length > 0, 'at least one interface');
    assert.ok(inventory.users.some((u) => u.name === 'root' && u.uid === 0));
    assert.ok(inventory.cpu.cores > 0);
    assert.ok(inventory.memory.totalBytes > 0);
    assert.notEqual(inventory.kernel.release, '');
  });
});
