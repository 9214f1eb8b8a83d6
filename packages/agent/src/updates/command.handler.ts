import { execFile } from 'node:child_process';
import { EdgewardError } from '@edgeward/core';
import type { InstallHandler, InstallTarget } from './install-handler.ts';

export interface InstallCommands {
  /** Installs `$EDGEWARD_FILE` (RAUC: `rauc install "$EDGEWARD_FILE"`). */
  readonly install: string;
  /** Marks the new version good (RAUC: `rauc status mark-good`). */
  readonly commit: string;
  /** Goes back (RAUC: `rauc status mark-active other`). */
  readonly rollback: string;
  /** Exits 0 when the new version works; none means healthy once installed. */
  readonly health?: string;
  /** Prints the running version of `$EDGEWARD_NAME`; none means the updater's own record. */
  readonly version?: string;
}

/** Runs a command through `/bin/sh -c` with the target in the environment; rejects on failure. */
function run(command: string, target: Partial<InstallTarget>, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      '/bin/sh',
      ['-c', command],
      {
        timeout: timeoutMs,
        env: {
          ...process.env,
          EDGEWARD_NAME: target.name ?? '',
          EDGEWARD_VERSION: target.version ?? '',
          EDGEWARD_FILE: target.file ?? '',
        },
      },
      (error, stdout, stderr) => {
        if (error === null) resolve(stdout.trim());
        else
          reject(
            new EdgewardError(
              'EW_UPDATE_INSTALL_FAILED',
              `\`${command}\` failed: ${(stderr || error.message).trim().slice(0, 500)}`,
              { cause: error },
            ),
          );
      },
    );
  });
}

/**
 * An external installer (RAUC, SWUpdate, a package manager) behind the same state machine: the updater
 * decides when to install, check, commit or roll back; the commands do it. See docs/updates.md.
 */
export class CommandHandler implements InstallHandler {
  readonly kind = 'command';
  readonly #commands: InstallCommands;
  readonly #timeoutMs: number;
  readonly #recorded: (name: string) => Promise<string | null>;

  constructor(options: {
    commands: InstallCommands;
    timeoutMs: number;
    /** The version the updater last committed, when no version command is given. */
    recordedVersion: (name: string) => Promise<string | null>;
  }) {
    this.#commands = options.commands;
    this.#timeoutMs = options.timeoutMs;
    this.#recorded = options.recordedVersion;
  }

  async currentVersion(name: string): Promise<string | null> {
    if (this.#commands.version === undefined) return this.#recorded(name);
    const printed = await run(this.#commands.version, { name }, this.#timeoutMs);
    return printed === '' ? null : printed;
  }

  async install(target: InstallTarget): Promise<void> {
    await run(this.#commands.install, target, this.#timeoutMs);
  }

  async healthCheck(target: InstallTarget, deadlineMs: number): Promise<boolean> {
    if (this.#commands.health === undefined) return true;
    try {
      await run(this.#commands.health, target, deadlineMs);
      return true;
    } catch {
      return false;
    }
  }

  async commit(target: InstallTarget): Promise<void> {
    await run(this.#commands.commit, target, this.#timeoutMs);
  }

  async rollback(target: Pick<InstallTarget, 'name' | 'version'>): Promise<void> {
    await run(this.#commands.rollback, target, this.#timeoutMs);
  }
}
