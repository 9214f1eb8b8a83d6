import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  AUDIT_GENESIS_HASH,
  type AuditEntryInput,
  auditSigner,
  generatePolicyKeyPair,
  signCheckpoint,
  verifyChain,
} from '@edgeward/core';
import type { ContractContext } from './fixtures.ts';

const keys = generatePolicyKeyPair();
const signer = auditSigner(keys.privateKeyPem);

function input(subject: string, at = 1_000): AuditEntryInput {
  return {
    at,
    kind: 'operator.action',
    actor: 'operator:op-1',
    subject,
    details: { note: 'grüße ✓', nested: { list: [1, 'two', null] } },
  };
}

export function auditContract(ctx: ContractContext): void {
  describe('audit chain', () => {
    it('appends entries 1, 2, 3 linked by hash and reads them back as written', async () => {
      const { audit } = ctx.store();
      const first = await audit.append(input('a'));
      const second = await audit.append(input('b', 2_000));
      await audit.append(input('c', 3_000));
      assert.equal(first.seq, 1);
      assert.equal(first.prevHash, AUDIT_GENESIS_HASH);
      assert.equal(second.prevHash, first.hash);
      const all = await audit.range();
      assert.deepEqual(all.slice(0, 2), [first, second]);
      assert.deepEqual(
        all.map((entry) => entry.seq),
        [1, 2, 3],
      );
      assert.equal(verifyChain(all, [], keys.publicKeyPem).ok, true);
      assert.equal((await audit.latest())?.seq, 3);
      assert.equal(await audit.count(), 3);
    });

    it('reads ranges ascending and lists newest first with paging', async () => {
      const { audit } = ctx.store();
      for (let index = 1; index <= 5; index++) await audit.append(input(`s${index}`, index * 1_000));
      const seqs = (entries: readonly { seq: number }[]) => entries.map((entry) => entry.seq);
      assert.deepEqual(seqs(await audit.range({ fromSeq: 3 })), [3, 4, 5]);
      assert.deepEqual(seqs(await audit.range({ fromSeq: 2, limit: 2 })), [2, 3]);
      assert.deepEqual(seqs(await audit.list({ limit: 2 })), [5, 4]);
      assert.deepEqual(seqs(await audit.list({ limit: 2, before: 4 })), [3, 2]);
      assert.equal(await audit.firstSeqAtOrAfter(2_500), 3);
      assert.equal(await audit.firstSeqAtOrAfter(9_000), undefined);
    });

    it('keeps checkpoints once per seq, ascending', async () => {
      const { audit } = ctx.store();
      const entries = [];
      for (let index = 1; index <= 4; index++) entries.push(await audit.append(input(`s${index}`)));
      const second = signCheckpoint(signer, entries[1]!, 5_000);
      const fourth = signCheckpoint(signer, entries[3]!, 6_000);
      assert.equal(await audit.addCheckpoint(fourth), true);
      assert.equal(await audit.addCheckpoint(second), true);
      assert.equal(await audit.addCheckpoint({ ...second, at: 7_000 }), false);
      assert.deepEqual(await audit.checkpoints(), [second, fourth]);
      assert.deepEqual(await audit.checkpoints({ fromSeq: 3 }), [fourth]);
      assert.deepEqual(await audit.latestCheckpoint(), fourth);
      assert.equal(verifyChain(await audit.range(), await audit.checkpoints(), keys.publicKeyPem).ok, true);
    });

    it('drops an append with the transaction that rolled back, leaving no gap', async () => {
      const store = ctx.store();
      await store.audit.append(input('kept'));
      await assert.rejects(
        store.transaction(async (tx) => {
          await tx.audit.append(input('rolled back'));
          throw new Error('abort');
        }),
        /abort/,
      );
      const next = await store.audit.append(input('next'));
      assert.equal(next.seq, 2);
      assert.equal(verifyChain(await store.audit.range(), [], keys.publicKeyPem).ok, true);
    });

    it('keeps one linear chain when many appends race, also from separate connections', async () => {
      const store = ctx.store();
      const other = ctx.engine === 'postgres' ? await ctx.openAnother() : store;
      try {
        await Promise.all(
          Array.from({ length: 40 }, (_, index) =>
            (index % 2 === 0 ? store : other).transaction(async (tx) => {
              await tx.audit.append(input(`race-${index}`));
              // Work after the append keeps the lock held a while, as a real caller's transaction does.
              await tx.meta.set(`race-${index}`, 'x');
            }),
          ),
        );
      } finally {
        if (other !== store) await other.close();
      }
      const entries = await store.audit.range();
      assert.deepEqual(
        entries.map((entry) => entry.seq),
        Array.from({ length: 40 }, (_, index) => index + 1),
      );
      assert.equal(new Set(entries.map((entry) => entry.subject)).size, 40);
      assert.equal(verifyChain(entries, [], keys.publicKeyPem).ok, true);
    });
  });
}
