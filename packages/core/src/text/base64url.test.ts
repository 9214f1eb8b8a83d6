import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { decodeCanonicalBase64Url } from './base64url.ts';

describe('decodeCanonicalBase64Url', () => {
  it('decodes the canonical spelling and refuses the others Node would also decode', () => {
    const bytes = Buffer.from([0xfb, 0xff, 0x01]);
    assert.deepEqual(decodeCanonicalBase64Url('-_8B'), bytes);
    assert.equal(decodeCanonicalBase64Url('+/8B'), undefined, 'the base64 alphabet');
    const two = Buffer.from([0x61, 0x62]).toString('base64url'); // "YWI": the last character has unused bits
    assert.equal(decodeCanonicalBase64Url(`${two}=`), undefined, 'padding');
    assert.equal(decodeCanonicalBase64Url('YWJ'), undefined, 'unused bits set');
    assert.deepEqual(Buffer.from('YWJ', 'base64url'), Buffer.from([0x61, 0x62]), 'Node decodes it the same');
  });

  it('takes back exactly what it gives for any bytes, and no changed text decodes to the same bytes', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 80 }),
        fc.nat(),
        fc.integer({ min: 1, max: 127 }),
        (raw, pick, mask) => {
          const bytes = Buffer.from(raw);
          const text = bytes.toString('base64url');
          assert.deepEqual(decodeCanonicalBase64Url(text), bytes);
          if (text.length === 0) return;
          const chars = [...text];
          const at = pick % chars.length;
          chars[at] = String.fromCharCode((chars[at]?.charCodeAt(0) ?? 0) ^ mask);
          const decoded = decodeCanonicalBase64Url(chars.join(''));
          assert.ok(
            decoded === undefined || !decoded.equals(bytes),
            `${chars.join('')} decodes to the same bytes`,
          );
        },
      ),
      { numRuns: 1000 },
    );
  });
});
