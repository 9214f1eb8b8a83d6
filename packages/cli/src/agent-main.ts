// The device binary: only the agent's commands, bundled into one JavaScript file for devices
// (`npm run build:agent`), so that a device runs no TypeScript stripper and loads nothing of the manager.
import { exitWhenFlushed, processIo } from './cli-io.ts';
import { registerAgentCommands } from './commands/agent.command.ts';
import { newProgram, runProgram } from './program.ts';

const io = processIo();
const program = newProgram(io, 'edgeward-agent', 'Edgeward device agent: enroll, run, inspect');
registerAgentCommands(program, io);
await exitWhenFlushed(await runProgram(program, process.argv.slice(2), io));
