import { createHash } from 'node:crypto';
import { EdgewardError } from '../errors/edgeward-error.ts';
import { comparePackageVersions } from '../policy/package-version.ts';
import type { DeviceRolloutState, RolloutGates, RolloutPhase } from './update.schema.ts';

/**
 * The pure parts of a rollout: the phase plan, which device goes in which phase, and whether a phase's
 * gates hold. The manager persists what these decide; nothing here reads a clock or a store.
 */

/** Parses `canary:5,25%,100%`. The last phase must reach 100% so that every selected device is covered. */
export function parsePhases(text: string): RolloutPhase[] {
  const parts = text
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part !== '');
  const phases: RolloutPhase[] = [];
  let lastPercent = 0;
  for (const [index, part] of parts.entries()) {
    const canary = /^canary:(\d+)$/.exec(part);
    const percent = /^(\d+(?:\.\d+)?)%$/.exec(part);
    if (canary !== null && index === 0) {
      const count = Number(canary[1]);
      if (count < 1) throw invalidPhases(text, 'a canary phase needs at least one device');
      phases.push({ kind: 'canary', count });
    } else if (percent !== null) {
      const value = Number(percent[1]);
      if (value <= lastPercent || value > 100) {
        throw invalidPhases(text, 'percentages must rise from phase to phase and stay at most 100%');
      }
      lastPercent = value;
      phases.push({ kind: 'percent', percent: value });
    } else {
      throw invalidPhases(text, `"${part}" is neither canary:N (first phase only) nor N%`);
    }
  }
  if (lastPercent !== 100) throw invalidPhases(text, 'the last phase must be 100%');
  return phases;
}

function invalidPhases(text: string, why: string): EdgewardError {
  return new EdgewardError(
    'EW_ROLLOUT_INVALID',
    `phases "${text}" are not valid: ${why}; write them like canary:5,25%,100%`,
  );
}

export function phaseLabel(phase: RolloutPhase): string {
  return phase.kind === 'canary' ? `canary:${phase.count}` : `${phase.percent}%`;
}

/** The device's place in every rollout's order: SHA-256 of its id, so canaries are the same devices each time. */
export function deviceOrderKey(deviceId: string): string {
  return createHash('sha256').update(deviceId).digest('hex');
}

/**
 * Splits the devices into phases: the canaries are the first `count` devices by id hash; each percentage
 * phase then takes devices in hash order until the cumulative share of all devices is reached (rounded
 * up, so 1% of 10 devices is one device). Every device lands in exactly one phase.
 */
export function planPhases(deviceIds: readonly string[], phases: readonly RolloutPhase[]): string[][] {
  const ordered = [...new Set(deviceIds)]
    .map((id) => ({ id, key: deviceOrderKey(id) }))
    .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : a.id < b.id ? -1 : 1))
    .map((entry) => entry.id);
  const total = ordered.length;
  const plan: string[][] = [];
  let taken = 0;
  for (const phase of phases) {
    const until =
      phase.kind === 'canary'
        ? Math.min(total, phase.count)
        : Math.max(taken, Math.min(total, Math.ceil((total * phase.percent) / 100)));
    plan.push(ordered.slice(taken, until));
    taken = until;
  }
  return plan;
}

export interface PhaseCounts {
  readonly committed: number;
  /** Failed to install or to pass the health check, or rolled back by the device itself. */
  readonly failed: number;
  /** Committed devices that raised a new alert at or above the gate's severity since they updated. */
  readonly alerted: number;
  /** Offered or under way. */
  readonly inProgress: number;
  /** Their turn has not come (windows, site cap). */
  readonly pending: number;
  readonly skipped: number;
}

export type GateDecision =
  | { readonly kind: 'breach'; readonly reason: string }
  | { readonly kind: 'wait'; readonly until?: number }
  | { readonly kind: 'advance' };

/**
 * Whether the phase may end. A breach is decided as soon as failures exceed the maximum, even while
 * devices are still updating; the success share is checked once every device finished (skipped devices
 * do not count either way); then the phase soaks for `soakMs` after its last device finished, and a
 * failure during the soak still breaches.
 */
export function evaluatePhaseGates(
  counts: PhaseCounts,
  gates: Pick<RolloutGates, 'maxFailures' | 'minSuccessPercent'>,
  soak: { readonly soakMs: number; readonly lastFinishedAt: number | null; readonly now: number },
): GateDecision {
  const failures = counts.failed + counts.alerted;
  if (failures > gates.maxFailures) {
    return {
      kind: 'breach',
      reason: `${failures} device(s) failed (${counts.failed} install or health, ${counts.alerted} new alert), more than the ${gates.maxFailures} allowed`,
    };
  }
  if (counts.inProgress + counts.pending > 0) return { kind: 'wait' };
  const finished = counts.committed + counts.failed;
  if (finished > 0) {
    const success = ((counts.committed - counts.alerted) / finished) * 100;
    if (success < gates.minSuccessPercent) {
      return {
        kind: 'breach',
        reason: `${success.toFixed(1)}% of the phase succeeded, below the ${gates.minSuccessPercent}% required`,
      };
    }
  }
  const soakEnds = (soak.lastFinishedAt ?? soak.now) + soak.soakMs;
  if (soak.now < soakEnds) return { kind: 'wait', until: soakEnds };
  return { kind: 'advance' };
}

/**
 * Counts the states of a phase's devices for the gates; `alerted` (committed devices with a new alert,
 * counted by the caller) is capped at the committed count.
 */
export function countPhase(states: readonly DeviceRolloutState[], alerted = 0): PhaseCounts {
  let committed = 0;
  let failed = 0;
  let inProgress = 0;
  let pending = 0;
  let skipped = 0;
  for (const state of states) {
    if (state === 'committed') committed += 1;
    else if (state === 'failed' || state === 'rolled-back') failed += 1;
    else if (state === 'pending') pending += 1;
    else if (state === 'skipped' || state === 'cancelled') skipped += 1;
    else inProgress += 1;
  }
  // Only committed devices can have alerted since they updated.
  return { committed, failed, alerted: Math.min(alerted, committed), inProgress, pending, skipped };
}

/** Artifact versions compare like Debian package versions: `1.10` is after `1.9`, `1.0~rc1` before `1.0`. */
export function compareArtifactVersions(a: string, b: string): -1 | 0 | 1 {
  const order = comparePackageVersions('dpkg', a, b);
  return order < 0 ? -1 : order > 0 ? 1 : 0;
}
