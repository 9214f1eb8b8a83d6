import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { DeviceEvent } from '@edgeward/core';
import type { SiteRecord } from '../store.ts';
import { type ContractContext, device, token } from './fixtures.ts';

function site(id: string, overrides: Partial<SiteRecord> = {}): SiteRecord {
  return {
    id,
    name: `Site ${id}`,
    maxOfflineMs: 3 * 86_400_000,
    createdAt: 1_000,
    createdBy: 'alice',
    enrollmentTokenId: `tok-${id}`,
    enrolledAt: null,
    overlayPublicKeyPem: null,
    tufTimestampPublicKeyPem: null,
    caSerial: null,
    caNotAfter: null,
    lastSyncAt: null,
    backlog: 0,
    budgetEndsAt: null,
    conflicts: 0,
    revokedAt: null,
    ...overrides,
  };
}

function events(from: number, to: number): DeviceEvent[] {
  const list: DeviceEvent[] = [];
  for (let seq = from; seq <= to; seq += 1) {
    list.push({
      seq,
      id: `e-${seq}`,
      type: 'auth.login_failed',
      severity: 'medium',
      time: 1_000 + seq,
      data: { seq },
    });
  }
  return list;
}

export function sitesContract(ctx: ContractContext): void {
  describe('sites', () => {
    it('stores a site, finds it by id and by its enrollment token, and patches it', async () => {
      const store = ctx.store();
      await store.tokens.create(token('tok-plant-1'));
      await store.sites.create(site('plant-1'));
      await store.sites.create(site('plant-0'));
      assert.deepEqual(await store.sites.findById('plant-1'), site('plant-1'));
      assert.equal((await store.sites.findByEnrollmentToken('tok-plant-1'))?.id, 'plant-1');
      assert.equal(await store.sites.findByEnrollmentToken('tok-none'), undefined);
      assert.equal(
        await store.sites.update('plant-1', {
          enrolledAt: 5_000,
          backlog: 42,
          budgetEndsAt: 9_000,
          caSerial: '0a',
          tufTimestampPublicKeyPem: 'PEM',
        }),
        true,
      );
      assert.equal(await store.sites.update('plant-9', { backlog: 1 }), false);
      assert.deepEqual(await store.sites.findById('plant-1'), {
        ...site('plant-1'),
        enrolledAt: 5_000,
        backlog: 42,
        budgetEndsAt: 9_000,
        caSerial: '0a',
        tufTimestampPublicKeyPem: 'PEM',
      });
      assert.deepEqual(
        (await store.sites.list()).map((record) => record.id),
        ['plant-0', 'plant-1'],
      );
    });

    it('refuses a second site with the same enrollment token', async () => {
      const store = ctx.store();
      await store.sites.create(site('plant-1'));
      await assert.rejects(store.sites.create(site('plant-2', { enrollmentTokenId: 'tok-plant-1' })));
    });

    it('lists events the hub has not acknowledged, in order and only up to the first gap here', async () => {
      const store = ctx.store();
      await store.devices.create(device('dev-a'));
      await store.devices.create(device('dev-b'));
      await store.events.ingest('dev-a', events(1, 5), 2_000);
      // dev-b holds 1-2 and 4: event 3 has not reached the site yet.
      await store.events.ingest('dev-b', [...events(1, 2), ...events(4, 4)], 2_000);
      assert.deepEqual(
        (await store.sites.pendingUplink(100)).map((event) => `${event.deviceId}:${event.seq}`),
        ['dev-a:1', 'dev-a:2', 'dev-a:3', 'dev-a:4', 'dev-a:5', 'dev-b:1', 'dev-b:2'],
      );
      assert.equal(await store.sites.uplinkBacklog(), 7);
      await store.sites.recordUplinkAck('dev-a', 3);
      // An older acknowledgement (a reply that arrived late) never moves it back.
      await store.sites.recordUplinkAck('dev-a', 2);
      assert.equal(await store.sites.uplinkAck('dev-a'), 3);
      assert.equal(await store.sites.uplinkAck('dev-c'), 0);
      const pending = await store.sites.pendingUplink(3);
      assert.deepEqual(
        pending.map((event) => `${event.deviceId}:${event.seq}`),
        ['dev-a:4', 'dev-a:5', 'dev-b:1'],
      );
      assert.deepEqual(pending[0]?.data, { seq: 4 });
      await store.events.ingest('dev-b', events(3, 3), 3_000);
      assert.equal(await store.sites.uplinkBacklog(), 6);
    });

    it('lists devices whose inventory the hub does not hold yet, and forgets them once forwarded', async () => {
      const store = ctx.store();
      await store.devices.create(device('dev-a', { inventoryVersion: 2 }));
      await store.devices.create(device('dev-b', { inventoryVersion: 0 }));
      await store.devices.create(device('dev-c', { inventoryVersion: 1 }));
      assert.deepEqual(await store.sites.pendingInventories(10), [
        { deviceId: 'dev-a', version: 2 },
        { deviceId: 'dev-c', version: 1 },
      ]);
      await store.sites.recordUplinkAck('dev-a', 7);
      await store.sites.recordInventoryForwarded('dev-a', 2);
      await store.sites.recordInventoryForwarded('dev-a', 1);
      assert.deepEqual(await store.sites.pendingInventories(10), [{ deviceId: 'dev-c', version: 1 }]);
      // Forwarding inventories and acknowledging events keep each other's progress.
      assert.equal(await store.sites.uplinkAck('dev-a'), 7);
      await store.sites.recordUplinkAck('dev-c', 3);
      await store.sites.recordInventoryForwarded('dev-c', 1);
      assert.equal(await store.sites.uplinkAck('dev-c'), 3);
      assert.deepEqual(await store.sites.pendingInventories(10), []);
    });

    it('lists devices whose latest compliance report the hub does not hold yet', async () => {
      const store = ctx.store();
      await store.devices.create(device('dev-a'));
      await store.devices.create(device('dev-b'));
      const report = (receivedAt: number) => ({
        bundleVersion: 1,
        segment: 'default',
        evaluatedAt: receivedAt - 10,
        stale: false,
        receivedAt,
        results: [],
      });
      await store.compliance.saveReport('dev-a', report(5_000));
      await store.compliance.saveReport('dev-b', report(6_000));
      assert.deepEqual(await store.sites.pendingCompliance(10), [
        { deviceId: 'dev-a', receivedAt: 5_000 },
        { deviceId: 'dev-b', receivedAt: 6_000 },
      ]);
      await store.sites.recordComplianceForwarded('dev-a', 5_000);
      await store.sites.recordComplianceForwarded('dev-a', 4_000);
      assert.deepEqual(await store.sites.pendingCompliance(10), [{ deviceId: 'dev-b', receivedAt: 6_000 }]);
      await store.compliance.saveReport('dev-a', report(7_000));
      assert.deepEqual(
        (await store.sites.pendingCompliance(10)).map((entry) => entry.deviceId),
        ['dev-a', 'dev-b'],
      );
    });

    it('records a revoked site', async () => {
      const store = ctx.store();
      await store.tokens.create(token('tok-plant-1'));
      await store.sites.create(site('plant-1'));
      assert.equal(await store.sites.update('plant-1', { revokedAt: 7_000 }), true);
      assert.equal((await store.sites.findById('plant-1'))?.revokedAt, 7_000);
    });

    it('keeps how far each relayed stream reached the hub', async () => {
      const store = ctx.store();
      assert.equal(await store.sites.relayPosition('alerts'), undefined);
      await store.sites.saveRelayPosition('alerts', '{"updatedAt":5,"id":"a"}');
      await store.sites.saveRelayPosition('audit', '12');
      await store.sites.saveRelayPosition('alerts', '{"updatedAt":9,"id":"b"}');
      assert.equal(await store.sites.relayPosition('alerts'), '{"updatedAt":9,"id":"b"}');
      assert.equal(await store.sites.relayPosition('audit'), '12');
    });

    it('queues a hub command once and lists its result until the hub holds it', async () => {
      const store = ctx.store();
      await store.devices.create(device('dev-a'));
      const command = {
        id: '00000000-0000-4000-8000-0000000000a1',
        deviceId: 'dev-a',
        kind: 'release' as const,
        params: { reason: 'cleared' },
        createdAt: 2_000,
        createdBy: 'hub:alice',
      };
      const other = { ...command, id: '00000000-0000-4000-8000-0000000000a2', createdAt: 2_500 };
      assert.equal(await store.sites.recordRelayedCommand(command.id, 'dev-a', 3_000), true);
      assert.equal(await store.sites.recordRelayedCommand(command.id, 'dev-a', 3_100), false);
      assert.equal(await store.sites.recordRelayedCommand(other.id, 'dev-a', 3_100), true);
      await store.commands.create(command);
      await store.commands.create(other);
      // A command of the site's own operators is never sent to the hub.
      await store.commands.create({ ...command, id: '00000000-0000-4000-8000-0000000000a3' });
      assert.deepEqual(await store.sites.pendingRelayedResults(10), [], 'no result yet');
      const result = {
        v: 1 as const,
        commandId: command.id,
        status: 'done' as const,
        detail: 'released',
        at: 4_000,
        state: { isolated: false, since: null, releaseAt: null, reason: null },
      };
      await store.commands.complete(command.id, result, 4_000);
      await store.commands.complete(
        '00000000-0000-4000-8000-0000000000a3',
        { ...result, commandId: '00000000-0000-4000-8000-0000000000a3' },
        4_000,
      );
      const pending = await store.sites.pendingRelayedResults(10);
      assert.deepEqual(
        pending.map((entry) => [entry.id, entry.status, entry.result?.detail]),
        [[command.id, 'done', 'released']],
      );
      await store.sites.recordRelayedResultsForwarded([command.id], 5_000);
      assert.deepEqual(await store.sites.pendingRelayedResults(10), []);
    });

    it('keeps the newest overlay of a site and ignores an older or equal version', async () => {
      const store = ctx.store();
      assert.equal(await store.sites.saveOverlay('plant-1', 2, '{"v":2}', 1_000), true);
      assert.equal(await store.sites.saveOverlay('plant-1', 1, '{"v":1}', 2_000), false);
      assert.equal(await store.sites.saveOverlay('plant-1', 2, '{"v":2}', 2_000), false);
      assert.deepEqual(await store.sites.findOverlay('plant-1'), {
        version: 2,
        overlayJson: '{"v":2}',
        updatedAt: 1_000,
      });
      assert.equal(await store.sites.saveOverlay('plant-1', 3, '{"v":3}', 3_000), true);
      assert.equal((await store.sites.findOverlay('plant-1'))?.version, 3);
      assert.equal(await store.sites.findOverlay('plant-2'), undefined);
    });
  });
}
