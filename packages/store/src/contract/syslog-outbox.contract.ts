import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import type { SyslogOutboxInput } from '../store.ts';
import type { ContractContext } from './fixtures.ts';

function message(text: string, createdAt = 1_000): SyslogOutboxInput {
  return { createdAt, message: `<37>1 2024-05-01T10:00:00.000Z host edgeward - audit - ${text}` };
}

const texts = (rows: readonly { message: string }[]) => rows.map((row) => row.message.split(' - ').at(-1));

export function syslogOutboxContract(ctx: ContractContext): void {
  describe('syslog outbox', () => {
    it('peek returns messages oldest first with growing ids, up to the limit', async () => {
      const { syslogOutbox } = ctx.store();
      const unicode = { createdAt: 2_000, message: '<37>1 - - - - - [x@32473 v="a\\"b"] \uFEFFgrüße ✓' };
      await syslogOutbox.enqueue([message('one'), message('two')]);
      await syslogOutbox.enqueue([message('three'), unicode]);
      const all = await syslogOutbox.peek();
      assert.deepEqual(texts(all).slice(0, 3), ['one', 'two', 'three']);
      assert.deepEqual(all[3], { id: all[3]?.id, ...unicode });
      for (const [index, row] of all.entries()) {
        if (index > 0) assert.ok(row.id > all[index - 1]!.id, 'ids grow in enqueue order');
      }
      assert.deepEqual(texts(await syslogOutbox.peek(2)), ['one', 'two']);
      assert.deepEqual(texts(await syslogOutbox.peek(10, all[1]!.id)).slice(0, 1), ['three']);
      assert.deepEqual(await syslogOutbox.peek(10, all[3]!.id), []);
      assert.equal(await syslogOutbox.count(), 4);
    });

    it('enqueue of nothing writes nothing', async () => {
      const { syslogOutbox } = ctx.store();
      await syslogOutbox.enqueue([]);
      assert.equal(await syslogOutbox.count(), 0);
    });

    it('keeps the order of a batch larger than one INSERT statement', async () => {
      const { syslogOutbox } = ctx.store();
      const many = Array.from({ length: 600 }, (_, index) => message(`m${index}`));
      await syslogOutbox.enqueue(many);
      assert.deepEqual(
        texts(await syslogOutbox.peek(1000)),
        many.map((_, index) => `m${index}`),
      );
    });

    it('remove deletes up to and including the id and keeps later messages', async () => {
      const { syslogOutbox } = ctx.store();
      await syslogOutbox.enqueue([message('one'), message('two'), message('three')]);
      const [, second] = await syslogOutbox.peek(2);
      await syslogOutbox.enqueue([message('four')]);
      assert.equal(await syslogOutbox.remove(second!.id), 2);
      assert.deepEqual(texts(await syslogOutbox.peek()), ['three', 'four']);
      assert.equal(await syslogOutbox.remove(second!.id), 0);
    });

    it('never reuses an id, even after the outbox was emptied', async () => {
      const { syslogOutbox } = ctx.store();
      await syslogOutbox.enqueue([message('one'), message('two')]);
      const last = (await syslogOutbox.peek()).at(-1)!;
      await syslogOutbox.remove(last.id);
      await ctx.reopen();
      await ctx.store().syslogOutbox.enqueue([message('three')]);
      const [next] = await ctx.store().syslogOutbox.peek();
      assert.ok(next!.id > last.id, `${next!.id} > ${last.id}`);
    });

    it('trim drops the oldest beyond the limit and reports how many and from when', async () => {
      const { syslogOutbox } = ctx.store();
      await syslogOutbox.enqueue([1, 2, 3, 4, 5].map((n) => message(`m${n}`, n * 1_000)));
      assert.deepEqual(await syslogOutbox.trim(5), { removed: 0, firstCreatedAt: null, lastCreatedAt: null });
      assert.deepEqual(await syslogOutbox.trim(2), {
        removed: 3,
        firstCreatedAt: 1_000,
        lastCreatedAt: 3_000,
      });
      assert.deepEqual(texts(await syslogOutbox.peek()), ['m4', 'm5']);
      assert.equal((await syslogOutbox.trim(0)).removed, 2);
      assert.equal(await syslogOutbox.count(), 0);
    });

    it('a message enqueued in a transaction that rolls back is never queued', async () => {
      const store = ctx.store();
      await assert.rejects(
        store.transaction(async (tx) => {
          await tx.syslogOutbox.enqueue([message('ghost')]);
          await tx.meta.set('k', 'v');
          throw new Error('the action failed');
        }),
        /the action failed/,
      );
      assert.equal(await store.syslogOutbox.count(), 0);
    });

    it('keeps queued messages across a restart', async () => {
      await ctx.store().syslogOutbox.enqueue([message('one'), message('two')]);
      const reopened = await ctx.reopen();
      assert.deepEqual(texts(await reopened.syslogOutbox.peek()), ['one', 'two']);
    });

    it('a reader never sees a message while an older one is still uncommitted', async () => {
      const store = ctx.store();
      let release!: () => void;
      const held = new Promise<void>((resolve) => {
        release = resolve;
      });
      let enqueued!: () => void;
      const firstEnqueued = new Promise<void>((resolve) => {
        enqueued = resolve;
      });
      const first = store.transaction(async (tx) => {
        await tx.syslogOutbox.enqueue([message('first')]);
        enqueued();
        await held;
      });
      await firstEnqueued;
      const second = store.syslogOutbox.enqueue([message('second')]);
      await delay(100);
      let during: string[] = [];
      try {
        // SQLite's single connection queues the reader behind the open transaction; PostgreSQL answers
        // at once, and must not show `second` (id 2) while `first` (id 1) may still commit.
        if (ctx.engine === 'postgres') during = texts(await store.syslogOutbox.peek()) as string[];
      } finally {
        release();
        await Promise.all([first, second]);
      }
      assert.deepEqual(during, []);
      assert.deepEqual(texts(await store.syslogOutbox.peek()), ['first', 'second']);
    });
  });
}
