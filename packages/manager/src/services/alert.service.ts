import {
  ALERT_DEVICE_IDS_MAX,
  ALERT_EVENT_REFS_MAX,
  type AlertDeliveryListView,
  type AlertDeliveryState,
  type AlertDetailView,
  type AlertEventRef,
  type AlertListQuery,
  type AlertListView,
  type AlertNoiseView,
  type AlertResolution,
  type AlertSignal,
  type AlertView,
  alertSignalFromEvent,
  type Clock,
  type DeviceEvent,
  EdgewardError,
  type OperatorRecord,
  parseDuration,
  parseTimeBound,
  type Severity,
  type SiteAlert,
  severityRank,
} from '@edgeward/core';
import type { AlertHistoryRecord, AlertListFilter, AlertRecord, Store } from '@edgeward/store';
import type { Logger } from 'pino';
import type { AlertRouter, NotificationReason } from '../alerting/alert-router.ts';
import {
  decodeAlertCursor,
  encodeAlertCursor,
  operatorNames,
  toAlertView,
  toDeliveryView,
  toHistoryView,
} from './alert-views.ts';
import type { AuditTrail } from './audit-trail.ts';
import type { OperatorContext } from './operator-context.ts';
import { newId } from './secrets.ts';

const DAY_MS = 86_400_000;
/** A suppression longer than this is a mistake more often than a plan. */
const MAX_SUPPRESSION_MS = 365 * DAY_MS;
/** Bursts an alert remembers; a signal of an older one is recognised by its event references only. */
const BURSTS_KEPT = 32;
/** Alerts resolved (or unsuppressed) per transaction by the sweep. */
const SWEEP_BATCH = 100;

export interface RaiseResult {
  readonly alertId: string;
  /** `duplicate`: the signal brought nothing new (it had been merged before) and changed nothing. */
  readonly outcome: 'created' | 'merged' | 'reopened' | 'duplicate';
  /** Why operators were notified, when they were (suppressed alerts and plain merges notify nobody). */
  readonly notified: NotificationReason | undefined;
  /** Deliveries written for the sender. */
  readonly queued: number;
}

export interface AlertSweepResult {
  /** Quiet alerts resolved as `auto`. */
  readonly resolved: number;
  /** Suppressions that ended. */
  readonly unsuppressed: number;
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/**
 * Alerts: signals from the rule engines (agents' `alert.raised` events, the hub's own engine) become alerts,
 * one per rule and group, merged while open, reopened when they recur; operators acknowledge, assign,
 * comment, suppress and resolve them; quiet ones resolve themselves; notifications are queued with each
 * change, in the same transaction, for the router's destinations.
 */
export class AlertService {
  readonly #store: Store;
  readonly #clock: Clock;
  readonly #audit: AuditTrail;
  readonly #router: AlertRouter;
  readonly #logger: Logger;
  readonly #autoResolveMs: number;
  readonly #onQueued: () => void;
  readonly #onChanged: (alertIds: readonly string[]) => void;

  constructor(deps: {
    store: Store;
    clock: Clock;
    audit: AuditTrail;
    router: AlertRouter;
    logger: Logger;
    /** An alert without a signal for this long is resolved as `auto` by `sweep`. */
    autoResolveMs: number;
    /** Called after a commit that queued deliveries (wakes the sender). */
    onQueued?: () => void;
    /** Called after alerts were created or changed (ids; empty when a sweep changed several). */
    onChanged?: (alertIds: readonly string[]) => void;
  }) {
    this.#store = deps.store;
    this.#clock = deps.clock;
    this.#audit = deps.audit;
    this.#router = deps.router;
    this.#logger = deps.logger;
    this.#autoResolveMs = deps.autoResolveMs;
    this.#onQueued = deps.onQueued ?? (() => {});
    this.#onChanged = deps.onChanged ?? (() => {});
  }

  /** Raises `signal` in a transaction of its own. */
  async raise(signal: AlertSignal): Promise<RaiseResult> {
    const result = await this.#store.transaction((store) => this.raiseIn(store, signal));
    if (result.queued > 0) this.#onQueued();
    if (result.outcome !== 'duplicate') this.#onChanged([result.alertId]);
    return result;
  }

  /**
   * Raises `signal` through `store` (the caller's transaction): merges it into the alert of its rule and
   * group, reopens that alert when it was resolved, or creates it, and queues the notifications the change
   * calls for. A signal merged before (a burst it knows at no higher count, or only events already held)
   * changes nothing, so a signal delivered twice never counts twice.
   */
  async raiseIn(store: Store, signal: AlertSignal): Promise<RaiseResult> {
    const now = this.#clock.now();
    let current = await store.alerts.lockByGroup(signal.ruleId, signal.groupKey);
    if (current === undefined) {
      const created = newAlert(signal, now);
      if (await store.alerts.insert(created)) {
        await store.alerts.addHistory(
          history(created, now, signal.source, 'created', {
            count: created.count,
            severity: created.severity,
            tier: created.tier,
          }),
        );
        const queued = await this.#notify(store, created, 'created', now);
        return { alertId: created.id, outcome: 'created', notified: 'created', queued };
      }
      // Another manager created it since the first look; merge into theirs.
      current = await store.alerts.lockByGroup(signal.ruleId, signal.groupKey);
      if (current === undefined) {
        throw new EdgewardError('EW_INTERNAL', `alert of rule ${signal.ruleId} vanished while it was raised`);
      }
    }
    const merged = merge(current, signal, now);
    if (merged === undefined) {
      return { alertId: current.id, outcome: 'duplicate', notified: undefined, queued: 0 };
    }
    const { next, reopened, escalated, unsuppressed } = merged;
    await store.alerts.update(next);
    if (unsuppressed) {
      await store.alerts.addHistory(
        history(next, now, 'system', 'unsuppressed', { until: current.suppressedUntil }),
      );
    }
    if (reopened) {
      await store.alerts.addHistory(
        history(next, now, signal.source, 'reopened', {
          previousResolution: current.resolution,
          count: next.count,
        }),
      );
    }
    if (escalated) {
      await store.alerts.addHistory(
        history(next, now, signal.source, 'escalated', {
          from: { severity: current.severity, tier: current.tier },
          to: { severity: next.severity, tier: next.tier },
        }),
      );
    }
    const silenced = next.state === 'suppressed';
    const reason: NotificationReason | undefined = silenced
      ? undefined
      : reopened
        ? 'reopened'
        : escalated
          ? 'escalated'
          : undefined;
    const queued = reason === undefined ? 0 : await this.#notify(store, next, reason, now);
    return { alertId: next.id, outcome: reopened ? 'reopened' : 'merged', notified: reason, queued };
  }

  /**
   * The hook of event ingest: raises the signals of an agent's `alert.raised` events, in the transaction
   * that stores them. An event whose data is not a signal is stored but raises nothing.
   */
  async raiseFromEvents(store: Store, deviceId: string, events: readonly DeviceEvent[]): Promise<void> {
    let queued = 0;
    const changed: string[] = [];
    for (const event of events) {
      const signal = alertSignalFromEvent(deviceId, event);
      if (signal === undefined) {
        this.#logger.warn(
          { deviceId, seq: event.seq, type: event.type },
          'an alert.raised event carries no valid alert signal; it is stored, but raises no alert',
        );
        continue;
      }
      const result = await this.raiseIn(store, signal);
      queued += result.queued;
      if (result.outcome !== 'duplicate') changed.push(result.alertId);
    }
    // The caller's transaction commits after this; a sender woken too early finds them at its next poll.
    if (queued > 0) this.#onQueued();
    if (changed.length > 0) this.#onChanged(changed);
  }

  /** Newest activity first; `nextBefore` continues with older alerts. */
  async list(query: AlertListQuery): Promise<AlertListView> {
    const now = this.#clock.now();
    const names = await operatorNames(this.#store);
    const filter: AlertListFilter = {
      limit: query.limit + 1,
      ...(query.state === undefined ? {} : { state: query.state }),
      ...(query.tier === undefined ? {} : { tier: query.tier }),
      ...(query.severity === undefined ? {} : { severity: query.severity }),
      ...(query.rule === undefined ? {} : { ruleId: query.rule }),
      ...(query.device === undefined ? {} : { deviceId: query.device }),
      ...(query.assignee === undefined ? {} : { assignee: assigneeIdOf(query.assignee, names) }),
      ...(query.since === undefined ? {} : { since: parseTimeBound(query.since, now, 'since') }),
      ...(query.before === undefined ? {} : { before: decodeAlertCursor(query.before) }),
    };
    const records = await this.#store.alerts.list(filter);
    const page = records.slice(0, query.limit);
    const last = page.at(-1);
    return {
      alerts: page.map((record) => toAlertView(record, names)),
      nextBefore: records.length > query.limit && last !== undefined ? encodeAlertCursor(last) : null,
    };
  }

  async show(id: string): Promise<AlertDetailView> {
    const record = await this.#require(this.#store, id);
    const [names, notes, entries, deliveries] = await Promise.all([
      operatorNames(this.#store),
      this.#store.alerts.notes(id),
      this.#store.alerts.history(id),
      this.#store.alertDeliveries.list({ alertId: id, limit: 1000 }),
    ]);
    return {
      ...toAlertView(record, names),
      comments: notes.map((note) => ({
        at: note.at,
        authorId: note.authorId,
        author: note.author,
        text: note.text,
      })),
      history: entries.map(toHistoryView),
      deliveries: deliveries.map(toDeliveryView),
    };
  }

  /** Someone is on it. Acknowledging an acknowledged alert changes nothing; a resolved one cannot be. */
  acknowledge(operator: OperatorContext, id: string): Promise<AlertView> {
    return this.#act(operator, id, 'alert.acknowledge', {}, async (store, current, now) => {
      ownedHere(current, 'acknowledged');
      if (current.state === 'resolved')
        throw stateConflict(current, 'acknowledged', 'it reopens by itself when it recurs');
      if (current.acknowledgedAt !== null) return undefined;
      const next: AlertRecord = {
        ...current,
        state: current.state === 'suppressed' ? 'suppressed' : 'acknowledged',
        acknowledgedAt: now,
        updatedAt: now,
      };
      await store.alerts.addHistory({
        ...history(next, now, operator.name, 'acknowledged', {}),
        durationMs: Math.max(0, now - current.openedAt),
      });
      return next;
    });
  }

  /** Closes the alert; it reopens when its rule fires again. The note, when given, becomes a comment. */
  resolve(
    operator: OperatorContext,
    id: string,
    resolution: Exclude<AlertResolution, 'auto'>,
    note?: string,
  ): Promise<AlertView> {
    return this.#act(operator, id, 'alert.resolve', { resolution }, async (store, current, now) => {
      ownedHere(current, 'resolved');
      if (current.state === 'resolved') {
        throw stateConflict(
          current,
          'resolved',
          `it was resolved as ${current.resolution ?? 'unknown'} already`,
        );
      }
      const next = resolved(current, resolution, now);
      await store.alerts.addHistory({ ...history(next, now, operator.name, 'resolved', {}), resolution });
      if (note !== undefined) await store.alerts.addNote(noteOf(operator, id, now, note));
      return next;
    });
  }

  /** `assignee` is an operator id, or a name only one active operator has; viewers cannot take alerts. */
  async assign(operator: OperatorContext, id: string, assignee: string): Promise<AlertView> {
    const target = resolveOperator(await this.#store.operators.list(), assignee);
    return this.#act(operator, id, 'alert.assign', { assignee: target.id }, async (store, current, now) => {
      if (current.assignee === target.id) return undefined;
      const next: AlertRecord = { ...current, assignee: target.id, updatedAt: now };
      await store.alerts.addHistory(
        history(next, now, operator.name, 'assigned', {
          from: current.assignee,
          to: target.id,
          name: target.name,
        }),
      );
      return next;
    });
  }

  comment(operator: OperatorContext, id: string, text: string): Promise<AlertView> {
    return this.#act(operator, id, 'alert.comment', {}, async (store, current, now) => {
      await store.alerts.addNote(noteOf(operator, id, now, text));
      await store.alerts.addHistory(history(current, now, operator.name, 'commented', {}));
      return { ...current, updatedAt: now };
    });
  }

  /**
   * Silences the alert until `until` (a duration ahead, an ISO date or epoch ms): its signals are merged
   * without notifying anyone, and it is not auto-resolved meanwhile.
   */
  suppress(operator: OperatorContext, id: string, until: string, note?: string): Promise<AlertView> {
    const now = this.#clock.now();
    const untilMs = parseUntil(until, now);
    return this.#act(operator, id, 'alert.suppress', { until: untilMs }, async (store, current, at) => {
      ownedHere(current, 'suppressed');
      if (current.state === 'resolved') {
        throw stateConflict(
          current,
          'suppressed',
          'suppress it when it recurs, or list what it would silence first',
        );
      }
      const next: AlertRecord = { ...current, state: 'suppressed', suppressedUntil: untilMs, updatedAt: at };
      await store.alerts.addHistory(history(next, at, operator.name, 'suppressed', { until: untilMs }));
      if (note !== undefined) await store.alerts.addNote(noteOf(operator, id, at, note));
      return next;
    });
  }

  /**
   * Ends suppressions whose time is up, and resolves as `auto` the alerts without a signal for
   * `autoResolveMs`. Runs on a schedule; safe to run on several replicas at once.
   */
  async sweep(): Promise<AlertSweepResult> {
    let unsuppressed = 0;
    let resolvedCount = 0;
    for (;;) {
      const now = this.#clock.now();
      const ended = await this.#store.alerts.listSuppressionEnded(now, SWEEP_BATCH);
      unsuppressed += await this.#sweepBatch(ended, (record) =>
        record.state === 'suppressed' && record.suppressedUntil !== null && record.suppressedUntil <= now
          ? { next: unsilenced(record, now), kind: 'unsuppressed', change: { until: record.suppressedUntil } }
          : undefined,
      );
      if (ended.length < SWEEP_BATCH) break;
    }
    for (;;) {
      const now = this.#clock.now();
      const quietBefore = now - this.#autoResolveMs;
      const quiet = await this.#store.alerts.listQuiet(quietBefore, now, SWEEP_BATCH);
      resolvedCount += await this.#sweepBatch(quiet, (record) =>
        record.state !== 'resolved' &&
        record.lastSignalAt < quietBefore &&
        !(record.state === 'suppressed' && (record.suppressedUntil ?? 0) > now)
          ? {
              next: resolved(record, 'auto', now),
              kind: 'resolved',
              resolution: 'auto',
              change: { quietForMs: now - record.lastSignalAt },
            }
          : undefined,
      );
      if (quiet.length < SWEEP_BATCH) break;
    }
    if (resolvedCount > 0 || unsuppressed > 0) {
      this.#onChanged([]);
      this.#logger.info({ resolved: resolvedCount, unsuppressed }, 'alert sweep');
    }
    return { resolved: resolvedCount, unsuppressed };
  }

  /** Per rule over the last `days` days: how often it raised, how fast people acknowledged, how often it was wrong. */
  async noise(days: number): Promise<AlertNoiseView> {
    const to = this.#clock.now();
    const from = to - days * DAY_MS;
    const facts = await this.#store.alerts.noise(from, to);
    return {
      days,
      from,
      to,
      rules: facts.map((rule) => ({
        ruleId: rule.ruleId,
        ruleTitle: rule.ruleTitle,
        raised: rule.raised,
        alertsPerDay: Math.round((rule.raised / days) * 100) / 100,
        acknowledged: rule.acknowledgeMs.length,
        medianTimeToAcknowledgeMs: median(rule.acknowledgeMs),
        resolved: rule.resolved,
        falsePositive: rule.falsePositive,
        falsePositiveShare:
          rule.resolved === 0 ? null : Math.round((rule.falsePositive / rule.resolved) * 1000) / 1000,
        autoResolved: rule.autoResolved,
        unresolved: rule.unresolved,
      })),
    };
  }

  /** Notifications, newest first; `failing` shows what has not gone out after several attempts. */
  async deliveries(state: AlertDeliveryState | undefined, limit: number): Promise<AlertDeliveryListView> {
    const records = await this.#store.alertDeliveries.list({
      ...(state === undefined ? {} : { state }),
      limit,
    });
    return { deliveries: records.map(toDeliveryView) };
  }

  /**
   * Keeps the alerts a site's own rules raised, under the site's ids and marked with the site, so the hub's
   * views show them. The site owns their lifecycle: a copy newer than the one held (by the site's
   * `updatedAt`, kept as `siteChangedAt`: the site's clock is compared only with itself) replaces it, an
   * older or equal one (a resent batch) changes nothing. Their group key is prefixed with the site, so the
   * same rule and group at two sites are two alerts. The site notifies its own destinations; the hub does
   * not notify again, and neither resolves nor unsuppresses them by itself.
   */
  async mergeFromSite(siteId: string, alerts: readonly SiteAlert[]): Promise<number> {
    const changed: string[] = [];
    await this.#store.transaction(async (store) => {
      for (const alert of alerts) {
        const held = await store.alerts.get(alert.id);
        if (held !== undefined && held.siteId !== siteId) {
          throw new EdgewardError(
            'EW_SITE_ALERT_FOREIGN',
            `site ${siteId} sent alert ${alert.id}, which the hub holds ${held.siteId === null ? 'as its own' : `for site ${held.siteId}`}; a site sends only the alerts its own rules raised`,
          );
        }
        if (held !== undefined && (held.siteChangedAt ?? Number.NEGATIVE_INFINITY) >= alert.updatedAt)
          continue;
        const now = this.#clock.now();
        const record: AlertRecord = {
          ...alert,
          groupKey: `site:${siteId}:${alert.groupKey}`,
          source: 'site',
          siteId,
          siteChangedAt: alert.updatedAt,
          updatedAt: now,
          bursts: held?.bursts ?? [],
          assignee: held?.assignee ?? null,
        };
        const actor = `site:${siteId}`;
        if (held === undefined) {
          if (!(await store.alerts.insert(record))) {
            throw new EdgewardError(
              'EW_SITE_ALERT_FOREIGN',
              `site ${siteId} sent alert ${alert.id} of rule ${alert.ruleId}, but the hub holds another alert of that rule and group for the site; was the site's database replaced?`,
            );
          }
          await store.alerts.addHistory(
            history(record, now, actor, 'created', { count: record.count, tier: record.tier }),
          );
        } else {
          await store.alerts.update(record);
          if (held.state !== record.state) {
            await store.alerts.addHistory(
              history(record, now, actor, record.state, {
                from: held.state,
                to: record.state,
                atSite: alert.updatedAt,
              }),
            );
          }
        }
        changed.push(alert.id);
      }
    });
    if (changed.length > 0) this.#onChanged(changed);
    return changed.length;
  }

  /** Views of the alerts with these ids that exist (for digests). */
  async loadViews(store: Store, ids: readonly string[]): Promise<AlertView[]> {
    const names = await operatorNames(store);
    const views: AlertView[] = [];
    for (const id of new Set(ids)) {
      const record = await store.alerts.get(id);
      if (record !== undefined) views.push(toAlertView(record, names));
    }
    return views;
  }

  async #notify(store: Store, alert: AlertRecord, reason: NotificationReason, now: number): Promise<number> {
    const unknown = this.#router.unknownNames(alert.route);
    if (unknown.length > 0) {
      this.#logger.warn(
        { alertId: alert.id, ruleId: alert.ruleId, unknown },
        'the rule routes its alerts to destinations that are not configured; they are skipped',
      );
    }
    return this.#router.notify(
      store,
      toAlertView(alert, await operatorNames(store)),
      alert.route,
      reason,
      now,
    );
  }

  async #sweepBatch(
    records: readonly AlertRecord[],
    change: (
      record: AlertRecord,
    ) =>
      | { next: AlertRecord; kind: string; resolution?: AlertResolution; change: Record<string, unknown> }
      | undefined,
  ): Promise<number> {
    let done = 0;
    for (const candidate of records) {
      const changed = await this.#store.transaction(async (store) => {
        // Read again under the lock: a signal or an operator may have come first, or another replica.
        const current = await store.alerts.lockByGroup(candidate.ruleId, candidate.groupKey);
        const outcome = current === undefined ? undefined : change(current);
        if (outcome === undefined) return false;
        await store.alerts.update(outcome.next);
        await store.alerts.addHistory({
          ...history(outcome.next, outcome.next.updatedAt, 'system', outcome.kind, outcome.change),
          ...(outcome.resolution === undefined ? {} : { resolution: outcome.resolution }),
        });
        return true;
      });
      if (changed) done += 1;
    }
    return done;
  }

  /**
   * One operator action on one alert, in a transaction: the alert is read under its lock, `work` returns the
   * changed alert (or undefined when nothing changes), and the action goes to the audit trail.
   */
  async #act(
    operator: OperatorContext,
    id: string,
    action: string,
    details: Record<string, unknown>,
    work: (store: Store, current: AlertRecord, now: number) => Promise<AlertRecord | undefined>,
  ): Promise<AlertView> {
    const record = await this.#store.transaction(async (store) => {
      const found = await this.#require(store, id);
      const current = (await store.alerts.lockByGroup(found.ruleId, found.groupKey)) ?? found;
      const now = this.#clock.now();
      const next = await work(store, current, now);
      if (next === undefined) return current;
      await store.alerts.update(next);
      await this.#audit.record(store, operator, action, id, details);
      return next;
    });
    this.#onChanged([id]);
    return toAlertView(record, await operatorNames(this.#store));
  }

  async #require(store: Store, id: string): Promise<AlertRecord> {
    const record = await store.alerts.get(id);
    if (record === undefined) {
      throw new EdgewardError('EW_ALERT_NOT_FOUND', `no alert has id ${id}; see \`edgeward alerts list\``);
    }
    return record;
  }
}

/** The first event of a signal names the rule engine's burst: updates of one burst share it. */
function burstKeyOf(signal: AlertSignal): string {
  const first = signal.eventRefs[0];
  return first === undefined ? `t${signal.firstSeen}` : `${first.deviceId}/${first.seq}/${first.id}`;
}

const refKey = (ref: AlertEventRef) => `${ref.deviceId}/${ref.seq}`;

function boundedRefs(refs: readonly AlertEventRef[]): AlertEventRef[] {
  const seen = new Set<string>();
  const kept: AlertEventRef[] = [];
  for (const ref of refs) {
    if (kept.length >= ALERT_EVENT_REFS_MAX) break;
    if (seen.has(refKey(ref))) continue;
    seen.add(refKey(ref));
    kept.push({ deviceId: ref.deviceId, seq: ref.seq, id: ref.id });
  }
  return kept;
}

function boundedDevices(deviceIds: readonly string[]): string[] {
  return [...new Set(deviceIds)].slice(0, ALERT_DEVICE_IDS_MAX);
}

const higher = (a: Severity, b: Severity): Severity => (severityRank(b) > severityRank(a) ? b : a);

function newAlert(signal: AlertSignal, now: number): AlertRecord {
  return {
    id: newId('alr'),
    ruleId: signal.ruleId,
    ruleTitle: signal.ruleTitle,
    kind: signal.kind,
    groupKey: signal.groupKey,
    groupFields: { ...signal.groupFields },
    severity: signal.severity,
    tier: signal.tier,
    state: 'open',
    source: signal.source,
    deviceIds: boundedDevices(signal.deviceIds),
    firstSeen: signal.firstSeen,
    lastSeen: signal.lastSeen,
    count: signal.count,
    eventRefs: boundedRefs(signal.eventRefs),
    bursts: [{ key: burstKeyOf(signal), count: signal.count }],
    response: [...signal.response],
    route: [...signal.route],
    assignee: null,
    resolution: null,
    suppressedUntil: null,
    createdAt: now,
    openedAt: now,
    acknowledgedAt: null,
    resolvedAt: null,
    reopenedCount: 0,
    siteId: null,
    siteChangedAt: null,
    lastSignalAt: now,
    updatedAt: now,
  };
}

/**
 * The alert with `signal` merged in, or undefined when the signal brings nothing new: a burst it knows at
 * no higher count (a repeat, or an update that arrived late), or an older burst, no longer remembered,
 * whose events the alert already holds (a replay).
 */
function merge(
  current: AlertRecord,
  signal: AlertSignal,
  now: number,
): { next: AlertRecord; reopened: boolean; escalated: boolean; unsuppressed: boolean } | undefined {
  const key = burstKeyOf(signal);
  const known = current.bursts.find((burst) => burst.key === key);
  let growth: number;
  if (known !== undefined) {
    growth = Math.max(0, signal.count - known.count);
  } else {
    const held = new Set(current.eventRefs.map(refKey));
    const replay = signal.eventRefs.length > 0 && signal.eventRefs.every((ref) => held.has(refKey(ref)));
    growth = replay ? 0 : signal.count;
  }
  const bursts = [
    ...current.bursts.filter((burst) => burst.key !== key),
    { key, count: Math.max(known?.count ?? 0, signal.count) },
  ].slice(-BURSTS_KEPT);
  if (growth === 0) return undefined;

  const next: Mutable<AlertRecord> = {
    ...current,
    ruleTitle: signal.ruleTitle,
    source: signal.source,
    severity: higher(current.severity, signal.severity),
    tier: higher(current.tier, signal.tier),
    deviceIds: boundedDevices([...current.deviceIds, ...signal.deviceIds]),
    firstSeen: Math.min(current.firstSeen, signal.firstSeen),
    lastSeen: Math.max(current.lastSeen, signal.lastSeen),
    count: current.count + growth,
    eventRefs: boundedRefs([...current.eventRefs, ...signal.eventRefs]),
    bursts,
    response: [...signal.response],
    route: [...signal.route],
    lastSignalAt: now,
    updatedAt: now,
  };
  const escalated = next.severity !== current.severity || next.tier !== current.tier;
  const reopened = current.state === 'resolved';
  let unsuppressed = false;
  if (reopened) {
    Object.assign(next, {
      state: 'open',
      resolution: null,
      resolvedAt: null,
      acknowledgedAt: null,
      suppressedUntil: null,
      openedAt: now,
      reopenedCount: current.reopenedCount + 1,
    });
  } else if (current.state === 'suppressed' && (current.suppressedUntil ?? 0) <= now) {
    Object.assign(next, unsilenced(next, now));
    unsuppressed = true;
  }
  return { next, reopened, escalated, unsuppressed };
}

/** A suppressed alert whose time is up: back to acknowledged when someone had acknowledged it, else open. */
function unsilenced(record: AlertRecord, now: number): AlertRecord {
  return {
    ...record,
    state: record.acknowledgedAt === null ? 'open' : 'acknowledged',
    suppressedUntil: null,
    updatedAt: now,
  };
}

function resolved(record: AlertRecord, resolution: AlertResolution, now: number): AlertRecord {
  return { ...record, state: 'resolved', resolution, resolvedAt: now, suppressedUntil: null, updatedAt: now };
}

function history(
  alert: AlertRecord,
  at: number,
  actor: string,
  kind: string,
  change: Record<string, unknown>,
): AlertHistoryRecord {
  return { alertId: alert.id, ruleId: alert.ruleId, at, actor, kind, change };
}

function noteOf(operator: OperatorContext, alertId: string, at: number, text: string) {
  return { alertId, at, authorId: operator.id, author: operator.name, text };
}

/** A site's alert changes state at the site, which sends every change; here it would only be overwritten. */
function ownedHere(alert: AlertRecord, wanted: string): void {
  if (alert.siteId === null) return;
  throw stateConflict(
    alert,
    wanted,
    `it was raised at site ${alert.siteId}, which owns its state: change it there (the site's operator API or CLI), and the change follows here at the next sync`,
  );
}

function stateConflict(alert: AlertRecord, wanted: string, hint: string): EdgewardError {
  return new EdgewardError(
    'EW_ALERT_STATE_CONFLICT',
    `alert ${alert.id} is ${alert.state} and cannot be ${wanted}; ${hint}`,
  );
}

function resolveOperator(active: readonly OperatorRecord[], wanted: string): OperatorRecord {
  const byId = active.find((operator) => operator.id === wanted);
  const byName = active.filter((operator) => operator.name === wanted);
  const target = byId ?? (byName.length === 1 ? byName[0] : undefined);
  if (target === undefined) {
    if (byName.length > 1) {
      throw new EdgewardError(
        'EW_REQUEST_INVALID',
        `${byName.length} operators are named ${wanted}; assign by id (${byName.map((operator) => operator.id).join(', ')})`,
      );
    }
    throw new EdgewardError(
      'EW_OPERATOR_NOT_FOUND',
      `no active operator has the id or name ${wanted}; list them with \`edgeward operators list\``,
    );
  }
  if (target.role === 'viewer') {
    throw new EdgewardError(
      'EW_REQUEST_INVALID',
      `${target.name} is a viewer and cannot act on alerts; assign an operator or an admin`,
    );
  }
  return target;
}

/** An operator id, or the id of the one operator with that name; otherwise the text itself (matches none). */
function assigneeIdOf(text: string, names: ReadonlyMap<string, string>): string {
  if (names.has(text)) return text;
  const ids = [...names].filter(([, name]) => name === text).map(([id]) => id);
  return ids.length === 1 && ids[0] !== undefined ? ids[0] : text;
}

/** A time ahead: a duration from now (`4h`), an ISO date or date-time, or epoch milliseconds. */
function parseUntil(text: string, now: number): number {
  const trimmed = text.trim();
  let until: number | undefined;
  if (/^\d+$/.test(trimmed)) until = Number(trimmed);
  else if (/^\d{4}-\d{2}-\d{2}/.test(trimmed)) until = Date.parse(trimmed);
  else {
    try {
      until = now + parseDuration(trimmed, 'until');
    } catch {
      until = undefined;
    }
  }
  if (until === undefined || !Number.isFinite(until)) {
    throw new EdgewardError(
      'EW_REQUEST_INVALID',
      `until "${text}" is not a time; give a duration ahead (4h, 2d), an ISO date-time (2026-05-01T10:00:00Z) or epoch milliseconds`,
    );
  }
  if (until <= now) {
    throw new EdgewardError(
      'EW_REQUEST_INVALID',
      `until ${new Date(until).toISOString()} has passed; suppress until a time ahead (e.g. 4h)`,
    );
  }
  if (until - now > MAX_SUPPRESSION_MS) {
    throw new EdgewardError(
      'EW_REQUEST_INVALID',
      `until ${new Date(until).toISOString()} is more than a year ahead; resolve the alert as accepted-risk instead`,
    );
  }
  return until;
}

function median(sorted: readonly number[]): number | null {
  if (sorted.length === 0) return null;
  const middle = Math.floor(sorted.length / 2);
  const value =
    sorted.length % 2 === 1 ? sorted[middle]! : ((sorted[middle - 1] ?? 0) + (sorted[middle] ?? 0)) / 2;
  return Math.round(value);
}
