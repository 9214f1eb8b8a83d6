import type { Inventory } from '@edgeward/core';

/** A small, fixed inventory for protocol tests that do not care what the device runs. */
export function fixtureInventory(hostname: string): Inventory {
  return {
    collectedAt: Date.now(),
    hostname,
    os: {
      id: 'debian',
      name: 'Debian GNU/Linux',
      version: '12 (bookworm)',
      versionId: '12',
      prettyName: 'Debian GNU/Linux 12 (bookworm)',
    },
    kernel: { release: '6.1.0-18-amd64', version: '#1 SMP PREEMPT_DYNAMIC Debian 6.1.76-1' },
    architecture: 'x86_64',
    firmware: { source: 'dmi', vendor: 'SeaBIOS', version: '1.16.2', date: '04/01/2014' },
    cpu: { model: 'QEMU Virtual CPU', cores: 2 },
    memory: { totalBytes: 2_000_000_000 },
    uptimeSeconds: 100,
    interfaces: [{ name: 'eth0', mac: '52:54:00:12:34:56', addresses: ['10.0.0.5/24'], up: true }],
    listeners: [{ protocol: 'tcp', address: '0.0.0.0', port: 22 }],
    connections: { established: 1, topRemotes: [{ address: '10.0.0.1', count: 1 }] },
    packages: [
      { name: 'openssh-server', version: '1:9.2p1-2', manager: 'dpkg', architecture: 'amd64' },
      { name: 'bash', version: '5.2.15-2', manager: 'dpkg', architecture: 'amd64' },
    ],
    units: [{ name: 'ssh.service', activeState: 'active', enabledState: 'enabled' }],
    users: [
      { name: 'root', uid: 0, gid: 0, home: '/root', shell: '/bin/bash' },
      { name: 'admin', uid: 1000, gid: 1000, home: '/home/admin', shell: '/bin/bash' },
    ],
    groups: [{ name: 'root', gid: 0, members: [] }],
    kernelModules: [{ name: 'ext4', sizeBytes: 1_000_000 }],
  };
}
