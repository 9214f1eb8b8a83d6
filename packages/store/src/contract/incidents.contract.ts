import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { appendEntry, type EvidenceManifest, type IncidentRecord } from '@edgeward/core';
import { type ContractContext, device } from './fixtures.ts';

function incident(id: string, overrides: Partial<IncidentRecord> = {}): IncidentRecord {
  return {
    id,
    deviceId: 'dev-a',
    alertId: 'alr-1',
    title: 'ransomware note on the HMI',
    type: 'malware',
    state: 'open',
    assignee: null,
    playbookId: 'malware',
    playbookTitle: 'Malware on a device',
    steps: [{ id: 'capture', title: 'Capture volatile data', phase: 'open', doneAt: null, doneBy: null }],
    openedBy: 'alice',
    openedAt: 2_000,
    firstSeenAt: 1_000,
    detectedAt: 1_500,
    containedAt: null,
    eradicatedAt: null,
    recoveredAt: null,
    closedAt: null,
    resolution: null,
    updatedAt: 2_000,
    ...overrides,
  };
}

function manifest(id: string, deviceId: string): EvidenceManifest {
  return {
    v: 1,
    id,
    deviceId,
    commandId: null,
    trigger: 'rule',
    ruleId: 'rule-1',
    reason: 'rule fired',
    startedAt: 1_000,
    collectedAt: 1_100,
    capBytes: 1_000_000,
    totalBytes: 10,
    sha256: 'a'.repeat(64),
    chunkBytes: 4,
    chunks: ['b'.repeat(64), 'c'.repeat(64), 'd'.repeat(64)],
    items: [
      {
        name: 'volatile/processes.json',
        kind: 'volatile',
        offset: 0,
        bytes: 10,
        sha256: 'e'.repeat(64),
        truncated: false,
      },
    ],
    skipped: [],
  };
}

export function incidentsContract(ctx: ContractContext): void {
  describe('incidents', () => {
    it('stores an incident whole, updates it and lists it by state, device and activity', async () => {
      const store = ctx.store();
      await store.devices.create(device('dev-a'));
      await store.devices.create(device('dev-b'));
      const first = incident('inc-1');
      await store.incidents.create(first);
      await store.incidents.create(incident('inc-2', { deviceId: 'dev-b', openedAt: 3_000, alertId: null }));
      assert.deepEqual(await store.incidents.get('inc-1'), first);
      const contained = {
        ...first,
        state: 'contained' as const,
        containedAt: 4_000,
        assignee: 'bob',
        steps: [{ ...first.steps[0], doneAt: 3_500, doneBy: 'bob' } as IncidentRecord['steps'][number]],
        updatedAt: 4_000,
      };
      await store.incidents.update(contained);
      assert.deepEqual(await store.incidents.get('inc-1'), contained);
      assert.deepEqual(
        (await store.incidents.list()).map((entry) => entry.id),
        ['inc-2', 'inc-1'],
      );
      assert.deepEqual(
        (await store.incidents.list({ state: 'contained' })).map((entry) => entry.id),
        ['inc-1'],
      );
      assert.deepEqual(
        (await store.incidents.list({ deviceId: 'dev-b' })).map((entry) => entry.id),
        ['inc-2'],
      );
      await store.incidents.update({
        ...contained,
        state: 'closed',
        closedAt: 5_000,
        resolution: 'reimaged',
      });
      assert.deepEqual(
        (await store.incidents.list({ active: true })).map((entry) => entry.id),
        ['inc-2'],
      );
      await assert.rejects(store.incidents.update(incident('inc-missing')), /does not exist/);
    });

    it('keeps the timeline in recording order', async () => {
      const store = ctx.store();
      await store.devices.create(device('dev-a'));
      await store.incidents.create(incident('inc-1'));
      for (const [index, kind] of (['opened', 'note', 'state'] as const).entries()) {
        await store.incidents.addTimeline({
          incidentId: 'inc-1',
          at: 5_000 - index,
          actor: 'alice',
          kind,
          text: `${kind} ${index}`,
          details: { index },
        });
      }
      assert.deepEqual(
        (await store.incidents.timeline('inc-1')).map((entry) => [entry.kind, entry.details.index]),
        [
          ['opened', 0],
          ['note', 1],
          ['state', 2],
        ],
      );
      assert.deepEqual(await store.incidents.timeline('inc-other'), []);
    });
  });

  describe('evidence bundles', () => {
    it('stores a bundle once, advances its upload only from where it stands, and finishes it once', async () => {
      const store = ctx.store();
      await store.devices.create(device('dev-a'));
      const id = '00000000-0000-4000-8000-00000000e001';
      const record = {
        id,
        deviceId: 'dev-a',
        manifest: manifest(id, 'dev-a'),
        signature: 'sig',
        certificatePem: 'PEM',
        receivedBytes: 0,
        createdAt: 2_000,
        updatedAt: 2_000,
      };
      assert.equal(await store.evidence.create(record), true);
      assert.equal(await store.evidence.create(record), false, 'a repeated offer writes nothing');
      assert.equal(await store.evidence.advance(id, 0, 4, 2_100), true);
      assert.equal(await store.evidence.advance(id, 0, 4, 2_100), false, 'the upload already moved on');
      assert.equal((await store.evidence.get(id))?.receivedBytes, 4);
      assert.equal(await store.evidence.finish(id, 'verified', null, 2_200), true);
      assert.equal(await store.evidence.finish(id, 'rejected', 'late', 2_300), false);
      assert.equal(await store.evidence.advance(id, 4, 8, 2_400), false, 'a finished bundle takes no more');
      const stored = await store.evidence.get(id);
      assert.equal(stored?.state, 'verified');
      assert.equal(stored?.verifiedAt, 2_200);
      assert.deepEqual(stored?.manifest, record.manifest);
      assert.deepEqual(
        (await store.evidence.list({ deviceId: 'dev-a' })).map((entry) => entry.id),
        [id],
      );
      assert.deepEqual(await store.evidence.list({ deviceId: 'dev-b' }), []);
    });
  });

  describe('device audit chains', () => {
    it('keeps each device chain and its anchors apart, in seq order', async () => {
      const store = ctx.store();
      await store.devices.create(device('dev-a'));
      await store.devices.create(device('dev-b'));
      const first = appendEntry(undefined, {
        at: 1,
        kind: 'isolation',
        actor: 'rule:x',
        subject: 'dev-a',
        details: { a: 1 },
      });
      const second = appendEntry(first, {
        at: 2,
        kind: 'release',
        actor: 'operator',
        subject: 'dev-a',
        details: {},
      });
      await store.deviceAudit.append('dev-a', [first, second]);
      await store.deviceAudit.append('dev-b', [first]);
      assert.deepEqual(await store.deviceAudit.entries('dev-a'), [first, second]);
      assert.deepEqual(await store.deviceAudit.latest('dev-b'), first);
      await assert.rejects(store.deviceAudit.append('dev-a', [second]), 'a seq is stored once');
      const anchor = {
        deviceId: 'dev-a',
        seq: 2,
        hash: second.hash,
        at: 3,
        keyId: 'k',
        signature: 's',
        certificatePem: 'PEM',
        managerSeq: 9,
      };
      await store.deviceAudit.addAnchor(anchor);
      assert.deepEqual(await store.deviceAudit.anchors('dev-a'), [anchor]);
      assert.deepEqual(await store.deviceAudit.anchors('dev-b'), []);
    });
  });
}
