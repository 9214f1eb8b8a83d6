/**
 * Runs an async job one at a time. A request made while a run is in progress gets one follow-up run,
 * shared with every other request made meanwhile: a burst of file-change notifications costs two runs,
 * not one per notification, and nothing that changed after a run started is missed.
 */
export class CoalescingTask {
  readonly #job: () => Promise<void>;
  #current: Promise<void> | undefined;
  #next: Promise<void> | undefined;

  /** `job` must not reject: it reports its own failures. */
  constructor(job: () => Promise<void>) {
    this.#job = job;
  }

  run(): Promise<void> {
    if (this.#next !== undefined) return this.#next;
    if (this.#current !== undefined) {
      this.#next = this.#current.then(() => {
        this.#next = undefined;
        return this.#start();
      });
      return this.#next;
    }
    return this.#start();
  }

  /** Resolves once no run is in progress or queued. */
  async idle(): Promise<void> {
    while (this.#current !== undefined || this.#next !== undefined) await (this.#next ?? this.#current);
  }

  #start(): Promise<void> {
    const run = this.#job().finally(() => {
      if (this.#current === run) this.#current = undefined;
    });
    this.#current = run;
    return run;
  }
}
