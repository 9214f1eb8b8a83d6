import { EdgewardError } from '../errors/edgeward-error.ts';
import { exportPublicKeyPem, KEY_ALGORITHM } from './keys.ts';
import { decodeSinglePem, describe } from './pem.ts';
import type { Algorithm, CryptoKey, EcKeyAlgorithm, RsaKeyAlgorithm } from './web-crypto.types.ts';
import { x509 } from './x509-library.ts';

/** Larger than any honest P-256 CSR by two orders of magnitude; bounds the parser's work. */
export const MAX_CSR_PEM_LENGTH = 16_384;

export interface CheckedCsr {
  /** The requester's ECDSA P-256 public key, for verification only. */
  readonly publicKey: CryptoKey;
  readonly publicKeyPem: string;
}

/**
 * Parses a PKCS#10 request, requires an ECDSA P-256 key and verifies the request's signature with it:
 * proof that the sender holds the private key. Only the public key is returned: the requested subject,
 * SANs and extensions are deliberately ignored.
 * @throws EW_CSR_INVALID, EW_CSR_KEY_UNSUPPORTED, EW_CSR_SIGNATURE_INVALID
 */
export async function checkCsr(csrPem: string): Promise<CheckedCsr> {
  if (typeof csrPem !== 'string' || csrPem.length > MAX_CSR_PEM_LENGTH) {
    throw new EdgewardError(
      'EW_CSR_INVALID',
      `CSR must be a PEM string of at most ${MAX_CSR_PEM_LENGTH} characters`,
    );
  }
  const der = decodeSinglePem(
    csrPem,
    [x509.PemConverter.CertificateRequestTag, `NEW ${x509.PemConverter.CertificateRequestTag}`],
    'EW_CSR_INVALID',
    'CSR',
  );
  let csr: x509.Pkcs10CertificateRequest;
  let algorithm: Algorithm;
  try {
    csr = new x509.Pkcs10CertificateRequest(der);
    void [csr.subject, csr.signature, csr.publicKey];
  } catch (error) {
    throw new EdgewardError('EW_CSR_INVALID', `CSR is not a valid PKCS#10 request: ${describe(error)}`, {
      cause: error,
    });
  }
  try {
    algorithm = csr.publicKey.algorithm;
  } catch (error) {
    throw new EdgewardError(
      'EW_CSR_KEY_UNSUPPORTED',
      `CSR key algorithm is not recognised (${describe(error)}); only ECDSA P-256 keys are accepted`,
      { cause: error },
    );
  }

  const received = describeKeyAlgorithm(algorithm);
  if (received !== 'P-256') {
    throw new EdgewardError(
      'EW_CSR_KEY_UNSUPPORTED',
      `CSR key is ${received}; only ECDSA P-256 keys are accepted`,
      { details: { keyAlgorithm: received } },
    );
  }

  let publicKey: CryptoKey;
  try {
    publicKey = await globalThis.crypto.subtle.importKey('spki', csr.publicKey.rawData, KEY_ALGORITHM, true, [
      'verify',
    ]);
  } catch (error) {
    throw new EdgewardError('EW_CSR_KEY_UNSUPPORTED', `CSR P-256 key cannot be used: ${describe(error)}`, {
      cause: error,
    });
  }

  let verified: boolean;
  try {
    verified = await csr.verify();
  } catch (error) {
    // A mangled signature makes the library throw rather than answer false; both mean "not proven".
    throw new EdgewardError(
      'EW_CSR_SIGNATURE_INVALID',
      `CSR signature does not verify with its own key (${describe(error)}); create the CSR with the device key and send it unchanged`,
      { cause: error },
    );
  }
  if (!verified) {
    throw new EdgewardError(
      'EW_CSR_SIGNATURE_INVALID',
      'CSR signature does not verify with its own key; create the CSR with the device key and send it unchanged',
    );
  }
  return { publicKey, publicKeyPem: await exportPublicKeyPem(publicKey) };
}

/** `P-256`, `P-384`, `RSA-2048`, `Ed25519`…: what a key is, in the words of an error message. */
function describeKeyAlgorithm(algorithm: Algorithm): string {
  const { name } = algorithm;
  if (name === 'ECDSA' || name === 'ECDH') {
    const curve = (algorithm as Partial<EcKeyAlgorithm>).namedCurve;
    return typeof curve === 'string' ? curve : 'an EC key on an unnamed curve';
  }
  const modulusLength = (algorithm as Partial<RsaKeyAlgorithm>).modulusLength;
  if (name.startsWith('RSA')) return typeof modulusLength === 'number' ? `RSA-${modulusLength}` : 'RSA';
  return name;
}
