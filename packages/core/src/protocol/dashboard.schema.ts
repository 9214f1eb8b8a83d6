import * as z from 'zod/mini';
import type { Severity } from '../events/event.schema.ts';

/**
 * What the dashboard adds to the operator API: a session that turns an operator token into a cookie, the
 * fleet's figures on one page, alert volume over time, and the live update stream.
 */

/** POST /api/v1/session — the operator token, exchanged for an httpOnly session cookie. */
export const sessionLoginSchema = z.object({
  token: z.string().check(z.minLength(1), z.maxLength(200)),
});

export interface SessionView {
  readonly operator: {
    readonly id: string;
    readonly name: string;
    readonly role: 'viewer' | 'operator' | 'admin';
  };
  /** When the cookie stops being accepted (manager clock, ms). */
  readonly expiresAt: number;
}

/** GET /api/v1/alerts/volume — alerts raised (created or reopened) per UTC day and tier. */
export const alertVolumeQuerySchema = z.object({
  days: z._default(z.coerce.number().check(z.int(), z.minimum(1), z.maximum(90)), 14),
});

export interface AlertVolumeView {
  /** One entry per UTC day, oldest first, the last one today. */
  readonly days: {
    readonly day: string;
    readonly dayStart: number;
    readonly byTier: Record<Severity, number>;
  }[];
}

export interface AttentionDeviceView {
  readonly id: string;
  readonly name: string;
  /** Why it needs a look; a device may have several reasons. */
  readonly reasons: ('offline' | 'drifted' | 'stale-policy' | 'isolated')[];
  readonly lastSeenAt: number | null;
}

/** GET /api/v1/fleet/overview */
export interface FleetOverviewView {
  readonly devices: {
    readonly total: number;
    readonly online: number;
    readonly offline: number;
    readonly revoked: number;
  };
  /** Devices per segment of their last compliance report; `unreported` for those without one. */
  readonly bySegment: { readonly segment: string; readonly devices: number }[];
  /** Devices per value of their `site` label; `(none)` for those without one. */
  readonly bySite: { readonly site: string; readonly devices: number }[];
  /** Alerts not resolved (open, acknowledged or suppressed) per tier. */
  readonly openAlertsByTier: Record<Severity, number>;
  readonly attention: {
    readonly offline: number;
    /** Devices with a failing check in their last compliance report: drifted from the baseline. */
    readonly drifted: number;
    /** Devices whose last report was made under an expired policy bundle. */
    readonly stalePolicy: number;
    /** Devices operators asked to isolate and have not released. */
    readonly isolated: number;
    /** Up to 50 devices, the most reasons first. */
    readonly devices: AttentionDeviceView[];
  };
}

/** One message of GET /api/v1/stream (server-sent events; the event name is the topic). */
export type LiveUpdate =
  | { readonly topic: 'alerts'; readonly alertIds: readonly string[] }
  | { readonly topic: 'devices'; readonly deviceIds: readonly string[] }
  | {
      readonly topic: 'commands';
      readonly deviceId: string;
      readonly commandId: string;
      readonly status: string;
    }
  | { readonly topic: 'fleet'; readonly online: number; readonly offline: number; readonly total: number };
