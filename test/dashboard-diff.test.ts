import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { diffLines } from '../packages/web/app/diff.ts';

/** The dashboard's line diff (policy versions, inventory changes), checked on arbitrary texts. */
const lines = fc.array(fc.constantFrom('a', 'b', 'c', 'PermitRootLogin no', ''), { maxLength: 30 });

test('a diff gives back both texts: kept and removed lines the old one, kept and added the new one', () => {
  fc.assert(
    fc.property(lines, lines, (before, after) => {
      const diff = diffLines(before.join('\n'), after.join('\n'));
      const old = diff.filter((line) => line.kind !== '+').map((line) => line.text);
      const now = diff.filter((line) => line.kind !== '-').map((line) => line.text);
      assert.equal(old.join('\n'), before.join('\n'));
      assert.equal(now.join('\n'), after.join('\n'));
    }),
  );
});

test('identical texts differ in nothing, and one changed line is one removal and one addition', () => {
  const text = 'id: device\nchecks:\n  - ssh\n';
  assert.ok(diffLines(text, text).every((line) => line.kind === ' '));
  const changed = diffLines('a\nb\nc', 'a\nB\nc').filter((line) => line.kind !== ' ');
  assert.deepEqual(changed, [
    { kind: '-', text: 'b' },
    { kind: '+', text: 'B' },
  ]);
});
