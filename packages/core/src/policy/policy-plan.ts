import { formatDuration } from '../text/duration.ts';
import { canonicalJson } from './canonical-json.ts';
import { type CompiledCheck, type CompiledPolicy, DEFAULT_SEGMENT_ID } from './policy.schema.ts';
import { checkAppliesTo, segmentOf } from './segments.ts';

/**
 * What applying a policy would change, against the one in force: `edgeward policy plan`. Pure: the
 * caller supplies the fleet (labels and currently failing checks of each device).
 */

export type PlanChange = 'added' | 'removed' | 'changed';

/**
 * One leaf field that differs, by dotted path within its item (`spec.expect.equals`). `before` is
 * undefined for a field that was not set, `after` for one that no longer is; lists compare whole.
 */
export interface PlanFieldChange {
  readonly field: string;
  readonly before: unknown;
  readonly after: unknown;
}

/** Devices in a segment under the policy in force (absent when none is) and under the next one. */
export interface PlanDeviceCount {
  readonly current?: number;
  readonly next: number;
}

export interface PlannedSegment {
  readonly id: string;
  readonly change: PlanChange;
  /** Every field for an added or removed segment; the differing ones for a changed one. */
  readonly fields: readonly PlanFieldChange[];
  readonly devices: PlanDeviceCount;
}

export interface PlannedCheck {
  readonly id: string;
  readonly baseline: string;
  readonly change: PlanChange;
  /** The differing fields of a changed check (empty for an added or removed one). */
  readonly fields: readonly PlanFieldChange[];
  /** Segments the check applies to under either policy (a check naming none applies to all). */
  readonly segments: readonly string[];
  /** Devices the check applies to under either policy, each counted once. */
  readonly devices: number;
  /** The check as it will be (added, changed) or as it was (removed). */
  readonly check: CompiledCheck;
}

export interface PlannedWindow {
  readonly id: string;
  readonly change: PlanChange;
  readonly fields: readonly PlanFieldChange[];
}

export interface PlannedRule {
  readonly path: string;
  readonly change: PlanChange;
}

export interface PlannedRemediation {
  readonly deviceId: string;
  readonly checkIds: readonly string[];
}

export interface PolicyPlan {
  /** False when no policy is in force yet: everything is added. */
  readonly hasCurrent: boolean;
  readonly segments: readonly PlannedSegment[];
  /** Every segment of either policy (and the default one), in the next policy's order. */
  readonly devicesBySegment: readonly ({ readonly segment: string } & PlanDeviceCount)[];
  /** Devices whose segment differs between the two policies. */
  readonly devicesMoving: number;
  readonly checks: readonly PlannedCheck[];
  readonly windows: readonly PlannedWindow[];
  readonly settings: readonly PlanFieldChange[];
  readonly rules: readonly PlannedRule[];
  /** Incident playbooks (`playbooks/`) that change. */
  readonly playbooks: readonly PlannedWindow[];
  readonly remediation: {
    /** Devices that currently fail a check the next policy remediates automatically for them. */
    readonly devices: readonly PlannedRemediation[];
    /**
     * Devices with an automatically remediated check whose result under the next policy is not known
     * (a new check, a changed spec, or a check that did not apply to them before): they may change.
     */
    readonly mayChange: readonly PlannedRemediation[];
  };
  readonly summary: { readonly add: number; readonly change: number; readonly remove: number };
}

export interface PlanPolicyInput {
  readonly current: CompiledPolicy | undefined;
  readonly next: CompiledPolicy;
  readonly devices: readonly {
    readonly id: string;
    readonly labels: Readonly<Record<string, string>>;
    readonly failingCheckIds: readonly string[];
  }[];
}

export function planPolicy(input: PlanPolicyInput): PolicyPlan {
  const { current, next } = input;
  const devices = [...input.devices].sort((a, b) => compareText(a.id, b.id));
  const placed = devices.map((device) => ({
    device,
    current: current === undefined ? undefined : segmentOf(current, device.labels),
    next: segmentOf(next, device.labels),
  }));
  // Devices sharing both segments are alike for every count below: group them once.
  const pairs = new Map<string, { current: string | undefined; next: string; count: number }>();
  for (const entry of placed) {
    const key = `${entry.current ?? ''}\u0000${entry.next}`;
    const pair = pairs.get(key) ?? { current: entry.current, next: entry.next, count: 0 };
    pair.count += 1;
    pairs.set(key, pair);
  }
  const countIn = (policy: 'current' | 'next', segment: string): number =>
    [...pairs.values()].reduce((sum, pair) => sum + (pair[policy] === segment ? pair.count : 0), 0);
  const deviceCount = (segment: string): PlanDeviceCount =>
    current === undefined
      ? { next: countIn('next', segment) }
      : { current: countIn('current', segment), next: countIn('next', segment) };

  const segmentIds = [
    ...next.segments.map((segment) => segment.id),
    ...(current?.segments ?? [])
      .map((segment) => segment.id)
      .filter((id) => !next.segments.some((segment) => segment.id === id)),
    DEFAULT_SEGMENT_ID,
  ];
  const segments = diffById(current?.segments ?? [], next.segments, (segment) => segment.id).map(
    ({ id, change, fields }) => ({ id, change, fields, devices: deviceCount(id) }),
  );

  const allSegments = (policy: CompiledPolicy) => [
    ...policy.segments.map((segment) => segment.id),
    DEFAULT_SEGMENT_ID,
  ];
  const currentChecks = new Map((current?.checks ?? []).map((check) => [check.id, check]));
  const checks = diffById(current?.checks ?? [], next.checks, (check) => check.id).map(
    (diffed): PlannedCheck => {
      const { before, after } = diffed;
      const appliesBefore = (segment: string | undefined) =>
        before !== undefined && segment !== undefined && checkAppliesTo(before, segment);
      const appliesAfter = (segment: string) => after !== undefined && checkAppliesTo(after, segment);
      const affected = new Set<string>();
      if (current !== undefined) {
        for (const segment of allSegments(current)) if (appliesBefore(segment)) affected.add(segment);
      }
      for (const segment of allSegments(next)) if (appliesAfter(segment)) affected.add(segment);
      let affectedDevices = 0;
      for (const pair of pairs.values()) {
        if (appliesBefore(pair.current) || appliesAfter(pair.next)) affectedDevices += pair.count;
      }
      const check = diffed.change === 'removed' ? diffed.before : diffed.after;
      return {
        id: diffed.id,
        baseline: check.baseline,
        change: diffed.change,
        fields: diffed.change === 'changed' ? diffed.fields : [],
        segments: segmentIds.filter((segment) => affected.has(segment)),
        devices: affectedDevices,
        check,
      };
    },
  );

  const remediation = plannedRemediation(placed, currentChecks, next);
  const windows = diffById(current?.windows ?? [], next.windows, (window) => window.id).map(
    ({ id, change, fields }) => ({ id, change, fields }),
  );
  const settings = fieldChanges(current?.settings, next.settings);
  const rules = diffById(current?.rules ?? [], next.rules, (rule) => rule.path).map(({ id, change }) => ({
    path: id,
    change,
  }));

  const playbooks = diffById(current?.playbooks ?? [], next.playbooks ?? [], (playbook) => playbook.id).map(
    ({ id, change, fields }) => ({ id, change, fields }),
  );

  const items: readonly { change: PlanChange }[] = [
    ...segments,
    ...checks,
    ...windows,
    ...rules,
    ...playbooks,
  ];
  // Settings count as one item: added with the first policy, changed afterwards.
  const settingsChanged = settings.length > 0 ? 1 : 0;
  const summary = {
    add:
      items.filter((item) => item.change === 'added').length + (current === undefined ? settingsChanged : 0),
    change:
      items.filter((item) => item.change === 'changed').length +
      (current === undefined ? 0 : settingsChanged),
    remove: items.filter((item) => item.change === 'removed').length,
  };
  return {
    hasCurrent: current !== undefined,
    segments,
    devicesBySegment: segmentIds.map((segment) => ({ segment, ...deviceCount(segment) })),
    devicesMoving: current === undefined ? 0 : placed.filter((entry) => entry.current !== entry.next).length,
    checks,
    windows,
    settings,
    rules,
    playbooks,
    remediation,
    summary,
  };
}

function plannedRemediation(
  placed: readonly {
    device: PlanPolicyInput['devices'][number];
    current: string | undefined;
    next: string;
  }[],
  currentChecks: ReadonlyMap<string, CompiledCheck>,
  next: CompiledPolicy,
): PolicyPlan['remediation'] {
  const automatic = next.checks.filter((check) => check.remediate === 'auto');
  const devices: PlannedRemediation[] = [];
  const mayChange: PlannedRemediation[] = [];
  for (const { device, current, next: segment } of placed) {
    const failing = new Set(device.failingCheckIds);
    const will: string[] = [];
    const may: string[] = [];
    for (const check of automatic) {
      if (!checkAppliesTo(check, segment)) continue;
      const before = currentChecks.get(check.id);
      // The device's result speaks for the next check only if it evaluated this very spec.
      const resultKnown =
        before !== undefined &&
        current !== undefined &&
        checkAppliesTo(before, current) &&
        canonicalJson(before.spec) === canonicalJson(check.spec);
      if (!resultKnown) may.push(check.id);
      else if (failing.has(check.id)) will.push(check.id);
    }
    if (will.length > 0) devices.push({ deviceId: device.id, checkIds: will });
    if (may.length > 0) mayChange.push({ deviceId: device.id, checkIds: may });
  }
  return { devices, mayChange };
}

type Diffed<T> = { readonly id: string; readonly fields: PlanFieldChange[] } & (
  | { readonly change: 'added'; readonly before: undefined; readonly after: T }
  | { readonly change: 'removed'; readonly before: T; readonly after: undefined }
  | { readonly change: 'changed'; readonly before: T; readonly after: T }
);

/** Items of two lists matched by id: added, removed, or changed with their differing fields. */
function diffById<T>(before: readonly T[], after: readonly T[], idOf: (item: T) => string): Diffed<T>[] {
  const beforeById = new Map(before.map((item) => [idOf(item), item]));
  const afterById = new Map(after.map((item) => [idOf(item), item]));
  const ids = [...new Set([...beforeById.keys(), ...afterById.keys()])].sort(compareText);
  return ids.flatMap((id): Diffed<T>[] => {
    const old = beforeById.get(id);
    const updated = afterById.get(id);
    const fields = fieldChanges(old, updated).filter((field) => field.field !== 'id');
    if (old === undefined) {
      return updated === undefined
        ? []
        : [{ id, change: 'added', fields, before: undefined, after: updated }];
    }
    if (updated === undefined) return [{ id, change: 'removed', fields, before: old, after: undefined }];
    return fields.length === 0 ? [] : [{ id, change: 'changed', fields, before: old, after: updated }];
  });
}

/** The leaf fields that differ between two values; objects are walked, lists compared whole. */
export function fieldChanges(before: unknown, after: unknown, prefix = ''): PlanFieldChange[] {
  if ((isObject(before) || before === undefined) && (isObject(after) || after === undefined)) {
    if (before === undefined && after === undefined) return [];
    const old = before ?? {};
    const updated = after ?? {};
    const keys = [...new Set([...Object.keys(old), ...Object.keys(updated)])].sort(compareText);
    return keys.flatMap((key) =>
      fieldChanges(old[key], updated[key], prefix === '' ? key : `${prefix}.${key}`),
    );
  }
  if (before !== undefined && after !== undefined && canonicalJson(before) === canonicalJson(after))
    return [];
  return [{ field: prefix, before, after }];
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export interface FormatPolicyPlanOptions {
  /** How many devices of each remediation list to name before summarizing the rest (default 20). */
  readonly maxDevices?: number;
}

const symbols: Record<PlanChange, string> = { added: '+', removed: '-', changed: '~' };

/**
 * The plan as text for people, in the manner of `terraform plan`: `+` added, `-` removed, `~` changed,
 * with field-level before → after and the devices each change reaches.
 */
export function formatPolicyPlan(plan: PolicyPlan, options: FormatPolicyPlanOptions = {}): string {
  const maxDevices = options.maxDevices ?? 20;
  const lines: string[] = [];
  const { add, change, remove } = plan.summary;
  if (add + change + remove === 0) {
    lines.push('No changes: the policy is the one in force.');
  } else {
    lines.push(
      `${plan.hasCurrent ? 'Plan' : 'Plan (no policy in force yet)'}: ${add} to add, ${change} to change, ${remove} to remove.`,
    );
  }

  if (plan.segments.length > 0) {
    lines.push('', 'Segments:');
    for (const segment of plan.segments) {
      lines.push(`  ${symbols[segment.change]} ${segment.id}  (devices ${devicesText(segment.devices)})`);
      if (segment.change !== 'removed') lines.push(...fieldLines(segment.fields, '      '));
    }
  }

  lines.push('', `Devices per segment${plan.hasCurrent ? ' (in force -> next)' : ''}:`);
  const width = Math.max(...plan.devicesBySegment.map((entry) => entry.segment.length));
  for (const entry of plan.devicesBySegment) {
    lines.push(`  ${entry.segment.padEnd(width)}  ${devicesText(entry)}`);
  }
  if (plan.devicesMoving > 0) {
    lines.push(`  ${plural(plan.devicesMoving, 'device')} change segment`);
  }

  if (plan.checks.length > 0) {
    lines.push('', 'Checks:');
    for (const planned of plan.checks) {
      const { check } = planned;
      const where =
        planned.segments.length === plan.devicesBySegment.length
          ? 'every segment'
          : planned.segments.join(', ');
      lines.push(
        `  ${symbols[planned.change]} ${planned.id}  (${planned.baseline}, ${check.severity}, ${check.spec.type}, remediate ${check.remediate})  segments: ${where}; ${plural(planned.devices, 'device')}`,
      );
      lines.push(...fieldLines(planned.fields, '      '));
    }
  }

  if (plan.windows.length > 0) {
    lines.push('', 'Maintenance windows:');
    for (const window of plan.windows) {
      lines.push(`  ${symbols[window.change]} ${window.id}`);
      if (window.change !== 'removed') lines.push(...fieldLines(window.fields, '      '));
    }
  }

  if (plan.settings.length > 0) {
    lines.push('', 'Settings:');
    lines.push(...fieldLines(plan.settings, plan.hasCurrent ? '  ~ ' : '  + '));
  }

  if (plan.rules.length > 0) {
    lines.push('', 'Rule files:');
    for (const rule of plan.rules) lines.push(`  ${symbols[rule.change]} ${rule.path}`);
  }

  if (plan.playbooks.length > 0) {
    lines.push('', 'Incident playbooks:');
    for (const playbook of plan.playbooks) {
      lines.push(`  ${symbols[playbook.change]} ${playbook.id}`);
      if (playbook.change !== 'removed') lines.push(...fieldLines(playbook.fields, '      '));
    }
  }

  const { devices, mayChange } = plan.remediation;
  if (devices.length + mayChange.length > 0) {
    lines.push('', 'Automatic remediation:');
    if (devices.length > 0) {
      lines.push(`  would change ${plural(devices.length, 'device')} (failing now):`);
      lines.push(...deviceLines(devices, maxDevices));
    }
    if (mayChange.length > 0) {
      lines.push(`  may change ${plural(mayChange.length, 'device')} (no result yet for these checks):`);
      lines.push(...deviceLines(mayChange, maxDevices));
    }
  }
  return lines.join('\n');
}

function devicesText(count: PlanDeviceCount): string {
  return count.current === undefined ? String(count.next) : `${count.current} -> ${count.next}`;
}

function fieldLines(fields: readonly PlanFieldChange[], indent: string): string[] {
  return fields.map((field) => {
    if (field.before === undefined) return `${indent}${field.field}: ${valueText(field.field, field.after)}`;
    if (field.after === undefined)
      return `${indent}${field.field}: ${valueText(field.field, field.before)} -> (none)`;
    return `${indent}${field.field}: ${valueText(field.field, field.before)} -> ${valueText(field.field, field.after)}`;
  });
}

function valueText(field: string, value: unknown): string {
  // Durations are milliseconds in the policy (`evaluationIntervalMs`, `patchSlaMs.high`); people read 1h.
  if (typeof value === 'number' && /Ms($|\.)/.test(field)) return formatDuration(value);
  return JSON.stringify(value) ?? String(value);
}

function deviceLines(entries: readonly PlannedRemediation[], maxDevices: number): string[] {
  const shown = entries
    .slice(0, maxDevices)
    .map((entry) => `    ${entry.deviceId}: ${entry.checkIds.join(', ')}`);
  if (entries.length > maxDevices) shown.push(`    ... and ${entries.length - maxDevices} more`);
  return shown;
}

function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? '' : 's'}`;
}
