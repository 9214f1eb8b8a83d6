import { randomBytes, type webcrypto } from 'node:crypto';
import { readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  type Clock,
  createCrl,
  createIssuingCa,
  createRootCa,
  deviceSpiffeId,
  EdgewardError,
  exportPrivateKeyPem,
  generateDeviceKeyPair,
  importKeyPairPem,
  importPrivateKeyPem,
  issueDeviceCertificate,
  issueServerCertificate,
  type PolicyBundle,
  type PolicyBundlePayload,
  parseCertificate,
  signPolicyBundle,
} from '@edgeward/core';
import type { Logger } from 'pino';
import { fileExists, modes, readPrivateKeyFile, writeNewFile } from './key-files.ts';
import { openPolicySigningKey, type PolicySigningKey } from './policy-key.ts';

const DAY_MS = 86_400_000;

interface Authority {
  readonly certPem: string;
  readonly privateKey: webcrypto.CryptoKey;
}

export interface IssuedDeviceCertificate {
  readonly certPem: string;
  readonly serial: string;
  readonly notBefore: number;
  readonly notAfter: number;
  readonly fingerprint: string;
}

export interface RevokedSerial {
  readonly serial: string;
  readonly revokedAt: number;
}

/**
 * The fleet's certificate authorities, the manager's own server identity and the policy signing key,
 * kept as files in `<dataDir>/pki`. The first start creates the root CA, the issuing CA and the server
 * key; later starts load them and never regenerate. The server certificate is re-issued when its names
 * change or it nears expiry, with the same key. Replicas sharing one database must share this directory.
 */
export class FleetPki {
  readonly fleet: string;
  readonly rootCaPem: string;
  readonly issuingCaPem: string;
  /** SHA-256 of the root CA certificate: what agents pin at enrollment. */
  readonly caFingerprint: string;
  readonly #root: Authority;
  readonly #issuing: Authority;
  readonly #clock: Clock;
  readonly #policyKey: PolicySigningKey;
  #server: { keyPem: string; certPem: string };

  private constructor(
    fleet: string,
    caFingerprint: string,
    root: Authority,
    issuing: Authority,
    server: { keyPem: string; certPem: string },
    policyKey: PolicySigningKey,
    clock: Clock,
  ) {
    this.fleet = fleet;
    this.#policyKey = policyKey;
    this.caFingerprint = caFingerprint;
    this.#root = root;
    this.#issuing = issuing;
    this.#server = server;
    this.#clock = clock;
    this.rootCaPem = root.certPem;
    this.issuingCaPem = issuing.certPem;
  }

  /** The public half of the policy signing key (Ed25519, SPKI PEM): what enrollment grants carry. */
  get policyPublicKeyPem(): string {
    return this.#policyKey.publicKeyPem;
  }

  /** Names the policy signing key in bundle signatures. */
  get policyKeyId(): string {
    return this.#policyKey.keyId;
  }

  /** Signs a policy bundle with the fleet's policy key; the private key never leaves this object. */
  signPolicyBundle(payload: PolicyBundlePayload): PolicyBundle {
    return signPolicyBundle(payload, this.#policyKey.privateKeyPem);
  }

  /** Key and chain (server certificate, then the issuing CA) for both listeners. */
  get serverCredentials(): { keyPem: string; certChainPem: string } {
    return { keyPem: this.#server.keyPem, certChainPem: `${this.#server.certPem}${this.issuingCaPem}` };
  }

  static async open(options: {
    dir: string;
    fleet: string;
    serverNames: readonly string[];
    clock: Clock;
    logger: Logger;
  }): Promise<{ pki: FleetPki; created: boolean }> {
    const { dir, clock, logger } = options;
    const paths = {
      rootKey: join(dir, 'root-ca.key'),
      rootCert: join(dir, 'root-ca.crt'),
      issuingKey: join(dir, 'issuing-ca.key'),
      issuingCert: join(dir, 'issuing-ca.crt'),
      serverKey: join(dir, 'server.key'),
      serverCert: join(dir, 'server.crt'),
    };
    const present = await Promise.all(Object.values(paths).map(fileExists));
    const created = present.every((exists) => !exists);
    if (created) {
      await createAuthorities(paths, options.fleet, options.serverNames, clock.now());
      logger.info({ dir }, 'created the fleet root CA, issuing CA and server key');
    } else if (!present.every(Boolean)) {
      const missing = Object.values(paths).filter((_, index) => !present[index]);
      throw new EdgewardError(
        'EW_PKI_FILE_INVALID',
        `the PKI directory ${dir} is incomplete (missing ${missing.join(', ')}); restore it from backup — keys are never regenerated over existing ones`,
      );
    }
    const root = await loadAuthority(paths.rootKey, paths.rootCert);
    const issuing = await loadAuthority(paths.issuingKey, paths.issuingCert);
    const rootCertificate = await parseCertificate(root.certPem);
    const rootFleet = /O=([^,]+)/.exec(rootCertificate.subject)?.[1];
    if (rootFleet !== undefined && rootFleet !== options.fleet) {
      throw new EdgewardError(
        'EW_CONFIG_INVALID',
        `fleet is set to "${options.fleet}" but the CA in ${dir} belongs to fleet "${rootFleet}"; set fleet: ${rootFleet}`,
      );
    }
    // Outside the all-or-nothing set above: an installation from before policies gets its key at this start.
    const policyKey = await openPolicySigningKey(dir, logger);
    const serverKeyPem = await readPrivateKeyFile(paths.serverKey);
    let serverCertPem = await readFile(paths.serverCert, 'utf8');
    if (await needsNewServerCertificate(serverCertPem, options.serverNames, clock.now())) {
      serverCertPem = await issueServer(issuing, serverKeyPem, options.serverNames, clock.now());
      await replaceFile(paths.serverCert, serverCertPem);
      logger.info({ names: options.serverNames }, 'issued a new server certificate');
    }
    return {
      pki: new FleetPki(
        options.fleet,
        rootCertificate.fingerprint,
        root,
        issuing,
        { keyPem: serverKeyPem, certPem: serverCertPem },
        policyKey,
        clock,
      ),
      created,
    };
  }

  spiffeIdOf(deviceId: string): string {
    return deviceSpiffeId(this.fleet, deviceId);
  }

  async issueDeviceCertificate(
    csrPem: string,
    deviceId: string,
    validityMs: number,
  ): Promise<IssuedDeviceCertificate> {
    return issueDeviceCertificate({
      csrPem,
      issuer: this.#issuing,
      spiffeId: this.spiffeIdOf(deviceId),
      commonName: deviceId,
      now: this.#clock.now(),
      validityMs,
    });
  }

  /**
   * One CRL per CA in the chain, as Node's TLS wants them (it checks every level once any CRL is given).
   * The issuing CA's lists the revoked device certificates; the root's is empty unless an issuing CA is
   * revoked.
   */
  async createCrls(revoked: readonly RevokedSerial[], validityMs: number): Promise<string[]> {
    const thisUpdate = this.#clock.now();
    const nextUpdate = thisUpdate + validityMs;
    // CRL numbers must only grow, across restarts and replicas: the issue time serves.
    const crlNumber = thisUpdate;
    return Promise.all([
      createCrl({ issuer: this.#root, revoked: [], thisUpdate, nextUpdate, crlNumber }),
      createCrl({ issuer: this.#issuing, revoked: [...revoked], thisUpdate, nextUpdate, crlNumber }),
    ]);
  }
}

async function createAuthorities(
  paths: Record<'rootKey' | 'rootCert' | 'issuingKey' | 'issuingCert' | 'serverKey' | 'serverCert', string>,
  fleet: string,
  serverNames: readonly string[],
  now: number,
): Promise<void> {
  const rootKeys = await generateDeviceKeyPair();
  const rootCertPem = await createRootCa({ fleet, keys: rootKeys, now });
  const issuingKeys = await generateDeviceKeyPair();
  const issuingCertPem = await createIssuingCa({
    fleet,
    root: { certPem: rootCertPem, privateKey: rootKeys.privateKey },
    keys: issuingKeys,
    now,
  });
  const serverKeys = await generateDeviceKeyPair();
  const serverKeyPem = await exportPrivateKeyPem(serverKeys.privateKey);
  const serverCertPem = await issueServer(
    { certPem: issuingCertPem, privateKey: issuingKeys.privateKey },
    serverKeyPem,
    serverNames,
    now,
  );
  // Keys first: a crash between writes leaves an incomplete directory, which start refuses loudly.
  await writeNewFile(paths.rootKey, await exportPrivateKeyPem(rootKeys.privateKey), modes.privateKey);
  await writeNewFile(paths.issuingKey, await exportPrivateKeyPem(issuingKeys.privateKey), modes.privateKey);
  await writeNewFile(paths.serverKey, serverKeyPem, modes.privateKey);
  await writeNewFile(paths.rootCert, rootCertPem, modes.certificate);
  await writeNewFile(paths.issuingCert, issuingCertPem, modes.certificate);
  await writeNewFile(paths.serverCert, serverCertPem, modes.certificate);
}

async function loadAuthority(keyPath: string, certPath: string): Promise<Authority> {
  const keyPem = await readPrivateKeyFile(keyPath);
  const certPem = await readFile(certPath, 'utf8');
  try {
    return { certPem, privateKey: await importPrivateKeyPem(keyPem) };
  } catch (error) {
    throw new EdgewardError('EW_PKI_FILE_INVALID', `${keyPath} does not hold a usable P-256 private key`, {
      cause: error,
    });
  }
}

function splitNames(names: readonly string[]): { dnsNames: string[]; ipAddresses: string[] } {
  const isIp = (name: string) => /^[0-9.]+$/.test(name) || name.includes(':');
  return { dnsNames: names.filter((name) => !isIp(name)), ipAddresses: names.filter(isIp) };
}

async function issueServer(issuer: Authority, serverKeyPem: string, names: readonly string[], now: number) {
  const { publicKey } = await importKeyPairPem(serverKeyPem);
  return issueServerCertificate({ issuer, publicKey, ...splitNames(names), now, validityDays: 365 });
}

async function needsNewServerCertificate(
  certPem: string,
  names: readonly string[],
  now: number,
): Promise<boolean> {
  const cert = await parseCertificate(certPem);
  if (cert.notAfter - now < 30 * DAY_MS) return true;
  const held = new Set([...cert.dnsNames, ...cert.ipAddresses]);
  return names.some((name) => !held.has(name));
}

async function replaceFile(path: string, contents: string): Promise<void> {
  const temporary = `${path}.${randomBytes(4).toString('hex')}.tmp`;
  await writeFile(temporary, contents, { mode: modes.certificate });
  await rename(temporary, path);
}
