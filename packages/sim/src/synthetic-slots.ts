import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { AbSlotsHandler, type InstallHandler, type InstallTarget } from '@edgeward/agent';

/** An artifact whose content holds this marker fails the synthetic health check (a "bad build"). */
export const UNHEALTHY_MARKER = 'EDGEWARD-SIM-UNHEALTHY';

/**
 * The real A/B slot handler on a simulated device's own directory, with a synthetic health check: the
 * new slot is healthy unless its artifact contains UNHEALTHY_MARKER. `hangNextInstall` makes the next
 * install stop midway and never return, as a process killed during the install would.
 */
export class SyntheticSlots implements InstallHandler {
  readonly kind = 'ab-slots';
  readonly #slots: AbSlotsHandler;
  #hang = false;
  #hung = false;

  constructor(dir: string) {
    this.#slots = new AbSlotsHandler({
      dir,
      healthCheck: async (slotDir) =>
        !(await readFile(join(slotDir, 'artifact'), 'utf8')).includes(UNHEALTHY_MARKER),
    });
  }

  /** The next install writes the slot, then hangs before it returns. */
  hangNextInstall(): void {
    this.#hang = true;
  }

  /** Whether an install is hanging now (the "kill" point has been reached). */
  get hung(): boolean {
    return this.#hung;
  }

  currentVersion(name: string): Promise<string | null> {
    return this.#slots.currentVersion(name);
  }

  async install(target: InstallTarget): Promise<void> {
    await this.#slots.install(target);
    if (this.#hang) {
      this.#hang = false;
      this.#hung = true;
      await new Promise(() => {});
    }
  }

  healthCheck(target: InstallTarget, deadlineMs: number): Promise<boolean> {
    return this.#slots.healthCheck(target, deadlineMs);
  }

  commit(target: InstallTarget): Promise<void> {
    return this.#slots.commit(target);
  }

  rollback(target: Pick<InstallTarget, 'name' | 'version'>): Promise<void> {
    return this.#slots.rollback(target);
  }
}
