import type { Command } from 'commander';
import type { CliIo } from './cli-io.ts';
import { registerAgentCommands } from './commands/agent.command.ts';
import { registerAlertCommands } from './commands/alerts.command.ts';
import { registerArtifactCommands } from './commands/artifacts.command.ts';
import { registerAuditCommands } from './commands/audit.command.ts';
import { registerComplianceCommands } from './commands/compliance.command.ts';
import { registerDeviceCommands } from './commands/devices.command.ts';
import { registerEventCommands } from './commands/events.command.ts';
import { registerEvidenceCommands } from './commands/evidence.command.ts';
import { registerIncidentCommands } from './commands/incidents.command.ts';
import { registerManagerCommands } from './commands/manager.command.ts';
import { registerOperatorCommands } from './commands/operators.command.ts';
import { registerPatchCommands } from './commands/patches.command.ts';
import { registerPolicyCommands } from './commands/policy.command.ts';
import { registerRolloutCommands } from './commands/rollouts.command.ts';
import { registerRuleCommands } from './commands/rules.command.ts';
import { registerSimCommand } from './commands/sim.command.ts';
import { registerSiteCommands } from './commands/sites.command.ts';
import { registerSyslogCommands } from './commands/syslog.command.ts';
import { registerTokenCommands } from './commands/tokens.command.ts';
import { registerTufCommands } from './commands/tuf.command.ts';
import { newProgram, runProgram } from './program.ts';

/** The `edgeward` command with every program and operator action. */
export function buildEdgewardProgram(io: CliIo): Command {
  const program = newProgram(io, 'edgeward', 'Edgeward: keeps fleets of edge devices secure');
  registerManagerCommands(program, io);
  registerAgentCommands(program.command('agent').description('the device agent: enroll, run, inspect'), io);
  registerTokenCommands(program, io);
  registerSiteCommands(program, io);
  registerDeviceCommands(program, io);
  registerEventCommands(program, io);
  registerEvidenceCommands(program, io);
  registerAlertCommands(program, io);
  registerIncidentCommands(program, io);
  registerOperatorCommands(program, io);
  registerAuditCommands(program, io);
  registerPolicyCommands(program, io);
  registerComplianceCommands(program, io);
  registerRuleCommands(program, io);
  registerSimCommand(program, io);
  registerSyslogCommands(program, io);
  registerArtifactCommands(program, io);
  registerRolloutCommands(program, io);
  registerPatchCommands(program, io);
  registerTufCommands(program, io);
  // The program's own options (--version) are read only before a command, so `artifacts upload` can have
  // its own --version. Set after the commands exist, so they do not inherit it: their parents' options
  // stay accepted after them, as before.
  program.enablePositionalOptions();
  return program;
}

export function runEdgeward(argv: readonly string[], io: CliIo): Promise<number> {
  return runProgram(buildEdgewardProgram(io), argv, io);
}
