import { join } from 'node:path';
import { type ConfigLayer, resolveConfig } from '@edgeward/core';
import { z } from 'zod';

const DAY_MS = 86_400_000;

const port = z.coerce.number().int().min(0).max(65_535);
const list = z.preprocess(
  (value) =>
    typeof value === 'string'
      ? value
          .split(',')
          .map((item) => item.trim())
          .filter(Boolean)
      : value,
  z.array(z.string()),
);

export const managerConfigSchema = z
  .strictObject({
    /** `hub` has no upstream manager. */
    role: z.enum(['hub']).default('hub'),
    /** Where keys, certificates and the SQLite database live. */
    dataDir: z.string().min(1).default('.edgeward'),
    /** `sqlite:PATH` or a `postgres://` URL; default `sqlite:<dataDir>/edgeward.db`. */
    database: z.string().optional(),
    /** The fleet's trust domain, used in SPIFFE ids (`spiffe://<fleet>/device/<id>`). */
    fleet: z
      .string()
      .regex(
        /^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/,
        'a DNS-like name, lower case',
      )
      .default('edgeward.local'),
    host: z.string().default('0.0.0.0'),
    /** Device API, mutual TLS. */
    devicePort: port.default(8443),
    /** Operator API and dashboard, HTTPS. */
    operatorPort: port.default(8444),
    /** Extra DNS names or IP addresses for the server certificate (local names and addresses are added). */
    serverNames: list.default([]),
    /** The device API address printed in enroll commands; default https://<hostname>:<devicePort>. */
    publicUrl: z.string().url().optional(),
    deviceCertValidityMs: z.coerce
      .number()
      .int()
      .min(60_000)
      .default(30 * DAY_MS),
    enrollmentTokenTtlMs: z.coerce.number().int().min(60_000).default(DAY_MS),
    /** Each CRL is valid this long and re-issued every `crlRefreshMs`, well before it expires. */
    crlValidityMs: z.coerce
      .number()
      .int()
      .min(60_000)
      .default(7 * DAY_MS),
    crlRefreshMs: z.coerce.number().int().min(1000).default(3_600_000),
    /** How often a replica re-reads revocations written by others (PostgreSQL with several replicas). */
    revocationPollMs: z.coerce.number().int().min(100).default(5000),
    /** Largest request body accepted, in bytes. */
    bodyLimitBytes: z.coerce
      .number()
      .int()
      .min(1024)
      .default(16 * 1024 * 1024),
    logLevel: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
  })
  .refine((config) => config.crlRefreshMs < config.crlValidityMs, {
    message: 'crlRefreshMs must be shorter than crlValidityMs, or CRLs expire and every device is refused',
    path: ['crlRefreshMs'],
  });

export type ManagerConfig = z.output<typeof managerConfigSchema> & { readonly database: string };

/** Setting names, for the environment layer (`EDGEWARD_DATA_DIR`, …) and `--help`. */
export const managerConfigKeys = Object.keys(managerConfigSchema.shape) as (keyof z.input<
  typeof managerConfigSchema
>)[];

export function resolveManagerConfig(layers: readonly ConfigLayer[]): ManagerConfig {
  const config = resolveConfig(managerConfigSchema, layers);
  return { ...config, database: config.database ?? `sqlite:${join(config.dataDir, 'edgeward.db')}` };
}
