import { randomBytes, type webcrypto } from 'node:crypto';
import { readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  type Clock,
  childSitePath,
  createCrl,
  createIssuingCa,
  createRootCa,
  createSiteCa,
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
  policyKeyId,
  signPolicyBundle,
  siteDeviceSpiffeId,
  sitePathSpiffeId,
} from '@edgeward/core';
import type { Logger } from 'pino';
import { fileExists, modes, readPrivateKeyFile, writeNewFile } from './key-files.ts';
import { openPolicySigningKey, type PolicySigningKey } from './policy-key.ts';

/** What a site holds of its hub's PKI: no root key, a delegated CA, the hub's policy key (public half). */
export interface SitePkiFiles {
  readonly siteId: string;
  /** The site's path from the hub: its id, or `<region>/<id>` under a region. */
  readonly sitePath: string;
  readonly rootCaPem: string;
  /** The root's CRL from the delegation: Node checks a CRL for every level of the chain. */
  readonly rootCrlPem: string;
  /** Under a region: the CAs between the root and the site's CA, top first (the region's). */
  readonly upperCaPems: readonly string[];
  /** A CRL of each of those CAs, valid as long as the site's CA. */
  readonly upperCrlPems: readonly string[];
  readonly caCertPem: string;
  readonly caKeyPem: string;
  readonly hubPolicyPublicKeyPem: string;
}

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
  /** SHA-256 of the root CA certificate: what agents pin at enrollment. */
  readonly caFingerprint: string;
  /** On a site: its id. Its devices get `spiffe://<fleet>/site/<id>/device/<device>` identities. */
  readonly siteId: string | undefined;
  /**
   * On a site: its path from the hub (`plant-1`, or `r1/plant-7` under region `r1`): every identity its
   * CA issues lies under `spiffe://<fleet>/site/<path…>/`.
   */
  readonly sitePath: string | undefined;
  /** Under a region: the CAs between the root and this site's CA, top first. */
  #upperCaPems: readonly string[] = [];
  #upperCrlPems: readonly string[] = [];
  /** Absent on a site, which never holds the root key. */
  readonly #root: Authority | undefined;
  #issuing: Authority;
  #rootCrlPem: string | undefined;
  readonly #clock: Clock;
  readonly #policyKey: PolicySigningKey | Omit<PolicySigningKey, 'privateKeyPem'>;
  #server: { keyPem: string; certPem: string };
  readonly #serverNames: readonly string[];

  private constructor(options: {
    fleet: string;
    caFingerprint: string;
    rootCaPem: string;
    root: Authority | undefined;
    issuing: Authority;
    server: { keyPem: string; certPem: string };
    serverNames: readonly string[];
    policyKey: PolicySigningKey | Omit<PolicySigningKey, 'privateKeyPem'>;
    clock: Clock;
    site?: {
      id: string;
      path: string;
      rootCrlPem: string;
      upperCaPems: readonly string[];
      upperCrlPems: readonly string[];
    };
  }) {
    this.fleet = options.fleet;
    this.#policyKey = options.policyKey;
    this.caFingerprint = options.caFingerprint;
    this.#root = options.root;
    this.#issuing = options.issuing;
    this.#server = options.server;
    this.#serverNames = options.serverNames;
    this.#clock = options.clock;
    this.rootCaPem = options.rootCaPem;
    this.siteId = options.site?.id;
    this.sitePath = options.site?.path;
    this.#rootCrlPem = options.site?.rootCrlPem;
    this.#upperCaPems = options.site?.upperCaPems ?? [];
    this.#upperCrlPems = options.site?.upperCrlPems ?? [];
  }

  /** The CA that issues this manager's device certificates: the hub's issuing CA, or a site's delegated CA. */
  get issuingCaPem(): string {
    return this.#issuing.certPem;
  }

  /**
   * The CAs above a leaf this manager issues, nearest first, up to (not including) the root: the chain a
   * device or lower site presents with its certificate, and this manager with its server certificate.
   */
  get chainPem(): string {
    return [this.#issuing.certPem, ...[...this.#upperCaPems].reverse()].join('');
  }

  /** Every CA certificate from the root down to this manager's issuing CA: the device listener's anchors. */
  get caPems(): string[] {
    return [this.rootCaPem, ...this.#upperCaPems, this.#issuing.certPem];
  }

  /** The public half of the policy signing key (Ed25519, SPKI PEM): what enrollment grants carry. */
  get policyPublicKeyPem(): string {
    return this.#policyKey.publicKeyPem;
  }

  /** Names the policy signing key in bundle signatures. */
  get policyKeyId(): string {
    return this.#policyKey.keyId;
  }

  /**
   * Signs a policy bundle with the fleet's policy key; the private key never leaves this object. A site
   * holds only the public half: it serves the hub's bundles as they are.
   */
  signPolicyBundle(payload: PolicyBundlePayload): PolicyBundle {
    if (!('privateKeyPem' in this.#policyKey)) {
      throw new EdgewardError(
        'EW_INTERNAL',
        'a site manager cannot sign policy bundles; it serves the bundles its hub signed',
      );
    }
    return signPolicyBundle(payload, this.#policyKey.privateKeyPem);
  }

  /** Key and chain (server certificate, then the issuing CA) for both listeners. */
  get serverCredentials(): { keyPem: string; certChainPem: string } {
    return { keyPem: this.#server.keyPem, certChainPem: `${this.#server.certPem}${this.chainPem}` };
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
      pki: new FleetPki({
        fleet: options.fleet,
        caFingerprint: rootCertificate.fingerprint,
        rootCaPem: root.certPem,
        root,
        issuing,
        server: { keyPem: serverKeyPem, certPem: serverCertPem },
        serverNames: options.serverNames,
        policyKey,
        clock,
      }),
      created,
    };
  }

  /**
   * A site's PKI: the hub's root (certificate only), the CA the hub delegated to the site, and a server
   * identity issued by that CA (`<dir>/server.key`, created once; its certificate re-issued when the CA
   * or the names change).
   */
  static async openSite(options: {
    dir: string;
    fleet: string;
    serverNames: readonly string[];
    files: SitePkiFiles;
    clock: Clock;
    logger: Logger;
  }): Promise<FleetPki> {
    const { files, clock } = options;
    const serverKeyPath = join(options.dir, 'server.key');
    if (!(await fileExists(serverKeyPath))) {
      const keys = await generateDeviceKeyPair();
      await writeNewFile(serverKeyPath, await exportPrivateKeyPem(keys.privateKey), modes.privateKey);
    }
    const serverKeyPem = await readPrivateKeyFile(serverKeyPath);
    const issuing = { certPem: files.caCertPem, privateKey: await importPrivateKeyPem(files.caKeyPem) };
    const rootCertificate = await parseCertificate(files.rootCaPem);
    const pki = new FleetPki({
      fleet: options.fleet,
      caFingerprint: rootCertificate.fingerprint,
      rootCaPem: files.rootCaPem,
      root: undefined,
      issuing,
      server: { keyPem: serverKeyPem, certPem: '' },
      serverNames: options.serverNames,
      policyKey: {
        publicKeyPem: files.hubPolicyPublicKeyPem,
        keyId: policyKeyId(files.hubPolicyPublicKeyPem),
      },
      clock,
      site: {
        id: files.siteId,
        path: files.sitePath,
        rootCrlPem: files.rootCrlPem,
        upperCaPems: files.upperCaPems,
        upperCrlPems: files.upperCrlPems,
      },
    });
    await pki.#reissueServer(join(options.dir, 'server.crt'));
    return pki;
  }

  /**
   * A site takes a renewed delegation: the new CA issues from now on (certificates of the old one stay
   * valid until they expire), and the server certificate is re-issued under it.
   */
  async adoptDelegation(
    dir: string,
    delegation: {
      caCertPem: string;
      caKeyPem: string;
      rootCrlPem: string;
      upperCaPems: readonly string[];
      upperCrlPems: readonly string[];
    },
  ) {
    if (this.siteId === undefined) {
      throw new EdgewardError('EW_INTERNAL', 'only a site manager holds a delegated CA');
    }
    this.#issuing = {
      certPem: delegation.caCertPem,
      privateKey: await importPrivateKeyPem(delegation.caKeyPem),
    };
    this.#rootCrlPem = delegation.rootCrlPem;
    this.#upperCaPems = delegation.upperCaPems;
    this.#upperCrlPems = delegation.upperCrlPems;
    await this.#reissueServer(join(dir, 'server.crt'));
  }

  /**
   * Keeps the server certificate when the current CA issued it and it carries every name; a site CA lives
   * days, so the certificate is otherwise re-issued (it never outlives its CA).
   */
  async #reissueServer(path: string): Promise<void> {
    const current = (await fileExists(path)) ? await readFile(path, 'utf8') : undefined;
    if (current !== undefined && (await issuedByCurrentCa(current, this.#issuing.certPem))) {
      const held = await parseCertificate(current);
      const names = new Set([...held.dnsNames, ...held.ipAddresses]);
      if (this.#serverNames.every((name) => names.has(name))) {
        this.#server = { ...this.#server, certPem: current };
        return;
      }
    }
    const certPem = await issueServer(
      this.#issuing,
      this.#server.keyPem,
      this.#serverNames,
      this.#clock.now(),
    );
    await replaceFile(path, certPem);
    this.#server = { ...this.#server, certPem };
  }

  spiffeIdOf(deviceId: string): string {
    return this.sitePath === undefined
      ? deviceSpiffeId(this.fleet, deviceId)
      : siteDeviceSpiffeId(this.fleet, this.sitePath, deviceId);
  }

  /** The identity of a site enrolled here: `spiffe://<fleet>/site/<id>` at the hub, under its path at a region. */
  siteSpiffeIdOf(siteId: string): string {
    return sitePathSpiffeId(this.fleet, childSitePath(this.sitePath, siteId));
  }

  /**
   * How many tiers of sites may hang below this manager: the hub two (regions and their lower sites, as far
   * as its root allows), a region one (its lower sites), a site none.
   */
  async lowerTiersAllowed(): Promise<number> {
    if (this.#root !== undefined) return (await parseCertificate(this.#root.certPem)).pathLength ?? 2;
    const constraints = (await parseCertificate(this.#issuing.certPem)).pathLength;
    return constraints ?? 0;
  }

  /** A site's own identity at this manager (see siteSpiffeIdOf), from this manager's issuing CA. */
  async issueSiteCertificate(
    csrPem: string,
    siteId: string,
    validityMs: number,
  ): Promise<IssuedDeviceCertificate> {
    return issueDeviceCertificate({
      csrPem,
      issuer: this.#issuing,
      spiffeId: this.siteSpiffeIdOf(siteId),
      commonName: siteId,
      now: this.#clock.now(),
      validityMs,
    });
  }

  /**
   * Delegates to a site a CA of its own, name-constrained to the fleet and the site's server names, with a
   * CRL for every CA above it valid as long as the CA (the site must hold one for every level offline). A hub
   * signs it with the root (path length 1 for a region, else 0); a region with its own delegated CA, for a
   * lower site (path length 0), passing down the CAs and CRLs above itself.
   */
  async delegateSiteCa(params: {
    siteId: string;
    csrPem: string;
    serverNames: readonly string[];
    validityMs: number;
    /** Tiers the site may delegate below itself: 1 for a region. */
    pathLength: number;
    revokedSiteCas: readonly RevokedSerial[];
  }): Promise<{
    ca: IssuedDeviceCertificate;
    rootCrlPem: string;
    upperCaPems: string[];
    upperCrlPems: string[];
  }> {
    const issuer = this.#root ?? this.#issuing;
    const { dnsNames, ipAddresses } = splitNames(params.serverNames);
    const now = this.#clock.now();
    const ca = await createSiteCa({
      fleet: this.fleet,
      siteId: childSitePath(this.sitePath, params.siteId),
      issuer,
      pathLength: params.pathLength,
      csrPem: params.csrPem,
      dnsNames,
      ipAddresses,
      now,
      validityMs: params.validityMs,
    });
    const issuerCrlPem = await createCrl({
      issuer,
      revoked: [...params.revokedSiteCas],
      thisUpdate: now,
      nextUpdate: Math.max(ca.notAfter, now + params.validityMs),
      crlNumber: now,
    });
    if (this.#root !== undefined) return { ca, rootCrlPem: issuerCrlPem, upperCaPems: [], upperCrlPems: [] };
    // A region: the root CRL it holds (valid as long as its own CA, which outlives the lower site's).
    return {
      ca,
      rootCrlPem: this.#rootCrlPem ?? '',
      upperCaPems: [...this.#upperCaPems, this.#issuing.certPem],
      upperCrlPems: [...this.#upperCrlPems, issuerCrlPem],
    };
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
   * The issuing CA's lists the revoked device certificates; the root's lists revoked delegated site CAs.
   */
  async createCrls(
    revoked: readonly RevokedSerial[],
    validityMs: number,
    revokedSiteCas: readonly RevokedSerial[] = [],
  ): Promise<string[]> {
    const thisUpdate = this.#clock.now();
    const nextUpdate = thisUpdate + validityMs;
    // CRL numbers must only grow, across restarts and replicas: the issue time serves.
    const crlNumber = thisUpdate;
    const issuing = createCrl({
      issuer: this.#issuing,
      revoked: [...revoked],
      thisUpdate,
      nextUpdate,
      crlNumber,
    });
    // A site cannot sign for the root or a region: it serves the CRLs delegated with its CA.
    if (this.#root === undefined) {
      return [this.#rootCrlPem ?? '', ...this.#upperCrlPems, await issuing].filter((pem) => pem !== '');
    }
    return Promise.all([
      createCrl({ issuer: this.#root, revoked: [...revokedSiteCas], thisUpdate, nextUpdate, crlNumber }),
      issuing,
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

/** Renewed site CAs keep their subject, so the issue time tells them apart. */
async function issuedByCurrentCa(certPem: string, caPem: string): Promise<boolean> {
  const [cert, ca] = await Promise.all([parseCertificate(certPem), parseCertificate(caPem)]);
  return cert.issuer === ca.subject && cert.notBefore >= ca.notBefore && cert.notAfter <= ca.notAfter;
}

async function replaceFile(path: string, contents: string): Promise<void> {
  const temporary = `${path}.${randomBytes(4).toString('hex')}.tmp`;
  await writeFile(temporary, contents, { mode: modes.certificate });
  await rename(temporary, path);
}
