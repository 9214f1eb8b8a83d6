import {
  type AlertDeliveryView,
  type AlertHistoryView,
  type AlertView,
  EdgewardError,
  type OperatorRecord,
} from '@edgeward/core';
import type {
  AlertCursor,
  AlertDeliveryRecord,
  AlertHistoryRecord,
  AlertRecord,
  Store,
} from '@edgeward/store';

/** Operator names by id, revoked ones included, to show who an alert is assigned to. */
export async function operatorNames(store: Store): Promise<ReadonlyMap<string, string>> {
  const operators: OperatorRecord[] = await store.operators.list({ includeRevoked: true });
  return new Map(operators.map((operator) => [operator.id, operator.name]));
}

export function toAlertView(record: AlertRecord, names: ReadonlyMap<string, string>): AlertView {
  return {
    id: record.id,
    ruleId: record.ruleId,
    ruleTitle: record.ruleTitle,
    kind: record.kind,
    groupKey: record.groupKey,
    groupFields: { ...record.groupFields },
    siteId: record.siteId,
    severity: record.severity,
    tier: record.tier,
    state: record.state,
    source: record.source,
    deviceIds: [...record.deviceIds],
    firstSeen: record.firstSeen,
    lastSeen: record.lastSeen,
    count: record.count,
    eventRefs: record.eventRefs.map((ref) => ({ ...ref })),
    response: [...record.response],
    assignee:
      record.assignee === null
        ? null
        : { id: record.assignee, name: names.get(record.assignee) ?? record.assignee },
    resolution: record.resolution,
    suppressedUntil: record.suppressedUntil,
    createdAt: record.createdAt,
    openedAt: record.openedAt,
    acknowledgedAt: record.acknowledgedAt,
    resolvedAt: record.resolvedAt,
    reopenedCount: record.reopenedCount,
    lastSignalAt: record.lastSignalAt,
    updatedAt: record.updatedAt,
  };
}

export function toHistoryView(entry: AlertHistoryRecord): AlertHistoryView {
  return { at: entry.at, actor: entry.actor, kind: entry.kind, change: { ...entry.change } };
}

export function toDeliveryView(record: AlertDeliveryRecord): AlertDeliveryView {
  return {
    id: record.id,
    alertId: record.alertId,
    digestKey: record.digestKey,
    destination: record.destination,
    state: record.state,
    attempts: record.attempts,
    nextAttemptAt: record.nextAttemptAt,
    lastError: record.lastError,
    createdAt: record.createdAt,
    deliveredAt: record.deliveredAt,
  };
}

/** Opaque to clients: the position of the last alert of a page, as base64url JSON. */
export function encodeAlertCursor(record: AlertRecord): string {
  return Buffer.from(JSON.stringify([record.lastSignalAt, record.id])).toString('base64url');
}

export function decodeAlertCursor(text: string): AlertCursor {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(text, 'base64url').toString('utf8'));
  } catch {
    value = undefined;
  }
  if (
    Array.isArray(value) &&
    value.length === 2 &&
    Number.isSafeInteger(value[0]) &&
    typeof value[1] === 'string'
  ) {
    return { lastSignalAt: value[0] as number, id: value[1] };
  }
  throw new EdgewardError(
    'EW_REQUEST_INVALID',
    `before "${text}" is not a page cursor; pass the nextBefore of the previous page unchanged`,
  );
}
