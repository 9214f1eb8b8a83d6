import type {
  AlertDeliveryState,
  AlertDigestSchedule,
  AlertEventRef,
  AlertResolution,
  AlertState,
  AuditCheckpoint,
  AuditEntry,
  AuditEntryInput,
  CertificateRecord,
  CheckResult,
  CompiledPolicy,
  DeviceCommand,
  DeviceCommandResult,
  DeviceCommandStatus,
  DeviceEvent,
  DeviceRecord,
  EnrollmentTokenRecord,
  EventRecord,
  EvidenceManifest,
  EvidenceState,
  IncidentRecord,
  IncidentState,
  IncidentTimelineRecord,
  InventoryChangeRecord,
  InventorySnapshotRecord,
  IsolationState,
  Labels,
  OperatorActionRecord,
  OperatorRecord,
  PolicyBundle,
  PolicySourceFile,
  Severity,
} from '@edgeward/core';
import type { ArtifactRepository, RolloutRepository } from './update-store.ts';

export type * from './update-store.ts';

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
  readonly events: EventRepository;
  readonly syslogOutbox: SyslogOutboxRepository;
  readonly policies: PolicyRepository;
  readonly compliance: ComplianceRepository;
  readonly alerts: AlertRepository;
  readonly alertDeliveries: AlertDeliveryRepository;
  readonly audit: AuditRepository;
  readonly commands: DeviceCommandRepository;
  readonly artifacts: ArtifactRepository;
  readonly rollouts: RolloutRepository;
  readonly evidence: EvidenceRepository;
  readonly incidents: IncidentRepository;
  readonly deviceAudit: DeviceAuditRepository;
  readonly figures: FleetFiguresRepository;
  readonly sites: SiteRepository;
  readonly notifications: StoreNotifications;
  /**
   * Runs `work` in one transaction: all its writes land, or none (a thrown error rolls back and is
   * rethrown). Inside `work`, use only the store it is given; the outer store refuses statements there
   * (EW_INTERNAL) rather than deadlock or write outside the transaction. Nested calls are savepoints.
   */
  transaction<T>(work: (store: Store) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/**
 * Short messages between the processes that share the store: PostgreSQL's LISTEN/NOTIFY, so that one
 * replica can tell the others that something changed. On SQLite, which one process uses, both do nothing.
 * Delivery is best effort (a notification sent while a listener's connection is down is lost), so a
 * notification only hurries what would also happen without it.
 */
export interface StoreNotifications {
  /**
   * Sends `payload` (a few kB at most) to every listener of `channel`, this process's included. On the store
   * given to `transaction(work)`, it goes out when the transaction commits, and not at all when it rolls back.
   */
  notify(channel: string, payload: string): Promise<void>;
  /**
   * Calls `onPayload` with every notification on `channel` until the returned function is called. Resolves
   * once listening; rejects with EW_DATABASE_UNAVAILABLE, listening to nothing, when that fails. Should the
   * connection break later, `onError` hears of it and listening resumes by itself (with backoff).
   */
  listen(
    channel: string,
    onPayload: (payload: string) => void,
    onError?: (error: Error) => void,
  ): Promise<() => Promise<void>>;
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
  /** The segment of the device's last compliance report. */
  readonly segment?: string;
}

/** Orders of the device list; each has an index, so a keyset page costs the same at any depth. */
export type DeviceSortKey = 'id' | 'name' | 'lastSeen' | 'enrolled';

export interface Page {
  /** At most this many rows (default 100). */
  readonly limit?: number;
  /** Rows after this device id (ids ascend). */
  readonly after?: string;
}

export interface DevicePage extends Page {
  /** Default id, ascending. Ties (same name, never seen) are broken by id in the same direction. */
  readonly sort?: DeviceSortKey;
  readonly order?: 'asc' | 'desc';
  /** Rows after this position of the sort: the last row of the previous page. */
  readonly from?: { readonly value: string | number | null; readonly id: string };
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
  list(filter?: DeviceListFilter, page?: DevicePage): Promise<DeviceRecord[]>;
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

/** A range of sequence numbers, both ends inclusive. */
export interface SeqRange {
  readonly from: number;
  readonly to: number;
}

export interface EventGapRecord extends SeqRange {
  /** When the batch that revealed the gap was received (manager clock). */
  readonly detectedAt: number;
}

export interface EventIngestResult {
  /** Every event of the device with seq ≤ ackedSeq is stored: what the manager acknowledges. */
  readonly ackedSeq: number;
  /** Events of the batch stored now. */
  readonly stored: number;
  /** Events of the batch already held (or repeated within it), ignored. */
  readonly duplicates: number;
  /** Ranges still missing below the highest sequence held, after this batch. */
  readonly gaps: SeqRange[];
  /** The part of `gaps` this batch revealed (above everything held before it); recorded. */
  readonly newGaps: SeqRange[];
}

export interface EventDeliveryState {
  /** 0 before the first event. */
  readonly ackedSeq: number;
  /** Stored sequence numbers above a gap, ascending. */
  readonly heldAbove: number[];
  /** Ranges still missing below the highest sequence held. */
  readonly gaps: SeqRange[];
  /** Gaps as they were first detected, newest first (at most 100), until retention prunes them. */
  readonly detectedGaps: EventGapRecord[];
}

/** Where a page of events ends: the last event returned, in the query's order. */
export interface EventCursor {
  readonly time: number;
  readonly deviceId: string;
  readonly seq: number;
}

export interface EventQueryFilter {
  readonly deviceId?: string;
  /** Device time, inclusive lower bound (ms). */
  readonly since?: number;
  /** Device time, exclusive upper bound (ms). */
  readonly until?: number;
  readonly type?: string;
  /** Minimum severity: `high` returns high and critical. */
  readonly severity?: Severity;
  /** At most this many rows (default 100). */
  readonly limit?: number;
  /** Only events strictly after this cursor in the query's order (older ones). */
  readonly before?: EventCursor;
}

/**
 * Device events, stored exactly once per (device, seq) however often and in whatever order batches
 * arrive, and each device's delivery state (what is acknowledged, what is held beyond a gap).
 */
export interface EventRepository {
  /**
   * In one transaction: reads the device's delivery state (locking it against concurrent ingests of
   * the same device), keeps the events of `events` not stored yet, inserts them with `receivedAt`,
   * advances the state and records newly revealed gaps. The device must exist.
   *
   * @param floorSeq the device's word that nothing at or below it will still come (delivered, or
   *   evicted and reported lost): the acknowledgement moves up to it even across a gap. Default 0.
   */
  ingest(
    deviceId: string,
    events: readonly DeviceEvent[],
    receivedAt: number,
    floorSeq?: number,
  ): Promise<EventIngestResult>;
  /** Newest first: by device time, then device id and sequence, descending. */
  query(filter?: EventQueryFilter): Promise<EventRecord[]>;
  /** Deletes events received before `olderThanReceivedAt` (and gap records detected before it); returns how many events. */
  prune(olderThanReceivedAt: number): Promise<number>;
  /** The device's delivery state; a device that never sent events has ackedSeq 0 and nothing held. */
  deliveryState(deviceId: string): Promise<EventDeliveryState>;
}

/** A message to queue for syslog out. */
export interface SyslogOutboxInput {
  /** When it was queued, ms since the epoch. */
  readonly createdAt: number;
  /** The formatted RFC 5424 message, without framing. */
  readonly message: string;
}

export interface SyslogOutboxMessage extends SyslogOutboxInput {
  /** Grows with every message queued, never reused: the order the SIEM must receive them in. */
  readonly id: number;
}

export interface SyslogOutboxTrimResult {
  /** Messages dropped, oldest first. */
  readonly removed: number;
  /** `createdAt` of the oldest and newest dropped message; null when none was dropped. */
  readonly firstCreatedAt: number | null;
  readonly lastCreatedAt: number | null;
}

/**
 * Messages waiting for the SIEM (syslog out), oldest first, kept on disk so that an outage or a restart
 * loses none. On PostgreSQL every write takes one lock until its transaction ends, so ids are assigned in
 * commit order: a reader that sees id n has seen every message below it, and `remove(uptoId)` after a
 * `peek` cannot take a message committed later with a smaller id. The rest of a transaction that wrote
 * here is serialized with the other writers too (the sender's bookkeeping in `meta` relies on it).
 */
export interface SyslogOutboxRepository {
  /** Appends the messages in the order given; enqueued inside a transaction, they land or fail with it. */
  enqueue(messages: readonly SyslogOutboxInput[]): Promise<void>;
  /** The oldest `limit` messages (default 100) by id, only those after `afterId` when given. */
  peek(limit?: number, afterId?: number): Promise<SyslogOutboxMessage[]>;
  /** Removes every message with an id up to and including `uptoId`; returns how many. */
  remove(uptoId: number): Promise<number>;
  count(): Promise<number>;
  /** Drops the oldest messages until at most `max` are left. */
  trim(max: number): Promise<SyslogOutboxTrimResult>;
}

/** A signed bundle of a policy version, with what decides when it must be signed again. */
export interface SignedPolicyBundle {
  readonly bundle: PolicyBundle;
  /** Names the revoked certificates its CRLs list, so a revocation shows as a different digest. */
  readonly crlDigest: string;
  /** When its CRLs were issued (they expire some time after). */
  readonly crlIssuedAt: number;
}

/** A policy version without its (large) source files, compiled policy and bundle. */
export interface PolicyVersionSummary {
  /** 1, 2, 3, …: only ever grows; the highest is the version in force. */
  readonly version: number;
  readonly createdAt: number;
  readonly authorId: string;
  readonly authorName: string;
  readonly message: string;
  readonly gitCommit: string | null;
  readonly policyDigest: string;
  /** The version whose policy this one restored, for a rollback. */
  readonly rollbackOf: number | null;
  readonly bundleIssuedAt: number;
  readonly bundleExpiresAt: number;
}

export interface PolicyVersionRecord
  extends Omit<PolicyVersionSummary, 'bundleIssuedAt' | 'bundleExpiresAt'> {
  readonly sourceFiles: readonly PolicySourceFile[];
  readonly policy: CompiledPolicy;
  readonly signed: SignedPolicyBundle;
}

/** What serving the version in force needs to know without reading its bundle. */
export interface PolicyBundleHead {
  readonly version: number;
  readonly issuedAt: number;
  readonly expiresAt: number;
  readonly crlDigest: string;
  readonly crlIssuedAt: number;
}

/**
 * Policy versions: each stored once with its author, message, git commit, source files, compiled policy
 * and signed bundle. Only the bundle ever changes, replaced by a re-signed one of the same version.
 */
export interface PolicyRepository {
  /**
   * The latest version, read under a lock held until the transaction ends (PostgreSQL: an advisory lock;
   * SQLite: the transaction's write lock), so that two applies cannot both make version n + 1. Call it
   * inside `store.transaction` before `create`.
   */
  lockLatest(): Promise<PolicyVersionSummary | undefined>;
  /** Throws when the version exists (EW_INTERNAL): versions are never overwritten. */
  create(record: PolicyVersionRecord): Promise<void>;
  latest(): Promise<PolicyVersionSummary | undefined>;
  get(version: number): Promise<PolicyVersionRecord | undefined>;
  has(version: number): Promise<boolean>;
  /** Newest first; `limit` defaults to 100; `before` pages to versions below it. */
  list(options?: { limit?: number; before?: number }): Promise<PolicyVersionSummary[]>;
  /** The bundle metadata of the highest version; undefined before the first apply. */
  head(): Promise<PolicyBundleHead | undefined>;
  signedBundle(version: number): Promise<SignedPolicyBundle | undefined>;
  /**
   * Replaces the bundle of `version` only if its issue time is still `expectedIssuedAt`: of replicas
   * re-signing at once, one wins and the others get false (and read the winner's bundle).
   */
  replaceBundle(version: number, expectedIssuedAt: number, next: SignedPolicyBundle): Promise<boolean>;
}

/** A device's compliance report as the manager stores it. */
export interface ComplianceReportInput {
  readonly bundleVersion: number;
  readonly segment: string;
  /** Device clock. */
  readonly evaluatedAt: number;
  readonly stale: boolean;
  /** Manager clock. */
  readonly receivedAt: number;
  /** A check listed twice keeps its last result. */
  readonly results: readonly CheckResult[];
}

export interface ComplianceSaveResult {
  /** False when the report was older than the one stored (a lower bundle version, or evaluated earlier). */
  readonly applied: boolean;
  /** Check results stored. */
  readonly stored: number;
}

export interface ComplianceDeviceState {
  readonly deviceId: string;
  readonly bundleVersion: number;
  readonly segment: string;
  readonly evaluatedAt: number;
  readonly stale: boolean;
  readonly receivedAt: number;
}

export interface ComplianceResultRecord extends CheckResult {
  readonly segment: string;
  readonly bundleVersion: number;
  /** When the check took its current status on the device (device clock). */
  readonly statusSince: number;
}

export interface ComplianceStatusCounts {
  readonly pass: number;
  readonly fail: number;
  readonly error: number;
  readonly notApplicable: number;
}

export interface ComplianceSummary {
  /** Devices that reported at least once (revoked ones left out, here and below). */
  readonly devices: number;
  /** Devices whose last report says their bundle had expired. */
  readonly staleDevices: number;
  /** Per segment, ascending by id: devices in it by their last report, and their checks' statuses. */
  readonly bySegment: readonly (ComplianceStatusCounts & {
    readonly segment: string;
    readonly devices: number;
  })[];
  /** Per check, ascending by id: how many devices report each status. */
  readonly byCheck: readonly (ComplianceStatusCounts & { readonly checkId: string })[];
}

export interface ComplianceTrendDay extends ComplianceStatusCounts {
  /** Start of the day (ms); the counts are the statuses in effect at its end (or at `to` for the last). */
  readonly dayStart: number;
}

/**
 * Each device's latest compliance results, the history of their status changes, and the fleet-wide
 * aggregates over them (computed in SQL, so they stay fast at 100,000 devices).
 */
export interface ComplianceRepository {
  /**
   * In one transaction (locking the device's state against concurrent reports): ignores a report older
   * than the one stored, else replaces every result of the device with the report's, keeps each check's
   * `statusSince` while its status holds, and records status changes (and checks no longer reported, as
   * `removed`) in the history. The device must exist.
   */
  saveReport(deviceId: string, report: ComplianceReportInput): Promise<ComplianceSaveResult>;
  deviceState(deviceId: string): Promise<ComplianceDeviceState | undefined>;
  /** Ascending by check id. */
  deviceResults(deviceId: string): Promise<ComplianceResultRecord[]>;
  summary(): Promise<ComplianceSummary>;
  /** Devices whose last report says stale, oldest evaluation first; `limit` defaults to 100. */
  staleDevices(limit?: number): Promise<ComplianceDeviceState[]>;
  /** Check ids with status `fail` per device (unrevoked devices only). */
  failingChecks(): Promise<Map<string, string[]>>;
  /**
   * One entry per day from `from` (a day start, ms) while before `to`, each with the statuses in effect
   * at the day's end: read from the history of status changes.
   */
  trend(from: number, to: number, dayMs?: number): Promise<ComplianceTrendDay[]>;
}

/** One alert: a rule's findings for one group of field values, merged across signals, with its lifecycle. */
export interface AlertRecord {
  readonly id: string;
  readonly ruleId: string;
  readonly ruleTitle: string;
  readonly kind: 'detection' | 'correlation';
  /** With `ruleId`, the alert's identity: one alert per rule and group, reopened when it recurs. */
  readonly groupKey: string;
  readonly groupFields: Readonly<Record<string, string>>;
  readonly severity: Severity;
  readonly tier: Severity;
  readonly state: AlertState;
  readonly source: 'agent' | 'hub' | 'site';
  /** On a hub, the site whose own rules raised it (its id is the site's); null for the hub's own alerts. */
  readonly siteId: string | null;
  /** With `siteId`: the site's `updatedAt` of the copy held, on the site's clock; null otherwise. */
  readonly siteChangedAt: number | null;
  readonly deviceIds: readonly string[];
  /** Event time (device clocks). */
  readonly firstSeen: number;
  readonly lastSeen: number;
  readonly count: number;
  /** The first events behind it, at most 50. */
  readonly eventRefs: readonly AlertEventRef[];
  /**
   * The rule engine's latest bursts merged in (each named by its first event reference), oldest first, with
   * the running total the engine last reported for each: an update adds only what its burst grew by, so a
   * repeated or late signal adds nothing. Bounded (the service keeps the last 32).
   */
  readonly bursts: readonly AlertBurst[];
  readonly response: readonly string[];
  readonly route: readonly string[];
  /** Operator id. */
  readonly assignee: string | null;
  readonly resolution: AlertResolution | null;
  readonly suppressedUntil: number | null;
  /** Manager clock from here on. */
  readonly createdAt: number;
  /** Created or last reopened. */
  readonly openedAt: number;
  readonly acknowledgedAt: number | null;
  readonly resolvedAt: number | null;
  readonly reopenedCount: number;
  readonly lastSignalAt: number;
  readonly updatedAt: number;
}

/** One burst of a rule engine's alert: a first signal and the updates that grew it. */
export interface AlertBurst {
  readonly key: string;
  readonly count: number;
}

/** A place in the order of alert changes: the last change taken. */
export interface AlertChangePosition {
  readonly updatedAt: number;
  readonly id: string;
}

/** Where a page of alerts ends: the last alert returned. */
export interface AlertCursor {
  readonly lastSignalAt: number;
  readonly id: string;
}

export interface AlertListFilter {
  readonly state?: AlertState;
  readonly tier?: Severity;
  /** Minimum severity. */
  readonly severity?: Severity;
  readonly ruleId?: string;
  readonly deviceId?: string;
  /** Operator id. */
  readonly assignee?: string;
  /** Last signal at or after (manager clock). */
  readonly since?: number;
  /** Only alerts strictly after this cursor (older last signal). */
  readonly before?: AlertCursor;
  /** Default 100. */
  readonly limit?: number;
}

export interface AlertNoteRecord {
  readonly alertId: string;
  readonly at: number;
  readonly authorId: string;
  readonly author: string;
  readonly text: string;
}

/** One change of an alert, for its timeline and the noise figures. */
export interface AlertHistoryRecord {
  readonly alertId: string;
  /** Copied from the alert so that noise figures read this table alone. */
  readonly ruleId: string;
  readonly at: number;
  readonly actor: string;
  /** created, merged, escalated, reopened, acknowledged, resolved, assigned, suppressed, unsuppressed, … */
  readonly kind: string;
  /** For `resolved`. */
  readonly resolution?: AlertResolution;
  /** For `acknowledged`: time since the alert was (re)opened, ms. */
  readonly durationMs?: number;
  readonly change: Readonly<Record<string, unknown>>;
}

/** Per rule, over a period: the facts the noise figures are computed from. */
export interface AlertRuleNoiseFacts {
  readonly ruleId: string;
  /** From the rule's alert (the title it had at its last signal). */
  readonly ruleTitle: string;
  readonly raised: number;
  /** Time to acknowledge of each acknowledgement, ascending. */
  readonly acknowledgeMs: readonly number[];
  /** By an operator. */
  readonly resolved: number;
  readonly falsePositive: number;
  readonly autoResolved: number;
  /** Not resolved now, whatever the period. */
  readonly unresolved: number;
}

/**
 * Alerts, their comments and their history. One alert per (rule, group): `insert` refuses a second, and
 * `lockByGroup` makes concurrent merges into one alert wait for each other.
 */
export interface AlertRepository {
  /**
   * The alert of the rule and group, locked until the transaction ends (PostgreSQL: FOR UPDATE; SQLite: the
   * transaction's write lock). Call it inside `store.transaction`.
   */
  lockByGroup(ruleId: string, groupKey: string): Promise<AlertRecord | undefined>;
  /** False (and nothing written) when the rule and group already have an alert, maybe committed meanwhile. */
  insert(alert: AlertRecord): Promise<boolean>;
  /** Writes every field but the id, rule and group; throws EW_INTERNAL when the alert does not exist. */
  update(alert: AlertRecord): Promise<void>;
  get(id: string): Promise<AlertRecord | undefined>;
  /** By last signal, newest first (then id, descending). */
  list(filter?: AlertListFilter): Promise<AlertRecord[]>;
  /**
   * Alerts not resolved whose last signal came before `quietBefore`, oldest first, leaving out those
   * suppressed beyond `now` and those a site owns (`siteId` set: the site resolves them) (at most `limit`,
   * default 100).
   */
  listQuiet(quietBefore: number, now: number, limit?: number): Promise<AlertRecord[]>;
  /**
   * Suppressed alerts whose `suppressedUntil` is at or before `now`, leaving out those a site owns (at most
   * `limit`, default 100).
   */
  listSuppressionEnded(now: number, limit?: number): Promise<AlertRecord[]>;
  /**
   * Alerts of `source` changed after `after` (by `updatedAt`, then id), oldest change first, at most
   * `limit`: what a site has not yet sent its hub.
   */
  listChanged(
    source: AlertRecord['source'],
    after: AlertChangePosition | undefined,
    limit: number,
  ): Promise<AlertRecord[]>;
  addNote(note: AlertNoteRecord): Promise<void>;
  /** Oldest first. */
  notes(alertId: string): Promise<AlertNoteRecord[]>;
  addHistory(entry: AlertHistoryRecord): Promise<void>;
  /** Oldest first. */
  history(alertId: string): Promise<AlertHistoryRecord[]>;
  /** Per rule with history in [from, to), most raised first. */
  noise(from: number, to: number): Promise<AlertRuleNoiseFacts[]>;
}

/** A notification to send: one alert's, or a digest's. */
export interface AlertDeliveryInput {
  readonly id: string;
  readonly alertId: string | null;
  /** Set for a digest; one delivery per destination and digest key. */
  readonly digestKey: string | null;
  readonly destination: string;
  readonly payload: unknown;
  /** `delivered` for what is handed over at once in the transaction (syslog out's own outbox). */
  readonly state: 'pending' | 'delivered';
  readonly createdAt: number;
}

export interface AlertDeliveryRecord {
  readonly id: string;
  readonly alertId: string | null;
  readonly digestKey: string | null;
  readonly destination: string;
  readonly payload: unknown;
  readonly state: AlertDeliveryState;
  readonly attempts: number;
  readonly nextAttemptAt: number;
  readonly lastError: string | null;
  readonly createdAt: number;
  readonly deliveredAt: number | null;
}

/** An alert waiting for the next digest of a destination. */
export interface AlertDigestItem {
  readonly destination: string;
  readonly schedule: AlertDigestSchedule;
  readonly alertId: string;
  readonly queuedAt: number;
}

export interface AlertDeliveryFailure {
  readonly at: number;
  readonly error: string;
  readonly nextAttemptAt: number;
  /** From this many attempts on, the delivery shows as `failing`. */
  readonly failingAfter: number;
}

/**
 * The durable outbox of alert notifications. Deliveries are written in the transaction that changed the
 * alert; senders (one per manager replica) claim due ones with a lease, so that each is sent by one
 * replica at a time, and a crashed sender's claims expire. Nothing is ever dropped: a failing delivery is
 * retried until it succeeds.
 */
export interface AlertDeliveryRepository {
  /** Writes the deliveries; a digest already written for its destination and key is skipped. Returns how many were written. */
  enqueue(deliveries: readonly AlertDeliveryInput[]): Promise<number>;
  /**
   * Claims up to `limit` deliveries not delivered, due at `now` and not claimed by a live lease, for
   * `owner` until `leaseUntil`, in one atomic statement; oldest due first.
   */
  claimDue(owner: string, now: number, leaseUntil: number, limit: number): Promise<AlertDeliveryRecord[]>;
  /** Only while `owner` holds the claim; false when it does not (the lease expired and another took it). */
  markDelivered(id: string, owner: string, at: number): Promise<boolean>;
  /** Counts the attempt and schedules the next; only while `owner` holds the claim. */
  markFailed(id: string, owner: string, failure: AlertDeliveryFailure): Promise<boolean>;
  /** Drops every claim of `owner`, so that what it held is due again at once (a clean stop). */
  releaseClaims(owner: string): Promise<number>;
  get(id: string): Promise<AlertDeliveryRecord | undefined>;
  /** Newest first; `limit` defaults to 100. */
  list(options?: {
    state?: AlertDeliveryState;
    alertId?: string;
    limit?: number;
  }): Promise<AlertDeliveryRecord[]>;
  /** Queues alerts for digests; an alert already waiting for the same destination and schedule is kept once. */
  queueDigestItems(items: readonly AlertDigestItem[]): Promise<void>;
  /**
   * Removes and returns the items of `schedule` queued before `before`, oldest first. On PostgreSQL it takes
   * a lock held until the transaction ends, so replicas building the same digest take turns and the later
   * finds nothing left; call it inside `store.transaction` with the enqueue of the digests.
   */
  takeDigestItems(schedule: AlertDigestSchedule, before: number): Promise<AlertDigestItem[]>;
}

/**
 * The tamper-evident audit chain (see core's audit-chain.ts): entries linked by hash, numbered 1, 2, 3, …
 * without gaps, and signed checkpoints. Entries are never updated or deleted by Edgeward.
 */
export interface AuditRepository {
  /**
   * Appends the entry that follows the latest one, in the caller's transaction (a savepoint of it, or a
   * transaction of its own outside one). On PostgreSQL it takes an advisory lock held until the caller's
   * transaction ends, so that replicas appending at once take turns and the chain stays one line; on
   * SQLite the transaction's write lock does the same.
   */
  append(input: AuditEntryInput): Promise<AuditEntry>;
  latest(): Promise<AuditEntry | undefined>;
  /** Ascending, from `fromSeq` (default 1), at most `limit` (default all). */
  range(options?: { fromSeq?: number; limit?: number }): Promise<AuditEntry[]>;
  /** Newest first; `limit` defaults to 100; `before` pages to entries below that seq. */
  list(options?: { limit?: number; before?: number }): Promise<AuditEntry[]>;
  /** The seq of the first entry recorded at or after `at`, or undefined when none is. */
  firstSeqAtOrAfter(at: number): Promise<number | undefined>;
  count(): Promise<number>;
  /** False (and nothing written) when a checkpoint for this seq exists, maybe written by another replica. */
  addCheckpoint(checkpoint: AuditCheckpoint): Promise<boolean>;
  /** Ascending, those covering seq `fromSeq` (default 1) or later. */
  checkpoints(options?: { fromSeq?: number }): Promise<AuditCheckpoint[]>;
  latestCheckpoint(): Promise<AuditCheckpoint | undefined>;
}

/** Where the data lives: `sqlite:PATH` (or `sqlite::memory:`) or a `postgres://` URL. */
export interface StoreOptions {
  readonly database: string;
  /** PostgreSQL only: the schema to use (created when missing). Default `public`. */
  readonly schema?: string;
}

/** A command to one device, with its delivery and outcome. */
export type DeviceCommandRecord = DeviceCommand & {
  readonly status: DeviceCommandStatus;
  /** First delivery (push, heartbeat reply or poll); null while pending. */
  readonly sentAt: number | null;
  /** When the device's result arrived (manager clock). */
  readonly acknowledgedAt: number | null;
  readonly result: DeviceCommandResult | null;
};

/** What operators asked of a device's isolation, and what the device last reported. */
export interface DeviceIsolationRecord {
  readonly deviceId: string;
  readonly desired: 'isolated' | 'released';
  readonly desiredAt: number;
  readonly desiredBy: string;
  readonly reason: string;
  readonly commandId: string;
  readonly reported: IsolationState | null;
  readonly reportedAt: number | null;
}

export interface DeviceCommandRepository {
  /** Stores a new command as pending. */
  create(command: DeviceCommand): Promise<void>;
  findById(id: string): Promise<DeviceCommandRecord | undefined>;
  /** Newest first. */
  listByDevice(deviceId: string, limit?: number): Promise<DeviceCommandRecord[]>;
  /** Pending and sent commands of the device (no result yet), oldest first (created, then id). */
  listOpen(deviceId: string): Promise<DeviceCommandRecord[]>;
  /**
   * Pending and sent commands of every device carrying the label, oldest first, at most `limit`: on a
   * hub, what a site relays to its devices.
   */
  listOpenByLabel(key: string, value: string, limit: number): Promise<DeviceCommandRecord[]>;
  /** Marks pending commands sent at `at`; commands already sent or finished keep their state. */
  markSent(ids: readonly string[], at: number): Promise<number>;
  /**
   * Records the device's first result for the command: status `done` for a done result, else `failed`.
   * Returns false, changing nothing, when the command already has a result (duplicates are harmless).
   */
  complete(id: string, result: DeviceCommandResult, at: number): Promise<boolean>;
  /** Sets what operators want (replacing the previous wish) and keeps the last reported state. */
  setDesiredIsolation(record: Omit<DeviceIsolationRecord, 'reported' | 'reportedAt'>): Promise<void>;
  /** Records the state the device reported; nothing happens for a device never asked to isolate. */
  reportIsolation(deviceId: string, reported: IsolationState, at: number): Promise<void>;
  findIsolation(deviceId: string): Promise<DeviceIsolationRecord | undefined>;
}

/** An evidence bundle: its signed manifest, and how far its upload got. */
export interface EvidenceRecord {
  readonly id: string;
  readonly deviceId: string;
  readonly manifest: EvidenceManifest;
  readonly signature: string;
  readonly certificatePem: string;
  readonly receivedBytes: number;
  readonly state: EvidenceState;
  readonly problem: string | null;
  /** Manager clock. */
  readonly createdAt: number;
  readonly updatedAt: number;
  readonly verifiedAt: number | null;
}

export interface EvidenceRepository {
  /** Stores a new bundle as uploading; false (nothing written) when one with this id exists. */
  create(record: Omit<EvidenceRecord, 'state' | 'problem' | 'verifiedAt'>): Promise<boolean>;
  get(id: string): Promise<EvidenceRecord | undefined>;
  /** Newest first; `limit` defaults to 100. */
  list(options?: { deviceId?: string; limit?: number }): Promise<EvidenceRecord[]>;
  /**
   * Moves `receivedBytes` from `from` to `to` only while it is `from` and the bundle is uploading; false
   * when another upload got there first.
   */
  advance(id: string, from: number, to: number, at: number): Promise<boolean>;
  /** Sets the final state of an uploading bundle; false when it was not uploading. */
  finish(id: string, state: 'verified' | 'rejected', problem: string | null, at: number): Promise<boolean>;
}

export interface IncidentListFilter {
  readonly state?: IncidentState;
  readonly deviceId?: string;
  /** Leave out closed incidents. */
  readonly active?: boolean;
  /** Default 100. */
  readonly limit?: number;
}

/** Incidents and what happened to each; the timeline is append-only. */
export interface IncidentRepository {
  create(incident: IncidentRecord): Promise<void>;
  get(id: string): Promise<IncidentRecord | undefined>;
  /** Writes every field but the id, device and opening; throws EW_INTERNAL when the incident does not exist. */
  update(incident: IncidentRecord): Promise<void>;
  /** Newest opened first. */
  list(filter?: IncidentListFilter): Promise<IncidentRecord[]>;
  addTimeline(entry: IncidentTimelineRecord): Promise<void>;
  /** Oldest first (recording order). */
  timeline(incidentId: string): Promise<IncidentTimelineRecord[]>;
}

/** A device checkpoint the manager anchored, with the seq of its own chain entry that did. */
export interface DeviceAuditAnchorRecord extends AuditCheckpoint {
  readonly deviceId: string;
  readonly managerSeq: number;
  /** The device certificate whose key signed it. */
  readonly certificatePem: string;
}

/** Each device's own audit chain, as uploaded, and its anchored checkpoints. */
export interface DeviceAuditRepository {
  /** Appends entries (seq must follow the stored ones; the caller checks the links). */
  append(deviceId: string, entries: readonly AuditEntry[]): Promise<void>;
  latest(deviceId: string): Promise<AuditEntry | undefined>;
  /** Ascending. */
  entries(deviceId: string): Promise<AuditEntry[]>;
  addAnchor(anchor: DeviceAuditAnchorRecord): Promise<void>;
  /** Ascending by seq. */
  anchors(deviceId: string): Promise<DeviceAuditAnchorRecord[]>;
}

export interface AttentionDeviceRecord {
  readonly id: string;
  readonly name: string;
  readonly lastSeenAt: number | null;
  readonly offline: boolean;
  /** At least one check failing in its last compliance report: it drifted from the baseline. */
  readonly drifted: boolean;
  /** Its last compliance report was made under an expired bundle. */
  readonly stalePolicy: boolean;
  /** Operators asked for its isolation (and have not released it). */
  readonly isolated: boolean;
}

/** The overview's figures; revoked devices count only in `revoked`. */
export interface FleetFigures {
  readonly total: number;
  readonly online: number;
  readonly offline: number;
  readonly revoked: number;
  /** Ascending by segment; `unreported` for devices without a compliance report. */
  readonly bySegment: { readonly segment: string; readonly devices: number }[];
  /** Ascending by the `site` label's value; `(none)` for devices without one. */
  readonly bySite: { readonly site: string; readonly devices: number }[];
  /** Alerts not resolved, per tier (tiers without any are left out). */
  readonly openAlertsByTier: { readonly tier: string; readonly count: number }[];
  readonly attention: {
    readonly offline: number;
    readonly drifted: number;
    readonly stalePolicy: number;
    readonly isolated: number;
    /**
     * Up to the limit asked: the first of each reason (by id), ordered by how many reasons they have,
     * isolated ones first among equals, then by id.
     */
    readonly devices: AttentionDeviceRecord[];
  };
}

export interface FleetFiguresRepository {
  /** Offline: not seen within three reporting intervals of `now`. */
  overview(now: number, attentionLimit: number): Promise<FleetFigures>;
  /** Alerts created or reopened at or after `from`, counted per tier and per `bucketMs` since `from`. */
  alertVolume(from: number, bucketMs: number): Promise<{ bucket: number; tier: string; count: number }[]>;
}

/** A site as its hub knows it (docs/federation.md). */
export interface SiteRecord {
  /** Also the id of the site's own device record and the last part of `spiffe://<fleet>/site/<id>`. */
  readonly id: string;
  readonly name: string;
  /** The declared offline budget: how long the site may run cut off. */
  readonly maxOfflineMs: number;
  readonly createdAt: number;
  readonly createdBy: string;
  /** The one-time token the site enrolls with. */
  readonly enrollmentTokenId: string;
  readonly enrolledAt: number | null;
  /** The key (Ed25519, SPKI PEM) the site signs its overlays with. */
  readonly overlayPublicKeyPem: string | null;
  /** The key (Ed25519, SPKI PEM) the site signs TUF timestamps with; the hub's root lists it. */
  readonly tufTimestampPublicKeyPem: string | null;
  /** The delegated issuing CA currently held by the site. */
  readonly caSerial: string | null;
  readonly caNotAfter: number | null;
  /** The last time the site reached the hub. */
  readonly lastSyncAt: number | null;
  /** Events waiting at the site for the hub, as last reported. */
  readonly backlog: number;
  /** When the site's offline budget runs out if the link breaks now (reported by the site). */
  readonly budgetEndsAt: number | null;
  /** Conflicts recorded by the last merge of the site's overlay. */
  readonly conflicts: number;
  /** When the hub revoked the whole site (its identity and its delegated CA); null while it is trusted. */
  readonly revokedAt: number | null;
}

export type SitePatch = Partial<Omit<SiteRecord, 'id' | 'createdAt' | 'createdBy' | 'enrollmentTokenId'>>;

/** Sites on a hub; on a site, its uplink to the hub; on both, signed overlays. */
export interface SiteRepository {
  create(site: SiteRecord): Promise<void>;
  findById(id: string): Promise<SiteRecord | undefined>;
  findByEnrollmentToken(tokenId: string): Promise<SiteRecord | undefined>;
  /** By id. */
  list(): Promise<SiteRecord[]>;
  /** False when no site has this id. */
  update(id: string, patch: SitePatch): Promise<boolean>;
  /**
   * Events not yet acknowledged by the hub, by device then sequence, at most `limit`: for each device only
   * those up to its contiguous delivery state here, so that the hub sees them in order.
   */
  pendingUplink(limit: number): Promise<EventRecord[]>;
  /** How many events wait for the hub (same rule as pendingUplink). */
  uplinkBacklog(): Promise<number>;
  /** Records the hub's acknowledgement of a device's events; it only moves forward. */
  recordUplinkAck(deviceId: string, ackedSeq: number): Promise<void>;
  /** The hub's acknowledgement of a device; 0 before any. */
  uplinkAck(deviceId: string): Promise<number>;
  /** Devices whose latest inventory version here is newer than the one the hub holds, by id, at most `limit`. */
  pendingInventories(limit: number): Promise<{ deviceId: string; version: number }[]>;
  /** Records that the hub holds the device's inventory up to `version` (site's numbering); only moves forward. */
  recordInventoryForwarded(deviceId: string, version: number): Promise<void>;
  /** Devices whose latest compliance report here (by receipt) the hub does not hold, by id, at most `limit`. */
  pendingCompliance(limit: number): Promise<{ deviceId: string; receivedAt: number }[]>;
  /** Records that the hub holds the device's compliance report received here at `receivedAt`; only moves forward. */
  recordComplianceForwarded(deviceId: string, receivedAt: number): Promise<void>;
  /** Stores a signed overlay (JSON) for the site, replacing an older version; false when not newer. */
  saveOverlay(siteId: string, version: number, overlayJson: string, at: number): Promise<boolean>;
  findOverlay(
    siteId: string,
  ): Promise<{ version: number; overlayJson: string; updatedAt: number } | undefined>;
  /** On a site: how far a stream (alerts, audit) reached the hub, as the uplink wrote it; undefined before. */
  relayPosition(stream: string): Promise<string | undefined>;
  saveRelayPosition(stream: string, position: string): Promise<void>;
  /** On a site: notes a hub command queued here; false (nothing written) when it was queued before. */
  recordRelayedCommand(commandId: string, deviceId: string, at: number): Promise<boolean>;
  /** Relayed commands with a result the hub has not got yet, oldest first, at most `limit`. */
  pendingRelayedResults(limit: number): Promise<DeviceCommandRecord[]>;
  /** Records that the hub holds the results of these relayed commands. */
  recordRelayedResultsForwarded(commandIds: readonly string[], at: number): Promise<void>;
}
