import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type ContractContext, device, token } from './fixtures.ts';

export function metaContract(ctx: ContractContext): void {
  describe('meta', () => {
    it('returns undefined for a key never set', async () => {
      assert.equal(await ctx.store().meta.get('fleet.id'), undefined);
    });

    it('set stores a value and overwrites it on the second call', async () => {
      const { meta } = ctx.store();
      await meta.set('fleet.id', 'first');
      await meta.set('fleet.id', 'second');
      assert.equal(await meta.get('fleet.id'), 'second');
    });
  });
}

export function tokensContract(ctx: ContractContext): void {
  describe('enrollment tokens', () => {
    it('round-trips a token with its labels', async () => {
      const { tokens } = ctx.store();
      const record = token('tok-1', { labels: { site: 'plant-7', risk: 'high' } });
      await tokens.create(record);
      assert.deepEqual(await tokens.findById('tok-1'), record);
      assert.equal(await tokens.findById('tok-unknown'), undefined);
    });

    it('markUsed records the device and time once, then returns false', async () => {
      const { tokens } = ctx.store();
      await tokens.create(token('tok-1'));
      assert.equal(await tokens.markUsed('tok-1', 'dev-a', 2_000), true);
      assert.equal(await tokens.markUsed('tok-1', 'dev-b', 3_000), false);
      const stored = await tokens.findById('tok-1');
      assert.equal(stored?.usedAt, 2_000);
      assert.equal(stored?.usedByDeviceId, 'dev-a');
    });

    it('markUsed lets exactly one of two concurrent callers use the token', async () => {
      const { tokens } = ctx.store();
      await tokens.create(token('tok-1'));
      const results = await Promise.all([
        tokens.markUsed('tok-1', 'dev-a', 2_000),
        tokens.markUsed('tok-1', 'dev-b', 2_000),
      ]);
      assert.equal(results.filter(Boolean).length, 1);
      const winner = results[0] ? 'dev-a' : 'dev-b';
      assert.equal((await tokens.findById('tok-1'))?.usedByDeviceId, winner);
    });

    it('markUsed lets exactly one of two concurrent transactions use the token', async () => {
      const store = ctx.store();
      await store.tokens.create(token('tok-1'));
      const results = await Promise.all(
        ['dev-a', 'dev-b'].map((deviceId) =>
          store.transaction(async (tx) => {
            const used = await tx.tokens.markUsed('tok-1', deviceId, 2_000);
            if (used) await tx.devices.create(device(deviceId, { enrollmentTokenId: 'tok-1' }));
            return used;
          }),
        ),
      );
      assert.equal(results.filter(Boolean).length, 1);
      assert.equal(await store.devices.count(), 1);
    });

    it('markUsed refuses a revoked token and an unknown one', async () => {
      const { tokens } = ctx.store();
      await tokens.create(token('tok-1', { revokedAt: 1_500 }));
      assert.equal(await tokens.markUsed('tok-1', 'dev-a', 2_000), false);
      assert.equal(await tokens.markUsed('tok-unknown', 'dev-a', 2_000), false);
      assert.equal((await tokens.findById('tok-1'))?.usedAt, null);
    });

    it('revoke succeeds once, keeps the first time, and is false for an unknown token', async () => {
      const { tokens } = ctx.store();
      await tokens.create(token('tok-1'));
      assert.equal(await tokens.revoke('tok-1', 2_000), true);
      assert.equal(await tokens.revoke('tok-1', 3_000), false);
      assert.equal(await tokens.revoke('tok-unknown', 2_000), false);
      assert.equal((await tokens.findById('tok-1'))?.revokedAt, 2_000);
    });

    it('revoke also applies to a token that was already used', async () => {
      const { tokens } = ctx.store();
      await tokens.create(token('tok-1', { usedAt: 1_500, usedByDeviceId: 'dev-a' }));
      assert.equal(await tokens.revoke('tok-1', 2_000), true);
    });

    it('list shows active tokens newest first, hiding used, revoked and expired ones unless asked', async () => {
      const { tokens } = ctx.store();
      await tokens.create(token('tok-old', { createdAt: 1_000 }));
      await tokens.create(token('tok-new', { createdAt: 3_000 }));
      await tokens.create(token('tok-used', { createdAt: 2_000, usedAt: 2_500, usedByDeviceId: 'dev-a' }));
      await tokens.create(token('tok-revoked', { createdAt: 2_100, revokedAt: 2_600 }));
      await tokens.create(token('tok-expired', { createdAt: 2_200, expiresAt: 10_000 }));
      const ids = async (options?: { includeInactive?: boolean; now?: number }) =>
        (await tokens.list(options)).map((record) => record.id);
      assert.deepEqual(await ids({ now: 10_000 }), ['tok-new', 'tok-old']);
      assert.deepEqual(await ids({ now: 9_999 }), ['tok-new', 'tok-expired', 'tok-old']);
      assert.deepEqual(await ids({ includeInactive: true, now: 10_000 }), [
        'tok-new',
        'tok-expired',
        'tok-revoked',
        'tok-used',
        'tok-old',
      ]);
    });
  });
}
