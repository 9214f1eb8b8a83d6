/**
 * Retry delays: exponential from `initialMs`, doubling per failure up to `maxMs`, with "equal
 * jitter" (half the ceiling plus a uniformly random part of the other half), so that a fleet reconnecting after an outage
 * spreads out instead of arriving at once.
 */
export class Backoff {
  readonly #initialMs: number;
  readonly #maxMs: number;
  readonly #random: () => number;
  #failures = 0;

  constructor(options: { initialMs: number; maxMs: number; random?: () => number }) {
    this.#initialMs = options.initialMs;
    this.#maxMs = options.maxMs;
    this.#random = options.random ?? Math.random;
  }

  get failures(): number {
    return this.#failures;
  }

  /** The delay before the next attempt, after one more failure. */
  nextDelayMs(): number {
    const ceiling = Math.min(this.#maxMs, this.#initialMs * 2 ** Math.min(this.#failures, 30));
    this.#failures += 1;
    return Math.floor(ceiling / 2 + this.#random() * (ceiling / 2));
  }

  reset(): void {
    this.#failures = 0;
  }
}
