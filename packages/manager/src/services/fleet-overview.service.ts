import {
  type AlertVolumeView,
  type AttentionDeviceView,
  type Clock,
  type FleetOverviewView,
  type Severity,
  severities,
} from '@edgeward/core';
import type { Store } from '@edgeward/store';

const DAY_MS = 86_400_000;
/** Devices listed under "needs attention"; the counts cover all of them. */
const ATTENTION_SHOWN = 50;

function byTier(entries: readonly { tier: string; count: number }[]): Record<Severity, number> {
  const counts = Object.fromEntries(severities.map((tier) => [tier, 0])) as Record<Severity, number>;
  for (const entry of entries) {
    if (entry.tier in counts) counts[entry.tier as Severity] += entry.count;
  }
  return counts;
}

/** The dashboard's overview page and its alert volume chart, read from the store's fleet figures. */
export class FleetOverviewService {
  readonly #store: Store;
  readonly #clock: Clock;

  constructor(deps: { store: Store; clock: Clock }) {
    this.#store = deps.store;
    this.#clock = deps.clock;
  }

  async overview(): Promise<FleetOverviewView> {
    const figures = await this.#store.figures.overview(this.#clock.now(), ATTENTION_SHOWN);
    return {
      devices: {
        total: figures.total,
        online: figures.online,
        offline: figures.offline,
        revoked: figures.revoked,
      },
      bySegment: figures.bySegment,
      bySite: figures.bySite,
      openAlertsByTier: byTier(figures.openAlertsByTier),
      attention: {
        offline: figures.attention.offline,
        drifted: figures.attention.drifted,
        stalePolicy: figures.attention.stalePolicy,
        isolated: figures.attention.isolated,
        devices: figures.attention.devices.map(
          (device): AttentionDeviceView => ({
            id: device.id,
            name: device.name,
            lastSeenAt: device.lastSeenAt,
            reasons: [
              ...(device.isolated ? (['isolated'] as const) : []),
              ...(device.drifted ? (['drifted'] as const) : []),
              ...(device.stalePolicy ? (['stale-policy'] as const) : []),
              ...(device.offline ? (['offline'] as const) : []),
            ],
          }),
        ),
      },
    };
  }

  /** Alerts raised per UTC day and tier over the last `days` days, today included. */
  async alertVolume(days: number): Promise<AlertVolumeView> {
    const todayStart = Math.floor(this.#clock.now() / DAY_MS) * DAY_MS;
    const from = todayStart - (days - 1) * DAY_MS;
    const buckets = await this.#store.figures.alertVolume(from, DAY_MS);
    return {
      days: Array.from({ length: days }, (_, index) => {
        const dayStart = from + index * DAY_MS;
        return {
          day: new Date(dayStart).toISOString().slice(0, 10),
          dayStart,
          byTier: byTier(buckets.filter((bucket) => bucket.bucket === index)),
        };
      }),
    };
  }
}
