import { createHash, type KeyObject, sign, X509Certificate } from 'node:crypto';
import * as z from 'zod/mini';
import { base64UrlSignatureHolds } from '../pki/signature.ts';
import { canonicalJson } from '../policy/canonical-json.ts';
import { PROTOCOL_VERSION } from '../protocol/device-api.schema.ts';

/**
 * Forensic evidence from a device: a bundle is the concatenation of its items' bytes (volatile data
 * first, then files), described by a manifest that names each item's range and SHA-256, the SHA-256 of
 * every upload chunk and of the whole, and is signed on the device with its key (ECDSA P-256, the key of
 * its fleet certificate). The manager checks each chunk against the manifest as it arrives, and the
 * whole once complete; anyone holding the device certificate can check it again later.
 */

const version = z.literal(PROTOCOL_VERSION);
const sha256Schema = z.string().check(z.regex(/^[0-9a-f]{64}$/));
const count = z.number().check(z.int(), z.minimum(0));

export const evidenceItemSchema = z.object({
  /** `volatile/processes.json`, `files/etc/passwd`: unique within the bundle. */
  name: z.string().check(z.minLength(1), z.maxLength(4096)),
  kind: z.enum(['volatile', 'file']),
  /** Where a file item came from on the device (relative to the agent's root). */
  path: z.optional(z.string().check(z.maxLength(4096))),
  /** Byte range within the bundle. */
  offset: count,
  bytes: count,
  sha256: sha256Schema,
  /** The size cap cut the item short. */
  truncated: z._default(z.boolean(), false),
});
export type EvidenceItem = z.infer<typeof evidenceItemSchema>;

export const evidenceManifestSchema = z.object({
  v: version,
  id: z.uuid(),
  deviceId: z.string().check(z.minLength(1), z.maxLength(100)),
  /** The capture command, or null when a local rule asked for it. */
  commandId: z.nullable(z.uuid()),
  trigger: z.enum(['command', 'rule']),
  ruleId: z.nullable(z.string().check(z.maxLength(200))),
  reason: z.string().check(z.maxLength(500)),
  /** Device clock. */
  startedAt: z.number().check(z.int()),
  collectedAt: z.number().check(z.int()),
  /** The size cap the capture ran under, bytes. */
  capBytes: count,
  totalBytes: count,
  sha256: sha256Schema,
  /** Upload chunks are this long (the last one may be shorter), each with its SHA-256 below. */
  chunkBytes: z.number().check(z.int(), z.minimum(1)),
  chunks: z.array(sha256Schema),
  items: z.array(evidenceItemSchema).check(z.maxLength(10_000)),
  /** What was asked for and not taken (missing, unreadable, over the cap), with why. */
  skipped: z.array(z.object({ path: z.string(), reason: z.string() })),
});
export type EvidenceManifest = z.infer<typeof evidenceManifestSchema>;

/** POST /v1/evidence: the device announces a bundle (again, to learn where to resume). */
export const evidenceOfferSchema = z.object({
  v: version,
  manifest: evidenceManifestSchema,
  /** base64url ECDSA P-256 (SHA-256, DER) signature over the canonical JSON of `manifest`. */
  signature: z.string().check(z.minLength(1), z.maxLength(512)),
  /** The device certificate whose key signed it. */
  certificatePem: z.string().check(z.minLength(1), z.maxLength(16_384)),
});
export type EvidenceOffer = z.infer<typeof evidenceOfferSchema>;

/** The manager's answer to an offer and to each chunk: where the upload stands. */
export interface EvidenceUploadState {
  readonly v: typeof PROTOCOL_VERSION;
  readonly id: string;
  /** Bytes stored so far: the offset of the next chunk. */
  readonly receivedBytes: number;
  readonly state: EvidenceState;
}

export type EvidenceState = 'uploading' | 'verified' | 'rejected';

/** The chunk boundaries of a bundle of `totalBytes`. */
export function evidenceChunkCount(totalBytes: number, chunkBytes: number): number {
  return Math.ceil(totalBytes / chunkBytes);
}

export function sha256OfBytes(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Signs the manifest with the device's private key (ECDSA P-256 → SHA-256, DER, base64url). */
export function signEvidenceManifest(manifest: EvidenceManifest, privateKey: KeyObject): string {
  return sign('sha256', Buffer.from(canonicalJson(manifest), 'utf8'), privateKey).toString('base64url');
}

export type EvidenceVerification =
  | { readonly ok: true }
  | {
      readonly ok: false;
      readonly problem: 'certificate' | 'signature' | 'size' | 'chunk' | 'item' | 'bundle-hash';
      readonly message: string;
    };

/** The public key of a PEM certificate, or undefined when it is not one. */
export function certificatePublicKey(certificatePem: string): KeyObject | undefined {
  try {
    return new X509Certificate(certificatePem).publicKey;
  } catch {
    return undefined;
  }
}

/** SHA-256 (hex) of the certificate's DER form, as the registry records it. */
export function certificateDerSha256(certificatePem: string): string | undefined {
  try {
    return sha256OfBytes(new X509Certificate(certificatePem).raw);
  } catch {
    return undefined;
  }
}

/** Checks the manifest's signature with the certificate's key. */
export function evidenceSignatureHolds(
  manifest: EvidenceManifest,
  signature: string,
  certificatePem: string,
): EvidenceVerification {
  const key = certificatePublicKey(certificatePem);
  if (key === undefined)
    return { ok: false, problem: 'certificate', message: 'the certificate is not PEM X.509' };
  const holds = base64UrlSignatureHolds(
    'sha256',
    () => canonicalJson(manifest),
    key.export({ type: 'spki', format: 'pem' }).toString(),
    signature,
  );
  return holds
    ? { ok: true }
    : {
        ok: false,
        problem: 'signature',
        message: 'the manifest signature does not verify with the device certificate',
      };
}

/** Checks one chunk (index `index`) against the manifest. */
export function evidenceChunkHolds(manifest: EvidenceManifest, index: number, bytes: Uint8Array): boolean {
  const expectedLength = Math.min(manifest.chunkBytes, manifest.totalBytes - index * manifest.chunkBytes);
  return bytes.length === expectedLength && manifest.chunks[index] === sha256OfBytes(bytes);
}

/**
 * Verifies a whole bundle: the signature with the certificate, the length, every chunk, every item and
 * the whole bundle's SHA-256. The first problem found is reported.
 */
export function verifyEvidence(
  manifest: EvidenceManifest,
  signature: string,
  certificatePem: string,
  bundle: Uint8Array,
): EvidenceVerification {
  const signed = evidenceSignatureHolds(manifest, signature, certificatePem);
  if (!signed.ok) return signed;
  if (bundle.length !== manifest.totalBytes) {
    return {
      ok: false,
      problem: 'size',
      message: `the bundle holds ${bundle.length} bytes; its manifest names ${manifest.totalBytes}`,
    };
  }
  const chunks = evidenceChunkCount(manifest.totalBytes, manifest.chunkBytes);
  if (chunks !== manifest.chunks.length) {
    return {
      ok: false,
      problem: 'chunk',
      message: `the manifest lists ${manifest.chunks.length} chunks for ${chunks}`,
    };
  }
  for (let index = 0; index < chunks; index++) {
    const start = index * manifest.chunkBytes;
    if (!evidenceChunkHolds(manifest, index, bundle.subarray(start, start + manifest.chunkBytes))) {
      return {
        ok: false,
        problem: 'chunk',
        message: `chunk ${index} (from byte ${start}) does not give its SHA-256`,
      };
    }
  }
  for (const item of manifest.items) {
    const content = bundle.subarray(item.offset, item.offset + item.bytes);
    if (item.offset + item.bytes > bundle.length || sha256OfBytes(content) !== item.sha256) {
      return { ok: false, problem: 'item', message: `item ${item.name} does not give its SHA-256` };
    }
  }
  if (sha256OfBytes(bundle) !== manifest.sha256) {
    return {
      ok: false,
      problem: 'bundle-hash',
      message: 'the bundle does not give the SHA-256 its manifest names',
    };
  }
  return { ok: true };
}

/** POST /api/v1/devices/:id/capture and the `capture` command's parameters. */
export const captureParamsSchema = z.object({
  reason: z.string().check(z.minLength(1), z.maxLength(500)),
  /** Files to take after the volatile data, besides those the agent is configured with. */
  files: z._default(z.array(z.string().check(z.minLength(1), z.maxLength(4096))).check(z.maxLength(64)), []),
});
export type CaptureParams = z.infer<typeof captureParamsSchema>;
export const captureDeviceRequestSchema = captureParamsSchema;
export type CaptureDeviceRequest = z.input<typeof captureDeviceRequestSchema>;

/** GET /api/v1/evidence */
export const evidenceListQuerySchema = z.object({
  device: z.optional(z.string().check(z.minLength(1), z.maxLength(100))),
  limit: z._default(z.coerce.number().check(z.int(), z.minimum(1), z.maximum(1000)), 100),
});

export interface EvidenceView {
  readonly id: string;
  readonly deviceId: string;
  readonly commandId: string | null;
  readonly trigger: 'command' | 'rule';
  readonly ruleId: string | null;
  readonly reason: string;
  readonly state: EvidenceState;
  /** Why it was rejected. */
  readonly problem: string | null;
  readonly totalBytes: number;
  readonly receivedBytes: number;
  readonly sha256: string;
  readonly items: number;
  /** Device clock. */
  readonly collectedAt: number;
  /** Manager clock. */
  readonly createdAt: number;
  readonly verifiedAt: number | null;
}

export interface EvidenceDetailView extends EvidenceView {
  readonly manifest: EvidenceManifest;
  readonly signature: string;
  readonly certificatePem: string;
}

export interface EvidenceListView {
  readonly evidence: EvidenceView[];
}
