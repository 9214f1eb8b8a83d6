import { type KeyObject, verify } from 'node:crypto';
import { decodeCanonicalBase64Url } from '../text/base64url.ts';

/**
 * True when `signature`, in base64url's one canonical spelling, is `key`'s signature over the UTF-8 of
 * the text `signed` gives. Every verifier of a signed export, bundle, overlay or manifest checks through
 * here, so that none reads a signature leniently (decodeCanonicalBase64Url). Anything that does not
 * verify is false, never a throw: another spelling, a key that does not parse, and a signed value that
 * has no text (`signed` runs inside).
 */
export function base64UrlSignatureHolds(
  algorithm: 'sha256' | null,
  signed: () => string,
  key: KeyObject | string,
  signature: string,
): boolean {
  const signatureBytes = decodeCanonicalBase64Url(signature);
  if (signatureBytes === undefined) return false;
  try {
    return verify(algorithm, Buffer.from(signed(), 'utf8'), key, signatureBytes);
  } catch {
    return false;
  }
}
