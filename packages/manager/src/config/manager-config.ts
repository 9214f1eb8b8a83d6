import { join } from 'node:path';
import { type ConfigLayer, commaSeparatedList, resolveConfig } from '@edgeward/core';
import * as z from 'zod/mini';
import { alertDestinationsSetting } from '../alerting/alert-destinations.ts';
import { parseSyslogOutUrl } from '../syslog/syslog-out-url.ts';

const DAY_MS = 86_400_000;
const HOUR_MS = 3_600_000;

const port = z.coerce.number().check(z.int(), z.minimum(0), z.maximum(65_535));
const list = commaSeparatedList;

export const managerConfigSchema = z
  .strictObject({
    /** `hub` has no upstream manager; a `site` reports to the hub at `upstreamUrl` (docs/federation.md). */
    role: z._default(z.enum(['hub', 'site']), 'hub'),
    /** A site's hub: https://HUB:8443, its device API. */
    upstreamUrl: z.optional(z.string().check(z.url())),
    /** The one-time token from `edgeward sites create` (first start only; EDGEWARD_UPSTREAM_TOKEN_FILE reads it from a file). */
    upstreamToken: z.optional(z.string().check(z.minLength(1))),
    /** SHA-256 of the hub's root CA, as `sites create` printed it (first start only). */
    upstreamCaFingerprint: z.optional(z.string().check(z.minLength(1))),
    /** A site's pause between syncs with its hub while the link is up. */
    upstreamSyncMs: z._default(z.coerce.number().check(z.int(), z.minimum(100)), 5000),
    /** Events per upload from a site to its hub, at most. */
    upstreamBatchEvents: z._default(z.coerce.number().check(z.int(), z.minimum(1), z.maximum(50_000)), 5000),
    /** One request to the hub fails after this long (ms). */
    upstreamTimeoutMs: z._default(z.coerce.number().check(z.int(), z.minimum(100)), 30_000),
    /** Where keys, certificates and the SQLite database live. */
    dataDir: z._default(z.string().check(z.minLength(1)), '.edgeward'),
    /** `sqlite:PATH` or a `postgres://` URL; default `sqlite:<dataDir>/edgeward.db`. */
    database: z.optional(z.string()),
    /** PostgreSQL only: the schema holding Edgeward's tables (created when missing); default `public`. */
    databaseSchema: z.optional(z.string().check(z.minLength(1))),
    /** The fleet's trust domain, used in SPIFFE ids (`spiffe://<fleet>/device/<id>`). */
    fleet: z._default(
      z
        .string()
        .check(
          z.regex(
            /^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/,
            'a DNS-like name, lower case',
          ),
        ),
      'edgeward.local',
    ),
    host: z._default(z.string(), '0.0.0.0'),
    /** Device API, mutual TLS. */
    devicePort: z._default(port, 8443),
    /** Operator API and dashboard, HTTPS. */
    operatorPort: z._default(port, 8444),
    /** Extra DNS names or IP addresses for the server certificate (local names and addresses are added). */
    serverNames: z._default(list, []),
    /** The device API address printed in enroll commands; default https://<hostname>:<devicePort>. */
    publicUrl: z.optional(z.string().check(z.url())),
    deviceCertValidityMs: z._default(z.coerce.number().check(z.int(), z.minimum(60_000)), 30 * DAY_MS),
    enrollmentTokenTtlMs: z._default(z.coerce.number().check(z.int(), z.minimum(60_000)), DAY_MS),
    /** Each CRL is valid this long and re-issued every `crlRefreshMs`, well before it expires. */
    crlValidityMs: z._default(z.coerce.number().check(z.int(), z.minimum(60_000)), 7 * DAY_MS),
    crlRefreshMs: z._default(z.coerce.number().check(z.int(), z.minimum(1000)), 3_600_000),
    /** How often a replica re-reads revocations written by others (PostgreSQL with several replicas). */
    /** Ping period of the devices' push connections; one unanswered ping drops the connection. */
    pushPingMs: z._default(z.coerce.number().check(z.int(), z.minimum(100)), 30_000),
    revocationPollMs: z._default(z.coerce.number().check(z.int(), z.minimum(100)), 5000),
    /** Events are kept this many days after the manager received them, then pruned (hourly). */
    eventRetentionDays: z._default(z.coerce.number().check(z.int(), z.minimum(1), z.maximum(36_500)), 30),
    /** Syslog from devices without an agent: UDP, TCP (RFC 6587) and TLS (RFC 5425) ports; unset is off. */
    syslogUdpPort: z.optional(port),
    syslogTcpPort: z.optional(port),
    syslogTlsPort: z.optional(port),
    /** Larger syslog messages are skipped and counted (bytes). */
    syslogMaxMessageBytes: z._default(z.coerce.number().check(z.int(), z.minimum(480)), 65_536),
    /** Open TCP or TLS syslog connections per listener beyond which new ones are refused. */
    syslogMaxConnections: z._default(z.coerce.number().check(z.int(), z.minimum(1)), 1000),
    /**
     * Syslog out: every recorded operator action goes to this SIEM as RFC 5424 over `tcp://HOST:PORT` or
     * `tls://HOST:PORT` (RFC 5425); unset is off.
     */
    syslogOutUrl: z.optional(
      z
        .string()
        .check(
          z.refine(
            (value) => parseSyslogOutUrl(value) !== undefined,
            'use tcp://HOST:PORT or tls://HOST:PORT, e.g. tls://siem.example.com:6514',
          ),
        ),
    ),
    /** PEM file with the CA certificates that verify the SIEM's TLS certificate; default the system CAs. */
    syslogOutCaFile: z.optional(z.string().check(z.minLength(1))),
    /** APP-NAME of the messages sent (RFC 5424: 1 to 48 printable ASCII characters). */
    syslogOutAppName: z._default(
      z.string().check(z.regex(/^[!-~]{1,48}$/, '1 to 48 printable ASCII characters, no spaces')),
      'edgeward',
    ),
    /** Entries kept on disk while the SIEM is unreachable; beyond it the oldest are dropped, and reported. */
    syslogOutMaxQueued: z._default(z.coerce.number().check(z.int(), z.minimum(1)), 1_000_000),
    /**
     * Where alert notifications go: webhook, syslog (through syslog out), MQTT and SMTP destinations
     * (docs in alerting/alert-destinations.ts); an array in the file, JSON in EDGEWARD_ALERT_DESTINATIONS.
     */
    alertDestinations: z._default(alertDestinationsSetting, []),
    /** How late an event may reach the hub's rules and still be ordered by event time (per device). */
    ruleLatenessMs: z._default(z.coerce.number().check(z.int(), z.minimum(0)), 60_000),
    /** Groups (user, address, device, …) each hub rule keeps at most; the least recently used go. */
    ruleMaxGroups: z._default(z.coerce.number().check(z.int(), z.minimum(1)), 100_000),
    /** How often the hub's rules evaluate what waits, and silent devices are looked for. */
    detectionTickMs: z._default(z.coerce.number().check(z.int(), z.minimum(100)), 10_000),
    /** An alert without a signal for this long is resolved as `auto`. */
    alertAutoResolveMs: z._default(z.coerce.number().check(z.int(), z.minimum(60_000)), DAY_MS),
    /** Medium-tier alerts go out in a digest this often (periods aligned to the epoch, UTC). */
    alertDigestMediumMs: z._default(z.coerce.number().check(z.int(), z.minimum(60_000)), HOUR_MS),
    /** Low- and info-tier alerts go out in a digest this often (default daily, at 00:00 UTC). */
    alertDigestLowMs: z._default(z.coerce.number().check(z.int(), z.minimum(60_000)), DAY_MS),
    /** After this many failed attempts a notification shows as failing; it is still retried. */
    alertDeliveryFailingAfter: z._default(z.coerce.number().check(z.int(), z.minimum(1)), 5),
    /** First retry delay of a failed notification; it doubles per attempt, with jitter (ms). */
    alertDeliveryRetryMinMs: z._default(z.coerce.number().check(z.int(), z.minimum(10)), 10_000),
    /** Longest retry delay (ms). */
    alertDeliveryRetryMaxMs: z._default(z.coerce.number().check(z.int(), z.minimum(10)), 600_000),
    /** One attempt (connect, send, answer) fails after this long (ms). */
    alertDeliveryTimeoutMs: z._default(z.coerce.number().check(z.int(), z.minimum(100)), 10_000),
    /** How often due notifications and digests are looked for, also those queued by other replicas (ms). */
    alertDeliveryPollMs: z._default(z.coerce.number().check(z.int(), z.minimum(10)), 1000),
    /** The audit chain gets a signed checkpoint every this many entries… */
    auditCheckpointEvery: z._default(z.coerce.number().check(z.int(), z.minimum(1)), 100),
    /** …and at least this often (ms) while entries were added since the last one. */
    auditCheckpointMs: z._default(z.coerce.number().check(z.int(), z.minimum(1000)), 300_000),
    /** How often running rollouts are driven (offers, deadlines, gates), besides after every device result (ms). */
    rolloutTickMs: z._default(z.coerce.number().check(z.int(), z.minimum(10)), 5000),
    /** Lifetime of the signed TUF timestamp (ms); re-signed once half of it has passed. */
    tufTimestampTtlMs: z._default(z.coerce.number().check(z.int(), z.minimum(60_000)), DAY_MS),
    /**
     * A site's artifact cache: at most this many bytes of the hub's artifacts are mirrored (default 10 GiB);
     * what does not fit is refused with EW_SITE_CACHE_FULL in the site's status and log.
     */
    siteArtifactCacheMaxBytes: z._default(z.coerce.number().check(z.int(), z.minimum(1)), 10 * 1024 ** 3),
    /** Largest evidence bundle a device may upload, in bytes (default 256 MiB; it arrives in chunks below `bodyLimitBytes`). */
    evidenceMaxBytes: z._default(z.coerce.number().check(z.int(), z.minimum(1024)), 256 * 1024 * 1024),
    /** How long a dashboard sign-in lasts (ms); revoking the operator ends it at once. */
    sessionTtlMs: z._default(z.coerce.number().check(z.int(), z.minimum(60_000)), 12 * 3_600_000),
    /** How often the dashboard's live stream re-reads the online/offline counts while someone watches (ms). */
    liveFleetPollMs: z._default(z.coerce.number().check(z.int(), z.minimum(100)), 5000),
    /** Largest request body accepted, in bytes. */
    bodyLimitBytes: z._default(z.coerce.number().check(z.int(), z.minimum(1024)), 16 * 1024 * 1024),
    logLevel: z._default(z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']), 'info'),
  })
  .check(
    z.refine(
      (config) =>
        config.syslogOutUrl !== undefined ||
        !config.alertDestinations.some((destination) => destination.type === 'syslog'),
      {
        message:
          'a syslog alert destination sends through syslog out: set syslogOutUrl, or drop the destination',
        path: ['alertDestinations'],
      },
    ),
    z.refine((config) => (config.role === 'site') === (config.upstreamUrl !== undefined), {
      message: 'a site needs upstreamUrl (its hub), and only a site has one',
      path: ['upstreamUrl'],
    }),
    z.refine((config) => config.alertDeliveryRetryMinMs <= config.alertDeliveryRetryMaxMs, {
      message: 'alertDeliveryRetryMinMs must not exceed alertDeliveryRetryMaxMs',
      path: ['alertDeliveryRetryMinMs'],
    }),
    z.refine((config) => config.crlRefreshMs < config.crlValidityMs, {
      message: 'crlRefreshMs must be shorter than crlValidityMs, or CRLs expire and every device is refused',
      path: ['crlRefreshMs'],
    }),
    z.refine(
      (config) => config.syslogOutCaFile === undefined || config.syslogOutUrl?.startsWith('tls://') === true,
      {
        message: 'syslogOutCaFile verifies a TLS server: set syslogOutUrl to tls://HOST:PORT, or drop it',
        path: ['syslogOutCaFile'],
      },
    ),
  );

export type ManagerConfig = z.output<typeof managerConfigSchema> & { readonly database: string };

/** Setting names, for the environment layer (`EDGEWARD_DATA_DIR`, …) and `--help`. */
export const managerConfigKeys = Object.keys(managerConfigSchema.shape) as (keyof z.input<
  typeof managerConfigSchema
>)[];

export function resolveManagerConfig(layers: readonly ConfigLayer[]): ManagerConfig {
  const config = resolveConfig(managerConfigSchema, layers);
  return { ...config, database: config.database ?? `sqlite:${join(config.dataDir, 'edgeward.db')}` };
}
