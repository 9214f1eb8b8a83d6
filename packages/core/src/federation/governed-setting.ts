import * as z from 'zod/mini';
import { hybridTimestampSchema } from './hybrid-clock.ts';

/**
 * The settings that the hub governs across tiers, each with a kind that says which of two values is the
 * stricter, and a mode that says who decides:
 *
 * - `lock`: the hub's value, whatever a site says and whenever it said it;
 * - `floor`: a site may tighten, never loosen; the result is merged toward the stricter value;
 * - `site-owned`: the site decides (within its delegation); the hub's value is the default.
 *
 * Kinds and their order (docs/federation.md): deny-lists and revocations grow by union, allow-lists shrink
 * by intersection, a maximum takes the minimum, a minimum the maximum, a required flag is set by anyone;
 * a plain `value` has no order, so it can be locked or site-owned but not a floor.
 */
export const governedKinds = [
  'deny-list',
  'allow-list',
  'revocations',
  'maximum',
  'minimum',
  'required-flag',
  'value',
] as const;
export type GovernedKind = (typeof governedKinds)[number];

export const governanceModes = ['lock', 'floor', 'site-owned'] as const;
export type GovernanceMode = (typeof governanceModes)[number];

export type GovernedValue = string[] | number | boolean | string;

export const governedValueSchema = z.union([
  z.array(z.string()),
  z.number().check(z.refine(Number.isFinite, 'a finite number')),
  z.boolean(),
  z.string(),
]);

/** A setting key: dotted, lower camel case segments (`settings.evaluationIntervalMs`, `checks.ssh-port.forbidden`). */
export const settingKeySchema = z
  .string()
  .check(
    z.regex(
      /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/,
      'a dotted setting key such as settings.evaluationIntervalMs',
    ),
  );

/** One setting as the hub publishes it in its bundle. */
export const hubSettingSchema = z
  .strictObject({
    kind: z.enum(governedKinds),
    mode: z.enum(governanceModes),
    value: governedValueSchema,
    /** When the hub last changed this setting. */
    changedAt: hybridTimestampSchema,
  })
  .check(
    z.refine((setting) => valueFitsKind(setting.kind, setting.value), 'a value of the setting kind'),
    z.refine(
      (setting) => !(setting.mode === 'floor' && setting.kind === 'value'),
      'a floor needs an ordered kind (a plain value can be locked or site-owned)',
    ),
  );
export type HubSetting = z.infer<typeof hubSettingSchema>;

/** Whether `value` has the shape `kind` needs. */
export function valueFitsKind(kind: GovernedKind, value: unknown): value is GovernedValue {
  switch (kind) {
    case 'deny-list':
    case 'allow-list':
    case 'revocations':
      return Array.isArray(value) && value.every((member) => typeof member === 'string');
    case 'maximum':
    case 'minimum':
      return typeof value === 'number' && Number.isFinite(value);
    case 'required-flag':
      return typeof value === 'boolean';
    case 'value':
      return typeof value === 'string';
  }
}

/** Lists sorted and without duplicates, so equal sets have one form (and one canonical JSON). */
export function normalizeGovernedValue(kind: GovernedKind, value: GovernedValue): GovernedValue {
  if (kind === 'deny-list' || kind === 'allow-list' || kind === 'revocations') {
    return [...new Set(value as readonly string[])].sort();
  }
  return value;
}

/** Whether `candidate` is at least as strict as `reference` for this kind (equal counts as strict). */
export function isAtLeastAsStrict(
  kind: GovernedKind,
  candidate: GovernedValue,
  reference: GovernedValue,
): boolean {
  switch (kind) {
    case 'deny-list':
    case 'revocations': {
      const members = new Set(candidate as readonly string[]);
      return (reference as readonly string[]).every((member) => members.has(member));
    }
    case 'allow-list': {
      const members = new Set(reference as readonly string[]);
      return (candidate as readonly string[]).every((member) => members.has(member));
    }
    case 'maximum':
      return (candidate as number) <= (reference as number);
    case 'minimum':
      return (candidate as number) >= (reference as number);
    case 'required-flag':
      return candidate === true || reference === false;
    case 'value':
      return candidate === reference;
  }
}

/**
 * The least strict value that is at least as strict as both (union, intersection, min, max, or). For a
 * plain `value`, which has no order, `a` is kept.
 */
export function tightest(kind: GovernedKind, a: GovernedValue, b: GovernedValue): GovernedValue {
  switch (kind) {
    case 'deny-list':
    case 'revocations':
      return normalizeGovernedValue(kind, [...(a as readonly string[]), ...(b as readonly string[])]);
    case 'allow-list': {
      const inB = new Set(b as readonly string[]);
      return normalizeGovernedValue(
        kind,
        (a as readonly string[]).filter((member) => inB.has(member)),
      );
    }
    case 'maximum':
      return Math.min(a as number, b as number);
    case 'minimum':
      return Math.max(a as number, b as number);
    case 'required-flag':
      return (a as boolean) || (b as boolean);
    case 'value':
      return a;
  }
}
