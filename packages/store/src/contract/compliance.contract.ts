import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { CheckResult } from '@edgeward/core';
import type { ComplianceReportInput, Store } from '../store.ts';
import { type ContractContext, checkResult, device } from './fixtures.ts';

const DAY_MS = 86_400_000;

function report(
  results: CheckResult[],
  overrides: Partial<ComplianceReportInput> = {},
): ComplianceReportInput {
  return {
    bundleVersion: 1,
    segment: 'gateways',
    evaluatedAt: 5_000,
    stale: false,
    receivedAt: 6_000,
    results,
    ...overrides,
  };
}

async function devices(store: Store, ...ids: string[]): Promise<void> {
  for (const id of ids) await store.devices.create(device(id));
}

const statuses = (results: readonly { checkId: string; status: string }[]) =>
  results.map((result) => `${result.checkId}=${result.status}`);

export function complianceContract(ctx: ContractContext): void {
  describe('compliance', () => {
    it("stores a device's report: its state, and each check's result ascending by id", async () => {
      const store = ctx.store();
      await devices(store, 'dev-1');
      const remediated: CheckResult = {
        ...checkResult('ssh-root', 'pass', 4_000),
        remediation: { at: 3_900, outcome: 'fixed', detail: 'wrote PermitRootLogin no' },
      };
      const saved = await store.compliance.saveReport(
        'dev-1',
        report([checkResult('time-sync', 'error'), remediated, checkResult('disk', 'not-applicable')], {
          stale: true,
        }),
      );
      assert.deepEqual(saved, { applied: true, stored: 3 });
      assert.deepEqual(await store.compliance.deviceState('dev-1'), {
        deviceId: 'dev-1',
        bundleVersion: 1,
        segment: 'gateways',
        evaluatedAt: 5_000,
        stale: true,
        receivedAt: 6_000,
      });
      const results = await store.compliance.deviceResults('dev-1');
      assert.deepEqual(statuses(results), ['disk=not-applicable', 'ssh-root=pass', 'time-sync=error']);
      assert.deepEqual(results[1], {
        ...remediated,
        segment: 'gateways',
        bundleVersion: 1,
        statusSince: 4_000,
      });
      assert.equal(await store.compliance.deviceState('dev-2'), undefined);
      assert.deepEqual(await store.compliance.deviceResults('dev-2'), []);
    });

    it('keeps statusSince while a status holds and moves it when the status changes', async () => {
      const store = ctx.store();
      await devices(store, 'dev-1');
      await store.compliance.saveReport(
        'dev-1',
        report([checkResult('a', 'pass', 1_000), checkResult('b', 'pass', 1_000)]),
      );
      await store.compliance.saveReport(
        'dev-1',
        report([checkResult('a', 'pass', 2_000), checkResult('b', 'fail', 2_000)], { evaluatedAt: 6_000 }),
      );
      const results = await store.compliance.deviceResults('dev-1');
      assert.deepEqual(
        results.map((result) => [result.checkId, result.status, result.evaluatedAt, result.statusSince]),
        [
          ['a', 'pass', 2_000, 1_000],
          ['b', 'fail', 2_000, 2_000],
        ],
      );
    });

    it('replaces every result: a check the report no longer lists is gone, a repeated check keeps its last result', async () => {
      const store = ctx.store();
      await devices(store, 'dev-1');
      await store.compliance.saveReport(
        'dev-1',
        report([checkResult('a', 'pass'), checkResult('b', 'fail')]),
      );
      const saved = await store.compliance.saveReport(
        'dev-1',
        report([checkResult('b', 'fail'), checkResult('c', 'pass'), checkResult('c', 'error')], {
          bundleVersion: 2,
          segment: 'default',
        }),
      );
      assert.deepEqual(saved, { applied: true, stored: 2 });
      const results = await store.compliance.deviceResults('dev-1');
      assert.deepEqual(statuses(results), ['b=fail', 'c=error']);
      assert.ok(results.every((result) => result.bundleVersion === 2 && result.segment === 'default'));
    });

    it('ignores a report for an older bundle version, or evaluated before the one stored', async () => {
      const store = ctx.store();
      await devices(store, 'dev-1');
      await store.compliance.saveReport('dev-1', report([checkResult('a', 'pass')], { bundleVersion: 3 }));
      const older = await store.compliance.saveReport(
        'dev-1',
        report([checkResult('a', 'fail')], { bundleVersion: 2 }),
      );
      assert.deepEqual(older, { applied: false, stored: 0 });
      const earlier = await store.compliance.saveReport(
        'dev-1',
        report([checkResult('a', 'fail')], { bundleVersion: 3, evaluatedAt: 4_999 }),
      );
      assert.deepEqual(earlier, { applied: false, stored: 0 });
      assert.deepEqual(statuses(await store.compliance.deviceResults('dev-1')), ['a=pass']);
      assert.equal((await store.compliance.deviceState('dev-1'))?.bundleVersion, 3);
      const newer = await store.compliance.saveReport(
        'dev-1',
        report([checkResult('a', 'fail')], { bundleVersion: 4 }),
      );
      assert.deepEqual(newer, { applied: true, stored: 1 });
    });

    it('stores a report larger than one INSERT statement', async () => {
      const store = ctx.store();
      await devices(store, 'dev-1');
      const many = Array.from({ length: 620 }, (_, index) =>
        checkResult(`check-${String(index).padStart(4, '0')}`, index % 3 === 0 ? 'fail' : 'pass'),
      );
      assert.deepEqual(await store.compliance.saveReport('dev-1', report(many)), {
        applied: true,
        stored: 620,
      });
      const results = await store.compliance.deviceResults('dev-1');
      assert.equal(results.length, 620);
      assert.equal(results.filter((result) => result.status === 'fail').length, 207);
    });

    it('two first reports of one device at once both land, the later evaluation winning', async () => {
      const store = ctx.store();
      await devices(store, 'dev-1');
      const outcomes = await Promise.all([
        store.compliance.saveReport('dev-1', report([checkResult('a', 'pass')], { evaluatedAt: 5_000 })),
        store.compliance.saveReport('dev-1', report([checkResult('a', 'fail')], { evaluatedAt: 5_001 })),
      ]);
      assert.ok(outcomes.some((outcome) => outcome.applied));
      assert.deepEqual(statuses(await store.compliance.deviceResults('dev-1')), ['a=fail']);
      assert.equal((await store.compliance.deviceState('dev-1'))?.evaluatedAt, 5_001);
    });

    it('a report saved in a transaction that rolls back leaves nothing', async () => {
      const store = ctx.store();
      await devices(store, 'dev-1');
      await assert.rejects(
        store.transaction(async (tx) => {
          await tx.compliance.saveReport('dev-1', report([checkResult('a', 'pass')]));
          throw new Error('the device was revoked meanwhile');
        }),
      );
      assert.equal(await store.compliance.deviceState('dev-1'), undefined);
      assert.deepEqual(await store.compliance.trend(0, DAY_MS), [
        { dayStart: 0, pass: 0, fail: 0, error: 0, notApplicable: 0 },
      ]);
    });

    it('summarizes per segment and per check over the latest results, leaving out revoked devices', async () => {
      const store = ctx.store();
      await devices(store, 'dev-1', 'dev-2', 'dev-3', 'dev-4', 'dev-revoked');
      const { compliance } = store;
      await compliance.saveReport('dev-1', report([checkResult('a', 'pass'), checkResult('b', 'fail')]));
      await compliance.saveReport(
        'dev-2',
        report([checkResult('a', 'fail'), checkResult('b', 'error')], { stale: true }),
      );
      await compliance.saveReport(
        'dev-3',
        report([checkResult('a', 'pass'), checkResult('c', 'not-applicable')], { segment: 'default' }),
      );
      await compliance.saveReport(
        'dev-4',
        report([], { segment: 'kiosks', stale: true, evaluatedAt: 1_000 }),
      );
      await compliance.saveReport('dev-revoked', report([checkResult('a', 'fail')], { stale: true }));
      await store.devices.update('dev-revoked', { revokedAt: 9_000 });
      assert.deepEqual(await compliance.summary(), {
        devices: 4,
        staleDevices: 2,
        bySegment: [
          { segment: 'default', devices: 1, pass: 1, fail: 0, error: 0, notApplicable: 1 },
          { segment: 'gateways', devices: 2, pass: 1, fail: 2, error: 1, notApplicable: 0 },
          { segment: 'kiosks', devices: 1, pass: 0, fail: 0, error: 0, notApplicable: 0 },
        ],
        byCheck: [
          { checkId: 'a', pass: 2, fail: 1, error: 0, notApplicable: 0 },
          { checkId: 'b', pass: 0, fail: 1, error: 1, notApplicable: 0 },
          { checkId: 'c', pass: 0, fail: 0, error: 0, notApplicable: 1 },
        ],
      });
      assert.deepEqual(
        (await compliance.staleDevices()).map((state) => state.deviceId),
        ['dev-4', 'dev-2'],
      );
      assert.deepEqual(
        [...(await compliance.failingChecks())],
        [
          ['dev-1', ['b']],
          ['dev-2', ['a']],
        ],
      );
    });

    it('an empty fleet summarizes to zeros', async () => {
      assert.deepEqual(await ctx.store().compliance.summary(), {
        devices: 0,
        staleDevices: 0,
        bySegment: [],
        byCheck: [],
      });
    });

    it('the trend gives, per day, the statuses in effect at its end, from the history of changes', async () => {
      const store = ctx.store();
      await devices(store, 'dev-1', 'dev-2', 'dev-revoked');
      const { compliance } = store;
      const day = (n: number, hour = 12) => 10 * DAY_MS + n * DAY_MS + hour * 3_600_000;
      const at = (deviceId: string, n: number, results: [string, CheckResult['status']][], hour = 12) =>
        compliance.saveReport(
          deviceId,
          report(
            results.map(([checkId, status]) => checkResult(checkId, status, day(n, hour))),
            { evaluatedAt: day(n, hour) },
          ),
        );
      // Before the window: dev-1 a fails, b passes.
      await at('dev-1', -3, [
        ['a', 'fail'],
        ['b', 'pass'],
      ]);
      // Day 0: dev-1 a passes (morning), then fails again (evening); dev-2 reports for the first time.
      await at(
        'dev-1',
        0,
        [
          ['a', 'pass'],
          ['b', 'pass'],
        ],
        8,
      );
      await at(
        'dev-1',
        0,
        [
          ['a', 'fail'],
          ['b', 'pass'],
        ],
        20,
      );
      await at('dev-2', 0, [
        ['a', 'error'],
        ['b', 'not-applicable'],
      ]);
      // Day 1: nothing changes. Day 2: dev-1 a passes; dev-2 stops reporting b (removed).
      await at('dev-1', 1, [
        ['a', 'fail'],
        ['b', 'pass'],
      ]);
      await at('dev-1', 2, [
        ['a', 'pass'],
        ['b', 'pass'],
      ]);
      await at('dev-2', 2, [['a', 'error']]);
      // Revoked devices leave the trend.
      await at('dev-revoked', 0, [['a', 'fail']]);
      await store.devices.update('dev-revoked', { revokedAt: day(3) });
      const trend = await compliance.trend(day(0, 0), day(3, 1));
      assert.deepEqual(trend, [
        { dayStart: day(0, 0), pass: 1, fail: 1, error: 1, notApplicable: 1 },
        { dayStart: day(1, 0), pass: 1, fail: 1, error: 1, notApplicable: 1 },
        { dayStart: day(2, 0), pass: 2, fail: 0, error: 1, notApplicable: 0 },
        { dayStart: day(3, 0), pass: 2, fail: 0, error: 1, notApplicable: 0 },
      ]);
      assert.deepEqual(await compliance.trend(day(-5, 0), day(-4, 0)), [
        { dayStart: day(-5, 0), pass: 0, fail: 0, error: 0, notApplicable: 0 },
      ]);
      assert.deepEqual(await compliance.trend(day(0, 0), day(0, 0)), []);
    });
  });
}
