import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { isoTime } from './iso-time.ts';

/** The range of times a Date holds: ±100,000,000 days around the epoch. */
const maxTime = 8.64e15;

describe('isoTime', () => {
  it('writes every time a Date can hold as toISOString does, expanded years and fractions included', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.integer({ min: -maxTime, max: maxTime }),
          fc.double({ min: -maxTime, max: maxTime, noNaN: true }),
        ),
        (ms) => {
          assert.equal(isoTime(ms), new Date(ms).toISOString());
        },
      ),
      { numRuns: 5000 },
    );
  });

  it('writes the edges of four-digit years and of the range as toISOString does', () => {
    for (const ms of [
      0,
      -1,
      Date.UTC(0, 0, 1) - 1,
      -62_167_219_200_000,
      253_402_300_799_999,
      253_402_300_800_000,
      maxTime,
      -maxTime,
    ]) {
      assert.equal(isoTime(ms), new Date(ms).toISOString(), String(ms));
    }
    assert.equal(isoTime(-62_167_219_200_001), '-000001-12-31T23:59:59.999Z');
    assert.equal(isoTime(253_402_300_800_000), '+010000-01-01T00:00:00.000Z');
  });

  it('refuses a time a Date cannot hold, naming it', () => {
    for (const ms of [Number.NaN, maxTime + 1, Number.POSITIVE_INFINITY]) {
      assert.throws(
        () => isoTime(ms),
        (error) => error instanceof RangeError && error.message.includes(String(ms)),
      );
    }
  });
});
