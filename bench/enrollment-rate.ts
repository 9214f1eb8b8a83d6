import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManagerClient } from '@edgeward/agent';
import { createCsr, generateDeviceKeyPair, PROTOCOL_VERSION } from '@edgeward/core';
import { buildManager, resolveManagerConfig } from '@edgeward/manager';
import pino from 'pino';

export interface EnrollmentRate {
  readonly enrollments: number;
  readonly concurrency: number;
  readonly rates: number[];
  readonly median: number;
}

/**
 * Enrollments per second on one manager: each round prepares fresh tokens and CSRs first (key
 * generation belongs to the devices), then times the POSTs to /v1/enroll over TLS.
 */
export async function measureEnrollmentRate(options: {
  enrollments: number;
  rounds: number;
  concurrency: number;
  progress: (line: string) => void;
}): Promise<EnrollmentRate> {
  const dir = await mkdtemp(join(tmpdir(), 'edgeward-bench-'));
  const config = resolveManagerConfig([
    { source: 'bench', values: { dataDir: dir, host: '127.0.0.1', devicePort: 0, operatorPort: 0 } },
  ]);
  const manager = await buildManager(config, { logger: pino({ level: 'warn' }) });
  const { deviceUrl } = await manager.listen();
  const operator = { id: 'bench', name: 'bench', role: 'admin' as const };
  const rates: number[] = [];
  try {
    for (let round = 0; round < options.rounds; round += 1) {
      const requests = await Promise.all(
        Array.from({ length: options.enrollments }, async (_, index) => ({
          token: (await manager.services.tokens.create(operator, { bench: 'true' }, 3_600_000)).token,
          csrPem: await createCsr({ keys: await generateDeviceKeyPair(), commonName: `bench-${index}` }),
        })),
      );
      const clients = Array.from(
        { length: options.concurrency },
        () => new ManagerClient({ managerUrl: deviceUrl, ca: manager.pki.rootCaPem, timeoutMs: 30_000 }),
      );
      let next = 0;
      const started = performance.now();
      await Promise.all(
        clients.map(async (client) => {
          for (let index = next++; index < requests.length; index = next++) {
            const request = requests[index];
            if (request === undefined) break;
            await client.post('/v1/enroll', {
              v: PROTOCOL_VERSION,
              token: request.token,
              csrPem: request.csrPem,
              hostname: `bench-${round}-${index}`,
              agentVersion: 'bench',
              reportIntervalMs: 60_000,
            });
          }
        }),
      );
      const rate = requests.length / ((performance.now() - started) / 1000);
      for (const client of clients) client.close();
      rates.push(rate);
      options.progress(`enrollment round ${round + 1}: ${rate.toFixed(1)}/s`);
    }
  } finally {
    await manager.close();
    await rm(dir, { recursive: true, force: true });
  }
  const sorted = [...rates].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return {
    enrollments: options.enrollments,
    concurrency: options.concurrency,
    rates,
    median:
      sorted.length % 2 === 1
        ? (sorted[middle] ?? 0)
        : ((sorted[middle - 1] ?? 0) + (sorted[middle] ?? 0)) / 2,
  };
}
