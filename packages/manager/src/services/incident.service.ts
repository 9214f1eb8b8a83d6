import {
  type Clock,
  type CompiledPlaybook,
  canMoveIncident,
  EdgewardError,
  type IncidentDetailView,
  type IncidentListView,
  type IncidentRecord,
  type IncidentState,
  type IncidentTimelineItem,
  type IncidentTimelineRecord,
  type IncidentView,
  incidentTimes,
  type OpenIncidentRequest,
} from '@edgeward/core';
import type { IncidentListFilter, Store } from '@edgeward/store';
import type { Logger } from 'pino';
import type { AuditTrail } from './audit-trail.ts';
import { evidenceView } from './evidence.service.ts';
import type { OperatorContext } from './operator-context.ts';
import { newId } from './secrets.ts';

/** How far before the first sign of the incident its timeline reaches back for events and actions. */
const TIMELINE_LEAD_MS = 3_600_000;
/** Device events the timeline shows at most (medium severity and above). */
const TIMELINE_EVENTS = 100;

/**
 * Incidents: opened on a device (usually from an alert), moved forward through containment, eradication
 * and recovery to closing, assigned, annotated, and checked off against the playbook for their type
 * (from the policy in force). Each change lands with its operator action (and so its audit chain entry)
 * and its timeline row in one transaction. Time to detect and time to contain come from the alert and
 * the moment the incident was marked contained.
 */
export class IncidentService {
  readonly #store: Store;
  readonly #clock: Clock;
  readonly #audit: AuditTrail;
  readonly #logger: Logger;

  constructor(deps: { store: Store; clock: Clock; audit: AuditTrail; logger: Logger }) {
    this.#store = deps.store;
    this.#clock = deps.clock;
    this.#audit = deps.audit;
    this.#logger = deps.logger;
  }

  async open(operator: OperatorContext, request: OpenIncidentRequest): Promise<IncidentView> {
    const now = this.#clock.now();
    const device = await this.#store.devices.findById(request.deviceId);
    if (device === undefined) {
      throw new EdgewardError('EW_DEVICE_NOT_FOUND', `no device has id ${request.deviceId}`);
    }
    let firstSeenAt: number | null = null;
    let detectedAt = now;
    if (request.alertId !== undefined) {
      const alert = await this.#store.alerts.get(request.alertId);
      if (alert === undefined) {
        throw new EdgewardError('EW_ALERT_NOT_FOUND', `no alert has id ${request.alertId}`);
      }
      if (!alert.deviceIds.includes(request.deviceId)) {
        throw new EdgewardError(
          'EW_REQUEST_INVALID',
          `alert ${alert.id} concerns ${alert.deviceIds.join(', ')}, not ${request.deviceId}; open the incident on one of those`,
        );
      }
      firstSeenAt = alert.firstSeen;
      detectedAt = alert.createdAt;
    }
    const playbook = request.type === undefined ? undefined : await this.#playbookFor(request.type);
    const incident: IncidentRecord = {
      id: newId('inc'),
      deviceId: request.deviceId,
      alertId: request.alertId ?? null,
      title: request.title,
      type: request.type ?? null,
      state: 'open',
      assignee: request.assignee ?? null,
      playbookId: playbook?.id ?? null,
      playbookTitle: playbook?.title ?? null,
      steps: (playbook?.steps ?? []).map((step) => ({ ...step, doneAt: null, doneBy: null })),
      openedBy: operator.name,
      openedAt: now,
      firstSeenAt,
      detectedAt,
      containedAt: null,
      eradicatedAt: null,
      recoveredAt: null,
      closedAt: null,
      resolution: null,
      updatedAt: now,
    };
    await this.#store.transaction(async (tx) => {
      await tx.incidents.create(incident);
      await this.#record(tx, operator, incident, 'incident.open', 'opened', `opened: ${incident.title}`, {
        deviceId: incident.deviceId,
        alertId: incident.alertId,
        type: incident.type,
        playbook: incident.playbookId,
        assignee: incident.assignee,
      });
    });
    this.#logger.info({ incidentId: incident.id, deviceId: incident.deviceId }, 'incident opened');
    return view(incident);
  }

  async list(filter: IncidentListFilter): Promise<IncidentListView> {
    return { incidents: (await this.#store.incidents.list(filter)).map(view) };
  }

  /** The incident with a timeline gathered from its own changes, its alert, the device's events, actions and evidence. */
  async show(id: string): Promise<IncidentDetailView> {
    const incident = await this.#find(id);
    const now = this.#clock.now();
    const from = Math.min(incident.firstSeenAt ?? incident.detectedAt, incident.openedAt) - TIMELINE_LEAD_MS;
    const to = incident.closedAt ?? now;
    const within = (at: number) => at >= from && at <= to;
    const [own, alert, history, events, commands, evidence] = await Promise.all([
      this.#store.incidents.timeline(id),
      incident.alertId === null ? undefined : this.#store.alerts.get(incident.alertId),
      incident.alertId === null ? [] : this.#store.alerts.history(incident.alertId),
      this.#store.events.query({
        deviceId: incident.deviceId,
        since: from,
        until: to + 1,
        severity: 'medium',
        limit: TIMELINE_EVENTS,
      }),
      this.#store.commands.listByDevice(incident.deviceId, 200),
      this.#store.evidence.list({ deviceId: incident.deviceId, limit: 200 }),
    ]);
    const items: IncidentTimelineItem[] = own.map((entry) => ({
      at: entry.at,
      source: 'incident',
      kind: entry.kind,
      actor: entry.actor,
      text: entry.text,
      ref: incident.id,
    }));
    if (alert !== undefined) {
      items.push({
        at: alert.firstSeen,
        source: 'alert',
        kind: 'first-seen',
        actor: `device:${incident.deviceId}`,
        text: `first event of alert ${alert.ruleTitle} (${alert.severity})`,
        ref: alert.id,
      });
      for (const change of history) {
        items.push({
          at: change.at,
          source: 'alert',
          kind: change.kind,
          actor: change.actor,
          text: `alert ${alert.ruleTitle}: ${change.kind}`,
          ref: alert.id,
        });
      }
    }
    for (const event of events.filter((entry) => entry.type !== 'alert.raised')) {
      items.push({
        at: event.time,
        source: 'event',
        kind: event.type,
        actor: `device:${event.deviceId}`,
        text: `${event.type} (${event.severity})`,
        ref: event.id,
      });
    }
    for (const command of commands.filter((entry) => within(entry.createdAt))) {
      items.push({
        at: command.createdAt,
        source: 'action',
        kind: command.kind,
        actor: command.createdBy,
        text: `${command.kind}: ${command.params.reason} (${command.status}${command.result === null ? '' : `: ${command.result.detail}`})`,
        ref: command.id,
      });
    }
    const relevant = evidence.filter((entry) => within(entry.createdAt));
    for (const bundle of relevant) {
      items.push({
        at: bundle.manifest.collectedAt,
        source: 'evidence',
        kind: `evidence.${bundle.state}`,
        actor: `device:${bundle.deviceId}`,
        text: `evidence ${bundle.id}: ${bundle.manifest.items.length} items, ${bundle.manifest.totalBytes} bytes (${bundle.state})`,
        ref: bundle.id,
      });
    }
    items.sort((a, b) => a.at - b.at);
    return { ...view(incident), timeline: items, evidence: relevant.map(evidenceView) };
  }

  async changeState(
    operator: OperatorContext,
    id: string,
    state: IncidentState,
    note: string | undefined,
  ): Promise<IncidentView> {
    if (state === 'closed') {
      throw new EdgewardError(
        'EW_INCIDENT_STATE_INVALID',
        `closing needs a resolution: edgeward incidents close ${id} --resolution TEXT`,
      );
    }
    return this.#change(operator, id, (incident, now) => {
      this.#requireMove(incident, state);
      return {
        updated: { ...incident, ...reached(incident, state, now), state },
        action: 'incident.state',
        kind: 'state',
        text: `${incident.state} → ${state}${note === undefined ? '' : `: ${note}`}`,
        details: { from: incident.state, to: state, note: note ?? null },
      };
    });
  }

  close(operator: OperatorContext, id: string, resolution: string): Promise<IncidentView> {
    return this.#change(operator, id, (incident, now) => {
      this.#requireMove(incident, 'closed');
      return {
        updated: { ...incident, ...reached(incident, 'closed', now), state: 'closed', resolution },
        action: 'incident.close',
        kind: 'closed',
        text: `closed: ${resolution}`,
        details: { from: incident.state, resolution },
      };
    });
  }

  assign(operator: OperatorContext, id: string, assignee: string): Promise<IncidentView> {
    return this.#change(operator, id, (incident) => {
      this.#requireOpen(incident);
      return {
        updated: { ...incident, assignee },
        action: 'incident.assign',
        kind: 'assigned',
        text: `assigned to ${assignee}`,
        details: { from: incident.assignee, to: assignee },
      };
    });
  }

  /** Notes are taken on closed incidents too: the review comes after. */
  note(operator: OperatorContext, id: string, text: string): Promise<IncidentView> {
    return this.#change(operator, id, (incident) => ({
      updated: incident,
      action: 'incident.note',
      kind: 'note',
      text,
      details: { text },
    }));
  }

  tickStep(
    operator: OperatorContext,
    id: string,
    stepId: string,
    done: boolean,
    note: string | undefined,
  ): Promise<IncidentView> {
    return this.#change(operator, id, (incident, now) => {
      this.#requireOpen(incident);
      const step = incident.steps.find((candidate) => candidate.id === stepId);
      if (step === undefined) {
        const known = incident.steps.map((candidate) => candidate.id).join(', ') || 'none (no playbook)';
        throw new EdgewardError(
          'EW_PLAYBOOK_STEP_NOT_FOUND',
          `incident ${id} has no step ${stepId}; its steps: ${known}`,
        );
      }
      return {
        updated: {
          ...incident,
          steps: incident.steps.map((candidate) =>
            candidate.id === stepId
              ? { ...candidate, doneAt: done ? now : null, doneBy: done ? operator.name : null }
              : candidate,
          ),
        },
        action: 'incident.step',
        kind: 'step',
        text: `${done ? 'done' : 'reopened'}: ${step.title}${note === undefined ? '' : ` (${note})`}`,
        details: { step: stepId, done, note: note ?? null },
      };
    });
  }

  async #change(
    operator: OperatorContext,
    id: string,
    decide: (
      incident: IncidentRecord,
      now: number,
    ) => {
      updated: IncidentRecord;
      action: string;
      kind: IncidentTimelineRecord['kind'];
      text: string;
      details: Record<string, unknown>;
    },
  ): Promise<IncidentView> {
    return this.#store.transaction(async (tx) => {
      const incident = await tx.incidents.get(id);
      if (incident === undefined)
        throw new EdgewardError('EW_INCIDENT_NOT_FOUND', `no incident has id ${id}`);
      const now = this.#clock.now();
      const change = decide(incident, now);
      const updated = { ...change.updated, updatedAt: now };
      await tx.incidents.update(updated);
      await this.#record(tx, operator, updated, change.action, change.kind, change.text, change.details);
      return view(updated);
    });
  }

  async #record(
    store: Store,
    operator: OperatorContext,
    incident: IncidentRecord,
    action: string,
    kind: IncidentTimelineRecord['kind'],
    text: string,
    details: Record<string, unknown>,
  ): Promise<void> {
    await store.incidents.addTimeline({
      incidentId: incident.id,
      at: incident.updatedAt,
      actor: operator.name,
      kind,
      text,
      details,
    });
    await this.#audit.record(store, operator, action, incident.id, {
      deviceId: incident.deviceId,
      ...details,
    });
  }

  #requireMove(incident: IncidentRecord, to: IncidentState): void {
    if (!canMoveIncident(incident.state, to)) {
      throw new EdgewardError(
        'EW_INCIDENT_STATE_INVALID',
        `incident ${incident.id} is ${incident.state} and cannot become ${to}: states go open, contained, eradicated, recovered, closed`,
      );
    }
  }

  #requireOpen(incident: IncidentRecord): void {
    if (incident.state === 'closed') {
      throw new EdgewardError(
        'EW_INCIDENT_STATE_INVALID',
        `incident ${incident.id} is closed; only notes can be added`,
      );
    }
  }

  async #find(id: string): Promise<IncidentRecord> {
    const incident = await this.#store.incidents.get(id);
    if (incident === undefined) throw new EdgewardError('EW_INCIDENT_NOT_FOUND', `no incident has id ${id}`);
    return incident;
  }

  /** The playbook answering `type` in the policy in force, if any. */
  async #playbookFor(type: string): Promise<CompiledPlaybook | undefined> {
    const latest = await this.#store.policies.latest();
    if (latest === undefined) return undefined;
    const version = await this.#store.policies.get(latest.version);
    return version?.policy.playbooks?.find((playbook) => playbook.types.includes(type));
  }
}

/** The timestamps an incident reaches on its way to `state`: skipping a phase reaches it too. */
function reached(incident: IncidentRecord, state: IncidentState, now: number): Partial<IncidentRecord> {
  // Reached when `state` is that phase or a later one, i.e. the phase does not lie ahead of it.
  const at = (phase: IncidentState, current: number | null) =>
    current === null && !canMoveIncident(state, phase) ? now : current;
  return {
    containedAt: at('contained', incident.containedAt),
    eradicatedAt: at('eradicated', incident.eradicatedAt),
    recoveredAt: at('recovered', incident.recoveredAt),
    closedAt: state === 'closed' ? now : incident.closedAt,
  };
}

function view(incident: IncidentRecord): IncidentView {
  return { ...incident, ...incidentTimes(incident) };
}
