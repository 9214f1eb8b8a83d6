import type { CreateRolloutSpec, DeviceRolloutState, RolloutState, Severity } from '@edgeward/core';

/** Repositories of the update feature (artifacts, TUF metadata, rollouts); part of the Store contract. */

export interface ArtifactRecord {
  readonly name: string;
  readonly version: string;
  readonly sha256: string;
  readonly length: number;
  readonly severity: Severity;
  readonly compat: Record<string, string>;
  readonly releasedAt: number;
  readonly uploadedBy: string;
}

export interface ArtifactFloorRecord {
  readonly name: string;
  readonly version: string;
  readonly setAt: number;
  readonly setBy: string;
}

export interface TufMetadataRecord {
  readonly role: string;
  readonly version: number;
  /** The signed metadata document, JSON text exactly as served. */
  readonly body: string;
  readonly expiresAt: number;
  readonly createdAt: number;
}

export interface DeviceArtifactVersionRecord {
  readonly deviceId: string;
  readonly name: string;
  readonly version: string | null;
  readonly fellBackFrom: string | null;
  /** When the device first reported running `version`. */
  readonly installedAt: number | null;
  readonly reportedAt: number;
}

export interface ArtifactRepository {
  /** False, changing nothing, when the name and version exist already. */
  create(record: ArtifactRecord): Promise<boolean>;
  find(name: string, version: string): Promise<ArtifactRecord | undefined>;
  findBySha256(sha256: string): Promise<ArtifactRecord | undefined>;
  /** By name, then release time. */
  list(): Promise<ArtifactRecord[]>;
  setFloor(record: ArtifactFloorRecord): Promise<void>;
  floor(name: string): Promise<ArtifactFloorRecord | undefined>;
  /** False when this role already has this version (another replica signed first). */
  putTufMetadata(record: TufMetadataRecord): Promise<boolean>;
  latestTufMetadata(role: string): Promise<TufMetadataRecord | undefined>;
  tufMetadata(role: string, version: number): Promise<TufMetadataRecord | undefined>;
  /**
   * Records what the device runs. `installedAt` is kept while the version stays the same, and set to
   * `reportedAt` when it changes.
   */
  reportRunning(
    record: Omit<DeviceArtifactVersionRecord, 'installedAt'>,
  ): Promise<DeviceArtifactVersionRecord>;
  running(deviceId: string, name: string): Promise<DeviceArtifactVersionRecord | undefined>;
  /** Every device's running version of the artifact name, by device id. */
  runningOf(name: string): Promise<DeviceArtifactVersionRecord[]>;
}

export interface RolloutRecord {
  readonly id: string;
  readonly spec: CreateRolloutSpec;
  readonly state: RolloutState;
  readonly currentPhase: number;
  readonly phaseStartedAt: number | null;
  readonly reason: string | null;
  readonly createdAt: number;
  readonly createdBy: string;
  readonly updatedAt: number;
}

export interface RolloutDeviceRecord {
  readonly rolloutId: string;
  readonly deviceId: string;
  readonly phase: number;
  /** The device's site label ('' when it has none), for the per-site cap. */
  readonly site: string;
  readonly state: DeviceRolloutState;
  readonly assignedAt: number | null;
  readonly finishedAt: number | null;
  readonly detail: string;
  readonly updatedAt: number;
}

export interface RolloutStateCount {
  readonly phase: number;
  readonly state: DeviceRolloutState;
  readonly count: number;
  /** Latest `finishedAt` among them. */
  readonly lastFinishedAt: number | null;
}

export interface RolloutRepository {
  create(record: RolloutRecord, devices: readonly Omit<RolloutDeviceRecord, 'rolloutId'>[]): Promise<void>;
  find(id: string): Promise<RolloutRecord | undefined>;
  /** Newest first. */
  list(limit?: number): Promise<RolloutRecord[]>;
  /** Rollouts the manager still drives: running, and aborted ones whose devices roll back. */
  listActive(): Promise<RolloutRecord[]>;
  /**
   * Moves the rollout to `to` only if it is in one of `from` (guarded transition); false otherwise.
   */
  transition(
    id: string,
    from: readonly RolloutState[],
    to: Partial<Pick<RolloutRecord, 'state' | 'currentPhase' | 'phaseStartedAt' | 'reason'>> & {
      updatedAt: number;
    },
  ): Promise<boolean>;
  /** `assignedBefore`: only devices offered at or before that time (the overdue ones). */
  devices(
    rolloutId: string,
    filter?: { phase?: number; states?: readonly DeviceRolloutState[]; assignedBefore?: number },
  ): Promise<RolloutDeviceRecord[]>;
  device(rolloutId: string, deviceId: string): Promise<RolloutDeviceRecord | undefined>;
  /** Per phase and state, for the gates and the status view. */
  counts(rolloutId: string): Promise<RolloutStateCount[]>;
  /**
   * Moves the named devices from one of `from` to `to`; returns how many moved. `finished` stamps
   * finishedAt, `assigned` stamps assignedAt.
   */
  moveDevices(
    rolloutId: string,
    deviceIds: readonly string[] | 'all',
    from: readonly DeviceRolloutState[],
    to: DeviceRolloutState,
    at: number,
    options?: { detail?: string; finished?: boolean; assigned?: boolean; phase?: number },
  ): Promise<number>;
  /** The device's open part in any rollout (offered, under way or asked to roll back), newest rollout first. */
  openForDevice(
    deviceId: string,
  ): Promise<(RolloutDeviceRecord & { readonly rollout: RolloutRecord }) | undefined>;
  /**
   * Committed devices of the phase with an alert opened since they finished at one of `severities`.
   */
  alertedDevices(rolloutId: string, phase: number, severities: readonly Severity[]): Promise<string[]>;
}
