import { createHash, createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import * as z from 'zod/mini';
import { EdgewardError } from '../errors/edgeward-error.ts';
import { PROTOCOL_VERSION } from '../protocol/device-api.schema.ts';
import {
  AUDIT_GENESIS_HASH,
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

/** base64url SHA-256 of the key's SubjectPublicKeyInfo, as for the manager's keys. */
function keyIdOf(publicKey: KeyObject): string {
  return createHash('sha256')
    .update(publicKey.export({ type: 'spki', format: 'der' }))
    .digest('base64url');
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
  return { keyId: keyIdOf(createPublicKey(privateKey)), privateKey };
}

/** A device's public key (from its certificate) as a checkpoint verifier. */
export function deviceAuditVerifier(publicKey: KeyObject): AuditVerifier {
  ecKey(publicKey, 'the device public key');
  return { keyId: keyIdOf(publicKey), publicKey };
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
  /** The device certificate whose key signed the checkpoint. */
  certificatePem: z.string().check(z.minLength(1), z.maxLength(16_384)),
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
  readonly anchors: (AuditCheckpoint & { readonly managerSeq: number; readonly certificatePem: string })[];
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

export type DeviceAuditExtension =
  | { readonly ok: true; readonly fresh: readonly AuditEntry[] }
  | { readonly ok: false; readonly firstBadSeq: number; readonly message: string };

/**
 * Whether an upload extends the device chain the manager holds: entries it already holds must be the
 * same (a resend after a lost reply), the new ones must link on from its latest entry, and the
 * checkpoint must cover the last of them and carry the device's signature. Anything else means the
 * device's history was rewritten after it was anchored (or the upload was forged).
 */
export function checkDeviceAuditExtension(
  held: { readonly latest: AuditEntry | undefined; readonly hashAt: (seq: number) => string | undefined },
  upload: { readonly entries: readonly AuditEntry[]; readonly checkpoint: AuditCheckpoint },
  verifier: AuditVerifier,
): DeviceAuditExtension {
  const heldSeq = held.latest?.seq ?? 0;
  for (const entry of upload.entries) {
    if (entry.seq > heldSeq) break;
    if (held.hashAt(entry.seq) !== entry.hash) {
      return {
        ok: false,
        firstBadSeq: entry.seq,
        message: `entry ${entry.seq} differs from the one anchored before: the device chain was rewritten`,
      };
    }
  }
  const fresh = upload.entries.filter((entry) => entry.seq > heldSeq);
  const lastSeq = fresh.at(-1)?.seq ?? heldSeq;
  if (upload.checkpoint.seq !== lastSeq) {
    return {
      ok: false,
      firstBadSeq: Math.min(upload.checkpoint.seq, lastSeq + 1),
      message: `the checkpoint covers entry ${upload.checkpoint.seq}, not the last one sent (${lastSeq})`,
    };
  }
  if (fresh.length === 0) {
    const verified = verifyChainWith(
      held.latest === undefined ? [] : [held.latest],
      [upload.checkpoint],
      verifier,
      {
        anchor: held.latest?.prevHash ?? AUDIT_GENESIS_HASH,
        fromSeq: heldSeq === 0 ? 1 : heldSeq,
      },
    );
    return verified.ok
      ? { ok: true, fresh }
      : { ok: false, firstBadSeq: verified.firstBadSeq, message: verified.message };
  }
  const verified = verifyChainWith(fresh, [upload.checkpoint], verifier, {
    anchor: held.latest?.hash ?? AUDIT_GENESIS_HASH,
    fromSeq: heldSeq + 1,
  });
  return verified.ok
    ? { ok: true, fresh }
    : { ok: false, firstBadSeq: verified.firstBadSeq, message: verified.message };
}
