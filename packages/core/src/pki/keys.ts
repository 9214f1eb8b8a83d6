import { EdgewardError } from '../errors/edgeward-error.ts';
import { decodeSinglePem, describe, encodePem, readCertificate } from './pem.ts';
import type { CryptoKey, CryptoKeyPair, EcdsaParams, EcKeyImportParams } from './web-crypto.types.ts';

/** Every Edgeward key, CA or device, is ECDSA on P-256. */
export const KEY_ALGORITHM: EcKeyImportParams = { name: 'ECDSA', namedCurve: 'P-256' };
export const SIGNING_ALGORITHM: EcdsaParams = { name: 'ECDSA', hash: 'SHA-256' };

/**
 * A new ECDSA P-256 key pair. The private key is extractable so that it can be saved as PKCS#8 (the
 * agent's and the manager's data directories) and handed to Node's TLS as PEM.
 */
export async function generateDeviceKeyPair(): Promise<CryptoKeyPair> {
  return await globalThis.crypto.subtle.generateKey(KEY_ALGORITHM, true, ['sign', 'verify']);
}

/** PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`), the form Node's `tls` `key` option takes as is. */
export async function exportPrivateKeyPem(key: CryptoKey): Promise<string> {
  const der = await globalThis.crypto.subtle.exportKey('pkcs8', key);
  return encodePem(der, 'PRIVATE KEY');
}

/** SubjectPublicKeyInfo PEM (`-----BEGIN PUBLIC KEY-----`). */
export async function exportPublicKeyPem(key: CryptoKey): Promise<string> {
  const der = await globalThis.crypto.subtle.exportKey('spki', key);
  return encodePem(der, 'PUBLIC KEY');
}

/**
 * Reads an unencrypted PKCS#8 ECDSA P-256 private key, as written by {@link exportPrivateKeyPem}.
 * Throws EW_PKI_FILE_INVALID for anything else (SEC1 `EC PRIVATE KEY`, RSA, encrypted keys).
 * @param options.extractable default true, as generated keys are: the PEM it came from is in memory
 *   anyway, and callers derive the public key or write the key out again.
 */
export async function importPrivateKeyPem(
  pem: string,
  options: { readonly extractable?: boolean } = {},
): Promise<CryptoKey> {
  const der = decodeSinglePem(pem, ['PRIVATE KEY'], 'EW_PKI_FILE_INVALID', 'private key');
  try {
    return await globalThis.crypto.subtle.importKey(
      'pkcs8',
      der,
      KEY_ALGORITHM,
      options.extractable ?? true,
      ['sign'],
    );
  } catch (error) {
    throw new EdgewardError(
      'EW_PKI_FILE_INVALID',
      `private key is not an ECDSA P-256 PKCS#8 key (${describe(error)}); convert a SEC1 key with \`openssl pkcs8 -topk8 -nocrypt\``,
      { cause: error },
    );
  }
}

/**
 * Reads a PKCS#8 P-256 private key (as {@link importPrivateKeyPem}) together with its public key, which
 * WebCrypto cannot derive directly: the private JWK carries the public point, so dropping `d` gives it.
 */
export async function importKeyPairPem(pem: string): Promise<CryptoKeyPair> {
  const privateKey = await importPrivateKeyPem(pem, { extractable: true });
  const {
    d: _secret,
    key_ops: _ops,
    ...publicJwk
  } = await globalThis.crypto.subtle.exportKey('jwk', privateKey);
  const publicKey = await globalThis.crypto.subtle.importKey('jwk', publicJwk, KEY_ALGORITHM, true, [
    'verify',
  ]);
  return { privateKey, publicKey };
}

/**
 * Whether `privateKey` is the key certified by `certPem`, proven by signing a random challenge; for
 * checking a key file against its certificate file before serving with them.
 */
export async function privateKeyMatchesCertificate(privateKey: CryptoKey, certPem: string): Promise<boolean> {
  const certificate = readCertificate(certPem);
  const challenge = globalThis.crypto.getRandomValues(new Uint8Array(32));
  try {
    const publicKey = await certificate.publicKey.export(KEY_ALGORITHM, ['verify']);
    const signature = await globalThis.crypto.subtle.sign(SIGNING_ALGORITHM, privateKey, challenge);
    return await globalThis.crypto.subtle.verify(SIGNING_ALGORITHM, publicKey, signature, challenge);
  } catch {
    // A key of another type or curve cannot sign or verify here: it is not the pair, by definition.
    return false;
  }
}
