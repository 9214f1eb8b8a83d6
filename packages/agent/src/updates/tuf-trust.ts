import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * Where the update client keeps its state under the agent's data directory, and the TUF root it starts
 * from. Kept apart from the TUF client itself so that enrollment pins the root without loading tuf-js.
 */

/** The updater's folder: its persisted state, downloads and TUF metadata. */
export function updatesDir(dataDir: string): string {
  return join(dataDir, 'updates');
}

/** The TUF metadata the client trusts (`root.json` first), replaced only after a whole update verified. */
export function trustedTufDir(updates: string): string {
  return join(updates, 'tuf');
}

/**
 * Pins `rootJson`, the manager's TUF root as the enrollment grant carried it, as the root the update client
 * starts from (written then renamed). Later roots must then be signed by it, whatever the manager serves.
 */
export async function pinTufRoot(dataDir: string, rootJson: string): Promise<void> {
  const dir = trustedTufDir(updatesDir(dataDir));
  await mkdir(dir, { recursive: true });
  const path = join(dir, 'root.json');
  await writeFile(`${path}.tmp`, rootJson);
  await rename(`${path}.tmp`, path);
}
