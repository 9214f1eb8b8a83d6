import type {
  CertificateRecord,
  DeviceEvent,
  DeviceRecord,
  EnrollmentTokenRecord,
  Inventory,
  InventoryChangeRecord,
  OperatorActionRecord,
  OperatorRecord,
} from '@edgeward/core';
import type { Store } from '../store.ts';

/** What each contract suite gets: the engine's name and the store opened for the current test. */
export interface ContractContext {
  readonly engine: 'sqlite' | 'postgres';
  /** The store of the current test, over an empty, migrated database. */
  store(): Store;
  /** Closes the current store and opens the same database again, as a restart does. */
  reopen(): Promise<Store>;
}

export function token(id: string, overrides: Partial<EnrollmentTokenRecord> = {}): EnrollmentTokenRecord {
  return {
    id,
    secretHash: `hash-of-${id}`,
    labels: {},
    createdAt: 1_000,
    createdBy: 'op-admin',
    expiresAt: 100_000,
    usedAt: null,
    usedByDeviceId: null,
    revokedAt: null,
    ...overrides,
  };
}

export function device(id: string, overrides: Partial<DeviceRecord> = {}): DeviceRecord {
  return {
    id,
    name: id,
    labels: {},
    enrolledAt: 1_000,
    enrollmentTokenId: null,
    lastSeenAt: null,
    reportIntervalMs: 60_000,
    agentVersion: '0.1.0',
    inventoryVersion: 0,
    revokedAt: null,
    ...overrides,
  };
}

export function certificate(
  serial: string,
  deviceId: string,
  overrides: Partial<CertificateRecord> = {},
): CertificateRecord {
  return {
    serial,
    deviceId,
    notBefore: 1_000,
    notAfter: 50_000,
    issuedAt: 1_000,
    fingerprint: `fp-${serial}`,
    revokedAt: null,
    ...overrides,
  };
}

export function operator(id: string, overrides: Partial<OperatorRecord> = {}): OperatorRecord {
  return {
    id,
    name: id,
    role: 'operator',
    tokenHash: `token-hash-${id}`,
    createdAt: 1_000,
    createdBy: 'bootstrap',
    revokedAt: null,
    ...overrides,
  };
}

export function action(id: string, overrides: Partial<OperatorActionRecord> = {}): OperatorActionRecord {
  return {
    id,
    at: 1_000,
    operatorId: 'op-1',
    operatorName: 'Ada',
    action: 'devices.revoke',
    target: 'dev-1',
    details: {},
    ...overrides,
  };
}

export function change(
  deviceId: string,
  version: number,
  section: string,
  key: string,
  overrides: Partial<InventoryChangeRecord> = {},
): InventoryChangeRecord {
  return {
    deviceId,
    version,
    receivedAt: version * 1_000 + 5,
    collectedAt: version * 1_000,
    section,
    key,
    kind: 'changed',
    before: { version: '1.0' },
    after: { version: '1.1' },
    ...overrides,
  };
}

export function inventory(hostname: string, packages: Inventory['packages'] = []): Inventory {
  return {
    collectedAt: 1_000,
    hostname,
    os: {
      id: 'debian',
      name: 'Debian GNU/Linux',
      version: '12 (bookworm)',
      versionId: '12',
      prettyName: 'Debian 12',
    },
    kernel: { release: '6.1.0-18-amd64', version: '#1 SMP Debian' },
    architecture: 'x86_64',
    firmware: { source: 'dmi', vendor: 'Acme', version: '1.2.3' },
    cpu: { model: 'Atom', cores: 4 },
    memory: { totalBytes: 4_294_967_296 },
    uptimeSeconds: 3600.5,
    interfaces: [{ name: 'eth0', mac: '00:11:22:33:44:55', addresses: ['10.0.0.5/24'], up: true }],
    listeners: [{ protocol: 'tcp', address: '0.0.0.0', port: 22, process: { pid: 1, name: 'sshd' } }],
    connections: { established: 2, topRemotes: [{ address: '10.0.0.1', count: 2 }] },
    packages,
    units: [],
    users: [{ name: 'root', uid: 0, gid: 0, home: '/root', shell: '/bin/bash' }],
    groups: [{ name: 'root', gid: 0, members: [] }],
    kernelModules: [{ name: 'ext4', sizeBytes: 1_000_000 }],
  };
}

/** Event `seq` of a device: device time 1,000 ms per seq, unless overridden. */
export function event(seq: number, overrides: Partial<DeviceEvent> = {}): DeviceEvent {
  return {
    seq,
    id: `evt-${seq}`,
    type: 'auth.login_failed',
    severity: 'medium',
    time: seq * 1_000,
    data: { user: 'root', source: '10.0.0.9', attempt: seq },
    ...overrides,
  };
}
