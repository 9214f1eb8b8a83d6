// The agent with a backlog: its queue file filled with realistic events (bench/realistic-events.ts)
// while the link to the manager is cut, measured two ways. Memory: the device launcher kept
// partitioned, its VmRSS and RssAnon beside a bare Node 24 with TLS. Drain: the link comes back and the
// clock runs until the queue is empty. Real manager (SQLite, port 0), the real device binary, and a
// fault-injecting TCP proxy (@edgeward/sim) between them on loopback; the manager and the proxy run in
// this process, the agent in its own.
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EventQueue } from '@edgeward/agent';
import { FaultProxy } from '@edgeward/sim';
import { buildAgentBundle } from '../scripts/build-agent.ts';
import { generateRealisticEvents } from './realistic-events.ts';
import {
  type BenchManager,
  enrollBundle,
  type MemorySample,
  median,
  queuedEvents,
  readCpuSeconds,
  readMemory,
  sleep,
  spawnBareNode,
  spawnDeviceAgent,
  startBenchManager,
  stopChild,
} from './support.ts';

interface BackloggedAgent {
  readonly manager: BenchManager;
  readonly proxy: FaultProxy;
  readonly deviceId: string;
  readonly dataDir: string;
  readonly queuePath: string;
  /** Queue file size after filling (WAL checkpointed), bytes. */
  readonly queueFileBytes: number;
  readonly events: number;
}

/**
 * A manager, a proxy to it, the device binary enrolled through the proxy, and its queue file filled with
 * `events` realistic events; the link is cut before this returns.
 */
async function backloggedAgent(dir: string, events: number): Promise<BackloggedAgent> {
  const generated = await generateRealisticEvents({ events });
  const { path: bundle } = await buildAgentBundle();
  const { manager, devicePort } = await startBenchManager(join(dir, 'manager'));
  const proxy = await FaultProxy.start({ target: { host: '127.0.0.1', port: devicePort } });
  const dataDir = join(dir, 'agent');
  const deviceId = await enrollBundle({ bundle, manager, managerUrl: proxy.url, dataDir });
  proxy.cut();
  const queuePath = join(dataDir, 'queue.db');
  const queue = EventQueue.open({ path: queuePath });
  for (let start = 0; start < generated.mixed.length; start += 1000) {
    const result = queue.append(generated.mixed.slice(start, start + 1000));
    if (result.refused.length > 0 || result.evicted > 0)
      throw new Error('the queue overflowed while filling');
  }
  const queued = queue.stats().events;
  queue.close();
  return {
    manager,
    proxy,
    deviceId,
    dataDir,
    queuePath,
    queueFileBytes: (await stat(queuePath)).size,
    events: queued,
  };
}

async function release(agent: BackloggedAgent | undefined, children: ChildProcess[], dir: string) {
  await Promise.all(children.map(stopChild));
  await agent?.proxy.close();
  await agent?.manager.close();
  await rm(dir, { recursive: true, force: true });
}

export interface BacklogMemory {
  readonly events: number;
  readonly queueFileBytes: number;
  readonly seconds: number;
  /** Connections the agent tried while partitioned (reset by the proxy). */
  readonly attempts: number;
  readonly bare: MemorySample;
  readonly agent: MemorySample;
}

/**
 * Memory of the device launcher holding `events` queued events while the manager is unreachable, over
 * `seconds`, with the agent's default retry settings (it keeps trying, backing off to 5 min). Figures
 * are medians of the samples of the second half; VmHWM is the peak at the end.
 */
export async function measureBacklogMemory(options: {
  events: number;
  seconds: number;
  progress?: (line: string) => void;
}): Promise<BacklogMemory> {
  const dir = await mkdtemp(join(tmpdir(), 'edgeward-bench-backlog-memory-'));
  const children: ChildProcess[] = [];
  let agent: BackloggedAgent | undefined;
  try {
    agent = await backloggedAgent(dir, options.events);
    options.progress?.(
      `agent memory with backlog: ${agent.events} events queued (${(agent.queueFileBytes / 2 ** 20).toFixed(1)} MiB file), link cut, sampling for ${options.seconds} s`,
    );
    const device = spawnDeviceAgent(agent.dataDir, []);
    const bare = spawnBareNode();
    children.push(device, bare);
    const samples = new Map<ChildProcess, MemorySample[]>([
      [device, []],
      [bare, []],
    ]);
    const endAt = Date.now() + options.seconds * 1000;
    while (Date.now() < endAt) {
      await sleep(2000);
      for (const [child, list] of samples) {
        if (child.exitCode !== null)
          throw new Error(`a measured process exited early (code ${child.exitCode})`);
        list.push(await readMemory(child.pid ?? 0));
      }
    }
    const summary = (child: ChildProcess): MemorySample => {
      const list = samples.get(child) ?? [];
      const recent = list.slice(Math.floor(list.length / 2));
      return {
        vmRssKb: median(recent.map((sample) => sample.vmRssKb)),
        rssAnonKb: median(recent.map((sample) => sample.rssAnonKb)),
        vmHwmKb: list.at(-1)?.vmHwmKb ?? Number.NaN,
      };
    };
    const count = queuedEvents(agent.queuePath) ?? 0;
    if (count < agent.events) throw new Error(`the queue lost events while partitioned (${count} left)`);
    return {
      events: agent.events,
      queueFileBytes: agent.queueFileBytes,
      seconds: options.seconds,
      attempts: agent.proxy.refusedCount,
      bare: summary(bare),
      agent: summary(device),
    };
  } finally {
    await release(agent, children, dir);
  }
}

export interface BacklogDrain {
  readonly events: number;
  /** Events the agent added itself (start, collectors) and sent with the backlog. */
  readonly extraEvents: number;
  readonly partitionSeconds: number;
  readonly attempts: number;
  /** From the link's return to an empty queue. */
  readonly seconds: number;
  /** From the first stored batch (first drop of the queue's count) to an empty queue. */
  readonly secondsAfterFirstBatch: number;
  readonly rate: number;
  readonly rateAfterFirstBatch: number;
  /** Agent CPU seconds (user + system) spent from the link's return to the end. */
  readonly agentCpuSeconds: number;
  /** Peak resident set of the agent at the end of the drain. */
  readonly agentVmHwmKb: number;
}

/**
 * Drain rate after a partition: the agent starts with `events` queued and the link cut, tries for at
 * least `partitionSeconds`, then the link returns. Retries are shortened (EDGEWARD_RETRY_INITIAL_MS=200,
 * EDGEWARD_RETRY_MAX_MS=1000) so that the figure is the drain and not the backoff; the queue file is
 * watched from here (read-only) every 50 ms.
 */
export async function measureBacklogDrain(options: {
  events: number;
  partitionSeconds: number;
  progress?: (line: string) => void;
}): Promise<BacklogDrain> {
  const dir = await mkdtemp(join(tmpdir(), 'edgeward-bench-backlog-drain-'));
  const children: ChildProcess[] = [];
  let agent: BackloggedAgent | undefined;
  try {
    agent = await backloggedAgent(dir, options.events);
    const device = spawnDeviceAgent(agent.dataDir, [], {
      EDGEWARD_RETRY_INITIAL_MS: '200',
      EDGEWARD_RETRY_MAX_MS: '1000',
    });
    children.push(device);
    const partitionStart = Date.now();
    while (Date.now() - partitionStart < options.partitionSeconds * 1000 || agent.proxy.refusedCount < 3) {
      if (device.exitCode !== null) throw new Error(`the agent exited (code ${device.exitCode})`);
      await sleep(100);
    }
    const partitionSeconds = (Date.now() - partitionStart) / 1000;
    const before = queuedEvents(agent.queuePath) ?? 0;
    const cpuBefore = await readCpuSeconds(device.pid ?? 0);
    options.progress?.(
      `backlog drain: ${before} events queued, link cut for ${partitionSeconds.toFixed(1)} s (${agent.proxy.refusedCount} connections refused); link restored`,
    );
    agent.proxy.restore();
    const restoredAt = performance.now();
    let firstBatch: { at: number; left: number } | undefined;
    let lastProgressAt = restoredAt;
    for (;;) {
      await sleep(50);
      if (device.exitCode !== null) throw new Error(`the agent exited (code ${device.exitCode})`);
      const count = queuedEvents(agent.queuePath) ?? 0;
      if (count < before) firstBatch ??= { at: performance.now(), left: count };
      if (count === 0) break;
      if (performance.now() - lastProgressAt > 10_000) {
        lastProgressAt = performance.now();
        options.progress?.(`backlog drain: ${count} events left`);
      }
      if (performance.now() - restoredAt > 600_000)
        throw new Error(`the queue did not drain (${count} left)`);
    }
    const endedAt = performance.now();
    const cpuAfter = await readCpuSeconds(device.pid ?? 0);
    const memory = await readMemory(device.pid ?? 0);
    const { ackedSeq } = await agent.manager.store.events.deliveryState(agent.deviceId);
    if (ackedSeq < agent.events) throw new Error(`the manager acknowledged up to ${ackedSeq} only`);
    const seconds = (endedAt - restoredAt) / 1000;
    const secondsAfterFirstBatch = (endedAt - (firstBatch?.at ?? restoredAt)) / 1000;
    const result: BacklogDrain = {
      events: agent.events,
      extraEvents: before - agent.events,
      partitionSeconds,
      attempts: agent.proxy.refusedCount,
      seconds,
      secondsAfterFirstBatch,
      rate: before / seconds,
      // What was left once the first batch was stored, over the time it took to send.
      rateAfterFirstBatch: (firstBatch?.left ?? before) / secondsAfterFirstBatch,
      agentCpuSeconds: cpuAfter.own - cpuBefore.own,
      agentVmHwmKb: memory.vmHwmKb,
    };
    options.progress?.(
      `backlog drain: empty after ${seconds.toFixed(1)} s: ${Math.round(result.rate)} events/s from the link's return`,
    );
    return result;
  } finally {
    await release(agent, children, dir);
  }
}
