import { type Severity, severities, severitySchema } from '@edgeward/core';
import * as z from 'zod/mini';

/**
 * Where alert notifications go, as the manager's `alertDestinations` setting describes them: an array in
 * the configuration file, or the same array as JSON in EDGEWARD_ALERT_DESTINATIONS. Secrets are never
 * written inline: `secretFile` and `passwordFile` name files read once at start.
 */

const destinationName = z
  .string()
  .check(z.regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, 'letters, digits, `_`, `.` and `-`, at most 64'));
/** The tiers a destination takes; default all. A rule's `route` narrows this further by name. */
const tiers = z.optional(z.array(severitySchema).check(z.minLength(1)));
const file = z.string().check(z.minLength(1));

const webhookSchema = z.strictObject({
  name: destinationName,
  type: z.literal('webhook'),
  url: z
    .string()
    .check(
      z.refine(
        (value) => /^https?:\/\/[^/\s]+/i.test(value) && URL.canParse(value),
        'an http:// or https:// URL',
      ),
    ),
  /** A file holding the HMAC key: each body is signed in `x-edgeward-signature: sha256=<hex>`. */
  secretFile: z.optional(file),
  tiers,
});

const syslogSchema = z.strictObject({
  name: destinationName,
  type: z.literal('syslog'),
  tiers,
});

const mqttSchema = z.strictObject({
  name: destinationName,
  type: z.literal('mqtt'),
  url: z
    .string()
    .check(
      z.refine(
        (value) => /^(mqtts?|wss?):\/\/[^/\s]+/i.test(value) && URL.canParse(value),
        'an mqtt://, mqtts://, ws:// or wss:// URL, e.g. mqtt://broker:1883',
      ),
    ),
  /** `{tier}` becomes the alert's tier (or the digest's schedule). */
  topic: z._default(z.string().check(z.minLength(1), z.maxLength(500)), 'edgeward/alerts/{tier}'),
  username: z.optional(z.string().check(z.minLength(1))),
  passwordFile: z.optional(file),
  tiers,
});

const smtpSchema = z.strictObject({
  name: destinationName,
  type: z.literal('smtp'),
  host: z.string().check(z.minLength(1)),
  port: z._default(z.number().check(z.int(), z.minimum(1), z.maximum(65_535)), 587),
  /** TLS from the first byte (port 465); otherwise STARTTLS when the server offers it. */
  secure: z._default(z.boolean(), false),
  username: z.optional(z.string().check(z.minLength(1))),
  passwordFile: z.optional(file),
  from: z.string().check(z.minLength(3)),
  to: z.array(z.string().check(z.minLength(3))).check(z.minLength(1)),
  tiers,
});

export const alertDestinationSchema = z.discriminatedUnion('type', [
  webhookSchema,
  syslogSchema,
  mqttSchema,
  smtpSchema,
]);
export type AlertDestinationConfig = z.output<typeof alertDestinationSchema>;

/** The `alertDestinations` setting: an array, or its JSON text (the environment), names unique. */
export const alertDestinationsSetting = z.pipe(
  z.transform((value: unknown, context) => {
    if (typeof value !== 'string') return value;
    try {
      return JSON.parse(value) as unknown;
    } catch (error) {
      context.issues.push({
        code: 'custom',
        input: value,
        message: `not valid JSON (${(error as Error).message}); give a JSON array of destinations`,
      });
      return z.NEVER;
    }
  }),
  z.array(alertDestinationSchema).check(
    z.refine(
      (destinations) => new Set(destinations.map((entry) => entry.name)).size === destinations.length,
      {
        message: 'destination names must be unique',
      },
    ),
  ),
);

/** The tiers a destination takes, as a set; all of them when it names none. */
export function destinationTiers(config: {
  readonly tiers?: readonly Severity[] | undefined;
}): ReadonlySet<Severity> {
  return new Set(config.tiers ?? severities);
}
