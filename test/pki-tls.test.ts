/**
 * Proves that Node's TLS (OpenSSL) accepts the fleet PKI exactly as the manager serves it: mutual TLS
 * on real sockets, revocation by a CRL swapped in without a restart, and the failure modes the
 * manager has to avoid (an expired CRL, a CA without a CRL).
 *
 * How Node refuses a client certificate: OpenSSL completes the handshake and Node's server then
 * destroys the socket before `secureConnection` (no TLS alert is sent, so the client sees a clean
 * close with no data); the reason is only in the server's `tlsClientError` socket's
 * `authorizationError`. A client with no certificate at all is refused by OpenSSL with an alert.
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
  deviceSpiffeId,
  exportPrivateKeyPem,
  generateDeviceKeyPair,
  issueDeviceCertificate,
  issueServerCertificate,
  splitPemChain,
} from '@edgeward/core';

const DAY_MS = 86_400_000;
const FLEET = 'acme.example';
const SERVER_NAME = 'manager.acme.example';

interface FleetCa {
  readonly root: CertificateIssuer;
  readonly issuing: CertificateIssuer;
}

interface ClientIdentity {
  readonly key: string;
  /** The device certificate followed by its issuing CA, as an agent presents it. */
  readonly cert: string;
  readonly serial: string;
}

async function createFleetCa(now: number): Promise<FleetCa> {
  const rootKeys = await generateDeviceKeyPair();
  const root = {
    certPem: await createRootCa({ fleet: FLEET, keys: rootKeys, now }),
    privateKey: rootKeys.privateKey,
  };
  const issuingKeys = await generateDeviceKeyPair();
  const issuingCertPem = await createIssuingCa({ fleet: FLEET, root, keys: issuingKeys, now });
  return { root, issuing: { certPem: issuingCertPem, privateKey: issuingKeys.privateKey } };
}

async function enrollDevice(fleetCa: FleetCa, id: string, now: number): Promise<ClientIdentity> {
  const keys = await generateDeviceKeyPair();
  const issued = await issueDeviceCertificate({
    csrPem: await createCsr({ keys, commonName: id }),
    issuer: fleetCa.issuing,
    spiffeId: deviceSpiffeId(FLEET, id),
    commonName: id,
    now,
    validityMs: DAY_MS,
  });
  return {
    key: await exportPrivateKeyPem(keys.privateKey),
    cert: issued.certPem + fleetCa.issuing.certPem,
    serial: issued.serial,
  };
}

interface CrlWindow {
  readonly thisUpdate: number;
  readonly nextUpdate: number;
}

async function crlOf(
  issuer: CertificateIssuer,
  revokedSerials: readonly string[],
  window: CrlWindow,
  crlNumber = 1,
): Promise<string> {
  const revoked = revokedSerials.map((serial) => ({ serial, revokedAt: window.thisUpdate }));
  return await createCrl({ issuer, revoked, ...window, crlNumber });
}

let ca: FleetCa;
let serverKey: string;
let serverCert: string;
let current: CrlWindow;
let expired: CrlWindow;
let rootCrl: string;
let issuingCrl: string;

before(async () => {
  const now = Date.now();
  ca = await createFleetCa(now - 10 * DAY_MS);
  const serverKeys = await generateDeviceKeyPair();
  serverKey = await exportPrivateKeyPem(serverKeys.privateKey);
  serverCert = await issueServerCertificate({
    issuer: ca.issuing,
    publicKey: serverKeys.publicKey,
    dnsNames: [SERVER_NAME],
    ipAddresses: ['127.0.0.1', '::1'],
    now,
    validityDays: 30,
  });
  current = { thisUpdate: now - 60_000, nextUpdate: now + DAY_MS };
  expired = { thisUpdate: now - 2 * DAY_MS, nextUpdate: now - DAY_MS };
  rootCrl = await crlOf(ca.root, [], current);
  issuingCrl = await crlOf(ca.issuing, [], current);
});

function serverOptions(crls: readonly string[]): tls.TlsOptions {
  return {
    key: serverKey,
    // The issuing CA travels with the leaf so that clients need only the root.
    cert: serverCert + ca.issuing.certPem,
    ca: [ca.root.certPem, ca.issuing.certPem],
    crl: [...crls],
    requestCert: true,
    rejectUnauthorized: true,
  };
}

interface Outcome {
  /** The server ran its `secureConnection` handler and the client read its greeting. */
  readonly accepted: boolean;
  readonly greeting: string;
  readonly clientError: (Error & { code?: string }) | undefined;
  /** The server's `authorizationError` for a refused client certificate, e.g. CERT_REVOKED. */
  readonly refusedBecause: string | undefined;
  readonly serverCertificate: tls.PeerCertificate | undefined;
}

interface TestServer {
  readonly server: tls.Server;
  readonly connect: (
    identity: ClientIdentity | undefined,
    overrides?: tls.ConnectionOptions,
  ) => Promise<Outcome>;
  readonly close: () => Promise<void>;
}

async function startServer(crls: readonly string[]): Promise<TestServer> {
  const server = tls.createServer(serverOptions(crls), (socket) => {
    const peer = socket.getPeerCertificate();
    socket.end(`hello ${peer.subject?.CN} ${peer.subjectaltname}`);
  });
  const refusals: string[] = [];
  server.on('tlsClientError', (error, socket) => {
    refusals.push(socket.authorizationError === null ? error.message : String(socket.authorizationError));
  });
  server.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  const { port } = server.address() as AddressInfo;

  const connect = async (identity: ClientIdentity | undefined, overrides: tls.ConnectionOptions = {}) => {
    const refusalsBefore = refusals.length;
    const client = await new Promise<Omit<Outcome, 'accepted' | 'refusedBecause'>>((resolve) => {
      let greeting = '';
      let clientError: Error | undefined;
      let serverCertificate: tls.PeerCertificate | undefined;
      const socket = tls.connect({
        host: '127.0.0.1',
        port,
        servername: SERVER_NAME,
        ca: [ca.root.certPem],
        ...(identity === undefined ? {} : { key: identity.key, cert: identity.cert }),
        ...overrides,
      });
      socket.setEncoding('utf8');
      socket.on('secureConnect', () => {
        serverCertificate = socket.getPeerCertificate();
      });
      socket.on('data', (chunk: string) => {
        greeting += chunk;
      });
      socket.on('error', (error) => {
        clientError = error;
      });
      socket.on('close', () => resolve({ greeting, clientError, serverCertificate }));
    });
    // The server reports a refusal on its own schedule: give it a moment to arrive.
    for (
      let waited = 0;
      client.greeting === '' && refusals.length === refusalsBefore && waited < 1000;
      waited += 10
    ) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    return {
      ...client,
      accepted: client.greeting.startsWith('hello '),
      refusedBecause: refusals[refusalsBefore],
    };
  };
  return { server, connect, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

async function withServer(
  crls: readonly string[],
  run: (server: TestServer) => Promise<void>,
): Promise<void> {
  const server = await startServer(crls);
  try {
    await run(server);
  } finally {
    await server.close();
  }
}

function assertRefused(outcome: Outcome, reasons: readonly string[]): void {
  assert.equal(outcome.accepted, false, `expected a refusal, the server greeted: ${outcome.greeting}`);
  assert.equal(outcome.greeting, '');
  assert.ok(
    outcome.refusedBecause !== undefined && reasons.includes(outcome.refusedBecause),
    `expected the server to refuse with ${reasons.join(' or ')}, got ${outcome.refusedBecause}`,
  );
}

describe('Node TLS with the fleet PKI', { timeout: 30_000 }, () => {
  it('accepts a device certificate from the issuing CA and shows the server its SPIFFE id', async () => {
    const device = await enrollDevice(ca, 'device-1', Date.now());
    await withServer([rootCrl, issuingCrl], async ({ connect }) => {
      const outcome = await connect(device);
      assert.equal(outcome.clientError, undefined);
      assert.equal(outcome.accepted, true);
      assert.equal(outcome.greeting, 'hello device-1 URI:spiffe://acme.example/device/device-1');
    });
  });

  it('lets a client verify the server by DNS name, IPv4 or IPv6 against the root alone', async () => {
    const device = await enrollDevice(ca, 'device-1', Date.now());
    await withServer([rootCrl, issuingCrl], async ({ connect }) => {
      const byName = await connect(device);
      assert.equal(byName.accepted, true);
      // Without a server name Node checks the address it dialled against the IP SANs.
      const byAddress = await connect(device, { servername: '' });
      assert.equal(byAddress.clientError, undefined);
      assert.equal(byAddress.accepted, true);
      const presented = byName.serverCertificate;
      assert.ok(presented);
      assert.equal(tls.checkServerIdentity('::1', presented), undefined);
      assert.ok(tls.checkServerIdentity('::2', presented) instanceof Error);
    });
  });

  it('lets a client refuse a server name the certificate does not carry', async () => {
    const device = await enrollDevice(ca, 'device-1', Date.now());
    await withServer([rootCrl, issuingCrl], async ({ connect }) => {
      const outcome = await connect(device, { servername: 'other.example' });
      assert.equal(outcome.accepted, false);
      assert.equal(outcome.clientError?.code, 'ERR_TLS_CERT_ALTNAME_INVALID');
    });
  });

  it('lets a client refuse a server that does not chain to its pinned root', async () => {
    const device = await enrollDevice(ca, 'device-1', Date.now());
    const other = await createFleetCa(Date.now());
    await withServer([rootCrl, issuingCrl], async ({ connect }) => {
      const outcome = await connect(device, { ca: [other.root.certPem] });
      assert.equal(outcome.accepted, false);
      assert.equal(outcome.clientError?.code, 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY');
    });
  });

  it('refuses a client without a certificate at the handshake', async () => {
    await withServer([rootCrl, issuingCrl], async ({ connect }) => {
      const outcome = await connect(undefined);
      assert.equal(outcome.accepted, false);
      assert.equal(outcome.clientError?.code, 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED');
    });
  });

  it('refuses a client certificate from another CA with the same names at the handshake', async () => {
    // Same fleet name, so same CA subject names: only the keys differ.
    const stranger = await enrollDevice(await createFleetCa(Date.now() - DAY_MS), 'device-1', Date.now());
    const leafOnly = { ...stranger, cert: splitPemChain(stranger.cert)[0] ?? '' };
    await withServer([rootCrl, issuingCrl], async ({ connect }) => {
      assertRefused(await connect(leafOnly), ['UNABLE_TO_VERIFY_LEAF_SIGNATURE']);
      // Node's verify callback lets OpenSSL go on after the first failure and reports the last one:
      // with the stranger's issuing CA presented, that is the missing CRL for it, not the broken path.
      assertRefused(await connect(stranger), ['UNABLE_TO_GET_CRL', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY']);
    });
  });

  it('refuses an expired device certificate', async () => {
    const lapsed = await enrollDevice(ca, 'device-2', Date.now() - 3 * DAY_MS);
    await withServer([rootCrl, issuingCrl], async ({ connect }) => {
      assertRefused(await connect(lapsed), ['CERT_HAS_EXPIRED']);
    });
  });

  it('refuses a revoked certificate as soon as a new CRL is set with setSecureContext, without a restart', async () => {
    const revoked = await enrollDevice(ca, 'device-3', Date.now());
    const kept = await enrollDevice(ca, 'device-4', Date.now());
    await withServer([rootCrl, issuingCrl], async ({ server, connect }) => {
      assert.equal((await connect(revoked)).accepted, true);
      const port = (server.address() as AddressInfo).port;

      const listing = await crlOf(ca.issuing, [revoked.serial], current, 2);
      server.setSecureContext(serverOptions([rootCrl, listing]));

      assertRefused(await connect(revoked), ['CERT_REVOKED']);
      assert.equal((await connect(kept)).accepted, true);
      assert.equal((server.address() as AddressInfo).port, port);
    });
  });

  it('fails every client handshake once a CRL in use has expired, so the manager must re-issue CRLs before nextUpdate', async () => {
    const device = await enrollDevice(ca, 'device-5', Date.now());
    const staleIssuing = await crlOf(ca.issuing, [], expired);
    const staleRoot = await crlOf(ca.root, [], expired);
    for (const crls of [
      [rootCrl, staleIssuing],
      [staleRoot, issuingCrl],
    ]) {
      await withServer(crls, async ({ connect }) => {
        assertRefused(await connect(device), ['CRL_HAS_EXPIRED']);
      });
    }
  });

  it('fails every client handshake when a CA of the chain has no CRL, since Node checks CRLs for the whole chain', async () => {
    const device = await enrollDevice(ca, 'device-6', Date.now());
    await withServer([issuingCrl], async ({ connect }) => {
      assertRefused(await connect(device), ['UNABLE_TO_GET_CRL']);
    });
    await withServer([rootCrl], async ({ connect }) => {
      assertRefused(await connect(device), ['UNABLE_TO_GET_CRL']);
    });
  });
});
