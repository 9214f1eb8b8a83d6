import { createHash } from 'node:crypto';
import type { BaselineRunner, CheckOutcome, RemediationResult } from '@edgeward/agent';
import type { CompiledCheck } from '@edgeward/core';

export interface SyntheticBaselineOptions {
  /** Share of (device, check) pairs that fail, 0 to 1; the same device and check always agree. Default 0.1. */
  readonly failRate?: number;
  readonly seed?: number;
}

/**
 * Policy checks for a simulated device, which has no files to inspect: each (device, check) pair
 * passes or fails by a stable hash, a remediation fixes it, and `drift(checkId)` breaks one again, so
 * that fleets show realistic, repeatable compliance figures.
 */
export class SyntheticBaseline implements BaselineRunner {
  readonly #index: number;
  readonly #failRate: number;
  readonly #seed: number;
  readonly #fixed = new Set<string>();
  readonly #drifted = new Set<string>();

  constructor(index: number, options: SyntheticBaselineOptions = {}) {
    this.#index = index;
    this.#failRate = options.failRate ?? 0.1;
    this.#seed = options.seed ?? 0;
  }

  async evaluate(check: CompiledCheck): Promise<CheckOutcome> {
    const failing =
      this.#drifted.has(check.id) || (!this.#fixed.has(check.id) && this.#failsByNature(check.id));
    return failing
      ? { status: 'fail', detail: `simulated device ${this.#index} does not meet ${check.title}` }
      : { status: 'pass', detail: `simulated device ${this.#index} meets ${check.title}` };
  }

  async remediate(check: CompiledCheck): Promise<RemediationResult> {
    this.#drifted.delete(check.id);
    this.#fixed.add(check.id);
    return {
      outcome: 'fixed',
      detail: `simulated ${check.remediation?.action.type ?? 'remediation'}`,
      after: await this.evaluate(check),
    };
  }

  /** The check fails from now on, until remediated. */
  drift(checkId: string): void {
    this.#fixed.delete(checkId);
    this.#drifted.add(checkId);
  }

  #failsByNature(checkId: string): boolean {
    const digest = createHash('sha256').update(`${this.#seed}:${this.#index}:${checkId}`).digest();
    return digest.readUInt32BE(0) / 0x1_0000_0000 < this.#failRate;
  }
}
