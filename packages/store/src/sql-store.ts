import { EdgewardError } from '@edgeward/core';
import type { NotificationListener } from './postgres/postgres-listener.ts';
import { SqlAlertRepository } from './repositories/alert.repository.ts';
import { SqlAlertDeliveryRepository } from './repositories/alert-delivery.repository.ts';
import { SqlArtifactRepository } from './repositories/artifact.repository.ts';
import { SqlAuditRepository } from './repositories/audit.repository.ts';
import { SqlCertificateRepository } from './repositories/certificate.repository.ts';
import { SqlComplianceRepository } from './repositories/compliance.repository.ts';
import { SqlDeviceRepository } from './repositories/device.repository.ts';
import { SqlDeviceAuditRepository } from './repositories/device-audit.repository.ts';
import { SqlDeviceCommandRepository } from './repositories/device-command.repository.ts';
import { SqlEnrollmentTokenRepository } from './repositories/enrollment-token.repository.ts';
import { SqlEventRepository } from './repositories/event.repository.ts';
import { SqlEvidenceRepository } from './repositories/evidence.repository.ts';
import { SqlFleetFiguresRepository } from './repositories/fleet-figures.repository.ts';
import { SqlIncidentRepository } from './repositories/incident.repository.ts';
import { SqlInventoryRepository } from './repositories/inventory.repository.ts';
import { SqlMetaRepository } from './repositories/meta.repository.ts';
import { SqlOperatorRepository } from './repositories/operator.repository.ts';
import { SqlOperatorActionRepository } from './repositories/operator-action.repository.ts';
import { SqlPolicyRepository } from './repositories/policy.repository.ts';
import { SqlRolloutRepository } from './repositories/rollout.repository.ts';
import { SqlSiteRepository } from './repositories/site.repository.ts';
import { SqlSyslogOutboxRepository } from './repositories/syslog-outbox.repository.ts';
import type { SqlExecutor } from './sql/executor.ts';
import type {
  AlertDeliveryRepository,
  AlertRepository,
  AuditRepository,
  CertificateRepository,
  ComplianceRepository,
  DeviceAuditRepository,
  DeviceCommandRepository,
  DeviceRepository,
  EnrollmentTokenRepository,
  EventRepository,
  EvidenceRepository,
  FleetFiguresRepository,
  IncidentRepository,
  InventoryRepository,
  MetaRepository,
  OperatorActionRepository,
  OperatorRepository,
  PolicyRepository,
  SiteRepository,
  Store,
  StoreNotifications,
  SyslogOutboxRepository,
} from './store.ts';
import type { ArtifactRepository, RolloutRepository } from './update-store.ts';

/** The one Store implementation, over whichever executor it is given: a database or a transaction. */
export class SqlStore implements Store {
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
  readonly #db: SqlExecutor;
  readonly #close: (() => Promise<void>) | undefined;
  readonly #listener: NotificationListener | undefined;

  /**
   * @param close closes the database; absent for a store bound to a transaction.
   * @param listener the database's notification listener, handed down to transactions; by default the
   *   one `db` carries (PostgreSQL), none for SQLite.
   */
  constructor(db: SqlExecutor, close?: () => Promise<void>, listener = listenerOf(db)) {
    this.engine = db.dialect;
    this.#db = db;
    this.#close = close;
    this.#listener = listener;
    this.notifications =
      listener === undefined ? singleProcessNotifications : new SqlNotifications(db, listener);
    this.meta = new SqlMetaRepository(db);
    this.tokens = new SqlEnrollmentTokenRepository(db);
    this.devices = new SqlDeviceRepository(db);
    this.certificates = new SqlCertificateRepository(db);
    this.inventory = new SqlInventoryRepository(db);
    this.operators = new SqlOperatorRepository(db);
    this.actions = new SqlOperatorActionRepository(db);
    this.events = new SqlEventRepository(db);
    this.syslogOutbox = new SqlSyslogOutboxRepository(db);
    this.policies = new SqlPolicyRepository(db);
    this.compliance = new SqlComplianceRepository(db);
    this.alerts = new SqlAlertRepository(db);
    this.alertDeliveries = new SqlAlertDeliveryRepository(db);
    this.audit = new SqlAuditRepository(db);
    this.commands = new SqlDeviceCommandRepository(db);
    this.artifacts = new SqlArtifactRepository(db);
    this.rollouts = new SqlRolloutRepository(db);
    this.evidence = new SqlEvidenceRepository(db);
    this.incidents = new SqlIncidentRepository(db);
    this.deviceAudit = new SqlDeviceAuditRepository(db);
    this.figures = new SqlFleetFiguresRepository(db);
    this.sites = new SqlSiteRepository(db);
  }

  transaction<T>(work: (store: Store) => Promise<T>): Promise<T> {
    return this.#db.transaction((tx) => work(new SqlStore(tx, undefined, this.#listener)));
  }

  async close(): Promise<void> {
    if (this.#close === undefined) {
      throw new EdgewardError(
        'EW_INTERNAL',
        'a store bound to a transaction cannot be closed; close the store that opened the transaction',
      );
    }
    await this.#close();
  }
}

/** NOTIFY through the store's own executor, so that inside a transaction it waits for the commit. */
class SqlNotifications implements StoreNotifications {
  readonly #db: SqlExecutor;
  readonly #listener: NotificationListener;

  constructor(db: SqlExecutor, listener: NotificationListener) {
    this.#db = db;
    this.#listener = listener;
  }

  async notify(channel: string, payload: string): Promise<void> {
    await this.#db.query('SELECT pg_notify($1, $2)', [this.#listener.serverChannel(channel), payload]);
  }

  listen(
    channel: string,
    onPayload: (payload: string) => void,
    onError?: (error: Error) => void,
  ): Promise<() => Promise<void>> {
    return this.#listener.listen(channel, onPayload, onError);
  }
}

/** One process (SQLite) has nobody else to tell: whoever would listen already knows. */
const singleProcessNotifications: StoreNotifications = {
  async notify() {},
  async listen() {
    return async () => {};
  },
};

function listenerOf(db: SqlExecutor): NotificationListener | undefined {
  // Only the PostgreSQL database carries one; the SqlExecutor contract stays free of it.
  return (db as { readonly listener?: NotificationListener }).listener;
}
