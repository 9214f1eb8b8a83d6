import type { CommandResult } from '../../inventory/command-runner.ts';
import {
  type BaselineContext,
  type CheckOutcome,
  type Deadline,
  formatMs,
  outcome,
  type SpecOf,
  withDeadline,
} from '../check-outcome.ts';
import { describeError } from '../root-files.ts';

/**
 * A program's exit code and output. Commands describe the running system, so they run only on it;
 * the runner is given the timeout and the result is abandoned at it even if the runner overstays.
 * Without `expectExit` or `expectOutput`, exit code 0 passes.
 */
export async function evaluateCommand(
  spec: SpecOf<'command'>,
  context: BaselineContext,
): Promise<CheckOutcome> {
  if (!context.live && context.root !== '/') {
    return outcome(
      'not-applicable',
      `commands run only on the live system, not on the tree at ${context.root}`,
    );
  }
  if (context.run === undefined) return outcome('error', 'no command runner is available to run the check');
  const [program, ...args] = spec.run;
  const commandLine = spec.run.join(' ');
  let finished: Deadline<CommandResult>;
  try {
    finished = await withDeadline(context.run(program!, args, { timeoutMs: spec.timeoutMs }), spec.timeoutMs);
  } catch (error) {
    return outcome(
      'error',
      `${commandLine} could not run or did not finish within ${formatMs(spec.timeoutMs)}: ${describeError(error)}`,
    );
  }
  if (!finished.done)
    return outcome('error', `${commandLine} did not finish within ${formatMs(spec.timeoutMs)}`);
  const { exitCode, stdout } = finished.value;
  const expectedExit = spec.expectExit ?? (spec.expectOutput === undefined ? 0 : undefined);
  const problems: string[] = [];
  if (expectedExit !== undefined && exitCode !== expectedExit) {
    problems.push(`exited with ${exitCode === null ? 'a signal' : exitCode}, expected ${expectedExit}`);
  }
  if (spec.expectOutput !== undefined && !new RegExp(spec.expectOutput, 'm').test(stdout)) {
    problems.push(`its output does not match /${spec.expectOutput}/`);
  }
  if (problems.length > 0) return outcome('fail', `${commandLine} ${problems.join('; ')}`);
  return outcome(
    'pass',
    `${commandLine} exited with ${exitCode}${spec.expectOutput === undefined ? '' : ' and printed what was expected'}`,
  );
}
