import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import pino from 'pino';
import { resolveAgentConfig } from '../config/agent-config.ts';
import { Agent } from './agent.ts';
import { Backoff } from './backoff.ts';

test('backoff doubles its ceiling per failure up to the maximum, with jitter in the upper half', () => {
  const low = new Backoff({ initialMs: 100, maxMs: 1000, random: () => 0 });
  const high = new Backoff({ initialMs: 100, maxMs: 1000, random: () => 0.999_999 });
  assert.deepEqual(
    Array.from({ length: 6 }, () => low.nextDelayMs()),
    [50, 100, 200, 400, 500, 500],
  );
  assert.deepEqual(
    Array.from({ length: 6 }, () => high.nextDelayMs()),
    [99, 199, 399, 799, 999, 999],
  );
  low.reset();
  assert.equal(low.nextDelayMs(), 50);
});

test('a stop while the manager is unreachable during enrollment ends at once, uses no token and is not a failure', async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'edgeward-agent-'));
  let attempts = 0;
  try {
    const agent = new Agent({
      config: resolveAgentConfig([
        {
          source: 'test',
          values: { dataDir, retryInitialMs: 10_000, retryMaxMs: 10_000, requestTimeoutMs: 500 },
        },
      ]),
      logger: pino({ level: 'silent' }),
      agentVersion: 'test',
      collectInventory: async () => {
        throw new Error('not reached');
      },
      enroll: {
        // A closed port: every attempt fails as unreachable and is retried with backoff.
        managerUrl: 'https://127.0.0.1:1',
        token: 'et-0.secret',
        caFingerprint: 'ab'.repeat(32),
        now: () => {
          attempts += 1;
          return Date.now();
        },
      },
    });
    const states: string[] = [];
    agent.onStateChange((state) => states.push(state));
    const started = agent.start().catch((error: unknown) => error);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const stopBegan = Date.now();
    await agent.stop(5000);
    assert.ok(Date.now() - stopBegan < 1000, 'stopped without waiting out the retry delay');
    const outcome = (await started) as { code?: string };
    assert.equal(outcome.code, 'EW_AGENT_NOT_ENROLLED');
    assert.deepEqual(states, ['enrolling', 'draining', 'stopped']);
    assert.equal(attempts, 0, 'no enrollment request reached the point of sending a token');
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
});
