import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { DeviceRecord } from '@edgeward/core';
import type { DevicePage, Store } from '../store.ts';
import { alert, type ContractContext, checkResult, device } from './fixtures.ts';

const now = 1_000_000;

/** Reads every page of a sorted device list, each from the last row of the one before. */
async function allPages(
  store: Store,
  page: Omit<DevicePage, 'from'>,
  value: (record: DeviceRecord) => string | number | null,
): Promise<string[]> {
  const seen: string[] = [];
  let from: DevicePage['from'];
  for (;;) {
    const rows = await store.devices.list({}, { ...page, limit: 2, ...(from === undefined ? {} : { from }) });
    seen.push(...rows.map((row) => row.id));
    const last = rows.at(-1);
    if (rows.length < 2 || last === undefined) return seen;
    from = { value: value(last), id: last.id };
  }
}

async function report(store: Store, deviceId: string, segment: string, fail: boolean, stale = false) {
  await store.compliance.saveReport(deviceId, {
    bundleVersion: 1,
    segment,
    evaluatedAt: 5_000,
    stale,
    receivedAt: 6_000,
    results: [checkResult('ssh', fail ? 'fail' : 'pass'), checkResult('ntp', 'pass')],
  });
}

export function fleetFiguresContract(ctx: ContractContext): void {
  describe('device list orders and fleet figures', () => {
    it('pages a list sorted by name, descending, by keyset without skipping or repeating a device', async () => {
      const store = ctx.store();
      const names = ['beta', 'alpha', 'beta', 'gamma', 'alpha'];
      for (const [index, name] of names.entries())
        await store.devices.create(device(`dev-${index}`, { name }));
      const ids = await allPages(store, { sort: 'name', order: 'desc' }, (record) => record.name);
      assert.deepEqual(ids, ['dev-3', 'dev-2', 'dev-0', 'dev-4', 'dev-1']);
    });

    it('sorts never-seen devices first by last contact ascending, and pages through them', async () => {
      const store = ctx.store();
      await store.devices.create(device('dev-a', { lastSeenAt: 500 }));
      await store.devices.create(device('dev-b'));
      await store.devices.create(device('dev-c', { lastSeenAt: 100 }));
      await store.devices.create(device('dev-d'));
      const ids = await allPages(store, { sort: 'lastSeen' }, (record) => record.lastSeenAt ?? -1);
      assert.deepEqual(ids, ['dev-b', 'dev-d', 'dev-c', 'dev-a']);
    });

    it('filters devices by the segment of their last compliance report', async () => {
      const store = ctx.store();
      for (const id of ['dev-1', 'dev-2', 'dev-3']) await store.devices.create(device(id));
      await report(store, 'dev-1', 'gateways', false);
      await report(store, 'dev-3', 'kiosks', false);
      const gateways = await store.devices.list({ segment: 'gateways' });
      assert.deepEqual(
        gateways.map((record) => record.id),
        ['dev-1'],
      );
      assert.equal(await store.devices.count({ segment: 'kiosks' }), 1);
    });

    it('counts devices by status, segment and site, open alerts by tier, and those needing attention', async () => {
      const store = ctx.store();
      const fresh = now - 1_000;
      await store.devices.create(device('dev-1', { lastSeenAt: fresh, labels: { site: 'north' } }));
      await store.devices.create(device('dev-2', { lastSeenAt: fresh, labels: { site: 'north' } }));
      await store.devices.create(device('dev-3', { lastSeenAt: 10, labels: { site: 'south' } }));
      await store.devices.create(device('dev-4', { lastSeenAt: fresh }));
      await store.devices.create(device('dev-5', { lastSeenAt: fresh, revokedAt: 50 }));
      await report(store, 'dev-1', 'gateways', true);
      await report(store, 'dev-2', 'gateways', false, true);
      await store.commands.setDesiredIsolation({
        deviceId: 'dev-4',
        desired: 'isolated',
        desiredAt: 1_000,
        desiredBy: 'alice',
        reason: 'r',
        commandId: 'c1',
      });
      await store.alerts.insert(alert('al-1', { tier: 'high', severity: 'high' }));
      await store.alerts.insert(alert('al-2', { tier: 'high', severity: 'high' }));
      await store.alerts.insert(alert('al-3', { tier: 'low', severity: 'low', state: 'resolved' }));

      const figures = await store.figures.overview(now, 10);
      assert.deepEqual(
        { total: figures.total, online: figures.online, offline: figures.offline, revoked: figures.revoked },
        { total: 4, online: 3, offline: 1, revoked: 1 },
      );
      assert.deepEqual(figures.bySegment, [
        { segment: 'gateways', devices: 2 },
        { segment: 'unreported', devices: 2 },
      ]);
      assert.deepEqual(figures.bySite, [
        { site: '(none)', devices: 1 },
        { site: 'north', devices: 2 },
        { site: 'south', devices: 1 },
      ]);
      assert.deepEqual(figures.openAlertsByTier, [{ tier: 'high', count: 2 }]);
      const { devices, ...counts } = figures.attention;
      assert.deepEqual(counts, { offline: 1, drifted: 1, stalePolicy: 1, isolated: 1 });
      assert.deepEqual(
        devices.map((entry) => entry.id),
        ['dev-4', 'dev-1', 'dev-2', 'dev-3'],
      );
      assert.equal(devices[0]?.isolated, true);
      assert.equal(devices[1]?.drifted, true);
    });

    it('counts alerts created or reopened per tier and period, leaving out other history', async () => {
      const store = ctx.store();
      await store.alerts.insert(alert('al-1', { tier: 'high', severity: 'high' }));
      await store.alerts.insert(alert('al-2', { tier: 'low', severity: 'low' }));
      const entry = (alertId: string, at: number, kind: string) =>
        store.alerts.addHistory({ alertId, ruleId: 'rule-1', at, actor: 'system', kind, change: {} });
      await entry('al-1', 1_000, 'created');
      await entry('al-1', 1_500, 'acknowledged');
      await entry('al-1', 2_500, 'reopened');
      await entry('al-2', 2_600, 'created');
      await entry('al-2', 500, 'created');
      const volume = await store.figures.alertVolume(1_000, 1_000);
      const sorted = [...volume].sort((a, b) => a.bucket - b.bucket || a.tier.localeCompare(b.tier));
      assert.deepEqual(sorted, [
        { bucket: 0, tier: 'high', count: 1 },
        { bucket: 1, tier: 'high', count: 1 },
        { bucket: 1, tier: 'low', count: 1 },
      ]);
    });
  });
}
