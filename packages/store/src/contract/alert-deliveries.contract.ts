import assert from 'node:assert/strict';
import { beforeEach, describe, it } from 'node:test';
import type { AlertDeliveryInput, AlertDigestItem } from '../store.ts';
import { alert, type ContractContext } from './fixtures.ts';

function delivery(id: string, overrides: Partial<AlertDeliveryInput> = {}): AlertDeliveryInput {
  return {
    id,
    alertId: 'al-1',
    digestKey: null,
    destination: 'pager',
    payload: { v: 1, kind: 'alert', text: `notification ${id} ✓` },
    state: 'pending',
    createdAt: 1_000,
    ...overrides,
  };
}

const ids = (rows: readonly { id: string }[]) => rows.map((row) => row.id);
const failure = (at: number, nextAttemptAt: number, failingAfter = 3) => ({
  at,
  error: `HTTP 500 at ${at}`,
  nextAttemptAt,
  failingAfter,
});

export function alertDeliveriesContract(ctx: ContractContext): void {
  describe('alert deliveries', () => {
    beforeEach(async () => {
      await ctx.store().alerts.insert(alert('al-1'));
      await ctx.store().alerts.insert(alert('al-2'));
    });

    it('stores a delivery due at once, and one handed over in the transaction as delivered', async () => {
      const { alertDeliveries } = ctx.store();
      assert.equal(
        await alertDeliveries.enqueue([
          delivery('d-1'),
          delivery('d-2', { state: 'delivered', destination: 'siem' }),
        ]),
        2,
      );
      assert.deepEqual(await alertDeliveries.get('d-1'), {
        id: 'd-1',
        alertId: 'al-1',
        digestKey: null,
        destination: 'pager',
        payload: { v: 1, kind: 'alert', text: 'notification d-1 ✓' },
        state: 'pending',
        attempts: 0,
        nextAttemptAt: 1_000,
        lastError: null,
        createdAt: 1_000,
        deliveredAt: null,
      });
      const handedOver = await alertDeliveries.get('d-2');
      assert.equal(handedOver?.state, 'delivered');
      assert.equal(handedOver?.attempts, 1);
      assert.equal(handedOver?.deliveredAt, 1_000);
      assert.deepEqual(ids(await alertDeliveries.claimDue('r1', 5_000, 65_000, 10)), ['d-1']);
    });

    it('writes a digest once per destination and key, and several notifications of one alert', async () => {
      const { alertDeliveries } = ctx.store();
      const digest = { alertId: null, digestKey: 'medium@2026-05-01T10:00:00.000Z' };
      assert.equal(
        await alertDeliveries.enqueue([
          delivery('g-1', digest),
          delivery('g-2', { ...digest, destination: 'mail' }),
          delivery('n-1'),
          delivery('n-2'),
        ]),
        4,
      );
      assert.equal(await alertDeliveries.enqueue([delivery('g-3', digest)]), 0);
      assert.equal(await alertDeliveries.get('g-3'), undefined);
      assert.equal((await alertDeliveries.list({ limit: 100 })).length, 4);
    });

    it('a claim is exclusive until its lease ends or it is released', async () => {
      const { alertDeliveries } = ctx.store();
      await alertDeliveries.enqueue([
        delivery('d-1', { createdAt: 1_000 }),
        delivery('d-2', { createdAt: 2_000 }),
        delivery('d-3', { createdAt: 9_000 }),
      ]);
      assert.deepEqual(ids(await alertDeliveries.claimDue('r1', 5_000, 65_000, 1)), ['d-1']);
      assert.deepEqual(
        ids(await alertDeliveries.claimDue('r2', 5_000, 65_000, 10)),
        ['d-2'],
        'd-3 is not due',
      );
      assert.deepEqual(ids(await alertDeliveries.claimDue('r3', 10_000, 70_000, 10)), ['d-3']);
      assert.deepEqual(await alertDeliveries.claimDue('r3', 64_000, 70_000, 10), []);
      // r1 crashed: its lease ends and another replica takes the delivery.
      assert.deepEqual(ids(await alertDeliveries.claimDue('r4', 65_000, 125_000, 10)), ['d-1', 'd-2']);
      assert.equal(await alertDeliveries.markDelivered('d-1', 'r1', 66_000), false, 'r1 lost its claim');
      assert.equal(await alertDeliveries.releaseClaims('r4'), 2);
      assert.deepEqual(ids(await alertDeliveries.claimDue('r5', 66_000, 126_000, 10)), ['d-1', 'd-2']);
    });

    it('counts attempts, backs off, turns failing after the limit, keeps retrying, and ends delivered', async () => {
      const { alertDeliveries } = ctx.store();
      await alertDeliveries.enqueue([delivery('d-1')]);
      let now = 1_000;
      for (const [attempt, state] of [
        [1, 'pending'],
        [2, 'pending'],
        [3, 'failing'],
        [4, 'failing'],
      ] as const) {
        assert.deepEqual(ids(await alertDeliveries.claimDue('r1', now, now + 60_000, 10)), ['d-1']);
        assert.equal(await alertDeliveries.markFailed('d-1', 'r1', failure(now, now + 500)), true);
        const record = await alertDeliveries.get('d-1');
        assert.equal(record?.attempts, attempt);
        assert.equal(record?.state, state);
        assert.equal(record?.lastError, `HTTP 500 at ${now}`);
        assert.deepEqual(
          await alertDeliveries.claimDue('r1', now + 499, now + 60_000, 10),
          [],
          'backing off',
        );
        now += 500;
      }
      assert.deepEqual(ids(await alertDeliveries.list({ state: 'failing' })), ['d-1']);
      assert.deepEqual(ids(await alertDeliveries.claimDue('r1', now, now + 60_000, 10)), ['d-1']);
      assert.equal(await alertDeliveries.markFailed('d-1', 'r2', failure(now, now)), false, 'not its claim');
      assert.equal(await alertDeliveries.markDelivered('d-1', 'r1', now), true);
      const delivered = await alertDeliveries.get('d-1');
      assert.deepEqual(
        {
          state: delivered?.state,
          attempts: delivered?.attempts,
          at: delivered?.deliveredAt,
          error: delivered?.lastError,
        },
        { state: 'delivered', attempts: 5, at: now, error: null },
      );
      assert.equal(await alertDeliveries.markDelivered('d-1', 'r1', now), false, 'delivered once');
      assert.deepEqual(await alertDeliveries.claimDue('r1', now + 1e9, now + 2e9, 10), []);
      assert.deepEqual(await alertDeliveries.list({ state: 'failing' }), []);
    });

    it('lists newest first, by state and by alert', async () => {
      const { alertDeliveries } = ctx.store();
      await alertDeliveries.enqueue([
        delivery('d-1', { createdAt: 1_000 }),
        delivery('d-2', { createdAt: 2_000, alertId: 'al-2' }),
        delivery('d-3', { createdAt: 3_000, state: 'delivered' }),
      ]);
      assert.deepEqual(ids(await alertDeliveries.list()), ['d-3', 'd-2', 'd-1']);
      assert.deepEqual(ids(await alertDeliveries.list({ state: 'pending' })), ['d-2', 'd-1']);
      assert.deepEqual(ids(await alertDeliveries.list({ alertId: 'al-1' })), ['d-3', 'd-1']);
      assert.deepEqual(ids(await alertDeliveries.list({ limit: 1 })), ['d-3']);
    });

    it('deliveries survive a restart', async () => {
      await ctx.store().alertDeliveries.enqueue([delivery('d-1')]);
      const reopened = await ctx.reopen();
      assert.deepEqual(ids(await reopened.alertDeliveries.claimDue('r1', 2_000, 3_000, 10)), ['d-1']);
    });

    it('concurrent claims never hand one delivery to two replicas', async () => {
      const { alertDeliveries } = ctx.store();
      await alertDeliveries.enqueue(Array.from({ length: 60 }, (_, index) => delivery(`d-${index}`)));
      const claims = await Promise.all(
        ['r1', 'r2', 'r3'].map((owner) => alertDeliveries.claimDue(owner, 5_000, 65_000, 25)),
      );
      const claimed = claims.flatMap(ids);
      assert.equal(new Set(claimed).size, claimed.length, 'no delivery claimed twice');
      assert.equal(claimed.length, 60);
    });
  });

  describe('alert digest items', () => {
    beforeEach(async () => {
      for (const id of ['al-1', 'al-2', 'al-3']) await ctx.store().alerts.insert(alert(id));
    });
    const item = (
      alertId: string,
      queuedAt: number,
      overrides: Partial<AlertDigestItem> = {},
    ): AlertDigestItem => ({
      destination: 'mail',
      schedule: 'medium',
      alertId,
      queuedAt,
      ...overrides,
    });

    it('keeps an alert once per destination and schedule, and takes only what was queued before the bound', async () => {
      const { alertDeliveries } = ctx.store();
      await alertDeliveries.queueDigestItems([
        item('al-1', 1_000),
        item('al-1', 1_500),
        item('al-2', 2_000),
        item('al-3', 9_000),
        item('al-1', 1_000, { destination: 'hook' }),
        item('al-2', 1_000, { schedule: 'low' }),
      ]);
      assert.deepEqual(await alertDeliveries.takeDigestItems('medium', 5_000), [
        item('al-1', 1_000, { destination: 'hook' }),
        item('al-1', 1_000),
        item('al-2', 2_000),
      ]);
      assert.deepEqual(await alertDeliveries.takeDigestItems('medium', 5_000), [], 'taken once');
      assert.deepEqual(await alertDeliveries.takeDigestItems('medium', 10_000), [item('al-3', 9_000)]);
      assert.deepEqual(await alertDeliveries.takeDigestItems('low', 10_000), [
        item('al-2', 1_000, { schedule: 'low' }),
      ]);
    });

    it('items taken in a transaction that rolls back are still queued', async () => {
      const store = ctx.store();
      await store.alertDeliveries.queueDigestItems([item('al-1', 1_000)]);
      await assert.rejects(
        store.transaction(async (tx) => {
          assert.equal((await tx.alertDeliveries.takeDigestItems('medium', 5_000)).length, 1);
          throw new Error('sending the digest failed');
        }),
        /sending the digest failed/,
      );
      assert.deepEqual(await store.alertDeliveries.takeDigestItems('medium', 5_000), [item('al-1', 1_000)]);
    });

    it('two replicas building the same digest: one takes the items, the other finds none', async () => {
      const store = ctx.store();
      await store.alertDeliveries.queueDigestItems([item('al-1', 1_000), item('al-2', 1_000)]);
      const taken = await Promise.all(
        [1, 2].map(() =>
          store.transaction(async (tx) => {
            const items = await tx.alertDeliveries.takeDigestItems('medium', 5_000);
            await new Promise((resolve) => setTimeout(resolve, 20));
            return items.length;
          }),
        ),
      );
      assert.deepEqual(taken.sort(), [0, 2]);
    });
  });
}
