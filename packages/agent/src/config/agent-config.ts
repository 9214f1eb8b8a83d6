import { type ConfigLayer, resolveConfig } from '@edgeward/core';
import { z } from 'zod';

export const agentConfigSchema = z.strictObject({
  /** Holds the device key (0600), certificates, enrollment and runtime state. */
  dataDir: z.string().min(1),
  /** Heartbeat period; the manager marks the device offline after three silent periods. */
  reportIntervalMs: z.coerce.number().int().min(1000).default(60_000),
  /** How often the inventory is collected and its differences sent. */
  inventoryIntervalMs: z.coerce.number().int().min(1000).default(300_000),
  /** Root of the filesystem the collectors read (a fixture tree in tests). */
  root: z.string().default('/'),
  /** A file holding the firmware version, for devices without DMI or a device tree. */
  firmwareFile: z.string().optional(),
  /** First retry delay after a failed contact; doubles up to `retryMaxMs`, with full jitter. */
  retryInitialMs: z.coerce.number().int().min(10).default(1000),
  retryMaxMs: z.coerce.number().int().min(10).default(300_000),
  requestTimeoutMs: z.coerce.number().int().min(100).default(30_000),
  /** How long a stop may take to finish the work in flight before it is forced. */
  shutdownGraceMs: z.coerce.number().int().min(0).default(10_000),
  logLevel: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
});

export type AgentConfig = z.output<typeof agentConfigSchema>;
export const agentConfigKeys = Object.keys(agentConfigSchema.shape) as (keyof AgentConfig)[];

export function resolveAgentConfig(layers: readonly ConfigLayer[]): AgentConfig {
  return resolveConfig(agentConfigSchema, layers);
}
