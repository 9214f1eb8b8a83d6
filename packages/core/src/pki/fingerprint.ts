import { EdgewardError } from '../errors/edgeward-error.ts';
import { decodeSinglePem } from './pem.ts';
import type { BufferSource } from './web-crypto.types.ts';

/** Lower-case hex SHA-256 of the certificate's DER encoding, without separators: Edgeward's one form. */
export async function certificateFingerprint(certPem: string): Promise<string> {
  // Only the PEM layer is decoded: the fingerprint is over the DER bytes as they are, and the agent pins
  // it without loading the X.509 parser.
  return await derFingerprint(
    decodeSinglePem(certPem, ['CERTIFICATE'], 'EW_CERTIFICATE_INVALID', 'certificate'),
  );
}

export async function derFingerprint(der: BufferSource): Promise<string> {
  return toHex(await globalThis.crypto.subtle.digest('SHA-256', der));
}

const PREFIX = /^sha-?256:/i;
const PLAIN = /^[0-9a-f]{64}$/i;
const PAIRS = /^[0-9a-f]{2}(?::[0-9a-f]{2}){31}$/i;

/**
 * Turns a SHA-256 fingerprint as people paste it (`AB:CD:…` from OpenSSL or a browser, `sha256:abcd…`,
 * any case, surrounding spaces) into the form {@link certificateFingerprint} returns, so that the two
 * compare with `===`. Throws EW_FINGERPRINT_INVALID naming the input otherwise.
 */
export function normalizeFingerprint(input: string): string {
  const body = String(input).trim().replace(PREFIX, '');
  if (PLAIN.test(body)) return body.toLowerCase();
  if (PAIRS.test(body)) return body.replaceAll(':', '').toLowerCase();
  throw new EdgewardError(
    'EW_FINGERPRINT_INVALID',
    `"${truncate(String(input))}" is not a SHA-256 fingerprint: expected 64 hex digits, as \`AB:CD:…\` pairs or prefixed with \`sha256:\``,
    { details: { input: truncate(String(input)) } },
  );
}

/** Lower-case hex; no Buffer, so that core also runs in the dashboard. */
export function toHex(bytes: ArrayBuffer | Uint8Array): string {
  const view = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  let hex = '';
  for (const byte of view) hex += byte.toString(16).padStart(2, '0');
  return hex;
}

function truncate(text: string): string {
  return text.length > 120 ? `${text.slice(0, 120)}…` : text;
}
