import type { PolicySourceFile } from '../policy/policy.schema.ts';
import type { RuleEngine } from './rule-engine.ts';
import type { RuleParseResult } from './sigma-rule.ts';

/**
 * `parseRuleFiles` with the Sigma parser and its YAML library loaded on first use: the agent parses rules
 * only when a policy bundle holding some arrives, and a device whose policy has none never loads them.
 */
export async function parseRuleFilesOnDemand(files: readonly PolicySourceFile[]): Promise<RuleParseResult> {
  if (files.length === 0) return { ok: true, rules: { format: 1, rules: [] }, warnings: [] };
  const sigma = await import('./sigma-rule.ts');
  return sigma.parseRuleFiles(files);
}

/**
 * The rule engine (with Sigma detection, correlation and field mapping) loaded on first use, for the same
 * reason: a device whose policy has no rules never evaluates any.
 */
export async function loadRuleEngine(): Promise<typeof RuleEngine> {
  return (await import('./rule-engine.ts')).RuleEngine;
}
