import type {
  Inventory,
  InventoryFirmware,
  InventoryGroup,
  InventoryInterface,
  InventoryKernelModule,
  InventoryListener,
  InventoryPackage,
  InventoryUnit,
  InventoryUser,
} from '@edgeward/core';

/**
 * Synthetic inventories for simulated devices: plausible Debian and Alpine edge boxes, the same for the
 * same device index and seed on every run, so a benchmark or a failing test can be replayed. Every list
 * item comes from module-level tables shared by all devices, so ten thousand devices in one process cost
 * little more than their arrays of references. Nothing here mutates an inventory: drift builds new lists
 * and shares the unchanged ones.
 */

/** A 32-bit avalanche hash of small integers (the finaliser of MurmurHash3, fed one value at a time). */
function hash32(...values: readonly number[]): number {
  let h = 0x9e3779b9;
  for (const value of values) {
    h = Math.imul(h ^ (value | 0), 0x85ebca6b);
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35);
    h ^= h >>> 16;
  }
  return h >>> 0;
}

function stringHash(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

function pick<T>(items: readonly T[], h: number): T {
  return items[h % items.length] as T;
}

/** `sim-00042`: five digits keep hostnames sortable up to 100,000 devices. */
export function simulatedHostname(index: number): string {
  return `sim-${String(index).padStart(5, '0')}`;
}

type Distro = 'debian' | 'alpine';
type Arch = 'x86_64' | 'aarch64';
type Role = 'gateway' | 'kiosk' | 'sensor-hub' | 'controller-host';

interface Platform {
  readonly os: Inventory['os'];
  readonly kernel: Inventory['kernel'];
  readonly manager: InventoryPackage['manager'];
  readonly packageArch: string;
  readonly basePackages: readonly InventoryPackage[];
  readonly rolePackages: Readonly<Record<Role, readonly InventoryPackage[]>>;
  /** Packages a drift step may install (tools an attacker or a hurried technician brings along). */
  readonly driftPackages: readonly InventoryPackage[];
  readonly users: readonly InventoryUser[];
  readonly groups: readonly InventoryGroup[];
  readonly units: readonly InventoryUnit[];
  readonly roleUnits: Readonly<Record<Role, readonly InventoryUnit[]>>;
}

function packages(
  manager: InventoryPackage['manager'],
  architecture: string,
  list: readonly (readonly [string, string])[],
): InventoryPackage[] {
  return list.map(([name, version]) => Object.freeze({ name, version, manager, architecture }));
}

const debianOs = Object.freeze({
  id: 'debian',
  name: 'Debian GNU/Linux',
  version: '12 (bookworm)',
  versionId: '12',
  prettyName: 'Debian GNU/Linux 12 (bookworm)',
});

const alpineOs = Object.freeze({
  id: 'alpine',
  name: 'Alpine Linux',
  version: '3.20.3',
  versionId: '3.20.3',
  prettyName: 'Alpine Linux v3.20',
});

const debianBase: readonly (readonly [string, string])[] = [
  ['base-files', '12.4+deb12u8'],
  ['bash', '5.2.15-2+b7'],
  ['ca-certificates', '20230311'],
  ['chrony', '4.3-2+deb12u1'],
  ['coreutils', '9.1-1'],
  ['curl', '7.88.1-10+deb12u8'],
  ['iproute2', '6.1.0-3'],
  ['libc6', '2.36-9+deb12u9'],
  ['libssl3', '3.0.15-1~deb12u1'],
  ['nftables', '1.0.6-2+deb12u2'],
  ['openssh-server', '1:9.2p1-2+deb12u3'],
  ['openssl', '3.0.15-1~deb12u1'],
  ['sudo', '1.9.13p3-1+deb12u1'],
  ['systemd', '252.33-1~deb12u1'],
  ['tzdata', '2024b-0+deb12u1'],
];

const debianRoles: Record<Role, readonly (readonly [string, string])[]> = {
  gateway: [
    ['mosquitto', '2.0.11-1.2+deb12u1'],
    ['libmodbus5', '3.1.6-2+b1'],
  ],
  kiosk: [
    ['nginx', '1.22.1-9'],
    ['chromium', '131.0.6778.85-1~deb12u1'],
  ],
  'sensor-hub': [
    ['python3', '3.11.2-1+b1'],
    ['prometheus-node-exporter', '1.5.0-1+b6'],
  ],
  'controller-host': [
    ['python3', '3.11.2-1+b1'],
    ['open62541-tools', '1.3.5-1'],
  ],
};

const debianDrift: readonly (readonly [string, string])[] = [
  ['tcpdump', '4.99.3-1'],
  ['netcat-openbsd', '1.219-1'],
  ['socat', '1.7.4.4-2'],
  ['telnet', '0.17+2.4-2+deb12u1'],
  ['gdb', '13.1-3'],
  ['nmap', '7.93+dfsg1-1'],
];

const alpineBase: readonly (readonly [string, string])[] = [
  ['alpine-baselayout', '3.6.5-r0'],
  ['apk-tools', '2.14.4-r1'],
  ['busybox', '1.36.1-r29'],
  ['ca-certificates', '20240705-r0'],
  ['chrony', '4.5-r0'],
  ['curl', '8.10.1-r0'],
  ['libcrypto3', '3.3.2-r0'],
  ['libssl3', '3.3.2-r0'],
  ['musl', '1.2.5-r0'],
  ['nftables', '1.0.9-r2'],
  ['openrc', '0.54-r1'],
  ['openssh-server', '9.7_p1-r4'],
  ['tzdata', '2024b-r0'],
];

const alpineRoles: Record<Role, readonly (readonly [string, string])[]> = {
  gateway: [
    ['mosquitto', '2.0.18-r0'],
    ['libmodbus', '3.1.10-r0'],
  ],
  kiosk: [
    ['nginx', '1.26.2-r0'],
    ['chromium', '131.0.6778.85-r0'],
  ],
  'sensor-hub': [
    ['python3', '3.12.7-r0'],
    ['prometheus-node-exporter', '1.8.1-r2'],
  ],
  'controller-host': [
    ['python3', '3.12.7-r0'],
    ['open62541', '1.4.4-r0'],
  ],
};

const alpineDrift: readonly (readonly [string, string])[] = [
  ['tcpdump', '4.99.4-r1'],
  ['socat', '1.8.0.0-r0'],
  ['busybox-extras', '1.36.1-r29'],
  ['gdb', '14.2-r1'],
  ['nmap', '7.95-r0'],
];

const user = (name: string, uid: number, gid: number, home: string, shell: string): InventoryUser =>
  Object.freeze({ name, uid, gid, home, shell });
const group = (name: string, gid: number, members: readonly string[]): InventoryGroup =>
  Object.freeze({ name, gid, members: [...members] });
const unit = (name: string, activeState = 'active', enabledState = 'enabled'): InventoryUnit =>
  Object.freeze({ name, activeState, enabledState });

const debianUsers = [
  user('root', 0, 0, '/root', '/bin/bash'),
  user('daemon', 1, 1, '/usr/sbin', '/usr/sbin/nologin'),
  user('bin', 2, 2, '/bin', '/usr/sbin/nologin'),
  user('sys', 3, 3, '/dev', '/usr/sbin/nologin'),
  user('_chrony', 100, 102, '/var/lib/chrony', '/usr/sbin/nologin'),
  user('sshd', 101, 65534, '/run/sshd', '/usr/sbin/nologin'),
  user('edge', 1000, 1000, '/home/edge', '/bin/bash'),
  user('nobody', 65534, 65534, '/nonexistent', '/usr/sbin/nologin'),
];

const alpineUsers = [
  user('root', 0, 0, '/root', '/bin/ash'),
  user('bin', 1, 1, '/bin', '/sbin/nologin'),
  user('daemon', 2, 2, '/sbin', '/sbin/nologin'),
  user('sshd', 22, 22, '/dev/null', '/sbin/nologin'),
  user('chrony', 100, 101, '/var/lib/chrony', '/sbin/nologin'),
  user('edge', 1000, 1000, '/home/edge', '/bin/ash'),
  user('nobody', 65534, 65534, '/', '/sbin/nologin'),
];

const debianGroups = [
  group('root', 0, []),
  group('adm', 4, ['edge']),
  group('sudo', 27, ['edge']),
  group('edge', 1000, []),
  group('nogroup', 65534, []),
];

const alpineGroups = [
  group('root', 0, []),
  group('wheel', 10, ['root', 'edge']),
  group('edge', 1000, []),
  group('nogroup', 65533, []),
  group('nobody', 65534, []),
];

const debianUnits = [
  unit('chrony.service'),
  unit('cron.service'),
  unit('nftables.service', 'active', 'enabled'),
  unit('ssh.service'),
  unit('systemd-journald.service', 'active', 'static'),
  unit('systemd-timesyncd.service', 'inactive', 'masked'),
];

const debianRoleUnits: Record<Role, readonly InventoryUnit[]> = {
  gateway: [unit('mosquitto.service'), unit('modbus-bridge.service')],
  kiosk: [unit('nginx.service'), unit('kiosk-browser.service')],
  'sensor-hub': [unit('prometheus-node-exporter.service'), unit('sensor-collector.service')],
  'controller-host': [unit('opcua-server.service')],
};

function platform(distro: Distro, arch: Arch): Platform {
  if (distro === 'debian') {
    const packageArch = arch === 'x86_64' ? 'amd64' : 'arm64';
    const kernelArch = packageArch;
    return {
      os: debianOs,
      kernel: Object.freeze({
        release: `6.1.0-28-${kernelArch}`,
        version: '#1 SMP PREEMPT_DYNAMIC Debian 6.1.119-1 (2024-11-22)',
      }),
      manager: 'dpkg',
      packageArch,
      basePackages: packages('dpkg', packageArch, debianBase),
      rolePackages: mapRoles(debianRoles, (list) => packages('dpkg', packageArch, list)),
      driftPackages: packages('dpkg', packageArch, debianDrift),
      users: debianUsers,
      groups: debianGroups,
      units: debianUnits,
      roleUnits: debianRoleUnits,
    };
  }
  const packageArch = arch;
  return {
    os: alpineOs,
    kernel: Object.freeze({
      release: '6.6.58-0-lts',
      version: '#1-Alpine SMP PREEMPT_DYNAMIC 2024-10-24 09:47:06',
    }),
    manager: 'apk',
    packageArch,
    basePackages: packages('apk', packageArch, alpineBase),
    rolePackages: mapRoles(alpineRoles, (list) => packages('apk', packageArch, list)),
    driftPackages: packages('apk', packageArch, alpineDrift),
    users: alpineUsers,
    groups: alpineGroups,
    // OpenRC has no systemd units; the real collector reports none there either.
    units: [],
    roleUnits: { gateway: [], kiosk: [], 'sensor-hub': [], 'controller-host': [] },
  };
}

function mapRoles<T, U>(roles: Record<Role, T>, map: (value: T) => U): Record<Role, U> {
  return {
    gateway: map(roles.gateway),
    kiosk: map(roles.kiosk),
    'sensor-hub': map(roles['sensor-hub']),
    'controller-host': map(roles['controller-host']),
  };
}

const platforms: Record<`${Distro}/${Arch}`, Platform> = {
  'debian/x86_64': platform('debian', 'x86_64'),
  'debian/aarch64': platform('debian', 'aarch64'),
  'alpine/x86_64': platform('alpine', 'x86_64'),
  'alpine/aarch64': platform('alpine', 'aarch64'),
};

const listener = (
  protocol: 'tcp' | 'udp',
  address: string,
  port: number,
  name: string,
  pid: number,
): InventoryListener => ({ protocol, address, port, process: { pid, name } });

const roleListeners: Record<Role, readonly (readonly [number, string])[]> = {
  gateway: [
    [1883, 'mosquitto'],
    [502, 'modbus-bridge'],
  ],
  kiosk: [
    [80, 'nginx'],
    [443, 'nginx'],
  ],
  'sensor-hub': [[9100, 'node_exporter']],
  'controller-host': [[4840, 'opcua-server']],
};

const module = (name: string, sizeBytes: number): InventoryKernelModule => Object.freeze({ name, sizeBytes });

const baseModules = [
  module('nf_tables', 356_352),
  module('nfnetlink', 20_480),
  module('x_tables', 57_344),
  module('overlay', 200_704),
  module('ipv6', 606_208),
];

const roleModules: Record<Role, readonly InventoryKernelModule[]> = {
  gateway: [module('usbserial', 53_248), module('ftdi_sio', 65_536)],
  kiosk: [module('i915', 3_833_856), module('snd_hda_intel', 61_440)],
  'sensor-hub': [module('i2c_dev', 24_576), module('spidev', 28_672)],
  'controller-host': [module('can', 36_864), module('can_raw', 28_672)],
};

const driftModules = [
  module('usb_storage', 81_920),
  module('wireguard', 110_592),
  module('tun', 61_440),
  module('bluetooth', 1_011_712),
];

const firmwares: Record<Arch, readonly InventoryFirmware[]> = {
  x86_64: [
    {
      source: 'dmi',
      vendor: 'American Megatrends International, LLC.',
      version: '5.19',
      date: '03/14/2023',
      model: 'Advantech UNO-2271G V2',
    },
    {
      source: 'dmi',
      vendor: 'Insyde Corp.',
      version: 'Z01-0005A028',
      date: '08/02/2022',
      model: 'OnLogic Helix HX500',
    },
    {
      source: 'dmi',
      vendor: 'Siemens AG',
      version: 'V26.01.09',
      date: '11/20/2023',
      model: 'SIMATIC IPC127E',
    },
  ],
  aarch64: [
    { source: 'device-tree', model: 'Raspberry Pi Compute Module 4 Rev 1.1', version: '2024-09-10T14:24:57' },
    { source: 'device-tree', model: 'NXP i.MX8MPlus EVK board', version: 'U-Boot 2023.04' },
  ],
};

const cpus: Record<Arch, readonly Inventory['cpu'][]> = {
  x86_64: [
    { model: 'Intel(R) Celeron(R) J6412 @ 2.00GHz', cores: 4 },
    { model: 'Intel(R) Atom(TM) x6425E Processor @ 2.00GHz', cores: 4 },
    { model: 'Intel(R) Core(TM) i5-1145G7E @ 2.60GHz', cores: 8 },
  ],
  aarch64: [
    { model: 'Cortex-A72', cores: 4 },
    { model: 'Cortex-A53', cores: 4 },
  ],
};

const roles: readonly Role[] = ['gateway', 'kiosk', 'sensor-hub', 'controller-host'];
const GIB = 1024 ** 3;

export interface SyntheticInventoryOptions {
  /** Picks another fleet: the same index under another seed is another device. Default 0. */
  readonly seed?: number;
  /** `collectedAt`, device clock in milliseconds since the epoch. Default 0 (a fixed, replayable value). */
  readonly collectedAt?: number;
}

/**
 * The inventory of simulated device `index`: about 15 packages, 3 to 6 listeners, 7 or 8 users, two
 * interfaces and a few kernel modules, on Debian 12 or Alpine 3.20, x86_64 or aarch64.
 */
export function syntheticInventory(index: number, options: SyntheticInventoryOptions = {}): Inventory {
  const seed = options.seed ?? 0;
  const collectedAt = options.collectedAt ?? 0;
  const h = (salt: number) => hash32(seed, index, salt);
  const distro: Distro = h(1) % 3 === 0 ? 'alpine' : 'debian';
  const arch: Arch = h(2) % 4 === 0 ? 'aarch64' : 'x86_64';
  const role = pick(roles, h(3));
  const p = platforms[`${distro}/${arch}`];
  const pidBase = 300 + (h(4) % 400);
  const listeners: InventoryListener[] = [
    listener('tcp', '0.0.0.0', 22, 'sshd', pidBase),
    listener('tcp', '::', 22, 'sshd', pidBase),
    listener('udp', '127.0.0.1', 323, 'chronyd', pidBase + 7),
    ...roleListeners[role].map(([port, name], i) => listener('tcp', '0.0.0.0', port, name, pidBase + 20 + i)),
  ];
  const mac = macOf(seed, index);
  const host = index + 10;
  const interfaces: InventoryInterface[] = [
    { name: 'lo', addresses: ['127.0.0.1/8', '::1/128'], up: true },
    {
      name: arch === 'aarch64' ? 'end0' : 'enp1s0',
      mac,
      addresses: [
        `10.${64 + ((host >> 16) & 63)}.${(host >> 8) & 255}.${host & 255}/10`,
        `${linkLocal(mac)}/64`,
      ],
      up: true,
    },
  ];
  const bootAt = collectedAt - (3_600_000 + (h(5) % (30 * 86_400_000)));
  const memories = [2, 4, 8];
  return {
    collectedAt,
    hostname: simulatedHostname(index),
    os: p.os,
    kernel: p.kernel,
    architecture: arch,
    firmware: pick(firmwares[arch], h(6)),
    cpu: pick(cpus[arch], h(7)),
    memory: { totalBytes: pick(memories, h(8)) * GIB - (h(9) % 64) * 1024 * 1024 },
    uptimeSeconds: Math.max(0, Math.floor((collectedAt - bootAt) / 1000)),
    interfaces,
    listeners,
    connections: { established: 1 + (h(10) % 4), topRemotes: [{ address: '10.64.0.1', count: 1 }] },
    packages: [...p.basePackages, ...p.rolePackages[role]],
    units: [...p.units, ...p.roleUnits[role]],
    users: [...p.users],
    groups: [...p.groups],
    kernelModules: [...baseModules, ...roleModules[role]],
  };
}

function macOf(seed: number, index: number): string {
  // 02: a locally administered unicast address, as a virtual NIC would have.
  const h = hash32(seed, index, 0x3ac);
  const bytes = [0x02, (index >>> 16) & 255, (index >>> 8) & 255, index & 255, (h >>> 8) & 255, h & 255];
  return bytes.map((byte) => byte.toString(16).padStart(2, '0')).join(':');
}

/** The EUI-64 link-local address a kernel derives from the MAC. */
function linkLocal(mac: string): string {
  const b = mac.split(':').map((part) => Number.parseInt(part, 16));
  const word = (hi: number | undefined, lo: number | undefined) =>
    ((((hi ?? 0) & 255) << 8) | ((lo ?? 0) & 255)).toString(16);
  const words = [word((b[0] ?? 0) ^ 2, b[1]), word(b[2], 0xff), word(0xfe, b[3]), word(b[4], b[5])];
  // The zero words after fe80 are written as `::`, and so is a leading zero word of the interface id.
  return words[0] === '0' ? `fe80::${words.slice(1).join(':')}` : `fe80::${words.join(':')}`;
}

/** What one drift step does. */
type DriftKind =
  | 'package-added'
  | 'package-upgraded'
  | 'listener-opened'
  | 'listener-closed'
  | 'user-added'
  | 'module-loaded';

/** Weighted so that packages and ports, the common drift on real fleets, come up most often. */
const driftKinds: readonly DriftKind[] = [
  'package-added',
  'package-added',
  'package-upgraded',
  'package-upgraded',
  'listener-opened',
  'listener-opened',
  'listener-closed',
  'user-added',
  'module-loaded',
];

const driftListeners: readonly (readonly [number, string])[] = [
  [23, 'telnetd'],
  [1880, 'node-red'],
  [2222, 'dropbear'],
  [5900, 'x11vnc'],
  [8080, 'python3'],
  [10_000, 'webmin'],
];

/** Listeners a drift step may close: never the base ones, so a device stays reachable over SSH. */
const closable = new Set(driftListeners.map(([port]) => port));

/**
 * Step `step` (1, 2, 3, …) of a device's drift: always exactly one change in a drift section (a package
 * installed or upgraded, a port opened or closed, a user added, a module loaded), chosen by the step, the
 * hostname and the seed. Returns a new inventory; the unchanged sections are shared with the input.
 */
export function evolveInventory(inventory: Inventory, step: number, seed = 0): Inventory {
  const h = (salt: number) => hash32(seed, stringHash(inventory.hostname), step, salt);
  let kind = pick(driftKinds, h(1));
  const opened = inventory.listeners.filter((l) => closable.has(l.port));
  if (kind === 'listener-closed' && opened.length === 0) kind = 'listener-opened';
  return applyDrift(inventory, kind, step, h(2));
}

function applyDrift(inventory: Inventory, kind: DriftKind, step: number, h: number): Inventory {
  const first = inventory.packages[0];
  const manager = first?.manager ?? 'dpkg';
  const architecture = first?.architecture;
  switch (kind) {
    case 'package-added': {
      const p =
        platforms[
          `${inventory.os.id === 'alpine' ? 'alpine' : 'debian'}/${inventory.architecture === 'aarch64' ? 'aarch64' : 'x86_64'}`
        ];
      const present = new Set(inventory.packages.map((item) => item.name));
      const start = h % p.driftPackages.length;
      const rotated = [...p.driftPackages.slice(start), ...p.driftPackages.slice(0, start)];
      const candidate = rotated.find((item) => !present.has(item.name)) ?? {
        name: `edge-plugin-${step}`,
        version: `1.${step}.0`,
        manager,
        ...(architecture === undefined ? {} : { architecture }),
      };
      return { ...inventory, packages: [...inventory.packages, candidate] };
    }
    case 'package-upgraded': {
      const target = h % inventory.packages.length;
      return {
        ...inventory,
        packages: inventory.packages.map((item, i) =>
          i === target ? { ...item, version: upgradedVersion(item.version, step, manager) } : item,
        ),
      };
    }
    case 'listener-opened': {
      const used = new Set(inventory.listeners.map((l) => `${l.protocol}/${l.address}:${l.port}`));
      const free = driftListeners.filter(([port]) => !used.has(`tcp/0.0.0.0:${port}`));
      const [port, name] = free.length > 0 ? pick(free, h) : [20_000 + (step % 40_000), 'sim-service'];
      const pid = 2000 + (h % 30_000);
      return {
        ...inventory,
        listeners: [...inventory.listeners, listener('tcp', '0.0.0.0', port, name, pid)],
      };
    }
    case 'listener-closed': {
      const opened = inventory.listeners.filter((l) => closable.has(l.port) || l.port >= 20_000);
      const victim = opened.length > 0 ? pick(opened, h) : undefined;
      if (victim === undefined) return applyDrift(inventory, 'listener-opened', step, h);
      return { ...inventory, listeners: inventory.listeners.filter((l) => l !== victim) };
    }
    case 'user-added': {
      const uid = 1001 + (step % 50_000);
      const shell = inventory.os.id === 'alpine' ? '/sbin/nologin' : '/usr/sbin/nologin';
      const added: InventoryUser = { name: `svc${step}`, uid, gid: uid, home: `/var/lib/svc${step}`, shell };
      return { ...inventory, users: [...inventory.users, added] };
    }
    case 'module-loaded': {
      const present = new Set(inventory.kernelModules.map((m) => m.name));
      const candidate =
        driftModules.find((m) => !present.has(m.name)) ?? module(`sim_mod${step}`, 16_384 + (h % 65_536));
      return { ...inventory, kernelModules: [...inventory.kernelModules, candidate] };
    }
  }
}

/** A newer-looking version in the manager's own style: a Debian revision or an Alpine `-rN` bump. */
function upgradedVersion(version: string, step: number, manager: InventoryPackage['manager']): string {
  if (manager === 'apk') {
    const match = /^(.*)-r(\d+)$/.exec(version);
    if (match !== null) return `${match[1]}-r${Number(match[2]) + 1}`;
    return `${version}-r${step}`;
  }
  return `${version}+sim${step}`;
}

export interface SyntheticCollectorOptions {
  readonly index: number;
  /** See `SyntheticInventoryOptions.seed`. */
  readonly seed?: number;
  /**
   * Chance (0 to 1) that a collection first takes one drift step, decided by a hash of seed, index and
   * collection count, so runs replay. Default 0: the device drifts only when `drift()` is called.
   */
  readonly driftProbability?: number;
  /** Device clock for `collectedAt`. Default `Date.now`. */
  readonly now?: () => number;
}

/**
 * One simulated device's inventory source: the agent's `collectInventory`. Holds the current inventory
 * (whose lists are shared with the synthetic tables and with earlier versions) and a drift step counter.
 */
export class SyntheticCollector {
  readonly index: number;
  readonly #seed: number;
  readonly #driftProbability: number;
  readonly #now: () => number;
  readonly #startedAt: number;
  readonly #uptimeAtStartSeconds: number;
  #current: Inventory;
  #step = 0;
  #collections = 0;

  constructor(options: SyntheticCollectorOptions) {
    this.index = options.index;
    this.#seed = options.seed ?? 0;
    this.#driftProbability = options.driftProbability ?? 0;
    this.#now = options.now ?? Date.now;
    const base = syntheticInventory(options.index, { seed: this.#seed });
    this.#startedAt = this.#now();
    this.#uptimeAtStartSeconds = base.uptimeSeconds;
    this.#current = base;
  }

  get hostname(): string {
    return this.#current.hostname;
  }

  /** Drift steps taken so far. */
  get step(): number {
    return this.#step;
  }

  /** The inventory as it stands, without a new `collectedAt`. */
  get current(): Inventory {
    return this.#current;
  }

  /** Takes one drift step now; the next collection reports it. */
  drift(): Inventory {
    this.#step += 1;
    this.#current = evolveInventory(this.#current, this.#step, this.#seed);
    return this.#current;
  }

  /** The inventory at this moment: a shallow copy with a fresh `collectedAt` and uptime. */
  async collect(): Promise<Inventory> {
    this.#collections += 1;
    if (
      this.#driftProbability > 0 &&
      hash32(this.#seed, this.index, this.#collections, 0xd21f7) / 0x1_0000_0000 < this.#driftProbability
    ) {
      this.drift();
    }
    const collectedAt = Math.floor(this.#now());
    const uptimeSeconds =
      this.#uptimeAtStartSeconds + Math.max(0, Math.floor((collectedAt - this.#startedAt) / 1000));
    return { ...this.#current, collectedAt, uptimeSeconds };
  }
}
