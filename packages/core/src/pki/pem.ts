import { EdgewardError } from '../errors/edgeward-error.ts';
import type { ErrorCode } from '../errors/error-catalog.ts';
import { decodePemBlocks, encodePemBlock, type PemBlock } from './pem-codec.ts';
import type { BufferSource } from './web-crypto.types.ts';
import { x509 } from './x509-library.ts';

/** PEM label Node's TLS (OpenSSL) requires for CRLs; @peculiar/x509 writes plain `CRL`, which it refuses. */
export const CRL_PEM_LABEL = 'X509 CRL';

/** Decodes the single PEM block of one of `labels`, or throws `code` naming what was expected. */
export function decodeSinglePem(
  pem: string,
  labels: readonly string[],
  code: ErrorCode,
  what: string,
): ArrayBuffer {
  let blocks: PemBlock[];
  try {
    blocks = typeof pem === 'string' ? decodePemBlocks(pem) : [];
  } catch (error) {
    throw new EdgewardError(code, `${what} is not valid PEM: ${describe(error)}`, { cause: error });
  }
  const first = blocks[0];
  if (blocks.length !== 1 || first === undefined) {
    throw new EdgewardError(
      code,
      `${what} must be exactly one PEM block (-----BEGIN ${labels[0]}-----), found ${blocks.length}`,
    );
  }
  if (!labels.includes(first.type)) {
    throw new EdgewardError(
      code,
      `${what} is a PEM "${first.type}" block; expected ${labels.map((l) => `"${l}"`).join(' or ')}`,
    );
  }
  return first.der.buffer.slice(
    first.der.byteOffset,
    first.der.byteOffset + first.der.byteLength,
  ) as ArrayBuffer;
}

export function encodePem(der: BufferSource, label: string): string {
  return encodePemBlock(der, label);
}

/**
 * Splits concatenated PEM certificates (a chain file, or a leaf followed by its intermediates) into one
 * PEM string per certificate, in the order given. Blocks of other types are refused, so that a key
 * pasted into a chain file is noticed rather than ignored.
 */
export function splitPemChain(pem: string): string[] {
  let blocks: PemBlock[];
  try {
    blocks = decodePemBlocks(pem);
  } catch (error) {
    throw new EdgewardError(
      'EW_CERTIFICATE_INVALID',
      `certificate chain is not valid PEM: ${describe(error)}`,
      {
        cause: error,
      },
    );
  }
  if (blocks.length === 0) {
    throw new EdgewardError('EW_CERTIFICATE_INVALID', 'certificate chain holds no PEM CERTIFICATE block');
  }
  return blocks.map((block, index) => {
    if (block.type !== 'CERTIFICATE') {
      throw new EdgewardError(
        'EW_CERTIFICATE_INVALID',
        `certificate chain block ${index + 1} is a PEM "${block.type}" block; only CERTIFICATE blocks belong in a chain`,
      );
    }
    return encodePem(block.der, 'CERTIFICATE');
  });
}

export function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Parses one PEM certificate, throwing EW_CERTIFICATE_INVALID (naming `what`) if it is not one. */
export function readCertificate(certPem: string, what = 'certificate'): x509.X509Certificate {
  const der = decodeSinglePem(certPem, [x509.PemConverter.CertificateTag], 'EW_CERTIFICATE_INVALID', what);
  try {
    const certificate = new x509.X509Certificate(der);
    // The library decodes fields lazily: touch them here so a malformed one fails as invalid input.
    void [certificate.subject, certificate.issuer, certificate.notBefore, certificate.notAfter];
    void [certificate.serialNumber, certificate.publicKey, certificate.extensions];
    return certificate;
  } catch (error) {
    throw new EdgewardError(
      'EW_CERTIFICATE_INVALID',
      `${what} is not a valid X.509 certificate: ${describe(error)}`,
      {
        cause: error,
      },
    );
  }
}

/** Parses one PEM CRL (`X509 CRL`, or the `CRL` label some tools write), throwing EW_CERTIFICATE_INVALID. */
export function readCrl(crlPem: string, what = 'CRL'): x509.X509Crl {
  const der = decodeSinglePem(
    crlPem,
    [CRL_PEM_LABEL, x509.PemConverter.CrlTag],
    'EW_CERTIFICATE_INVALID',
    what,
  );
  try {
    const crl = new x509.X509Crl(der);
    void [crl.issuer, crl.thisUpdate, crl.nextUpdate, crl.entries, crl.extensions];
    return crl;
  } catch (error) {
    throw new EdgewardError(
      'EW_CERTIFICATE_INVALID',
      `${what} is not a valid X.509 CRL: ${describe(error)}`,
      {
        cause: error,
      },
    );
  }
}
