import * as z from 'zod/mini';

/**
 * Security events: what agents collect, queue, forward, and what the manager stores. Every event a
 * device emits carries its per-device sequence number (`seq`, from 1, assigned when it is written to the
 * agent's queue) and a unique id, and keeps the device's own timestamp.
 */
export const severities = ['info', 'low', 'medium', 'high', 'critical'] as const;
export type Severity = (typeof severities)[number];
export const severitySchema = z.enum(severities);

/** Lower number, lower severity: eviction starts at the bottom, the forwarder serves the top first. */
export function severityRank(severity: Severity): number {
  return severities.indexOf(severity);
}

/**
 * Event types and their default severity. Names are `<area>.<what>`; the data fields of each type are
 * described in docs and validated loosely (a record), so that a newer agent's fields reach an older
 * manager intact.
 */
export const eventTypes = {
  'auth.login_failed': 'medium',
  'auth.login_succeeded': 'info',
  'auth.session_opened': 'info',
  'auth.privilege_escalation': 'low',
  'fim.baseline': 'info',
  'fim.created': 'medium',
  'fim.modified': 'medium',
  'fim.deleted': 'medium',
  'fim.permissions_changed': 'high',
  'fim.limit_reached': 'medium',
  'host.listener_added': 'medium',
  'host.executable_started': 'low',
  'host.module_loaded': 'high',
  'agent.started': 'info',
  'agent.stopped': 'info',
  'agent.config_changed': 'low',
  'agent.queue_pressure': 'medium',
  'agent.clock_jump': 'medium',
  'agent.collector_error': 'low',
  'agent.loss_report': 'high',
  'agent.isolation_changed': 'high',
  'syslog.message': 'info',
  'policy.bundle_applied': 'info',
  'policy.bundle_refused': 'high',
  'policy.stale': 'medium',
  'policy.config_drift': 'medium',
  'policy.expected_change': 'info',
  'policy.remediated': 'low',
  'policy.remediation_failed': 'high',
  'alert.raised': 'high',
} as const satisfies Record<string, Severity>;

export type EventType = keyof typeof eventTypes;

export const eventTypeSchema = z
  .string()
  .check(z.regex(/^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$/, 'an event type like auth.login_failed'));

/** One event as the agent sends it. */
export const deviceEventSchema = z.object({
  /** Per-device sequence number, from 1, without gaps at the source. */
  seq: z.number().check(z.int(), z.minimum(1)),
  /** Unique id (UUID), stable across retries. */
  id: z.string().check(z.minLength(1), z.maxLength(64)),
  type: eventTypeSchema,
  severity: severitySchema,
  /** Device clock, milliseconds since the epoch. */
  time: z.number().check(z.int()),
  data: z.record(z.string(), z.unknown()),
});
export type DeviceEvent = z.infer<typeof deviceEventSchema>;

/** An event before the queue gave it a sequence number. */
export type NewDeviceEvent = Omit<DeviceEvent, 'seq' | 'id'> & { readonly id?: string };

/** POST /v1/events — a batch, in sequence order; the body travels zstd- or gzip-compressed. */
export const eventBatchSchema = z.object({
  v: z.literal(1),
  /**
   * Every sequence number at or below this one has been delivered before or evicted by the agent's
   * full queue (and reported in a loss report): the manager need not wait for it. Without it, one eviction
   * would hold the acknowledgement at that gap for good.
   */
  floorSeq: z._default(z.number().check(z.int(), z.minimum(0)), 0),
  events: z.array(deviceEventSchema),
});
/** What a sender writes; the parsed form always has `floorSeq`. */
export type EventBatch = z.input<typeof eventBatchSchema>;

export const eventBatchReplySchema = z.object({
  v: z.literal(1),
  /** The highest sequence number up to which the manager holds every event of this device. */
  ackedSeq: z.number().check(z.int(), z.minimum(0)),
});
export type EventBatchReply = z.infer<typeof eventBatchReplySchema>;
