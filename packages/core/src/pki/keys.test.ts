import assert from 'node:assert/strict';
import { createPrivateKey, generateKeyPairSync } from 'node:crypto';
import { describe, it } from 'node:test';
import { isEdgewardError } from '../errors/edgeward-error.ts';
import { createTestFleetCa } from './fleet-ca.fixture.ts';
import {
  exportPrivateKeyPem,
  exportPublicKeyPem,
  generateDeviceKeyPair,
  importKeyPairPem,
  importPrivateKeyPem,
  privateKeyMatchesCertificate,
} from './keys.ts';

describe('device keys', () => {
  it('generates ECDSA P-256 pairs whose private half can be saved', async () => {
    const keys = await generateDeviceKeyPair();
    assert.deepEqual(keys.publicKey.algorithm, { name: 'ECDSA', namedCurve: 'P-256' });
    assert.equal(keys.privateKey.extractable, true);
  });

  it('saves the private key as PKCS#8 PEM that Node (OpenSSL) reads and that imports back', async () => {
    const keys = await generateDeviceKeyPair();
    const pem = await exportPrivateKeyPem(keys.privateKey);
    assert.match(pem, /^-----BEGIN PRIVATE KEY-----\n/);
    const node = createPrivateKey(pem);
    assert.equal(node.asymmetricKeyType, 'ec');
    assert.equal(node.asymmetricKeyDetails?.namedCurve, 'prime256v1');
    const again = await importPrivateKeyPem(pem);
    assert.equal(await exportPrivateKeyPem(again), pem);
  });

  it('recovers the public key from the private key file alone', async () => {
    const keys = await generateDeviceKeyPair();
    const pair = await importKeyPairPem(await exportPrivateKeyPem(keys.privateKey));
    assert.equal(await exportPublicKeyPem(pair.publicKey), await exportPublicKeyPem(keys.publicKey));
    assert.match(await exportPublicKeyPem(pair.publicKey), /^-----BEGIN PUBLIC KEY-----\n/);
  });

  it('refuses anything but a PKCS#8 P-256 key as EW_PKI_FILE_INVALID', async () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({
      type: 'pkcs8',
      format: 'pem',
    });
    const sec1 = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey.export({
      type: 'sec1',
      format: 'pem',
    });
    const p384 = generateKeyPairSync('ec', { namedCurve: 'secp384r1' }).privateKey.export({
      type: 'pkcs8',
      format: 'pem',
    });
    for (const pem of [String(rsa), String(sec1), String(p384), 'not a key', '']) {
      await assert.rejects(importPrivateKeyPem(pem), (error) =>
        isEdgewardError(error, 'EW_PKI_FILE_INVALID'),
      );
    }
  });

  it('tells whether a private key belongs to a certificate', async () => {
    const ca = await createTestFleetCa();
    const other = await generateDeviceKeyPair();
    assert.equal(await privateKeyMatchesCertificate(ca.root.privateKey, ca.root.certPem), true);
    assert.equal(await privateKeyMatchesCertificate(other.privateKey, ca.root.certPem), false);
    assert.equal(await privateKeyMatchesCertificate(ca.issuing.privateKey, ca.root.certPem), false);
  });
});
