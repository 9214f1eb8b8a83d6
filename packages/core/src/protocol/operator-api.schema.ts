import * as z from 'zod/mini';
import { eventTypeSchema, type Severity, severitySchema } from '../events/event.schema.ts';
import type { CompiledPolicy, PolicyProblem, PolicySourceFile } from '../policy/policy.schema.ts';
import type { CheckStatus } from '../policy/policy-bundle.schema.ts';
import type { PolicyPlan } from '../policy/policy-plan.ts';
import { labelsSchema } from './device-api.schema.ts';

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
