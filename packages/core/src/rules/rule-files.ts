import type { PolicySourceFile } from '../policy/policy.schema.ts';
import { parseRuleFiles as parseSigmaRuleFiles, type RuleParseResult } from './sigma-rule.ts';

export type { RuleParseResult } from './sigma-rule.ts';

/**
 * Compiles a policy's rule files (sigma-rule.ts). A function here rather than a re-export of that module:
 * the device bundler keeps a module that the package entry re-exports in the code every agent loads,
 * while the agent loads the Sigma parser and its YAML library only when it has rules
 * (`parseRuleFilesOnDemand`, in a module of its own for the same reason).
 */
export function parseRuleFiles(files: readonly PolicySourceFile[]): RuleParseResult {
  return parseSigmaRuleFiles(files);
}
