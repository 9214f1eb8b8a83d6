/** A throw-away fleet CA for tests: root, issuing CA and helpers to mint device certificates. */
import {
  type CertificateIssuer,
  createIssuingCa,
  createRootCa,
  issueDeviceCertificate,
} from './authority.ts';
import { createCsr } from './csr-builder.ts';
import { generateDeviceKeyPair } from './keys.ts';
import { deviceSpiffeId } from './spiffe.ts';
import type { CryptoKeyPair } from './web-crypto.types.ts';

export const DAY_MS = 86_400_000;

export interface TestFleetCa {
  readonly fleet: string;
  readonly root: CertificateIssuer;
  readonly issuing: CertificateIssuer;
}

export async function createTestFleetCa(fleet = 'acme.example', now = Date.now()): Promise<TestFleetCa> {
  const rootKeys = await generateDeviceKeyPair();
  const root = {
    certPem: await createRootCa({ fleet, keys: rootKeys, now }),
    privateKey: rootKeys.privateKey,
  };
  const issuingKeys = await generateDeviceKeyPair();
  const issuing = {
    certPem: await createIssuingCa({ fleet, root, keys: issuingKeys, now }),
    privateKey: issuingKeys.privateKey,
  };
  return { fleet, root, issuing };
}

export async function issueTestDevice(
  ca: TestFleetCa,
  options: { readonly id?: string; readonly now?: number; readonly validityMs?: number } = {},
): Promise<{ readonly keys: CryptoKeyPair; readonly certPem: string; readonly serial: string }> {
  const id = options.id ?? 'device-1';
  const keys = await generateDeviceKeyPair();
  const issued = await issueDeviceCertificate({
    csrPem: await createCsr({ keys, commonName: id }),
    issuer: ca.issuing,
    spiffeId: deviceSpiffeId(ca.fleet, id),
    commonName: id,
    now: options.now ?? Date.now(),
    validityMs: options.validityMs ?? DAY_MS,
  });
  return { keys, certPem: issued.certPem, serial: issued.serial };
}
