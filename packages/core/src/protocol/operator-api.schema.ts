import { z } from 'zod';
import { labelsSchema } from './device-api.schema.ts';

/**
 * The operator API (CLI, dashboard, integrations → manager, HTTPS with a bearer token on the operator
 * port). Request bodies are validated with these schemas; replies are typed by the views below.
 */
export const createEnrollmentTokenSchema = z.object({
  labels: labelsSchema.default({}),
  /** Lifetime in milliseconds; default 24 h, at most 30 days. */
  ttlMs: z
    .number()
    .int()
    .min(60_000)
    .max(30 * 86_400_000)
    .default(86_400_000),
});
export type CreateEnrollmentToken = z.input<typeof createEnrollmentTokenSchema>;

export const createOperatorSchema = z.object({
  name: z.string().min(1).max(100),
  role: z.enum(['viewer', 'operator', 'admin']),
});
export type CreateOperator = z.infer<typeof createOperatorSchema>;

export const revokeDeviceSchema = z.object({ reason: z.string().max(500).default('') });

export const deviceListQuerySchema = z.object({
  /** `key=value`, repeatable. */
  label: z.union([z.string(), z.array(z.string())]).optional(),
  status: z.enum(['online', 'offline']).optional(),
  search: z.string().max(200).optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  after: z.string().optional(),
  includeRevoked: z
    .enum(['true', 'false'])
    .transform((value) => value === 'true')
    .optional(),
});

export const historyQuerySchema = z.object({
  limit: z.coerce.number().int().min(1).max(10_000).default(200),
  section: z.string().optional(),
});

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
