import * as z from 'zod/mini';
import { severitySchema } from '../events/event.schema.ts';
import { compiledPlaybookSchema } from '../incidents/incident.ts';

/**
 * The compiled policy: what a policy folder (YAML, see docs/policy.md) becomes after validation, and
 * what a signed bundle carries to every device. Durations are milliseconds, paths are absolute within
 * the device's root, and every list is in a stable order so that the same folder always compiles to
 * the same canonical JSON.
 */

const identifier = z
  .string()
  .check(z.regex(/^[a-z0-9][a-z0-9_.-]{0,62}$/, 'lower case letters, digits, ".", "_" or "-" (at most 63)'));
const absolutePath = z.string().check(z.regex(/^\//, 'an absolute path such as /etc/ssh/sshd_config'));
const regexSource = z.string().check(
  z.minLength(1),
  z.refine((source) => {
    try {
      new RegExp(source, 'm');
      return true;
    } catch {
      return false;
    }
  }, 'a valid regular expression'),
);
const positiveMs = z.number().check(z.int(), z.minimum(1));
const octalMode = z.string().check(z.regex(/^0?[0-7]{3,4}$/, 'an octal file mode such as 0644'));

/**
 * How a value found on the device is judged. Every given condition must hold; `subsetOf` treats the
 * value as a comma-separated list (sshd's `Ciphers`) and allows only the listed members.
 */
export const valueExpectationSchema = z.strictObject({
  equals: z.optional(z.string()),
  oneOf: z.optional(z.array(z.string()).check(z.minLength(1))),
  noneOf: z.optional(z.array(z.string()).check(z.minLength(1))),
  pattern: z.optional(regexSource),
  subsetOf: z.optional(z.array(z.string()).check(z.minLength(1))),
  atLeast: z.optional(z.number()),
  atMost: z.optional(z.number()),
  /** What to conclude when the setting is not found at all (its built-in default is not known). */
  whenMissing: z.optional(z.enum(['pass', 'fail'])),
});
export type ValueExpectation = z.infer<typeof valueExpectationSchema>;

/** What a check inspects. Each type is evaluated by the agent against its root directory. */
export const checkSpecSchema = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('listening-ports'),
    protocol: z._default(z.enum(['tcp', 'udp', 'any']), 'any'),
    /** None of these may listen. */
    forbidden: z.optional(z.array(z.number().check(z.int(), z.minimum(1), z.maximum(65535)))),
    /** Only these may listen (anything else fails the check). */
    allowed: z.optional(z.array(z.number().check(z.int(), z.minimum(1), z.maximum(65535)))),
  }),
  z.strictObject({
    type: z.literal('service'),
    /** Alternatives: `running` holds when any of them runs, `stopped` when none does. */
    names: z.array(z.string().check(z.minLength(1))).check(z.minLength(1)),
    state: z.enum(['running', 'stopped']),
  }),
  z.strictObject({
    type: z.literal('sshd'),
    /** The keyword, case-insensitive, as in sshd_config (`PermitRootLogin`). */
    setting: z.string().check(z.minLength(1)),
    expect: valueExpectationSchema,
    /** The connection to evaluate `Match` blocks for; without it, only the global settings count. */
    match: z.optional(
      z.strictObject({
        user: z.optional(z.string()),
        host: z.optional(z.string()),
        address: z.optional(z.string()),
      }),
    ),
    configPath: z._default(absolutePath, '/etc/ssh/sshd_config'),
  }),
  z.strictObject({
    type: z.literal('file'),
    path: absolutePath,
    present: z._default(z.boolean(), true),
    /** At most these permission bits (`0644` fails a file with mode 0666). */
    maxMode: z.optional(octalMode),
    owner: z.optional(z.string()),
    group: z.optional(z.string()),
    contains: z.optional(regexSource),
    notContains: z.optional(regexSource),
    sha256: z.optional(z.string().check(z.regex(/^[0-9a-f]{64}$/, '64 lower-case hex digits'))),
  }),
  z.strictObject({
    type: z.literal('sysctl'),
    /** Dotted name (`net.ipv4.ip_forward`), read from `/proc/sys` under the root. */
    key: z
      .string()
      .check(z.regex(/^[a-z0-9_.-]+(\/[a-z0-9_.-]+)*$/i, 'a sysctl key such as net.ipv4.ip_forward')),
    expect: valueExpectationSchema,
  }),
  z.strictObject({
    type: z.literal('package'),
    name: z.string().check(z.minLength(1)),
    state: z.enum(['installed', 'absent']),
    /** With `installed`: at least this version, compared by the package manager's own ordering. */
    minVersion: z.optional(z.string().check(z.minLength(1))),
  }),
  z.strictObject({
    type: z.literal('firmware'),
    minVersion: z.string().check(z.minLength(1)),
  }),
  z.strictObject({
    type: z.literal('accounts'),
    rule: z.enum(['no-extra-uid0', 'no-empty-password']),
  }),
  z.strictObject({
    type: z.literal('disk-encryption'),
    /** Each mount point must sit on a LUKS (dm-crypt) device. */
    mounts: z.array(absolutePath).check(z.minLength(1)),
  }),
  z.strictObject({
    type: z.literal('logging'),
    /** Logs must survive a reboot: journald with persistent storage, or a running syslog daemon. */
    persistent: z._default(z.boolean(), true),
  }),
  z.strictObject({ type: z.literal('time-sync') }),
  z.strictObject({
    type: z.literal('world-writable'),
    /** Directories searched (not following symbolic links or crossing into /proc or /sys). */
    paths: z.array(absolutePath).check(z.minLength(1)),
    /** Stops searching after this many files, so a huge tree cannot stall the agent. */
    maxFiles: z._default(z.number().check(z.int(), z.minimum(1)), 100_000),
  }),
  z.strictObject({
    type: z.literal('command'),
    /** argv, run without a shell. */
    run: z.array(z.string()).check(z.minLength(1)),
    timeoutMs: z._default(positiveMs, 30_000),
    expectExit: z.optional(z.number().check(z.int())),
    expectOutput: z.optional(regexSource),
  }),
]);
export type CheckSpec = z.infer<typeof checkSpecSchema>;
export type CheckType = CheckSpec['type'];

/** What a remediation changes on the device. Each runs with a timeout. */
export const remediationActionSchema = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('file-content'),
    path: absolutePath,
    content: z.string(),
    mode: z.optional(octalMode),
  }),
  z.strictObject({
    type: z.literal('file-line'),
    path: absolutePath,
    /** The line(s) to replace; when none matches, `line` is appended. */
    match: regexSource,
    line: z.string(),
  }),
  z.strictObject({ type: z.literal('chmod'), path: absolutePath, mode: octalMode }),
  z.strictObject({
    type: z.literal('chown'),
    path: absolutePath,
    owner: z.optional(z.string()),
    group: z.optional(z.string()),
  }),
  z.strictObject({
    type: z.literal('sysctl'),
    key: z.string().check(z.minLength(1)),
    value: z.string(),
    /** Where the setting is persisted for the next boot. */
    persistFile: z._default(absolutePath, '/etc/sysctl.d/90-edgeward.conf'),
  }),
  z.strictObject({
    type: z.literal('service'),
    name: z.string().check(z.minLength(1)),
    action: z.enum(['stop', 'disable', 'stop-and-disable']),
  }),
  z.strictObject({ type: z.literal('command'), run: z.array(z.string()).check(z.minLength(1)) }),
]);
export type RemediationAction = z.infer<typeof remediationActionSchema>;

export const remediateModes = ['auto', 'manual', 'off'] as const;
export type RemediateMode = (typeof remediateModes)[number];

export const compiledCheckSchema = z.strictObject({
  id: identifier,
  /** The baseline (file) the check came from. */
  baseline: identifier,
  title: z.string().check(z.minLength(1)),
  severity: severitySchema,
  rationale: z.string(),
  /** Segment ids; empty means every segment. */
  segments: z.array(identifier),
  spec: checkSpecSchema,
  remediate: z.enum(remediateModes),
  remediation: z.optional(z.strictObject({ action: remediationActionSchema, timeoutMs: positiveMs })),
  /** Paths whose change triggers an evaluation of this check (files it reads). */
  watch: z.array(absolutePath),
});
export type CompiledCheck = z.infer<typeof compiledCheckSchema>;

/**
 * A label selector: every key must match. A string value must equal the label, a list allows any of
 * its members, and `*` only requires the label to exist. An empty selector matches every device.
 */
export const labelSelectorSchema = z.record(z.string(), z.union([z.string(), z.array(z.string())]));
export type LabelSelector = z.infer<typeof labelSelectorSchema>;

export const compiledSegmentSchema = z.strictObject({
  id: identifier,
  title: z.string(),
  /** Where a device matches several segments, the highest priority wins (then the lowest id). */
  priority: z.number().check(z.int()),
  selector: labelSelectorSchema,
  /** Overrides the policy-wide evaluation interval for devices of this segment. */
  evaluationIntervalMs: z.optional(positiveMs),
});
export type CompiledSegment = z.infer<typeof compiledSegmentSchema>;

/** The segment every device belongs to when no declared segment matches it. */
export const DEFAULT_SEGMENT_ID = 'default';

export const weekdays = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;
export type Weekday = (typeof weekdays)[number];
const clockTime = z.string().check(z.regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'a time of day such as 02:30'));

export const compiledWindowSchema = z.strictObject({
  id: identifier,
  /** Segment ids; empty means every segment. */
  segments: z.array(identifier),
  /** IANA time zone (`Europe/Berlin`), in which the times below are read. */
  timeZone: z.string().check(z.minLength(1)),
  schedule: z.discriminatedUnion('kind', [
    z.strictObject({
      kind: z.literal('weekly'),
      /** `end` before `start` crosses midnight into the next day. */
      ranges: z
        .array(
          z.strictObject({
            days: z.array(z.enum(weekdays)).check(z.minLength(1)),
            start: clockTime,
            end: clockTime,
          }),
        )
        .check(z.minLength(1)),
    }),
    z.strictObject({
      kind: z.literal('cron'),
      cron: z.string().check(z.minLength(1)),
      durationMs: positiveMs,
    }),
  ]),
});
export type CompiledWindow = z.infer<typeof compiledWindowSchema>;

export const policySettingsSchema = z.strictObject({
  evaluationIntervalMs: positiveMs,
  bundleExpiryMs: positiveMs,
  /** Time from an update's release to its installation, per severity. */
  patchSlaMs: z.record(severitySchema, positiveMs),
});
export type PolicySettings = z.infer<typeof policySettingsSchema>;

export const DEFAULT_POLICY_SETTINGS: PolicySettings = {
  evaluationIntervalMs: 3_600_000,
  bundleExpiryMs: 7 * 86_400_000,
  patchSlaMs: {
    critical: 2 * 86_400_000,
    high: 7 * 86_400_000,
    medium: 30 * 86_400_000,
    low: 90 * 86_400_000,
    info: 180 * 86_400_000,
  },
};

/**
 * What the hub governs across tiers (docs/federation.md): each governed setting's kind, mode and value,
 * which settings each site may edit (`*` for every site), and how far ahead an edit's clock may run.
 * Kinds, modes and values are checked where they are used (core/federation), to keep this file free of
 * the federation model.
 */
export const compiledFederationSchema = z.strictObject({
  maxClockAheadMs: positiveMs,
  settings: z.record(
    z.string(),
    z.strictObject({
      kind: z.string(),
      mode: z.string(),
      value: z.union([z.array(z.string()), z.number(), z.boolean(), z.string()]),
    }),
  ),
  delegate: z.record(z.string(), z.array(z.string())),
});
export type CompiledFederation = z.infer<typeof compiledFederationSchema>;

export const compiledPolicySchema = z.strictObject({
  segments: z.array(compiledSegmentSchema),
  checks: z.array(compiledCheckSchema),
  windows: z.array(compiledWindowSchema),
  settings: policySettingsSchema,
  /** Detection rules as their source text (validated when the policy compiles; each engine compiles them for itself). */
  rules: z.array(z.strictObject({ path: z.string(), text: z.string() })),
  /** Incident playbooks (`playbooks/`); absent when the folder has none. */
  playbooks: z.optional(z.array(compiledPlaybookSchema)),
  /** From `federation.yaml`; absent when the hub governs nothing across sites. */
  federation: z.optional(compiledFederationSchema),
});
export type CompiledPolicy = z.infer<typeof compiledPolicySchema>;

/** One file of a policy folder, as read from disk (path relative to the folder, `/`-separated). */
export interface PolicySourceFile {
  readonly path: string;
  readonly text: string;
}

/** A validation error that a policy author can act on. */
export interface PolicyProblem {
  readonly file: string;
  /** 1-based; absent when the problem concerns the folder as a whole. */
  readonly line?: number;
  readonly column?: number;
  /** Dotted path to the field (`checks.3.check.port`). */
  readonly field?: string;
  readonly message: string;
}

export type PolicyCompileResult =
  | { readonly ok: true; readonly policy: CompiledPolicy; readonly warnings: readonly PolicyProblem[] }
  | { readonly ok: false; readonly problems: readonly PolicyProblem[] };
