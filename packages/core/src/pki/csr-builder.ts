import { SIGNING_ALGORITHM } from './keys.ts';
import { encodePemBlock } from './pem-codec.ts';
import type { CryptoKeyPair } from './web-crypto.types.ts';

/**
 * A PKCS#10 certificate signing request (RFC 2986) for an ECDSA P-256 key, DER-encoded by hand. Devices
 * make one at enrollment and at every renewal; building it here keeps the X.509 library, and the
 * megabytes of memory it holds once loaded, off the device. The manager parses it with the library.
 */
export interface CreateCsrParams {
  readonly keys: CryptoKeyPair;
  /** Informational only: the manager sets the certificate's subject itself. */
  readonly commonName: string;
}

const OID_COMMON_NAME = [0x06, 0x03, 0x55, 0x04, 0x03];
const OID_ECDSA_WITH_SHA256 = [0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02];

export async function createCsr(params: CreateCsrParams): Promise<string> {
  const spki = new Uint8Array(await globalThis.crypto.subtle.exportKey('spki', params.keys.publicKey));
  const subject = tlv(0x30, [
    tlv(0x31, [
      tlv(0x30, [Uint8Array.from(OID_COMMON_NAME), tlv(0x0c, [new TextEncoder().encode(params.commonName)])]),
    ]),
  ]);
  const info = tlv(0x30, [Uint8Array.from([0x02, 0x01, 0x00]), subject, spki, Uint8Array.from([0xa0, 0x00])]);
  const rawSignature = new Uint8Array(
    await globalThis.crypto.subtle.sign(SIGNING_ALGORITHM, params.keys.privateKey, info),
  );
  const request = tlv(0x30, [
    info,
    tlv(0x30, [Uint8Array.from(OID_ECDSA_WITH_SHA256)]),
    tlv(0x03, [Uint8Array.from([0x00]), ecdsaSignatureToDer(rawSignature)]),
  ]);
  return encodePemBlock(request, 'CERTIFICATE REQUEST');
}

/** WebCrypto signs ECDSA as r‖s; X.509 wants SEQUENCE { INTEGER r, INTEGER s }. */
function ecdsaSignatureToDer(raw: Uint8Array): Uint8Array {
  const half = raw.length / 2;
  return tlv(0x30, [derInteger(raw.subarray(0, half)), derInteger(raw.subarray(half))]);
}

function derInteger(unsigned: Uint8Array): Uint8Array {
  let start = 0;
  while (start < unsigned.length - 1 && unsigned[start] === 0) start += 1;
  const trimmed = unsigned.subarray(start);
  const needsPad = ((trimmed[0] ?? 0) & 0x80) !== 0;
  return tlv(0x02, needsPad ? [Uint8Array.from([0]), trimmed] : [trimmed]);
}

function tlv(tag: number, parts: readonly Uint8Array[]): Uint8Array {
  const length = parts.reduce((total, part) => total + part.length, 0);
  const header = [tag, ...encodeLength(length)];
  const out = new Uint8Array(header.length + length);
  out.set(header, 0);
  let offset = header.length;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

function encodeLength(length: number): number[] {
  if (length < 0x80) return [length];
  const bytes: number[] = [];
  for (let rest = length; rest > 0; rest >>= 8) bytes.unshift(rest & 0xff);
  return [0x80 | bytes.length, ...bytes];
}
