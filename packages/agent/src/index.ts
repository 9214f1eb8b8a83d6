export {
  type AgentConfig,
  agentConfigKeys,
  agentConfigSchema,
  resolveAgentConfig,
} from './config/agent-config.ts';
export { AgentFiles, type Enrollment } from './identity/agent-files.ts';
export { type EnrollOptions, enrollAgent } from './identity/enroll.ts';
export { type CollectInventoryOptions, collectInventory } from './inventory/collect-inventory.ts';
export { type CommandResult, type CommandRunner, execFileRunner } from './inventory/command-runner.ts';
export { Agent, type AgentDeps, type AgentState, RENEW_AFTER_FRACTION } from './runtime/agent.ts';
export { type AgentStatus, readAgentStatus } from './runtime/agent-status.ts';
export { Backoff } from './runtime/backoff.ts';
export { ManagerClient, type ManagerClientOptions } from './transport/manager-client.ts';
