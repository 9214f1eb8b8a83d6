import { EdgewardError } from '@edgeward/core';
import { SqlAlertRepository } from './repositories/alert.repository.ts';
import { SqlAlertDeliveryRepository } from './repositories/alert-delivery.repository.ts';
import { SqlAuditRepository } from './repositories/audit.repository.ts';
import { SqlCertificateRepository } from './repositories/certificate.repository.ts';
import { SqlComplianceRepository } from './repositories/compliance.repository.ts';
import { SqlDeviceRepository } from './repositories/device.repository.ts';
import { SqlDeviceCommandRepository } from './repositories/device-command.repository.ts';
import { SqlEnrollmentTokenRepository } from './repositories/enrollment-token.repository.ts';
import { SqlEventRepository } from './repositories/event.repository.ts';
import { SqlInventoryRepository } from './repositories/inventory.repository.ts';
import { SqlMetaRepository } from './repositories/meta.repository.ts';
import { SqlOperatorRepository } from './repositories/operator.repository.ts';
import { SqlOperatorActionRepository } from './repositories/operator-action.repository.ts';
import { SqlPolicyRepository } from './repositories/policy.repository.ts';
import { SqlSyslogOutboxRepository } from './repositories/syslog-outbox.repository.ts';
import type { SqlExecutor } from './sql/executor.ts';
import type {
  AlertDeliveryRepository,
  AlertRepository,
  AuditRepository,
  CertificateRepository,
  ComplianceRepository,
  DeviceCommandRepository,
  DeviceRepository,
  EnrollmentTokenRepository,
  EventRepository,
  InventoryRepository,
  MetaRepository,
  OperatorActionRepository,
  OperatorRepository,
  PolicyRepository,
  Store,
  SyslogOutboxRepository,
} from './store.ts';

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
  readonly #db: SqlExecutor;
  readonly #close: (() => Promise<void>) | undefined;

  /** @param close closes the database; absent for a store bound to a transaction. */
  constructor(db: SqlExecutor, close?: () => Promise<void>) {
    this.engine = db.dialect;
    this.#db = db;
    this.#close = close;
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
  }

  transaction<T>(work: (store: Store) => Promise<T>): Promise<T> {
    return this.#db.transaction((tx) => work(new SqlStore(tx)));
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
