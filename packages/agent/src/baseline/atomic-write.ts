import { randomBytes } from 'node:crypto';
import type { Stats } from 'node:fs';
import { mkdir, open, rename, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { isMissingError } from './root-files.ts';

export interface AtomicWriteOptions {
  /** Permission bits; default: the replaced file's, or 0644 for a new file. */
  readonly mode?: number;
}

/**
 * Replaces `hostPath` so that a crash or a concurrent reader sees the old content or the new, never a
 * mix: written to a temporary file beside it, flushed, renamed over it, and the directory flushed. The
 * replaced file's mode and owner carry over; missing parent directories are created (0755).
 * `hostPath` must already be confined to the device's root (see `resolveInRoot`).
 */
export async function writeFileAtomically(
  hostPath: string,
  content: string,
  options: AtomicWriteOptions = {},
): Promise<void> {
  const dir = dirname(hostPath);
  await mkdir(dir, { recursive: true, mode: 0o755 });
  let existing: Stats | undefined;
  try {
    existing = await stat(hostPath);
  } catch (error) {
    if (!isMissingError(error)) throw error;
  }
  const mode = options.mode ?? (existing === undefined ? 0o644 : existing.mode & 0o7777);
  const temporary = join(dir, `.${basename(hostPath)}.edgeward-${randomBytes(6).toString('hex')}`);
  const handle = await open(temporary, 'wx', 0o600);
  try {
    try {
      await handle.writeFile(content, 'utf8');
      // The umask must not narrow the mode asked for.
      await handle.chmod(mode);
      if (existing !== undefined) {
        const made = await handle.stat();
        if (made.uid !== existing.uid || made.gid !== existing.gid)
          await handle.chown(existing.uid, existing.gid);
      }
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temporary, hostPath);
  } catch (error) {
    await unlink(temporary).catch(() => undefined);
    throw error;
  }
  await syncDirectory(dir);
}

/** Makes a rename durable; some file systems cannot open a directory for it, which is not fatal. */
async function syncDirectory(dir: string): Promise<void> {
  try {
    const handle = await open(dir, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch {
    // Durability is best effort where the platform refuses; the rename itself has happened.
  }
}
