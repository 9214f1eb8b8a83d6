import { resolve } from 'node:path';
import type { CompiledCheck } from '@edgeward/core';
import { type CommandRunner, execFileRunner } from '../inventory/command-runner.ts';
import { monotonicMs } from '../runtime/monotonic-clock.ts';
import type { BaselineContext, CheckOutcome } from './check-outcome.ts';
import { evaluateCheck } from './evaluate-check.ts';
import { type RemediationOutcome, remediate } from './remediate.ts';
import { type RunningProcess, readProcesses } from './service-state.ts';

/** How long one reading of the process table serves the checks that follow it. */
const PROCESS_TABLE_REUSE_MS = 2000;

export interface BaselineRunnerOptions {
  /** The device's root; `/` for this machine. A relative path is taken from the working directory. */
  readonly root: string;
  /** True when `root` is the running system (commands, systemctl, writes to /proc/sys). */
  readonly live: boolean;
  readonly now: () => number;
  /** Runs programs on the live system; default `child_process.execFile`. Never used for another root. */
  readonly run?: CommandRunner;
}

/** What the policy enforcer drives: the checks of a bundle, on one root. */
export interface DeviceBaselineRunner {
  evaluate(check: CompiledCheck): Promise<CheckOutcome>;
  remediate(check: CompiledCheck): Promise<RemediationOutcome>;
}

/** The real baseline on a device's root: `evaluateCheck` and `remediate` bound to one context. */
export function createBaselineRunner(options: BaselineRunnerOptions): DeviceBaselineRunner {
  const root = resolve(options.root);
  // Checks evaluated one after another share one reading of the process table for a short while;
  // a remediation forgets it, so that its re-evaluation sees the processes it stopped.
  let table: { at: number; processes: Promise<readonly RunningProcess[]> } | undefined;
  const context: BaselineContext = {
    root,
    live: options.live,
    run: options.live ? (options.run ?? execFileRunner) : undefined,
    now: options.now,
    processTable: () => {
      const now = monotonicMs();
      if (table === undefined || now - table.at > PROCESS_TABLE_REUSE_MS) {
        table = { at: now, processes: readProcesses(root) };
      }
      return table.processes;
    },
  };
  return {
    evaluate: (check) => evaluateCheck(check, context),
    remediate: (check) => {
      table = undefined;
      return remediate(check, context).finally(() => {
        table = undefined;
      });
    },
  };
}
