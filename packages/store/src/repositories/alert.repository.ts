import { type AlertResolution, EdgewardError, severities } from '@edgeward/core';
import type { SqlExecutor } from '../sql/executor.ts';
import type {
  AlertChangePosition,
  AlertHistoryRecord,
  AlertListFilter,
  AlertNoteRecord,
  AlertRecord,
  AlertRepository,
  AlertRuleNoiseFacts,
} from '../store.ts';
import { limitOf, Params, whereClause } from './sql-helpers.ts';

interface AlertRow {
  id: string;
  rule_id: string;
  rule_title: string;
  kind: AlertRecord['kind'];
  group_key: string;
  group_fields: string;
  severity: AlertRecord['severity'];
  tier: AlertRecord['tier'];
  state: AlertRecord['state'];
  source: AlertRecord['source'];
  site_id: string | null;
  site_changed_at: number | null;
  device_ids: string;
  first_seen: number;
  last_seen: number;
  count: number;
  event_refs: string;
  bursts: string;
  response: string;
  route: string;
  assignee: string | null;
  resolution: AlertRecord['resolution'];
  suppressed_until: number | null;
  created_at: number;
  opened_at: number;
  acknowledged_at: number | null;
  resolved_at: number | null;
  reopened_count: number;
  last_signal_at: number;
  updated_at: number;
}

interface HistoryRow {
  alert_id: string;
  rule_id: string;
  at: number;
  actor: string;
  kind: string;
  resolution: AlertResolution | null;
  duration_ms: number | null;
  change: string;
}

const mutableColumns = [
  'rule_title',
  'kind',
  'group_fields',
  'severity',
  'tier',
  'state',
  'source',
  'site_id',
  'site_changed_at',
  'device_ids',
  'first_seen',
  'last_seen',
  'count',
  'event_refs',
  'bursts',
  'response',
  'route',
  'assignee',
  'resolution',
  'suppressed_until',
  'created_at',
  'opened_at',
  'acknowledged_at',
  'resolved_at',
  'reopened_count',
  'last_signal_at',
  'updated_at',
] as const;
const columns = ['id', 'rule_id', 'group_key', ...mutableColumns].join(', ');
const alertsColumns = ['id', 'rule_id', 'group_key', ...mutableColumns].map((name) => `a.${name}`).join(', ');
const newestFirst = 'ORDER BY a.last_signal_at DESC, a.id DESC';
const numberOrNull = (value: number | null) => (value === null ? null : Number(value));

function toRecord(row: AlertRow): AlertRecord {
  return {
    id: row.id,
    ruleId: row.rule_id,
    ruleTitle: row.rule_title,
    kind: row.kind,
    groupKey: row.group_key,
    groupFields: JSON.parse(row.group_fields) as Record<string, string>,
    severity: row.severity,
    tier: row.tier,
    state: row.state,
    source: row.source,
    siteId: row.site_id,
    siteChangedAt: numberOrNull(row.site_changed_at),
    deviceIds: JSON.parse(row.device_ids) as string[],
    firstSeen: Number(row.first_seen),
    lastSeen: Number(row.last_seen),
    count: Number(row.count),
    eventRefs: JSON.parse(row.event_refs) as AlertRecord['eventRefs'],
    bursts: JSON.parse(row.bursts) as AlertRecord['bursts'],
    response: JSON.parse(row.response) as string[],
    route: JSON.parse(row.route) as string[],
    assignee: row.assignee,
    resolution: row.resolution,
    suppressedUntil: numberOrNull(row.suppressed_until),
    createdAt: Number(row.created_at),
    openedAt: Number(row.opened_at),
    acknowledgedAt: numberOrNull(row.acknowledged_at),
    resolvedAt: numberOrNull(row.resolved_at),
    reopenedCount: Number(row.reopened_count),
    lastSignalAt: Number(row.last_signal_at),
    updatedAt: Number(row.updated_at),
  };
}

/** The values of `mutableColumns`, in their order. */
function mutableValues(alert: AlertRecord): (string | number | null)[] {
  return [
    alert.ruleTitle,
    alert.kind,
    JSON.stringify(alert.groupFields),
    alert.severity,
    alert.tier,
    alert.state,
    alert.source,
    alert.siteId,
    alert.siteChangedAt,
    JSON.stringify(alert.deviceIds),
    alert.firstSeen,
    alert.lastSeen,
    alert.count,
    JSON.stringify(alert.eventRefs),
    JSON.stringify(alert.bursts),
    JSON.stringify(alert.response),
    JSON.stringify(alert.route),
    alert.assignee,
    alert.resolution,
    alert.suppressedUntil,
    alert.createdAt,
    alert.openedAt,
    alert.acknowledgedAt,
    alert.resolvedAt,
    alert.reopenedCount,
    alert.lastSignalAt,
    alert.updatedAt,
  ];
}

/** Rows per INSERT into alert_devices: two values each. */
const deviceRowsPerInsert = 500;

export class SqlAlertRepository implements AlertRepository {
  readonly #db: SqlExecutor;

  constructor(db: SqlExecutor) {
    this.#db = db;
  }

  async lockByGroup(ruleId: string, groupKey: string): Promise<AlertRecord | undefined> {
    const rows = await this.#db.query<AlertRow>(
      `SELECT ${columns} FROM alerts WHERE rule_id = $1 AND group_key = $2${
        this.#db.dialect === 'postgres' ? ' FOR UPDATE' : ''
      }`,
      [ruleId, groupKey],
    );
    return rows[0] === undefined ? undefined : toRecord(rows[0]);
  }

  insert(alert: AlertRecord): Promise<boolean> {
    return this.#db.transaction(async (tx) => {
      const values = [alert.id, alert.ruleId, alert.groupKey, ...mutableValues(alert)];
      // A racing insert of the same rule and group makes this one wait for its commit, then do nothing.
      const inserted = await tx.run(
        `INSERT INTO alerts (${columns}) VALUES (${values.map((_, index) => `$${index + 1}`).join(', ')})
         ON CONFLICT DO NOTHING`,
        values,
      );
      if (inserted === 0) return false;
      await insertDevices(tx, alert.id, alert.deviceIds);
      return true;
    });
  }

  update(alert: AlertRecord): Promise<void> {
    return this.#db.transaction(async (tx) => {
      const [before] = await tx.query<{ device_ids: string }>('SELECT device_ids FROM alerts WHERE id = $1', [
        alert.id,
      ]);
      if (before === undefined) {
        throw new EdgewardError('EW_INTERNAL', `alert ${alert.id} cannot be updated: it does not exist`);
      }
      const assignments = mutableColumns.map((name, index) => `${name} = $${index + 2}`).join(', ');
      await tx.run(`UPDATE alerts SET ${assignments} WHERE id = $1`, [alert.id, ...mutableValues(alert)]);
      // Devices only ever join an alert, so only the new ones are written.
      const known = new Set(JSON.parse(before.device_ids) as string[]);
      await insertDevices(
        tx,
        alert.id,
        alert.deviceIds.filter((deviceId) => !known.has(deviceId)),
      );
    });
  }

  async listChanged(
    source: AlertRecord['source'],
    after: AlertChangePosition | undefined,
    limit: number,
  ): Promise<AlertRecord[]> {
    const rows = await this.#db.query<AlertRow>(
      `SELECT ${columns} FROM alerts WHERE source = $1 AND (updated_at, id) > ($2, $3)
       ORDER BY updated_at, id LIMIT $4`,
      [source, after?.updatedAt ?? -1, after?.id ?? '', limit],
    );
    return rows.map(toRecord);
  }

  async get(id: string): Promise<AlertRecord | undefined> {
    const rows = await this.#db.query<AlertRow>(`SELECT ${columns} FROM alerts WHERE id = $1`, [id]);
    return rows[0] === undefined ? undefined : toRecord(rows[0]);
  }

  async list(filter: AlertListFilter = {}): Promise<AlertRecord[]> {
    const params = new Params();
    const conditions: string[] = [];
    let from = 'alerts a';
    if (filter.deviceId !== undefined) {
      from = 'alert_devices d JOIN alerts a ON a.id = d.alert_id';
      conditions.push(`d.device_id = ${params.add(filter.deviceId)}`);
    }
    if (filter.state !== undefined) conditions.push(`a.state = ${params.add(filter.state)}`);
    if (filter.tier !== undefined) conditions.push(`a.tier = ${params.add(filter.tier)}`);
    if (filter.severity !== undefined) {
      const atLeast = severities.slice(severities.indexOf(filter.severity));
      conditions.push(`a.severity IN (${atLeast.map((severity) => params.add(severity)).join(', ')})`);
    }
    if (filter.ruleId !== undefined) conditions.push(`a.rule_id = ${params.add(filter.ruleId)}`);
    if (filter.assignee !== undefined) conditions.push(`a.assignee = ${params.add(filter.assignee)}`);
    if (filter.since !== undefined) conditions.push(`a.last_signal_at >= ${params.add(filter.since)}`);
    if (filter.before !== undefined) {
      conditions.push(
        `(a.last_signal_at, a.id) < (${params.add(filter.before.lastSignalAt)}, ${params.add(filter.before.id)})`,
      );
    }
    const rows = await this.#db.query<AlertRow>(
      `SELECT ${alertsColumns} FROM ${from} ${whereClause(conditions)} ${newestFirst}
       LIMIT ${params.add(limitOf(filter.limit))}`,
      params.values,
    );
    return rows.map(toRecord);
  }

  async listQuiet(quietBefore: number, now: number, limit?: number): Promise<AlertRecord[]> {
    const rows = await this.#db.query<AlertRow>(
      `SELECT ${columns} FROM alerts
       WHERE state <> 'resolved' AND last_signal_at < $1 AND site_id IS NULL
         AND NOT (state = 'suppressed' AND suppressed_until > $2)
       ORDER BY last_signal_at, id LIMIT $3`,
      [quietBefore, now, limitOf(limit)],
    );
    return rows.map(toRecord);
  }

  async listSuppressionEnded(now: number, limit?: number): Promise<AlertRecord[]> {
    const rows = await this.#db.query<AlertRow>(
      `SELECT ${columns} FROM alerts WHERE state = 'suppressed' AND suppressed_until <= $1 AND site_id IS NULL
       ORDER BY suppressed_until, id LIMIT $2`,
      [now, limitOf(limit)],
    );
    return rows.map(toRecord);
  }

  async addNote(note: AlertNoteRecord): Promise<void> {
    await this.#db.run(
      'INSERT INTO alert_notes (alert_id, at, author_id, author, text) VALUES ($1, $2, $3, $4, $5)',
      [note.alertId, note.at, note.authorId, note.author, note.text],
    );
  }

  async notes(alertId: string): Promise<AlertNoteRecord[]> {
    const rows = await this.#db.query<{
      alert_id: string;
      at: number;
      author_id: string;
      author: string;
      text: string;
    }>('SELECT alert_id, at, author_id, author, text FROM alert_notes WHERE alert_id = $1 ORDER BY seq', [
      alertId,
    ]);
    return rows.map((row) => ({
      alertId: row.alert_id,
      at: Number(row.at),
      authorId: row.author_id,
      author: row.author,
      text: row.text,
    }));
  }

  async addHistory(entry: AlertHistoryRecord): Promise<void> {
    await this.#db.run(
      `INSERT INTO alert_history (alert_id, rule_id, at, actor, kind, resolution, duration_ms, change)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
      [
        entry.alertId,
        entry.ruleId,
        entry.at,
        entry.actor,
        entry.kind,
        entry.resolution ?? null,
        entry.durationMs ?? null,
        JSON.stringify(entry.change),
      ],
    );
  }

  async history(alertId: string): Promise<AlertHistoryRecord[]> {
    const rows = await this.#db.query<HistoryRow>(
      `SELECT alert_id, rule_id, at, actor, kind, resolution, duration_ms, change
       FROM alert_history WHERE alert_id = $1 ORDER BY seq`,
      [alertId],
    );
    return rows.map((row) => ({
      alertId: row.alert_id,
      ruleId: row.rule_id,
      at: Number(row.at),
      actor: row.actor,
      kind: row.kind,
      ...(row.resolution === null ? {} : { resolution: row.resolution }),
      ...(row.duration_ms === null ? {} : { durationMs: Number(row.duration_ms) }),
      change: JSON.parse(row.change) as Record<string, unknown>,
    }));
  }

  async noise(from: number, to: number): Promise<AlertRuleNoiseFacts[]> {
    const [counts, acknowledgements, unresolved] = await Promise.all([
      this.#db.query<{
        rule_id: string;
        raised: number;
        resolved: number;
        false_positive: number;
        auto_resolved: number;
      }>(
        `SELECT rule_id,
           SUM(CASE WHEN kind IN ('created', 'reopened') THEN 1 ELSE 0 END) AS raised,
           SUM(CASE WHEN kind = 'resolved' AND resolution <> 'auto' THEN 1 ELSE 0 END) AS resolved,
           SUM(CASE WHEN kind = 'resolved' AND resolution = 'false-positive' THEN 1 ELSE 0 END) AS false_positive,
           SUM(CASE WHEN kind = 'resolved' AND resolution = 'auto' THEN 1 ELSE 0 END) AS auto_resolved
         FROM alert_history
         WHERE at >= $1 AND at < $2 AND kind IN ('created', 'reopened', 'resolved')
         GROUP BY rule_id`,
        [from, to],
      ),
      this.#db.query<{ rule_id: string; duration_ms: number }>(
        `SELECT rule_id, duration_ms FROM alert_history
         WHERE at >= $1 AND at < $2 AND kind = 'acknowledged' AND duration_ms IS NOT NULL
         ORDER BY rule_id, duration_ms`,
        [from, to],
      ),
      this.#db.query<{ rule_id: string; n: number }>(
        "SELECT rule_id, COUNT(*) AS n FROM alerts WHERE state <> 'resolved' GROUP BY rule_id",
      ),
    ]);
    const facts = new Map<string, { -readonly [K in keyof AlertRuleNoiseFacts]: AlertRuleNoiseFacts[K] }>();
    const of = (ruleId: string) => {
      let entry = facts.get(ruleId);
      if (entry === undefined) {
        entry = {
          ruleId,
          ruleTitle: ruleId,
          raised: 0,
          acknowledgeMs: [],
          resolved: 0,
          falsePositive: 0,
          autoResolved: 0,
          unresolved: 0,
        };
        facts.set(ruleId, entry);
      }
      return entry;
    };
    for (const row of counts) {
      const entry = of(row.rule_id);
      entry.raised = Number(row.raised);
      entry.resolved = Number(row.resolved);
      entry.falsePositive = Number(row.false_positive);
      entry.autoResolved = Number(row.auto_resolved);
    }
    for (const row of acknowledgements) {
      (of(row.rule_id).acknowledgeMs as number[]).push(Number(row.duration_ms));
    }
    // Rules quiet in the period are left out, even with alerts still open.
    for (const row of unresolved) {
      const entry = facts.get(row.rule_id);
      if (entry !== undefined) entry.unresolved = Number(row.n);
    }
    if (facts.size > 0) {
      const params = new Params();
      const ids = [...facts.keys()].map((ruleId) => params.add(ruleId));
      // The title the rule had at its most recent signal.
      const titles = await this.#db.query<{ rule_id: string; rule_title: string }>(
        `SELECT a.rule_id, a.rule_title FROM alerts a
         JOIN (SELECT rule_id, MAX(last_signal_at) AS latest FROM alerts
               WHERE rule_id IN (${ids.join(', ')}) GROUP BY rule_id) m
           ON a.rule_id = m.rule_id AND a.last_signal_at = m.latest
         ORDER BY a.rule_id, a.id`,
        params.values,
      );
      for (const row of titles) {
        const entry = facts.get(row.rule_id);
        if (entry !== undefined) entry.ruleTitle = row.rule_title;
      }
    }
    return [...facts.values()].sort((a, b) => b.raised - a.raised || a.ruleId.localeCompare(b.ruleId));
  }
}

async function insertDevices(tx: SqlExecutor, alertId: string, deviceIds: readonly string[]): Promise<void> {
  const unique = [...new Set(deviceIds)];
  for (let start = 0; start < unique.length; start += deviceRowsPerInsert) {
    const params = new Params();
    const alert = params.add(alertId);
    const rows = unique
      .slice(start, start + deviceRowsPerInsert)
      .map((deviceId) => `(${alert}, ${params.add(deviceId)})`);
    await tx.run(
      `INSERT INTO alert_devices (alert_id, device_id) VALUES ${rows.join(', ')} ON CONFLICT DO NOTHING`,
      params.values,
    );
  }
}
