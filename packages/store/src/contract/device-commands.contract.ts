import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { DeviceCommand, DeviceCommandResult } from '@edgeward/core';
import { type ContractContext, device } from './fixtures.ts';

let sequence = 0;
function isolate(deviceId: string, createdAt: number): DeviceCommand {
  sequence += 1;
  return {
    id: `00000000-0000-4000-8000-${String(sequence).padStart(12, '0')}`,
    deviceId,
    kind: 'isolate',
    params: {
      reason: 'beaconing to a known C2',
      allow: [{ name: 'siem', address: '10.0.0.5', port: 514, protocol: 'udp', direction: 'out' }],
      allowDns: false,
    },
    createdAt,
    createdBy: 'alice',
  };
}

function result(commandId: string, status: DeviceCommandResult['status']): DeviceCommandResult {
  return {
    v: 1,
    commandId,
    status,
    detail: status,
    at: 5_000,
    state: { isolated: status === 'done', since: 5_000, releaseAt: null, reason: 'x' },
  };
}

export function deviceCommandsContract(ctx: ContractContext): void {
  describe('device commands', () => {
    it('lists the open commands of the devices carrying a label, oldest first', async () => {
      const store = ctx.store();
      await store.devices.create(device('dev-a', { labels: { 'edgeward.site': 'plant-1' } }));
      await store.devices.create(device('dev-b', { labels: { 'edgeward.site': 'plant-2' } }));
      await store.devices.create(device('dev-c', { labels: { 'edgeward.site': 'plant-1' } }));
      const late = isolate('dev-c', 3_000);
      const early = isolate('dev-a', 2_000);
      const elsewhere = isolate('dev-b', 1_000);
      const done = isolate('dev-a', 1_500);
      for (const command of [late, early, elsewhere, done]) await store.commands.create(command);
      await store.commands.markSent([late.id], 3_500);
      await store.commands.complete(done.id, result(done.id, 'done'), 4_000);
      assert.deepEqual(
        (await store.commands.listOpenByLabel('edgeward.site', 'plant-1', 10)).map((command) => command.id),
        [early.id, late.id],
      );
      assert.deepEqual(
        (await store.commands.listOpenByLabel('edgeward.site', 'plant-1', 1)).map((command) => command.id),
        [early.id],
      );
      assert.deepEqual(await store.commands.listOpenByLabel('edgeward.site', 'plant-9', 10), []);
    });

    it('stores a command as pending and reads it back whole', async () => {
      const store = ctx.store();
      await store.devices.create(device('dev-a'));
      const command = isolate('dev-a', 2_000);
      await store.commands.create(command);
      assert.deepEqual(await store.commands.findById(command.id), {
        ...command,
        status: 'pending',
        sentAt: null,
        acknowledgedAt: null,
        result: null,
      });
      assert.equal(await store.commands.findById('00000000-0000-4000-8000-ffffffffffff'), undefined);
    });

    it('refuses a command for a device that does not exist', async () => {
      await assert.rejects(ctx.store().commands.create(isolate('dev-missing', 1_000)));
    });

    it('lists open commands oldest first and every command newest first, per device', async () => {
      const store = ctx.store();
      await store.devices.create(device('dev-a'));
      await store.devices.create(device('dev-b'));
      const late = isolate('dev-a', 3_000);
      const early = isolate('dev-a', 1_000);
      const other = isolate('dev-b', 2_000);
      for (const command of [late, early, other]) await store.commands.create(command);
      assert.deepEqual(
        (await store.commands.listOpen('dev-a')).map((command) => command.id),
        [early.id, late.id],
      );
      assert.deepEqual(
        (await store.commands.listByDevice('dev-a')).map((command) => command.id),
        [late.id, early.id],
      );
      assert.deepEqual(
        (await store.commands.listByDevice('dev-a', 1)).map((command) => command.id),
        [late.id],
      );
    });

    it('marks only pending commands sent, keeping the first delivery time', async () => {
      const store = ctx.store();
      await store.devices.create(device('dev-a'));
      const command = isolate('dev-a', 1_000);
      await store.commands.create(command);
      assert.equal(await store.commands.markSent([command.id], 2_000), 1);
      assert.equal(await store.commands.markSent([command.id], 3_000), 0);
      const sent = await store.commands.findById(command.id);
      assert.equal(sent?.status, 'sent');
      assert.equal(sent?.sentAt, 2_000);
      assert.equal((await store.commands.listOpen('dev-a')).length, 1, 'sent but unanswered stays open');
    });

    it('records the first result only; a refusal counts as failed', async () => {
      const store = ctx.store();
      await store.devices.create(device('dev-a'));
      const done = isolate('dev-a', 1_000);
      const refused = isolate('dev-a', 2_000);
      await store.commands.create(done);
      await store.commands.create(refused);
      assert.equal(await store.commands.complete(done.id, result(done.id, 'done'), 6_000), true);
      assert.equal(await store.commands.complete(done.id, result(done.id, 'failed'), 7_000), false);
      assert.equal(await store.commands.complete(refused.id, result(refused.id, 'refused'), 6_500), true);
      const stored = await store.commands.findById(done.id);
      assert.equal(stored?.status, 'done');
      assert.equal(stored?.acknowledgedAt, 6_000);
      assert.equal(stored?.sentAt, 6_000, 'a result proves delivery');
      assert.deepEqual(stored?.result, result(done.id, 'done'));
      assert.equal((await store.commands.findById(refused.id))?.status, 'failed');
      assert.equal((await store.commands.findById(refused.id))?.result?.status, 'refused');
      assert.deepEqual(await store.commands.listOpen('dev-a'), []);
      assert.equal(
        await store.commands.complete('00000000-0000-4000-8000-ffffffffffff', result('x', 'done'), 1),
        false,
      );
    });

    it('keeps one isolation row per device: the latest wish and the last report', async () => {
      const store = ctx.store();
      await store.devices.create(device('dev-a'));
      assert.equal(await store.commands.findIsolation('dev-a'), undefined);
      await store.commands.reportIsolation(
        'dev-a',
        { isolated: true, since: 1, releaseAt: null, reason: 'r' },
        1,
      );
      assert.equal(await store.commands.findIsolation('dev-a'), undefined, 'no report without a wish');
      const base = { deviceId: 'dev-a', desiredBy: 'alice', reason: 'r' };
      await store.commands.setDesiredIsolation({
        ...base,
        desired: 'isolated',
        desiredAt: 1_000,
        commandId: 'c1',
      });
      const reported = { isolated: true, since: 1_100, releaseAt: 9_000, reason: 'r' };
      await store.commands.reportIsolation('dev-a', reported, 1_200);
      await store.commands.setDesiredIsolation({
        ...base,
        desired: 'released',
        desiredAt: 2_000,
        desiredBy: 'bob',
        commandId: 'c2',
      });
      assert.deepEqual(await store.commands.findIsolation('dev-a'), {
        ...base,
        desired: 'released',
        desiredAt: 2_000,
        desiredBy: 'bob',
        commandId: 'c2',
        reported,
        reportedAt: 1_200,
      });
    });
  });
}
