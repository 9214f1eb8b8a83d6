import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  sign,
} from 'node:crypto';
import * as z from 'zod/mini';
import { EdgewardError } from '../errors/edgeward-error.ts';
import { base64UrlSignatureHolds } from '../pki/signature.ts';
import { isoTime } from '../text/iso-time.ts';
import { useEnglishSchemaMessages } from '../validation/schema-messages.ts';
import { canonicalJson, policyDigest } from './canonical-json.ts';
import {
  type PolicyBundle,
  type PolicyBundlePayload,
  policyBundlePayloadSchema,
  policyBundleSchema,
} from './policy-bundle.schema.ts';

/**
 * Signing and verifying policy bundles: Ed25519 (node:crypto, synchronous) over the RFC 8785 canonical
 * JSON of the payload. The manager signs with its policy key; agents and sites verify with the public key
 * they pinned at enrollment, offline.
 */

export interface PolicyKeyPair {
  /** PKCS#8 PEM. */
  readonly privateKeyPem: string;
  /** SubjectPublicKeyInfo PEM: what agents pin. */
  readonly publicKeyPem: string;
}

export type PolicyBundleRefusal =
  | 'malformed'
  | 'unsigned'
  | 'wrong-key'
  | 'bad-signature'
  | 'digest-mismatch'
  | 'older';

export type PolicyBundleVerification =
  | {
      readonly ok: true;
      readonly payload: PolicyBundlePayload;
      /** Newer than the bundle in force (or nothing is in force): replace it. False: the same bundle again. */
      readonly fresh: boolean;
    }
  | { readonly ok: false; readonly reason: PolicyBundleRefusal; readonly message: string };

export interface VerifyPolicyBundleOptions {
  /** The pinned public key (SPKI PEM); only bundles signed by it are accepted. */
  readonly publicKeyPem: string;
  /** The bundle being enforced; an older one is refused (rollback protection). */
  readonly inForce?: { readonly version: number; readonly issuedAt: number };
}

export function generatePolicyKeyPair(): PolicyKeyPair {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519', {
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  });
  return { privateKeyPem: privateKey, publicKeyPem: publicKey };
}

/** base64url SHA-256 of the key's SubjectPublicKeyInfo (DER): names the key inside a signature. */
export function policyKeyId(publicKeyPem: string): string {
  return keyIdOf(importPublicKey(publicKeyPem));
}

/** The public half (SPKI PEM) of a policy private key. */
export function policyPublicKeyOf(privateKeyPem: string): string {
  return createPublicKey(importPrivateKey(privateKeyPem)).export({ type: 'spki', format: 'pem' }).toString();
}

/**
 * Signs `payload` as it is, after checking it against the bundle schema and its policy digest: a payload
 * that agents would refuse is a defect here (EW_INTERNAL), not something to ship.
 */
export function signPolicyBundle(payload: PolicyBundlePayload, privateKeyPem: string): PolicyBundle {
  const privateKey = importPrivateKey(privateKeyPem);
  useEnglishSchemaMessages();
  const checked = z.safeParse(policyBundlePayloadSchema, payload);
  if (!checked.success) {
    throw new EdgewardError(
      'EW_INTERNAL',
      `refusing to sign a malformed policy bundle payload: ${describeIssues(checked.error.issues, 'payload')}`,
    );
  }
  // What agents verify is the payload as sent; parsing must not change it (fill in a default), or the
  // digest an agent computes over its parsed copy would differ from the one signed.
  if (canonicalJson(checked.data) !== canonicalJson(payload)) {
    throw new EdgewardError(
      'EW_INTERNAL',
      `refusing to sign policy bundle ${payload.version}: its payload lacks defaults the schema fills in; sign the parsed payload`,
    );
  }
  if (policyDigest(payload.policy) !== payload.policyDigest) {
    throw new EdgewardError(
      'EW_INTERNAL',
      `refusing to sign policy bundle ${payload.version}: policyDigest is not the digest of its policy`,
    );
  }
  const value = sign(null, Buffer.from(canonicalJson(payload), 'utf8'), privateKey).toString('base64url');
  return {
    payload,
    signature: { alg: 'Ed25519', keyId: keyIdOf(createPublicKey(privateKey)), value },
  };
}

/**
 * Checks a received bundle, in this order: its shape (`malformed`, naming the field), a signature at all
 * (`unsigned`), the key it names against the pinned one (`wrong-key`), the signature over the canonical
 * JSON of the payload (`bad-signature`), the policy against its digest (`digest-mismatch`), and its age
 * against the bundle in force (`older`: a lower version, or the same version issued earlier).
 *
 * Throws EW_POLICY_KEY_INVALID only when the pinned key itself is unusable; every fault of the bundle is
 * a refusal in the result.
 */
export function verifyPolicyBundle(
  bundle: unknown,
  options: VerifyPolicyBundleOptions,
): PolicyBundleVerification {
  const publicKey = importPublicKey(options.publicKeyPem);
  useEnglishSchemaMessages();
  if (typeof bundle !== 'object' || bundle === null || Array.isArray(bundle)) {
    return refuse('malformed', 'the policy bundle is not a JSON object');
  }
  const { payload: rawPayload, signature: rawSignature } = bundle as {
    payload?: unknown;
    signature?: unknown;
  };
  const payload = z.safeParse(policyBundlePayloadSchema, rawPayload);
  if (!payload.success) {
    return refuse(
      'malformed',
      `the policy bundle is malformed: ${describeIssues(payload.error.issues, 'payload')}`,
    );
  }
  if (isMissingSignature(rawSignature)) {
    return refuse('unsigned', `policy bundle ${payload.data.version} carries no signature`);
  }
  const parsed = z.safeParse(policyBundleSchema, bundle);
  if (!parsed.success) {
    return refuse('malformed', `the policy bundle is malformed: ${describeIssues(parsed.error.issues)}`);
  }
  const { signature } = parsed.data;
  const pinnedKeyId = keyIdOf(publicKey);
  if (signature.keyId !== pinnedKeyId) {
    return refuse(
      'wrong-key',
      `policy bundle ${payload.data.version} is signed by key ${signature.keyId}, not by the pinned key ${pinnedKeyId}`,
    );
  }
  // Over the payload as received: what was signed is what was sent, whatever defaults parsing fills in.
  if (!signatureHolds(canonicalJsonOrUndefined(rawPayload), signature.value, publicKey)) {
    return refuse(
      'bad-signature',
      `the signature of policy bundle ${payload.data.version} does not verify: the bundle was altered or forged`,
    );
  }
  if (policyDigest(payload.data.policy) !== payload.data.policyDigest) {
    return refuse(
      'digest-mismatch',
      `policy bundle ${payload.data.version} carries a policy whose digest is not its policyDigest`,
    );
  }
  const { version, issuedAt } = payload.data;
  const inForce = options.inForce;
  if (inForce !== undefined) {
    if (version < inForce.version || (version === inForce.version && issuedAt < inForce.issuedAt)) {
      return refuse(
        'older',
        `policy bundle ${version} issued at ${isoTime(issuedAt)} is older than the bundle in force (${inForce.version}, issued at ${isoTime(inForce.issuedAt)})`,
      );
    }
  }
  const fresh =
    inForce === undefined ||
    version > inForce.version ||
    (version === inForce.version && issuedAt > inForce.issuedAt);
  return { ok: true, payload: payload.data, fresh };
}

/** True from `expiresAt` on: the agent keeps enforcing an expired bundle, and reports it as stale. */
export function isBundleExpired(payload: PolicyBundlePayload, now: number): boolean {
  return now >= payload.expiresAt;
}

function refuse(reason: PolicyBundleRefusal, message: string): PolicyBundleVerification {
  return { ok: false, reason, message };
}

function isMissingSignature(signature: unknown): boolean {
  if (signature === undefined || signature === null) return true;
  if (typeof signature !== 'object') return false;
  const value = (signature as { value?: unknown }).value;
  return value === undefined || value === null || value === '';
}

function signatureHolds(message: string | undefined, value: string, publicKey: KeyObject): boolean {
  if (message === undefined) return false;
  return base64UrlSignatureHolds(null, () => message, publicKey, value);
}

function canonicalJsonOrUndefined(value: unknown): string | undefined {
  try {
    return canonicalJson(value);
  } catch {
    return undefined;
  }
}

function keyIdOf(publicKey: KeyObject): string {
  return createHash('sha256')
    .update(publicKey.export({ type: 'spki', format: 'der' }))
    .digest('base64url');
}

function importPublicKey(pem: string): KeyObject {
  let key: KeyObject;
  try {
    key = createPublicKey(pem);
  } catch (error) {
    throw new EdgewardError('EW_POLICY_KEY_INVALID', 'the policy public key is not a PEM public key (SPKI)', {
      cause: error,
    });
  }
  if (key.asymmetricKeyType !== 'ed25519') {
    throw new EdgewardError(
      'EW_POLICY_KEY_INVALID',
      `the policy public key is a ${key.asymmetricKeyType ?? 'unknown'} key; policy bundles are verified with Ed25519`,
    );
  }
  return key;
}

function importPrivateKey(pem: string): KeyObject {
  let key: KeyObject;
  try {
    key = createPrivateKey(pem);
  } catch (error) {
    throw new EdgewardError(
      'EW_POLICY_KEY_INVALID',
      'the policy signing key is not a PEM private key (PKCS#8)',
      {
        cause: error,
      },
    );
  }
  if (key.asymmetricKeyType !== 'ed25519') {
    throw new EdgewardError(
      'EW_POLICY_KEY_INVALID',
      `the policy signing key is a ${key.asymmetricKeyType ?? 'unknown'} key; policy bundles are signed with Ed25519`,
    );
  }
  return key;
}

function describeIssues(issues: readonly z.core.$ZodIssue[], prefix?: string): string {
  return issues
    .slice(0, 5)
    .map((issue) => {
      const path = [...(prefix === undefined ? [] : [prefix]), ...issue.path.map(String)].join('.');
      return `${path || '(bundle)'}: ${issue.message}`;
    })
    .join('; ');
}
