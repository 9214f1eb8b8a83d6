import * as z from 'zod/mini';
import { hubFederationSchema } from '../federation/site-overlay.schema.ts';
import { compiledPolicySchema } from './policy.schema.ts';

/**
 * A policy bundle: the compiled policy of one version, with its issue and expiry times and the fleet's
 * CRLs, signed with Ed25519 over the RFC 8785 canonical JSON of `payload`. The manager re-signs the
 * version in force (same version, later `issuedAt`) before it expires and whenever the CRL changes.
 */
export const policyBundlePayloadSchema = z.strictObject({
  fleet: z.string(),
  version: z.number().check(z.int(), z.minimum(1)),
  issuedAt: z.number().check(z.int()),
  expiresAt: z.number().check(z.int()),
  /** The CRL of each fleet CA (PEM), so that sites and peers can refuse revoked devices offline. */
  crlPems: z.array(z.string()),
  /** SHA-256 (hex) of the canonical JSON of `policy`: the same policy always has the same digest. */
  policyDigest: z.string(),
  policy: compiledPolicySchema,
  /** What the hub governs across tiers and delegates to its sites (docs/federation.md); absent: no sites. */
  federation: z.optional(hubFederationSchema),
});
export type PolicyBundlePayload = z.infer<typeof policyBundlePayloadSchema>;

export const policyBundleSchema = z.strictObject({
  payload: policyBundlePayloadSchema,
  signature: z.strictObject({
    alg: z.literal('Ed25519'),
    /** base64url SHA-256 of the signing key's SubjectPublicKeyInfo (DER). */
    keyId: z.string(),
    /** base64url Ed25519 signature of the canonical JSON of `payload`. */
    value: z.string(),
  }),
});
export type PolicyBundle = z.infer<typeof policyBundleSchema>;

/** GET /v1/policy?version=N&issuedAt=T — the bundle in force; 204 when the agent already holds it. */
export const policyBundleReplySchema = z.object({ v: z.literal(1), bundle: policyBundleSchema });
export type PolicyBundleReply = z.infer<typeof policyBundleReplySchema>;

export const checkStatuses = ['pass', 'fail', 'error', 'not-applicable'] as const;
export type CheckStatus = (typeof checkStatuses)[number];

export const checkResultSchema = z.object({
  checkId: z.string(),
  status: z.enum(checkStatuses),
  /** What was found, for people ("PermitRootLogin is yes in /etc/ssh/sshd_config:14"). */
  detail: z.string().check(z.maxLength(2000)),
  evaluatedAt: z.number().check(z.int()),
  /** The last remediation attempted for this check, if any. */
  remediation: z.optional(
    z.object({
      at: z.number().check(z.int()),
      outcome: z.enum(['fixed', 'not-fixed', 'failed']),
      detail: z.string().check(z.maxLength(2000)),
    }),
  ),
});
export type CheckResult = z.infer<typeof checkResultSchema>;

/** POST /v1/compliance — every check's latest result under one bundle version. */
export const complianceReportSchema = z.object({
  v: z.literal(1),
  bundleVersion: z.number().check(z.int(), z.minimum(1)),
  segment: z.string(),
  evaluatedAt: z.number().check(z.int()),
  /** True while the bundle in force has expired (the agent still enforces it). */
  stale: z.boolean(),
  results: z.array(checkResultSchema),
});
export type ComplianceReport = z.infer<typeof complianceReportSchema>;

export const complianceReplySchema = z.object({ v: z.literal(1), stored: z.number().check(z.int()) });
export type ComplianceReply = z.infer<typeof complianceReplySchema>;
