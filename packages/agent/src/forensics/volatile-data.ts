import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { endianness } from 'node:os';
import { join } from 'node:path';
import type { CommandRunner } from '../inventory/command-runner.ts';
import { findSocketOwners, parseSocketTable } from '../inventory/network.ts';
import type { RootFs } from '../inventory/root-fs.ts';

/**
 * What a capture reads first, because it changes or vanishes soonest: processes, connections, sessions,
 * kernel modules, memory and load, mounts, then recent logs. Everything comes from `fs`'s root (/proc and
 * /var under it), so tests read fixture trees and a device reads itself; only the journal needs the live
 * machine (`journalctl`).
 */

/** USER_HZ: the unit of /proc/PID/stat times on every Linux architecture the agent runs on. */
const CLOCK_TICKS_PER_SECOND = 100;

export interface ProcessRecord {
  readonly pid: number;
  readonly ppid: number | null;
  readonly name: string | null;
  readonly commandLine: string[];
  readonly uid: number | null;
  readonly user: string | null;
  /** Milliseconds since the epoch; null when /proc/stat has no boot time. */
  readonly startedAt: number | null;
  readonly executable: string | null;
  /** The executable was deleted or replaced since the process started it. */
  readonly executableDeleted: boolean;
  /** SHA-256 of the executable's content; null when it cannot be read. */
  readonly executableSha256: string | null;
}

async function hashFile(path: string): Promise<string | null> {
  return new Promise((resolve) => {
    const hash = createHash('sha256');
    const stream = createReadStream(path);
    stream.on('data', (chunk) => hash.update(chunk));
    stream.on('error', () => resolve(null));
    stream.on('end', () => resolve(hash.digest('hex')));
  });
}

async function usersByUid(fs: RootFs): Promise<Map<number, string>> {
  const names = new Map<number, string>();
  for (const line of (await fs.text('etc/passwd'))?.split('\n') ?? []) {
    const [name, , uid] = line.split(':');
    if (name !== undefined && name !== '' && uid !== undefined && /^\d+$/.test(uid)) {
      if (!names.has(Number(uid))) names.set(Number(uid), name);
    }
  }
  return names;
}

async function bootTimeMs(fs: RootFs): Promise<number | null> {
  const btime = /^btime\s+(\d+)/m.exec((await fs.text('proc/stat')) ?? '')?.[1];
  return btime === undefined ? null : Number(btime) * 1000;
}

/** Every process with its command line, user, start time and executable hash. */
export async function readProcesses(fs: RootFs): Promise<ProcessRecord[]> {
  const [users, boot] = await Promise.all([usersByUid(fs), bootTimeMs(fs)]);
  const hashes = new Map<string, Promise<string | null>>();
  const processes: ProcessRecord[] = [];
  const pids = (await fs.list('proc'))
    .filter((entry) => /^\d+$/.test(entry.name))
    .map((entry) => Number(entry.name))
    .sort((a, b) => a - b);
  for (const pid of pids) {
    const dir = `proc/${pid}`;
    const [cmdline, status, stat, exeLink] = await Promise.all([
      fs.text(`${dir}/cmdline`),
      fs.text(`${dir}/status`),
      fs.text(`${dir}/stat`),
      fs.link(`${dir}/exe`),
    ]);
    if (cmdline === undefined && status === undefined && stat === undefined) continue;
    const uidText = /^Uid:\s+(\d+)/m.exec(status ?? '')?.[1];
    const uid = uidText === undefined ? null : Number(uidText);
    const ppidText = /^PPid:\s+(\d+)/m.exec(status ?? '')?.[1];
    // The fields after the command name, which may itself hold spaces and parentheses.
    const afterName = stat?.slice(stat.lastIndexOf(')') + 2).split(' ') ?? [];
    const startTicks = afterName[19];
    const startedAt =
      boot === null || startTicks === undefined || !/^\d+$/.test(startTicks)
        ? null
        : boot + Math.round((Number(startTicks) * 1000) / CLOCK_TICKS_PER_SECOND);
    const deleted = exeLink?.endsWith(' (deleted)') ?? false;
    const executable =
      exeLink === undefined ? null : deleted ? exeLink.slice(0, -' (deleted)'.length) : exeLink;
    let executableSha256: string | null = null;
    const absolute = executable?.startsWith('/') ? executable : undefined;
    if (absolute !== undefined) {
      // On the live machine /proc/PID/exe opens the very file the process runs, deleted or not.
      const source = fs.live ? join(fs.root, dir, 'exe') : join(fs.root, absolute);
      const key = fs.live && deleted ? `${pid}` : absolute;
      let pending = hashes.get(key);
      if (pending === undefined) {
        pending = hashFile(source);
        hashes.set(key, pending);
      }
      executableSha256 = await pending;
    }
    processes.push({
      pid,
      ppid: ppidText === undefined ? null : Number(ppidText),
      name: /^Name:\s+(.*)$/m.exec(status ?? '')?.[1]?.trim() ?? null,
      commandLine: (cmdline ?? '').split('\0').filter((part) => part !== ''),
      uid,
      user: uid === null ? null : (users.get(uid) ?? null),
      startedAt,
      executable,
      executableDeleted: deleted,
      executableSha256,
    });
  }
  return processes;
}

const tcpStates: Record<string, string> = {
  '01': 'established',
  '02': 'syn-sent',
  '03': 'syn-received',
  '04': 'fin-wait-1',
  '05': 'fin-wait-2',
  '06': 'time-wait',
  '07': 'close',
  '08': 'close-wait',
  '09': 'last-ack',
  '0A': 'listen',
  '0B': 'closing',
};

export interface ConnectionRecord {
  readonly protocol: 'tcp' | 'tcp6' | 'udp' | 'udp6';
  readonly local: string;
  readonly localPort: number;
  readonly remote: string;
  readonly remotePort: number;
  readonly state: string;
  readonly process: { readonly pid: number; readonly name: string } | null;
}

/** Every socket of /proc/net/{tcp,tcp6,udp,udp6} with the process that holds it. */
export async function readConnections(fs: RootFs): Promise<ConnectionRecord[]> {
  const order = endianness();
  const rows: {
    protocol: ConnectionRecord['protocol'];
    row: ReturnType<typeof parseSocketTable>[number];
    remotePort: number;
  }[] = [];
  for (const protocol of ['tcp', 'tcp6', 'udp', 'udp6'] as const) {
    const text = await fs.text(`proc/net/${protocol}`);
    const parsed = parseSocketTable(text, order);
    const remotePorts = (text?.split('\n').slice(1) ?? [])
      .map((line) => line.trim().split(/\s+/)[2]?.split(':')[1])
      .filter((port): port is string => port !== undefined);
    parsed.forEach((row, index) => {
      rows.push({ protocol, row, remotePort: Number.parseInt(remotePorts[index] ?? '0', 16) });
    });
  }
  const owners = await findSocketOwners(
    fs,
    new Set(rows.map(({ row }) => row.inode).filter((inode) => inode !== '0')),
  );
  return rows.map(({ protocol, row, remotePort }) => {
    const owner = owners.get(row.inode);
    return {
      protocol,
      local: row.localAddress,
      localPort: row.localPort,
      remote: row.remoteAddress,
      remotePort,
      state: protocol.startsWith('tcp')
        ? (tcpStates[row.state] ?? row.state)
        : row.state === '01'
          ? 'connected'
          : 'unconnected',
      process: owner === undefined ? null : { pid: owner.pid, name: owner.name },
    };
  });
}

export interface SessionRecord {
  readonly user: string;
  readonly terminal: string;
  readonly host: string;
  readonly pid: number;
  readonly loginAt: number;
}

/** glibc's `struct utmp` on 64-bit and 32-bit Linux alike: 384 bytes, little-endian on the devices we run on. */
const UTMP_RECORD_BYTES = 384;
const USER_PROCESS = 7;

const cString = (bytes: Buffer, start: number, length: number) => {
  const field = bytes.subarray(start, start + length);
  const end = field.indexOf(0);
  return field.subarray(0, end < 0 ? field.length : end).toString('utf8');
};

/** Logged-in sessions from utmp (run/utmp or var/run/utmp). */
export async function readSessions(fs: RootFs): Promise<SessionRecord[]> {
  for (const path of ['run/utmp', 'var/run/utmp']) {
    let bytes: Buffer;
    try {
      const handle = await open(join(fs.root, path), 'r');
      try {
        bytes = await handle.readFile();
      } finally {
        await handle.close();
      }
    } catch {
      continue;
    }
    const sessions: SessionRecord[] = [];
    for (let offset = 0; offset + UTMP_RECORD_BYTES <= bytes.length; offset += UTMP_RECORD_BYTES) {
      if (bytes.readInt32LE(offset) !== USER_PROCESS) continue;
      sessions.push({
        pid: bytes.readInt32LE(offset + 4),
        terminal: cString(bytes, offset + 8, 32),
        user: cString(bytes, offset + 44, 32),
        host: cString(bytes, offset + 76, 256),
        loginAt: bytes.readInt32LE(offset + 340) * 1000 + Math.floor(bytes.readInt32LE(offset + 344) / 1000),
      });
    }
    return sessions;
  }
  return [];
}

/** /proc/modules: name, size, use count, users, state. */
export async function readModules(fs: RootFs): Promise<Record<string, unknown>[]> {
  return ((await fs.text('proc/modules'))?.split('\n') ?? [])
    .map((line) => line.trim().split(/\s+/))
    .filter((fields) => fields.length >= 5 && fields[0] !== '')
    .map(([name, size, useCount, usedBy, state, address]) => ({
      name,
      sizeBytes: Number(size),
      useCount: Number(useCount),
      usedBy: usedBy === '-' ? [] : (usedBy ?? '').split(',').filter((user) => user !== ''),
      state,
      ...(address === undefined ? {} : { address }),
    }));
}

/** Memory (meminfo, in bytes), load averages and uptime. */
export async function readMemoryAndLoad(fs: RootFs): Promise<Record<string, unknown>> {
  const memory: Record<string, number> = {};
  for (const line of (await fs.text('proc/meminfo'))?.split('\n') ?? []) {
    const match = /^([^:]+):\s+(\d+)(\s*kB)?/.exec(line);
    if (match?.[1] !== undefined) memory[match[1]] = Number(match[2]) * (match[3] === undefined ? 1 : 1024);
  }
  const [one, five, fifteen, running] = ((await fs.text('proc/loadavg')) ?? '').trim().split(/\s+/);
  const uptime = Number.parseFloat((await fs.text('proc/uptime')) ?? '');
  return {
    memoryBytes: memory,
    load:
      one === undefined || one === ''
        ? null
        : { one: Number(one), five: Number(five), fifteen: Number(fifteen), running },
    uptimeSeconds: Number.isFinite(uptime) ? uptime : null,
  };
}

/** The mount table. */
export async function readMounts(fs: RootFs): Promise<Record<string, unknown>[]> {
  const text = (await fs.text('proc/self/mounts')) ?? (await fs.text('proc/mounts')) ?? '';
  return text
    .split('\n')
    .map((line) => line.split(' '))
    .filter((fields) => fields.length >= 4 && fields[0] !== '')
    .map(([device, mountPoint, type, options]) => ({
      device,
      // /proc/mounts escapes spaces and the like as octal.
      mountPoint: mountPoint?.replace(/\\([0-7]{3})/g, (_m, octal: string) =>
        String.fromCharCode(Number.parseInt(octal, 8)),
      ),
      type,
      options: options?.split(',') ?? [],
    }));
}

/** The last `maxBytes` of a file under the root (whole lines), or undefined when it cannot be read. */
export async function tailFile(root: string, path: string, maxBytes: number): Promise<Buffer | undefined> {
  try {
    const handle = await open(join(root, path), 'r');
    try {
      const { size } = await handle.stat();
      const start = Math.max(0, size - maxBytes);
      const buffer = Buffer.alloc(size - start);
      await handle.read(buffer, 0, buffer.length, start);
      if (start === 0) return buffer;
      const newline = buffer.indexOf(0x0a);
      return newline < 0 ? buffer : buffer.subarray(newline + 1);
    } finally {
      await handle.close();
    }
  } catch {
    return undefined;
  }
}

/** The journal's latest entries, on the live machine only (journalctl), at most `maxBytes`. */
export async function readJournal(
  run: CommandRunner | undefined,
  maxBytes: number,
): Promise<Buffer | undefined> {
  if (run === undefined) return undefined;
  try {
    const result = await run('journalctl', ['--no-pager', '-o', 'short-iso-precise', '-n', '2000'], {
      timeoutMs: 15_000,
    });
    if (result.exitCode !== 0) return undefined;
    const bytes = Buffer.from(result.stdout, 'utf8');
    return bytes.length <= maxBytes ? bytes : bytes.subarray(bytes.length - maxBytes);
  } catch {
    return undefined;
  }
}
