import { createPrivateKey, createPublicKey, type KeyObject, sign } from 'node:crypto';
import { EdgewardError } from '../errors/edgeward-error.ts';
import { base64UrlSignatureHolds } from '../pki/signature.ts';
import { canonicalJson, sha256Hex } from '../policy/canonical-json.ts';
import { policyKeyId } from '../policy/policy-signing.ts';

/**
 * The manager's tamper-evident audit log: a hash chain of entries, each naming the hash of the one
 * before, with Ed25519-signed checkpoints every so often. Editing an entry breaks its own hash; deleting
 * or moving one breaks the links; rewriting the tail with recomputed hashes (or cutting it off) no
 * longer matches the last signed checkpoint. Pure functions: the manager stores, anyone verifies.
 */

/** What happened, in broad classes an auditor filters on. */
export type AuditEntryKind =
  | 'operator.action'
  | 'policy.version'
  | 'alert.state'
  | 'device.enrolled'
  | 'device.renewed'
  | 'device.revoked'
  | 'checkpoint'
  | (string & {});

/** What the caller says about an event; the chain adds seq, prevHash and hash. */
export interface AuditEntryInput {
  /** Milliseconds since the epoch (manager clock). */
  readonly at: number;
  readonly kind: AuditEntryKind;
  /** Who did it: `operator:<id>`, `device:<id>`, `system`. */
  readonly actor: string;
  /** What it was done to: a device id, `policy/3`, an alert id. */
  readonly subject: string;
  /** JSON data; canonical JSON must be able to carry it (no undefined in arrays, no NaN). */
  readonly details: Readonly<Record<string, unknown>>;
}

export interface AuditEntry extends AuditEntryInput {
  /** 1, 2, 3, … without gaps. */
  readonly seq: number;
  /** The hash of entry seq − 1; 64 zeros for entry 1. */
  readonly prevHash: string;
  /** SHA-256 (hex) of the RFC 8785 canonical JSON of this entry without `hash`. */
  readonly hash: string;
}

/** The manager's signed word that entry `seq` had hash `hash` at time `at`. */
export interface AuditCheckpoint {
  readonly seq: number;
  readonly hash: string;
  readonly at: number;
  /** base64url SHA-256 of the signing key's SubjectPublicKeyInfo (as for policy bundles). */
  readonly keyId: string;
  /** base64url Ed25519 signature over the canonical JSON of `{seq, hash, at}`. */
  readonly signature: string;
}

export type AuditChainProblem = 'edited' | 'deleted' | 'reordered' | 'truncated' | 'bad-checkpoint';

export type AuditChainVerification =
  | {
      readonly ok: true;
      /** Entries verified. */
      readonly entries: number;
      /** The highest checkpoint that verified, or null when none covers the chain yet. */
      readonly lastCheckpoint: AuditCheckpoint | null;
    }
  | {
      readonly ok: false;
      /** The first sequence number the problem touches. */
      readonly firstBadSeq: number;
      readonly problem: AuditChainProblem;
      readonly message: string;
    };

/** prevHash of entry 1. */
export const AUDIT_GENESIS_HASH = '0'.repeat(64);

/** The hash an entry must carry: over everything but `hash` itself. */
export function auditEntryHash(entry: Omit<AuditEntry, 'hash'> & { readonly hash?: string }): string {
  const { hash: _ignored, ...content } = entry;
  return sha256Hex(
    canonicalJson({
      seq: content.seq,
      at: content.at,
      kind: content.kind,
      actor: content.actor,
      subject: content.subject,
      details: content.details,
      prevHash: content.prevHash,
    }),
  );
}

/** The entry that follows `prev` (or starts the chain when `prev` is undefined). */
export function appendEntry(prev: AuditEntry | undefined, input: AuditEntryInput): AuditEntry {
  const content = {
    seq: prev === undefined ? 1 : prev.seq + 1,
    at: input.at,
    kind: input.kind,
    actor: input.actor,
    subject: input.subject,
    details: input.details,
    prevHash: prev === undefined ? AUDIT_GENESIS_HASH : prev.hash,
  };
  return { ...content, hash: auditEntryHash(content) };
}

/** The key that signs checkpoints (and exports), imported once. */
export interface AuditSigner {
  readonly keyId: string;
  readonly privateKey: KeyObject;
}

/** Throws EW_AUDIT_KEY_INVALID unless `privateKeyPem` is an Ed25519 private key (PKCS#8 PEM). */
export function auditSigner(privateKeyPem: string): AuditSigner {
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(privateKeyPem);
  } catch (error) {
    throw new EdgewardError(
      'EW_AUDIT_KEY_INVALID',
      'the audit signing key is not a PEM private key (PKCS#8)',
      {
        cause: error,
      },
    );
  }
  if (privateKey.asymmetricKeyType !== 'ed25519') {
    throw new EdgewardError(
      'EW_AUDIT_KEY_INVALID',
      `the audit signing key is a ${privateKey.asymmetricKeyType ?? 'unknown'} key; the audit chain is signed with Ed25519`,
    );
  }
  const publicKeyPem = createPublicKey(privateKey).export({ type: 'spki', format: 'pem' }).toString();
  return { keyId: policyKeyId(publicKeyPem), privateKey };
}

/** Signs `canonicalJson(value)` (base64url). */
export function auditSign(signer: AuditSigner, value: unknown): string {
  return sign(null, Buffer.from(canonicalJson(value), 'utf8'), signer.privateKey).toString('base64url');
}

export function signCheckpoint(signer: AuditSigner, entry: AuditEntry, at: number): AuditCheckpoint {
  return {
    seq: entry.seq,
    hash: entry.hash,
    at,
    keyId: signer.keyId,
    signature: auditSign(signer, { seq: entry.seq, hash: entry.hash, at }),
  };
}

/** A public key ready to verify with: its KeyObject and key id. */
export interface AuditVerifier {
  readonly keyId: string;
  readonly publicKey: KeyObject;
}

/** Throws EW_AUDIT_KEY_INVALID unless `publicKeyPem` is an Ed25519 public key (SPKI PEM). */
export function auditVerifier(publicKeyPem: string): AuditVerifier {
  let publicKey: KeyObject;
  try {
    publicKey = createPublicKey(publicKeyPem);
  } catch (error) {
    throw new EdgewardError(
      'EW_AUDIT_KEY_INVALID',
      "the audit public key is not a PEM public key (SPKI); use the manager's pki/audit-signing.pub",
      { cause: error },
    );
  }
  if (publicKey.asymmetricKeyType !== 'ed25519' || publicKey.type !== 'public') {
    throw new EdgewardError(
      'EW_AUDIT_KEY_INVALID',
      `the audit public key is a ${publicKey.asymmetricKeyType ?? 'unknown'} ${publicKey.type} key; use the manager's Ed25519 pki/audit-signing.pub`,
    );
  }
  return { keyId: policyKeyId(publicKeyPem), publicKey };
}

/** True when `signature` (base64url) is `verifier`'s over `canonicalJson(value)`. */
export function auditSignatureHolds(verifier: AuditVerifier, value: unknown, signature: string): boolean {
  return base64UrlSignatureHolds(null, () => canonicalJson(value), verifier.publicKey, signature);
}

function checkpointHolds(verifier: AuditVerifier, checkpoint: AuditCheckpoint): boolean {
  return (
    checkpoint.keyId === verifier.keyId &&
    auditSignatureHolds(
      verifier,
      { seq: checkpoint.seq, hash: checkpoint.hash, at: checkpoint.at },
      checkpoint.signature,
    )
  );
}

export interface VerifyChainOptions {
  /** The hash before the first entry given: zeros for a chain from seq 1, an export's anchor otherwise. */
  readonly anchor?: string;
  /** The seq the first entry must have; default 1. */
  readonly fromSeq?: number;
}

/**
 * Checks a chain (entries in the order stored or exported) against its checkpoints and the public key,
 * and names the first sequence number where it went wrong:
 *
 * - `edited`: an entry's content no longer gives its hash (or the hash it carries is not what the next
 *   entry links to);
 * - `deleted`: a sequence number is missing;
 * - `reordered`: an entry sits at another entry's place;
 * - `truncated`: the chain ends before, or diverges from, what a signed checkpoint covers (located at the
 *   first seq after the last checkpoint that still matches);
 * - `bad-checkpoint`: a checkpoint's signature or key does not verify.
 *
 * Throws EW_AUDIT_KEY_INVALID only for an unusable public key.
 */
export function verifyChain(
  entries: readonly AuditEntry[],
  checkpoints: readonly AuditCheckpoint[],
  publicKeyPem: string,
  options: VerifyChainOptions = {},
): AuditChainVerification {
  return verifyChainWith(entries, checkpoints, auditVerifier(publicKeyPem), options);
}

export function verifyChainWith(
  entries: readonly AuditEntry[],
  checkpoints: readonly AuditCheckpoint[],
  verifier: AuditVerifier,
  options: VerifyChainOptions = {},
): AuditChainVerification {
  const fromSeq = options.fromSeq ?? 1;
  const sortedCheckpoints = [...checkpoints].sort((a, b) => a.seq - b.seq);
  const checkpointsBySeq = new Map<number, AuditCheckpoint[]>();
  for (const checkpoint of sortedCheckpoints) {
    const list = checkpointsBySeq.get(checkpoint.seq) ?? [];
    list.push(checkpoint);
    checkpointsBySeq.set(checkpoint.seq, list);
  }
  for (const checkpoint of sortedCheckpoints) {
    if (checkpoint.seq < fromSeq) {
      return fail(
        checkpoint.seq,
        'bad-checkpoint',
        `checkpoint ${checkpoint.seq} lies before the first entry (${fromSeq})`,
      );
    }
  }
  let expectedPrev = options.anchor ?? AUDIT_GENESIS_HASH;
  let lastCheckpoint: AuditCheckpoint | null = null;
  const laterSeqs = new Map<number, number>();
  entries.forEach((entry, index) => {
    laterSeqs.set(entry.seq, index);
  });
  for (let index = 0; index < entries.length; index++) {
    const entry = entries[index] as AuditEntry;
    const expectedSeq = fromSeq + index;
    if (entry.seq !== expectedSeq) {
      if (hashesAs(entry, expectedSeq)) {
        return fail(expectedSeq, 'edited', `entry ${expectedSeq} carries seq ${entry.seq}`);
      }
      const elsewhere = laterSeqs.get(expectedSeq);
      if ((elsewhere !== undefined && elsewhere > index) || entry.seq < expectedSeq) {
        return fail(
          expectedSeq,
          'reordered',
          `entry ${entry.seq} sits where entry ${expectedSeq} belongs: the entries were reordered`,
        );
      }
      return fail(
        expectedSeq,
        'deleted',
        `entry ${expectedSeq} is missing: the chain goes on with entry ${entry.seq}`,
      );
    }
    if (auditEntryHashOrUndefined(entry) !== entry.hash) {
      const movedFrom = originalSeqOf(entry, fromSeq, fromSeq + entries.length - 1);
      if (movedFrom !== undefined) {
        return fail(
          entry.seq,
          'reordered',
          `entry ${entry.seq} holds the content of entry ${movedFrom}: the entries were reordered`,
        );
      }
      return fail(entry.seq, 'edited', `entry ${entry.seq} was altered: its content does not give its hash`);
    }
    if (entry.prevHash !== expectedPrev) {
      // The entry is consistent in itself, so what it links to changed: the one before it was rewritten
      // (with a recomputed hash), or, for the first entry, the anchor.
      const badSeq = index === 0 ? entry.seq : entry.seq - 1;
      return fail(
        badSeq,
        'edited',
        index === 0
          ? `entry ${entry.seq} does not link to the hash before it (${expectedPrev})`
          : `entry ${badSeq} was rewritten: entry ${entry.seq} links to another hash`,
      );
    }
    for (const checkpoint of checkpointsBySeq.get(entry.seq) ?? []) {
      if (!checkpointHolds(verifier, checkpoint)) {
        return fail(
          checkpoint.seq,
          'bad-checkpoint',
          `checkpoint ${checkpoint.seq} does not verify with key ${verifier.keyId}: it was altered or signed by another key`,
        );
      }
      if (checkpoint.hash !== entry.hash) {
        const since = lastCheckpoint === null ? fromSeq : lastCheckpoint.seq + 1;
        return fail(
          since,
          'truncated',
          `entry ${entry.seq} is not the one checkpoint ${checkpoint.seq} signed: the chain was cut and rewritten after entry ${since - 1}`,
        );
      }
      lastCheckpoint = checkpoint;
    }
    expectedPrev = entry.hash;
  }
  const end = fromSeq + entries.length - 1;
  const beyond = sortedCheckpoints.filter((checkpoint) => checkpoint.seq > end);
  const firstBeyond = beyond[0];
  if (firstBeyond !== undefined) {
    const signed = beyond.find((checkpoint) => checkpointHolds(verifier, checkpoint));
    if (signed === undefined) {
      return fail(
        firstBeyond.seq,
        'bad-checkpoint',
        `checkpoint ${firstBeyond.seq} does not verify with key ${verifier.keyId}`,
      );
    }
    return fail(
      end + 1,
      'truncated',
      `the chain ends at entry ${end} but checkpoint ${signed.seq} was signed: entries from ${end + 1} on are gone`,
    );
  }
  return { ok: true, entries: entries.length, lastCheckpoint };
}

function fail(firstBadSeq: number, problem: AuditChainProblem, message: string): AuditChainVerification {
  return { ok: false, firstBadSeq, problem, message };
}

function auditEntryHashOrUndefined(entry: AuditEntry): string | undefined {
  try {
    return auditEntryHash(entry);
  } catch {
    return undefined;
  }
}

function hashesAs(entry: AuditEntry, seq: number): boolean {
  return auditEntryHashOrUndefined({ ...entry, seq }) === entry.hash;
}

/** The seq whose place this content came from, when it verifies there; once per failed chain, so O(n). */
function originalSeqOf(entry: AuditEntry, from: number, to: number): number | undefined {
  for (let seq = from; seq <= to; seq++) {
    if (seq !== entry.seq && hashesAs(entry, seq)) return seq;
  }
  return undefined;
}
