import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { type ContractContext, compiledPolicy, policyVersion, signedBundle } from './fixtures.ts';

export function policiesContract(ctx: ContractContext): void {
  describe('policy versions', () => {
    it('stores a version whole and reads it back, by number and as the latest', async () => {
      const { policies } = ctx.store();
      assert.equal(await policies.latest(), undefined);
      assert.equal(await policies.head(), undefined);
      const record = policyVersion(1, {
        gitCommit: '0123456789abcdef0123456789abcdef01234567',
        sourceFiles: [
          { path: 'settings.yaml', text: 'bundleExpiry: 7d\n' },
          { path: 'baselines/ünïcode.yaml', text: 'title: "grüße ✓"\n' },
        ],
      });
      await policies.create(record);
      assert.deepEqual(await policies.get(1), record);
      assert.equal(await policies.get(2), undefined);
      assert.equal(await policies.has(1), true);
      assert.equal(await policies.has(2), false);
      const { payload } = record.signed.bundle;
      assert.deepEqual(await policies.latest(), {
        version: 1,
        createdAt: record.createdAt,
        authorId: 'op-1',
        authorName: 'Ada',
        message: 'version 1',
        gitCommit: record.gitCommit,
        policyDigest: record.policyDigest,
        rollbackOf: null,
        bundleIssuedAt: payload.issuedAt,
        bundleExpiresAt: payload.expiresAt,
      });
      assert.deepEqual(await policies.signedBundle(1), record.signed);
    });

    it('lists newest first, pages with before and limit, and the head is the highest version', async () => {
      const { policies } = ctx.store();
      for (const version of [1, 2, 3]) await policies.create(policyVersion(version));
      await policies.create(
        policyVersion(4, { rollbackOf: 2, policy: compiledPolicy('check of version 2') }),
      );
      assert.deepEqual(
        (await policies.list()).map((summary) => [summary.version, summary.rollbackOf]),
        [
          [4, 2],
          [3, null],
          [2, null],
          [1, null],
        ],
      );
      assert.deepEqual(
        (await policies.list({ limit: 2, before: 4 })).map((summary) => summary.version),
        [3, 2],
      );
      assert.equal((await policies.latest())?.version, 4);
      assert.equal((await policies.head())?.version, 4);
      assert.equal((await policies.get(4))?.policyDigest, (await policies.get(2))?.policyDigest);
    });

    it('never overwrites a version', async () => {
      const { policies } = ctx.store();
      await policies.create(policyVersion(1));
      await assert.rejects(policies.create(policyVersion(1, { message: 'again' })));
      assert.equal((await policies.get(1))?.message, 'version 1');
    });

    it('replaces the bundle only while its issue time is the one read', async () => {
      const { policies } = ctx.store();
      const record = policyVersion(1);
      await policies.create(record);
      const issuedAt = record.signed.bundle.payload.issuedAt;
      const resigned = signedBundle(1, record.policy, issuedAt + 60_000, 'crl-digest-2');
      assert.equal(await policies.replaceBundle(1, issuedAt, resigned), true);
      const lateRacer = signedBundle(1, record.policy, issuedAt + 61_000, 'crl-digest-3');
      assert.equal(await policies.replaceBundle(1, issuedAt, lateRacer), false);
      assert.deepEqual(await policies.head(), {
        version: 1,
        issuedAt: issuedAt + 60_000,
        expiresAt: resigned.bundle.payload.expiresAt,
        crlDigest: 'crl-digest-2',
        crlIssuedAt: resigned.crlIssuedAt,
      });
      assert.deepEqual(await policies.signedBundle(1), resigned);
      const stored = await policies.get(1);
      assert.deepEqual(stored?.signed, resigned);
      assert.equal(stored?.message, record.message, 'only the bundle changes');
      assert.equal(await policies.replaceBundle(2, issuedAt, resigned), false, 'no such version');
    });

    it('two applies at once make two versions: the second waits for the first to commit', async () => {
      const store = ctx.store();
      const apply = (message: string) =>
        store.transaction(async (tx) => {
          const latest = await tx.policies.lockLatest();
          await delay(50);
          const version = (latest?.version ?? 0) + 1;
          await tx.policies.create(policyVersion(version, { message }));
          return version;
        });
      const versions = await Promise.all([apply('first'), apply('second')]);
      assert.deepEqual([...versions].sort(), [1, 2]);
      assert.deepEqual(
        (await store.policies.list()).map((summary) => summary.version),
        [2, 1],
      );
    });

    it('a version created in a transaction that rolls back is never stored', async () => {
      const store = ctx.store();
      await assert.rejects(
        store.transaction(async (tx) => {
          await tx.policies.lockLatest();
          await tx.policies.create(policyVersion(1));
          throw new Error('the audit record failed');
        }),
        /the audit record failed/,
      );
      assert.equal(await store.policies.latest(), undefined);
    });
  });
}
