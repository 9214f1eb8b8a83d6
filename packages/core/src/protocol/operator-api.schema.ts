import * as z from 'zod/mini';
import { eventTypeSchema, type Severity, severitySchema } from '../events/event.schema.ts';
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
