import * as z from 'zod/mini';
import { severitySchema } from '../events/event.schema.ts';
import { labelSelectorSchema } from '../policy/policy.schema.ts';
import { PROTOCOL_VERSION } from '../protocol/device-api.schema.ts';

/**
 * Updates: artifacts (content-addressed files described by TUF targets metadata), rollouts (phases with
 * gates) and what devices and the manager tell each other about them. Every device message carries `v`.
 */

const version = z.literal(PROTOCOL_VERSION);

export const artifactNameSchema = z
  .string()
  .check(
    z.regex(
      /^[a-z0-9][a-z0-9._-]{0,63}$/,
      'artifact names are lower case letters, digits, ".", "_" or "-" (at most 64)',
    ),
  );
export const artifactVersionSchema = z
  .string()
  .check(z.regex(/^[0-9A-Za-z][0-9A-Za-z.+_~-]{0,63}$/, 'versions are letters, digits and . + _ ~ -'));

/** KEY=VALUE pairs the device must match (hardware model, board, OS) before it installs. */
export const compatSchema = z.record(
  z.string().check(z.regex(/^[a-z0-9][a-z0-9_.-]{0,62}$/)),
  z.string().check(z.maxLength(256)),
);

/** Query of POST /api/v1/artifacts (the body is the file itself, application/octet-stream). */
export const uploadArtifactQuerySchema = z.object({
  name: artifactNameSchema,
  version: artifactVersionSchema,
  severity: z._default(severitySchema, 'medium'),
  /** JSON object of compat pairs. */
  compat: z._default(z.string(), '{}'),
});

export interface ArtifactView {
  readonly name: string;
  readonly version: string;
  readonly sha256: string;
  readonly length: number;
  readonly severity: z.infer<typeof severitySchema>;
  readonly compat: Record<string, string>;
  /** The TUF target path (`name/version`). */
  readonly targetPath: string;
  readonly releasedAt: number;
  readonly uploadedBy: string;
}

/** The TUF target path of an artifact: what the targets role signs. */
export function targetPathOf(name: string, artifactVersion: string): string {
  return `${name}/${artifactVersion}`;
}

/** POST /api/v1/artifacts/:name/floor: devices refuse, and the manager never offers, anything below. */
export const setFloorRequestSchema = z.object({ version: artifactVersionSchema });

export interface ArtifactListView {
  readonly artifacts: readonly ArtifactView[];
  readonly floors: Readonly<Record<string, string>>;
}

/** `canary:5` (that many devices), `25%` (of all selected devices, cumulative). */
export type RolloutPhase =
  | { readonly kind: 'canary'; readonly count: number }
  | { readonly kind: 'percent'; readonly percent: number };

export const rolloutGatesSchema = z.object({
  /** The phase breaches once more devices than this failed (failed install, health check, new alert). */
  maxFailures: z.number().check(z.int(), z.minimum(0)),
  /** Of the devices that finished the phase, at least this share must have committed. */
  minSuccessPercent: z.number().check(z.minimum(0), z.maximum(100)),
  /** A new alert of this severity or above on an updated device counts as a failure. */
  alertSeverity: z._default(z.enum(['critical', 'high', 'medium']), 'high'),
});
export type RolloutGates = z.infer<typeof rolloutGatesSchema>;

/** POST /api/v1/rollouts. */
export const createRolloutRequestSchema = z.object({
  artifact: z.object({ name: artifactNameSchema, version: artifactVersionSchema }),
  selector: labelSelectorSchema,
  /** `canary:5,25%,100%`. */
  phases: z.string().check(z.minLength(1), z.maxLength(200)),
  gates: rolloutGatesSchema,
  /** After the last device of a phase finished, wait this long with the gates holding. */
  soakMs: z._default(z.number().check(z.int(), z.minimum(0)), 0),
  /** Devices install only inside a maintenance window of their segment (policy in force). */
  respectWindows: z._default(z.boolean(), false),
  /** At most this many devices of one site update at once (site = the `siteLabel` label). */
  siteConcurrency: z.optional(z.number().check(z.int(), z.minimum(1))),
  siteLabel: z._default(z.string(), 'site'),
  /** A device that has not finished this long after its turn came is marked skipped. */
  offlineDeadlineMs: z._default(z.number().check(z.int(), z.minimum(1000)), 86_400_000),
  dryRun: z._default(z.boolean(), false),
  /** Allows a version below the anti-downgrade floor: an explicit exception, recorded with its reason. */
  belowFloorReason: z.optional(z.string().check(z.minLength(1), z.maxLength(500))),
});
export type CreateRolloutRequest = z.input<typeof createRolloutRequestSchema>;
export type CreateRolloutSpec = z.infer<typeof createRolloutRequestSchema>;

export const rolloutStates = ['created', 'running', 'paused', 'completed', 'aborted', 'rolled-back'] as const;
export type RolloutState = (typeof rolloutStates)[number];

/**
 * A device's part in a rollout, as the manager sees it. `pending`: its turn has not come; `assigned`:
 * offered, not yet started; `skipped`: missed the offline deadline; `cancelled`: never started because
 * the rollout stopped; `rollback`: asked to go back after an abort.
 */
export const deviceRolloutStates = [
  'pending',
  'assigned',
  'downloading',
  'verified',
  'installing',
  'awaiting-health',
  'committed',
  'failed',
  'rolled-back',
  'rollback',
  'skipped',
  'cancelled',
] as const;
export type DeviceRolloutState = (typeof deviceRolloutStates)[number];

/** The states in which the device has started taking the update. */
export const IN_PROGRESS_STATES: readonly DeviceRolloutState[] = [
  'downloading',
  'verified',
  'installing',
  'awaiting-health',
];

/** The updater's own states on the device (persisted there). */
export const updaterStates = [
  'downloading',
  'verified',
  'installing',
  'awaiting-health',
  'committed',
  'rolled-back',
  'failed',
] as const;
export type UpdaterState = (typeof updaterStates)[number];

/** GET /v1/update: what the device should do now; `update: null` means nothing. */
export const updateAssignmentSchema = z.object({
  v: version,
  update: z.nullable(
    z.object({
      rolloutId: z.string(),
      action: z.enum(['install', 'rollback']),
      name: artifactNameSchema,
      version: artifactVersionSchema,
      targetPath: z.string(),
    }),
  ),
});
export type UpdateAssignment = z.infer<typeof updateAssignmentSchema>;

/** POST /v1/update/report: a transition of the device's updater. */
export const updateReportSchema = z.object({
  v: version,
  rolloutId: z.string().check(z.minLength(1), z.maxLength(100)),
  name: artifactNameSchema,
  version: artifactVersionSchema,
  state: z.enum(updaterStates),
  detail: z.string().check(z.maxLength(2000)),
  /** Device clock. */
  at: z.number().check(z.int()),
});
export type UpdateReport = z.infer<typeof updateReportSchema>;

/** What the device runs, stated after every start: signed by the device key so it can be checked later. */
export const runningVersionPayloadSchema = z.object({
  deviceId: z.string(),
  name: artifactNameSchema,
  /** Null when nothing was ever installed by the updater. */
  version: z.nullable(artifactVersionSchema),
  /** Set when the device fell back from a version (boot attempts exhausted, failed health check). */
  fellBackFrom: z.nullable(artifactVersionSchema),
  at: z.number().check(z.int()),
});
export type RunningVersionPayload = z.infer<typeof runningVersionPayloadSchema>;

/** POST /v1/update/running: the payload and its ECDSA P-256 SHA-256 signature (base64) over its canonical JSON. */
export const runningVersionReportSchema = z.object({
  v: version,
  payload: runningVersionPayloadSchema,
  signature: z.string().check(z.minLength(1), z.maxLength(512)),
});
export type RunningVersionReport = z.infer<typeof runningVersionReportSchema>;

export interface RolloutPhaseView {
  readonly index: number;
  readonly label: string;
  readonly devices: number;
  readonly committed: number;
  readonly failed: number;
  readonly inProgress: number;
  readonly pending: number;
  readonly skipped: number;
  readonly rolledBack: number;
}

export interface RolloutView {
  readonly id: string;
  readonly artifact: { readonly name: string; readonly version: string };
  readonly selector: Record<string, string | string[]>;
  readonly phases: string;
  readonly gates: RolloutGates;
  readonly soakMs: number;
  readonly respectWindows: boolean;
  readonly siteConcurrency: number | null;
  readonly offlineDeadlineMs: number;
  readonly state: RolloutState;
  readonly currentPhase: number;
  readonly reason: string | null;
  readonly createdAt: number;
  readonly createdBy: string;
  readonly updatedAt: number;
  readonly phaseViews: readonly RolloutPhaseView[];
}

/** The answer to a dry run: who would update in which phase, and who is outside a window now. */
export interface RolloutDryRunView {
  readonly phases: readonly { readonly label: string; readonly deviceIds: readonly string[] }[];
  readonly canaries: readonly string[];
  readonly outsideWindow: readonly string[];
}

export interface PatchSlaBreachView {
  readonly deviceId: string;
  readonly name: string;
  readonly version: string;
  readonly severity: string;
  readonly releasedAt: number;
  readonly slaMs: number;
  /** When the SLA ran out. */
  readonly dueAt: number;
  /** The version the device runs, null when unknown. */
  readonly running: string | null;
}

export interface PatchSlaView {
  readonly breaches: readonly PatchSlaBreachView[];
}

/** GET /api/v1/devices/:id/updates: what one device runs, its part in recent rollouts, its SLA breaches. */
export interface DeviceUpdatesView {
  readonly deviceId: string;
  /** One line per artifact name the device reported running (signed report after each start). */
  readonly running: readonly {
    readonly name: string;
    /** Null when the device runs none of the uploaded versions. */
    readonly version: string | null;
    readonly fellBackFrom: string | null;
    readonly installedAt: number | null;
    readonly reportedAt: number;
  }[];
  /** The device's row in each of the latest 50 rollouts that selected it, newest first. */
  readonly rollouts: readonly {
    readonly rolloutId: string;
    readonly name: string;
    readonly version: string;
    readonly rolloutState: RolloutState;
    readonly phase: number;
    readonly state: DeviceRolloutState;
    readonly detail: string;
    readonly finishedAt: number | null;
    readonly updatedAt: number;
  }[];
  readonly slaBreaches: readonly PatchSlaBreachView[];
}
