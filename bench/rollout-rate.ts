// A rollout to many devices through three phases with no soak: wall time and the manager's CPU. The
// manager (SQLite) runs on this thread; the devices run on a worker thread and speak the real device
// protocol over mutual TLS, each with its own certificate (see rollout-device.worker.ts), so this thread's
// CPU time (process.threadCpuUsage) is the manager's: TLS, HTTP, the rollout state machine and the store.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import {
  createCsr,
  createRolloutRequestSchema,
  exportPrivateKeyPem,
  generateDeviceKeyPair,
  type RolloutView,
} from '@edgeward/core';
import { buildManager, resolveManagerConfig } from '@edgeward/manager';
import pino from 'pino';
import type {
  RolloutDevice,
  RolloutNudge,
  RolloutWorkerData,
  RolloutWorkerReply,
} from './rollout-device.worker.ts';

const operator = { id: 'bench', name: 'bench', role: 'admin' as const };

export interface RolloutRate {
  readonly devices: number;
  readonly phases: string;
  /** From `rollouts start` until the rollout completed. */
  readonly wallSeconds: number;
  /** The manager thread's CPU time (user + system) over that span. */
  readonly managerCpuSeconds: number;
  /** Device updates per minute of wall time. */
  readonly updatesPerMinute: number;
  /** Device updates per minute of manager CPU: what one fully used core would carry. */
  readonly updatesPerCpuMinute: number;
  readonly requests: number;
  readonly polls: number;
  readonly concurrency: number;
  readonly pollMs: number;
  readonly mode: 'poll' | 'nudge';
  readonly setupSeconds: number;
}

export async function measureRolloutRate(options: {
  devices: number;
  concurrency: number;
  pollMs: number;
  phases: string;
  /** `nudge`: devices contact the manager when its push nudge says their turn came (see the worker). */
  mode: 'poll' | 'nudge';
}): Promise<RolloutRate> {
  const dir = await mkdtemp(join(tmpdir(), 'edgeward-bench-rollout-'));
  const setupStarted = performance.now();
  const config = resolveManagerConfig([
    {
      source: 'bench',
      values: { dataDir: dir, host: '127.0.0.1', devicePort: 0, operatorPort: 0, rolloutTickMs: 1000 },
    },
  ]);
  const manager = await buildManager(config, { logger: pino({ level: 'warn' }) });
  let worker: Worker | undefined;
  try {
    const { deviceUrl } = await manager.listen();
    // One key for every simulated device (key generation is not what is measured), one certificate each.
    const keys = await generateDeviceKeyPair();
    const csrPem = await createCsr({ keys, commonName: 'bench' });
    const keyPem = await exportPrivateKeyPem(keys.privateKey);
    const devices: RolloutDevice[] = [];
    for (let index = 0; index < options.devices; index += 1) {
      const deviceId = `bench-${String(index).padStart(5, '0')}`;
      await manager.store.devices.create({
        id: deviceId,
        name: deviceId,
        labels: { fn: 'gateway', site: `site-${index % 50}` },
        enrolledAt: Date.now(),
        enrollmentTokenId: null,
        lastSeenAt: null,
        reportIntervalMs: 60_000,
        agentVersion: 'bench',
        inventoryVersion: 0,
        revokedAt: null,
      });
      const issued = await manager.pki.issueDeviceCertificate(csrPem, deviceId, 86_400_000);
      devices.push({ deviceId, cert: `${issued.certPem}${manager.pki.issuingCaPem}` });
    }
    await manager.services.artifacts.upload(operator, Buffer.from('bench firmware 2.0'), {
      name: 'firmware',
      version: '2.0',
      severity: 'high',
      compat: {},
    });
    const rollout = (await manager.services.rollouts.create(
      operator,
      createRolloutRequestSchema.parse({
        artifact: { name: 'firmware', version: '2.0' },
        selector: { fn: 'gateway' },
        phases: options.phases,
        gates: { maxFailures: 0, minSuccessPercent: 100 },
      }),
    )) as RolloutView;
    const setupSeconds = (performance.now() - setupStarted) / 1000;

    const workerData: RolloutWorkerData = {
      url: new URL(deviceUrl.replace('localhost', '127.0.0.1')).origin,
      ca: `${manager.pki.rootCaPem}${manager.pki.issuingCaPem}`,
      key: keyPem,
      devices,
      concurrency: options.concurrency,
      pollMs: options.pollMs,
      mode: options.mode,
    };
    const cpuBefore = process.threadCpuUsage();
    const started = performance.now();
    worker = new Worker(new URL('./rollout-device.worker.ts', import.meta.url), { workerData });
    if (options.mode === 'nudge') {
      // The devices hold no WebSocket here: the nudge the device listener would send on a device's push
      // connection is handed to the device thread instead.
      const devicesThread = worker;
      manager.services.rollouts.usePush((deviceId) => {
        devicesThread.postMessage({ deviceId } satisfies RolloutNudge);
        return true;
      });
    }
    await manager.services.rollouts.act(operator, rollout.id, 'start');
    const reply = await new Promise<RolloutWorkerReply>((resolve, reject) => {
      worker?.once('message', resolve);
      worker?.once('error', reject);
    });
    if ('error' in reply) throw new Error(`the simulated devices failed: ${reply.error}`);
    let view = await manager.services.rollouts.status(rollout.id);
    while (view.state === 'running') {
      await new Promise((resolve) => setTimeout(resolve, 20));
      view = await manager.services.rollouts.status(rollout.id);
    }
    const wallSeconds = (performance.now() - started) / 1000;
    const cpu = process.threadCpuUsage(cpuBefore);
    if (view.state !== 'completed') throw new Error(`the rollout ended ${view.state}: ${view.reason}`);
    const managerCpuSeconds = (cpu.user + cpu.system) / 1e6;
    return {
      devices: options.devices,
      phases: options.phases,
      wallSeconds,
      managerCpuSeconds,
      updatesPerMinute: (options.devices / wallSeconds) * 60,
      updatesPerCpuMinute: (options.devices / managerCpuSeconds) * 60,
      requests: reply.requests,
      polls: reply.polls,
      concurrency: options.concurrency,
      pollMs: options.pollMs,
      mode: options.mode,
      setupSeconds,
    };
  } finally {
    await worker?.terminate();
    await manager.close();
    await rm(dir, { recursive: true, force: true });
  }
}
