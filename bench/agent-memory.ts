import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { buildManager, resolveManagerConfig } from '@edgeward/manager';
import pino from 'pino';
import {
  agentLauncherPath,
  buildAgentBundle,
  deviceMallocSettings,
  deviceNodeFlags,
} from '../scripts/build-agent.ts';
import { deviceEnvironment, median, readMemory, runToEnd } from './support.ts';

export interface MemorySample {
  readonly vmRssKb: number;
  readonly rssAnonKb: number;
}

export interface AgentMemory {
  readonly reportIntervalS: number;
  readonly inventoryIntervalS: number;
  readonly bare: MemorySample;
  /** The bundle loaded with the launcher's settings and nothing started. */
  readonly loadedOnly: MemorySample;
  readonly agents: (MemorySample & { label: string })[];
}

const REPORT_INTERVAL_S = 10;
const INVENTORY_INTERVAL_S = 60;
const SAMPLE_EVERY_MS = 5000;

/**
 * Runs the device binary (the bundled agent) against a real manager for `minutes`, reading this very
 * machine's inventory, beside a bare Node 24 that has loaded TLS, and samples /proc/PID/status of each.
 */
export async function measureAgentMemory(options: {
  minutes: number;
  progress: (line: string) => void;
}): Promise<AgentMemory> {
  const { path: bundle, files } = await buildAgentBundle();
  const agentChunk = files.find((file) => file.inputs.includes('packages/agent/src/runtime/agent.ts'))?.path;
  if (agentChunk === undefined) throw new Error('no file of the bundle holds the agent runtime');
  const dir = await mkdtemp(join(tmpdir(), 'edgeward-bench-agent-'));
  const config = resolveManagerConfig([
    {
      source: 'bench',
      values: { dataDir: join(dir, 'manager'), host: '127.0.0.1', devicePort: 0, operatorPort: 0 },
    },
  ]);
  const manager = await buildManager(config, { logger: pino({ level: 'warn' }) });
  const { deviceUrl } = await manager.listen();
  const operator = { id: 'bench', name: 'bench', role: 'admin' as const };
  // The device launcher as shipped, and the same bundle on Node's server defaults for comparison.
  const variants = [
    { label: 'device launcher (edgeward-agent)', command: '/bin/sh', prefix: [agentLauncherPath] },
    { label: 'bundle on Node defaults', command: process.execPath, prefix: [bundle] },
  ];
  const children: ChildProcess[] = [];
  try {
    for (const [index, variant] of variants.entries()) {
      const token = (await manager.services.tokens.create(operator, {}, 3_600_000)).token;
      const dataDir = join(dir, `agent-${index}`);
      await runToEnd(process.execPath, [
        bundle,
        'enroll',
        '--manager',
        deviceUrl.replace('localhost', '127.0.0.1'),
        '--token',
        token,
        '--ca-fingerprint',
        manager.pki.caFingerprint,
        '--data-dir',
        dataDir,
      ]);
      children.push(
        spawn(
          variant.command,
          [
            ...variant.prefix,
            'run',
            '--data-dir',
            dataDir,
            '--report-interval',
            `${REPORT_INTERVAL_S}s`,
            '--inventory-interval',
            `${INVENTORY_INTERVAL_S}s`,
            '--log-level',
            'warn',
          ],
          {
            stdio: ['ignore', 'ignore', 'inherit'],
            env: deviceEnvironment({ EDGEWARD_NODE: process.execPath }),
          },
        ),
      );
    }
    const bare = spawn(
      process.execPath,
      ['-e', "require('node:tls').createSecureContext(); setInterval(() => {}, 1 << 30);"],
      { stdio: 'ignore', env: deviceEnvironment() },
    );
    children.push(bare);
    // The modules `run` loads, evaluated under the launcher's settings, then nothing: what the code costs
    // before the agent does any work (the entry with `--version`, which prints and would exit: exit is
    // stubbed to keep it, and SIGTERM ends it; then the agent's chunk and what it imports).
    const loaded = spawn(
      process.execPath,
      [
        ...deviceNodeFlags,
        '--input-type=module',
        '-e',
        `const exit = process.exit; process.once('SIGTERM', () => exit(0)); process.exit = () => {}; setInterval(() => {}, 1 << 30); process.argv = [process.execPath, ${JSON.stringify(bundle)}, '--version']; await import(${JSON.stringify(pathToFileURL(bundle).href)}); await import(${JSON.stringify(pathToFileURL(agentChunk).href)});`,
      ],
      { stdio: 'ignore', env: deviceEnvironment(deviceMallocSettings) },
    );
    children.push(loaded);

    const samples = new Map<ChildProcess, { at: number; sample: MemorySample }[]>();
    const endAt = Date.now() + options.minutes * 60_000;
    while (Date.now() < endAt) {
      await new Promise((resolve) => setTimeout(resolve, SAMPLE_EVERY_MS));
      for (const child of children) {
        if (child.exitCode !== null)
          throw new Error(`a measured process exited early (code ${child.exitCode})`);
        const list = samples.get(child) ?? [];
        list.push({ at: Date.now(), sample: await readMemory(child.pid ?? 0) });
        samples.set(child, list);
      }
      const left = Math.max(0, Math.round((endAt - Date.now()) / 1000));
      if (left % 60 < SAMPLE_EVERY_MS / 1000) options.progress(`agent memory: ${left} s left`);
    }
    const lastMinute = (child: ChildProcess): MemorySample => {
      const recent = (samples.get(child) ?? []).filter((entry) => entry.at >= endAt - 60_000);
      return {
        vmRssKb: median(recent.map((entry) => entry.sample.vmRssKb)),
        rssAnonKb: median(recent.map((entry) => entry.sample.rssAnonKb)),
      };
    };
    return {
      reportIntervalS: REPORT_INTERVAL_S,
      inventoryIntervalS: INVENTORY_INTERVAL_S,
      bare: lastMinute(bare),
      loadedOnly: lastMinute(loaded),
      agents: variants.map((variant, index) => ({
        label: variant.label,
        ...lastMinute(children[index] as ChildProcess),
      })),
    };
  } finally {
    // Let the agents finish writing their state before their directories go.
    await Promise.all(
      children.map(
        (child) =>
          new Promise<void>((resolve) => {
            if (child.exitCode !== null || child.signalCode !== null) resolve();
            else {
              child.once('close', () => resolve());
              child.kill('SIGTERM');
            }
          }),
      ),
    );
    await manager.close();
    await rm(dir, { recursive: true, force: true });
  }
}
