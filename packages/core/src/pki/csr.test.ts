import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isEdgewardError } from '../errors/edgeward-error.ts';
import type { ErrorCode } from '../errors/error-catalog.ts';
import { checkCsr, MAX_CSR_PEM_LENGTH } from './csr.ts';
import { createCsr } from './csr-builder.ts';
import { exportPublicKeyPem, generateDeviceKeyPair } from './keys.ts';
import type { Algorithm, CryptoKeyPair, EcdsaParams } from './web-crypto.types.ts';
import { x509 } from './x509-library.ts';

function rejectsWith(code: ErrorCode, pattern?: RegExp) {
  return (error: unknown) => {
    assert.ok(isEdgewardError(error, code), `expected ${code}, got ${String(error)}`);
    if (pattern !== undefined) assert.match(error.message, pattern);
    return true;
  };
}

// Minimal DER walking, enough to take a CSR apart into its three top-level parts.
function children(der: Uint8Array): Uint8Array[] {
  const { contentStart, end } = header(der, 0);
  const parts: Uint8Array[] = [];
  for (let offset = contentStart; offset < end; ) {
    const part = header(der, offset);
    parts.push(der.subarray(offset, part.end));
    offset = part.end;
  }
  return parts;
}

function header(der: Uint8Array, offset: number): { contentStart: number; end: number } {
  const first = der[offset + 1] ?? 0;
  if (first < 0x80) return { contentStart: offset + 2, end: offset + 2 + first };
  const count = first & 0x7f;
  let length = 0;
  for (let i = 0; i < count; i += 1) length = length * 256 + (der[offset + 2 + i] ?? 0);
  return { contentStart: offset + 2 + count, end: offset + 2 + count + length };
}

function sequence(...parts: Uint8Array[]): Uint8Array {
  const length = parts.reduce((sum, part) => sum + part.length, 0);
  const lengthBytes = length < 0x80 ? [length] : [0x82, length >> 8, length & 0xff];
  return Uint8Array.from([0x30, ...lengthBytes, ...parts.flatMap((part) => [...part])]);
}

const toPem = (der: Uint8Array) => x509.PemConverter.encode(der, 'CERTIFICATE REQUEST');
const fromPem = (pem: string) => new Uint8Array(x509.PemConverter.decodeFirst(pem));

async function csrFor(keys: CryptoKeyPair, signingAlgorithm: Algorithm | EcdsaParams): Promise<string> {
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: 'CN=device',
    keys,
    signingAlgorithm,
  });
  return csr.toString('pem');
}

describe('checkCsr', () => {
  it('returns the public key of a P-256 CSR signed by its own key', async () => {
    const keys = await generateDeviceKeyPair();
    const checked = await checkCsr(await createCsr({ keys, commonName: 'device-1' }));
    assert.equal(checked.publicKeyPem, await exportPublicKeyPem(keys.publicKey));
    assert.equal(checked.publicKey.type, 'public');
  });

  it('accepts the NEW CERTIFICATE REQUEST label that older tools write', async () => {
    const keys = await generateDeviceKeyPair();
    const der = fromPem(await createCsr({ keys, commonName: 'device-1' }));
    await checkCsr(x509.PemConverter.encode(der, 'NEW CERTIFICATE REQUEST'));
  });

  for (const [label, input] of [
    ['an empty string', ''],
    ['text that is not PEM', 'hello, I am a device'],
    ['a PEM block of another type', '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n'],
    [
      'a CSR label around bytes that are not DER',
      '-----BEGIN CERTIFICATE REQUEST-----\nZ2FyYmFnZSBnYXJiYWdl\n-----END CERTIFICATE REQUEST-----\n',
    ],
    [
      'an input over the size limit',
      `-----BEGIN CERTIFICATE REQUEST-----\n${'A'.repeat(MAX_CSR_PEM_LENGTH)}\n-----END CERTIFICATE REQUEST-----\n`,
    ],
  ] as const) {
    it(`rejects ${label} as EW_CSR_INVALID`, async () => {
      await assert.rejects(checkCsr(input), rejectsWith('EW_CSR_INVALID'));
    });
  }

  it('rejects a truncated CSR as EW_CSR_INVALID', async () => {
    const der = fromPem(await createCsr({ keys: await generateDeviceKeyPair(), commonName: 'device-1' }));
    await assert.rejects(checkCsr(toPem(der.subarray(0, der.length - 20))), rejectsWith('EW_CSR_INVALID'));
  });

  it('rejects two CSRs in one PEM as EW_CSR_INVALID', async () => {
    const one = await createCsr({ keys: await generateDeviceKeyPair(), commonName: 'a' });
    await assert.rejects(checkCsr(one + one), rejectsWith('EW_CSR_INVALID'));
  });

  it('rejects a CSR whose signature was altered as EW_CSR_SIGNATURE_INVALID', async () => {
    const der = fromPem(await createCsr({ keys: await generateDeviceKeyPair(), commonName: 'device-1' }));
    // The last byte is inside the signature's s value: the structure stays valid, the signature not.
    const tampered = Uint8Array.from(der);
    tampered[tampered.length - 1] = (tampered.at(-1) ?? 0) ^ 0x01;
    await assert.rejects(checkCsr(toPem(tampered)), rejectsWith('EW_CSR_SIGNATURE_INVALID'));
  });

  it("rejects another key's request body under this key's signature as EW_CSR_SIGNATURE_INVALID", async () => {
    const mine = children(
      fromPem(await createCsr({ keys: await generateDeviceKeyPair(), commonName: 'me' })),
    );
    const theirs = children(
      fromPem(await createCsr({ keys: await generateDeviceKeyPair(), commonName: 'me' })),
    );
    const [, algorithm, signature] = mine;
    const [theirBody] = theirs;
    assert.ok(theirBody && algorithm && signature);
    const swapped = toPem(sequence(theirBody, algorithm, signature));
    await assert.rejects(checkCsr(swapped), rejectsWith('EW_CSR_SIGNATURE_INVALID'));
  });

  it('rejects an RSA key as EW_CSR_KEY_UNSUPPORTED naming RSA-2048', async () => {
    const keys = (await crypto.subtle.generateKey(
      {
        name: 'RSASSA-PKCS1-v1_5',
        modulusLength: 2048,
        publicExponent: new Uint8Array([1, 0, 1]),
        hash: 'SHA-256',
      },
      true,
      ['sign', 'verify'],
    )) as CryptoKeyPair;
    const csr = await csrFor(keys, { name: 'RSASSA-PKCS1-v1_5' });
    await assert.rejects(checkCsr(csr), rejectsWith('EW_CSR_KEY_UNSUPPORTED', /RSA-2048/));
  });

  it('rejects a P-384 key as EW_CSR_KEY_UNSUPPORTED naming P-384', async () => {
    const keys = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-384' }, true, [
      'sign',
      'verify',
    ]);
    const csr = await csrFor(keys, { name: 'ECDSA', hash: 'SHA-384' } as EcdsaParams);
    await assert.rejects(checkCsr(csr), rejectsWith('EW_CSR_KEY_UNSUPPORTED', /P-384/));
  });

  it('rejects an Ed25519 key as EW_CSR_KEY_UNSUPPORTED naming Ed25519', async () => {
    // Node's typings return CryptoKey | CryptoKeyPair for this overload; signing keys always come as a pair.
    const keys = (await crypto.subtle.generateKey({ name: 'Ed25519' }, true, [
      'sign',
      'verify',
    ])) as unknown as CryptoKeyPair;
    const csr = await csrFor(keys, { name: 'Ed25519' });
    await assert.rejects(checkCsr(csr), rejectsWith('EW_CSR_KEY_UNSUPPORTED', /Ed25519/));
  });
});

describe('createCsr without the X.509 library', () => {
  it('builds a request that the X.509 library parses, with the subject asked for and a valid signature', async () => {
    for (let round = 0; round < 20; round += 1) {
      const keys = await generateDeviceKeyPair();
      const pem = await createCsr({ keys, commonName: `device-${round}` });
      const parsed = new x509.Pkcs10CertificateRequest(pem);
      assert.equal(parsed.subject, `CN=device-${round}`);
      assert.equal(await parsed.verify(), true);
      const checked = await checkCsr(pem);
      assert.equal(checked.publicKeyPem, await exportPublicKeyPem(keys.publicKey));
    }
  });
});
