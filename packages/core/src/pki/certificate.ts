import { isoTime } from '../text/iso-time.ts';
import { derFingerprint } from './fingerprint.ts';
import { describe, readCertificate, readCrl, splitPemChain } from './pem.ts';
import { x509 } from './x509-library.ts';

export interface ParsedCertificate {
  /** Lower-case hex, no separators. */
  readonly serial: string;
  /** RFC 4514-like string, e.g. `CN=device-1, O=acme.example`. */
  readonly subject: string;
  readonly issuer: string;
  /** Milliseconds since the epoch. */
  readonly notBefore: number;
  readonly notAfter: number;
  /** Lower-case hex SHA-256 of the DER. */
  readonly fingerprint: string;
  /** URI SANs, e.g. the SPIFFE id. */
  readonly uris: readonly string[];
  readonly dnsNames: readonly string[];
  /** IPv4 dotted quads and RFC 5952 IPv6. */
  readonly ipAddresses: readonly string[];
  /** Of a CA: how many CAs it allows below itself, when constrained. */
  readonly pathLength?: number;
}

/** Reads the fields Edgeward uses from one PEM certificate; throws EW_CERTIFICATE_INVALID. */
export async function parseCertificate(certPem: string): Promise<ParsedCertificate> {
  const certificate = readCertificate(certPem);
  const names = certificate.getExtension(x509.SubjectAlternativeNameExtension)?.names.toJSON() ?? [];
  const valuesOf = (type: x509.GeneralNameType) =>
    names.filter((name) => name.type === type).map((name) => name.value);
  return {
    serial: certificate.serialNumber.toLowerCase(),
    subject: certificate.subject,
    issuer: certificate.issuer,
    notBefore: certificate.notBefore.getTime(),
    notAfter: certificate.notAfter.getTime(),
    fingerprint: await derFingerprint(certificate.rawData),
    uris: valuesOf('url'),
    dnsNames: valuesOf('dns'),
    ipAddresses: valuesOf('ip'),
    ...pathLengthOf(certificate),
  };
}

function pathLengthOf(certificate: x509.X509Certificate): { pathLength?: number } {
  const constraints = certificate.getExtension(x509.BasicConstraintsExtension);
  return constraints?.ca === true && constraints.pathLength !== undefined
    ? { pathLength: constraints.pathLength }
    : {};
}

export interface VerifyCertificateChainParams {
  /** The leaf, optionally followed by intermediates (as a TLS peer presents them). */
  readonly certPem: string;
  /** Further candidate intermediates, each possibly a concatenation. */
  readonly intermediatesPem?: string | readonly string[];
  /** The one trust anchor: a self-signed root. */
  readonly rootPem: string;
  /** Milliseconds since the epoch at which every certificate (and CRL) must be valid. */
  readonly at: number;
  /**
   * CRLs (PEM). When given, every certificate below the root must be covered by a current CRL from
   * its issuer and not be listed in it, as Node's TLS does with its `crl` option; when omitted,
   * revocation is not checked.
   */
  readonly crlsPem?: readonly string[];
  /** Required extended key usage of the leaf, when given. */
  readonly usage?: 'clientAuth' | 'serverAuth';
}

/** `true`, or why not: a sentence naming the certificate at fault. */
export type ChainVerification = true | string;

/**
 * Validates a certificate path to `rootPem` at time `at`: signatures (by @peculiar/x509's
 * X509ChainBuilder), then what the builder does not check — that the path ends at this root,
 * validity periods, CA flags, key usages, path lengths, the leaf's usage and, if CRLs are given,
 * revocation. The leaf may itself be a CA (to check an issuing CA against a pinned root). Malformed
 * input yields its reason, never an exception.
 */
export async function verifyCertificateChain(
  params: VerifyCertificateChainParams,
): Promise<ChainVerification> {
  let leaf: x509.X509Certificate;
  let root: x509.X509Certificate;
  let candidates: x509.X509Certificate[];
  let crls: x509.X509Crl[];
  try {
    const [leafPem, ...presented] = splitPemChain(params.certPem);
    leaf = readCertificate(leafPem ?? '', 'leaf certificate');
    root = readCertificate(params.rootPem, 'root certificate');
    const extra =
      typeof params.intermediatesPem === 'string'
        ? [params.intermediatesPem]
        : (params.intermediatesPem ?? []);
    candidates = [...presented, ...extra.flatMap((pem) => splitPemChain(pem))].map((pem) =>
      readCertificate(pem, 'intermediate certificate'),
    );
    crls = (params.crlsPem ?? []).map((pem) => readCrl(pem));
  } catch (error) {
    return describe(error);
  }
  if (!Number.isFinite(params.at))
    return `verification time ${params.at} is not milliseconds since the epoch`;
  const at = new Date(params.at);

  let selfSigned: boolean;
  try {
    selfSigned = await root.isSelfSigned();
  } catch {
    // A key the library cannot use cannot anchor anything.
    selfSigned = false;
  }
  if (!selfSigned) return `root "${root.subject}" is not a self-signed certificate`;

  let chain: x509.X509Certificate[];
  try {
    chain = [...(await new x509.X509ChainBuilder({ certificates: [...candidates, root] }).build(leaf))];
  } catch (error) {
    return `no certificate path could be built: ${describe(error)}`;
  }
  const top = chain.at(-1);
  if (chain.length < 2 || top === undefined || !sameDer(top, root)) {
    return `"${leaf.subject}" does not chain to the root "${root.subject}"`;
  }

  for (const certificate of chain) {
    if (at < certificate.notBefore)
      return `"${certificate.subject}" is not valid yet at ${isoTime(at.getTime())}`;
    if (at > certificate.notAfter) return `"${certificate.subject}" has expired at ${isoTime(at.getTime())}`;
  }

  for (const [index, issuer] of chain.entries()) {
    if (index === 0) continue;
    const constraints = issuer.getExtension(x509.BasicConstraintsExtension);
    if (constraints?.ca !== true) return `issuer "${issuer.subject}" is not a CA`;
    const usage = issuer.getExtension(x509.KeyUsagesExtension);
    if (usage !== null && (usage.usages & x509.KeyUsageFlags.keyCertSign) === 0) {
      return `issuer "${issuer.subject}" may not sign certificates (no keyCertSign)`;
    }
    // Intermediate CAs below this one; the leaf does not count (RFC 5280 4.2.1.9).
    const below = index - 1;
    if (constraints.pathLength !== undefined && below > constraints.pathLength) {
      return `issuer "${issuer.subject}" allows ${constraints.pathLength} CAs below it, the path has ${below}`;
    }
  }

  if (params.usage !== undefined) {
    const eku = leaf.getExtension(x509.ExtendedKeyUsageExtension);
    const wanted = x509.ExtendedKeyUsage[params.usage];
    if (eku !== null && !eku.usages.includes(wanted)) {
      return `leaf "${leaf.subject}" is not for ${params.usage}`;
    }
  }

  if (params.crlsPem !== undefined) {
    for (let index = 0; index + 1 < chain.length; index += 1) {
      const reason = await revocationProblem(chain[index]!, chain[index + 1]!, crls, at);
      if (reason !== undefined) return reason;
    }
  }

  return true;
}

async function revocationProblem(
  certificate: x509.X509Certificate,
  issuer: x509.X509Certificate,
  crls: readonly x509.X509Crl[],
  at: Date,
): Promise<string | undefined> {
  const fromIssuer: x509.X509Crl[] = [];
  for (const crl of crls) {
    if (crl.issuer !== issuer.subject) continue;
    try {
      if (await crl.verify({ publicKey: issuer })) fromIssuer.push(crl);
    } catch {
      // A CRL that does not verify with this issuer's key is not this issuer's: skip it.
    }
  }
  const current = fromIssuer
    .filter((crl) => crl.thisUpdate <= at)
    .sort((a, b) => b.thisUpdate.getTime() - a.thisUpdate.getTime())[0];
  if (current === undefined)
    return `no current CRL from "${issuer.subject}" to check "${certificate.subject}"`;
  if (current.nextUpdate !== undefined && at > current.nextUpdate) {
    return `the CRL from "${issuer.subject}" expired at ${isoTime(current.nextUpdate.getTime())}`;
  }
  if (current.findRevoked(certificate.serialNumber) !== null) {
    return `"${certificate.subject}" (serial ${certificate.serialNumber.toLowerCase()}) is revoked`;
  }
  return undefined;
}

function sameDer(a: x509.X509Certificate, b: x509.X509Certificate): boolean {
  const left = new Uint8Array(a.rawData);
  const right = new Uint8Array(b.rawData);
  return left.length === right.length && left.every((byte, index) => byte === right[index]);
}
