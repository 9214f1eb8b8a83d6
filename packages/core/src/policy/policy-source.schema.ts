import * as z from 'zod/mini';
import { severitySchema } from '../events/event.schema.ts';
import { parseDuration } from '../text/duration.ts';
import {
  checkSpecSchema,
  compiledCheckSchema,
  compiledWindowSchema,
  remediateModes,
  remediationActionSchema,
} from './policy.schema.ts';

/**
 * The files of a policy folder as people write them (docs/policy.md). They differ from the compiled
 * policy only where YAML is friendlier: durations are text with a unit (`30s`), a baseline groups its
 * checks, a window says `weekly:` or `cron:` + `duration:`. Every object is strict, so a misspelt field
 * is an error rather than a silently ignored setting. Field schemas are taken from the contract
 * (policy.schema.ts) wherever the two agree, so that they cannot drift apart.
 */

const identifier = compiledCheckSchema.def.shape.id;
const absolutePath = compiledCheckSchema.def.shape.watch.def.element;
const nonEmptyText = z.string().check(z.minLength(1));
const weeklyRange = compiledWindowSchema.def.shape.schedule.def.options[0].def.shape.ranges.def.element;

/**
 * Milliseconds of a duration written with a unit (`90s`, `30m`, `2h`, `7d`, `1h30m`), or undefined.
 * A bare number is refused: in a policy `timeout: 30` would otherwise mean 30 milliseconds.
 */
export function sourceDurationMs(text: string): number | undefined {
  if (/^\s*\d+\s*$/.test(text)) return undefined;
  try {
    const ms = parseDuration(text);
    return ms >= 1 ? ms : undefined;
  } catch {
    return undefined;
  }
}

const durationText = z.custom<string>(
  (value) => typeof value === 'string' && sourceDurationMs(value) !== undefined,
  'a duration with a unit, such as 90s, 30m, 2h or 7d',
);

const selectorValue = z.custom<string | string[]>(
  (value) =>
    typeof value === 'string' ||
    (Array.isArray(value) &&
      value.length > 0 &&
      value.every((member) => typeof member === 'string' && member !== '*')),
  "a label value as text (quote numbers: '3'), a non-empty list of values, or '*' for any value",
);

export const settingsSourceSchema = z.strictObject({
  evaluationInterval: z.optional(durationText),
  bundleExpiry: z.optional(durationText),
  patchSla: z.optional(
    z.strictObject({
      critical: z.optional(durationText),
      high: z.optional(durationText),
      medium: z.optional(durationText),
      low: z.optional(durationText),
      info: z.optional(durationText),
    }),
  ),
});
export type SettingsSource = z.infer<typeof settingsSourceSchema>;

export const segmentSourceSchema = z.strictObject({
  id: identifier,
  title: z.optional(z.string()),
  priority: z.optional(z.number().check(z.int())),
  selector: z.record(z.string(), selectorValue),
  evaluationInterval: z.optional(durationText),
});
export type SegmentSource = z.infer<typeof segmentSourceSchema>;

export const segmentsFileSchema = z.strictObject({ segments: z.array(segmentSourceSchema) });

const [
  listeningPorts,
  service,
  sshd,
  file,
  sysctl,
  packageCheck,
  firmware,
  accounts,
  diskEncryption,
  logging,
  timeSync,
  worldWritable,
  command,
] = checkSpecSchema.def.options;

/** Check specs as written: the contract's, except that a command check takes `timeout: 30s`. */
export const checkSpecSourceSchema = z.discriminatedUnion('type', [
  listeningPorts,
  service,
  sshd,
  file,
  sysctl,
  packageCheck,
  firmware,
  accounts,
  diskEncryption,
  logging,
  timeSync,
  worldWritable,
  z.extend(z.omit(command, { timeoutMs: true }), { timeout: z.optional(durationText) }),
]);
export type CheckSpecSource = z.infer<typeof checkSpecSourceSchema>;

const [fileContent, fileLine, chmod, chown, sysctlAction, serviceAction, commandAction] =
  remediationActionSchema.def.options;
const withTimeout = { timeout: z.optional(durationText) };

/** A remediation as written: one of the contract's actions plus its `timeout`. */
export const remediationSourceSchema = z.discriminatedUnion('type', [
  z.extend(fileContent, withTimeout),
  z.extend(fileLine, withTimeout),
  z.extend(chmod, withTimeout),
  z.extend(chown, withTimeout),
  z.extend(sysctlAction, withTimeout),
  z.extend(serviceAction, withTimeout),
  z.extend(commandAction, withTimeout),
]);
export type RemediationSource = z.infer<typeof remediationSourceSchema>;

export const checkSourceSchema = z.strictObject({
  id: identifier,
  title: nonEmptyText,
  severity: severitySchema,
  rationale: z.optional(z.string()),
  segments: z.optional(z.array(identifier)),
  check: checkSpecSourceSchema,
  remediate: z.optional(z.enum(remediateModes)),
  remediation: z.optional(remediationSourceSchema),
  watch: z.optional(z.array(absolutePath)),
});
export type CheckSource = z.infer<typeof checkSourceSchema>;

export const baselineFileSchema = z.strictObject({
  /** Defaults to the file name without its extension. */
  id: z.optional(identifier),
  title: z.optional(z.string()),
  checks: z.array(checkSourceSchema),
});
export type BaselineSource = z.infer<typeof baselineFileSchema>;

export const windowSourceSchema = z.strictObject({
  id: identifier,
  segments: z.optional(z.array(identifier)),
  timeZone: nonEmptyText,
  weekly: z.optional(z.array(weeklyRange).check(z.minLength(1))),
  cron: z.optional(nonEmptyText),
  duration: z.optional(durationText),
});
export type WindowSource = z.infer<typeof windowSourceSchema>;

export const windowsFileSchema = z.strictObject({ windows: z.array(windowSourceSchema) });

export { identifier as policyIdentifierSchema };

const governedKindNames = [
  'deny-list',
  'allow-list',
  'revocations',
  'maximum',
  'minimum',
  'required-flag',
  'value',
];

/** `federation.yaml` (docs/federation.md). */
export const federationSourceSchema = z.strictObject({
  maxClockAhead: z.optional(
    z.custom<string>(
      (value) => typeof value === 'string' && sourceDurationMs(value) !== undefined,
      'a duration with a unit, such as 5m',
    ),
  ),
  settings: z.record(
    z.string().check(z.regex(/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/, 'a dotted setting key')),
    z.strictObject({
      kind: z.enum(governedKindNames as [string, ...string[]]),
      mode: z.enum(['lock', 'floor', 'site-owned']),
      value: z.union([z.array(z.string()), z.number(), z.boolean(), z.string()]),
    }),
  ),
  delegate: z._default(z.record(z.string(), z.array(z.string())), {}),
});
export type FederationSource = z.output<typeof federationSourceSchema>;
