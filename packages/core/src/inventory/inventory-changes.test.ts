import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Inventory } from './inventory.schema.ts';
import { type InventoryChange, inventoryChanges, isDriftSection } from './inventory-changes.ts';
import { inventoryItemKey } from './inventory-keys.ts';

const base: Inventory = {
  collectedAt: 1_700_000_000_000,
  hostname: 'gw-7',
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
    vendor: 'American Megatrends Inc.',
    version: '5.19',
    date: '06/12/2023',
    model: 'IPC-400',
  },
  cpu: { model: 'Intel(R) Atom(TM) x6425E', cores: 4 },
  memory: { totalBytes: 8_000_000_000 },
  uptimeSeconds: 3600,
  interfaces: [{ name: 'eth0', mac: '00:1b:21:aa:bb:cc', addresses: ['192.168.10.7/24'], up: true }],
  listeners: [{ protocol: 'tcp', address: '0.0.0.0', port: 22, process: { pid: 612, name: 'sshd' } }],
  connections: { established: 1, topRemotes: [{ address: '192.168.10.2', count: 1 }] },
  packages: [
    { name: 'openssh-server', version: '1:9.2p1-2+deb12u2', manager: 'dpkg', architecture: 'amd64' },
  ],
  units: [{ name: 'ssh.service', activeState: 'active', enabledState: 'enabled' }],
  users: [{ name: 'root', uid: 0, gid: 0, home: '/root', shell: '/bin/bash' }],
  groups: [{ name: 'sudo', gid: 27, members: ['ops'] }],
  kernelModules: [{ name: 'e1000e', sizeBytes: 311296 }],
};

function only(changes: InventoryChange[]): InventoryChange {
  assert.equal(changes.length, 1, JSON.stringify(changes));
  return changes[0]!;
}

describe('inventoryChanges', () => {
  it('reports a new listening port as added listener drift', () => {
    const listener = {
      protocol: 'tcp' as const,
      address: '0.0.0.0',
      port: 4444,
      process: { pid: 999, name: 'nc' },
    };
    const change = only(inventoryChanges(base, { ...base, listeners: [...base.listeners, listener] }));
    assert.deepStrictEqual(change, {
      section: 'listeners',
      key: 'tcp/0.0.0.0:4444',
      kind: 'added',
      before: null,
      after: listener,
    });
    assert.ok(isDriftSection(change.section));
  });

  it('reports a listener taken over by another process, but not a restart under a new pid', () => {
    const restarted = {
      ...base,
      listeners: [{ ...base.listeners[0]!, process: { pid: 7001, name: 'sshd' } }],
    };
    assert.deepStrictEqual(inventoryChanges(base, restarted), []);
    const taken = {
      ...base,
      listeners: [{ ...base.listeners[0]!, process: { pid: 7001, name: 'dropbear' } }],
    };
    const change = only(inventoryChanges(base, taken));
    assert.equal(change.kind, 'changed');
    assert.equal(change.key, 'tcp/0.0.0.0:22');
  });

  it('keys IPv6 listeners with the address in brackets', () => {
    assert.equal(
      inventoryItemKey('listeners', { protocol: 'udp', address: '::', port: 546 }),
      'udp/[::]:546',
    );
  });

  it('reports a new package and a package upgrade as package drift keyed by manager, name and architecture', () => {
    const added = {
      name: 'netcat-traditional',
      version: '1.10-47',
      manager: 'dpkg' as const,
      architecture: 'amd64',
    };
    const change = only(inventoryChanges(base, { ...base, packages: [...base.packages, added] }));
    assert.equal(change.key, 'dpkg/netcat-traditional:amd64');
    assert.equal(change.kind, 'added');
    assert.ok(isDriftSection(change.section));
    const upgraded = { ...base, packages: [{ ...base.packages[0]!, version: '1:9.2p1-2+deb12u3' }] };
    const upgrade = only(inventoryChanges(base, upgraded));
    assert.deepStrictEqual([upgrade.kind, upgrade.key], ['changed', 'dpkg/openssh-server:amd64']);
  });

  it('reports a firmware version change as firmware drift with both values', () => {
    const after = { ...base, firmware: { ...base.firmware, version: '5.27' } };
    const change = only(inventoryChanges(base, after));
    assert.deepStrictEqual(change, {
      section: 'firmware',
      key: 'firmware',
      kind: 'changed',
      before: base.firmware,
      after: after.firmware,
    });
    assert.ok(isDriftSection('firmware'));
  });

  it('reports a second UID 0 account as user drift that shows its uid', () => {
    const toor = { name: 'toor', uid: 0, gid: 0, home: '/root', shell: '/bin/sh' };
    const change = only(inventoryChanges(base, { ...base, users: [...base.users, toor] }));
    assert.deepStrictEqual([change.section, change.key, change.kind], ['users', 'toor', 'added']);
    assert.equal((change.after as { uid: number }).uid, 0);
    assert.ok(isDriftSection(change.section));
  });

  it('reports a loaded and an unloaded kernel module as module drift', () => {
    const after = { ...base, kernelModules: [{ name: 'usb_storage', sizeBytes: 81920 }] };
    const changes = inventoryChanges(base, after);
    assert.deepStrictEqual(
      changes.map((c) => [c.section, c.key, c.kind]),
      [
        ['kernelModules', 'e1000e', 'removed'],
        ['kernelModules', 'usb_storage', 'added'],
      ],
    );
    assert.ok(changes.every((c) => isDriftSection(c.section)));
  });

  it('records interface, unit and group changes as history that is not drift', () => {
    const after: Inventory = {
      ...base,
      interfaces: [{ ...base.interfaces[0]!, addresses: ['192.168.10.8/24'] }],
      units: [{ ...base.units[0]!, activeState: 'failed' }],
      groups: [{ ...base.groups[0]!, members: ['ops', 'intruder'] }],
    };
    const changes = inventoryChanges(base, after);
    assert.deepStrictEqual(
      changes.map((c) => [c.section, c.key, c.kind]),
      [
        ['interfaces', 'eth0', 'changed'],
        ['units', 'ssh.service', 'changed'],
        ['groups', 'sudo', 'changed'],
      ],
    );
    assert.ok(changes.every((c) => !isDriftSection(c.section)));
  });

  it('makes no record for uptime, collection time or the connection summary', () => {
    const after = {
      ...base,
      collectedAt: base.collectedAt + 60_000,
      uptimeSeconds: base.uptimeSeconds + 60,
      connections: { established: 40, topRemotes: [{ address: '203.0.113.9', count: 39 }] },
    };
    assert.deepStrictEqual(inventoryChanges(base, after), []);
  });

  it('ignores a change of list order and of group member order', () => {
    const a = { ...base, groups: [...base.groups, { name: 'adm', gid: 4, members: ['b', 'a'] }] };
    const b = { ...base, groups: [{ name: 'adm', gid: 4, members: ['a', 'b'] }, ...base.groups] };
    assert.deepStrictEqual(inventoryChanges(a, b), []);
  });

  it('reports every section and item as added for a first snapshot', () => {
    const changes = inventoryChanges(undefined, base);
    assert.ok(changes.every((c) => c.kind === 'added' && c.before === null));
    assert.deepStrictEqual(
      changes.map((c) => c.key),
      [
        'hostname',
        'os',
        'kernel',
        'architecture',
        'firmware',
        'cpu',
        'memory',
        'eth0',
        'tcp/0.0.0.0:22',
        'dpkg/openssh-server:amd64',
        'ssh.service',
        'root',
        'sudo',
        'e1000e',
      ],
    );
  });

  it('marks only listeners, packages, firmware, users and kernel modules as drift', () => {
    const drift = ['hostname', 'os', 'kernel', 'firmware', 'interfaces', 'listeners', 'packages', 'units']
      .concat(['users', 'groups', 'kernelModules', 'connections'])
      .filter(isDriftSection);
    assert.deepStrictEqual(drift, ['firmware', 'listeners', 'packages', 'users', 'kernelModules']);
  });
});
