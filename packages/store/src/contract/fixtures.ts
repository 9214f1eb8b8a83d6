import {
  type CertificateRecord,
  type CheckResult,
  type CompiledPolicy,
  DEFAULT_POLICY_SETTINGS,
  type DeviceEvent,
  type DeviceRecord,
  type EnrollmentTokenRecord,
  generatePolicyKeyPair,
  type Inventory,
  type InventoryChangeRecord,
  type OperatorActionRecord,
  type OperatorRecord,
  policyDigest,
  signPolicyBundle,
} from '@edgeward/core';
import type { AlertRecord, PolicyVersionRecord, SignedPolicyBundle, Store } from '../store.ts';

/** What each contract suite gets: the engine's name and the store opened for the current test. */
export interface ContractContext {
  readonly engine: 'sqlite' | 'postgres';
  /** The store of the current test, over an empty, migrated database. */
  store(): Store;
  /** Closes the current store and opens the same database again, as a restart does. */
  reopen(): Promise<Store>;
  /** A second store on the same database (its own connections), for races between replicas; close it. */
  openAnother(): Promise<Store>;
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

const policyKeys = generatePolicyKeyPair();

/** A small compiled policy; `title` tells versions apart. */
export function compiledPolicy(title = 'SSH refuses root logins'): CompiledPolicy {
  return {
    segments: [{ id: 'gateways', title: 'Field gateways', priority: 50, selector: { function: 'gateway' } }],
    checks: [
      {
        id: 'ssh-no-root-login',
        baseline: 'linux-edge',
        title,
        severity: 'high',
        rationale: 'Root logins bypass per-user accountability.',
        segments: [],
        spec: {
          type: 'sshd',
          setting: 'PermitRootLogin',
          expect: { equals: 'no' },
          configPath: '/etc/ssh/sshd_config',
        },
        remediate: 'manual',
        watch: ['/etc/ssh/sshd_config'],
      },
    ],
    windows: [],
    settings: DEFAULT_POLICY_SETTINGS,
    rules: [],
  };
}

/** A really signed bundle of `policy` as version `version`, issued at `issuedAt`. */
export function signedBundle(
  version: number,
  policy: CompiledPolicy,
  issuedAt = 10_000,
  crlDigest = 'crl-digest-1',
): SignedPolicyBundle {
  return {
    bundle: signPolicyBundle(
      {
        fleet: 'edgeward.local',
        version,
        issuedAt,
        expiresAt: issuedAt + policy.settings.bundleExpiryMs,
        crlPems: [],
        policyDigest: policyDigest(policy),
        policy,
      },
      policyKeys.privateKeyPem,
    ),
    crlDigest,
    crlIssuedAt: issuedAt - 1_000,
  };
}

export function policyVersion(
  version: number,
  overrides: Partial<PolicyVersionRecord> = {},
): PolicyVersionRecord {
  const policy = overrides.policy ?? compiledPolicy(`check of version ${version}`);
  return {
    version,
    createdAt: version * 1_000,
    authorId: 'op-1',
    authorName: 'Ada',
    message: `version ${version}`,
    gitCommit: null,
    sourceFiles: [{ path: 'baselines/linux-edge.yaml', text: `id: linux-edge # v${version}\n` }],
    policy,
    policyDigest: policyDigest(policy),
    rollbackOf: null,
    signed: signedBundle(version, policy),
    ...overrides,
  };
}

export function checkResult(
  checkId: string,
  status: CheckResult['status'],
  evaluatedAt = 5_000,
): CheckResult {
  return { checkId, status, detail: `${checkId} is ${status}`, evaluatedAt };
}

/** An open alert of rule `rule-1` whose group is its id, last signalled at `lastSignalAt` (default 10,000). */
export function alert(id: string, overrides: Partial<AlertRecord> = {}): AlertRecord {
  const lastSignalAt = overrides.lastSignalAt ?? 10_000;
  return {
    id,
    ruleId: 'rule-1',
    ruleTitle: 'Many failed logins',
    kind: 'correlation',
    groupKey: `["${id}"]`,
    groupFields: { user: 'root' },
    severity: 'medium',
    tier: 'medium',
    state: 'open',
    source: 'hub',
    deviceIds: ['dev-1'],
    firstSeen: 1_000,
    lastSeen: 2_000,
    count: 3,
    eventRefs: [{ deviceId: 'dev-1', seq: 1, id: 'evt-1' }],
    bursts: [{ key: 'dev-1/1/evt-1', count: 3 }],
    response: [],
    route: [],
    assignee: null,
    resolution: null,
    suppressedUntil: null,
    createdAt: lastSignalAt,
    openedAt: lastSignalAt,
    acknowledgedAt: null,
    resolvedAt: null,
    reopenedCount: 0,
    siteId: null,
    siteChangedAt: null,
    lastSignalAt,
    updatedAt: lastSignalAt,
    ...overrides,
  };
}
