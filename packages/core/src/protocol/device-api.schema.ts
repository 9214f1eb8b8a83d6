import * as z from 'zod/mini';
import { inventorySchema } from '../inventory/inventory.schema.ts';
import { inventoryDeltaSchema } from '../inventory/inventory-delta.ts';

/**
 * The device protocol (agent or site ⇄ manager, HTTPS with mutual TLS on the device port). Every message
 * carries `v`, the protocol version; a peer refuses versions it does not speak.
 */
export const PROTOCOL_VERSION = 1;

const version = z.literal(PROTOCOL_VERSION);

export const labelsSchema = z.record(
  z
    .string()
    .check(
      z.regex(/^[a-z0-9][a-z0-9_.-]{0,62}$/, 'label keys are lower case letters, digits, ".", "_" or "-"'),
    ),
  z.string().check(z.maxLength(256)),
);

/** GET /v1/ca — the fleet's CA certificates, readable without a client certificate (verified by fingerprint). */
export const caBundleSchema = z.object({
  v: version,
  fleet: z.string(),
  rootCaPem: z.string(),
  issuingCaPem: z.string(),
  /** At a site under a region: the CAs between the root and the issuing CA, top first (the region's). */
  intermediateCaPems: z.optional(z.array(z.string())),
});
export type CaBundle = z.infer<typeof caBundleSchema>;

/** POST /v1/enroll — a one-time token and a CSR; everything in the certificate is decided by the manager. */
export const enrollRequestSchema = z.object({
  v: version,
  token: z.string().check(z.minLength(1)),
  csrPem: z.string().check(z.minLength(1)),
  hostname: z.string().check(z.maxLength(253)),
  agentVersion: z.string().check(z.maxLength(64)),
  reportIntervalMs: z.number().check(z.int(), z.minimum(1000), z.maximum(86_400_000)),
});
export type EnrollRequest = z.infer<typeof enrollRequestSchema>;

export const certificateGrantSchema = z.object({
  v: version,
  deviceId: z.string(),
  fleet: z.string(),
  spiffeId: z.string(),
  certificatePem: z.string(),
  /** The issuing CA, to send along with the certificate in the TLS handshake. */
  chainPem: z.string(),
  rootCaPem: z.string(),
  notAfter: z.number().check(z.int()),
  labels: labelsSchema,
  /** The fleet's policy signing key (Ed25519, SPKI PEM): pinned by the agent, which trusts no other. */
  policyPublicKeyPem: z.string(),
  /**
   * The manager's current TUF root (signed metadata, JSON text), pinned by the agent at enrollment as the
   * root its update client starts from; later roots must be signed by it. Absent from a manager without one.
   */
  tufRootJson: z.optional(z.string()),
});
export type CertificateGrant = z.infer<typeof certificateGrantSchema>;

/** POST /v1/renew — over mTLS with the current certificate; a fresh CSR from the same device. */
export const renewRequestSchema = z.object({ v: version, csrPem: z.string().check(z.minLength(1)) });
export type RenewRequest = z.infer<typeof renewRequestSchema>;

/** POST /v1/heartbeat — proves liveness between inventory reports. */
export const heartbeatSchema = z.object({
  v: version,
  agentVersion: z.string().check(z.maxLength(64)),
  reportIntervalMs: z.number().check(z.int(), z.minimum(1000), z.maximum(86_400_000)),
  /** Device clock, to notice skew. */
  sentAt: z.number().check(z.int()),
});
export type Heartbeat = z.infer<typeof heartbeatSchema>;

export const heartbeatReplySchema = z.object({
  v: version,
  serverTime: z.number().check(z.int()),
  /**
   * Set when the device's certificate would expire during an outage its site declared: the agent renews
   * now, while the site can still vouch for it up to the outage's end (docs/federation.md).
   */
  renewCertificate: z.optional(z.boolean()),
});
export type HeartbeatReply = z.infer<typeof heartbeatReplySchema>;

export const inventoryFullReportSchema = z.object({
  v: version,
  kind: z.literal('full'),
  inventory: inventorySchema,
});

/** Only the differences from `baseVersion`, which must be the version the manager holds. */
export const inventoryDeltaReportSchema = z.object({
  v: version,
  kind: z.literal('delta'),
  baseVersion: z.number().check(z.int(), z.minimum(1)),
  delta: inventoryDeltaSchema,
});

export const inventoryReplySchema = z.object({
  v: version,
  /** The version the manager now holds; the agent's next delta is based on it. */
  version: z.number().check(z.int(), z.minimum(1)),
  /** False when the report held no change, so no new version was made. */
  changed: z.boolean(),
});
export type InventoryReply = z.infer<typeof inventoryReplySchema>;
