import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isEdgewardError } from '../errors/edgeward-error.ts';
import { issueServerCertificate } from './authority.ts';
import { parseCertificate, verifyCertificateChain } from './certificate.ts';
import { createCrl } from './crl.ts';
import { createTestFleetCa, DAY_MS, issueTestDevice } from './fleet-ca.fixture.ts';
import { generateDeviceKeyPair } from './keys.ts';
import { splitPemChain } from './pem.ts';

const NOW = Date.UTC(2030, 0, 15, 12, 0, 0);

describe('parseCertificate', () => {
  it('reads serial, names, validity, fingerprint and every SAN kind', async () => {
    const ca = await createTestFleetCa('acme.example', NOW);
    const keys = await generateDeviceKeyPair();
    const certPem = await issueServerCertificate({
      issuer: ca.issuing,
      publicKey: keys.publicKey,
      dnsNames: ['manager.acme.example'],
      ipAddresses: ['192.0.2.7', 'fe80::1'],
      now: NOW,
      validityDays: 2,
    });
    const parsed = await parseCertificate(certPem);
    assert.match(parsed.serial, /^[0-9a-f]{32}$/);
    assert.equal(parsed.subject, 'CN=manager.acme.example, O=acme.example');
    assert.equal(parsed.issuer, 'CN=Edgeward fleet issuing CA, O=acme.example');
    assert.equal(parsed.notBefore, NOW - 60_000);
    assert.equal(parsed.notAfter, NOW + 2 * DAY_MS);
    assert.match(parsed.fingerprint, /^[0-9a-f]{64}$/);
    assert.deepEqual(parsed.dnsNames, ['manager.acme.example']);
    assert.deepEqual(parsed.ipAddresses, ['192.0.2.7', 'fe80::1']);
    assert.deepEqual(parsed.uris, []);
  });

  it('refuses a chain where one certificate is expected', async () => {
    const ca = await createTestFleetCa('acme.example', NOW);
    await assert.rejects(parseCertificate(ca.issuing.certPem + ca.root.certPem), (error) =>
      isEdgewardError(error, 'EW_CERTIFICATE_INVALID'),
    );
  });
});

describe('splitPemChain', () => {
  it('returns each certificate of a concatenation, in order', async () => {
    const ca = await createTestFleetCa('acme.example', NOW);
    assert.deepEqual(splitPemChain(`${ca.issuing.certPem}\n${ca.root.certPem}`), [
      ca.issuing.certPem,
      ca.root.certPem,
    ]);
  });

  it('refuses a chain holding a private key or nothing at all', () => {
    const key = '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n';
    assert.throws(
      () => splitPemChain(key),
      (error) => isEdgewardError(error, 'EW_CERTIFICATE_INVALID'),
    );
    assert.throws(
      () => splitPemChain(''),
      (error) => isEdgewardError(error, 'EW_CERTIFICATE_INVALID'),
    );
  });
});

describe('verifyCertificateChain', () => {
  async function fleetWithDevice() {
    const ca = await createTestFleetCa('acme.example', NOW);
    const device = await issueTestDevice(ca, { now: NOW, validityMs: DAY_MS });
    const chain = {
      certPem: device.certPem,
      intermediatesPem: [ca.issuing.certPem],
      rootPem: ca.root.certPem,
    };
    return { ca, device, chain };
  }

  it('accepts a device certificate at a time inside every validity period', async () => {
    const { chain } = await fleetWithDevice();
    assert.equal(await verifyCertificateChain({ ...chain, at: NOW + DAY_MS / 2, usage: 'clientAuth' }), true);
  });

  it('accepts the intermediate when the peer sends it after the leaf', async () => {
    const { chain, ca } = await fleetWithDevice();
    const presented = chain.certPem + ca.issuing.certPem;
    assert.equal(await verifyCertificateChain({ certPem: presented, rootPem: chain.rootPem, at: NOW }), true);
  });

  it('refuses the device certificate once it has expired', async () => {
    const { chain } = await fleetWithDevice();
    const verdict = await verifyCertificateChain({ ...chain, at: NOW + DAY_MS + 1000 });
    assert.match(String(verdict), /CN=device-1.*has expired/);
  });

  it('refuses the device certificate before it is valid, beyond the clock skew allowance', async () => {
    const { chain } = await fleetWithDevice();
    assert.equal(await verifyCertificateChain({ ...chain, at: NOW - 30_000 }), true);
    assert.match(String(await verifyCertificateChain({ ...chain, at: NOW - 61_000 })), /not valid yet/);
  });

  it('refuses a certificate from another fleet CA', async () => {
    const { chain } = await fleetWithDevice();
    const other = await createTestFleetCa('acme.example', NOW);
    const verdict = await verifyCertificateChain({ ...chain, rootPem: other.root.certPem, at: NOW });
    assert.match(String(verdict), /does not chain to the root/);
  });

  it('refuses a chain without its issuing CA', async () => {
    const { chain } = await fleetWithDevice();
    const verdict = await verifyCertificateChain({ ...chain, intermediatesPem: [], at: NOW });
    assert.match(String(verdict), /does not chain to the root/);
  });

  it('refuses a client certificate where a server certificate is required', async () => {
    const { chain } = await fleetWithDevice();
    const verdict = await verifyCertificateChain({ ...chain, at: NOW, usage: 'serverAuth' });
    assert.match(String(verdict), /not for serverAuth/);
  });

  it('checks revocation against current CRLs from every issuer when CRLs are given', async () => {
    const { ca, device, chain } = await fleetWithDevice();
    const crl = (issuer: typeof ca.root, serials: string[], nextUpdate = NOW + DAY_MS) =>
      createCrl({
        issuer,
        revoked: serials.map((serial) => ({ serial, revokedAt: NOW })),
        thisUpdate: NOW - 1000,
        nextUpdate,
        crlNumber: 1,
      });
    const rootCrl = await crl(ca.root, []);
    const clean = await crl(ca.issuing, []);
    const listing = await crl(ca.issuing, [device.serial]);
    const stale = await crl(ca.issuing, [], NOW - 500);

    assert.equal(await verifyCertificateChain({ ...chain, at: NOW, crlsPem: [rootCrl, clean] }), true);
    assert.match(
      String(await verifyCertificateChain({ ...chain, at: NOW, crlsPem: [rootCrl, listing] })),
      new RegExp(`serial ${device.serial}\\) is revoked`),
    );
    assert.match(
      String(await verifyCertificateChain({ ...chain, at: NOW, crlsPem: [rootCrl, stale] })),
      /CRL from "CN=Edgeward fleet issuing CA.*expired/,
    );
    assert.match(
      String(await verifyCertificateChain({ ...chain, at: NOW, crlsPem: [clean] })),
      /no current CRL from "CN=Edgeward fleet root CA/,
    );
  });

  it('ignores a CRL signed by a key other than the issuer', async () => {
    const { ca, chain } = await fleetWithDevice();
    const impostor = await createTestFleetCa('acme.example', NOW);
    const forged = await createCrl({
      issuer: impostor.issuing, // same issuer name, other key
      revoked: [],
      thisUpdate: NOW - 1000,
      nextUpdate: NOW + DAY_MS,
      crlNumber: 1,
    });
    const rootCrl = await createCrl({
      issuer: ca.root,
      revoked: [],
      thisUpdate: NOW - 1000,
      nextUpdate: NOW + DAY_MS,
      crlNumber: 1,
    });
    assert.match(
      String(await verifyCertificateChain({ ...chain, at: NOW, crlsPem: [rootCrl, forged] })),
      /no current CRL/,
    );
  });

  it('gives a reason rather than throwing for input that is not a certificate', async () => {
    const { chain } = await fleetWithDevice();
    const verdict = await verifyCertificateChain({ ...chain, certPem: 'garbage', at: NOW });
    assert.equal(typeof verdict, 'string');
  });
});
