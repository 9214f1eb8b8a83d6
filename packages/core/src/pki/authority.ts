/**
 * The fleet's certificate authority: a self-signed root, an issuing CA under it, and the leaf certificates
 * it signs (the manager's TLS server, devices and sites). Every subject and SAN is decided here;
 * nothing is copied from a CSR.
 */
import { AsnConvert } from '@peculiar/asn1-schema';
import {
  GeneralName,
  GeneralSubtree,
  GeneralSubtrees,
  id_ce_nameConstraints,
  NameConstraints,
} from '@peculiar/asn1-x509';
import { EdgewardError } from '../errors/edgeward-error.ts';
import { checkCsr } from './csr.ts';
import { derFingerprint } from './fingerprint.ts';
import { SIGNING_ALGORITHM } from './keys.ts';
import { encodePem, readCertificate } from './pem.ts';
import { isValidFleetName, parseSpiffeId } from './spiffe.ts';
import type { CryptoKey, CryptoKeyPair } from './web-crypto.types.ts';
import { x509 } from './x509-library.ts';

/** A CA certificate and its private key: what signs certificates and CRLs. */
export interface CertificateIssuer {
  readonly certPem: string;
  readonly privateKey: CryptoKey;
}

/**
 * Every certificate starts this long before `now`, so that a peer whose clock runs slightly behind
 * the manager's still accepts a certificate issued a moment ago.
 */
export const CLOCK_SKEW_TOLERANCE_MS = 60_000;

const DAY_MS = 86_400_000;
const MAX_COMMON_NAME_LENGTH = 64; // X.520 upper bound for commonName

export interface CreateRootCaParams {
  /** Fleet name (the SPIFFE trust domain), written as the subject's O. */
  readonly fleet: string;
  /** ECDSA P-256 key pair of the root. */
  readonly keys: CryptoKeyPair;
  /** Milliseconds since the epoch. */
  readonly now: number;
  /** Default 3650. */
  readonly validityDays?: number;
}

/**
 * How many CAs may stand between the root and a leaf: the hub's issuing CA or a site's delegated CA (1), a
 * lower site's CA under a region's (2).
 */
export const ROOT_PATH_LENGTH = 2;

/** A self-signed root CA certificate (PEM): `CN=Edgeward fleet root CA, O=<fleet>`, path length 2. */
export async function createRootCa(params: CreateRootCaParams): Promise<string> {
  const { fleet, keys, now, validityDays = 3650 } = params;
  requireFleetOrganisation(fleet);
  const window = validityWindow(now, positive(validityDays, 'validityDays') * DAY_MS);
  const certificate = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: [{ CN: ['Edgeward fleet root CA'] }, { O: [fleet] }],
    notBefore: window.notBefore,
    notAfter: window.notAfter,
    keys,
    signingAlgorithm: SIGNING_ALGORITHM,
    extensions: [
      // Path length 2: the root signs issuing CAs and regions' CAs; a region's CA signs its lower sites'.
      new x509.BasicConstraintsExtension(true, ROOT_PATH_LENGTH, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return encodePem(certificate.rawData, x509.PemConverter.CertificateTag);
}

export interface CreateIssuingCaParams {
  readonly fleet: string;
  readonly root: CertificateIssuer;
  /** ECDSA P-256 key pair of the issuing CA. */
  readonly keys: CryptoKeyPair;
  readonly now: number;
  /** Default 1825; the certificate never outlives the root. */
  readonly validityDays?: number;
}

/**
 * An issuing CA certificate (PEM) signed by the root: `CN=Edgeward fleet issuing CA, O=<fleet>`,
 * path length 0 (it signs leaves only), keyCertSign + cRLSign.
 */
export async function createIssuingCa(params: CreateIssuingCaParams): Promise<string> {
  const { fleet, root, keys, now, validityDays = 1825 } = params;
  requireFleetOrganisation(fleet);
  const signed = await signCertificate({
    issuer: root,
    publicKey: keys.publicKey,
    subject: [{ CN: ['Edgeward fleet issuing CA'] }, { O: [fleet] }],
    now,
    validityMs: positive(validityDays, 'validityDays') * DAY_MS,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
    ],
  });
  return signed.certPem;
}

export interface IssueServerCertificateParams {
  readonly issuer: CertificateIssuer;
  readonly publicKey: CryptoKey;
  /** DNS names clients connect to, e.g. `manager.example.com`, `localhost`. */
  readonly dnsNames?: readonly string[];
  /** IPv4 or IPv6 addresses clients connect to. */
  readonly ipAddresses?: readonly string[];
  readonly now: number;
  readonly validityDays: number;
  /** Default: the first DNS name, else the first IP address. */
  readonly commonName?: string;
}

/** A TLS server certificate (PEM) for the manager: serverAuth, SAN with every DNS name and IP address. */
export async function issueServerCertificate(params: IssueServerCertificateParams): Promise<string> {
  const dnsNames = (params.dnsNames ?? []).map(normalizeDnsName);
  const ipAddresses = (params.ipAddresses ?? []).map(normalizeIpAddress);
  const commonName = params.commonName ?? dnsNames[0] ?? ipAddresses[0];
  if (commonName === undefined) {
    throw new EdgewardError(
      'EW_CERTIFICATE_NAME_INVALID',
      'a server certificate needs at least one DNS name or IP address that clients connect to',
    );
  }
  const issuer = readCertificate(params.issuer.certPem, 'issuer certificate');
  const signed = await signCertificate({
    issuer: params.issuer,
    publicKey: params.publicKey,
    subject: [{ CN: [requireCommonName(commonName)] }, ...organisationOf(issuer)],
    now: params.now,
    validityMs: positive(params.validityDays, 'validityDays') * DAY_MS,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension([
        ...dnsNames.map((value) => ({ type: 'dns' as const, value })),
        ...ipAddresses.map((value) => ({ type: 'ip' as const, value })),
      ]),
    ],
  });
  return signed.certPem;
}

export interface IssueDeviceCertificateParams {
  /** The device's PKCS#10 request; only its (verified, P-256) public key is used. */
  readonly csrPem: string;
  readonly issuer: CertificateIssuer;
  /** `spiffe://<fleet>/device/<id>` or `.../site/<id>`: the certificate's only SAN. */
  readonly spiffeId: string;
  /** Subject CN, e.g. the device id or hostname; O is the fleet. */
  readonly commonName: string;
  readonly now: number;
  /** From `now`; the certificate never outlives the issuing CA. */
  readonly validityMs: number;
}

export interface IssuedCertificate {
  readonly certPem: string;
  /** Lower-case hex, no separators. */
  readonly serial: string;
  /** Milliseconds since the epoch, as written in the certificate (whole seconds). */
  readonly notBefore: number;
  readonly notAfter: number;
  /** Lower-case hex SHA-256 of the DER. */
  readonly fingerprint: string;
}

/**
 * A client certificate for a device or site. The CSR proves possession of the key (see checkCsr); the
 * subject (`CN=<commonName>, O=<fleet>`), the URI SAN and the clientAuth usage are set here, whatever
 * the CSR asked for.
 */
export async function issueDeviceCertificate(
  params: IssueDeviceCertificateParams,
): Promise<IssuedCertificate> {
  const identity = parseSpiffeId(params.spiffeId);
  if (identity === undefined) {
    throw new EdgewardError(
      'EW_SPIFFE_ID_INVALID',
      `"${params.spiffeId}" is not an Edgeward SPIFFE id (spiffe://<fleet>/device/<id> or spiffe://<fleet>/site/<id>)`,
    );
  }
  const { publicKey } = await checkCsr(params.csrPem);
  return await signCertificate({
    issuer: params.issuer,
    publicKey,
    subject: [{ CN: [requireCommonName(params.commonName)] }, { O: [identity.fleet] }],
    now: params.now,
    validityMs: positive(params.validityMs, 'validityMs'),
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth]),
      // Critical is not used: RFC 5280 asks for it only when the subject is empty, and ours never is.
      new x509.SubjectAlternativeNameExtension([{ type: 'url', value: params.spiffeId }]),
    ],
  });
}

export interface CreateSiteCaParams {
  readonly fleet: string;
  /** The site's path: its id, or `<region>/<id>` for a site under a region. */
  readonly siteId: string;
  /**
   * The CA that delegates: the fleet root for a site of the hub (beside the hub's issuing CA), or a region's
   * own delegated CA for a lower site.
   */
  readonly issuer: CertificateIssuer;
  /**
   * How many tiers of CAs the site may delegate below itself: 0 (default) for a site that signs only
   * leaves, 1 for a region that delegates to lower sites. Never more than the issuer's own allows.
   */
  readonly pathLength?: number;
  /** The site's request for its CA key; only its (verified, P-256) public key is used. */
  readonly csrPem: string;
  /** DNS names and IP addresses the site's own TLS server may carry. */
  readonly dnsNames: readonly string[];
  readonly ipAddresses: readonly string[];
  readonly now: number;
  /** Short: the site renews it while it reaches the hub; long enough to cover its offline budget. */
  readonly validityMs: number;
}

/**
 * A delegated, name-constrained issuing CA for one site (path length 0: it signs leaves only; 1 for a
 * region, which delegates to lower sites in turn). Its critical name constraints permit URI names in the
 * fleet's trust domain only, and DNS names and IP addresses only those of the site's own server, so a
 * stolen site CA cannot mint a server certificate for the hub or identities of another fleet; under a
 * region, OpenSSL applies the region's constraints too. X.509 constrains a URI by its host alone, so that
 * the path stays under `site/<id>/` is checked by every verifier (see `parseSpiffeId` and
 * docs/federation.md).
 */
export async function createSiteCa(params: CreateSiteCaParams): Promise<IssuedCertificate> {
  requireFleetOrganisation(params.fleet);
  const pathLength = params.pathLength ?? 0;
  const issuer = readCertificate(params.issuer.certPem, 'issuer certificate');
  const allowed = issuer.getExtension(x509.BasicConstraintsExtension)?.pathLength;
  if (!Number.isInteger(pathLength) || pathLength < 0 || (allowed !== undefined && pathLength >= allowed)) {
    throw new EdgewardError(
      'EW_SITE_TIER_NOT_ALLOWED',
      `site ${params.siteId} cannot delegate ${pathLength} tier(s) below itself: the CA above it allows ${
        allowed === undefined ? 'any' : Math.max(0, allowed - 1)
      }. Create lower sites only on a region (\`edgeward sites create ID --region\` on the hub)`,
    );
  }
  const { publicKey } = await checkCsr(params.csrPem);
  const permitted = [
    new GeneralName({ uniformResourceIdentifier: params.fleet }),
    ...params.dnsNames.map(normalizeDnsName).map((dNSName) => new GeneralName({ dNSName })),
    ...params.ipAddresses
      .map(normalizeIpAddress)
      .map((address) => new GeneralName({ iPAddress: `${address}/${address.includes(':') ? 128 : 32}` })),
  ];
  const constraints = new NameConstraints({
    permittedSubtrees: new GeneralSubtrees(permitted.map((base) => new GeneralSubtree({ base }))),
  });
  return signCertificate({
    issuer: params.issuer,
    publicKey,
    subject: [{ CN: [requireCommonName(await siteCaCommonName(params.siteId))] }, { O: [params.fleet] }],
    now: params.now,
    validityMs: positive(params.validityMs, 'validityMs'),
    extensions: [
      new x509.BasicConstraintsExtension(true, pathLength, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      new x509.Extension(id_ce_nameConstraints, true, AsnConvert.serialize(constraints)),
    ],
  });
}

/**
 * `Edgeward site CA <path>`, or, when a long path would not fit a common name, the path's last id with a
 * digest of the whole path, so that two sites' CAs never share a subject (chain builders match by it).
 */
async function siteCaCommonName(sitePath: string): Promise<string> {
  const full = `Edgeward site CA ${sitePath}`;
  if (full.length <= MAX_COMMON_NAME_LENGTH) return full;
  const digest = new Uint8Array(
    await globalThis.crypto.subtle.digest('SHA-256', new TextEncoder().encode(sitePath)),
  );
  const hex = [...digest.subarray(0, 6)].map((byte) => byte.toString(16).padStart(2, '0')).join('');
  const last = sitePath.split('/').at(-1) ?? sitePath;
  return `site CA ${last.slice(0, MAX_COMMON_NAME_LENGTH - 9 - 13)} ${hex}`;
}

interface SignParams {
  readonly issuer: CertificateIssuer;
  readonly publicKey: CryptoKey;
  readonly subject: x509.JsonName;
  readonly now: number;
  readonly validityMs: number;
  readonly extensions: readonly x509.Extension[];
}

async function signCertificate(params: SignParams): Promise<IssuedCertificate> {
  const issuer = readCertificate(params.issuer.certPem, 'issuer certificate');
  requireCa(issuer);
  const window = validityWindow(params.now, params.validityMs, issuer.notAfter.getTime());
  const certificate = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: params.subject,
    // The issuer's own encoded name, so that chain builders match it byte for byte.
    issuer: issuer.subjectName,
    notBefore: window.notBefore,
    notAfter: window.notAfter,
    publicKey: params.publicKey,
    signingKey: params.issuer.privateKey,
    signingAlgorithm: SIGNING_ALGORITHM,
    extensions: [
      ...params.extensions,
      await x509.SubjectKeyIdentifierExtension.create(params.publicKey),
      new x509.AuthorityKeyIdentifierExtension(await keyIdentifierOf(issuer)),
    ],
  });
  return {
    certPem: encodePem(certificate.rawData, x509.PemConverter.CertificateTag),
    serial: certificate.serialNumber.toLowerCase(),
    notBefore: window.notBefore.getTime(),
    notAfter: window.notAfter.getTime(),
    fingerprint: await derFingerprint(certificate.rawData),
  };
}

/** The issuer's subject key identifier (hex), computed from its key if the certificate lacks one. */
export async function keyIdentifierOf(certificate: x509.X509Certificate): Promise<string> {
  const ski = certificate.getExtension(x509.SubjectKeyIdentifierExtension);
  if (ski !== null) return ski.keyId;
  return (await x509.SubjectKeyIdentifierExtension.create(certificate.publicKey)).keyId;
}

function requireCa(certificate: x509.X509Certificate): void {
  const constraints = certificate.getExtension(x509.BasicConstraintsExtension);
  const usage = certificate.getExtension(x509.KeyUsagesExtension);
  const signsCertificates = usage === null || (usage.usages & x509.KeyUsageFlags.keyCertSign) !== 0;
  if (constraints?.ca !== true || !signsCertificates) {
    throw new EdgewardError(
      'EW_PKI_FILE_INVALID',
      `issuer certificate "${certificate.subject}" is not a CA certificate allowed to sign certificates`,
    );
  }
}

/** 16 random bytes, top bit clear (serials are positive) and second bit set (so always 16 bytes long). */
export function randomSerial(): string {
  const bytes = globalThis.crypto.getRandomValues(new Uint8Array(16));
  bytes[0] = ((bytes[0] ?? 0) & 0x7f) | 0x40;
  let hex = '';
  for (const byte of bytes) hex += byte.toString(16).padStart(2, '0');
  return hex;
}

/** Whole seconds (what X.509 times hold), started early by the skew tolerance, capped at `capMs`. */
function validityWindow(now: number, validityMs: number, capMs = Number.POSITIVE_INFINITY) {
  if (!Number.isFinite(now)) {
    throw new EdgewardError(
      'EW_INTERNAL',
      `certificate time "now" must be milliseconds since the epoch, got ${now}`,
    );
  }
  const notBefore = Math.floor((now - CLOCK_SKEW_TOLERANCE_MS) / 1000) * 1000;
  const notAfter = Math.floor(Math.min(now + validityMs, capMs) / 1000) * 1000;
  return { notBefore: new Date(notBefore), notAfter: new Date(notAfter) };
}

function positive(value: number, name: string): number {
  if (!Number.isFinite(value) || value <= 0) {
    throw new EdgewardError('EW_INTERNAL', `certificate ${name} must be a positive number, got ${value}`);
  }
  return value;
}

function requireFleetOrganisation(fleet: string): void {
  if (!isValidFleetName(fleet) || fleet.length > MAX_COMMON_NAME_LENGTH) {
    throw new EdgewardError(
      'EW_SPIFFE_ID_INVALID',
      `fleet name "${fleet}" must be a lower-case DNS-style name of at most ${MAX_COMMON_NAME_LENGTH} characters, e.g. "acme.example"`,
    );
  }
}

function organisationOf(certificate: x509.X509Certificate): x509.JsonName {
  const organisation = certificate.subjectName.getField('O')[0];
  return organisation === undefined ? [] : [{ O: [organisation] }];
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are exactly what is refused
const CONTROL = /[\u0000-\u001f\u007f]/;

function requireCommonName(commonName: string): string {
  if (
    typeof commonName !== 'string' ||
    commonName.length === 0 ||
    commonName.length > MAX_COMMON_NAME_LENGTH ||
    CONTROL.test(commonName)
  ) {
    throw new EdgewardError(
      'EW_CERTIFICATE_NAME_INVALID',
      `common name "${commonName}" must be 1 to ${MAX_COMMON_NAME_LENGTH} printable characters`,
    );
  }
  return commonName;
}

const DNS_LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

/** Lower-cases and checks a DNS name (no wildcards: the manager names itself exactly). */
export function normalizeDnsName(name: string): string {
  const lower = typeof name === 'string' ? name.toLowerCase().replace(/\.$/, '') : '';
  if (lower.length === 0 || lower.length > 253 || !lower.split('.').every((label) => DNS_LABEL.test(label))) {
    throw new EdgewardError(
      'EW_CERTIFICATE_NAME_INVALID',
      `"${name}" is not a DNS name; use letters, digits and '-' in dot-separated labels, e.g. manager.example.com`,
    );
  }
  return lower;
}

const IPV4 = /^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;

/**
 * Checks an IP address and returns it in canonical form: dotted quad for IPv4, RFC 5952 for IPv6
 * (the WHATWG URL parser does the IPv6 parsing; zone ids such as `%eth0` are refused).
 */
export function normalizeIpAddress(address: string): string {
  if (typeof address === 'string' && IPV4.test(address)) return address;
  if (typeof address === 'string' && address.includes(':') && /^[0-9a-fA-F:.]+$/.test(address)) {
    try {
      return new URL(`http://[${address}]/`).hostname.slice(1, -1);
    } catch {
      // falls through to the error below
    }
  }
  throw new EdgewardError(
    'EW_CERTIFICATE_NAME_INVALID',
    `"${address}" is not an IP address; use IPv4 like 192.0.2.10 or IPv6 like 2001:db8::10`,
  );
}
