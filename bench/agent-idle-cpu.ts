// Agent CPU when idle: the device launcher enrolled with a real manager, connected, with nothing to
// send, on its default schedule (heartbeat every 60 s, inventory every 5 min, auth logs polled every 5 s,
// file integrity rescanned every 10 min) reading this machine. CPU is utime + stime from /proc/PID/stat
// over the window, as a share of one core; the time of processes it ran (journalctl, package managers)
// is reported apart, from cutime + cstime.
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildAgentBundle } from '../scripts/build-agent.ts';
import {
  enrollBundle,
  queuedEvents,
  readCpuSeconds,
  readMemory,
  sleep,
  spawnBareNode,
  spawnDeviceAgent,
  startBenchManager,
  stopChild,
} from './support.ts';

export interface IdleCpu {
  readonly seconds: number;
  /** Agent CPU over the window, percent of one core. */
  readonly agentPercent: number;
  /** CPU of the processes the agent ran and waited for, percent of one core. */
  readonly childrenPercent: number;
  readonly bareNodePercent: number;
  /** Seconds since the agent's last answered contact with the manager, at the end of the window. */
  readonly lastContactAgeS: number;
  readonly agentVmRssKb: number;
  readonly agentRssAnonKb: number;
}

export async function measureIdleCpu(options: {
  minutes: number;
  progress?: (line: string) => void;
}): Promise<IdleCpu> {
  const dir = await mkdtemp(join(tmpdir(), 'edgeward-bench-idle-'));
  const { path: bundle } = await buildAgentBundle();
  const { manager, deviceUrl } = await startBenchManager(join(dir, 'manager'));
  const children: ChildProcess[] = [];
  try {
    const dataDir = join(dir, 'agent');
    await enrollBundle({ bundle, manager, managerUrl: deviceUrl, dataDir });
    const agent = spawnDeviceAgent(dataDir, []);
    const bare = spawnBareNode();
    children.push(agent, bare);
    // Settled: in contact with the manager, and what it queued at start (agent.started, the FIM
    // baseline) sent; then a little longer for start-up work to end.
    const settleBy = Date.now() + 120_000;
    for (;;) {
      await sleep(500);
      if (agent.exitCode !== null) throw new Error(`the agent exited (code ${agent.exitCode})`);
      const state = await readState(dataDir);
      if (state?.lastContactAt != null && queuedEvents(join(dataDir, 'queue.db')) === 0) break;
      if (Date.now() > settleBy)
        throw new Error('the agent did not settle (no contact, or events still queued)');
    }
    await sleep(10_000);
    options.progress?.(`agent idle CPU: connected and idle; measuring for ${options.minutes} min`);
    const started = performance.now();
    const [agentBefore, bareBefore] = await Promise.all([
      readCpuSeconds(agent.pid ?? 0),
      readCpuSeconds(bare.pid ?? 0),
    ]);
    const endAt = Date.now() + options.minutes * 60_000;
    while (Date.now() < endAt) {
      await sleep(Math.min(5000, endAt - Date.now()));
      if (agent.exitCode !== null) throw new Error(`the agent exited (code ${agent.exitCode})`);
    }
    const [agentAfter, bareAfter] = await Promise.all([
      readCpuSeconds(agent.pid ?? 0),
      readCpuSeconds(bare.pid ?? 0),
    ]);
    const seconds = (performance.now() - started) / 1000;
    const memory = await readMemory(agent.pid ?? 0);
    const state = await readState(dataDir);
    if ((queuedEvents(join(dataDir, 'queue.db')) ?? 0) > 0) {
      options.progress?.('agent idle CPU: note: the agent queued events during the window');
    }
    const percent = (cpu: number) => (cpu / seconds) * 100;
    return {
      seconds,
      agentPercent: percent(agentAfter.own - agentBefore.own),
      childrenPercent: percent(agentAfter.children - agentBefore.children),
      bareNodePercent: percent(bareAfter.own - bareBefore.own),
      lastContactAgeS: (Date.now() - (state?.lastContactAt ?? 0)) / 1000,
      agentVmRssKb: memory.vmRssKb,
      agentRssAnonKb: memory.rssAnonKb,
    };
  } finally {
    await Promise.all(children.map(stopChild));
    await manager.close();
    await rm(dir, { recursive: true, force: true });
  }
}

async function readState(dataDir: string): Promise<{ lastContactAt: number | null } | undefined> {
  try {
    return JSON.parse(await readFile(join(dataDir, 'state.json'), 'utf8')) as {
      lastContactAt: number | null;
    };
  } catch {
    return undefined;
  }
}
