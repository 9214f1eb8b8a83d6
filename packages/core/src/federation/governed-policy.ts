import type { CompiledPolicy } from '../policy/policy.schema.ts';
import type { GovernedValue } from './governed-setting.ts';

/**
 * Where the effective governed settings land in the compiled policy the agent enforces. Keys name a place
 * in the policy:
 *
 * - `settings.evaluationIntervalMs`, `settings.bundleExpiryMs`, `settings.patchSlaMs.<severity>` (numbers);
 * - `checks.<id>.forbidden` and `checks.<id>.allowed` of a `listening-ports` check (port numbers as text);
 * - `checks.<id>.remediate` (`auto`, `manual` or `off`).
 *
 * A key that names nothing in this policy changes nothing (a check the hub removed since).
 */
export function applyGovernedSettings(
  policy: CompiledPolicy,
  settings: Readonly<Record<string, GovernedValue>>,
): CompiledPolicy {
  const next: CompiledPolicy = structuredClone(policy) as CompiledPolicy;
  for (const [key, value] of Object.entries(settings)) {
    const parts = key.split('.');
    if (parts[0] === 'settings' && typeof value === 'number') {
      if (parts[1] === 'evaluationIntervalMs' && parts.length === 2)
        next.settings.evaluationIntervalMs = value;
      if (parts[1] === 'bundleExpiryMs' && parts.length === 2) next.settings.bundleExpiryMs = value;
      const severity = parts[2];
      if (parts[1] === 'patchSlaMs' && severity !== undefined && severity in next.settings.patchSlaMs) {
        next.settings.patchSlaMs[severity as keyof CompiledPolicy['settings']['patchSlaMs']] = value;
      }
      continue;
    }
    if (parts[0] !== 'checks' || parts.length !== 3) continue;
    const check = next.checks.find((candidate) => candidate.id === parts[1]);
    if (check === undefined) continue;
    const field = parts[2];
    if (field === 'remediate' && (value === 'auto' || value === 'manual' || value === 'off')) {
      check.remediate = value;
    } else if (check.spec.type === 'listening-ports' && Array.isArray(value)) {
      const ports = value.map(Number).filter((port) => Number.isInteger(port) && port >= 1 && port <= 65535);
      if (field === 'forbidden') check.spec.forbidden = [...ports].sort((a, b) => a - b);
      if (field === 'allowed') check.spec.allowed = [...ports].sort((a, b) => a - b);
    }
  }
  return next;
}
