import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { isEdgewardError } from '../errors/edgeward-error.ts';
import { certificateFingerprint, normalizeFingerprint } from './fingerprint.ts';
import { createTestFleetCa } from './fleet-ca.fixture.ts';

describe('certificateFingerprint', () => {
  it('is the SHA-256 of the DER that OpenSSL reports, in lower-case hex without separators', async () => {
    const { root } = await createTestFleetCa();
    const fingerprint = await certificateFingerprint(root.certPem);
    assert.match(fingerprint, /^[0-9a-f]{64}$/);
    assert.equal(
      fingerprint,
      new X509Certificate(root.certPem).fingerprint256.replaceAll(':', '').toLowerCase(),
    );
  });

  it('refuses text that is not a certificate', async () => {
    await assert.rejects(certificateFingerprint('nope'), (error) =>
      isEdgewardError(error, 'EW_CERTIFICATE_INVALID'),
    );
  });
});

describe('normalizeFingerprint', () => {
  const digest = fc
    .uint8Array({ minLength: 32, maxLength: 32 })
    .map((bytes) => Buffer.from(bytes).toString('hex'));

  it('maps every accepted spelling of a digest to the one form', () => {
    fc.assert(
      fc.property(digest, fc.boolean(), fc.boolean(), fc.boolean(), (hex, upper, pairs, prefixed) => {
        let text = upper ? hex.toUpperCase() : hex;
        if (pairs) text = text.match(/../g)?.join(':') ?? text;
        if (prefixed) text = `${upper ? 'SHA256' : 'sha256'}:${text}`;
        assert.equal(normalizeFingerprint(` ${text}\n`), hex);
      }),
    );
  });

  it('accepts what OpenSSL prints and what certificateFingerprint returns alike', async () => {
    const { root } = await createTestFleetCa();
    const openssl = new X509Certificate(root.certPem).fingerprint256;
    assert.equal(normalizeFingerprint(openssl), await certificateFingerprint(root.certPem));
  });

  for (const bad of [
    '',
    'abcd',
    'g'.repeat(64),
    'a'.repeat(63),
    'a'.repeat(66),
    `md5:${'a'.repeat(64)}`,
    `ab:cd${'e'.repeat(60)}`,
  ]) {
    it(`refuses ${JSON.stringify(bad.slice(0, 20))}… naming the input`, () => {
      assert.throws(
        () => normalizeFingerprint(bad),
        (error) => isEdgewardError(error, 'EW_FINGERPRINT_INVALID') && error.message.includes(`"${bad}"`),
      );
    });
  }
});
