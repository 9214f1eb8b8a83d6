import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { DeviceCommand, DeviceCommandResult } from '@edgeward/core';
import pino from 'pino';
import { CommandDispatcher, type DeviceCommandHandler } from './command-dispatcher.ts';

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'edgeward-dispatcher-'));
});
after(() => rm(dir, { recursive: true, force: true }));

const log = pino({ level: 'silent' });
let files = 0;

function isolate(n: number, createdAt: number): DeviceCommand {
  return {
    id: `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`,
    deviceId: 'dev-1',
    kind: 'isolate',
    params: { reason: `r${n}`, allow: [], allowDns: false },
    createdAt,
    createdBy: 'alice',
  };
}

function dispatcher(options: {
  stateFile: string;
  handler?: DeviceCommandHandler;
  report?: (result: DeviceCommandResult) => Promise<void>;
}) {
  return new CommandDispatcher({
    stateFile: options.stateFile,
    handlers: options.handler === undefined ? {} : { isolate: options.handler },
    report: options.report ?? (async () => {}),
    now: () => 42,
    log,
  });
}

test('runs commands one at a time in the order they were issued, each id once', async () => {
  const order: string[] = [];
  let running = 0;
  const handler: DeviceCommandHandler = {
    async handle(command) {
      running += 1;
      assert.equal(running, 1, 'never two at once');
      await new Promise((resolve) => setTimeout(resolve, 5));
      order.push(command.params.reason);
      running -= 1;
      return {
        status: 'done',
        detail: 'ok',
        state: { isolated: true, since: 1, releaseAt: null, reason: 'x' },
      };
    },
  };
  const stateFile = join(dir, `state-${++files}.json`);
  const commands = dispatcher({ stateFile, handler });
  await Promise.all([
    commands.offer([isolate(2, 200), isolate(1, 100)]),
    commands.offer([isolate(1, 100), isolate(3, 300)]),
  ]);
  await commands.offer([isolate(2, 200)]);
  assert.deepEqual(order, ['r1', 'r2', 'r3']);
  const restarted = dispatcher({ stateFile, handler });
  await restarted.offer([isolate(3, 300)]);
  assert.deepEqual(order, ['r1', 'r2', 'r3'], 'remembered across a restart');
});

test('refuses a kind without a handler, and reports a throwing handler as failed', async () => {
  const reports: DeviceCommandResult[] = [];
  const report = async (result: DeviceCommandResult) => {
    reports.push(result);
  };
  await dispatcher({ stateFile: join(dir, `state-${++files}.json`), report }).offer([isolate(1, 1)]);
  assert.equal(reports[0]?.status, 'refused');
  assert.equal(reports[0]?.detail, 'this agent has no isolation enforcer configured');
  const throwing: DeviceCommandHandler = {
    async handle() {
      throw new Error('nft: permission denied');
    },
  };
  await dispatcher({ stateFile: join(dir, `state-${++files}.json`), report, handler: throwing }).offer([
    isolate(2, 2),
  ]);
  assert.equal(reports[1]?.status, 'failed');
  assert.equal(reports[1]?.detail, 'nft: permission denied');
});

test('keeps a result the manager did not take and sends it at the next flush, without running again', async () => {
  let up = false;
  const delivered: string[] = [];
  let runs = 0;
  const handler: DeviceCommandHandler = {
    async handle() {
      runs += 1;
      return { status: 'done', detail: '', state: { isolated: true, since: 1, releaseAt: null, reason: '' } };
    },
  };
  const report = async (result: DeviceCommandResult) => {
    if (!up) throw new Error('manager unreachable');
    delivered.push(result.commandId);
  };
  const stateFile = join(dir, `state-${++files}.json`);
  const commands = dispatcher({ stateFile, handler, report });
  await commands.offer([isolate(1, 1)]);
  assert.deepEqual(delivered, []);
  up = true;
  await commands.offer([isolate(1, 1)]);
  assert.equal(runs, 1);
  assert.deepEqual(delivered, [isolate(1, 1).id]);
  await commands.flushResults();
  assert.deepEqual(delivered, [isolate(1, 1).id], 'sent once the manager took it');
});
