import { errorCatalog, exitCodeByCategory, toEdgewardError } from '@edgeward/core';
import { Command, CommanderError } from 'commander';
import type { CliIo } from './cli-io.ts';
import { UsageError } from './output.ts';
import { EDGEWARD_VERSION } from './version.ts';

/** Exit codes, documented in the README. */
export const exitCodes = { ok: 0, usage: 2, ...exitCodeByCategory } as const;

/** A command tree that writes through `io` and reports errors by return value instead of exiting. */
export function newProgram(io: CliIo, name: string, description: string): Command {
  return new Command(name)
    .description(description)
    .version(EDGEWARD_VERSION)
    .showHelpAfterError('(run with --help for usage)')
    .configureOutput({ writeOut: io.out, writeErr: io.err });
}

/** Runs one command line; returns the exit code instead of exiting, so tests can call it in-process. */
export async function runProgram(program: Command, argv: readonly string[], io: CliIo): Promise<number> {
  const overrideExits = (command: Command) => {
    command.exitOverride().configureOutput({ writeOut: io.out, writeErr: io.err });
    for (const sub of command.commands) overrideExits(sub);
  };
  overrideExits(program);
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return exitCodes.ok;
  } catch (thrown) {
    if (thrown instanceof CommanderError) {
      return thrown.exitCode === 0 ? exitCodes.ok : exitCodes.usage;
    }
    if (thrown instanceof UsageError) {
      io.err(`error: ${thrown.message}`);
      return exitCodes.usage;
    }
    const error = toEdgewardError(thrown);
    io.err(`error ${error.code}: ${error.message}`);
    if (error.code === 'EW_INTERNAL' && thrown instanceof Error && thrown.stack) io.err(thrown.stack);
    else io.err(`  ${errorCatalog[error.code].action}`);
    return exitCodeByCategory[errorCatalog[error.code].category];
  }
}
