// The baseline checks are named here only by a runner that loads them on first use: `edgeward-agent run`
// imports this index, and every module it names is loaded with it.
export { createBaselineRunnerOnDemand } from './baseline/baseline-on-demand.ts';
export type { BaselineRunnerOptions, DeviceBaselineRunner } from './baseline/baseline-runner.ts';
export type { BaselineContext } from './baseline/check-outcome.ts';
export type { RemediationOutcome } from './baseline/remediate.ts';
export { AuthLogCollector, type AuthLogCollectorOptions } from './collectors/auth-log.collector.ts';
export type { CollectorLog, EmitEvents } from './collectors/collector-events.ts';
export { FimCollector, type FimCollectorOptions, type FimScanResult } from './collectors/fim.collector.ts';
export {
  type AgentStartedDetails,
  type AgentStoppedDetails,
  agentStartedEvent,
  agentStoppedEvent,
  ClockJumpDetector,
  type ClockJumpOptions,
  type ConfigChangeOptions,
  checkConfigChange,
  configHash,
} from './collectors/health-events.ts';
export {
  type HostChangeInput,
  hostChangeEvents,
  type RunningExecutable,
  readRunningExecutables,
} from './collectors/host-changes.ts';
export {
  CommandDispatcher,
  type CommandDispatcherOptions,
  type DeviceCommandHandler,
  type DeviceCommandOutcome,
  refusingHandler,
} from './commands/command-dispatcher.ts';
export { PushClient, type PushClientOptions } from './commands/push-client.ts';
export {
  type AgentConfig,
  agentConfigKeys,
  agentConfigSchema,
  resolveAgentConfig,
} from './config/agent-config.ts';
export {
  type CapturedBundle,
  type CaptureOptions,
  type CaptureTrigger,
  captureEvidence,
} from './forensics/capture.ts';
export { EvidenceUploader, type EvidenceUploaderOptions } from './forensics/evidence-uploader.ts';
export {
  Forwarder,
  type ForwarderOptions,
  type ForwarderState,
  type ForwarderStats,
  forwarderDefaults,
} from './forwarder/forwarder.ts';
export { AgentFiles, type Enrollment } from './identity/agent-files.ts';
export { type EnrollOptions, enrollAgent } from './identity/enroll.ts';
export { type CollectInventoryOptions, collectInventory } from './inventory/collect-inventory.ts';
export { type CommandResult, type CommandRunner, execFileRunner } from './inventory/command-runner.ts';
export {
  type BaselineRunner,
  type CheckOutcome,
  PolicyEnforcer,
  type PolicyEnforcerOptions,
  type RemediationResult,
} from './policy/policy-enforcer.ts';
export {
  type AppendResult,
  DEFAULT_LOSS_REPORT_INTERVAL_MS,
  DEFAULT_QUEUE_MAX_BYTES,
  EventQueue,
  type EventQueueOptions,
  type EventQueueStats,
  type PeekBatchOptions,
  ROW_OVERHEAD_BYTES,
  storedEventBytes,
} from './queue/event-queue.ts';
export { Agent, type AgentDeps, type AgentState, RENEW_AFTER_FRACTION } from './runtime/agent.ts';
export { type AgentStatus, readAgentStatus } from './runtime/agent-status.ts';
export { Backoff } from './runtime/backoff.ts';
export { ManagerClient, type ManagerClientOptions } from './transport/manager-client.ts';
export { AbSlotsHandler, type SlotHealthCheck } from './updates/ab-slots.handler.ts';
export type { InstallCommands } from './updates/command.handler.ts';
export type { InstallHandler, InstallTarget } from './updates/install-handler.ts';
export type { UpdaterOptions, UpdaterPhase, UpdaterRecord } from './updates/updater.ts';
