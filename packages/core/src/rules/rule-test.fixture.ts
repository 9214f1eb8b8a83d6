import assert from 'node:assert/strict';
import type { PolicyProblem } from '../policy/policy.schema.ts';
import type { CompiledRuleSet, RuleEvent, RuleSignal } from './rule.schema.ts';
import { RuleEngine, type RuleEngineOptions } from './rule-engine.ts';
import { parseRuleFiles } from './sigma-rule.ts';

/** Helpers shared by the rule engine's tests. */

export function render(problem: PolicyProblem): string {
  return `${problem.file}:${problem.line ?? '-'}:${problem.column ?? '-'} ${problem.field ?? '-'}: ${problem.message}`;
}

/** Compiles rule files (one text is `rules/test.yml`), failing the test with every problem listed. */
export function compileRules(files: string | Record<string, string>): CompiledRuleSet {
  const folder = typeof files === 'string' ? { 'rules/test.yml': files } : files;
  const result = parseRuleFiles(Object.entries(folder).map(([path, text]) => ({ path, text })));
  if (!result.ok) assert.fail(`expected valid rules, got:\n${result.problems.map(render).join('\n')}`);
  return result.rules;
}

export function ruleProblems(files: string | Record<string, string>): readonly PolicyProblem[] {
  const folder = typeof files === 'string' ? { 'rules/test.yml': files } : files;
  const result = parseRuleFiles(Object.entries(folder).map(([path, text]) => ({ path, text })));
  if (result.ok) assert.fail('expected problems, the rules compiled');
  return result.problems;
}

let nextSeq = 1;

/** An event with defaults: device d1, the next sequence number, time 0. */
export function event(
  type: string,
  data: Record<string, unknown>,
  overrides: Partial<Omit<RuleEvent, 'type' | 'data'>> = {},
): RuleEvent {
  const seq = overrides.seq ?? nextSeq++;
  const deviceId = overrides.deviceId ?? 'd1';
  return {
    seq,
    id: overrides.id ?? `${deviceId}-${seq}`,
    type,
    severity: overrides.severity ?? 'medium',
    time: overrides.time ?? 0,
    data,
    deviceId,
    ...(overrides.stream === undefined ? {} : { stream: overrides.stream }),
  };
}

export const defaultOptions: RuleEngineOptions = {
  scope: 'agent',
  allowedLatenessMs: 0,
  maxGroupsPerRule: 1000,
};

/** Every signal the events cause, ingested as one batch and flushed. */
export function run(
  rules: CompiledRuleSet,
  events: readonly RuleEvent[],
  options: Partial<RuleEngineOptions> = {},
): RuleSignal[] {
  const engine = new RuleEngine(rules, { ...defaultOptions, ...options });
  return [...engine.ingest(events), ...engine.flush()];
}

/** The ids of the rules that signalled, in order. */
export function firedRules(
  rules: CompiledRuleSet,
  events: readonly RuleEvent[],
  options: Partial<RuleEngineOptions> = {},
): string[] {
  return run(rules, events, options).map((signal) => signal.ruleId);
}
