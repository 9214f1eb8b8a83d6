import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { compareHybrid, type HybridTimestamp, receiveHybrid, tickHybrid } from './hybrid-clock.ts';

const timestamp = fc.record({
  wallMs: fc.integer({ min: 0, max: 1_000_000 }),
  counter: fc.integer({ min: 0, max: 5 }),
  node: fc.constantFrom('hub', 'site/a', 'site/b'),
});

describe('hybrid logical clock', () => {
  it('moves forward on every local event, even when the wall clock goes back', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 1000 }), { minLength: 1, maxLength: 30 }), (walls) => {
        let last: HybridTimestamp | undefined;
        for (const now of walls) {
          const next = tickHybrid(last, now, 'site/a');
          if (last !== undefined) assert.ok(compareHybrid(next, last) > 0);
          assert.ok(next.wallMs >= now);
          last = next;
        }
      }),
    );
  });

  it('orders a received timestamp after both the local clock and the remote one', () => {
    fc.assert(
      fc.property(
        fc.option(timestamp, { nil: undefined }),
        timestamp,
        fc.integer({ min: 0, max: 1_000_000 }),
        (last, remote, now) => {
          const receipt = receiveHybrid(last, remote, now, 'site/a', 2_000_000);
          assert.ok(receipt.ok);
          const after = (earlier: HybridTimestamp) =>
            receipt.clock.wallMs > earlier.wallMs ||
            (receipt.clock.wallMs === earlier.wallMs && receipt.clock.counter > earlier.counter);
          assert.ok(after(remote));
          if (last !== undefined) assert.ok(after(last));
          assert.ok(receipt.clock.wallMs >= now);
        },
      ),
    );
  });

  it('refuses a remote clock far ahead of local time', () => {
    const receipt = receiveHybrid(
      undefined,
      { wallMs: 10_000_000, counter: 0, node: 'site/b' },
      1000,
      'hub',
      60_000,
    );
    assert.deepEqual(receipt, { ok: false, reason: 'clock-ahead', aheadMs: 9_999_000 });
  });
});
