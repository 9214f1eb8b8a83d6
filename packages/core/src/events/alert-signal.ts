import * as z from 'zod/mini';
import { type DeviceEvent, type Severity, severitySchema } from './event.schema.ts';

/**
 * What a rule engine (on an agent, a site or the hub) reports to the manager's alerts: a new alert of a
 * rule for one group of field values, or (`update`) the growth of one it reported before. Agents send
 * theirs as `alert.raised` events whose `data` is the signal without `source`.
 */
export interface AlertSignal {
  readonly ruleId: string;
  readonly ruleTitle: string;
  readonly kind: 'detection' | 'correlation';
  /** The identity of the alert within its rule (the rule engine's JSON array of the group's values). */
  readonly groupKey: string;
  readonly groupFields: Readonly<Record<string, string>>;
  readonly severity: Severity;
  /** Decides how the alert is routed: critical and high at once, medium and below in digests. */
  readonly tier: Severity;
  /** Event time (device clocks, ms) of the first and last event counted. */
  readonly firstSeen: number;
  readonly lastSeen: number;
  /**
   * Events matched, or the correlated figure. An `update` carries the running total of the rule engine's
   * alert it grows, not the increment.
   */
  readonly count: number;
  /** The first events behind the signal, at most ALERT_EVENT_REFS_MAX; the first one names the burst. */
  readonly eventRefs: readonly AlertEventRef[];
  readonly deviceIds: readonly string[];
  /** Response actions the rule asked for (`isolate`, `capture`). */
  readonly response: readonly string[];
  /** Destination names the alert goes to; empty: every destination whose tiers include the tier. */
  readonly route: readonly string[];
  /** True when the signal grows one reported before (suppression) instead of starting a new one. */
  readonly update: boolean;
  readonly source: 'agent' | 'hub' | 'site';
}

export interface AlertEventRef {
  readonly deviceId: string;
  readonly seq: number;
  readonly id: string;
}

/** How many event references a signal, and an alert, carry at most. */
export const ALERT_EVENT_REFS_MAX = 50;
/** How many devices a signal, and an alert, name at most (a fleet-wide correlation may span many). */
export const ALERT_DEVICE_IDS_MAX = 1000;

const name = z.string().check(z.minLength(1), z.maxLength(200));
const time = z.number().check(z.int(), z.minimum(0));

/** The `data` of an `alert.raised` event: an AlertSignal without `source` (the device sent it). */
export const alertSignalDataSchema = z.object({
  ruleId: name,
  ruleTitle: z.string().check(z.maxLength(500)),
  kind: z.enum(['detection', 'correlation']),
  groupKey: z.string().check(z.maxLength(2000)),
  groupFields: z.record(z.string(), z.string()),
  severity: severitySchema,
  tier: severitySchema,
  firstSeen: time,
  lastSeen: time,
  count: z.number().check(z.int(), z.minimum(1)),
  eventRefs: z
    .array(
      z.object({
        deviceId: name,
        seq: z.number().check(z.int(), z.minimum(0)),
        id: z.string().check(z.maxLength(200)),
      }),
    )
    .check(z.maxLength(ALERT_EVENT_REFS_MAX)),
  deviceIds: z.array(name).check(z.maxLength(ALERT_DEVICE_IDS_MAX)),
  response: z.array(z.string().check(z.maxLength(100))).check(z.maxLength(20)),
  route: z.array(z.string().check(z.maxLength(100))).check(z.maxLength(50)),
  update: z.boolean(),
});

/** The event type agents send their signals as. */
export const ALERT_RAISED_EVENT = 'alert.raised';

/**
 * The signal an agent's `alert.raised` event carries, or undefined when the event is of another type or
 * its data is not a valid signal. An agent speaks for itself only: the signal names the sending device
 * alone, and keeps only the event references of that device, whatever the data says.
 */
export function alertSignalFromEvent(
  deviceId: string,
  event: Pick<DeviceEvent, 'type' | 'data'>,
): AlertSignal | undefined {
  if (event.type !== ALERT_RAISED_EVENT) return undefined;
  const parsed = z.safeParse(alertSignalDataSchema, event.data);
  if (!parsed.success) return undefined;
  const data = parsed.data;
  if (data.lastSeen < data.firstSeen) return undefined;
  return {
    ...data,
    eventRefs: data.eventRefs.filter((ref) => ref.deviceId === deviceId),
    deviceIds: [deviceId],
    source: 'agent',
  };
}
