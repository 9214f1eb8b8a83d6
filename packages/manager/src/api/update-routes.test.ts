import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseRange } from './update-routes.ts';

test('a download range resumes from an offset, is clamped to the file, and past the end is unsatisfiable', () => {
  assert.deepEqual(parseRange('bytes=100-', 1000), { start: 100, end: 999 });
  assert.deepEqual(parseRange('bytes=0-4999', 1000), { start: 0, end: 999 });
  assert.deepEqual(parseRange('bytes=10-19', 1000), { start: 10, end: 19 });
  assert.equal(parseRange('bytes=1000-', 1000), 'unsatisfiable');
  assert.equal(parseRange('bytes=20-10', 1000), 'unsatisfiable');
  // Forms the agent never sends are served whole.
  assert.equal(parseRange('bytes=-500', 1000), undefined);
  assert.equal(parseRange('bytes=0-1,5-9', 1000), undefined);
  assert.equal(parseRange(undefined, 1000), undefined);
});
