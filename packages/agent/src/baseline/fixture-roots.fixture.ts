import { chmod, cp, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type CheckSpec, type CompiledCheck, checkSpecSchema } from '@edgeward/core';
import type { BaselineContext } from './check-outcome.ts';

/**
 * Test support: fixture roots copied to a scratch directory with their modes set, since git keeps
 * none but the executable bit. Everything becomes 0755 (directories) or 0644 (files), then the modes
 * each fixture is about are applied.
 */

export type FixtureName = 'debian-like' | 'alpine-like';

export const fixturesDir = fileURLToPath(new URL('./fixtures/', import.meta.url));

const fixtureModes: Record<FixtureName, Record<string, number>> = {
  'debian-like': { 'etc/shadow': 0o640, 'etc/cron.d/backup': 0o666 },
  'alpine-like': { 'etc/shadow': 0o644 },
};

async function normalizeModes(dir: string): Promise<void> {
  await chmod(dir, 0o755);
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) await normalizeModes(path);
    else if (entry.isFile()) await chmod(path, 0o644);
  }
}

/** A private copy of a fixture root under `scratch`, named `<fixture>-<label>`. */
export async function copyFixture(name: FixtureName, scratch: string, label: string): Promise<string> {
  const root = join(scratch, `${name}-${label}`);
  await cp(join(fixturesDir, name), root, { recursive: true });
  await normalizeModes(root);
  for (const [path, mode] of Object.entries(fixtureModes[name])) await chmod(join(root, path), mode);
  return root;
}

/** A fixture or scratch root: read from files only, nothing run. */
export const fixtureContext = (root: string, extra: Partial<BaselineContext> = {}): BaselineContext => ({
  root,
  live: false,
  run: undefined,
  now: () => 1_717_000_000_000,
  procByteOrder: 'LE',
  ...extra,
});

/** A compiled check around `spec` (given as in a policy, defaults filled in by the schema). */
export function checkOf(spec: Record<string, unknown>, extra: Partial<CompiledCheck> = {}): CompiledCheck {
  const parsed: CheckSpec = checkSpecSchema.parse(spec);
  return {
    id: 'test-check',
    baseline: 'test',
    title: 'A test check',
    severity: 'high',
    rationale: '',
    segments: [],
    spec: parsed,
    remediate: 'manual',
    watch: [],
    ...extra,
  };
}
