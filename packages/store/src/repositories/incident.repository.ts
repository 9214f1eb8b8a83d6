import {
  EdgewardError,
  type IncidentRecord,
  type IncidentState,
  type IncidentStep,
  type IncidentTimelineRecord,
} from '@edgeward/core';
import type { SqlExecutor } from '../sql/executor.ts';
import type { IncidentListFilter, IncidentRepository } from '../store.ts';
import { limitOf, Params, whereClause } from './sql-helpers.ts';

interface IncidentRow {
  id: string;
  device_id: string;
  alert_id: string | null;
  title: string;
  type: string | null;
  state: string;
  assignee: string | null;
  playbook_id: string | null;
  playbook_title: string | null;
  steps: string;
  opened_by: string;
  opened_at: number | string;
  first_seen_at: number | string | null;
  detected_at: number | string;
  contained_at: number | string | null;
  eradicated_at: number | string | null;
  recovered_at: number | string | null;
  closed_at: number | string | null;
  resolution: string | null;
  updated_at: number | string;
}

interface TimelineRow {
  incident_id: string;
  at: number | string;
  actor: string;
  kind: string;
  text: string;
  details: string;
}

const columns =
  'id, device_id, alert_id, title, type, state, assignee, playbook_id, playbook_title, steps, opened_by, opened_at, first_seen_at, detected_at, contained_at, eradicated_at, recovered_at, closed_at, resolution, updated_at';

const time = (value: number | string | null) => (value === null ? null : Number(value));

function toRecord(row: IncidentRow): IncidentRecord {
  return {
    id: row.id,
    deviceId: row.device_id,
    alertId: row.alert_id,
    title: row.title,
    type: row.type,
    state: row.state as IncidentState,
    assignee: row.assignee,
    playbookId: row.playbook_id,
    playbookTitle: row.playbook_title,
    steps: JSON.parse(row.steps) as IncidentStep[],
    openedBy: row.opened_by,
    openedAt: Number(row.opened_at),
    firstSeenAt: time(row.first_seen_at),
    detectedAt: Number(row.detected_at),
    containedAt: time(row.contained_at),
    eradicatedAt: time(row.eradicated_at),
    recoveredAt: time(row.recovered_at),
    closedAt: time(row.closed_at),
    resolution: row.resolution,
    updatedAt: Number(row.updated_at),
  };
}

function values(incident: IncidentRecord) {
  return [
    incident.id,
    incident.deviceId,
    incident.alertId,
    incident.title,
    incident.type,
    incident.state,
    incident.assignee,
    incident.playbookId,
    incident.playbookTitle,
    JSON.stringify(incident.steps),
    incident.openedBy,
    incident.openedAt,
    incident.firstSeenAt,
    incident.detectedAt,
    incident.containedAt,
    incident.eradicatedAt,
    incident.recoveredAt,
    incident.closedAt,
    incident.resolution,
    incident.updatedAt,
  ];
}

export class SqlIncidentRepository implements IncidentRepository {
  readonly #db: SqlExecutor;

  constructor(db: SqlExecutor) {
    this.#db = db;
  }

  async create(incident: IncidentRecord): Promise<void> {
    await this.#db.run(
      `INSERT INTO incidents (${columns}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14,
         $15, $16, $17, $18, $19, $20)`,
      values(incident),
    );
  }

  async get(id: string): Promise<IncidentRecord | undefined> {
    const [row] = await this.#db.query<IncidentRow>(`SELECT ${columns} FROM incidents WHERE id = $1`, [id]);
    return row === undefined ? undefined : toRecord(row);
  }

  async update(incident: IncidentRecord): Promise<void> {
    const changed = await this.#db.run(
      `UPDATE incidents SET alert_id = $3, title = $4, type = $5, state = $6, assignee = $7, playbook_id = $8,
         playbook_title = $9, steps = $10, first_seen_at = $13, detected_at = $14, contained_at = $15,
         eradicated_at = $16, recovered_at = $17, closed_at = $18, resolution = $19, updated_at = $20
       WHERE id = $1 AND device_id = $2 AND opened_by = $11 AND opened_at = $12`,
      values(incident),
    );
    if (changed === 0) throw new EdgewardError('EW_INTERNAL', `incident ${incident.id} does not exist`);
  }

  async list(filter: IncidentListFilter = {}): Promise<IncidentRecord[]> {
    const params = new Params();
    const conditions: string[] = [];
    if (filter.state !== undefined) conditions.push(`state = ${params.add(filter.state)}`);
    if (filter.deviceId !== undefined) conditions.push(`device_id = ${params.add(filter.deviceId)}`);
    if (filter.active === true) conditions.push("state <> 'closed'");
    const rows = await this.#db.query<IncidentRow>(
      `SELECT ${columns} FROM incidents ${whereClause(conditions)}
       ORDER BY opened_at DESC, id DESC LIMIT ${params.add(limitOf(filter.limit))}`,
      params.values,
    );
    return rows.map(toRecord);
  }

  async addTimeline(entry: IncidentTimelineRecord): Promise<void> {
    await this.#db.run(
      'INSERT INTO incident_timeline (incident_id, at, actor, kind, text, details) VALUES ($1, $2, $3, $4, $5, $6)',
      [entry.incidentId, entry.at, entry.actor, entry.kind, entry.text, JSON.stringify(entry.details)],
    );
  }

  async timeline(incidentId: string): Promise<IncidentTimelineRecord[]> {
    const rows = await this.#db.query<TimelineRow>(
      'SELECT incident_id, at, actor, kind, text, details FROM incident_timeline WHERE incident_id = $1 ORDER BY seq',
      [incidentId],
    );
    return rows.map((row) => ({
      incidentId: row.incident_id,
      at: Number(row.at),
      actor: row.actor,
      kind: row.kind as IncidentTimelineRecord['kind'],
      text: row.text,
      details: JSON.parse(row.details) as Record<string, unknown>,
    }));
  }
}
