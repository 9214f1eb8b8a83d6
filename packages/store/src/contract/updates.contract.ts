import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { CreateRolloutSpec } from '@edgeward/core';
import { migrate } from '../migrations/migrate.ts';
import { migrations } from '../migrations/migrations.ts';
import type { ArtifactRecord, RolloutRecord } from '../update-store.ts';
import type { ContractEngine } from './engines.ts';
import { alert, type ContractContext, device } from './fixtures.ts';

function artifact(version: string, overrides: Partial<ArtifactRecord> = {}): ArtifactRecord {
  return {
    name: 'firmware',
    version,
    sha256: `${version.replace(/\W/g, '')}`.padEnd(64, 'a'),
    length: 1024,
    severity: 'high',
    compat: { board: 'imx8' },
    releasedAt: 1_000,
    uploadedBy: 'alice',
    ...overrides,
  };
}

const spec: CreateRolloutSpec = {
  artifact: { name: 'firmware', version: '2.0' },
  selector: { segment: 'gateways' },
  phases: 'canary:1,100%',
  gates: { maxFailures: 0, minSuccessPercent: 100, alertSeverity: 'high' },
  soakMs: 0,
  respectWindows: false,
  siteLabel: 'site',
  offlineDeadlineMs: 60_000,
  dryRun: false,
};

function rollout(id: string, createdAt: number): RolloutRecord {
  return {
    id,
    spec,
    state: 'created',
    currentPhase: 0,
    phaseStartedAt: null,
    reason: null,
    createdAt,
    createdBy: 'alice',
    updatedAt: createdAt,
  };
}

const pendingDevice = (deviceId: string, phase: number) => ({
  deviceId,
  phase,
  site: 'berlin',
  state: 'pending' as const,
  assignedAt: null,
  finishedAt: null,
  detail: '',
  updatedAt: 1_000,
});

export function updatesContract(ctx: ContractContext, engine: ContractEngine): void {
  describe('artifacts and rollouts', () => {
    it('stores an artifact once per name and version, and finds it by content hash', async () => {
      const store = ctx.store();
      assert.equal(await store.artifacts.create(artifact('1.0')), true);
      assert.equal(await store.artifacts.create(artifact('1.0', { sha256: 'f'.repeat(64) })), false);
      await store.artifacts.create(artifact('1.1', { releasedAt: 2_000 }));
      assert.deepEqual(await store.artifacts.find('firmware', '1.0'), artifact('1.0'));
      assert.equal((await store.artifacts.findBySha256(artifact('1.1').sha256))?.version, '1.1');
      assert.deepEqual(
        (await store.artifacts.list()).map((record) => record.version),
        ['1.0', '1.1'],
      );
    });

    it('keeps one floor per artifact name, replaced when raised', async () => {
      const store = ctx.store();
      await store.artifacts.setFloor({ name: 'firmware', version: '1.0', setAt: 1, setBy: 'alice' });
      await store.artifacts.setFloor({ name: 'firmware', version: '1.5', setAt: 2, setBy: 'bob' });
      assert.deepEqual(await store.artifacts.floor('firmware'), {
        name: 'firmware',
        version: '1.5',
        setAt: 2,
        setBy: 'bob',
      });
      assert.equal(await store.artifacts.floor('kernel'), undefined);
    });

    it('keeps every version of each TUF role and refuses to overwrite one', async () => {
      const store = ctx.store();
      const body = (version: number) => `{"signed":{"version":${version}}}`;
      assert.equal(
        await store.artifacts.putTufMetadata({
          role: 'timestamp',
          version: 1,
          body: body(1),
          expiresAt: 9,
          createdAt: 1,
        }),
        true,
      );
      await store.artifacts.putTufMetadata({
        role: 'timestamp',
        version: 2,
        body: body(2),
        expiresAt: 9,
        createdAt: 2,
      });
      assert.equal(
        await store.artifacts.putTufMetadata({
          role: 'timestamp',
          version: 2,
          body: 'x',
          expiresAt: 9,
          createdAt: 3,
        }),
        false,
      );
      assert.equal((await store.artifacts.latestTufMetadata('timestamp'))?.body, body(2));
      assert.equal((await store.artifacts.tufMetadata('timestamp', 1))?.body, body(1));
      assert.equal(await store.artifacts.latestTufMetadata('root'), undefined);
    });

    it('keeps the install time of a running version until the version changes', async () => {
      const store = ctx.store();
      await store.devices.create(device('dev-a'));
      const base = { deviceId: 'dev-a', name: 'firmware', fellBackFrom: null };
      await store.artifacts.reportRunning({ ...base, version: '1.0', reportedAt: 100 });
      const again = await store.artifacts.reportRunning({ ...base, version: '1.0', reportedAt: 200 });
      assert.equal(again.installedAt, 100);
      assert.equal(again.reportedAt, 200);
      const fellBack = await store.artifacts.reportRunning({
        ...base,
        version: '0.9',
        fellBackFrom: '1.0',
        reportedAt: 300,
      });
      assert.deepEqual(fellBack, {
        ...base,
        version: '0.9',
        fellBackFrom: '1.0',
        installedAt: 300,
        reportedAt: 300,
      });
      assert.deepEqual(
        (await store.artifacts.runningOf('firmware')).map((record) => record.version),
        ['0.9'],
      );
    });

    it('persists a rollout with its devices and moves it only from the states a transition allows', async () => {
      const store = ctx.store();
      for (const id of ['dev-a', 'dev-b', 'dev-c']) await store.devices.create(device(id));
      await store.rollouts.create(rollout('ro-1', 1_000), [
        pendingDevice('dev-a', 0),
        pendingDevice('dev-b', 1),
        pendingDevice('dev-c', 1),
      ]);
      const reopened = await ctx.reopen();
      assert.deepEqual(await reopened.rollouts.find('ro-1'), rollout('ro-1', 1_000));
      assert.equal(
        await reopened.rollouts.transition('ro-1', ['paused'], { state: 'running', updatedAt: 2 }),
        false,
      );
      assert.equal(
        await reopened.rollouts.transition('ro-1', ['created'], {
          state: 'running',
          phaseStartedAt: 5,
          updatedAt: 5,
        }),
        true,
      );
      assert.equal((await reopened.rollouts.find('ro-1'))?.state, 'running');
      assert.deepEqual(
        (await reopened.rollouts.listActive()).map((record) => record.id),
        ['ro-1'],
      );
      assert.deepEqual(
        (await reopened.rollouts.devices('ro-1', { phase: 1 })).map((record) => record.deviceId),
        ['dev-b', 'dev-c'],
      );
    });

    it('moves devices between states with guards, counts them per phase, and finds the open one of a device', async () => {
      const store = ctx.store();
      for (const id of ['dev-a', 'dev-b']) await store.devices.create(device(id));
      await store.rollouts.create(rollout('ro-old', 1_000), [pendingDevice('dev-a', 0)]);
      await store.rollouts.create(rollout('ro-new', 2_000), [
        pendingDevice('dev-a', 0),
        pendingDevice('dev-b', 0),
      ]);
      assert.equal(await store.rollouts.openForDevice('dev-a'), undefined);
      assert.equal(
        await store.rollouts.moveDevices('ro-new', 'all', ['pending'], 'assigned', 3_000, { assigned: true }),
        2,
      );
      await store.rollouts.moveDevices('ro-old', ['dev-a'], ['pending'], 'assigned', 3_000);
      const open = await store.rollouts.openForDevice('dev-a');
      assert.equal(open?.rollout.id, 'ro-new');
      assert.equal(open?.assignedAt, 3_000);
      assert.equal(open?.rollout.spec.artifact.version, '2.0');
      // A guard that does not match moves nothing.
      assert.equal(
        await store.rollouts.moveDevices('ro-new', ['dev-a'], ['installing'], 'committed', 4_000),
        0,
      );
      await store.rollouts.moveDevices('ro-new', ['dev-a'], ['assigned'], 'committed', 4_000, {
        finished: true,
        detail: 'healthy',
      });
      assert.deepEqual(await store.rollouts.counts('ro-new'), [
        { phase: 0, state: 'assigned', count: 1, lastFinishedAt: null },
        { phase: 0, state: 'committed', count: 1, lastFinishedAt: 4_000 },
      ]);
      assert.equal((await store.rollouts.device('ro-new', 'dev-a'))?.detail, 'healthy');
      assert.deepEqual(
        (await store.rollouts.devices('ro-new', { states: ['assigned'], assignedBefore: 3_000 })).map(
          (d) => d.deviceId,
        ),
        ['dev-b'],
      );
      assert.deepEqual(await store.rollouts.devices('ro-new', { assignedBefore: 2_999 }), []);
    });

    it('finds committed devices that raised an alert of a gate severity after they updated', async () => {
      const store = ctx.store();
      for (const id of ['dev-1', 'dev-10']) await store.devices.create(device(id));
      await store.rollouts.create(rollout('ro-1', 1_000), [
        pendingDevice('dev-1', 0),
        pendingDevice('dev-10', 0),
      ]);
      await store.rollouts.moveDevices('ro-1', 'all', ['pending'], 'committed', 5_000, { finished: true });
      await store.alerts.insert(
        alert('al-before', { deviceIds: ['dev-1'], severity: 'high', lastSignalAt: 4_000 }),
      );
      await store.alerts.insert(
        alert('al-low', { deviceIds: ['dev-1'], severity: 'low', lastSignalAt: 6_000 }),
      );
      assert.deepEqual(await store.rollouts.alertedDevices('ro-1', 0, ['critical', 'high']), []);
      await store.alerts.insert(
        alert('al-after', { deviceIds: ['dev-10'], severity: 'critical', lastSignalAt: 6_000 }),
      );
      assert.deepEqual(await store.rollouts.alertedDevices('ro-1', 0, ['critical', 'high']), ['dev-10']);
    });

    it('applies a missing migration numbered below the newest applied one (numbers taken by parallel changes)', async () => {
      const db = await engine.openRaw();
      const newest = Math.max(...migrations.map((migration) => migration.version));
      // A change numbered later lands first; the one numbered between lands after it.
      const later = {
        version: newest + 2,
        name: 'probe applied first',
        up: () => ['CREATE TABLE gap_later (x INTEGER)'],
      };
      const between = {
        version: newest + 1,
        name: 'probe in the gap',
        up: () => ['CREATE TABLE gap_probe (x INTEGER)'],
      };
      try {
        assert.deepEqual(await migrate(db, [...migrations, later]), [later.version]);
        assert.deepEqual(await migrate(db, [...migrations, between, later]), [between.version]);
        assert.deepEqual(await db.query('SELECT x FROM gap_probe'), []);
      } finally {
        // The probes are not this release's migrations: later tests open the store with the real list.
        await db.run('DROP TABLE IF EXISTS gap_probe');
        await db.run('DROP TABLE IF EXISTS gap_later');
        await db.run('DELETE FROM schema_migrations WHERE version > $1', [newest]);
        await db.close();
      }
    });
  });
}
