import * as z from 'zod/mini';
import { deviceEventSchema, severitySchema } from '../events/event.schema.ts';
import { inventorySchema } from '../inventory/inventory.schema.ts';
import { complianceReportSchema } from '../policy/policy-bundle.schema.ts';
import {
  artifactNameSchema,
  artifactVersionSchema,
  createRolloutRequestSchema,
  deviceRolloutStates,
  rolloutStates,
} from '../updates/update.schema.ts';
import { labelsSchema } from './device-api.schema.ts';
import { deviceCommandResultSchema, deviceCommandSchema } from './device-commands.schema.ts';
import { alertResolutions, alertStates } from './operator-api.schema.ts';

/**
 * What a site says to its hub beyond the device protocol it already speaks as an enrolled identity
 * (`spiffe://<fleet>/site/<id>`): its delegation, its devices' events, its status. Every route is mutual
 * TLS, and only a site identity may call it.
 */

const version = z.literal(1);
const nonNegative = z.number().check(z.int(), z.minimum(0));

/** POST /v1/site/delegation — the site's CA key request, the names of its server and its overlay key. */
export const siteDelegationRequestSchema = z.object({
  v: version,
  csrPem: z.string().check(z.minLength(1)),
  /** DNS names and IP addresses the site's device API answers on (put in the CA's name constraints). */
  serverNames: z
    .array(z.string().check(z.minLength(1), z.maxLength(253)))
    .check(z.minLength(1), z.maxLength(64)),
  /** The Ed25519 key (SPKI PEM) the site signs its overlays with. */
  overlayPublicKeyPem: z.string().check(z.minLength(1)),
  /**
   * The Ed25519 key (SPKI PEM) the site signs TUF timestamps with, for the hub's root to list in the
   * timestamp role (docs/updates.md, "Sites: a delegated timestamp key"). Absent from older sites.
   */
  tufTimestampPublicKeyPem: z.optional(z.string().check(z.minLength(1))),
});
export type SiteDelegationRequest = z.infer<typeof siteDelegationRequestSchema>;

export const siteDelegationGrantSchema = z.object({
  v: version,
  siteId: z.string(),
  /** The site's path from the hub (`<region>/<id>` under a region); absent: the site id. */
  sitePath: z.optional(z.string()),
  fleet: z.string(),
  /**
   * The delegated issuing CA: path length 0 (1 for a region), name-constrained to the fleet and the site's
   * names.
   */
  caCertPem: z.string(),
  rootCaPem: z.string(),
  /** The root's CRL, valid as long as the CA: the site needs one for every level, offline too. */
  rootCrlPem: z.string(),
  /** Under a region: the CAs between the root and the delegated CA, top first. */
  upperCaPems: z.optional(z.array(z.string())),
  /** A CRL of each of those CAs, in the same order, valid as long as the delegated CA. */
  upperCrlPems: z.optional(z.array(z.string())),
  notAfter: z.number().check(z.int()),
  maxOfflineMs: z.number().check(z.int(), z.minimum(1)),
  /** The hub's policy key, which the site's devices pin (bundles come from the hub, unchanged). */
  policyPublicKeyPem: z.string(),
});
export type SiteDelegationGrant = z.infer<typeof siteDelegationGrantSchema>;

/** POST /v1/site/events — the site's devices' events, each device's in sequence order from its ack. */
export const siteEventsBatchSchema = z.object({
  v: version,
  devices: z
    .array(
      z.object({
        deviceId: z.string().check(z.minLength(1), z.maxLength(128)),
        name: z.string().check(z.maxLength(253)),
        labels: labelsSchema,
        /** Everything at or below it was delivered before or will never come (see eventBatchSchema). */
        floorSeq: nonNegative,
        events: z.array(deviceEventSchema),
      }),
    )
    .check(z.maxLength(1000)),
});
export type SiteEventsBatch = z.infer<typeof siteEventsBatchSchema>;

export const siteEventsReplySchema = z.object({
  v: version,
  /** Per device, the highest sequence number up to which the hub holds every event. */
  acks: z.record(z.string(), nonNegative),
});
export type SiteEventsReply = z.infer<typeof siteEventsReplySchema>;

/** A site device as the site's batches name it: the hub creates or updates its record from these. */
const siteDeviceFields = {
  deviceId: z.string().check(z.minLength(1), z.maxLength(128)),
  name: z.string().check(z.maxLength(253)),
  labels: labelsSchema,
};

/** POST /v1/site/inventory — the latest inventory of site devices whose inventory changed since. */
export const siteInventoryBatchSchema = z.object({
  v: version,
  devices: z.array(z.object({ ...siteDeviceFields, inventory: inventorySchema })).check(z.maxLength(100)),
});
export type SiteInventoryBatch = z.infer<typeof siteInventoryBatchSchema>;

/** POST /v1/site/compliance — each device's latest compliance report, as the device sent it to the site. */
export const siteComplianceBatchSchema = z.object({
  v: version,
  devices: z.array(z.object({ ...siteDeviceFields, report: complianceReportSchema })).check(z.maxLength(100)),
});
export type SiteComplianceBatch = z.infer<typeof siteComplianceBatchSchema>;

/** POST /v1/site/status — how the site is doing, at every sync. */
export const siteStatusReportSchema = z.object({
  v: version,
  /** Events waiting at the site for the hub. */
  backlog: nonNegative,
  devices: nonNegative,
  /** When the offline budget would run out were the link to break now (the CA's end, at the latest). */
  budgetEndsAt: z.number().check(z.int()),
  /** The site's signed overlay, when it publishes one (checked by the hub like any agent would). */
  overlay: z.optional(z.unknown()),
  /** Conflicts recorded by the site's last merge of hub settings and overlay. */
  conflicts: nonNegative,
  /** When the site last heard from each of its devices that did since the previous report. */
  seen: z._default(
    z
      .array(z.object({ deviceId: z.string().check(z.minLength(1)), lastSeenAt: z.number().check(z.int()) }))
      .check(z.maxLength(100_000)),
    [],
  ),
});
export type SiteStatusReport = z.infer<typeof siteStatusReportSchema>;

export const siteStatusReplySchema = z.object({
  v: version,
  serverTime: z.number().check(z.int()),
  /** Devices of this site revoked at the hub: the site revokes them too, so they are refused offline. */
  revokedDevices: z.array(z.string()),
  /**
   * Commands operators at the hub gave this site's devices and that have no result yet, oldest first: the
   * site queues each once (by its id) for its device, and sends the result back.
   */
  commands: z._default(z.array(deviceCommandSchema), []),
});
export type SiteStatusReply = z.infer<typeof siteStatusReplySchema>;

/** Operator API: POST /api/v1/sites */
export const createSiteSchema = z.object({
  id: z
    .string()
    .check(z.regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'lower-case letters, digits and "-" (at most 63)')),
  name: z.optional(z.string().check(z.minLength(1), z.maxLength(200))),
  /** The declared offline budget; default 3 days, at most 30. */
  maxOfflineMs: z._default(
    z.number().check(z.int(), z.minimum(60_000), z.maximum(30 * 86_400_000)),
    3 * 86_400_000,
  ),
  /** Lifetime of the site's enrollment token; default 24 h. */
  ttlMs: z._default(z.number().check(z.int(), z.minimum(60_000), z.maximum(30 * 86_400_000)), 86_400_000),
  /** A region: its delegated CA may delegate in turn, to lower sites that enroll with it. */
  region: z.optional(z.boolean()),
});
export type CreateSite = z.input<typeof createSiteSchema>;

export type SiteLinkState = 'never-enrolled' | 'connected' | 'offline' | 'over-budget' | 'revoked';

export interface SiteView {
  readonly id: string;
  readonly name: string;
  readonly link: SiteLinkState;
  readonly enrolledAt: number | null;
  readonly lastSyncAt: number | null;
  readonly backlog: number;
  readonly maxOfflineMs: number;
  /** What remains of the offline budget (ms), counted from the last sync; null before the first. */
  readonly budgetLeftMs: number | null;
  readonly caNotAfter: number | null;
  readonly devices: number;
  readonly conflicts: number;
  /** When the hub revoked the site; null while it is trusted. */
  readonly revokedAt: number | null;
}

export interface CreatedSiteView extends SiteView {
  /** The site's one-time enrollment token, shown this once. */
  readonly token: string;
  /** The command that starts the site manager with it. */
  readonly startCommand: string;
}

const time = z.number().check(z.int());

/** An alert raised by a site's own (site-scope) rules, as the site holds it, for its hub's alert views. */
export const siteAlertSchema = z.object({
  /** The site's alert id, kept at the hub: a resent alert updates the one the hub holds. */
  id: z.string().check(z.minLength(1), z.maxLength(128)),
  ruleId: z.string().check(z.minLength(1), z.maxLength(200)),
  ruleTitle: z.string().check(z.maxLength(500)),
  kind: z.enum(['detection', 'correlation']),
  groupKey: z.string().check(z.maxLength(4096)),
  groupFields: z.record(z.string(), z.string()),
  severity: severitySchema,
  tier: severitySchema,
  state: z.enum(alertStates),
  deviceIds: z.array(z.string().check(z.minLength(1), z.maxLength(128))).check(z.maxLength(100_000)),
  firstSeen: time,
  lastSeen: time,
  count: nonNegative,
  eventRefs: z
    .array(z.object({ deviceId: z.string(), seq: nonNegative, id: z.string() }))
    .check(z.maxLength(50)),
  response: z.array(z.string()),
  route: z.array(z.string()),
  resolution: z.nullable(z.enum([...alertResolutions, 'auto'])),
  suppressedUntil: z.nullable(time),
  createdAt: time,
  openedAt: time,
  acknowledgedAt: z.nullable(time),
  resolvedAt: z.nullable(time),
  reopenedCount: nonNegative,
  lastSignalAt: time,
  /** The site's clock at its last change: the hub keeps the newest it was sent. */
  updatedAt: time,
});
export type SiteAlert = z.infer<typeof siteAlertSchema>;

/** POST /v1/site/alerts — the site's own alerts that changed since the hub last took them, oldest change first. */
export const siteAlertsBatchSchema = z.object({
  v: version,
  alerts: z.array(siteAlertSchema).check(z.maxLength(200)),
});
export type SiteAlertsBatch = z.infer<typeof siteAlertsBatchSchema>;

export interface SiteAlertsReply {
  readonly v: 1;
  /** Alerts new at the hub or newer than the copy it held; a resent batch stores nothing. */
  readonly stored: number;
}

/** POST /v1/site/command-results — results of the hub's commands, as the site's devices reported them. */
export const siteCommandResultsSchema = z.object({
  v: version,
  results: z
    .array(
      z.object({
        deviceId: z.string().check(z.minLength(1), z.maxLength(128)),
        result: deviceCommandResultSchema,
      }),
    )
    .check(z.maxLength(500)),
});
export type SiteCommandResults = z.infer<typeof siteCommandResultsSchema>;

/** Operator API: POST /api/v1/sites/:id/revoke */
export const revokeSiteSchema = z.object({
  reason: z._default(z.string().check(z.maxLength(500)), 'revoked by an operator'),
});
export type RevokeSite = z.input<typeof revokeSiteSchema>;

/**
 * GET /v1/site/rollouts — the hub's started rollouts that include devices of the asking site, with those
 * devices and their phase, so the site runs them from its artifact cache (docs/federation.md).
 */
export const siteRolloutsReplySchema = z.object({
  v: version,
  rollouts: z.array(
    z.object({
      id: z.string().check(z.minLength(1), z.maxLength(100)),
      spec: createRolloutRequestSchema,
      state: z.enum(rolloutStates),
      reason: z.nullable(z.string()),
      devices: z.array(
        z.object({ deviceId: z.string().check(z.minLength(1), z.maxLength(128)), phase: nonNegative }),
      ),
    }),
  ),
});
export type SiteRolloutsReply = z.infer<typeof siteRolloutsReplySchema>;

/** POST /v1/site/rollouts — where the site's devices stand in the hub's rollouts that the site runs. */
export const siteRolloutReportSchema = z.object({
  v: version,
  devices: z
    .array(
      z.object({
        rolloutId: z.string().check(z.minLength(1), z.maxLength(100)),
        deviceId: z.string().check(z.minLength(1), z.maxLength(128)),
        state: z.enum(deviceRolloutStates),
        detail: z.string().check(z.maxLength(2000)),
      }),
    )
    .check(z.maxLength(10_000)),
});
export type SiteRolloutReport = z.infer<typeof siteRolloutReportSchema>;

/**
 * POST /v1/site/versions — what the site's devices run, as they reported it to the site (signed by each
 * device's key and checked there); the site vouches for it as for their events.
 */
export const siteVersionsBatchSchema = z.object({
  v: version,
  devices: z
    .array(
      z.object({
        deviceId: z.string().check(z.minLength(1), z.maxLength(128)),
        name: artifactNameSchema,
        version: z.nullable(artifactVersionSchema),
        fellBackFrom: z.nullable(artifactVersionSchema),
        /** When the device first reported running `version` to the site. */
        installedAt: z.nullable(z.number().check(z.int())),
        reportedAt: z.number().check(z.int()),
      }),
    )
    .check(z.maxLength(10_000)),
});
export type SiteVersionsBatch = z.infer<typeof siteVersionsBatchSchema>;
