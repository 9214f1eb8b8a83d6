import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isEdgewardError } from '../errors/edgeward-error.ts';
import {
  type CertificateIssuer,
  CLOCK_SKEW_TOLERANCE_MS,
  createIssuingCa,
  createRootCa,
  createSiteCa,
  issueDeviceCertificate,
  issueServerCertificate,
} from './authority.ts';
import { parseCertificate, verifyCertificateChain } from './certificate.ts';
import { createCsr } from './csr-builder.ts';
import { certificateFingerprint } from './fingerprint.ts';
import { createTestFleetCa, DAY_MS } from './fleet-ca.fixture.ts';
import { generateDeviceKeyPair } from './keys.ts';
import { deviceSpiffeId, siteSpiffeId } from './spiffe.ts';
import type { EcdsaParams } from './web-crypto.types.ts';
import { x509 } from './x509-library.ts';

const NOW = Date.UTC(2030, 0, 15, 12, 0, 0);

function extensionsOf(certPem: string) {
  const certificate = new x509.X509Certificate(certPem);
  return {
    certificate,
    constraints: certificate.getExtension(x509.BasicConstraintsExtension),
    usage: certificate.getExtension(x509.KeyUsagesExtension),
    eku: certificate.getExtension(x509.ExtendedKeyUsageExtension),
    ski: certificate.getExtension(x509.SubjectKeyIdentifierExtension),
    aki: certificate.getExtension(x509.AuthorityKeyIdentifierExtension),
  };
}

describe('fleet CA certificates', () => {
  it('makes a self-signed root that may sign two levels of CAs (a region and its lower sites) and CRLs', async () => {
    const ca = await createTestFleetCa('acme.example', NOW);
    const root = extensionsOf(ca.root.certPem);
    assert.equal(root.certificate.subject, 'CN=Edgeward fleet root CA, O=acme.example');
    assert.equal(await root.certificate.isSelfSigned(), true);
    assert.equal(root.constraints?.ca, true);
    assert.equal(root.constraints?.critical, true);
    assert.equal(root.constraints?.pathLength, 2);
    assert.equal(root.usage?.usages, x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign);
    assert.ok(root.ski?.keyId);
    assert.equal(root.certificate.notAfter.getTime() - NOW, 3650 * DAY_MS);
  });

  it('makes an issuing CA under the root that may sign only leaves, linked by key identifiers', async () => {
    const ca = await createTestFleetCa('acme.example', NOW);
    const root = extensionsOf(ca.root.certPem);
    const issuing = extensionsOf(ca.issuing.certPem);
    assert.equal(issuing.certificate.subject, 'CN=Edgeward fleet issuing CA, O=acme.example');
    assert.equal(issuing.certificate.issuer, root.certificate.subject);
    assert.equal(issuing.constraints?.ca, true);
    assert.equal(issuing.constraints?.pathLength, 0);
    assert.equal(issuing.usage?.usages, x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign);
    assert.equal(issuing.usage?.critical, true);
    assert.equal(issuing.aki?.keyId, root.ski?.keyId);
    assert.ok(issuing.ski?.keyId && issuing.ski.keyId !== root.ski?.keyId);
    assert.equal(issuing.certificate.notAfter.getTime() - NOW, 1825 * DAY_MS);
    assert.equal(
      await verifyCertificateChain({ certPem: ca.issuing.certPem, rootPem: ca.root.certPem, at: NOW }),
      true,
    );
  });

  it('never lets an issuing CA outlive its root', async () => {
    const ca = await createTestFleetCa('acme.example', NOW);
    const keys = await generateDeviceKeyPair();
    const longer = await createIssuingCa({
      fleet: 'acme.example',
      root: ca.root,
      keys,
      now: NOW,
      validityDays: 99_999,
    });
    assert.equal(
      (await parseCertificate(longer)).notAfter,
      (await parseCertificate(ca.root.certPem)).notAfter,
    );
  });

  it('refuses a fleet name that cannot be a SPIFFE trust domain', async () => {
    const keys = await generateDeviceKeyPair();
    for (const fleet of ['Acme Corp', '', 'acme.example.', `${'a'.repeat(60)}.example`]) {
      await assert.rejects(createRootCa({ fleet, keys, now: NOW }), (error) =>
        isEdgewardError(error, 'EW_SPIFFE_ID_INVALID'),
      );
    }
  });

  it('refuses to sign with a certificate that is not a CA', async () => {
    const ca = await createTestFleetCa('acme.example', NOW);
    const keys = await generateDeviceKeyPair();
    const serverPem = await issueServerCertificate({
      issuer: ca.issuing,
      publicKey: keys.publicKey,
      dnsNames: ['manager.acme.example'],
      now: NOW,
      validityDays: 30,
    });
    await assert.rejects(
      issueServerCertificate({
        issuer: { certPem: serverPem, privateKey: keys.privateKey },
        publicKey: keys.publicKey,
        dnsNames: ['evil.example'],
        now: NOW,
        validityDays: 30,
      }),
      (error) => isEdgewardError(error, 'EW_PKI_FILE_INVALID'),
    );
  });
});

describe('issueServerCertificate', () => {
  it('names every DNS name, IPv4 and IPv6 address in the SAN, for server authentication only', async () => {
    const ca = await createTestFleetCa('acme.example', NOW);
    const keys = await generateDeviceKeyPair();
    const certPem = await issueServerCertificate({
      issuer: ca.issuing,
      publicKey: keys.publicKey,
      dnsNames: ['Manager.Acme.Example', 'localhost'],
      ipAddresses: ['127.0.0.1', '::1', '2001:DB8:0:0::10'],
      now: NOW,
      validityDays: 365,
    });
    const parsed = await parseCertificate(certPem);
    assert.deepEqual(parsed.dnsNames, ['manager.acme.example', 'localhost']);
    assert.deepEqual(parsed.ipAddresses, ['127.0.0.1', '::1', '2001:db8::10']);
    assert.equal(parsed.subject, 'CN=manager.acme.example, O=acme.example');
    const { eku, constraints, usage } = extensionsOf(certPem);
    assert.deepEqual([...(eku?.usages ?? [])], [x509.ExtendedKeyUsage.serverAuth]);
    assert.equal(constraints?.ca, false);
    assert.equal(usage?.usages, x509.KeyUsageFlags.digitalSignature);
    assert.equal(parsed.notAfter - NOW, 365 * DAY_MS);
    assert.equal(
      await verifyCertificateChain({
        certPem,
        intermediatesPem: [ca.issuing.certPem],
        rootPem: ca.root.certPem,
        at: NOW,
        usage: 'serverAuth',
      }),
      true,
    );
  });

  for (const [label, names] of [
    ['no name at all', {}],
    ['a DNS name with a space', { dnsNames: ['bad name.example'] }],
    ['a wildcard', { dnsNames: ['*.acme.example'] }],
    ['an IPv4 address with an octet over 255', { ipAddresses: ['10.0.0.256'] }],
    ['an IPv6 address with a zone id', { ipAddresses: ['fe80::1%eth0'] }],
    ['a DNS name given as an IP address', { ipAddresses: ['manager.acme.example'] }],
  ] as const) {
    it(`refuses ${label} as EW_CERTIFICATE_NAME_INVALID`, async () => {
      const ca = await createTestFleetCa('acme.example', NOW);
      const keys = await generateDeviceKeyPair();
      await assert.rejects(
        issueServerCertificate({
          issuer: ca.issuing,
          publicKey: keys.publicKey,
          now: NOW,
          validityDays: 1,
          ...names,
        }),
        (error) => isEdgewardError(error, 'EW_CERTIFICATE_NAME_INVALID'),
      );
    });
  }
});

describe('issueDeviceCertificate', () => {
  it('takes subject and SAN from the manager, whatever the CSR claims', async () => {
    const ca = await createTestFleetCa('acme.example', NOW);
    const keys = await generateDeviceKeyPair();
    const greedy = await x509.Pkcs10CertificateRequestGenerator.create({
      name: 'CN=Edgeward fleet root CA, O=other.example',
      keys,
      signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' } as EcdsaParams,
      extensions: [
        new x509.SubjectAlternativeNameExtension([
          { type: 'dns', value: 'manager.acme.example' },
          { type: 'url', value: 'spiffe://acme.example/site/hq' },
        ]),
        new x509.BasicConstraintsExtension(true, 5, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      ],
    });
    const issued = await issueDeviceCertificate({
      csrPem: greedy.toString('pem'),
      issuer: ca.issuing,
      spiffeId: deviceSpiffeId('acme.example', 'device-7'),
      commonName: 'device-7',
      now: NOW,
      validityMs: DAY_MS,
    });
    const parsed = await parseCertificate(issued.certPem);
    assert.equal(parsed.subject, 'CN=device-7, O=acme.example');
    assert.deepEqual(parsed.uris, ['spiffe://acme.example/device/device-7']);
    assert.deepEqual(parsed.dnsNames, []);
    const { eku, constraints, certificate } = extensionsOf(issued.certPem);
    assert.deepEqual([...(eku?.usages ?? [])], [x509.ExtendedKeyUsage.clientAuth]);
    assert.equal(constraints?.ca, false);
    // The requested key is still the one certified: possession was proven for it.
    assert.equal(
      certificate.publicKey.toString('base64'),
      (await x509.PublicKey.create(keys.publicKey)).toString('base64'),
    );
  });

  it('reports serial, validity and fingerprint as written in the certificate', async () => {
    const ca = await createTestFleetCa('acme.example', NOW);
    const keys = await generateDeviceKeyPair();
    const now = NOW + 123; // not a whole second: certificates hold seconds
    const issued = await issueDeviceCertificate({
      csrPem: await createCsr({ keys, commonName: 'ignored' }),
      issuer: ca.issuing,
      spiffeId: siteSpiffeId('acme.example', 'hq'),
      commonName: 'hq',
      now,
      validityMs: 7 * DAY_MS,
    });
    const parsed = await parseCertificate(issued.certPem);
    assert.match(issued.serial, /^[0-9a-f]{32}$/);
    assert.ok(Number.parseInt(issued.serial.slice(0, 2), 16) < 0x80, 'serial is positive');
    assert.equal(issued.serial, parsed.serial);
    assert.equal(issued.notBefore, NOW - CLOCK_SKEW_TOLERANCE_MS);
    assert.equal(issued.notBefore, parsed.notBefore);
    assert.equal(issued.notAfter, NOW + 7 * DAY_MS);
    assert.equal(issued.notAfter, parsed.notAfter);
    assert.equal(issued.fingerprint, await certificateFingerprint(issued.certPem));
    assert.deepEqual(parsed.uris, ['spiffe://acme.example/site/hq']);
  });

  it('gives every certificate a different serial', async () => {
    const ca = await createTestFleetCa('acme.example', NOW);
    const csrPem = await createCsr({ keys: await generateDeviceKeyPair(), commonName: 'd' });
    const serials = new Set<string>();
    for (let i = 0; i < 20; i += 1) {
      const issued = await issueDeviceCertificate({
        csrPem,
        issuer: ca.issuing,
        spiffeId: deviceSpiffeId('acme.example', 'd'),
        commonName: 'd',
        now: NOW,
        validityMs: DAY_MS,
      });
      serials.add(issued.serial);
    }
    assert.equal(serials.size, 20);
  });

  it('never lets a device certificate outlive its issuing CA', async () => {
    const ca = await createTestFleetCa('acme.example', NOW);
    const issued = await issueDeviceCertificate({
      csrPem: await createCsr({ keys: await generateDeviceKeyPair(), commonName: 'd' }),
      issuer: ca.issuing,
      spiffeId: deviceSpiffeId('acme.example', 'd'),
      commonName: 'd',
      now: NOW,
      validityMs: 10_000 * DAY_MS,
    });
    assert.equal(issued.notAfter, (await parseCertificate(ca.issuing.certPem)).notAfter);
  });

  it('refuses a URI that is not an Edgeward SPIFFE id', async () => {
    const ca = await createTestFleetCa('acme.example', NOW);
    await assert.rejects(
      issueDeviceCertificate({
        csrPem: await createCsr({ keys: await generateDeviceKeyPair(), commonName: 'd' }),
        issuer: ca.issuing,
        spiffeId: 'https://acme.example/device/d',
        commonName: 'd',
        now: NOW,
        validityMs: DAY_MS,
      }),
      (error) => isEdgewardError(error, 'EW_SPIFFE_ID_INVALID'),
    );
  });

  it('refuses an empty or control-character common name', async () => {
    const ca = await createTestFleetCa('acme.example', NOW);
    const csrPem = await createCsr({ keys: await generateDeviceKeyPair(), commonName: 'd' });
    for (const commonName of ['', 'a\nb', 'x'.repeat(65)]) {
      await assert.rejects(
        issueDeviceCertificate({
          csrPem,
          issuer: ca.issuing,
          spiffeId: deviceSpiffeId('acme.example', 'd'),
          commonName,
          now: NOW,
          validityMs: DAY_MS,
        }),
        (error) => isEdgewardError(error, 'EW_CERTIFICATE_NAME_INVALID'),
      );
    }
  });

  it('checks the CSR before issuing anything', async () => {
    const ca = await createTestFleetCa('acme.example', NOW);
    await assert.rejects(
      issueDeviceCertificate({
        csrPem: 'not a csr',
        issuer: ca.issuing,
        spiffeId: deviceSpiffeId('acme.example', 'd'),
        commonName: 'd',
        now: NOW,
        validityMs: DAY_MS,
      }),
      (error) => isEdgewardError(error, 'EW_CSR_INVALID'),
    );
  });
});

describe('createSiteCa', () => {
  const siteCa = async (issuer: CertificateIssuer, siteId: string, pathLength: number) => {
    const keys = await generateDeviceKeyPair();
    const issued = await createSiteCa({
      fleet: 'acme.example',
      siteId,
      issuer,
      pathLength,
      csrPem: await createCsr({ keys, commonName: 'site CA' }),
      dnsNames: ['site.acme.example'],
      ipAddresses: [],
      now: NOW,
      validityMs: DAY_MS,
    });
    return { certPem: issued.certPem, privateKey: keys.privateKey };
  };

  it('gives a region path length 1 and its lower sites 0, and no CA more than the one above allows', async () => {
    const ca = await createTestFleetCa('acme.example', NOW);
    const region = await siteCa(ca.root, 'north', 1);
    const lower = await siteCa(region, 'north/plant-7', 0);
    assert.equal(extensionsOf(region.certPem).constraints?.pathLength, 1);
    assert.equal(extensionsOf(lower.certPem).constraints?.pathLength, 0);
    assert.equal(
      new x509.X509Certificate(lower.certPem).issuer,
      new x509.X509Certificate(region.certPem).subject,
    );
    for (const [issuer, pathLength] of [
      [region, 1],
      [lower, 0],
    ] as const) {
      await assert.rejects(siteCa(issuer, 'north/plant-7/deeper', pathLength), (error) =>
        isEdgewardError(error, 'EW_SITE_TIER_NOT_ALLOWED'),
      );
    }
  });

  it('names the CA of a long site path within a common name, distinctly per path', async () => {
    const ca = await createTestFleetCa('acme.example', NOW);
    const long = `${'r'.repeat(60)}/${'p'.repeat(60)}`;
    const first = await siteCa(ca.root, long, 0);
    const second = await siteCa(ca.root, `${'s'.repeat(60)}/${'p'.repeat(60)}`, 0);
    const subjectOf = (pem: string) => new x509.X509Certificate(pem).subject;
    assert.match(subjectOf(first.certPem), /^CN=site CA p+ [0-9a-f]{12}, O=acme.example$/);
    assert.notEqual(subjectOf(first.certPem), subjectOf(second.certPem));
    assert.equal(
      subjectOf((await siteCa(ca.root, 'north', 1)).certPem),
      'CN=Edgeward site CA north, O=acme.example',
    );
  });
});
