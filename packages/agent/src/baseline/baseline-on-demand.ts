import type { BaselineRunnerOptions, DeviceBaselineRunner } from './baseline-runner.ts';

/**
 * `createBaselineRunner` with the checks and remediations loaded on first use: the resident agent evaluates
 * checks only when its policy has some, and a device whose policy has none never loads them. A failed load
 * is tried again at the next check.
 */
export function createBaselineRunnerOnDemand(options: BaselineRunnerOptions): DeviceBaselineRunner {
  let runner: Promise<DeviceBaselineRunner> | undefined;
  const load = (): Promise<DeviceBaselineRunner> => {
    runner ??= import('./baseline-runner.ts').then(
      (module) => module.createBaselineRunner(options),
      (error: unknown) => {
        runner = undefined;
        throw error;
      },
    );
    return runner;
  };
  return {
    evaluate: async (check) => (await load()).evaluate(check),
    remediate: async (check) => (await load()).remediate(check),
  };
}
