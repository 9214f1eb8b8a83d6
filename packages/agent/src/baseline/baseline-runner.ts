import { resolve } from 'node:path';
import type { CompiledCheck } from '@edgeward/core';
import { type CommandRunner, execFileRunner } from '../inventory/command-runner.ts';
import type { BaselineContext, CheckOutcome } from './check-outcome.ts';
import { evaluateCheck } from './evaluate-check.ts';
import { type RemediationOutcome, remediate } from './remediate.ts';

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
  const context: BaselineContext = {
    root: resolve(options.root),
    live: options.live,
    run: options.live ? (options.run ?? execFileRunner) : undefined,
    now: options.now,
  };
  return {
    evaluate: (check) => evaluateCheck(check, context),
    remediate: (check) => remediate(check, context),
  };
}
