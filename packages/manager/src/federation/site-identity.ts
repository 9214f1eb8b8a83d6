import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import {
  type CaBundle,
  type CertificateGrant,
  certificateFingerprint,
  createCsr,
  EdgewardError,
  exportPrivateKeyPem,
  generateDeviceKeyPair,
  importKeyPairPem,
  normalizeFingerprint,
  PROTOCOL_VERSION,
  parseSpiffeId,
  type SiteDelegationGrant,
} from '@edgeward/core';
import type { Logger } from 'pino';
import type { SitePkiFiles } from '../pki/fleet-pki.ts';
import { fileExists, modes, openEd25519KeyFiles, readPrivateKeyFile } from '../pki/key-files.ts';
import { UpstreamClient } from './upstream-client.ts';

/**
 * A site's identity at its hub and the CA the hub delegated to it, as files:
 *
 * - `<dataDir>/upstream/`: the site's key (0600), its certificate `spiffe://<fleet>/site/<id>` and chain,
 *   the hub's CA certificates (pinned by fingerprint at the first start), `site.json`;
 * - `<dataDir>/pki/`: the hub's root certificate and root CRL, under a region the region's CA and CRL
 *   (`upper-cas.json`), the delegated CA (`site-ca.key`, 0600, kept across renewals, and `site-ca.crt`),
 *   the hub's policy key, the site's overlay key.
 *
 * The first start enrolls with the one-time token and asks for the delegation; later starts need neither
 * the token nor the hub, so a site restarts while cut off.
 */
export interface SiteIdentity {
  readonly siteId: string;
  readonly fleet: string;
  readonly maxOfflineMs: number;
  readonly caNotAfter: number;
  readonly pkiFiles: SitePkiFiles;
  readonly overlayKey: { readonly privateKeyPem: string; readonly publicKeyPem: string };
  /** The key the site signs its devices' TUF timestamps with, once the hub's root lists it. */
  readonly tufTimestampKey: { readonly privateKeyPem: string; readonly publicKeyPem: string };
  /** A client to the hub with the site certificate (read from disk now). */
  connect(timeoutMs: number): Promise<UpstreamClient>;
  /**
   * The site key and certificate (read from disk now): the site signs the checkpoints of its own audit
   * chain with them, as a device does, for the hub to anchor.
   */
  signingIdentity(): Promise<{ keyPem: string; certificatePem: string }>;
}

export interface SiteIdentityOptions {
  readonly dataDir: string;
  readonly upstreamUrl: string;
  readonly upstreamToken: string | undefined;
  readonly upstreamCaFingerprint: string | undefined;
  /** DNS names and IP addresses of the site's device API (put in the delegated CA's constraints). */
  readonly serverNames: readonly string[];
  readonly timeoutMs: number;
  readonly logger: Logger;
}

interface SiteState {
  siteId: string;
  /** Absent in a site from before regions: its id. */
  sitePath?: string;
  fleet: string;
  maxOfflineMs: number;
  caNotAfter: number;
}

export async function openSiteIdentity(options: SiteIdentityOptions): Promise<SiteIdentity> {
  const upstreamDir = join(options.dataDir, 'upstream');
  const pkiDir = join(options.dataDir, 'pki');
  await mkdir(upstreamDir, { recursive: true, mode: 0o700 });
  await mkdir(pkiDir, { recursive: true, mode: 0o700 });
  if (!(await fileExists(join(upstreamDir, 'cert.pem')))) await enroll(options, upstreamDir);
  const overlayKey = await openEd25519KeyFiles({
    dir: pkiDir,
    name: 'site-overlay',
    what: 'site overlay signing key',
    consequence: 'the hub delegated this public key; a new one needs a new delegation',
    logger: options.logger,
  });
  const tufTimestampKey = await openEd25519KeyFiles({
    dir: pkiDir,
    name: 'tuf-timestamp',
    what: 'site TUF timestamp key',
    consequence: "the hub's TUF root lists this public key; a new one needs a new delegation and a new root",
    logger: options.logger,
  });
  const keys = { overlayKey, tufTimestampKey };
  const caKeyPath = join(pkiDir, 'site-ca.key');
  if (!(await fileExists(caKeyPath))) {
    const keys = await generateDeviceKeyPair();
    await writeFile(caKeyPath, await exportPrivateKeyPem(keys.privateKey), {
      mode: modes.privateKey,
      flag: 'wx',
    });
  }
  const identity = await load(options, upstreamDir, pkiDir, keys);
  if (identity !== undefined) return identity;
  const client = await clientOf(options, upstreamDir);
  try {
    await requestDelegation(options, client, {
      overlayPublicKeyPem: overlayKey.publicKeyPem,
      tufTimestampPublicKeyPem: tufTimestampKey.publicKeyPem,
    });
  } finally {
    client.close();
  }
  const delegated = await load(options, upstreamDir, pkiDir, keys);
  if (delegated === undefined)
    throw new EdgewardError('EW_INTERNAL', 'the delegation was written but cannot be read');
  return delegated;
}

/**
 * Asks the hub for a (renewed) delegation: the same CA key, a new certificate valid twice the offline
 * budget, and a root CRL as long. Written atomically; the caller adopts it.
 */
export async function requestDelegation(
  options: Pick<SiteIdentityOptions, 'dataDir' | 'serverNames'>,
  client: UpstreamClient,
  publicKeys: { overlayPublicKeyPem: string; tufTimestampPublicKeyPem: string },
): Promise<SiteDelegationGrant> {
  const pkiDir = join(options.dataDir, 'pki');
  const keys = await importKeyPairPem(await readPrivateKeyFile(join(pkiDir, 'site-ca.key')));
  const grant = await client.post<SiteDelegationGrant>('/v1/site/delegation', {
    v: PROTOCOL_VERSION,
    csrPem: await createCsr({ keys, commonName: 'site CA' }),
    serverNames: [...options.serverNames],
    ...publicKeys,
  });
  await replace(join(pkiDir, 'root-ca.crt'), grant.rootCaPem);
  await replace(join(pkiDir, 'root-ca.crl'), grant.rootCrlPem);
  await replace(join(pkiDir, 'hub-policy.pub'), grant.policyPublicKeyPem);
  await replace(join(pkiDir, 'site-ca.crt'), grant.caCertPem);
  await replace(
    join(pkiDir, 'upper-cas.json'),
    `${JSON.stringify({ caPems: grant.upperCaPems ?? [], crlPems: grant.upperCrlPems ?? [] })}\n`,
  );
  const state: SiteState = {
    siteId: grant.siteId,
    sitePath: grant.sitePath ?? grant.siteId,
    fleet: grant.fleet,
    maxOfflineMs: grant.maxOfflineMs,
    caNotAfter: grant.notAfter,
  };
  await replace(join(options.dataDir, 'upstream', 'site.json'), `${JSON.stringify(state, null, 2)}\n`);
  return grant;
}

async function enroll(options: SiteIdentityOptions, upstreamDir: string): Promise<void> {
  if (options.upstreamToken === undefined || options.upstreamCaFingerprint === undefined) {
    throw new EdgewardError(
      'EW_SITE_NOT_ENROLLED',
      `${upstreamDir} holds no site identity; start the site once with --upstream-token and --upstream-ca-fingerprint from \`edgeward sites create\``,
    );
  }
  const discovery = new UpstreamClient({
    url: options.upstreamUrl,
    ca: undefined,
    timeoutMs: options.timeoutMs,
  });
  let bundle: CaBundle | undefined;
  try {
    bundle = await discovery.get<CaBundle>('/v1/ca');
  } finally {
    discovery.close();
  }
  if (bundle === undefined) throw new EdgewardError('EW_UPSTREAM_UNREACHABLE', 'the hub sent no CA bundle');
  const pinned = normalizeFingerprint(options.upstreamCaFingerprint);
  if ((await certificateFingerprint(bundle.rootCaPem)) !== pinned) {
    throw new EdgewardError(
      'EW_CA_FINGERPRINT_MISMATCH',
      `the hub at ${options.upstreamUrl} presents a root CA whose fingerprint is not ${pinned}; check the URL and the fingerprint`,
    );
  }
  const keys = await generateDeviceKeyPair();
  const ca = [bundle.rootCaPem, ...(bundle.intermediateCaPems ?? []), bundle.issuingCaPem].join('');
  const client = new UpstreamClient({ url: options.upstreamUrl, ca, timeoutMs: options.timeoutMs });
  let grant: CertificateGrant;
  try {
    grant = await client.post<CertificateGrant>('/v1/enroll', {
      v: PROTOCOL_VERSION,
      token: options.upstreamToken,
      csrPem: await createCsr({ keys, commonName: 'site' }),
      hostname: hostname(),
      agentVersion: 'edgeward-site',
      reportIntervalMs: 60_000,
    });
  } finally {
    client.close();
  }
  if (parseSpiffeId(grant.spiffeId)?.kind !== 'site') {
    throw new EdgewardError(
      'EW_SITE_NOT_ENROLLED',
      `the token enrolled ${grant.spiffeId}, not a site; create a site token with \`edgeward sites create ID\``,
    );
  }
  await writeFile(join(upstreamDir, 'key.pem'), await exportPrivateKeyPem(keys.privateKey), {
    mode: modes.privateKey,
    flag: 'wx',
  });
  await replace(join(upstreamDir, 'ca.pem'), ca);
  await replace(join(upstreamDir, 'chain.pem'), grant.chainPem);
  await replace(join(upstreamDir, 'cert.pem'), grant.certificatePem);
  options.logger.info({ siteId: grant.deviceId, spiffeId: grant.spiffeId }, 'site enrolled with its hub');
}

async function clientOf(
  options: Pick<SiteIdentityOptions, 'upstreamUrl' | 'timeoutMs'>,
  upstreamDir: string,
) {
  return new UpstreamClient({
    url: options.upstreamUrl,
    ca: await readFile(join(upstreamDir, 'ca.pem'), 'utf8'),
    keyPem: await readPrivateKeyFile(join(upstreamDir, 'key.pem')),
    certChainPem: `${await readFile(join(upstreamDir, 'cert.pem'), 'utf8')}${await readFile(join(upstreamDir, 'chain.pem'), 'utf8')}`,
    timeoutMs: options.timeoutMs,
  });
}

async function load(
  options: SiteIdentityOptions,
  upstreamDir: string,
  pkiDir: string,
  keys: {
    overlayKey: { privateKeyPem: string; publicKeyPem: string };
    tufTimestampKey: { privateKeyPem: string; publicKeyPem: string };
  },
): Promise<SiteIdentity | undefined> {
  if (!(await fileExists(join(upstreamDir, 'site.json')))) return undefined;
  const state = JSON.parse(await readFile(join(upstreamDir, 'site.json'), 'utf8')) as SiteState;
  const read = (name: string) => readFile(join(pkiDir, name), 'utf8');
  // A site delegated before regions has no CAs between the root and its own.
  const upper = (await fileExists(join(pkiDir, 'upper-cas.json')))
    ? (JSON.parse(await read('upper-cas.json')) as { caPems: string[]; crlPems: string[] })
    : { caPems: [], crlPems: [] };
  const pkiFiles: SitePkiFiles = {
    siteId: state.siteId,
    sitePath: state.sitePath ?? state.siteId,
    rootCaPem: await read('root-ca.crt'),
    rootCrlPem: await read('root-ca.crl'),
    upperCaPems: upper.caPems,
    upperCrlPems: upper.crlPems,
    caCertPem: await read('site-ca.crt'),
    caKeyPem: await readPrivateKeyFile(join(pkiDir, 'site-ca.key')),
    hubPolicyPublicKeyPem: await read('hub-policy.pub'),
  };
  return {
    siteId: state.siteId,
    fleet: state.fleet,
    maxOfflineMs: state.maxOfflineMs,
    caNotAfter: state.caNotAfter,
    pkiFiles,
    overlayKey: keys.overlayKey,
    tufTimestampKey: keys.tufTimestampKey,
    connect: (timeoutMs) => clientOf({ upstreamUrl: options.upstreamUrl, timeoutMs }, upstreamDir),
    signingIdentity: async () => ({
      keyPem: await readPrivateKeyFile(join(upstreamDir, 'key.pem')),
      certificatePem: await readFile(join(upstreamDir, 'cert.pem'), 'utf8'),
    }),
  };
}

async function replace(path: string, contents: string): Promise<void> {
  const temporary = `${path}.${randomBytes(4).toString('hex')}.tmp`;
  await writeFile(temporary, contents, { mode: modes.certificate });
  await rename(temporary, path);
}
