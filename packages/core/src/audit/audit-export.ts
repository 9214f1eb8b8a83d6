import * as z from 'zod/mini';
import { canonicalJson } from '../policy/canonical-json.ts';
import { useEnglishSchemaMessages } from '../validation/schema-messages.ts';
import {
  type AuditChainVerification,
  type AuditCheckpoint,
  type AuditEntry,
  type AuditSigner,
  auditSign,
  auditSignatureHolds,
  auditVerifier,
  verifyChainWith,
} from './audit-chain.ts';

/**
 * An export of the audit chain that anyone can verify offline with only the manager's audit public key
 * (`pki/audit-signing.pub`). The file is the canonical JSON of the bundle and one newline: every byte of it
 * is meant, so a changed byte either changes the data (and the chain or the signature no longer verifies)
 * or leaves text that is not the canonical form (refused as `malformed`).
 */
export interface AuditExportBundle {
  readonly format: 'edgeward-audit-export';
  readonly version: 1;
  readonly fleet: string;
  readonly exportedAt: number;
  readonly fromSeq: number;
  readonly entries: readonly AuditEntry[];
  /** The checkpoints covering entries of the export, ascending. */
  readonly checkpoints: readonly AuditCheckpoint[];
  /** The hash of entry fromSeq − 1 (64 zeros from seq 1). */
  readonly anchor: string;
  /** Ed25519 by the audit key over the canonical JSON of every other member: covers fleet, times, anchor. */
  readonly signature: { readonly alg: 'Ed25519'; readonly keyId: string; readonly value: string };
}

export type AuditExportVerification =
  | AuditChainVerification
  | {
      readonly ok: false;
      /** 0: the fault is not in an entry (the file, its header or its signature). */
      readonly firstBadSeq: number;
      readonly problem: 'malformed' | 'bad-signature';
      readonly message: string;
    };

const hashSchema = z.string().check(z.regex(/^[0-9a-f]{64}$/));
const seqSchema = z.number().check(z.int(), z.minimum(1));
const timeSchema = z.number().check(z.int(), z.minimum(0));

export const auditEntrySchema = z.object({
  seq: seqSchema,
  at: timeSchema,
  kind: z.string().check(z.minLength(1), z.maxLength(100)),
  actor: z.string().check(z.maxLength(300)),
  subject: z.string().check(z.maxLength(300)),
  details: z.record(z.string(), z.unknown()),
  prevHash: hashSchema,
  hash: hashSchema,
});

export const auditCheckpointSchema = z.object({
  seq: seqSchema,
  hash: hashSchema,
  at: timeSchema,
  keyId: z.string().check(z.minLength(1), z.maxLength(100)),
  signature: z.string().check(z.minLength(1), z.maxLength(200)),
});

export const auditExportBundleSchema = z.object({
  format: z.literal('edgeward-audit-export'),
  version: z.literal(1),
  fleet: z.string(),
  exportedAt: timeSchema,
  fromSeq: seqSchema,
  entries: z.array(auditEntrySchema),
  checkpoints: z.array(auditCheckpointSchema),
  anchor: hashSchema,
  signature: z.object({
    alg: z.literal('Ed25519'),
    keyId: z.string().check(z.minLength(1), z.maxLength(100)),
    value: z.string().check(z.minLength(1), z.maxLength(200)),
  }),
});

/** Builds and signs an export of `entries` (consecutive, from `fromSeq`) with the checkpoints covering them. */
export function signAuditExport(
  signer: AuditSigner,
  contents: Omit<AuditExportBundle, 'format' | 'version' | 'signature'>,
): AuditExportBundle {
  const unsigned = { format: 'edgeward-audit-export' as const, version: 1 as const, ...contents };
  return {
    ...unsigned,
    signature: { alg: 'Ed25519', keyId: signer.keyId, value: auditSign(signer, unsigned) },
  };
}

/** The text of an export file: canonical JSON and one newline. */
export function auditExportText(bundle: AuditExportBundle): string {
  return `${canonicalJson(bundle)}\n`;
}

/**
 * Verifies a parsed export with only the public key: its shape, its chain and checkpoints (locating the
 * first bad entry), then its own signature. Throws EW_AUDIT_KEY_INVALID only for an unusable key.
 */
export function verifyExport(bundle: unknown, publicKeyPem: string): AuditExportVerification {
  const verifier = auditVerifier(publicKeyPem);
  useEnglishSchemaMessages();
  const parsed = z.safeParse(auditExportBundleSchema, bundle);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where =
      issue === undefined ? '' : `${issue.path.map(String).join('.') || '(bundle)'}: ${issue.message}`;
    return { ok: false, firstBadSeq: 0, problem: 'malformed', message: `not an audit export: ${where}` };
  }
  const data = parsed.data;
  const chain = verifyChainWith(data.entries, data.checkpoints, verifier, {
    anchor: data.anchor,
    fromSeq: data.fromSeq,
  });
  if (!chain.ok) return chain;
  const { signature, ...unsigned } = bundle as AuditExportBundle;
  if (signature.keyId !== verifier.keyId || !auditSignatureHolds(verifier, unsigned, signature.value)) {
    return {
      ok: false,
      firstBadSeq: 0,
      problem: 'bad-signature',
      message: `the export's signature does not verify with key ${verifier.keyId}: its header was altered or another key signed it`,
    };
  }
  return chain;
}

/** Verifies the text of an export file: it must be exactly what `auditExportText` writes. */
export function verifyExportText(text: string, publicKeyPem: string): AuditExportVerification {
  let bundle: unknown;
  try {
    bundle = JSON.parse(text);
  } catch (error) {
    // The key is still checked, so a bad key is reported as such whatever the file holds.
    auditVerifier(publicKeyPem);
    return {
      ok: false,
      firstBadSeq: 0,
      problem: 'malformed',
      message: `the export is not JSON (${(error as Error).message})`,
    };
  }
  const result = verifyExport(bundle, publicKeyPem);
  if (!result.ok) return result;
  if (`${canonicalJson(bundle)}\n` !== text) {
    return {
      ok: false,
      firstBadSeq: 0,
      problem: 'malformed',
      message: 'the export is not in its canonical form: the file was edited after it was written',
    };
  }
  return result;
}
