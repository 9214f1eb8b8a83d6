import * as z from 'zod/mini';
import type { EvidenceView } from '../evidence/evidence.ts';

/**
 * Incidents: one compromise (or suspicion of one) on a device, followed from opening to closing through
 * the phases of incident response, with an assignee, a playbook's checklist and a timeline. States only
 * move forward; `closed` is final.
 */
export const incidentStates = ['open', 'contained', 'eradicated', 'recovered', 'closed'] as const;
export type IncidentState = (typeof incidentStates)[number];
export const incidentStateSchema = z.enum(incidentStates);

/** True when an incident in `from` may move to `to`: forward only, skipping allowed, closed is final. */
export function canMoveIncident(from: IncidentState, to: IncidentState): boolean {
  return incidentStates.indexOf(to) > incidentStates.indexOf(from);
}

const identifier = z.string().check(z.regex(/^[a-z0-9][a-z0-9._-]{0,63}$/));

/** A playbook as written in the policy folder (`playbooks/*.yaml`). */
export const playbookSourceSchema = z.strictObject({
  /** Default: the file name without its extension. */
  id: z.optional(identifier),
  title: z.string().check(z.minLength(1), z.maxLength(200)),
  /** Incident types it applies to (`incidents open --type`); default its id. */
  types: z.optional(z.array(identifier).check(z.minLength(1))),
  steps: z
    .array(
      z.strictObject({
        id: identifier,
        title: z.string().check(z.minLength(1), z.maxLength(500)),
        /** The phase the step belongs to, for ordering the checklist. */
        phase: z.optional(incidentStateSchema),
      }),
    )
    .check(z.minLength(1), z.maxLength(100)),
});
export type PlaybookSource = z.infer<typeof playbookSourceSchema>;

export const compiledPlaybookSchema = z.strictObject({
  id: identifier,
  title: z.string(),
  types: z.array(identifier),
  steps: z.array(
    z.strictObject({ id: identifier, title: z.string(), phase: z.nullable(incidentStateSchema) }),
  ),
  /** The file it came from, for messages. */
  file: z.string(),
});
export type CompiledPlaybook = z.infer<typeof compiledPlaybookSchema>;

/** One step of an incident's checklist, ticked off by an operator. */
export interface IncidentStep {
  readonly id: string;
  readonly title: string;
  readonly phase: IncidentState | null;
  readonly doneAt: number | null;
  readonly doneBy: string | null;
}

export interface IncidentRecord {
  readonly id: string;
  readonly deviceId: string;
  readonly alertId: string | null;
  readonly title: string;
  /** Selects the playbook. */
  readonly type: string | null;
  readonly state: IncidentState;
  /** Operator name. */
  readonly assignee: string | null;
  readonly playbookId: string | null;
  readonly playbookTitle: string | null;
  readonly steps: readonly IncidentStep[];
  readonly openedBy: string;
  /** Manager clock from here on, except `firstSeenAt` (device clock of the alert's first event). */
  readonly openedAt: number;
  readonly firstSeenAt: number | null;
  /** When the alert was raised; the incident's opening when it has none. */
  readonly detectedAt: number;
  readonly containedAt: number | null;
  readonly eradicatedAt: number | null;
  readonly recoveredAt: number | null;
  readonly closedAt: number | null;
  readonly resolution: string | null;
  readonly updatedAt: number;
}

/** What happened to the incident itself (the timeline adds the alert, events, actions and evidence). */
export interface IncidentTimelineRecord {
  readonly incidentId: string;
  readonly at: number;
  /** Operator name, or `system`. */
  readonly actor: string;
  readonly kind: 'opened' | 'state' | 'assigned' | 'note' | 'step' | 'closed';
  readonly text: string;
  readonly details: Readonly<Record<string, unknown>>;
}

export const openIncidentSchema = z.object({
  deviceId: z.string().check(z.minLength(1), z.maxLength(100)),
  alertId: z.optional(z.string().check(z.minLength(1), z.maxLength(100))),
  title: z.string().check(z.minLength(1), z.maxLength(200)),
  type: z.optional(identifier),
  assignee: z.optional(z.string().check(z.minLength(1), z.maxLength(100))),
});
export type OpenIncidentRequest = z.input<typeof openIncidentSchema>;

export const incidentStateChangeSchema = z.object({
  state: incidentStateSchema,
  note: z.optional(z.string().check(z.minLength(1), z.maxLength(4000))),
});
export const incidentAssignSchema = z.object({
  assignee: z.string().check(z.minLength(1), z.maxLength(100)),
});
export const incidentNoteSchema = z.object({ text: z.string().check(z.minLength(1), z.maxLength(4000)) });
export const incidentStepSchema = z.object({
  done: z._default(z.boolean(), true),
  note: z.optional(z.string().check(z.minLength(1), z.maxLength(4000))),
});
export const incidentCloseSchema = z.object({
  resolution: z.string().check(z.minLength(1), z.maxLength(4000)),
});
export const incidentListQuerySchema = z.object({
  state: z.optional(incidentStateSchema),
  device: z.optional(z.string().check(z.minLength(1), z.maxLength(100))),
  /** `true` leaves out closed incidents. */
  active: z.optional(z.enum(['true', 'false'])),
  limit: z._default(z.coerce.number().check(z.int(), z.minimum(1), z.maximum(1000)), 100),
});

export interface IncidentView extends IncidentRecord {
  /** Time to detect: from the alert's first event to the alert (null without an alert). */
  readonly timeToDetectMs: number | null;
  /** Time to contain: from detection to the `contained` state (null until contained). */
  readonly timeToContainMs: number | null;
}

export interface IncidentTimelineItem {
  readonly at: number;
  readonly source: 'incident' | 'alert' | 'event' | 'action' | 'evidence';
  readonly kind: string;
  readonly actor: string;
  readonly text: string;
  /** The id of what it refers to (alert, event, command, evidence bundle). */
  readonly ref: string | null;
}

export interface IncidentDetailView extends IncidentView {
  readonly timeline: IncidentTimelineItem[];
  readonly evidence: EvidenceView[];
}

export interface IncidentListView {
  readonly incidents: IncidentView[];
}

/** Time to detect and time to contain of an incident. */
export function incidentTimes(incident: IncidentRecord): {
  timeToDetectMs: number | null;
  timeToContainMs: number | null;
} {
  return {
    timeToDetectMs:
      incident.firstSeenAt === null ? null : Math.max(0, incident.detectedAt - incident.firstSeenAt),
    timeToContainMs:
      incident.containedAt === null ? null : Math.max(0, incident.containedAt - incident.detectedAt),
  };
}
