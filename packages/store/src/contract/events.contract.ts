import assert from 'node:assert/strict';
import { beforeEach, describe, it } from 'node:test';
import type { EventRecord } from '@edgeward/core';
import type { EventQueryFilter } from '../store.ts';
import { type ContractContext, device, event } from './fixtures.ts';

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, index) => from + index);
const events = (from: number, to: number) => range(from, to).map((seq) => event(seq));

export function eventsContract(ctx: ContractContext): void {
  describe('events', () => {
    beforeEach(async () => {
      await ctx.store().devices.create(device('dev-1'));
      await ctx.store().devices.create(device('dev-2'));
    });

    const seqsOf = async (deviceId: string) =>
      (await ctx.store().events.query({ deviceId, limit: 10_000 })).map((record) => record.seq).reverse();

    it('stores a batch in order, acknowledges its last event and keeps device time beside receipt time', async () => {
      const { events: repository } = ctx.store();
      const result = await repository.ingest('dev-1', events(1, 3), 99_000);
      assert.deepEqual(result, { ackedSeq: 3, stored: 3, duplicates: 0, gaps: [], newGaps: [] });
      const expected: EventRecord = {
        deviceId: 'dev-1',
        seq: 3,
        id: 'evt-3',
        type: 'auth.login_failed',
        severity: 'medium',
        time: 3_000,
        receivedAt: 99_000,
        data: { user: 'root', source: '10.0.0.9', attempt: 3 },
      };
      assert.deepEqual((await repository.query({ limit: 1 }))[0], expected);
    });

    it('stores an event once when it comes again under a new sequence number with the same id', async () => {
      const { events: repository } = ctx.store();
      await repository.ingest('dev-1', events(1, 3), 10_000);
      // A crashed agent re-read a log line: same event id, next sequence number.
      const again = await repository.ingest('dev-1', [event(4, { id: 'evt-2' }), event(5)], 11_000);
      assert.equal(again.ackedSeq, 5);
      assert.equal(again.stored, 1);
      assert.deepEqual(
        (await repository.query({ deviceId: 'dev-1', limit: 10 })).map((record) => record.id).sort(),
        ['evt-1', 'evt-2', 'evt-3', 'evt-5'],
      );
      // Ids are per device: another device may use the same one.
      await repository.ingest('dev-2', [event(1, { id: 'evt-2' })], 12_000);
      assert.equal((await repository.query({ deviceId: 'dev-2', limit: 10 })).length, 1);
    });

    it('keeps event data exactly: nesting, unicode, null and numbers', async () => {
      const { events: repository } = ctx.store();
      const data = {
        path: '/etc/pass\u00e9wd',
        nested: { list: [1, 'two', null, false] },
        ratio: 0.25,
        none: null,
      };
      await repository.ingest('dev-1', [event(1, { data })], 5_000);
      assert.deepEqual((await repository.query())[0]?.data, data);
    });

    it('ignores events at or below the acknowledgement, held beyond a gap, or repeated within a batch', async () => {
      const { events: repository } = ctx.store();
      await repository.ingest('dev-1', events(1, 5), 10_000);
      await repository.ingest('dev-1', [event(8)], 10_000);
      const again = await repository.ingest(
        'dev-1',
        [event(4, { data: { replaced: true } }), event(5), event(8), event(9), event(9, { id: 'other' })],
        11_000,
      );
      assert.deepEqual(again, {
        ackedSeq: 5,
        stored: 1,
        duplicates: 4,
        gaps: [{ from: 6, to: 7 }],
        newGaps: [],
      });
      assert.deepEqual(await seqsOf('dev-1'), [1, 2, 3, 4, 5, 8, 9]);
      const four = await repository.query({
        deviceId: 'dev-1',
        before: { time: 5_000, deviceId: 'dev-1', seq: 5 },
        limit: 1,
      });
      assert.deepEqual(four[0]?.data, event(4).data, 'the first stored copy is kept');
      const nine = await repository.query({ deviceId: 'dev-1', limit: 1 });
      assert.equal(nine[0]?.id, 'evt-9', 'the first copy within a batch is kept');
    });

    it('a gap holds the acknowledgement and is recorded once; filling it advances past the held events', async () => {
      const { events: repository } = ctx.store();
      assert.equal((await repository.ingest('dev-1', events(1, 2), 1_000)).ackedSeq, 2);
      const gapped = await repository.ingest('dev-1', [event(6), event(7), event(10)], 2_000);
      assert.deepEqual(gapped, {
        ackedSeq: 2,
        stored: 3,
        duplicates: 0,
        gaps: [
          { from: 3, to: 5 },
          { from: 8, to: 9 },
        ],
        newGaps: [
          { from: 3, to: 5 },
          { from: 8, to: 9 },
        ],
      });
      const widened = await repository.ingest('dev-1', [event(4), event(12)], 3_000);
      assert.deepEqual(widened.newGaps, [{ from: 11, to: 11 }], 'only what was not missing before is new');
      assert.deepEqual(await repository.deliveryState('dev-1'), {
        ackedSeq: 2,
        heldAbove: [4, 6, 7, 10, 12],
        gaps: [
          { from: 3, to: 3 },
          { from: 5, to: 5 },
          { from: 8, to: 9 },
          { from: 11, to: 11 },
        ],
        detectedGaps: [
          { from: 11, to: 11, detectedAt: 3_000 },
          { from: 8, to: 9, detectedAt: 2_000 },
          { from: 3, to: 5, detectedAt: 2_000 },
        ],
      });
      assert.equal((await repository.ingest('dev-1', [event(3), event(5)], 4_000)).ackedSeq, 7);
      const filled = await repository.ingest('dev-1', [event(11), event(9), event(8)], 5_000);
      assert.deepEqual(filled, { ackedSeq: 12, stored: 3, duplicates: 0, gaps: [], newGaps: [] });
      assert.deepEqual(await seqsOf('dev-1'), range(1, 12));
      assert.deepEqual((await repository.deliveryState('dev-1')).heldAbove, []);
    });

    it("the device's floor moves the acknowledgement over events it evicted, storing those that still arrive", async () => {
      const { events: repository } = ctx.store();
      await repository.ingest('dev-1', events(1, 2), 1_000);
      await repository.ingest('dev-1', [event(6), event(7)], 2_000);
      // 3 and 5 were evicted on the device; 4 survived and comes with the floor.
      const floored = await repository.ingest('dev-1', [event(4), event(8)], 3_000, 5);
      assert.deepEqual(floored, { ackedSeq: 8, stored: 2, duplicates: 0, gaps: [], newGaps: [] });
      assert.deepEqual(await seqsOf('dev-1'), [1, 2, 4, 6, 7, 8]);
      const state = await repository.deliveryState('dev-1');
      assert.deepEqual([state.ackedSeq, state.heldAbove, state.gaps], [8, [], []]);
      const late = await repository.ingest('dev-1', [event(3)], 4_000, 8);
      assert.deepEqual(late, { ackedSeq: 8, stored: 0, duplicates: 1, gaps: [], newGaps: [] });
      const lower = await repository.ingest('dev-1', [event(10)], 5_000, 2);
      assert.deepEqual(lower, {
        ackedSeq: 8,
        stored: 1,
        duplicates: 0,
        gaps: [{ from: 9, to: 9 }],
        newGaps: [{ from: 9, to: 9 }],
      });
    });

    it('keeps sequences per device: the same seq from two devices is two events', async () => {
      const { events: repository } = ctx.store();
      await repository.ingest('dev-1', events(1, 3), 1_000);
      const other = await repository.ingest('dev-2', events(1, 2), 1_000);
      assert.equal(other.stored, 2);
      assert.deepEqual(await seqsOf('dev-2'), [1, 2]);
      assert.equal((await repository.deliveryState('dev-2')).ackedSeq, 2);
    });

    it('a device that never sent events has nothing acknowledged', async () => {
      assert.deepEqual(await ctx.store().events.deliveryState('dev-2'), {
        ackedSeq: 0,
        heldAbove: [],
        gaps: [],
        detectedGaps: [],
      });
    });

    it('stores large batches of any size whole, and an empty batch changes nothing', async () => {
      const { events: repository } = ctx.store();
      assert.deepEqual(await repository.ingest('dev-1', [], 1_000), {
        ackedSeq: 0,
        stored: 0,
        duplicates: 0,
        gaps: [],
        newGaps: [],
      });
      const result = await repository.ingest('dev-1', events(1, 1_337), 1_000);
      assert.equal(result.stored, 1_337);
      assert.equal(result.ackedSeq, 1_337);
      assert.deepEqual(await seqsOf('dev-1'), range(1, 1_337));
    });

    it('the delivery state survives a restart', async () => {
      await ctx.store().events.ingest('dev-1', [...events(1, 3), event(6)], 1_000);
      const reopened = await ctx.reopen();
      const again = await reopened.events.ingest('dev-1', [...events(1, 6)], 2_000);
      assert.deepEqual(again, { ackedSeq: 6, stored: 2, duplicates: 4, gaps: [], newGaps: [] });
    });

    it('refuses events of an unknown device and stores nothing', async () => {
      const { events: repository } = ctx.store();
      await assert.rejects(repository.ingest('dev-unknown', events(1, 2), 1_000));
      assert.deepEqual(await repository.query(), []);
      assert.equal((await repository.deliveryState('dev-unknown')).ackedSeq, 0);
    });

    it('rolls the whole ingest back with an enclosing transaction that fails', async () => {
      const store = ctx.store();
      await assert.rejects(
        store.transaction(async (tx) => {
          await tx.events.ingest('dev-1', events(1, 600), 1_000);
          throw new Error('abort after ingest');
        }),
      );
      assert.deepEqual(await store.events.query(), []);
      assert.equal((await store.events.deliveryState('dev-1')).ackedSeq, 0);
      assert.equal((await store.events.ingest('dev-1', events(1, 600), 2_000)).stored, 600);
    });

    it('the same batch ingested concurrently is stored once', async () => {
      const { events: repository } = ctx.store();
      const results = await Promise.all(
        range(1, 6).map(() => repository.ingest('dev-1', events(1, 200), 1_000)),
      );
      assert.equal(
        results.reduce((sum, result) => sum + result.stored, 0),
        200,
      );
      for (const result of results) assert.equal(result.ackedSeq, 200);
      assert.deepEqual(await seqsOf('dev-1'), range(1, 200));
    });

    it('concurrent batches of one device, in any order, end with every event stored once and acknowledged', async () => {
      const { events: repository } = ctx.store();
      const batches = [
        events(81, 100),
        events(1, 20),
        events(41, 60),
        events(21, 40),
        events(61, 80),
        events(11, 50),
      ];
      const results = await Promise.all(batches.map((batch) => repository.ingest('dev-1', batch, 1_000)));
      assert.equal(
        results.reduce((sum, result) => sum + result.stored, 0),
        100,
      );
      const state = await repository.deliveryState('dev-1');
      assert.deepEqual([state.ackedSeq, state.heldAbove, state.gaps], [100, [], []]);
      assert.deepEqual(await seqsOf('dev-1'), range(1, 100));
    });

    describe('query', () => {
      beforeEach(async () => {
        const { events: repository } = ctx.store();
        await repository.ingest(
          'dev-1',
          [
            event(1, { type: 'auth.login_failed', severity: 'medium', time: 10_000 }),
            event(2, { type: 'auth.login_succeeded', severity: 'info', time: 20_000 }),
            event(3, { type: 'fim.permissions_changed', severity: 'high', time: 30_000 }),
            event(4, { type: 'auth.login_failed', severity: 'critical', time: 40_000 }),
          ],
          50_000,
        );
        await repository.ingest(
          'dev-2',
          [
            event(1, { type: 'auth.login_failed', severity: 'low', time: 15_000 }),
            // Same device time as dev-1's seq 3: the order breaks the tie by device, then seq.
            event(2, { type: 'auth.login_failed', severity: 'high', time: 30_000 }),
          ],
          60_000,
        );
      });

      const keys = async (filter: EventQueryFilter) =>
        (await ctx.store().events.query(filter)).map((record) => `${record.deviceId}#${record.seq}`);

      it('returns every device newest first by device time, ties by device then seq', async () => {
        assert.deepEqual(await keys({}), ['dev-1#4', 'dev-2#2', 'dev-1#3', 'dev-1#2', 'dev-2#1', 'dev-1#1']);
      });

      it('filters by device, type, minimum severity and device-time window', async () => {
        assert.deepEqual(await keys({ deviceId: 'dev-2' }), ['dev-2#2', 'dev-2#1']);
        assert.deepEqual(await keys({ type: 'auth.login_failed' }), [
          'dev-1#4',
          'dev-2#2',
          'dev-2#1',
          'dev-1#1',
        ]);
        assert.deepEqual(await keys({ severity: 'high' }), ['dev-1#4', 'dev-2#2', 'dev-1#3']);
        assert.deepEqual(await keys({ severity: 'info' }), await keys({}));
        assert.deepEqual(await keys({ since: 15_000, until: 30_000 }), ['dev-1#2', 'dev-2#1']);
        assert.deepEqual(await keys({ deviceId: 'dev-1', type: 'auth.login_failed', severity: 'medium' }), [
          'dev-1#4',
          'dev-1#1',
        ]);
        assert.deepEqual(await keys({ deviceId: 'dev-unknown' }), []);
      });

      it('pages with the last event as cursor, never repeating or skipping one', async () => {
        for (const filter of [
          {},
          { deviceId: 'dev-1' },
          { type: 'auth.login_failed' },
          { severity: 'low' as const },
        ]) {
          const all = await keys(filter);
          const paged: string[] = [];
          let before: EventQueryFilter['before'];
          for (;;) {
            const page = await ctx
              .store()
              .events.query({ ...filter, limit: 2, ...(before ? { before } : {}) });
            paged.push(...page.map((record) => `${record.deviceId}#${record.seq}`));
            const last = page.at(-1);
            if (page.length < 2 || last === undefined) break;
            before = { time: last.time, deviceId: last.deviceId, seq: last.seq };
          }
          assert.deepEqual(paged, all, JSON.stringify(filter));
        }
      });

      it('honours limit, 100 by default', async () => {
        assert.equal((await keys({ limit: 3 })).length, 3);
        await ctx.store().events.ingest('dev-1', events(5, 150), 70_000);
        assert.equal((await keys({})).length, 100);
      });
    });

    describe('prune', () => {
      it('deletes events received before the cutoff and returns how many, keeping the others', async () => {
        const { events: repository } = ctx.store();
        await repository.ingest('dev-1', events(1, 3), 1_000);
        await repository.ingest('dev-2', events(1, 2), 1_000);
        await repository.ingest('dev-1', events(4, 5), 2_000);
        assert.equal(await repository.prune(2_000), 5);
        assert.deepEqual(await seqsOf('dev-1'), [4, 5]);
        assert.deepEqual(await seqsOf('dev-2'), []);
        assert.equal(await repository.prune(2_000), 0);
      });

      it('keeps the acknowledgement, so pruned events sent again are not stored again', async () => {
        const { events: repository } = ctx.store();
        await repository.ingest('dev-1', events(1, 3), 1_000);
        await repository.prune(5_000);
        const again = await repository.ingest('dev-1', events(1, 4), 6_000);
        assert.deepEqual(again, { ackedSeq: 4, stored: 1, duplicates: 3, gaps: [], newGaps: [] });
      });

      it('deletes gap records detected before the cutoff', async () => {
        const { events: repository } = ctx.store();
        await repository.ingest('dev-1', [event(3)], 1_000);
        await repository.ingest('dev-1', [event(6)], 3_000);
        await repository.prune(2_000);
        assert.deepEqual((await repository.deliveryState('dev-1')).detectedGaps, [
          { from: 4, to: 5, detectedAt: 3_000 },
        ]);
      });

      it('deletes more events than one pruning statement takes', async () => {
        const { events: repository } = ctx.store();
        for (let from = 1; from <= 12_000; from += 3_000) {
          await repository.ingest('dev-1', events(from, from + 2_999), 1_000);
        }
        await repository.ingest('dev-1', [event(12_001)], 9_000);
        assert.equal(await repository.prune(9_000), 12_000);
        assert.deepEqual(await seqsOf('dev-1'), [12_001]);
      });
    });
  });
}
