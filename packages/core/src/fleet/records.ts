import type { Severity } from '../events/event.schema.ts';
import type { Inventory } from '../inventory/inventory.schema.ts';

/** Free-form device labels (site, risk, function, location, anything else). */
export type Labels = Record<string, string>;

export type OperatorRole = 'viewer' | 'operator' | 'admin';
export const operatorRoles: readonly OperatorRole[] = ['viewer', 'operator', 'admin'];

/** Times are milliseconds since the epoch; `null` means "not (yet)". */
export interface EnrollmentTokenRecord {
  readonly id: string;
  /** SHA-256 (hex) of the secret part; the secret itself is shown once and never stored. */
  readonly secretHash: string;
  readonly labels: Labels;
  readonly createdAt: number;
  readonly createdBy: string;
  readonly expiresAt: number;
  readonly usedAt: number | null;
  readonly usedByDeviceId: string | null;
  readonly revokedAt: number | null;
}

export interface DeviceRecord {
  readonly id: string;
  /** The device's hostname as last reported (or the id until the first report). */
  readonly name: string;
  readonly labels: Labels;
  readonly enrolledAt: number;
  readonly enrollmentTokenId: string | null;
  readonly lastSeenAt: number | null;
  /** How often the agent promised to report; three silent intervals make it offline. */
  readonly reportIntervalMs: number;
  readonly agentVersion: string;
  /** Latest inventory version held, 0 before the first snapshot. */
  readonly inventoryVersion: number;
  readonly revokedAt: number | null;
}

export interface CertificateRecord {
  /** Hex serial number, lower case, no separators. */
  readonly serial: string;
  readonly deviceId: string;
  readonly notBefore: number;
  readonly notAfter: number;
  readonly issuedAt: number;
  /** SHA-256 of the DER certificate, hex. */
  readonly fingerprint: string;
  readonly revokedAt: number | null;
}

export interface InventorySnapshotRecord {
  readonly deviceId: string;
  readonly version: number;
  /** Device clock at collection. */
  readonly collectedAt: number;
  /** Manager clock at receipt. */
  readonly receivedAt: number;
  readonly inventory: Inventory;
}

export type InventoryChangeKind = 'added' | 'removed' | 'changed';

export interface InventoryChangeRecord {
  readonly deviceId: string;
  /** The inventory version that introduced the change. */
  readonly version: number;
  readonly receivedAt: number;
  readonly collectedAt: number;
  /** Inventory section: `packages`, `listeners`, `firmware`, `users`, `kernelModules`, `os`, … */
  readonly section: string;
  /** The item's key inside its section (package name, `tcp/0.0.0.0:22`, …); the section name for scalars. */
  readonly key: string;
  readonly kind: InventoryChangeKind;
  readonly before: unknown;
  readonly after: unknown;
}

export interface OperatorRecord {
  readonly id: string;
  readonly name: string;
  readonly role: OperatorRole;
  /** SHA-256 (hex) of the API token. */
  readonly tokenHash: string;
  readonly createdAt: number;
  readonly createdBy: string;
  readonly revokedAt: number | null;
}

/** Who did what, when: one row per operator write. */
export interface OperatorActionRecord {
  readonly id: string;
  readonly at: number;
  readonly operatorId: string;
  readonly operatorName: string;
  readonly action: string;
  readonly target: string;
  readonly details: Record<string, unknown>;
}

/** A device event as the manager stores it: the device's own fields plus the manager's receipt time. */
export interface EventRecord {
  readonly deviceId: string;
  /** Per-device sequence number, from 1; unique per device. */
  readonly seq: number;
  /** The agent's event id (UUID), stable across retries. */
  readonly id: string;
  readonly type: string;
  readonly severity: Severity;
  /** Device clock when the event happened, milliseconds since the epoch. */
  readonly time: number;
  /** Manager clock when the batch holding it was stored; beside `time`, it shows clock skew and delay. */
  readonly receivedAt: number;
  readonly data: Record<string, unknown>;
}
