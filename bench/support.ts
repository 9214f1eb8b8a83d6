// What several benchmarks share: a real manager on port 0, the device binary enrolled with it and
// started as devices start it, and readings of /proc for the processes measured.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { buildManager, resolveManagerConfig } from '@edgeward/manager';
import pino from 'pino';
import { agentLauncherPath } from '../scripts/build-agent.ts';

export type BenchManager = Awaited<ReturnType<typeof buildManager>>;

/** A manager on SQLite in `dataDir`, listening on free loopback ports. */
export async function startBenchManager(
  dataDir: string,
): Promise<{ manager: BenchManager; deviceUrl: string; devicePort: number }> {
  const config = resolveManagerConfig([
    { source: 'bench', values: { dataDir, host: '127.0.0.1', devicePort: 0, operatorPort: 0 } },
  ]);
  const manager = await buildManager(config, { logger: pino({ level: 'warn' }) });
  const { deviceUrl } = await manager.listen();
  const url = new URL(deviceUrl.replace('localhost', '127.0.0.1'));
  return { manager, deviceUrl: url.origin, devicePort: Number(url.port) };
}

/** Enrolls the device binary (`bundle`) with `manager` at `managerUrl`; returns the device id. */
export async function enrollBundle(options: {
  bundle: string;
  manager: BenchManager;
  managerUrl: string;
  dataDir: string;
}): Promise<string> {
  const operator = { id: 'bench', name: 'bench', role: 'admin' as const };
  const token = (await options.manager.services.tokens.create(operator, {}, 3_600_000)).token;
  await runToEnd(process.execPath, [
    options.bundle,
    'enroll',
    '--manager',
    options.managerUrl,
    '--token',
    token,
    '--ca-fingerprint',
    options.manager.pki.caFingerprint,
    '--data-dir',
    options.dataDir,
  ]);
  const enrollment = JSON.parse(await readFile(join(options.dataDir, 'enrollment.json'), 'utf8')) as {
    deviceId: string;
  };
  return enrollment.deviceId;
}

/**
 * The environment a measured process gets: this machine's, without `NODE_EXTRA_CA_CERTS`. Some build hosts
 * set it for their proxies; a device does not, and with it Node parses the whole extra bundle into memory.
 */
export function deviceEnvironment(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const { NODE_EXTRA_CA_CERTS: _ignored, ...rest } = process.env;
  return { ...rest, ...extra };
}

/**
 * Starts `edgeward-agent run` through the device launcher (its V8 flags and malloc settings), with this
 * Node as EDGEWARD_NODE; `env` adds agent settings (`EDGEWARD_RETRY_MAX_MS`, …). The launcher execs
 * Node, so the child's pid is the agent's.
 */
export function spawnDeviceAgent(dataDir: string, args: string[], env: Record<string, string> = {}) {
  // Errors only: a partitioned agent warns about every retry, which is what it is asked to do here.
  return spawn(
    '/bin/sh',
    [agentLauncherPath, 'run', '--data-dir', dataDir, '--log-level', 'error', ...args],
    {
      stdio: ['ignore', 'ignore', 'inherit'],
      env: deviceEnvironment({ EDGEWARD_NODE: process.execPath, ...env }),
    },
  );
}

/** A bare Node 24 that has loaded TLS and waits: the floor the agent's memory is compared with. */
export function spawnBareNode(): ChildProcess {
  return spawn(
    process.execPath,
    ['-e', "require('node:tls').createSecureContext(); setInterval(() => {}, 1 << 30);"],
    { stdio: 'ignore', env: deviceEnvironment() },
  );
}

/** SIGTERM, then waits for the process to end (agents write their state on the way out). */
export function stopChild(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else {
      child.once('close', () => resolve());
      child.kill('SIGTERM');
    }
  });
}

export interface MemorySample {
  readonly vmRssKb: number;
  readonly rssAnonKb: number;
  /** Peak resident set so far. */
  readonly vmHwmKb: number;
}

export async function readMemory(pid: number): Promise<MemorySample> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const field = (name: string) => Number(new RegExp(`${name}:\\s+(\\d+)`).exec(status)?.[1] ?? Number.NaN);
  return { vmRssKb: field('VmRSS'), rssAnonKb: field('RssAnon'), vmHwmKb: field('VmHWM') };
}

/** CPU seconds used by a process itself and by its waited-for children, from /proc/PID/stat. */
export async function readCpuSeconds(pid: number): Promise<{ own: number; children: number }> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  // The command name may hold spaces and parentheses: fields are counted after its closing one.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = (index: number) => Number(fields[index - 3]);
  return {
    own: (ticks(14) + ticks(15)) / clockTicksPerSecond(),
    children: (ticks(16) + ticks(17)) / clockTicksPerSecond(),
  };
}

let clockTicks: number | undefined;
function clockTicksPerSecond(): number {
  clockTicks ??= Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  return clockTicks;
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[middle] ?? Number.NaN)
    : ((sorted[middle - 1] ?? 0) + (sorted[middle] ?? 0)) / 2;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Runs a command to its end; rejects if it fails. */
export function runToEnd(command: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'inherit'] });
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0 ? resolve() : reject(new Error(`${args.slice(0, 2).join(' ')} exited with ${code}`)),
    );
  });
}

/**
 * Events in an agent's queue file, read by a second, read-only connection (WAL lets it read while the
 * agent writes); undefined while the file does not exist yet.
 */
export function queuedEvents(path: string): number | undefined {
  let db: DatabaseSync;
  try {
    db = new DatabaseSync(path, { readOnly: true, timeout: 5000 });
  } catch {
    return undefined;
  }
  try {
    const row = db.prepare('SELECT COALESCE(SUM(events), 0) AS count FROM totals').get() as { count: number };
    return Number(row.count);
  } finally {
    db.close();
  }
}
