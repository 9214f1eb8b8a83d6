import { type ConfigLayer, commaSeparatedList, resolveConfig } from '@edgeward/core';
import * as z from 'zod/mini';

export const agentConfigSchema = z.strictObject({
  /** Holds the device key (0600), certificates, enrollment and runtime state. */
  dataDir: z.string().check(z.minLength(1)),
  /** Heartbeat period; the manager marks the device offline after three silent periods. */
  reportIntervalMs: z._default(z.coerce.number().check(z.int(), z.minimum(1000)), 60_000),
  /** How often the inventory is collected and its differences sent. */
  inventoryIntervalMs: z._default(z.coerce.number().check(z.int(), z.minimum(1000)), 300_000),
  /** Root of the filesystem the collectors read (a fixture tree in tests). */
  root: z._default(z.string(), '/'),
  /** A file holding the firmware version, for devices without DMI or a device tree. */
  firmwareFile: z.optional(z.string()),
  /** First retry delay after a failed contact; doubles up to `retryMaxMs`, with full jitter. */
  retryInitialMs: z._default(z.coerce.number().check(z.int(), z.minimum(10)), 1000),
  retryMaxMs: z._default(z.coerce.number().check(z.int(), z.minimum(10)), 300_000),
  requestTimeoutMs: z._default(z.coerce.number().check(z.int(), z.minimum(100)), 30_000),
  /** How long a stop may take to finish the work in flight before it is forced. */
  shutdownGraceMs: z._default(z.coerce.number().check(z.int(), z.minimum(0)), 10_000),
  logLevel: z._default(z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']), 'info'),
  /** Largest size of the durable event queue on disk, bytes; when full, the oldest low-severity events go. */
  queueMaxBytes: z._default(z.coerce.number().check(z.int(), z.minimum(1_048_576)), 100 * 1_048_576),
  /** An upload batch is sent at this many bytes (before compression) … */
  batchMaxBytes: z._default(z.coerce.number().check(z.int(), z.minimum(16_384)), 1_048_576),
  /** … or when its oldest event is this old; high and critical events go at once. */
  batchMaxAgeMs: z._default(z.coerce.number().check(z.int(), z.minimum(0)), 5000),
  /** Upload bandwidth cap in bytes per second on the wire; 0 for none. */
  uploadMaxBytesPerSecond: z._default(z.coerce.number().check(z.int(), z.minimum(0)), 0),
  /** Authentication logs to follow, under `root`. */
  authLogFiles: z._default(commaSeparatedList, ['/var/log/auth.log', '/var/log/secure']),
  /** How often the authentication logs and the journal are read, besides change notifications. */
  authPollMs: z._default(z.coerce.number().check(z.int(), z.minimum(100)), 5000),
  /** Files and directories watched for integrity, under `root`. */
  fimPaths: z._default(commaSeparatedList, [
    '/etc/passwd',
    '/etc/shadow',
    '/etc/group',
    '/etc/sudoers',
    '/etc/sudoers.d',
    '/etc/ssh',
  ]),
  fimRescanMs: z._default(z.coerce.number().check(z.int(), z.minimum(1000)), 600_000),
  fimMaxFiles: z._default(z.coerce.number().check(z.int(), z.minimum(1)), 10_000),
  /** How often the agent asks the manager for a newer policy bundle. */
  policyPollMs: z._default(z.coerce.number().check(z.int(), z.minimum(1000)), 300_000),
  /**
   * `auto` carries out the remediations the policy marks `auto`; `report-only` never changes the device
   * by itself (every failing check is only reported).
   */
  remediation: z._default(z.enum(['auto', 'report-only']), 'auto'),
  /** How late an event may reach the local detection rules and still be ordered by event time. */
  ruleLatenessMs: z._default(z.coerce.number().check(z.int(), z.minimum(0)), 5000),
  /** How often buffered events are evaluated by the local rules even when no newer event arrives. */
  ruleFlushMs: z._default(z.coerce.number().check(z.int(), z.minimum(100)), 5000),
  /** Groups (user, source address, …) each local rule keeps at most; the least recently used go. */
  ruleMaxGroups: z._default(z.coerce.number().check(z.int(), z.minimum(1)), 10_000),
  /** Files every forensic capture takes after the volatile data, under `root`. */
  captureFiles: z._default(commaSeparatedList, [
    '/etc/passwd',
    '/etc/group',
    '/etc/hosts',
    '/etc/crontab',
    '/etc/ssh/sshd_config',
  ]),
  /**
   * A capture stays within this many bytes (volatile data first, then files, cut short at the cap), so a
   * small device neither fills its disk nor its uplink. Default 16 MiB.
   */
  captureMaxBytes: z._default(z.coerce.number().check(z.int(), z.minimum(65_536)), 16 * 1_048_576),
  /** Evidence uploads go in chunks of this many bytes; a broken upload resumes at a chunk boundary. */
  captureChunkBytes: z._default(z.coerce.number().check(z.int(), z.minimum(1024)), 256 * 1024),
  /** How much of the end of each log (authentication logs, journal) a capture takes, bytes. */
  captureLogTailBytes: z._default(z.coerce.number().check(z.int(), z.minimum(1024)), 256 * 1024),
  /**
   * Keep a WebSocket open to the manager so that commands (isolate, release, capture) arrive at once;
   * without it they arrive with the next heartbeat or poll.
   */
  /**
   * How isolation commands are enforced: `auto` (nftables, else iptables, else report-only),
   * `nftables`, `iptables`, `report-only` (never touches the firewall; reports what it would do) or
   * `off` (isolation commands are refused).
   */
  isolation: z._default(z.enum(['auto', 'nftables', 'iptables', 'report-only', 'off']), 'auto'),
  pushEnabled: z._default(
    z.pipe(
      z.union([z.boolean(), z.enum(['true', 'false'])]),
      z.transform((value) => value === true || value === 'true'),
    ),
    true,
  ),
  /**
   * How updates are installed: `none` (the agent takes no updates), `ab-slots` (two slot directories and
   * an atomically switched `current` link under `updateSlotsDir`) or `command` (an external installer:
   * `updateInstallCommand`, `updateCommitCommand`, `updateRollbackCommand`). See docs/updates.md.
   */
  updateHandler: z._default(z.enum(['none', 'ab-slots', 'command']), 'none'),
  /** How often the agent asks whether a rollout has an update for it (ms). */
  updatePollMs: z._default(z.coerce.number().check(z.int(), z.minimum(100)), 300_000),
  /** Artifact names whose running version the agent reports at every start. */
  updateArtifacts: z._default(commaSeparatedList, ['firmware']),
  /** Slot directories of the `ab-slots` handler; default `<dataDir>/slots`. */
  updateSlotsDir: z.optional(z.string().check(z.minLength(1))),
  /** Run (`/bin/sh -c`) in the new slot or after a `command` install; exit 0 within the deadline is healthy. */
  updateHealthCommand: z.optional(z.string().check(z.minLength(1))),
  updateHealthDeadlineMs: z._default(z.coerce.number().check(z.int(), z.minimum(100)), 120_000),
  /** Starts without a commit after which the device goes back to the previous version. */
  updateMaxAttempts: z._default(z.coerce.number().check(z.int(), z.minimum(1)), 3),
  updateInstallCommand: z.optional(z.string().check(z.minLength(1))),
  updateCommitCommand: z.optional(z.string().check(z.minLength(1))),
  updateRollbackCommand: z.optional(z.string().check(z.minLength(1))),
  /** Prints the running version (`$EDGEWARD_NAME` in the environment); default the updater's record. */
  updateVersionCommand: z.optional(z.string().check(z.minLength(1))),
  /** How often the agent asks for pending commands besides its heartbeats; default `reportIntervalMs`. */
  commandPollMs: z.optional(z.coerce.number().check(z.int(), z.minimum(1000))),
});

export type AgentConfig = z.output<typeof agentConfigSchema>;
export const agentConfigKeys = Object.keys(agentConfigSchema.shape) as (keyof AgentConfig)[];

export function resolveAgentConfig(layers: readonly ConfigLayer[]): AgentConfig {
  return resolveConfig(agentConfigSchema, layers);
}
