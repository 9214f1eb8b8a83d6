import {
  applyInventoryDelta,
  type ChangeView,
  type Clock,
  type DeviceDetailView,
  type DeviceListView,
  type DeviceRecord,
  type DeviceView,
  deviceStatus,
  EdgewardError,
  type Heartbeat,
  type Inventory,
  type InventoryDelta,
  type InventoryReply,
  inventoryChanges,
  isDriftSection,
  PROTOCOL_VERSION,
} from '@edgeward/core';
import type { DeviceListFilter, DevicePage, DeviceSortKey, Store } from '@edgeward/store';
import type { Logger } from 'pino';
import type { FleetPki } from '../pki/fleet-pki.ts';
import type { AuditTrail } from './audit-trail.ts';
import type { OperatorContext } from './operator-context.ts';
import type { RevocationService } from './revocation.service.ts';

export type InventoryReport =
  | { kind: 'full'; inventory: Inventory }
  | { kind: 'delta'; baseVersion: number; delta: InventoryDelta };

/** The registry: devices, their contact, inventory versions and change history, and revocation. */
export class DeviceService {
  readonly #store: Store;
  readonly #clock: Clock;
  readonly #pki: FleetPki;
  readonly #audit: AuditTrail;
  readonly #revocations: RevocationService;
  readonly #logger: Logger;
  readonly #disconnect: (deviceId: string) => void;

  constructor(deps: {
    store: Store;
    clock: Clock;
    pki: FleetPki;
    audit: AuditTrail;
    revocations: RevocationService;
    logger: Logger;
    /** Drops the device's open connections (set by the device listener). */
    disconnect?: (deviceId: string) => void;
  }) {
    this.#store = deps.store;
    this.#clock = deps.clock;
    this.#pki = deps.pki;
    this.#audit = deps.audit;
    this.#revocations = deps.revocations;
    this.#logger = deps.logger;
    this.#disconnect = deps.disconnect ?? (() => {});
  }

  /** The device behind an authenticated connection; refuses revoked devices even if a CRL lags. */
  async requireActive(deviceId: string, store: Store = this.#store): Promise<DeviceRecord> {
    const device = await store.devices.findById(deviceId);
    if (device === undefined) throw new EdgewardError('EW_DEVICE_NOT_FOUND', `no device has id ${deviceId}`);
    if (device.revokedAt !== null) {
      throw new EdgewardError(
        'EW_DEVICE_REVOKED',
        `device ${deviceId} is revoked; enroll it again to rejoin`,
      );
    }
    return device;
  }

  async heartbeat(deviceId: string, heartbeat: Heartbeat): Promise<{ v: 1; serverTime: number }> {
    await this.requireActive(deviceId);
    const now = this.#clock.now();
    await this.#store.devices.update(deviceId, {
      lastSeenAt: now,
      reportIntervalMs: heartbeat.reportIntervalMs,
      agentVersion: heartbeat.agentVersion,
    });
    return { v: PROTOCOL_VERSION, serverTime: now };
  }

  /**
   * Stores a new inventory version when the report changes anything, with one change record per item.
   * A delta must be based on the version held; otherwise the agent is told to send a full snapshot.
   */
  async ingestInventory(deviceId: string, report: InventoryReport): Promise<InventoryReply> {
    return this.#store.transaction(async (store) => {
      const device = await this.requireActive(deviceId, store);
      const latest = await store.inventory.latest(deviceId);
      let next: Inventory;
      if (report.kind === 'delta') {
        if (latest === undefined || report.baseVersion !== latest.version) {
          throw new EdgewardError(
            'EW_INVENTORY_BASE_MISMATCH',
            `inventory delta is based on version ${report.baseVersion} but the manager holds ${latest?.version ?? 'none'}; send a full snapshot`,
            { details: { heldVersion: latest?.version ?? 0 } },
          );
        }
        next = applyInventoryDelta(latest.inventory, report.delta);
      } else {
        next = report.inventory;
      }
      const now = this.#clock.now();
      const changes = latest === undefined ? [] : inventoryChanges(latest.inventory, next);
      if (latest !== undefined && changes.length === 0) {
        await store.devices.update(deviceId, { lastSeenAt: now });
        return { v: PROTOCOL_VERSION, version: latest.version, changed: false };
      }
      const version = (latest?.version ?? 0) + 1;
      await store.inventory.saveSnapshot({
        deviceId,
        version,
        collectedAt: next.collectedAt,
        receivedAt: now,
        inventory: next,
      });
      await store.inventory.addChanges(
        changes.map((change) => ({
          ...change,
          deviceId,
          version,
          receivedAt: now,
          collectedAt: next.collectedAt,
        })),
      );
      await store.devices.update(deviceId, {
        lastSeenAt: now,
        inventoryVersion: version,
        name: next.hostname || device.name,
      });
      const drift = changes.filter((change) => isDriftSection(change.section));
      if (drift.length > 0) {
        this.#logger.info(
          {
            deviceId,
            version,
            drift: drift.map((change) => `${change.kind} ${change.section} ${change.key}`),
          },
          'inventory drift',
        );
      }
      return { v: PROTOCOL_VERSION, version, changed: true };
    });
  }

  /**
   * One page of devices. `cursor` is the `nextCursor` of the page before, under the same sort and
   * filters; pages are cut by keyset, so the thousandth costs what the first does.
   */
  async list(
    filter: Omit<DeviceListFilter, 'now'>,
    limit: number,
    after?: string,
    order: { sort?: DeviceSortKey; order?: 'asc' | 'desc'; cursor?: string } = {},
  ): Promise<DeviceListView> {
    const now = this.#clock.now();
    const withNow = { ...filter, now };
    const sort = order.sort ?? 'id';
    const page: DevicePage = {
      limit: limit + 1,
      sort,
      ...(order.order === undefined ? {} : { order: order.order }),
      ...(after === undefined ? {} : { after }),
      ...(order.cursor === undefined ? {} : { from: decodeCursor(order.cursor, sort) }),
    };
    const [records, total] = await Promise.all([
      this.#store.devices.list(withNow, page),
      this.#store.devices.count(withNow),
    ]);
    const shown = records.slice(0, limit);
    const last = shown.at(-1);
    const more = records.length > limit && last !== undefined;
    return {
      devices: shown.map((record) => this.#view(record, now)),
      total,
      nextAfter: more ? last.id : null,
      nextCursor: more ? encodeCursor(sortValue(last, sort), last.id) : null,
    };
  }

  async summary(): Promise<{ total: number; online: number; offline: number }> {
    const [total, online] = await Promise.all([
      this.#store.devices.count({}),
      this.#store.devices.count({ status: 'online', now: this.#clock.now() }),
    ]);
    return { total, online, offline: total - online };
  }

  async show(id: string): Promise<DeviceDetailView> {
    const device = await this.#find(id);
    const [latest, certificates] = await Promise.all([
      this.#store.inventory.latest(id),
      this.#store.certificates.listByDevice(id),
    ]);
    return {
      ...this.#view(device, this.#clock.now()),
      spiffeId: this.#pki.spiffeIdOf(id),
      inventory: latest?.inventory ?? null,
      inventoryCollectedAt: latest?.collectedAt ?? null,
      certificates: certificates.map((certificate) => ({
        serial: certificate.serial,
        notBefore: certificate.notBefore,
        notAfter: certificate.notAfter,
        fingerprint: certificate.fingerprint,
        revokedAt: certificate.revokedAt,
      })),
    };
  }

  async history(id: string, options: { limit: number; section?: string }): Promise<ChangeView[]> {
    await this.#find(id);
    const changes = await this.#store.inventory.listChanges(id, options);
    return changes.map((change) => ({
      version: change.version,
      receivedAt: change.receivedAt,
      collectedAt: change.collectedAt,
      section: change.section,
      key: change.key,
      kind: change.kind,
      drift: isDriftSection(change.section),
      before: change.before,
      after: change.after,
    }));
  }

  /** Revokes every certificate of the device; the listener refuses it from the next handshake on. */
  async revoke(operator: OperatorContext, id: string, reason: string): Promise<DeviceView> {
    const device = await this.#store.transaction(async (store) => {
      const existing = await this.#find(id, store);
      const now = this.#clock.now();
      const revokedCertificates = await store.certificates.revokeAllForDevice(id, now);
      const updated =
        existing.revokedAt === null ? await store.devices.update(id, { revokedAt: now }) : existing;
      await this.#audit.record(store, operator, 'device.revoke', id, {
        reason,
        certificates: revokedCertificates,
      });
      return updated ?? existing;
    });
    await this.#revocations.publish();
    this.#disconnect(id);
    this.#logger.info({ deviceId: id, by: operator.name, reason }, 'device revoked');
    return this.#view(device, this.#clock.now());
  }

  async #find(id: string, store: Store = this.#store): Promise<DeviceRecord> {
    const device = await store.devices.findById(id);
    if (device === undefined) {
      throw new EdgewardError('EW_DEVICE_NOT_FOUND', `no device has id ${id}; see \`edgeward devices list\``);
    }
    return device;
  }

  #view(record: DeviceRecord, now: number): DeviceView {
    return {
      id: record.id,
      name: record.name,
      labels: record.labels,
      status: record.revokedAt !== null ? 'revoked' : deviceStatus(record, now),
      enrolledAt: record.enrolledAt,
      lastSeenAt: record.lastSeenAt,
      reportIntervalMs: record.reportIntervalMs,
      agentVersion: record.agentVersion,
      inventoryVersion: record.inventoryVersion,
      revokedAt: record.revokedAt,
    };
  }
}

function sortValue(record: DeviceRecord, sort: DeviceSortKey): string | number {
  switch (sort) {
    case 'id':
      return record.id;
    case 'name':
      return record.name;
    case 'lastSeen':
      // As the store sorts it: never seen comes before any contact.
      return record.lastSeenAt ?? -1;
    case 'enrolled':
      return record.enrolledAt;
  }
}

function encodeCursor(value: string | number, id: string): string {
  return Buffer.from(JSON.stringify([value, id])).toString('base64url');
}

function decodeCursor(cursor: string, sort: DeviceSortKey): { value: string | number; id: string } {
  let decoded: unknown;
  try {
    decoded = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    decoded = undefined;
  }
  const expected = sort === 'id' || sort === 'name' ? 'string' : 'number';
  if (
    !Array.isArray(decoded) ||
    decoded.length !== 2 ||
    typeof decoded[0] !== expected ||
    typeof decoded[1] !== 'string'
  ) {
    throw new EdgewardError(
      'EW_REQUEST_INVALID',
      `cursor ${JSON.stringify(cursor.slice(0, 40))} is not a cursor of a device list sorted by ${sort}; pass the nextCursor of the previous page with the same sort`,
    );
  }
  return { value: decoded[0] as string | number, id: decoded[1] };
}
