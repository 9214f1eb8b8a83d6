import * as z from 'zod/mini';
import type { AuditChainProblem, AuditEntry } from '../audit/audit-chain.ts';
import { eventTypeSchema, type Severity, severitySchema } from '../events/event.schema.ts';
import type { CompiledPolicy, PolicyProblem, PolicySourceFile } from '../policy/policy.schema.ts';
import type { CheckStatus } from '../policy/policy-bundle.schema.ts';
import type { PolicyPlan } from '../policy/policy-plan.ts';
import { labelsSchema } from './device-api.schema.ts';
import type { DeviceIsolationView } from './device-commands.schema.ts';

/**
 * The operator API (CLI, dashboard, integrations → manager, HTTPS with a bearer token on the operator
 * port). Request bodies are validated with these schemas; replies are typed by the views below.
 */
export const createEnrollmentTokenSchema = z.object({
  labels: z._default(labelsSchema, {}),
  /** Lifetime in milliseconds; default 24 h, at most 30 days. */
  ttlMs: z._default(z.number().check(z.int(), z.minimum(60_000), z.maximum(30 * 86_400_000)), 86_400_000),
});
export type CreateEnrollmentToken = z.input<typeof createEnrollmentTokenSchema>;

export const createOperatorSchema = z.object({
  name: z.string().check(z.minLength(1), z.maxLength(100)),
  role: z.enum(['viewer', 'operator', 'admin']),
});
export type CreateOperator = z.infer<typeof createOperatorSchema>;

export const revokeDeviceSchema = z.object({ reason: z._default(z.string().check(z.maxLength(500)), '') });

export const deviceListQuerySchema = z.object({
  /** `key=value`, repeatable. */
  label: z.optional(z.union([z.string(), z.array(z.string())])),
  status: z.optional(z.enum(['online', 'offline'])),
  search: z.optional(z.string().check(z.maxLength(200))),
  limit: z._default(z.coerce.number().check(z.int(), z.minimum(1), z.maximum(1000)), 100),
  after: z.optional(z.string()),
  /** The segment of each device's last compliance report. */
  segment: z.optional(z.string().check(z.minLength(1), z.maxLength(200))),
  /** Sort key (default id); every order pages by keyset, so a page costs the same at any depth. */
  sort: z.optional(z.enum(['id', 'name', 'lastSeen', 'enrolled'])),
  order: z.optional(z.enum(['asc', 'desc'])),
  /** The `nextCursor` of the previous page (any sort); `after` remains for id order. */
  cursor: z.optional(z.string().check(z.maxLength(600))),
  includeRevoked: z.optional(
    z.pipe(
      z.enum(['true', 'false']),
      z.transform((value) => value === 'true'),
    ),
  ),
});

export const historyQuerySchema = z.object({
  limit: z._default(z.coerce.number().check(z.int(), z.minimum(1), z.maximum(10_000)), 200),
  section: z.optional(z.string()),
});

/**
 * GET /api/v1/events. `since` and `until` bound the device's event time (since inclusive, until
 * exclusive) and take a duration back from now (`1h`), an ISO date or epoch milliseconds; `severity`
 * is a minimum; `before` is the `nextBefore` of the previous page.
 */
export const eventQuerySchema = z.object({
  device: z.optional(z.string().check(z.minLength(1), z.maxLength(100))),
  since: z.optional(z.string().check(z.minLength(1), z.maxLength(64))),
  until: z.optional(z.string().check(z.minLength(1), z.maxLength(64))),
  type: z.optional(eventTypeSchema),
  severity: z.optional(severitySchema),
  limit: z._default(z.coerce.number().check(z.int(), z.minimum(1), z.maximum(1000)), 100),
  before: z.optional(z.string().check(z.minLength(1), z.maxLength(300))),
});
export type EventQuery = z.output<typeof eventQuerySchema>;

export type DeviceStatusView = 'online' | 'offline' | 'revoked';

export interface DeviceView {
  readonly id: string;
  readonly name: string;
  readonly labels: Record<string, string>;
  readonly status: DeviceStatusView;
  readonly enrolledAt: number;
  readonly lastSeenAt: number | null;
  readonly reportIntervalMs: number;
  readonly agentVersion: string;
  readonly inventoryVersion: number;
  readonly revokedAt: number | null;
}

export interface DeviceListView {
  readonly devices: DeviceView[];
  readonly total: number;
  /** Pass as `after` to read the next page; null on the last page. */
  readonly nextAfter: string | null;
  /** Pass as `cursor` (with the same sort and filters) to read the next page; null on the last page. */
  readonly nextCursor?: string | null;
}

export interface CertificateView {
  readonly serial: string;
  readonly notBefore: number;
  readonly notAfter: number;
  readonly fingerprint: string;
  readonly revokedAt: number | null;
}

export interface DeviceDetailView extends DeviceView {
  readonly spiffeId: string;
  readonly inventory: unknown;
  readonly inventoryCollectedAt: number | null;
  readonly certificates: CertificateView[];
}

export interface ChangeView {
  readonly version: number;
  readonly receivedAt: number;
  readonly collectedAt: number;
  readonly section: string;
  readonly key: string;
  readonly kind: 'added' | 'removed' | 'changed';
  readonly drift: boolean;
  readonly before: unknown;
  readonly after: unknown;
}

export interface EnrollmentTokenView {
  readonly id: string;
  readonly labels: Record<string, string>;
  readonly createdAt: number;
  readonly createdBy: string;
  readonly expiresAt: number;
  readonly state: 'active' | 'used' | 'expired' | 'revoked';
  readonly usedByDeviceId: string | null;
}

export interface CreatedEnrollmentTokenView extends EnrollmentTokenView {
  /** The secret token, shown this once. */
  readonly token: string;
  /** The exact command that enrolls an agent with it. */
  readonly enrollCommand: string;
}

export interface OperatorView {
  readonly id: string;
  readonly name: string;
  readonly role: 'viewer' | 'operator' | 'admin';
  readonly createdAt: number;
  readonly createdBy: string;
  readonly revokedAt: number | null;
}

export interface CreatedOperatorView extends OperatorView {
  /** The API token, shown this once. */
  readonly token: string;
}

export interface OperatorActionView {
  readonly id: string;
  readonly at: number;
  readonly operatorId: string;
  readonly operatorName: string;
  readonly action: string;
  readonly target: string;
  readonly details: Record<string, unknown>;
}

export interface FleetView {
  readonly fleet: string;
  readonly caFingerprint: string;
  readonly deviceApiUrl: string;
  readonly devices: { readonly total: number; readonly online: number; readonly offline: number };
}

export interface EventView {
  readonly deviceId: string;
  readonly seq: number;
  readonly id: string;
  readonly type: string;
  readonly severity: Severity;
  /** Device clock, milliseconds since the epoch. */
  readonly time: number;
  /** Manager clock at receipt; `receivedAt - time` is delivery delay plus clock skew. */
  readonly receivedAt: number;
  readonly data: Record<string, unknown>;
}

export interface EventListView {
  /** Newest first (device time, then device id and sequence, descending). */
  readonly events: EventView[];
  /** Pass as `before` to read the next (older) page; null on the last page. */
  readonly nextBefore: string | null;
}

/** One file of a policy folder: path relative to the folder (`/`-separated) and its text. */
export const policySourceFileSchema = z.object({
  path: z.string().check(z.minLength(1), z.maxLength(500)),
  text: z.string(),
});

/** A whole policy folder; its size is bounded by the manager's `bodyLimitBytes`. */
const policyFilesSchema = z.array(policySourceFileSchema).check(z.maxLength(10_000));
const policyMessageSchema = z.string().check(z.minLength(1), z.maxLength(2000));

/** POST /api/v1/policy/plan — what applying `files` would change. */
export const policyPlanRequestSchema = z.object({ files: policyFilesSchema });
export type PolicyPlanRequest = z.input<typeof policyPlanRequestSchema>;

/** POST /api/v1/policy/versions — `files` becomes the next version. */
export const applyPolicyRequestSchema = z.object({
  files: policyFilesSchema,
  /** Why this version; kept with its author. */
  message: policyMessageSchema,
  /** The commit of the policy repository the files come from; `+dirty` when the folder had uncommitted changes. */
  gitCommit: z.optional(
    z
      .string()
      .check(
        z.regex(
          /^[0-9a-f]{7,64}(\+dirty)?$/,
          'a git commit id (7 to 64 hex digits, optionally followed by +dirty)',
        ),
      ),
  ),
});
export type ApplyPolicyRequest = z.input<typeof applyPolicyRequestSchema>;

/** POST /api/v1/policy/rollback — a new version whose policy is that of `version`. */
export const rollbackPolicyRequestSchema = z.object({
  version: z.number().check(z.int(), z.minimum(1)),
  message: policyMessageSchema,
});
export type RollbackPolicyRequest = z.input<typeof rollbackPolicyRequestSchema>;

/** GET /api/v1/compliance — `days` of trend, today included (default 30). */
export const complianceQuerySchema = z.object({
  days: z._default(z.coerce.number().check(z.int(), z.minimum(1), z.maximum(365)), 30),
});

export interface PolicyVersionView {
  readonly version: number;
  readonly createdAt: number;
  /** The operator's name (their id in `authorId`). */
  readonly author: string;
  readonly authorId: string;
  readonly message: string;
  readonly gitCommit: string | null;
  /** SHA-256 (hex) of the compiled policy's canonical JSON. */
  readonly policyDigest: string;
  /** The version whose policy this one restored. */
  readonly rollbackOf: number | null;
  /** The highest version: the one devices receive. */
  readonly inForce: boolean;
}

export interface PolicyVersionListView {
  /** Newest first. */
  readonly versions: PolicyVersionView[];
}

export interface PolicyVersionDetailView extends PolicyVersionView {
  readonly sourceFiles: PolicySourceFile[];
  readonly policy: CompiledPolicy;
  /** The signed bundle as stored now: the version in force is re-signed before it expires. */
  readonly bundle: { readonly issuedAt: number; readonly expiresAt: number; readonly keyId: string };
}

export interface PolicyPlanView {
  readonly plan: PolicyPlan;
  /** What compiles but deserves a look (file, line, field), as `edgeward policy validate` shows it. */
  readonly warnings: readonly PolicyProblem[];
  /** The plan for people (`+` added, `-` removed, `~` changed). */
  readonly text: string;
}

/** Check results by status; `percent` = pass / (pass + fail + error) × 100, null when none was evaluated. */
export interface ComplianceCountsView {
  readonly pass: number;
  readonly fail: number;
  readonly error: number;
  readonly notApplicable: number;
  readonly percent: number | null;
}

export interface ComplianceFleetView {
  /** The version in force; null before the first apply. */
  readonly policyVersion: number | null;
  /** Devices that reported at least once (revoked devices are left out everywhere). */
  readonly devicesReporting: number;
  /** Over every check result of every device. */
  readonly overall: ComplianceCountsView;
  /** Per segment (by each device's last report), ascending by id. */
  readonly segments: ({ readonly segment: string; readonly devices: number } & ComplianceCountsView)[];
  /** Per check, ascending by id; title and severity from the version in force (null for a check it lacks). */
  readonly checks: ({
    readonly checkId: string;
    readonly title: string | null;
    readonly severity: Severity | null;
  } & ComplianceCountsView)[];
  /** Devices whose bundle had expired at their last report (they keep enforcing it). */
  readonly staleDevices: {
    readonly count: number;
    /** The first 100, oldest evaluation first. */
    readonly devices: {
      readonly deviceId: string;
      readonly bundleVersion: number;
      readonly evaluatedAt: number;
    }[];
  };
  /** One entry per UTC day, oldest first, the last one today: the statuses in effect at each day's end. */
  readonly trend: ({ readonly day: string; readonly dayStart: number } & ComplianceCountsView)[];
}

export interface ComplianceCheckView {
  readonly checkId: string;
  /** From the device's bundle version; null when that version lacks the check. */
  readonly title: string | null;
  readonly severity: Severity | null;
  readonly status: CheckStatus;
  readonly detail: string;
  readonly evaluatedAt: number;
  /** Since when the check has had this status on the device (device clock). */
  readonly statusSince: number;
  readonly remediation: {
    readonly at: number;
    readonly outcome: 'fixed' | 'not-fixed' | 'failed';
    readonly detail: string;
  } | null;
}

export interface DeviceComplianceView {
  readonly deviceId: string;
  /** Null until the device's first compliance report. */
  readonly segment: string | null;
  readonly bundleVersion: number | null;
  readonly evaluatedAt: number | null;
  readonly receivedAt: number | null;
  readonly stale: boolean;
  readonly counts: ComplianceCountsView;
  /** Ascending by check id. */
  readonly checks: ComplianceCheckView[];
}

// Alerts: what the rules raise, their lifecycle, the noise they make, and their notifications.

export const alertStates = ['open', 'acknowledged', 'resolved', 'suppressed'] as const;
export type AlertState = (typeof alertStates)[number];

/** How an operator closes an alert. */
export const alertResolutions = ['fixed', 'false-positive', 'duplicate', 'accepted-risk'] as const;
/** `auto`: nothing was seen of it for `alertAutoResolveMs`. */
export type AlertResolution = (typeof alertResolutions)[number] | 'auto';

export const alertDeliveryStates = ['pending', 'delivered', 'failing'] as const;
/** `failing`: tried `alertDeliveryFailingAfter` times without success; still retried. */
export type AlertDeliveryState = (typeof alertDeliveryStates)[number];

const alertTextSchema = z.string().check(z.minLength(1), z.maxLength(5000));

/**
 * GET /api/v1/alerts — newest activity first. `severity` is a minimum, `tier` exact; `since` (the last
 * signal, manager clock) takes a duration back from now, an ISO date or epoch milliseconds; `assignee` an
 * operator id or name; `before` is the `nextBefore` of the previous page.
 */
export const alertListQuerySchema = z.object({
  state: z.optional(z.enum(alertStates)),
  tier: z.optional(severitySchema),
  severity: z.optional(severitySchema),
  rule: z.optional(z.string().check(z.minLength(1), z.maxLength(200))),
  device: z.optional(z.string().check(z.minLength(1), z.maxLength(100))),
  assignee: z.optional(z.string().check(z.minLength(1), z.maxLength(100))),
  since: z.optional(z.string().check(z.minLength(1), z.maxLength(64))),
  limit: z._default(z.coerce.number().check(z.int(), z.minimum(1), z.maximum(1000)), 100),
  before: z.optional(z.string().check(z.minLength(1), z.maxLength(300))),
});
export type AlertListQuery = z.output<typeof alertListQuerySchema>;

/** POST /api/v1/alerts/:id/resolve — the note, when given, is added as a comment. */
export const resolveAlertSchema = z.object({
  resolution: z.enum(alertResolutions),
  note: z.optional(alertTextSchema),
});
export type ResolveAlertRequest = z.input<typeof resolveAlertSchema>;

/** POST /api/v1/alerts/:id/assign — an operator's id, or a name only one active operator has. */
export const assignAlertSchema = z.object({ assignee: z.string().check(z.minLength(1), z.maxLength(100)) });

/** POST /api/v1/alerts/:id/comment */
export const commentAlertSchema = z.object({ text: alertTextSchema });

/**
 * POST /api/v1/alerts/:id/suppress — silenced until `until`: a duration ahead of now (`4h`, `2d`), an ISO
 * date-time or epoch milliseconds. Signals are merged meanwhile, without notifications.
 */
export const suppressAlertSchema = z.object({
  until: z.string().check(z.minLength(1), z.maxLength(64)),
  note: z.optional(alertTextSchema),
});

/** GET /api/v1/alerts/noise — per rule over the last `days` days (default 7). */
export const alertNoiseQuerySchema = z.object({
  days: z._default(z.coerce.number().check(z.int(), z.minimum(1), z.maximum(365)), 7),
});

/** GET /api/v1/alert-deliveries — newest first. */
export const alertDeliveryQuerySchema = z.object({
  state: z.optional(z.enum(alertDeliveryStates)),
  limit: z._default(z.coerce.number().check(z.int(), z.minimum(1), z.maximum(1000)), 100),
});

export interface AlertView {
  readonly id: string;
  readonly ruleId: string;
  readonly ruleTitle: string;
  readonly kind: 'detection' | 'correlation';
  readonly groupKey: string;
  readonly groupFields: Record<string, string>;
  /** Only ever rises while the alert lives. */
  readonly severity: Severity;
  readonly tier: Severity;
  readonly state: AlertState;
  /** Where its rule ran: `agent`, `site` or `hub`. */
  readonly source: 'agent' | 'hub' | 'site';
  /** At a hub, the site whose own rules raised the alert (it came with the site's sync); else null. */
  readonly siteId: string | null;
  readonly deviceIds: string[];
  /** Event time (device clocks) of the first and last event counted. */
  readonly firstSeen: number;
  readonly lastSeen: number;
  /** Events matched (or the correlated figure), over every signal merged into the alert. */
  readonly count: number;
  /** The first events behind the alert (at most 50). */
  readonly eventRefs: { readonly deviceId: string; readonly seq: number; readonly id: string }[];
  /** Response actions its rule asked for. */
  readonly response: string[];
  readonly assignee: { readonly id: string; readonly name: string } | null;
  readonly resolution: AlertResolution | null;
  /** While `state` is suppressed: until when (ms). */
  readonly suppressedUntil: number | null;
  /** Manager clock, ms: created, last (re)opened, acknowledged, resolved. */
  readonly createdAt: number;
  readonly openedAt: number;
  readonly acknowledgedAt: number | null;
  readonly resolvedAt: number | null;
  readonly reopenedCount: number;
  /** When the manager received its last signal. */
  readonly lastSignalAt: number;
  readonly updatedAt: number;
}

export interface AlertListView {
  /** By last signal, newest first. */
  readonly alerts: AlertView[];
  /** Pass as `before` to read the next page; null on the last page. */
  readonly nextBefore: string | null;
}

export interface AlertCommentView {
  readonly at: number;
  readonly authorId: string;
  readonly author: string;
  readonly text: string;
}

export interface AlertHistoryView {
  readonly at: number;
  /** The operator's name, `system` for the manager, or the signal's source. */
  readonly actor: string;
  /** created, merged, escalated, reopened, acknowledged, resolved, assigned, suppressed, unsuppressed, commented. */
  readonly kind: string;
  readonly change: Record<string, unknown>;
}

export interface AlertDeliveryView {
  readonly id: string;
  /** Null for a digest. */
  readonly alertId: string | null;
  /** `<schedule>@<period end, ISO>` of a digest (`medium@2026-05-01T10:00:00.000Z`); null for one alert's notification. */
  readonly digestKey: string | null;
  readonly destination: string;
  readonly state: AlertDeliveryState;
  readonly attempts: number;
  /** When it is tried next (while not delivered). */
  readonly nextAttemptAt: number;
  readonly lastError: string | null;
  readonly createdAt: number;
  readonly deliveredAt: number | null;
}

export interface AlertDeliveryListView {
  readonly deliveries: AlertDeliveryView[];
}

export interface AlertDetailView extends AlertView {
  /** Oldest first. */
  readonly comments: AlertCommentView[];
  /** Oldest first. */
  readonly history: AlertHistoryView[];
  /** Its notifications, newest first (digests that listed it are not included). */
  readonly deliveries: AlertDeliveryView[];
}

export interface AlertRuleNoiseView {
  readonly ruleId: string;
  readonly ruleTitle: string;
  /** Alerts created or reopened in the period. */
  readonly raised: number;
  readonly alertsPerDay: number;
  readonly acknowledged: number;
  /** Median of (acknowledged − opened) over the acknowledgements of the period; null without any. */
  readonly medianTimeToAcknowledgeMs: number | null;
  /** Resolved by an operator in the period (auto-resolutions are counted apart). */
  readonly resolved: number;
  readonly falsePositive: number;
  /** falsePositive / resolved; null when none was resolved by an operator. */
  readonly falsePositiveShare: number | null;
  readonly autoResolved: number;
  /** Alerts of the rule not resolved now. */
  readonly unresolved: number;
}

export interface AlertNoiseView {
  readonly days: number;
  readonly from: number;
  readonly to: number;
  /** Noisiest first (most raised). */
  readonly rules: AlertRuleNoiseView[];
}

/**
 * What a destination receives (the webhook's JSON body; MQTT and mail carry the same facts): one alert
 * created, reopened or escalated, or a digest of the alerts of the lower tiers.
 */
export type AlertNotification =
  | {
      readonly v: 1;
      readonly kind: 'alert';
      readonly fleet: string;
      readonly reason: 'created' | 'reopened' | 'escalated';
      readonly alert: AlertView;
    }
  | {
      readonly v: 1;
      readonly kind: 'digest';
      readonly fleet: string;
      /** The digest schedule: `medium` (hourly by default) or `low` (low and info, daily). */
      readonly schedule: AlertDigestSchedule;
      /** The period it covers, ms. */
      readonly from: number;
      readonly to: number;
      /** Alerts listed (at most 500, newest first) and how many there were in all. */
      readonly alerts: AlertView[];
      readonly total: number;
    };

export type AlertDigestSchedule = 'medium' | 'low';

/** GET /api/v1/audit/entries — newest first; `before` is the `nextBefore` of the previous page. */
export const auditEntriesQuerySchema = z.object({
  limit: z._default(z.coerce.number().check(z.int(), z.minimum(1), z.maximum(1000)), 100),
  before: z.optional(z.coerce.number().check(z.int(), z.minimum(1))),
});

/**
 * GET /api/v1/audit/export (admin). `since` is a time bound (a duration back from now such as `7d`, an ISO
 * date or epoch milliseconds) or `seq:N`; without it the whole chain. The reply is the signed export bundle
 * (AuditExportBundle), to be saved as its canonical JSON.
 */
export const auditExportQuerySchema = z.object({
  since: z.optional(z.string().check(z.minLength(1), z.maxLength(64))),
});

export interface AuditEntriesView {
  readonly entries: AuditEntry[];
  /** Pass as `before` for the next (older) page; null on the last. */
  readonly nextBefore: number | null;
}

/** GET /api/v1/audit/verify: the whole chain checked on the manager against its audit key. */
export type AuditVerifyView =
  | {
      readonly ok: true;
      readonly entries: number;
      readonly checkpoints: number;
      /** The highest signed checkpoint; entries after it are protected by their links only until the next one. */
      readonly lastCheckpointSeq: number | null;
      readonly keyId: string;
    }
  | {
      readonly ok: false;
      readonly entries: number;
      readonly checkpoints: number;
      readonly firstBadSeq: number;
      readonly problem: AuditChainProblem;
      readonly message: string;
    };

/** GET /api/v1/devices/:id: the device detail with its isolation (see device-commands.schema.ts). */
export type DeviceDetailWithIsolationView = DeviceDetailView & {
  readonly isolation: DeviceIsolationView;
};
