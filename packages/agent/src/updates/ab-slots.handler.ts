import { execFile } from 'node:child_process';
import { copyFile, mkdir, readFile, readlink, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { EdgewardError } from '@edgeward/core';
import type { InstallHandler, InstallTarget } from './install-handler.ts';

type Slot = 'a' | 'b';

interface SlotManifest {
  readonly name: string;
  readonly version: string;
}

/** Checks the slot that `current` points at; the default runs a command there (see `abSlotsHandler`). */
export type SlotHealthCheck = (
  slotDir: string,
  target: InstallTarget,
  deadlineMs: number,
) => Promise<boolean>;

/**
 * The built-in A/B handler: per artifact name, two slot directories (`<dir>/<name>/a`, `b`) and a
 * `current` symlink. Install writes the inactive slot (the artifact as `artifact`, its name and version
 * in `manifest.json`), then switches `current` atomically (a new link renamed over the old one), so a
 * crash leaves either the old or the new slot current, never none. Rollback switches back; the previous
 * slot is untouched until the next install.
 */
export class AbSlotsHandler implements InstallHandler {
  readonly kind = 'ab-slots';
  readonly #dir: string;
  readonly #healthCheck: SlotHealthCheck;

  constructor(options: { dir: string; healthCheck: SlotHealthCheck }) {
    this.#dir = options.dir;
    this.#healthCheck = options.healthCheck;
  }

  async currentVersion(name: string): Promise<string | null> {
    const slot = await this.#current(name);
    if (slot === undefined) return null;
    return (await this.#manifest(name, slot))?.version ?? null;
  }

  async install(target: InstallTarget): Promise<void> {
    const current = await this.#current(target.name);
    const inactive: Slot = current === 'a' ? 'b' : 'a';
    const slotDir = join(this.#dir, target.name, inactive);
    // Repeating an install after a crash rewrites the same inactive slot… unless the switch already
    // happened, in which case the target slot is current and complete.
    if (current !== undefined && (await this.#manifest(target.name, current))?.version === target.version)
      return;
    await rm(slotDir, { recursive: true, force: true });
    await mkdir(slotDir, { recursive: true });
    await copyFile(target.file, join(slotDir, 'artifact'));
    await writeFile(
      join(slotDir, 'manifest.json'),
      JSON.stringify({ name: target.name, version: target.version } satisfies SlotManifest),
    );
    await this.#switchTo(target.name, inactive);
  }

  async healthCheck(target: InstallTarget, deadlineMs: number): Promise<boolean> {
    const slot = await this.#current(target.name);
    if (slot === undefined) return false;
    return this.#healthCheck(join(this.#dir, target.name, slot), target, deadlineMs);
  }

  async commit(target: InstallTarget): Promise<void> {
    const slot = await this.#current(target.name);
    if (slot === undefined) {
      throw new EdgewardError('EW_UPDATE_INSTALL_FAILED', `${target.name} has no current slot to commit`);
    }
    await writeFile(join(this.#dir, target.name, 'committed'), slot);
  }

  async rollback(target: Pick<InstallTarget, 'name' | 'version'>): Promise<void> {
    const current = await this.#current(target.name);
    if (current === undefined) return;
    const manifest = await this.#manifest(target.name, current);
    // Already back (a repeated rollback after a crash), or the version to leave is not the current one.
    if (manifest?.version !== target.version) return;
    const other: Slot = current === 'a' ? 'b' : 'a';
    if ((await this.#manifest(target.name, other)) === undefined) {
      // First install ever: nothing to go back to but nothing at all.
      await rm(join(this.#dir, target.name, 'current'), { force: true });
      return;
    }
    await this.#switchTo(target.name, other);
    await writeFile(join(this.#dir, target.name, 'committed'), other);
  }

  async #current(name: string): Promise<Slot | undefined> {
    try {
      const link = await readlink(join(this.#dir, name, 'current'));
      return link === 'a' || link === 'b' ? link : undefined;
    } catch {
      return undefined;
    }
  }

  async #manifest(name: string, slot: Slot): Promise<SlotManifest | undefined> {
    try {
      return JSON.parse(await readFile(join(this.#dir, name, slot, 'manifest.json'), 'utf8')) as SlotManifest;
    } catch {
      return undefined;
    }
  }

  async #switchTo(name: string, slot: Slot): Promise<void> {
    const link = join(this.#dir, name, 'current');
    const temporary = `${link}.next`;
    await rm(temporary, { force: true });
    await symlink(slot, temporary);
    await rename(temporary, link);
  }
}

/**
 * A health check that runs `command` (through `/bin/sh -c`) in the new slot, with the slot directory,
 * name and version in `EDGEWARD_SLOT`, `EDGEWARD_NAME`, `EDGEWARD_VERSION`; exit status 0 within the
 * deadline is healthy. Without a command, every installed slot counts as healthy.
 */
export function commandHealthCheck(command: string | undefined): SlotHealthCheck {
  return (slotDir, target, deadlineMs) => {
    if (command === undefined) return Promise.resolve(true);
    return new Promise((resolve) => {
      execFile(
        '/bin/sh',
        ['-c', command],
        {
          cwd: slotDir,
          timeout: deadlineMs,
          env: {
            ...process.env,
            EDGEWARD_SLOT: slotDir,
            EDGEWARD_NAME: target.name,
            EDGEWARD_VERSION: target.version,
          },
        },
        (error) => resolve(error === null),
      );
    });
  };
}
