import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { EdgewardError } from '@edgeward/core';
import { fileExists, modes, readPrivateKeyFile, writeNewFile } from './key-files.ts';

/**
 * Loads `<dir>/session-signing.key` (32 random bytes, hex), creating it at the first start. It signs the
 * dashboard's session cookies; replicas share the folder, so a cookie from one is good on the others.
 * Deleting the file (and restarting) signs every dashboard user out.
 */
export async function openSessionKey(dir: string): Promise<Buffer> {
  const path = join(dir, 'session-signing.key');
  if (!(await fileExists(path))) {
    try {
      await writeNewFile(path, `${randomBytes(32).toString('hex')}\n`, modes.privateKey);
    } catch (error) {
      // Another replica created it first: use theirs.
      if (!(error instanceof EdgewardError && error.code === 'EW_PKI_FILE_INVALID')) throw error;
    }
  }
  const hex = (await readPrivateKeyFile(path)).trim();
  if (!/^[0-9a-f]{64}$/.test(hex)) {
    throw new EdgewardError(
      'EW_PKI_FILE_INVALID',
      `${path} does not hold 32 bytes in hex; delete it to have a new one made (dashboard users sign in again)`,
    );
  }
  return Buffer.from(hex, 'hex');
}
