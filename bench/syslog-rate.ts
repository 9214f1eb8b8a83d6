// Syslog messages per second over TCP: our SyslogListener (framing, RFC 5424 parsing, batches handed to
// `onMessages`, which only counts them here) beside rsyslog receiving the same stream on the same machine
// in the same run (imtcp, RFC 5424 parsing, written to a file). The same N octet-counted messages go over
// a few parallel connections from a worker thread; each receiver's clock stops when it has received (ours)
// or written (rsyslog) all N. Receivers alternate round by round. rsyslog is the Debian package
// `rsyslog`; this benchmark installs nothing and reports our figure alone when `rsyslogd` is missing.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdir, mkdtemp, open, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, connect as netConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { encodeOctetCounted, formatSyslog5424, type SyslogMessageFields } from '@edgeward/core';
import { SyslogListener } from '@edgeward/manager';
import pino from 'pino';
import { seededRandom } from './realistic-events.ts';
import { sleep, stopChild } from './support.ts';
import type { SyslogSenderData, SyslogSendReply } from './syslog-sender.worker.ts';

export interface SyslogRate {
  readonly messages: number;
  readonly connections: number;
  /** Mean message size without framing, bytes. */
  readonly messageBytes: number;
  readonly ours: number[];
  /** Messages per second per round, or why rsyslog was not measured. */
  readonly rsyslog: number[] | { readonly missing: string };
  readonly rsyslogVersion: string | undefined;
}

export interface SyslogRateOptions {
  /** Messages per round (default 200 000). */
  readonly messages: number;
  /** Parallel TCP connections (default 4). */
  readonly connections: number;
  /** Rounds per receiver (default 3). */
  readonly rounds: number;
  readonly progress?: (line: string) => void;
}

const apps = [
  {
    app: 'filterlog',
    text: (r: () => number) =>
      `5,,,1000000103,igb0,match,block,in,4,0x0,,${40 + Math.floor(r() * 200)},0,0,DF,6,tcp,60,${ip(r)},192.0.2.10,${1024 + Math.floor(r() * 60_000)},22,0,S`,
  },
  {
    app: 'sshd',
    text: (r: () => number) =>
      `Failed password for root from ${ip(r)} port ${1024 + Math.floor(r() * 60_000)} ssh2`,
  },
  {
    app: 'dnsmasq-dhcp',
    text: (r: () => number) =>
      `DHCPACK(br-lan) 192.168.1.${Math.floor(r() * 250)} 02:42:ac:11:00:${Math.floor(r() * 256)
        .toString(16)
        .padStart(2, '0')} sensor-${Math.floor(r() * 90)}`,
  },
  {
    app: 'hostapd',
    text: (r: () => number) =>
      `wlan0: STA 3c:22:fb:${Math.floor(r() * 256)
        .toString(16)
        .padStart(2, '0')}:10:7e IEEE 802.11: associated (aid ${Math.floor(r() * 30)})`,
  },
  {
    app: 'kernel',
    text: (r: () => number) =>
      `[UFW BLOCK] IN=eth0 OUT= MAC=00:16:3e SRC=${ip(r)} DST=192.0.2.10 LEN=44 TTL=${40 + Math.floor(r() * 200)} PROTO=TCP SPT=${Math.floor(r() * 65_535)} DPT=23`,
  },
];

function ip(random: () => number): string {
  return `${1 + Math.floor(random() * 222)}.${Math.floor(random() * 256)}.${Math.floor(random() * 256)}.${Math.floor(random() * 256)}`;
}

/** N messages as switches, firewalls and access points send them, split into one stream per connection. */
function prepareStreams(
  messages: number,
  connections: number,
): { streams: Uint8Array[]; messageBytes: number } {
  const random = seededRandom(11);
  const parts: Uint8Array[][] = Array.from({ length: connections }, () => []);
  let bytes = 0;
  const start = Date.UTC(2026, 10, 25, 12, 0, 0);
  for (let index = 0; index < messages; index++) {
    const kind = apps[Math.floor(random() * apps.length)] ?? apps[0]!;
    const fields: SyslogMessageFields = {
      facility: kind.app === 'sshd' ? 10 : 16,
      severity: kind.app === 'sshd' ? 5 : 6,
      timestamp: start + index * 3,
      hostname: `edge-${Math.floor(random() * 40)}.site-7.example`,
      appName: kind.app,
      procId: String(100 + Math.floor(random() * 30_000)),
      msgId: null,
      structuredData:
        random() < 0.3 ? [{ id: 'meta', params: [{ name: 'sequenceId', value: String(index) }] }] : [],
      message: kind.text(random),
    };
    const text = formatSyslog5424(fields);
    bytes += Buffer.byteLength(text);
    parts[index % connections]?.push(encodeOctetCounted(text));
  }
  return { streams: parts.map((list) => Buffer.concat(list)), messageBytes: bytes / messages };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = netConnect({ host: '127.0.0.1', port }, () => {
      socket.destroy();
      resolve(true);
    });
    socket.on('error', () => resolve(false));
  });
}

function rsyslogdVersion(): string | undefined {
  try {
    const text = execFileSync('rsyslogd', ['-v'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    return /rsyslogd\s+(\S+)/.exec(text)?.[1] ?? 'unknown version';
  } catch {
    return undefined;
  }
}

/** rsyslogd in the foreground with its own configuration, pid file and work directory. */
async function startRsyslog(dir: string): Promise<{ child: ChildProcess; port: number; output: string }> {
  const port = await freePort();
  const output = join(dir, 'messages.log');
  await mkdir(join(dir, 'work'), { recursive: true });
  const config = join(dir, 'rsyslog.conf');
  await writeFile(
    config,
    [
      `global(workDirectory="${join(dir, 'work')}")`,
      'module(load="imtcp")',
      `input(type="imtcp" address="127.0.0.1" port="${port}")`,
      `action(type="omfile" file="${output}" template="RSYSLOG_FileFormat")`,
      '',
    ].join('\n'),
  );
  const child = spawn('rsyslogd', ['-n', '-f', config, '-i', join(dir, 'rsyslogd.pid')], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  // Kept to explain a failed start; rsyslog also notes its worker threads coming and going there.
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = `${stderr}${chunk}`.slice(-4000);
  });
  const deadline = Date.now() + 10_000;
  while (!(await canConnect(port))) {
    if (child.exitCode !== null)
      throw new Error(`rsyslogd exited at start (code ${child.exitCode}): ${stderr}`);
    if (Date.now() > deadline) throw new Error('rsyslogd did not listen within 10 s');
    await sleep(50);
  }
  return { child, port, output };
}

/** Counts the lines appended to a file, reading only what is new since the last call. */
class LineCounter {
  readonly #path: string;
  #offset = 0;
  lines = 0;

  constructor(path: string) {
    this.#path = path;
  }

  async update(): Promise<number> {
    const size = await stat(this.#path).then(
      (info) => info.size,
      () => 0,
    );
    if (size <= this.#offset) return this.lines;
    const handle = await open(this.#path, 'r');
    try {
      const buffer = Buffer.allocUnsafe(1 << 20);
      while (this.#offset < size) {
        const { bytesRead } = await handle.read(
          buffer,
          0,
          Math.min(buffer.length, size - this.#offset),
          this.#offset,
        );
        if (bytesRead === 0) break;
        for (let at = buffer.indexOf(10, 0); at >= 0 && at < bytesRead; at = buffer.indexOf(10, at + 1))
          this.lines++;
        this.#offset += bytesRead;
      }
    } finally {
      await handle.close();
    }
    return this.lines;
  }
}

function send(worker: Worker, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    worker.once('message', (reply: SyslogSendReply) =>
      'error' in reply ? reject(new Error(reply.error)) : resolve(reply.bytes),
    );
    worker.postMessage({ port });
  });
}

export async function measureSyslogRate(options: SyslogRateOptions): Promise<SyslogRate> {
  const { messages, connections, rounds } = options;
  const { streams, messageBytes } = prepareStreams(messages, connections);
  const worker = new Worker(new URL('./syslog-sender.worker.ts', import.meta.url), {
    workerData: { streams } satisfies SyslogSenderData,
  });
  const dir = await mkdtemp(join(tmpdir(), 'edgeward-bench-syslog-'));
  let received = 0;
  let onReceived: (() => void) | undefined;
  const listener = new SyslogListener({
    tcp: { host: '127.0.0.1', port: 0 },
    logger: pino({ level: 'warn' }),
    onMessages: async (_source, batch) => {
      received += batch.length;
      if (received >= messages) onReceived?.();
    },
  });
  let rsyslog: { child: ChildProcess; port: number; output: string } | undefined;
  const version = rsyslogdVersion();
  try {
    const { tcp } = await listener.listen();
    if (version !== undefined) rsyslog = await startRsyslog(dir);
    else
      options.progress?.(
        'syslog rate: rsyslogd is not installed (Debian: apt-get install rsyslog); measuring ours alone',
      );
    const counter = rsyslog === undefined ? undefined : new LineCounter(rsyslog.output);
    const ours: number[] = [];
    const theirs: number[] = [];

    const roundOurs = async (timed: boolean) => {
      received = 0;
      const done = new Promise<void>((resolve) => {
        onReceived = resolve;
      });
      const started = performance.now();
      await Promise.all([send(worker, tcp?.port ?? 0), done]);
      const rate = messages / ((performance.now() - started) / 1000);
      if (received !== messages || listener.stats.malformed > 0) {
        throw new Error(
          `our listener got ${received} messages (${listener.stats.malformed} malformed) of ${messages}`,
        );
      }
      if (timed) ours.push(rate);
    };
    let rsyslogRounds = 0;
    const roundRsyslog = async (timed: boolean) => {
      if (rsyslog === undefined || counter === undefined) return;
      rsyslogRounds += 1;
      const target = messages * rsyslogRounds;
      const started = performance.now();
      const sent = send(worker, rsyslog.port);
      while ((await counter.update()) < target) {
        if (rsyslog.child.exitCode !== null) throw new Error('rsyslogd exited during the run');
        if (performance.now() - started > 300_000)
          throw new Error(`rsyslog wrote ${counter.lines} of ${target} lines`);
        await sleep(10);
      }
      const elapsed = (performance.now() - started) / 1000;
      await sent;
      if (timed) theirs.push(messages / elapsed);
    };
    // An untimed warm-up of each, then the rounds, alternating which goes first.
    options.progress?.(
      `syslog rate: ${messages} messages (${messageBytes.toFixed(0)} B each) over ${connections} connections, ${rounds} rounds each`,
    );
    await roundOurs(false);
    await roundRsyslog(false);
    for (let round = 0; round < rounds; round++) {
      if (round % 2 === 0) {
        await roundOurs(true);
        await roundRsyslog(true);
      } else {
        await roundRsyslog(true);
        await roundOurs(true);
      }
      options.progress?.(
        `syslog rate: round ${round + 1}: ours ${Math.round(ours.at(-1) ?? 0)}/s${theirs.length > 0 ? `, rsyslog ${Math.round(theirs.at(-1) ?? 0)}/s` : ''}`,
      );
    }
    return {
      messages,
      connections,
      messageBytes,
      ours,
      rsyslog: rsyslog === undefined ? { missing: 'rsyslogd not installed' } : theirs,
      rsyslogVersion: version,
    };
  } finally {
    await worker.terminate();
    await listener.close();
    if (rsyslog !== undefined) await stopChild(rsyslog.child);
    await rm(dir, { recursive: true, force: true });
  }
}
