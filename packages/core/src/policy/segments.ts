import {
  type CompiledCheck,
  type CompiledPolicy,
  type CompiledSegment,
  DEFAULT_SEGMENT_ID,
  type LabelSelector,
} from './policy.schema.ts';

/**
 * Every key of the selector must match the device's labels: a text value must equal the label, a list
 * allows any of its members, and `*` only requires the label to exist. An empty selector matches all.
 */
export function matchesSelector(selector: LabelSelector, labels: Readonly<Record<string, string>>): boolean {
  return Object.entries(selector).every(([key, wanted]) => {
    // Own properties only: a label named `constructor` must not match through the prototype.
    const label = Object.hasOwn(labels, key) ? labels[key] : undefined;
    if (label === undefined) return false;
    if (wanted === '*') return true;
    return typeof wanted === 'string' ? label === wanted : wanted.includes(label);
  });
}

/**
 * The segment a device with these labels belongs to: of the segments whose selector matches, the one
 * with the highest priority, ties going to the lowest id; DEFAULT_SEGMENT_ID when none matches.
 */
export function segmentOf(
  policy: Pick<CompiledPolicy, 'segments'>,
  labels: Readonly<Record<string, string>>,
): string {
  let best: CompiledSegment | undefined;
  for (const segment of policy.segments) {
    if (!matchesSelector(segment.selector, labels)) continue;
    if (
      best === undefined ||
      segment.priority > best.priority ||
      (segment.priority === best.priority && segment.id < best.id)
    ) {
      best = segment;
    }
  }
  return best?.id ?? DEFAULT_SEGMENT_ID;
}

/** Whether a check applies to a segment: it names no segment (every one) or names this one. */
export function checkAppliesTo(check: Pick<CompiledCheck, 'segments'>, segmentId: string): boolean {
  return check.segments.length === 0 || check.segments.includes(segmentId);
}

/** The checks devices of a segment evaluate, in policy order. */
export function checksForSegment(policy: Pick<CompiledPolicy, 'checks'>, segmentId: string): CompiledCheck[] {
  return policy.checks.filter((check) => checkAppliesTo(check, segmentId));
}

/** Milliseconds between evaluations for devices of a segment: its own interval, else the policy's. */
export function evaluationIntervalFor(
  policy: Pick<CompiledPolicy, 'segments' | 'settings'>,
  segmentId: string,
): number {
  const segment = policy.segments.find((candidate) => candidate.id === segmentId);
  return segment?.evaluationIntervalMs ?? policy.settings.evaluationIntervalMs;
}
