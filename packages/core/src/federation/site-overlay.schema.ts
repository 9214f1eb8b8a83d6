import * as z from 'zod/mini';
import { isValidIdentityId } from '../pki/spiffe.ts';
import { governedValueSchema, hubSettingSchema, settingKeySchema } from './governed-setting.ts';
import { hybridTimestampSchema } from './hybrid-clock.ts';

/**
 * What the hub delegates to its sites, carried in its signed policy bundle (`payload.federation`), and the
 * overlay bundle a site signs with its own Ed25519 key. The chain of trust is: the fleet policy key that
 * every agent pinned signs the hub bundle, the hub bundle names each site's overlay key and the settings
 * it may edit, the site key signs the overlay.
 */

const siteId = z.string().check(z.refine(isValidIdentityId, 'a site id (A-Z a-z 0-9 . _ -)'));
const positiveMs = z.number().check(z.int(), z.minimum(1));

export const siteDelegationSchema = z.strictObject({
  site: siteId,
  /** SubjectPublicKeyInfo PEM of the site's overlay signing key (Ed25519). */
  overlayPublicKeyPem: z.string().check(z.minLength(1)),
  /** The settings this site may edit; an overlay touching any other is refused whole. */
  settings: z.array(settingKeySchema),
  /** The declared offline budget: how long the site may run cut off from the hub. */
  maxOfflineMs: positiveMs,
});
export type SiteDelegation = z.infer<typeof siteDelegationSchema>;

export const hubFederationSchema = z.strictObject({
  settings: z.record(settingKeySchema, hubSettingSchema),
  sites: z.array(siteDelegationSchema),
  /** How far ahead of the verifier's clock an edit's timestamp may be before it is refused. */
  maxClockAheadMs: positiveMs,
});
export type HubFederation = z.infer<typeof hubFederationSchema>;

/** One site edit: a whole value for one setting, with the clock that orders it and an expiry. */
export const siteEditSchema = z.strictObject({
  setting: settingKeySchema,
  value: governedValueSchema,
  /** When the edit was made (hybrid logical clock of the site). */
  at: hybridTimestampSchema,
  /** The site edit this one replaces, when its author saw one: it is superseded, not in conflict. */
  basedOn: z.optional(hybridTimestampSchema),
  /** The hub's `changedAt` for this setting as the site knew it; a later hub change is concurrent. */
  hubSeen: z.optional(hybridTimestampSchema),
  /** Every override ends: past this time (epoch ms) it no longer counts. */
  expiresAt: z.number().check(z.int()),
  /**
   * Whether the site reached its hub when the edit was made. Absent counts as `offline`, the side on which
   * a loosening edit can only lose: an offline edit has not been seen by the hub, so any hub change after
   * its `hubSeen` is concurrent with it.
   */
  link: z.optional(z.enum(['connected', 'offline'])),
  reason: z.optional(z.string().check(z.maxLength(500))),
});
export type SiteEdit = z.infer<typeof siteEditSchema>;

export const siteOverlayPayloadSchema = z.strictObject({
  kind: z.literal('site-overlay'),
  fleet: z.string().check(z.minLength(1)),
  site: siteId,
  version: z.number().check(z.int(), z.minimum(1)),
  issuedAt: z.number().check(z.int()),
  expiresAt: z.number().check(z.int()),
  edits: z.array(siteEditSchema),
});
export type SiteOverlayPayload = z.infer<typeof siteOverlayPayloadSchema>;

export const siteOverlaySchema = z.strictObject({
  payload: siteOverlayPayloadSchema,
  signature: z.strictObject({
    alg: z.literal('Ed25519'),
    /** base64url SHA-256 of the site key's SubjectPublicKeyInfo (DER). */
    keyId: z.string(),
    /** base64url Ed25519 signature of the canonical JSON of `payload`. */
    value: z.string(),
  }),
});
export type SiteOverlay = z.infer<typeof siteOverlaySchema>;
