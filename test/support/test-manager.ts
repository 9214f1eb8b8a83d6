import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Clock } from '@edgeward/core';
import { buildManager, type Manager, resolveManagerConfig } from '@edgeward/manager';
import pino from 'pino';

/** A clock that tests move by hand: real time plus an offset. */
export class ShiftableClock implements Clock {
  offsetMs = 0;
  now(): number {
    return Date.now() + this.offsetMs;
  }
}

export interface TestManager {
  readonly manager: Manager;
  readonly dir: string;
  readonly deviceUrl: string;
  readonly operatorUrl: string;
  readonly clock: ShiftableClock;
  readonly adminToken: string;
  /** Bound syslog ports, when the test configured syslog listeners. */
  readonly syslogPorts: { udp: number; tcp: number; tls: number } | undefined;
  close(): Promise<void>;
}

export const silentLogger = pino({ level: 'silent' });

/** A real manager on SQLite in a temporary directory, listening on free ports of 127.0.0.1. */
export async function startTestManager(values: Record<string, unknown> = {}): Promise<TestManager> {
  const dir = await mkdtemp(join(tmpdir(), 'edgeward-manager-'));
  const clock = new ShiftableClock();
  const config = resolveManagerConfig([
    {
      source: 'test',
      values: { dataDir: dir, host: '127.0.0.1', devicePort: 0, operatorPort: 0, ...values },
    },
  ]);
  const manager = await buildManager(config, { logger: silentLogger, clock });
  const { deviceUrl, operatorUrl, syslog } = await manager.listen();
  const adminToken = manager.firstStart?.adminToken.token ?? '';
  return {
    manager,
    dir,
    deviceUrl: deviceUrl.replace('localhost', '127.0.0.1'),
    operatorUrl,
    clock,
    adminToken,
    syslogPorts:
      syslog === undefined
        ? undefined
        : { udp: syslog.udp?.port ?? 0, tcp: syslog.tcp?.port ?? 0, tls: syslog.tls?.port ?? 0 },
    async close() {
      await manager.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export async function eventually<T>(
  probe: () => Promise<T | undefined> | T | undefined,
  what: string,
  timeoutMs = 20_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value !== undefined && value !== false) return value;
    } catch (error) {
      lastError = error;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`timed out waiting for ${what}${lastError ? `: ${(lastError as Error).message}` : ''}`);
}
