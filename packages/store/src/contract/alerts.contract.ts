import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import type { AlertHistoryRecord } from '../store.ts';
import { alert, type ContractContext } from './fixtures.ts';

const ids = (rows: readonly { id: string }[]) => rows.map((row) => row.id);

function history(alertId: string, kind: string, at: number, extra: Partial<AlertHistoryRecord> = {}) {
  return { alertId, ruleId: 'rule-1', at, actor: 'system', kind, change: {}, ...extra };
}

export function alertsContract(ctx: ContractContext): void {
  describe('alerts', () => {
    it('stores an alert exactly, unicode and JSON fields included', async () => {
      const { alerts } = ctx.store();
      const record = alert('al-1', {
        groupFields: { user: 'jürgen', host: 'gw "1"' },
        deviceIds: ['dev-1', 'dev-2'],
        eventRefs: [
          { deviceId: 'dev-1', seq: 7, id: 'e-7' },
          { deviceId: 'dev-2', seq: 3, id: 'e-3' },
        ],
        response: ['isolate'],
        route: ['pager'],
        assignee: 'op-1',
        resolution: 'false-positive',
        state: 'resolved',
        suppressedUntil: 99_000,
        acknowledgedAt: 11_000,
        resolvedAt: 12_000,
      });
      assert.equal(await alerts.insert(record), true);
      assert.deepEqual(await alerts.get('al-1'), record);
      assert.equal(await alerts.get('al-nope'), undefined);
    });

    it('lists the alerts of a source in the order they changed, after a position', async () => {
      const { alerts } = ctx.store();
      await alerts.insert(alert('al-b', { source: 'site', updatedAt: 2_000, groupKey: 'b' }));
      await alerts.insert(alert('al-a', { source: 'site', updatedAt: 2_000, groupKey: 'a' }));
      await alerts.insert(alert('al-c', { source: 'site', updatedAt: 1_000, groupKey: 'c' }));
      await alerts.insert(alert('al-d', { source: 'agent', updatedAt: 1_500, groupKey: 'd' }));
      await alerts.insert(
        alert('al-e', {
          source: 'hub',
          updatedAt: 1_500,
          groupKey: 'e',
          siteId: 'plant-1',
          siteChangedAt: 1_400,
        }),
      );
      assert.deepEqual(ids(await alerts.listChanged('site', undefined, 10)), ['al-c', 'al-a', 'al-b']);
      assert.deepEqual(ids(await alerts.listChanged('site', { updatedAt: 2_000, id: 'al-a' }, 10)), ['al-b']);
      assert.deepEqual(ids(await alerts.listChanged('site', undefined, 2)), ['al-c', 'al-a']);
      await alerts.update(
        alert('al-c', { source: 'site', updatedAt: 3_000, groupKey: 'c', state: 'resolved' }),
      );
      assert.deepEqual(ids(await alerts.listChanged('site', { updatedAt: 2_000, id: 'al-b' }, 10)), ['al-c']);
      assert.equal((await alerts.get('al-e'))?.siteId, 'plant-1');
      assert.equal((await alerts.get('al-e'))?.siteChangedAt, 1_400);
    });

    it('keeps one alert per rule and group: a second insert is refused and writes nothing', async () => {
      const { alerts } = ctx.store();
      assert.equal(await alerts.insert(alert('al-1', { groupKey: '["root"]' })), true);
      assert.equal(await alerts.insert(alert('al-2', { groupKey: '["root"]', deviceIds: ['dev-9'] })), false);
      assert.equal(await alerts.get('al-2'), undefined);
      assert.deepEqual(ids(await alerts.list({ deviceId: 'dev-9' })), []);
      // The same group of another rule is another alert.
      assert.equal(await alerts.insert(alert('al-3', { groupKey: '["root"]', ruleId: 'rule-2' })), true);
      assert.equal((await alerts.lockByGroup('rule-1', '["root"]'))?.id, 'al-1');
      assert.equal(await alerts.lockByGroup('rule-3', '["root"]'), undefined);
    });

    it('update rewrites every field and adds the new devices to the device index', async () => {
      const { alerts } = ctx.store();
      await alerts.insert(alert('al-1'));
      const changed = alert('al-1', {
        ruleTitle: 'Renamed',
        severity: 'critical',
        tier: 'high',
        state: 'acknowledged',
        deviceIds: ['dev-1', 'dev-5'],
        count: 40,
        lastSeen: 9_000,
        bursts: [
          { key: 'dev-1/1/evt-1', count: 3 },
          { key: 'dev-5/1/x', count: 37 },
        ],
        acknowledgedAt: 20_000,
        reopenedCount: 2,
        lastSignalAt: 30_000,
        updatedAt: 30_000,
      });
      await alerts.update(changed);
      assert.deepEqual(await alerts.get('al-1'), changed);
      assert.deepEqual(ids(await alerts.list({ deviceId: 'dev-5' })), ['al-1']);
      assert.deepEqual(ids(await alerts.list({ deviceId: 'dev-1' })), ['al-1']);
      await assert.rejects(alerts.update(alert('al-nope')), { code: 'EW_INTERNAL' });
    });

    it('lists newest activity first, with every filter, and pages with a cursor without gaps or repeats', async () => {
      const { alerts } = ctx.store();
      await alerts.insert(alert('al-a', { lastSignalAt: 1_000, severity: 'low', tier: 'low' }));
      await alerts.insert(alert('al-b', { lastSignalAt: 3_000, severity: 'high', tier: 'high' }));
      await alerts.insert(
        alert('al-c', { lastSignalAt: 3_000, state: 'acknowledged', assignee: 'op-1', ruleId: 'rule-2' }),
      );
      await alerts.insert(
        alert('al-d', { lastSignalAt: 5_000, severity: 'critical', deviceIds: ['dev-2', 'dev-3'] }),
      );
      assert.deepEqual(ids(await alerts.list()), ['al-d', 'al-c', 'al-b', 'al-a']);
      assert.deepEqual(ids(await alerts.list({ state: 'acknowledged' })), ['al-c']);
      assert.deepEqual(ids(await alerts.list({ tier: 'high' })), ['al-b']);
      assert.deepEqual(ids(await alerts.list({ severity: 'high' })), ['al-d', 'al-b']);
      assert.deepEqual(ids(await alerts.list({ ruleId: 'rule-2' })), ['al-c']);
      assert.deepEqual(ids(await alerts.list({ assignee: 'op-1' })), ['al-c']);
      assert.deepEqual(ids(await alerts.list({ deviceId: 'dev-3' })), ['al-d']);
      assert.deepEqual(ids(await alerts.list({ deviceId: 'dev-1', state: 'open' })), ['al-b', 'al-a']);
      assert.deepEqual(ids(await alerts.list({ since: 3_000 })), ['al-d', 'al-c', 'al-b']);

      const pages: string[][] = [];
      let before: { lastSignalAt: number; id: string } | undefined;
      for (;;) {
        const page = await alerts.list({ limit: 2, ...(before === undefined ? {} : { before }) });
        if (page.length === 0) break;
        pages.push(ids(page));
        const last = page.at(-1)!;
        before = { lastSignalAt: last.lastSignalAt, id: last.id };
      }
      assert.deepEqual(pages, [
        ['al-d', 'al-c'],
        ['al-b', 'al-a'],
      ]);
    });

    it('finds quiet alerts to auto-resolve, leaving out resolved ones and those suppressed beyond now', async () => {
      const { alerts } = ctx.store();
      await alerts.insert(alert('al-quiet', { lastSignalAt: 1_000 }));
      await alerts.insert(alert('al-acked', { lastSignalAt: 2_000, state: 'acknowledged' }));
      await alerts.insert(alert('al-recent', { lastSignalAt: 9_000 }));
      await alerts.insert(alert('al-resolved', { lastSignalAt: 1_000, state: 'resolved' }));
      await alerts.insert(
        alert('al-silenced', { lastSignalAt: 1_000, state: 'suppressed', suppressedUntil: 50_000 }),
      );
      await alerts.insert(
        alert('al-expired', { lastSignalAt: 1_500, state: 'suppressed', suppressedUntil: 8_000 }),
      );
      // A site's alerts are resolved and unsuppressed at the site, never by the hub's sweep.
      const atSite = { groupKey: 'site', source: 'site' as const, siteId: 'plant-1', siteChangedAt: 1_000 };
      await alerts.insert(alert('al-site-quiet', { ...atSite, lastSignalAt: 1_000 }));
      await alerts.insert(
        alert('al-site-expired', {
          ...atSite,
          groupKey: 'site-2',
          lastSignalAt: 1_000,
          state: 'suppressed',
          suppressedUntil: 8_000,
        }),
      );
      assert.deepEqual(ids(await alerts.listQuiet(5_000, 10_000)), ['al-quiet', 'al-expired', 'al-acked']);
      assert.deepEqual(ids(await alerts.listQuiet(5_000, 10_000, 1)), ['al-quiet']);
      assert.deepEqual(ids(await alerts.listSuppressionEnded(10_000)), ['al-expired']);
      assert.deepEqual(ids(await alerts.listSuppressionEnded(60_000)), ['al-expired', 'al-silenced']);
    });

    it('keeps comments and history in the order written', async () => {
      const { alerts } = ctx.store();
      await alerts.insert(alert('al-1'));
      await alerts.addNote({ alertId: 'al-1', at: 5, authorId: 'op-1', author: 'Ada', text: 'looking ✓' });
      await alerts.addNote({ alertId: 'al-1', at: 5, authorId: 'op-2', author: 'Bo', text: 'same ms' });
      assert.deepEqual(
        (await alerts.notes('al-1')).map((note) => note.text),
        ['looking ✓', 'same ms'],
      );
      await alerts.addHistory(history('al-1', 'created', 5, { change: { count: 3 } }));
      await alerts.addHistory(history('al-1', 'acknowledged', 5, { actor: 'Ada', durationMs: 120 }));
      await alerts.addHistory(history('al-1', 'resolved', 6, { resolution: 'fixed' }));
      assert.deepEqual(await alerts.history('al-1'), [
        history('al-1', 'created', 5, { change: { count: 3 } }),
        history('al-1', 'acknowledged', 5, { actor: 'Ada', durationMs: 120 }),
        history('al-1', 'resolved', 6, { resolution: 'fixed' }),
      ]);
      assert.deepEqual(await alerts.notes('al-nope'), []);
    });

    it('noise: raised, acknowledgement times and resolutions per rule within the period', async () => {
      const { alerts } = ctx.store();
      await alerts.insert(alert('al-1', { ruleTitle: 'Old title', lastSignalAt: 100 }));
      await alerts.insert(alert('al-2', { ruleTitle: 'New title', lastSignalAt: 900, state: 'resolved' }));
      await alerts.insert(alert('al-3', { ruleId: 'rule-2', ruleTitle: 'Quiet rule', lastSignalAt: 50 }));
      for (const entry of [
        history('al-1', 'created', 100),
        history('al-2', 'created', 200),
        history('al-2', 'acknowledged', 250, { durationMs: 50 }),
        history('al-1', 'acknowledged', 400, { durationMs: 300 }),
        history('al-2', 'resolved', 300, { resolution: 'false-positive' }),
        history('al-2', 'reopened', 500),
        history('al-2', 'resolved', 600, { resolution: 'auto' }),
        history('al-1', 'resolved', 700, { resolution: 'fixed' }),
        // Outside the period [100, 1000).
        history('al-3', 'created', 50, { ruleId: 'rule-2' }),
        history('al-1', 'resolved', 1_000, { resolution: 'false-positive' }),
      ]) {
        await alerts.addHistory(entry);
      }
      assert.deepEqual(await alerts.noise(100, 1_000), [
        {
          ruleId: 'rule-1',
          ruleTitle: 'New title',
          raised: 3,
          acknowledgeMs: [50, 300],
          resolved: 2,
          falsePositive: 1,
          autoResolved: 1,
          unresolved: 1,
        },
      ]);
      assert.deepEqual(await alerts.noise(5_000, 6_000), []);
    });

    it('merges into one alert under concurrent transactions: each waits for the lock of the other', async () => {
      const store = ctx.store();
      await store.alerts.insert(alert('al-1', { count: 0 }));
      const bump = () =>
        store.transaction(async (tx) => {
          const current = await tx.alerts.lockByGroup('rule-1', '["al-1"]');
          assert.ok(current);
          await delay(20);
          await tx.alerts.update({ ...current, count: current.count + 1 });
        });
      await Promise.all([bump(), bump(), bump()]);
      assert.equal((await store.alerts.get('al-1'))?.count, 3);
    });

    it('a racing insert of the same new alert makes one alert, and the loser sees it after', async () => {
      const store = ctx.store();
      const outcomes = await Promise.all(
        ['al-x', 'al-y'].map((id) =>
          store.transaction(async (tx) => {
            const inserted = await tx.alerts.insert(alert(id, { groupKey: '["same"]' }));
            return { inserted, winner: (await tx.alerts.lockByGroup('rule-1', '["same"]'))?.id };
          }),
        ),
      );
      assert.deepEqual(outcomes.map((outcome) => outcome.inserted).sort(), [false, true]);
      const winner = outcomes.find((outcome) => outcome.inserted)?.winner;
      assert.ok(winner);
      assert.deepEqual(
        outcomes.map((outcome) => outcome.winner),
        [winner, winner],
      );
      assert.equal((await store.alerts.list()).length, 1);
    });
  });
}
