import { networkInterfaces } from 'node:os';
import type { Inventory, InventoryInterface, InventoryListener } from '@edgeward/core';
import { firstLine, type RootFs } from './root-fs.ts';

/**
 * The byte order of the kernel that wrote /proc/net: it prints each 32-bit word of an address in host
 * order, so a little-endian kernel shows 127.0.0.1 as 0100007F and a big-endian one as 7F000001.
 */
export type ByteOrder = 'LE' | 'BE';

function hexBytes(hex: string): number[] {
  const bytes: number[] = [];
  for (let i = 0; i + 1 < hex.length; i += 2) bytes.push(Number.parseInt(hex.slice(i, i + 2), 16));
  return bytes;
}

/** Network-order bytes of a /proc/net address written as host-order 32-bit words. */
function wordsToBytes(hex: string, order: ByteOrder): number[] {
  const bytes = hexBytes(hex);
  if (order === 'BE') return bytes;
  const out: number[] = [];
  for (let i = 0; i < bytes.length; i += 4) out.push(...bytes.slice(i, i + 4).reverse());
  return out;
}

export function formatIpv4(bytes: readonly number[]): string {
  return bytes.join('.');
}

/** RFC 5952 text: lower case, no leading zeros, the longest run of two or more zero groups as `::`. */
export function formatIpv6(bytes: readonly number[]): string {
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i] ?? 0) << 8) | (bytes[i + 1] ?? 0));
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    return `::ffff:${formatIpv4(bytes.slice(12, 16))}`;
  }
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j === i ? i + 1 : j;
  }
  const text = (from: number, to: number) =>
    groups
      .slice(from, to)
      .map((g) => g.toString(16))
      .join(':');
  return bestStart < 0 ? text(0, 8) : `${text(0, bestStart)}::${text(bestStart + bestLength, 8)}`;
}

function procAddress(hex: string, order: ByteOrder): string {
  const bytes = wordsToBytes(hex, order);
  return bytes.length === 4 ? formatIpv4(bytes) : formatIpv6(bytes);
}

/** An IPv4-mapped IPv6 peer is an IPv4 peer that reached a dual-stack socket. */
function unmapped(address: string): string {
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}

interface SocketLine {
  readonly localAddress: string;
  readonly localPort: number;
  readonly remoteAddress: string;
  readonly state: string;
  readonly inode: string;
}

/** Rows of proc/net/{tcp,tcp6,udp,udp6}: `sl local rem st tx:rx tr:when retrnsmt uid timeout inode …`. */
export function parseSocketTable(text: string | undefined, order: ByteOrder): SocketLine[] {
  const rows: SocketLine[] = [];
  for (const line of text?.split('\n').slice(1) ?? []) {
    const cols = line.trim().split(/\s+/);
    const [local, remote, state, inode] = [cols[1], cols[2], cols[3], cols[9]];
    if (local === undefined || remote === undefined || state === undefined || inode === undefined) continue;
    const [localHex, portHex] = local.split(':');
    const [remoteHex] = remote.split(':');
    if (localHex === undefined || portHex === undefined || remoteHex === undefined) continue;
    rows.push({
      localAddress: procAddress(localHex, order),
      localPort: Number.parseInt(portHex, 16),
      remoteAddress: procAddress(remoteHex, order),
      state,
      inode,
    });
  }
  return rows;
}

// Kernel socket states (include/net/tcp_states.h). An unconnected UDP socket shows as TCP_CLOSE.
const TCP_ESTABLISHED = '01';
const TCP_LISTEN = '0A';
const UDP_UNCONNECTED = '07';

/** How many busiest remote addresses the connection summary keeps. */
const topRemoteCount = 10;

export interface SocketOwner {
  readonly pid: number;
  readonly name: string;
}

/**
 * Maps socket inodes to the process holding them, through the `socket:[inode]` links in proc/PID/fd.
 * Processes are visited by increasing pid, so a socket shared after fork is the parent's (the lowest
 * pid), and the walk stops once every wanted inode is found. Processes this user may not inspect are
 * skipped: their sockets stay without a process.
 */
export async function findSocketOwners(
  fs: RootFs,
  inodes: ReadonlySet<string>,
): Promise<Map<string, SocketOwner>> {
  const owners = new Map<string, SocketOwner>();
  if (inodes.size === 0) return owners;
  const pids = (await fs.list('proc'))
    .filter((entry) => /^\d+$/.test(entry.name))
    .map((entry) => Number(entry.name))
    .sort((a, b) => a - b);
  for (const pid of pids) {
    const fds = await fs.list(`proc/${pid}/fd`);
    const targets = await Promise.all(fds.map((fd) => fs.link(`proc/${pid}/fd/${fd.name}`)));
    const found = targets
      .map((target) => /^socket:\[(\d+)\]$/.exec(target ?? '')?.[1])
      .filter((inode): inode is string => inode !== undefined && inodes.has(inode) && !owners.has(inode));
    if (found.length === 0) continue;
    const name = await processName(fs, pid);
    if (name === undefined) continue;
    for (const inode of found) owners.set(inode, { pid, name });
    if (owners.size === inodes.size) break;
  }
  return owners;
}

/**
 * The program's name from its command line (argv[0], path and arguments dropped), with `comm` as the
 * fallback: programs rename threads (Node calls its main thread `MainThread`), `comm` is cut at 15
 * characters, and the executable link names the real file behind a symlink (`redis-server` is
 * `redis-check-rdb` on Debian), while argv[0] is what the operator started.
 */
async function processName(fs: RootFs, pid: number): Promise<string | undefined> {
  const argv0 = (await fs.text(`proc/${pid}/cmdline`))?.split('\0')[0]?.split(' ')[0] ?? '';
  const base = argv0.split('/').pop()?.replace(/:$/, '');
  if (base !== undefined && base !== '') return base;
  return firstLine(await fs.text(`proc/${pid}/comm`));
}

export interface SocketsResult {
  readonly listeners: InventoryListener[];
  readonly connections: Inventory['connections'];
}

/**
 * Listening TCP sockets, bound unconnected UDP sockets, and a summary of established TCP connections.
 * A port held by several sockets (SO_REUSEPORT workers) is one listener.
 */
export async function readSockets(fs: RootFs, order: ByteOrder): Promise<SocketsResult> {
  const tables = await Promise.all(
    (['tcp', 'tcp6', 'udp', 'udp6'] as const).map(async (file) => ({
      protocol: file.startsWith('tcp') ? ('tcp' as const) : ('udp' as const),
      rows: parseSocketTable(await fs.text(`proc/net/${file}`), order),
    })),
  );
  const bound: { protocol: 'tcp' | 'udp'; row: SocketLine }[] = [];
  const remotes = new Map<string, number>();
  let established = 0;
  for (const { protocol, rows } of tables) {
    for (const row of rows) {
      if (protocol === 'tcp' && row.state === TCP_LISTEN) bound.push({ protocol, row });
      else if (protocol === 'udp' && row.state === UDP_UNCONNECTED && row.localPort !== 0)
        bound.push({ protocol, row });
      else if (protocol === 'tcp' && row.state === TCP_ESTABLISHED) {
        established++;
        const remote = unmapped(row.remoteAddress);
        remotes.set(remote, (remotes.get(remote) ?? 0) + 1);
      }
    }
  }
  const owners = await findSocketOwners(
    fs,
    new Set(bound.map(({ row }) => row.inode).filter((i) => i !== '0')),
  );
  const listeners = new Map<string, InventoryListener>();
  for (const { protocol, row } of bound) {
    const key = `${protocol}/${row.localAddress}/${row.localPort}`;
    const owner = owners.get(row.inode);
    const existing = listeners.get(key);
    if (existing !== undefined && (existing.process !== undefined || owner === undefined)) continue;
    listeners.set(key, {
      protocol,
      address: row.localAddress,
      port: row.localPort,
      ...(owner === undefined ? {} : { process: { pid: owner.pid, name: owner.name } }),
    });
  }
  const topRemotes = [...remotes]
    .map(([address, count]) => ({ address, count }))
    .sort((a, b) => b.count - a.count || (a.address < b.address ? -1 : a.address > b.address ? 1 : 0))
    .slice(0, topRemoteCount);
  return { listeners: [...listeners.values()], connections: { established, topRemotes } };
}

// --- interfaces -------------------------------------------------------------------------------------

function prefixLength(mask: number): number {
  let bits = 0;
  for (let m = mask >>> 0; m !== 0; m = (m << 1) >>> 0) bits++;
  return bits;
}

const toUint32 = (bytes: readonly number[]): number =>
  (((bytes[0] ?? 0) << 24) | ((bytes[1] ?? 0) << 16) | ((bytes[2] ?? 0) << 8) | (bytes[3] ?? 0)) >>> 0;

/**
 * Local IPv4 addresses from proc/net/fib_trie (leaves marked `/32 host LOCAL`), each with the longest
 * local prefix that contains it (`127.0.0.0 /8 host LOCAL` for the loopback network).
 */
function parseFibTrie(text: string): {
  locals: number[];
  hostPrefixes: { network: number; length: number }[];
} {
  const locals = new Set<number>();
  const hostPrefixes: { network: number; length: number }[] = [];
  let leaf: number | undefined;
  for (const line of text.split('\n')) {
    const leafMatch = /\|--\s+(\d+\.\d+\.\d+\.\d+)/.exec(line);
    if (leafMatch?.[1] !== undefined) {
      leaf = toUint32(leafMatch[1].split('.').map(Number));
      continue;
    }
    const prefix = /^\s+\/(\d+)\s+host\s+LOCAL/.exec(line);
    if (prefix?.[1] === undefined || leaf === undefined) continue;
    const length = Number(prefix[1]);
    if (length === 32) locals.add(leaf);
    else hostPrefixes.push({ network: leaf, length });
  }
  return { locals: [...locals], hostPrefixes };
}

const maskOf = (length: number): number => (length === 0 ? 0 : (0xffffffff << (32 - length)) >>> 0);

/**
 * IPv4 addresses per interface from the proc files alone: fib_trie lists the local addresses but not
 * their interfaces, so each is given the interface and length of the longest directly connected route
 * in proc/net/route that contains it; loopback addresses, which have no such route, belong to `lo`.
 * An address with no connected route (one added with `noprefixroute`) cannot be placed and is left out.
 */
async function ipv4FromProc(fs: RootFs, order: ByteOrder): Promise<Map<string, string[]>> {
  const byInterface = new Map<string, string[]>();
  const fib = parseFibTrie((await fs.text('proc/net/fib_trie')) ?? '');
  const routes: { iface: string; network: number; mask: number }[] = [];
  for (const line of ((await fs.text('proc/net/route')) ?? '').split('\n').slice(1)) {
    const [iface, destination, gateway, , , , , mask] = line.trim().split(/\s+/);
    if (iface === undefined || destination === undefined || gateway === undefined || mask === undefined)
      continue;
    if (toUint32(wordsToBytes(gateway, order)) !== 0) continue;
    routes.push({
      iface,
      network: toUint32(wordsToBytes(destination, order)),
      mask: toUint32(wordsToBytes(mask, order)),
    });
  }
  for (const address of fib.locals) {
    let iface: string | undefined;
    let length = -1;
    for (const route of routes) {
      const routeLength = prefixLength(route.mask);
      if (route.mask !== 0 && (address & route.mask) >>> 0 === route.network && routeLength > length) {
        iface = route.iface;
        length = routeLength;
      }
    }
    if (iface === undefined && address >>> 24 === 127) {
      iface = 'lo';
      length = Math.max(
        8,
        ...fib.hostPrefixes
          .filter((p) => (address & maskOf(p.length)) >>> 0 === p.network)
          .map((p) => p.length),
      );
    }
    if (iface === undefined) continue;
    const cidr = `${formatIpv4([address >>> 24, (address >>> 16) & 255, (address >>> 8) & 255, address & 255])}/${length}`;
    byInterface.set(iface, [...(byInterface.get(iface) ?? []), cidr]);
  }
  return byInterface;
}

/** proc/net/if_inet6: `address ifindex prefixlen scope flags name`, the address in network order. */
async function ipv6FromProc(fs: RootFs): Promise<Map<string, string[]>> {
  const byInterface = new Map<string, string[]>();
  for (const line of ((await fs.text('proc/net/if_inet6')) ?? '').split('\n')) {
    const [hex, , prefixHex, , , name] = line.trim().split(/\s+/);
    if (hex?.length !== 32 || prefixHex === undefined || name === undefined) continue;
    const cidr = `${formatIpv6(hexBytes(hex))}/${Number.parseInt(prefixHex, 16)}`;
    byInterface.set(name, [...(byInterface.get(name) ?? []), cidr]);
  }
  return byInterface;
}

/** Addresses from the proc files, for any root: see `ipv4FromProc` for what they cannot tell. */
export async function addressesFromProc(fs: RootFs, order: ByteOrder): Promise<Map<string, string[]>> {
  const merged = await ipv4FromProc(fs, order);
  for (const [name, addresses] of await ipv6FromProc(fs)) {
    merged.set(name, [...(merged.get(name) ?? []), ...addresses]);
  }
  return merged;
}

/** The live machine's addresses from getifaddrs(3), which knows each address's interface for sure. */
function addressesFromOs(): Map<string, string[]> {
  const byInterface = new Map<string, string[]>();
  for (const [name, entries] of Object.entries(networkInterfaces())) {
    const cidrs = (entries ?? []).map((entry) => entry.cidr).filter((cidr): cidr is string => cidr !== null);
    byInterface.set(name, cidrs);
  }
  return byInterface;
}

/** Interface state: operstate when it says, else the administrative IFF_UP flag (lo reports `unknown`). */
async function isUp(fs: RootFs, dir: string): Promise<boolean | undefined> {
  const operstate = firstLine(await fs.text(`${dir}/operstate`));
  if (operstate === 'up') return true;
  if (operstate !== undefined && operstate !== 'unknown') return false;
  const flags = firstLine(await fs.text(`${dir}/flags`));
  return flags === undefined ? undefined : (Number.parseInt(flags, 16) & 0x1) === 1;
}

export async function readInterfaces(fs: RootFs, order: ByteOrder): Promise<InventoryInterface[]> {
  const addresses = fs.live ? addressesFromOs() : await addressesFromProc(fs, order);
  const names = new Set([
    ...(await fs.list('sys/class/net')).map((entry) => entry.name),
    ...addresses.keys(),
  ]);
  const interfaces: InventoryInterface[] = [];
  for (const name of names) {
    const dir = `sys/class/net/${name}`;
    const mac = firstLine(await fs.text(`${dir}/address`))?.toLowerCase();
    const up = await isUp(fs, dir);
    interfaces.push({
      name,
      // All zeros is the loopback's placeholder, not an address.
      ...(mac === undefined || /^[0:]*$/.test(mac) ? {} : { mac }),
      addresses: addresses.get(name) ?? [],
      ...(up === undefined ? {} : { up }),
    });
  }
  return interfaces;
}
