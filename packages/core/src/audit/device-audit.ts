import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import * as z from 'zod/mini';
import { EdgewardError } from '../errors/edgeward-error.ts';
import { policyKeyId } from '../policy/policy-signing.ts';
import { PROTOCOL_VERSION } from '../protocol/device-api.schema.ts';
import {
  type AuditChainVerification,
  type AuditCheckpoint,
  type AuditEntry,
  type AuditSigner,
  type AuditVerifier,
  verifyChainWith,
} from './audit-chain.ts';

/**
 * A device's own audit chain: the same hash chain as the manager's (audit-chain.ts), with checkpoints
 * signed by the device key (ECDSA P-256, the key of its fleet certificate) instead of Ed25519. The agent
 * sends its new entries and a checkpoint over them with its uploads; the manager checks that they extend
 * what it holds and that the device signed the checkpoint, stores them, and records an anchor entry in
 * its own chain. The device cannot rewrite what was anchored (its next upload no longer links), and the
 * manager cannot rewrite the device's entries (the device's signature over the anchored hash fails).
 */

function ecKey(key: KeyObject, what: string): void {
  if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    throw new EdgewardError(
      'EW_AUDIT_KEY_INVALID',
      `${what} is a ${key.asymmetricKeyType ?? 'unknown'} key; a device chain is signed with its ECDSA P-256 device key`,
    );
  }
}

/** The device key as a checkpoint signer (signatures: ECDSA with SHA-256, DER, base64url). */
export function deviceAuditSigner(privateKeyPem: string): AuditSigner {
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(privateKeyPem);
  } catch (error) {
    throw new EdgewardError('EW_AUDIT_KEY_INVALID', 'the device key is not a PEM private key', {
      cause: error,
    });
  }
  ecKey(privateKey, 'the device key');
  const publicKeyPem = createPublicKey(privateKey).export({ type: 'spki', format: 'pem' }).toString();
  return { keyId: policyKeyId(publicKeyPem), privateKey };
}

/** A device's public key (from its certificate) as a checkpoint verifier. */
export function deviceAuditVerifier(publicKey: KeyObject): AuditVerifier {
  ecKey(publicKey, 'the device public key');
  const publicKeyPem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
  return { keyId: policyKeyId(publicKeyPem), publicKey };
}

const auditEntrySchema = z.object({
  seq: z.number().check(z.int(), z.minimum(1)),
  at: z.number().check(z.int()),
  kind: z.string().check(z.minLength(1), z.maxLength(100)),
  actor: z.string().check(z.maxLength(200)),
  subject: z.string().check(z.maxLength(500)),
  details: z.record(z.string(), z.unknown()),
  prevHash: z.string().check(z.regex(/^[0-9a-f]{64}$/)),
  hash: z.string().check(z.regex(/^[0-9a-f]{64}$/)),
});

const checkpointSchema = z.object({
  seq: z.number().check(z.int(), z.minimum(1)),
  hash: z.string().check(z.regex(/^[0-9a-f]{64}$/)),
  at: z.number().check(z.int()),
  keyId: z.string().check(z.minLength(1), z.maxLength(100)),
  signature: z.string().check(z.minLength(1), z.maxLength(512)),
});

/** POST /v1/audit: entries after the last anchored one, oldest first, and a checkpoint over the last. */
export const deviceAuditUploadSchema = z.object({
  v: z.literal(PROTOCOL_VERSION),
  entries: z.array(auditEntrySchema).check(z.maxLength(5000)),
  checkpoint: checkpointSchema,
});
export type DeviceAuditUpload = z.infer<typeof deviceAuditUploadSchema>;

/** The manager's answer: the highest seq it holds anchored. */
export interface DeviceAuditAnchorReply {
  readonly v: typeof PROTOCOL_VERSION;
  readonly anchoredSeq: number;
}

/** What `GET /api/v1/audit/devices/:id` returns: the device chain as the manager holds it. */
export interface DeviceAuditChainView {
  readonly deviceId: string;
  readonly entries: AuditEntry[];
  /** The anchored checkpoints, each with the manager chain entry that anchored it. */
  readonly anchors: (AuditCheckpoint & { readonly managerSeq: number })[];
  readonly certificatePem: string | null;
}

export type DeviceAuditVerifyView = AuditChainVerification & {
  readonly deviceId: string;
  readonly anchors: number;
};

/** Verifies a device chain against its anchors and the device key. */
export function verifyDeviceChain(
  entries: readonly AuditEntry[],
  anchors: readonly AuditCheckpoint[],
  publicKey: KeyObject,
): AuditChainVerification {
  return verifyChainWith(entries, anchors, deviceAuditVerifier(publicKey));
}
