/**
 * Node names no OpenSSL name-constraint failure (X509_V_ERR_PERMITTED_VIOLATION): it reports them as
 * `UNSPECIFIED`. Each refusal below is therefore paired with an accepted certificate from the same CA that
 * differs only in the constrained name.
 *
 * Proves that Node's TLS (OpenSSL) accepts the chain a site serves while cut off from its hub — fleet root,
 * the site's delegated, name-constrained CA, leaves it issued — with CRLs for every level, and that the
 * name constraints hold at the handshake: a site CA cannot mint an identity of another trust domain or a
 * server certificate for a name outside its delegation. The same holds three levels deep (root, a region's
 * CA, a lower site's CA under it), where the path length constraints hold too.
 */
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { before, describe, it } from 'node:test';
import tls from 'node:tls';
import {
  type CertificateIssuer,
  createCrl,
  createCsr,
  createIssuingCa,
  createRootCa,
  createSiteCa,
  exportPrivateKeyPem,
  generateDeviceKeyPair,
  isEdgewardError,
  issueDeviceCertificate,
  issueServerCertificate,
  parseCertificate,
  parseSpiffeId,
  siteDeviceSpiffeId,
} from '@edgeward/core';

const DAY_MS = 86_400_000;
const FLEET = 'acme.example';
const SITE = 'plant-1';
const SITE_NAME = 'site.plant-1.acme.example';

let root: CertificateIssuer;
let siteCa: CertificateIssuer;
let rootCrl: string;
let siteCaCrl: string;
let serverKey: string;
let serverCert: string;

async function newSiteCa(now: number, validityMs: number): Promise<CertificateIssuer> {
  const keys = await generateDeviceKeyPair();
  const issued = await createSiteCa({
    fleet: FLEET,
    siteId: SITE,
    issuer: root,
    csrPem: await createCsr({ keys, commonName: `site CA ${SITE}` }),
    dnsNames: [SITE_NAME, 'localhost'],
    ipAddresses: ['127.0.0.1'],
    now,
    validityMs,
  });
  return { certPem: issued.certPem, privateKey: keys.privateKey };
}

async function leaf(issuer: CertificateIssuer, spiffeId: string, id: string, chain = issuer.certPem) {
  const keys = await generateDeviceKeyPair();
  const issued = await issueDeviceCertificate({
    csrPem: await createCsr({ keys, commonName: id }),
    issuer,
    spiffeId,
    commonName: id,
    now: Date.now(),
    validityMs: DAY_MS,
  });
  return {
    key: await exportPrivateKeyPem(keys.privateKey),
    cert: issued.certPem + chain,
    serial: issued.serial,
  };
}

async function crl(issuer: CertificateIssuer, serials: readonly string[] = []): Promise<string> {
  const now = Date.now();
  return createCrl({
    issuer,
    revoked: serials.map((serial) => ({ serial, revokedAt: now })),
    thisUpdate: now - 60_000,
    nextUpdate: now + 3 * DAY_MS,
    crlNumber: now,
  });
}

async function serverFor(
  issuer: CertificateIssuer,
  dnsNames: string[],
  ipAddresses: string[],
  chain = issuer.certPem,
) {
  const keys = await generateDeviceKeyPair();
  const cert = await issueServerCertificate({
    issuer,
    publicKey: keys.publicKey,
    dnsNames,
    ipAddresses,
    now: Date.now(),
    validityDays: 2,
  });
  return { key: await exportPrivateKeyPem(keys.privateKey), cert: cert + chain };
}

before(async () => {
  const rootKeys = await generateDeviceKeyPair();
  root = {
    certPem: await createRootCa({ fleet: FLEET, keys: rootKeys, now: Date.now() - DAY_MS }),
    privateKey: rootKeys.privateKey,
  };
  siteCa = await newSiteCa(Date.now(), 3 * DAY_MS);
  rootCrl = await crl(root);
  siteCaCrl = await crl(siteCa);
  ({ key: serverKey, cert: serverCert } = await serverFor(siteCa, [SITE_NAME], ['127.0.0.1']));
});

interface Outcome {
  accepted: boolean;
  clientError: (Error & { code?: string }) | undefined;
  refusedBecause: string | undefined;
  greeting: string;
}

/** A TLS server as the site's device API runs it: its chain, the fleet root as the only anchor, CRLs. */
async function exchange(
  server: { key: string; cert: string; crls: string[] },
  client: { key: string; cert: string } | undefined,
  servername = SITE_NAME,
): Promise<Outcome> {
  const refusals: string[] = [];
  const listener = tls.createServer(
    {
      key: server.key,
      cert: server.cert,
      ca: [root.certPem],
      crl: server.crls,
      requestCert: true,
      rejectUnauthorized: true,
    },
    (socket) => socket.end(`hello ${socket.getPeerCertificate().subjectaltname}`),
  );
  listener.on('tlsClientError', (error, socket) => {
    refusals.push(socket.authorizationError === null ? error.message : String(socket.authorizationError));
  });
  listener.listen(0, '127.0.0.1');
  await new Promise((resolve) => listener.once('listening', resolve));
  const { port } = listener.address() as AddressInfo;
  try {
    const result = await new Promise<{ greeting: string; clientError: Error | undefined }>((resolve) => {
      let greeting = '';
      let clientError: Error | undefined;
      const socket = tls.connect({
        host: '127.0.0.1',
        port,
        servername,
        ca: [root.certPem],
        ...(client ?? {}),
      });
      socket.setEncoding('utf8');
      socket.on('data', (chunk: string) => {
        greeting += chunk;
      });
      socket.on('error', (error) => {
        clientError = error;
      });
      socket.on('close', () => resolve({ greeting, clientError }));
    });
    for (let waited = 0; result.greeting === '' && refusals.length === 0 && waited < 1000; waited += 10) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    return { ...result, accepted: result.greeting.startsWith('hello '), refusedBecause: refusals[0] };
  } finally {
    await new Promise<void>((resolve) => listener.close(() => resolve()));
  }
}

describe('Node TLS with a delegated site CA', { timeout: 30_000 }, () => {
  it('accepts a site device and the site server with only the fleet root pinned, CRLs for root and site CA', async () => {
    const device = await leaf(siteCa, siteDeviceSpiffeId(FLEET, SITE, 'dev-1'), 'dev-1');
    const outcome = await exchange({ key: serverKey, cert: serverCert, crls: [rootCrl, siteCaCrl] }, device);
    assert.equal(outcome.clientError, undefined);
    assert.equal(outcome.greeting, `hello URI:spiffe://${FLEET}/site/${SITE}/device/dev-1`);
    assert.deepEqual(parseSpiffeId(`spiffe://${FLEET}/site/${SITE}/device/dev-1`), {
      fleet: FLEET,
      kind: 'device',
      id: 'dev-1',
      site: SITE,
    });
  });

  it('refuses a device the site revoked, from the CRL it holds, with no hub involved', async () => {
    const device = await leaf(siteCa, siteDeviceSpiffeId(FLEET, SITE, 'dev-2'), 'dev-2');
    const listing = await crl(siteCa, [device.serial]);
    const outcome = await exchange({ key: serverKey, cert: serverCert, crls: [rootCrl, listing] }, device);
    assert.equal(outcome.accepted, false);
    assert.equal(outcome.refusedBecause, 'CERT_REVOKED');
  });

  it('refuses a whole site CA revoked by the root CRL', async () => {
    const device = await leaf(siteCa, siteDeviceSpiffeId(FLEET, SITE, 'dev-3'), 'dev-3');
    const revokedRoot = await crl(root, [(await parseCertificate(siteCa.certPem)).serial]);
    const outcome = await exchange(
      { key: serverKey, cert: serverCert, crls: [revokedRoot, siteCaCrl] },
      device,
    );
    assert.equal(outcome.accepted, false);
    assert.equal(outcome.refusedBecause, 'CERT_REVOKED');
  });

  it('refuses an identity of another trust domain minted by the site CA: the URI constraint holds', async () => {
    const foreign = await leaf(siteCa, 'spiffe://other.example/device/dev-9', 'dev-9');
    const outcome = await exchange({ key: serverKey, cert: serverCert, crls: [rootCrl, siteCaCrl] }, foreign);
    assert.equal(outcome.accepted, false);
    assert.equal(outcome.refusedBecause, 'UNSPECIFIED');
  });

  it('lets a client refuse a server certificate the site CA made for a name outside its delegation', async () => {
    const impostor = await serverFor(siteCa, ['hub.acme.example'], []);
    const device = await leaf(siteCa, siteDeviceSpiffeId(FLEET, SITE, 'dev-4'), 'dev-4');
    const outcome = await exchange({ ...impostor, crls: [rootCrl, siteCaCrl] }, device, 'hub.acme.example');
    assert.equal(outcome.accepted, false);
    assert.equal(outcome.clientError?.code, 'UNSPECIFIED');
    // The same CA's certificate for a delegated name is accepted.
    const delegated = await serverFor(siteCa, [SITE_NAME], []);
    assert.equal((await exchange({ ...delegated, crls: [rootCrl, siteCaCrl] }, device)).accepted, true);
  });

  it('fails every handshake without a CRL of the site CA, so a site must always hold one', async () => {
    const device = await leaf(siteCa, siteDeviceSpiffeId(FLEET, SITE, 'dev-5'), 'dev-5');
    const outcome = await exchange({ key: serverKey, cert: serverCert, crls: [rootCrl] }, device);
    assert.equal(outcome.accepted, false);
    assert.equal(outcome.refusedBecause, 'UNABLE_TO_GET_CRL');
  });
});

describe('Node TLS three levels deep: a region and a lower site under it', { timeout: 30_000 }, () => {
  const REGION = 'region-1';
  const REGION_NAME = 'region-1.acme.example';
  const LOWER = 'plant-7';
  // Under the region's DNS name: a DNS constraint permits the name and every name below it.
  const LOWER_NAME = 'plant-7.region-1.acme.example';
  let regionCa: CertificateIssuer;
  let lowerCa: CertificateIssuer;
  let regionCrl: string;
  let lowerCrl: string;
  let lowerServer: { key: string; cert: string };

  async function delegated(
    issuer: CertificateIssuer,
    siteId: string,
    dnsNames: string[],
    pathLength: number,
  ): Promise<CertificateIssuer> {
    const keys = await generateDeviceKeyPair();
    const issued = await createSiteCa({
      fleet: FLEET,
      siteId,
      issuer,
      pathLength,
      csrPem: await createCsr({ keys, commonName: `site CA ${siteId}` }),
      dnsNames,
      ipAddresses: ['127.0.0.1'],
      now: Date.now(),
      validityMs: 3 * DAY_MS,
    });
    return { certPem: issued.certPem, privateKey: keys.privateKey };
  }

  const lowerChain = () => lowerCa.certPem + regionCa.certPem;
  const lowerDevice = (id: string) =>
    leaf(lowerCa, siteDeviceSpiffeId(FLEET, `${REGION}/${LOWER}`, id), id, lowerChain());

  before(async () => {
    regionCa = await delegated(root, REGION, [REGION_NAME], 1);
    lowerCa = await delegated(regionCa, `${REGION}/${LOWER}`, [LOWER_NAME], 0);
    regionCrl = await crl(regionCa);
    lowerCrl = await crl(lowerCa);
    lowerServer = await serverFor(lowerCa, [LOWER_NAME], ['127.0.0.1'], lowerChain());
  });

  it('accepts a lower site device and server with only the root pinned, CRLs at every level', async () => {
    const device = await lowerDevice('dev-31');
    const outcome = await exchange(
      { ...lowerServer, crls: [rootCrl, regionCrl, lowerCrl] },
      device,
      LOWER_NAME,
    );
    assert.equal(outcome.clientError, undefined);
    assert.equal(outcome.greeting, `hello URI:spiffe://${FLEET}/site/${REGION}/site/${LOWER}/device/dev-31`);
    assert.deepEqual(parseSpiffeId(`spiffe://${FLEET}/site/${REGION}/site/${LOWER}/device/dev-31`), {
      fleet: FLEET,
      kind: 'device',
      id: 'dev-31',
      site: `${REGION}/${LOWER}`,
    });
  });

  it("fails every handshake without the region's CRL: the lower site holds one from its delegation", async () => {
    const device = await lowerDevice('dev-32');
    const outcome = await exchange({ ...lowerServer, crls: [rootCrl, lowerCrl] }, device, LOWER_NAME);
    assert.equal(outcome.accepted, false);
    assert.equal(outcome.refusedBecause, 'UNABLE_TO_GET_CRL');
  });

  it('refuses a device the lower site revoked, a lower site CA the region revoked, a region CA the root revoked', async () => {
    const device = await lowerDevice('dev-33');
    const byLower = await crl(lowerCa, [device.serial]);
    const byRegion = await crl(regionCa, [(await parseCertificate(lowerCa.certPem)).serial]);
    const byRoot = await crl(root, [(await parseCertificate(regionCa.certPem)).serial]);
    for (const crls of [
      [rootCrl, regionCrl, byLower],
      [rootCrl, byRegion, lowerCrl],
      [byRoot, regionCrl, lowerCrl],
    ]) {
      const outcome = await exchange({ ...lowerServer, crls }, device, LOWER_NAME);
      assert.equal(outcome.accepted, false);
      assert.equal(outcome.refusedBecause, 'CERT_REVOKED');
    }
  });

  it('refuses a CA a lower site minted below its own: path length 0 holds at the handshake', async () => {
    const rogueKeys = await generateDeviceKeyPair();
    const rogue: CertificateIssuer = {
      certPem: await createIssuingCa({ fleet: FLEET, root: lowerCa, keys: rogueKeys, now: Date.now() }),
      privateKey: rogueKeys.privateKey,
    };
    const device = await leaf(
      rogue,
      siteDeviceSpiffeId(FLEET, `${REGION}/${LOWER}`, 'dev-34'),
      'dev-34',
      rogue.certPem + lowerChain(),
    );
    const outcome = await exchange(
      { ...lowerServer, crls: [rootCrl, regionCrl, lowerCrl, await crl(rogue)] },
      device,
      LOWER_NAME,
    );
    assert.equal(outcome.accepted, false);
    assert.equal(outcome.refusedBecause, 'PATH_LENGTH_EXCEEDED');
    // Edgeward itself never makes one: a site CA delegates no deeper than the CA above it allows.
    await assert.rejects(delegated(lowerCa, `${REGION}/${LOWER}/deeper`, [LOWER_NAME], 0), (error) =>
      isEdgewardError(error, 'EW_SITE_TIER_NOT_ALLOWED'),
    );
    await assert.rejects(
      delegated(regionCa, `${REGION}/other`, ['other.region-1.acme.example'], 1),
      (error) => isEdgewardError(error, 'EW_SITE_TIER_NOT_ALLOWED'),
    );
  });

  it("holds the region's name constraints below it: a lower site cannot serve a name outside the region's", async () => {
    const stray = await delegated(regionCa, `${REGION}/stray`, ['stray.elsewhere.example'], 0);
    const server = await serverFor(stray, ['stray.elsewhere.example'], [], stray.certPem + regionCa.certPem);
    const device = await lowerDevice('dev-35');
    const outcome = await exchange(
      { ...server, crls: [rootCrl, regionCrl, await crl(stray)] },
      device,
      'stray.elsewhere.example',
    );
    assert.equal(outcome.accepted, false);
    assert.equal(outcome.clientError?.code, 'UNSPECIFIED');
    // The lower site's own name, under the region's, is accepted from the same region.
    const inside = await exchange(
      { ...lowerServer, crls: [rootCrl, regionCrl, lowerCrl] },
      device,
      LOWER_NAME,
    );
    assert.equal(inside.accepted, true);
  });
});
