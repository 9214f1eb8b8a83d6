import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { isEdgewardError } from '../errors/edgeward-error.ts';
import {
  createCrl,
  decodeDerUnsignedInteger,
  encodeDerUnsignedInteger,
  normalizeSerial,
  parseCrl,
} from './crl.ts';
import { createTestFleetCa, DAY_MS, issueTestDevice } from './fleet-ca.fixture.ts';
import { x509 } from './x509-library.ts';

const NOW = Date.UTC(2030, 0, 15, 12, 0, 0);

describe('createCrl', () => {
  it('lists the revoked serials with their dates, under the label Node TLS reads', async () => {
    const ca = await createTestFleetCa('acme.example', NOW);
    const a = await issueTestDevice(ca, { id: 'a', now: NOW });
    const b = await issueTestDevice(ca, { id: 'b', now: NOW });
    const crlPem = await createCrl({
      issuer: ca.issuing,
      revoked: [
        { serial: a.serial, revokedAt: NOW - 5000 },
        { serial: b.serial.toUpperCase(), revokedAt: NOW - 1000 },
      ],
      thisUpdate: NOW,
      nextUpdate: NOW + DAY_MS,
      crlNumber: 42,
    });
    assert.match(crlPem, /^-----BEGIN X509 CRL-----\n/);
    assert.match(crlPem, /-----END X509 CRL-----\n$/);
    const parsed = parseCrl(crlPem);
    assert.equal(parsed.issuer, 'CN=Edgeward fleet issuing CA, O=acme.example');
    assert.equal(parsed.thisUpdate, NOW);
    assert.equal(parsed.nextUpdate, NOW + DAY_MS);
    assert.equal(parsed.crlNumber, 42n);
    assert.deepEqual(parsed.revoked, [
      { serial: a.serial, revokedAt: NOW - 5000 },
      { serial: b.serial, revokedAt: NOW - 1000 },
    ]);
  });

  it('is signed by the issuer and names its key in the authority key identifier', async () => {
    const ca = await createTestFleetCa('acme.example', NOW);
    const crlPem = await createCrl({
      issuer: ca.root,
      revoked: [],
      thisUpdate: NOW,
      nextUpdate: NOW + DAY_MS,
      crlNumber: 2n ** 100n,
    });
    const crl = new x509.X509Crl(crlPem);
    const root = new x509.X509Certificate(ca.root.certPem);
    assert.equal(await crl.verify({ publicKey: root }), true);
    assert.equal(
      crl.getExtension(x509.AuthorityKeyIdentifierExtension)?.keyId,
      root.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId,
    );
    assert.equal(parseCrl(crlPem).crlNumber, 2n ** 100n);
    assert.deepEqual(parseCrl(crlPem).revoked, []);
  });

  it('refuses a nextUpdate that is not after thisUpdate', async () => {
    const ca = await createTestFleetCa('acme.example', NOW);
    await assert.rejects(
      createCrl({ issuer: ca.root, revoked: [], thisUpdate: NOW, nextUpdate: NOW, crlNumber: 1 }),
      (error) => isEdgewardError(error, 'EW_INTERNAL'),
    );
  });

  it('refuses a serial that is not hex', async () => {
    const ca = await createTestFleetCa('acme.example', NOW);
    await assert.rejects(
      createCrl({
        issuer: ca.issuing,
        revoked: [{ serial: 'xyz', revokedAt: NOW }],
        thisUpdate: NOW,
        nextUpdate: NOW + 1000,
        crlNumber: 1,
      }),
      (error) => isEdgewardError(error, 'EW_CERTIFICATE_NAME_INVALID') && error.message.includes('xyz'),
    );
  });
});

describe('CRL helpers', () => {
  it('encodes CRL numbers as minimal DER integers that decode to the same value', () => {
    assert.deepEqual([...encodeDerUnsignedInteger(0n)], [0x02, 0x01, 0x00]);
    assert.deepEqual([...encodeDerUnsignedInteger(127n)], [0x02, 0x01, 0x7f]);
    assert.deepEqual([...encodeDerUnsignedInteger(128n)], [0x02, 0x02, 0x00, 0x80]);
    assert.deepEqual([...encodeDerUnsignedInteger(256n)], [0x02, 0x02, 0x01, 0x00]);
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: (1n << 159n) - 1n }), (value) => {
        assert.equal(decodeDerUnsignedInteger(encodeDerUnsignedInteger(value)), value);
      }),
    );
  });

  it('normalises serials to even-length lower-case hex', () => {
    assert.equal(normalizeSerial('AB:CD:0F'), 'abcd0f');
    assert.equal(normalizeSerial('abc'), '0abc');
  });
});
