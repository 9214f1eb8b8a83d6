import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { type AckState, applyBatch } from './sequence-ack.ts';

test('any delivery order with duplicates stores each event once and ends with every event acknowledged', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 200 }).chain((count) =>
        fc.tuple(
          fc.constant(count),
          fc.shuffledSubarray(
            Array.from({ length: count * 2 }, (_, index) => (index % count) + 1),
            { minLength: count * 2, maxLength: count * 2 },
          ),
          fc.array(fc.integer({ min: 1, max: 20 }), { minLength: 1, maxLength: 50 }),
        ),
      ),
      ([count, deliveries, batchSizes]) => {
        let state: AckState = { ackedSeq: 0, heldAbove: [] };
        const stored: number[] = [];
        let offset = 0;
        let sizeIndex = 0;
        while (offset < deliveries.length) {
          const size = batchSizes[sizeIndex++ % batchSizes.length] ?? 1;
          const outcome = applyBatch(state, deliveries.slice(offset, offset + size));
          stored.push(...outcome.accept);
          assert.ok(outcome.state.ackedSeq >= state.ackedSeq, 'the ack never goes back');
          state = outcome.state;
          offset += size;
        }
        assert.equal(state.ackedSeq, count);
        assert.deepEqual(state.heldAbove, []);
        assert.deepEqual(
          stored.sort((a, b) => a - b),
          Array.from({ length: count }, (_, index) => index + 1),
        );
      },
    ),
  );
});

test('a gap holds the ack back and is reported until it is filled', () => {
  const first = applyBatch({ ackedSeq: 0, heldAbove: [] }, [1, 2, 5, 6]);
  assert.deepEqual(first.state, { ackedSeq: 2, heldAbove: [5, 6] });
  assert.deepEqual(first.gaps, [{ from: 3, to: 4 }]);
  const filled = applyBatch(first.state, [4, 3, 2]);
  assert.deepEqual(filled.accept, [3, 4]);
  assert.deepEqual(filled.state, { ackedSeq: 6, heldAbove: [] });
  assert.deepEqual(filled.gaps, []);
});

test('a floor from the sender moves the ack over a gap of evicted events, and still stores what arrives', () => {
  const held = applyBatch({ ackedSeq: 2, heldAbove: [] }, [6, 7]);
  assert.deepEqual(held.state, { ackedSeq: 2, heldAbove: [6, 7] });
  // 3–5 were evicted on the device: the next batch says nothing at or below 5 will come.
  const floored = applyBatch(held.state, [8], 5);
  assert.deepEqual(floored.accept, [8]);
  assert.deepEqual(floored.state, { ackedSeq: 8, heldAbove: [] });
  assert.deepEqual(floored.gaps, []);
  // A late event below the new ack is a duplicate from then on.
  assert.deepEqual(applyBatch(floored.state, [4], 5).accept, []);
});
