/**
 * How an update is installed on the device. The updater's state machine calls these in order —
 * install, healthCheck, then commit or rollback — and calls them again after a crash, so each must be
 * safe to repeat.
 */
export interface InstallTarget {
  readonly name: string;
  readonly version: string;
  /** The verified artifact (length and SHA-256 checked against signed TUF metadata). */
  readonly file: string;
}

export interface InstallHandler {
  readonly kind: string;
  /** The version of `name` the device runs now (null when the updater never installed it). */
  currentVersion(name: string): Promise<string | null>;
  /** Puts the new version in place and makes it the one that runs (for A/B: the inactive slot, then switch). */
  install(target: InstallTarget): Promise<void>;
  /** Whether the new version works; false (or a throw) within `deadlineMs` means it does not. */
  healthCheck(target: InstallTarget, deadlineMs: number): Promise<boolean>;
  /** Makes the new version permanent (the fallback is no longer needed). */
  commit(target: InstallTarget): Promise<void>;
  /** Goes back to the version that ran before `target` was installed. */
  rollback(target: Pick<InstallTarget, 'name' | 'version'>): Promise<void>;
}
