import type {
  CertificateRecord,
  DeviceRecord,
  EnrollmentTokenRecord,
  InventoryChangeRecord,
  InventorySnapshotRecord,
  Labels,
  OperatorActionRecord,
  OperatorRecord,
} from '@edgeward/core';

/**
 * The repository contract: one interface, implemented once over a small SQL executor that each engine
 * (sqlite/, postgres/) provides. Every method is async so both engines share it.
 */
export interface Store {
  readonly engine: 'sqlite' | 'postgres';
  readonly meta: MetaRepository;
  readonly tokens: EnrollmentTokenRepository;
  readonly devices: DeviceRepository;
  readonly certificates: CertificateRepository;
  readonly inventory: InventoryRepository;
  readonly operators: OperatorRepository;
  readonly actions: OperatorActionRepository;
  /**
   * Runs `work` in one transaction: all its writes land, or none (a thrown error rolls back and is
   * rethrown). Inside `work`, use only the store it is given; the outer store refuses statements there
   * (EW_INTERNAL) rather than deadlock or write outside the transaction. Nested calls are savepoints.
   */
  transaction<T>(work: (store: Store) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/** Small key-value facts about the installation (fleet id, schema notes). */
export interface MetaRepository {
  get(key: string): Promise<string | undefined>;
  set(key: string, value: string): Promise<void>;
}

export interface EnrollmentTokenRepository {
  create(token: EnrollmentTokenRecord): Promise<void>;
  findById(id: string): Promise<EnrollmentTokenRecord | undefined>;
  /**
   * Newest first. Without `includeInactive`, only tokens neither used nor revoked and, when `now` is
   * given, not expired (`expiresAt > now`).
   */
  list(options?: { includeInactive?: boolean; now?: number }): Promise<EnrollmentTokenRecord[]>;
  /** Marks the token used by `deviceId` only if it is unused and unrevoked; false if it was not. */
  markUsed(id: string, deviceId: string, at: number): Promise<boolean>;
  /** Returns false when the token does not exist or was already revoked. */
  revoke(id: string, at: number): Promise<boolean>;
}

export type DeviceStatus = 'online' | 'offline';

export interface DeviceListFilter {
  /** Every given label must match exactly. */
  readonly labels?: Labels;
  /** Online: seen within three reporting intervals of `now` (inclusive). Needs `now` (else EW_INTERNAL). */
  readonly status?: DeviceStatus;
  readonly now?: number;
  /** Substring of id or name, case-insensitive. */
  readonly search?: string;
  readonly includeRevoked?: boolean;
}

export interface Page {
  /** At most this many rows (default 100). */
  readonly limit?: number;
  /** Rows after this device id (ids ascend). */
  readonly after?: string;
}

export interface DevicePatch {
  readonly name?: string;
  readonly labels?: Labels;
  readonly lastSeenAt?: number;
  readonly reportIntervalMs?: number;
  readonly agentVersion?: string;
  readonly inventoryVersion?: number;
  readonly revokedAt?: number;
}

export interface DeviceRepository {
  create(device: DeviceRecord): Promise<void>;
  findById(id: string): Promise<DeviceRecord | undefined>;
  list(filter?: DeviceListFilter, page?: Page): Promise<DeviceRecord[]>;
  count(filter?: DeviceListFilter): Promise<number>;
  /** Returns the updated record, or undefined when no device has this id. */
  update(id: string, patch: DevicePatch): Promise<DeviceRecord | undefined>;
}

export interface CertificateRepository {
  create(certificate: CertificateRecord): Promise<void>;
  findBySerial(serial: string): Promise<CertificateRecord | undefined>;
  /** Newest first. */
  listByDevice(deviceId: string): Promise<CertificateRecord[]>;
  /** Revoked certificates that have not expired at `now` (`notAfter >= now`): what the CRL must list. */
  listRevoked(now: number): Promise<CertificateRecord[]>;
  /** Revokes every unrevoked certificate of the device; returns how many. */
  revokeAllForDevice(deviceId: string, at: number): Promise<number>;
}

export interface InventoryRepository {
  saveSnapshot(snapshot: InventorySnapshotRecord): Promise<void>;
  latest(deviceId: string): Promise<InventorySnapshotRecord | undefined>;
  get(deviceId: string, version: number): Promise<InventorySnapshotRecord | undefined>;
  addChanges(changes: readonly InventoryChangeRecord[]): Promise<void>;
  /** Newest first (by version, then section and key); `limit` defaults to 100. */
  listChanges(
    deviceId: string,
    options?: { limit?: number; section?: string },
  ): Promise<InventoryChangeRecord[]>;
}

export interface OperatorRepository {
  create(operator: OperatorRecord): Promise<void>;
  findById(id: string): Promise<OperatorRecord | undefined>;
  findByTokenHash(tokenHash: string): Promise<OperatorRecord | undefined>;
  /** Oldest first. */
  list(options?: { includeRevoked?: boolean }): Promise<OperatorRecord[]>;
  revoke(id: string, at: number): Promise<boolean>;
  countActiveAdmins(): Promise<number>;
}

export interface OperatorActionRepository {
  record(action: OperatorActionRecord): Promise<void>;
  /** Newest first (recording order within a millisecond); `limit` defaults to 100. */
  list(options?: { limit?: number; operatorId?: string; target?: string }): Promise<OperatorActionRecord[]>;
}

/** Where the data lives: `sqlite:PATH` (or `sqlite::memory:`) or a `postgres://` URL. */
export interface StoreOptions {
  readonly database: string;
  /** PostgreSQL only: the schema to use (created when missing). Default `public`. */
  readonly schema?: string;
}
