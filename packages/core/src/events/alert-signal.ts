import * as z from 'zod/mini';
import { type EventRef, MAX_EVENT_REFS, type RuleSignal } from '../rules/rule.schema.ts';
import { type DeviceEvent, severitySchema } from './event.schema.ts';

/**
 * What a rule engine (on an agent, a site or the hub) reports to the manager's alerts: its signal (a new
 * alert of a rule for one group of field values, or with `update` the growth of one it reported before)
 * and where it ran. Agents send theirs as `alert.raised` events whose `data` is the signal without
 * `source`; `response` is kept as text there, so that a newer agent's responses reach an older manager.
 */
export interface AlertSignal extends Omit<RuleSignal, 'response'> {
  /** Response actions the rule asked for (`isolate`, `capture`). */
  readonly response: readonly string[];
  readonly source: 'agent' | 'hub' | 'site';
}

export type AlertEventRef = EventRef;

/** How many event references a signal, and an alert, carry at most. */
export const ALERT_EVENT_REFS_MAX = MAX_EVENT_REFS;
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
