import type { DeviceRecord } from './records.ts';

/** A device is offline once it has been silent for this many of its reporting intervals. */
export const OFFLINE_AFTER_INTERVALS = 3;

export function deviceStatus(device: Pick<DeviceRecord, 'lastSeenAt' | 'reportIntervalMs'>, now: number) {
  if (device.lastSeenAt === null) return 'offline';
  return now - device.lastSeenAt <= OFFLINE_AFTER_INTERVALS * device.reportIntervalMs ? 'online' : 'offline';
}

export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };
