import { Agent, enrollAgent, resolveAgentConfig } from '@edgeward/agent';
import type { Inventory } from '@edgeward/core';
import { silentLogger, type TestManager } from './test-manager.ts';

/** Enrolls a data directory with the test manager (through `managerUrl`, a proxy, when given). */
export async function enrollTestDevice(
  hub: TestManager,
  options: { dataDir: string; hostname: string; managerUrl?: string },
): Promise<string> {
  const operator = { id: 'test', name: 'test', role: 'admin' as const };
  const { deviceId } = await enrollAgent({
    managerUrl: options.managerUrl ?? hub.deviceUrl,
    token: (await hub.manager.services.tokens.create(operator, {}, 3_600_000)).token,
    caFingerprint: hub.manager.pki.caFingerprint,
    dataDir: options.dataDir,
    hostname: options.hostname,
    agentVersion: 'test',
    reportIntervalMs: 60_000,
    timeoutMs: 5000,
  });
  return deviceId;
}

/**
 * An agent that only reports inventories: no collectors, no push connection, no isolation, heartbeats
 * and policy polls too rare to interfere; `values` adds or overrides agent settings.
 */
export function inventoryOnlyAgent(
  dataDir: string,
  values: Record<string, unknown>,
  collectInventory: () => Promise<Inventory>,
): Agent {
  return new Agent({
    config: resolveAgentConfig([
      {
        source: 'test',
        values: {
          dataDir,
          root: dataDir,
          pushEnabled: false,
          reportIntervalMs: 60_000,
          policyPollMs: 3_600_000,
          isolation: 'report-only',
          ...values,
        },
      },
    ]),
    logger: silentLogger,
    agentVersion: 'test',
    collectInventory,
    eventSources: 'none',
  });
}
