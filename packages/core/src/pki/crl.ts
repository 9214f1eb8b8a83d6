import { EdgewardError } from '../errors/edgeward-error.ts';
import { type CertificateIssuer, keyIdentifierOf } from './authority.ts';
import { SIGNING_ALGORITHM } from './keys.ts';
import { CRL_PEM_LABEL, encodePem, readCertificate, readCrl } from './pem.ts';
import { x509 } from './x509-library.ts';

const CRL_NUMBER_OID = '2.5.29.20';
/** RFC 5280: CRL numbers are at most 20 octets. */
const MAX_CRL_NUMBER = (1n << 159n) - 1n;

export interface RevokedCertificate {
  /** Hex serial, any case. */
  readonly serial: string;
  /** Milliseconds since the epoch. */
  readonly revokedAt: number;
}

export interface CreateCrlParams {
  /** The CA that issued the revoked certificates (OpenSSL matches CRLs to it by name and key id). */
  readonly issuer: CertificateIssuer;
  readonly revoked: readonly RevokedCertificate[];
  /** Milliseconds since the epoch. */
  readonly thisUpdate: number;
  /**
   * Milliseconds since the epoch. Past it, Node's TLS refuses every certificate from this issuer
   * (X509_V_ERR_CRL_HAS_EXPIRED), so the manager must publish a new CRL well before.
   */
  readonly nextUpdate: number;
  /** Monotonically increasing per issuer, so that the newest CRL can be told apart. */
  readonly crlNumber: number | bigint;
}

/**
 * A signed CRL (PEM, `-----BEGIN X509 CRL-----`, the label Node's `tls` `crl` option requires) with the
 * CRL number and authority key identifier extensions.
 */
export async function createCrl(params: CreateCrlParams): Promise<string> {
  const { issuer, thisUpdate, nextUpdate } = params;
  if (!Number.isFinite(thisUpdate) || !Number.isFinite(nextUpdate) || nextUpdate <= thisUpdate) {
    throw new EdgewardError(
      'EW_INTERNAL',
      `CRL nextUpdate (${nextUpdate}) must be a time after thisUpdate (${thisUpdate})`,
    );
  }
  const crlNumber = BigInt(params.crlNumber);
  if (crlNumber < 0n || crlNumber > MAX_CRL_NUMBER) {
    throw new EdgewardError('EW_INTERNAL', `CRL number ${crlNumber} must be between 0 and 2^159 - 1`);
  }
  const issuerCertificate = readCertificate(issuer.certPem, 'CRL issuer certificate');
  const crl = await x509.X509CrlGenerator.create({
    issuer: issuerCertificate.subjectName,
    thisUpdate: new Date(thisUpdate),
    nextUpdate: new Date(nextUpdate),
    signingKey: issuer.privateKey,
    signingAlgorithm: SIGNING_ALGORITHM,
    entries: params.revoked.map((entry) => ({
      serialNumber: normalizeSerial(entry.serial),
      revocationDate: new Date(entry.revokedAt),
    })),
    extensions: [
      new x509.AuthorityKeyIdentifierExtension(await keyIdentifierOf(issuerCertificate)),
      new x509.Extension(CRL_NUMBER_OID, false, encodeDerUnsignedInteger(crlNumber)),
    ],
  });
  return encodePem(crl.rawData, CRL_PEM_LABEL);
}

export interface ParsedCrl {
  readonly issuer: string;
  /** Milliseconds since the epoch. */
  readonly thisUpdate: number;
  readonly nextUpdate: number | undefined;
  readonly crlNumber: bigint | undefined;
  readonly revoked: readonly RevokedCertificate[];
}

/** Reads a CRL without checking its signature (verifyCertificateChain does that against its issuer). */
export function parseCrl(crlPem: string): ParsedCrl {
  const crl = readCrl(crlPem);
  const numberExtension = crl.getExtension(CRL_NUMBER_OID);
  return {
    issuer: crl.issuer,
    thisUpdate: crl.thisUpdate.getTime(),
    nextUpdate: crl.nextUpdate?.getTime(),
    crlNumber: numberExtension === null ? undefined : decodeDerUnsignedInteger(numberExtension.value),
    revoked: crl.entries.map((entry) => ({
      serial: entry.serialNumber.toLowerCase(),
      revokedAt: entry.revocationDate.getTime(),
    })),
  };
}

/** Lower-case hex of even length; separators (`:`) from tools' output are dropped. */
export function normalizeSerial(serial: string): string {
  const hex = typeof serial === 'string' ? serial.replaceAll(':', '').toLowerCase() : '';
  if (!/^[0-9a-f]{1,40}$/.test(hex)) {
    throw new EdgewardError(
      'EW_CERTIFICATE_NAME_INVALID',
      `certificate serial "${serial}" is not a hex number of at most 20 bytes`,
    );
  }
  return hex.length % 2 === 0 ? hex : `0${hex}`;
}

// @peculiar/x509 has no CRL number extension class; an unsigned DER INTEGER is all it holds.
export function encodeDerUnsignedInteger(value: bigint): Uint8Array {
  let hex = value.toString(16);
  if (hex.length % 2 === 1) hex = `0${hex}`;
  // A leading 1 bit would read as negative: prefix a zero byte.
  if (Number.parseInt(hex.slice(0, 2), 16) >= 0x80) hex = `00${hex}`;
  const content = Uint8Array.from(hex.match(/../g) ?? [], (pair) => Number.parseInt(pair, 16));
  return Uint8Array.from([0x02, content.length, ...content]);
}

export function decodeDerUnsignedInteger(der: ArrayBuffer | Uint8Array): bigint | undefined {
  const bytes = der instanceof Uint8Array ? der : new Uint8Array(der);
  const length = bytes[1];
  if (bytes[0] !== 0x02 || length === undefined || length === 0 || length > 0x7f) return undefined;
  if (bytes.length !== length + 2 || ((bytes[2] ?? 0) & 0x80) !== 0) return undefined;
  let value = 0n;
  for (const byte of bytes.subarray(2)) value = (value << 8n) | BigInt(byte);
  return value;
}
