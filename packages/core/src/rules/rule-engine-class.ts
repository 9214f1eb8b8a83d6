import { RuleEngine as Engine } from './rule-engine.ts';

/**
 * The rule engine, named through this module rather than re-exported from rule-engine.ts: the device
 * bundler keeps a module that the package entry re-exports in the code every agent loads, while the agent
 * loads the engine only when its policy has rules (`loadRuleEngine`).
 */
export const RuleEngine = Engine;
export type RuleEngine = Engine;
