import { constants } from 'node:fs';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { EdgewardError } from '@edgeward/core';

/**
 * Keys and certificates on disk. Private keys are written 0600 and created exclusively, so an existing key
 * is never overwritten; on load a key readable by others is refused.
 */
export async function readPrivateKeyFile(path: string): Promise<string> {
  const info = await stat(path);
  if ((info.mode & 0o077) !== 0) {
    throw new EdgewardError(
      'EW_PKI_FILE_MODE_UNSAFE',
      `${path} is readable by other users (mode ${(info.mode & 0o777).toString(8)}); run chmod 600 ${path}`,
    );
  }
  return readFile(path, 'utf8');
}

export async function writeNewFile(path: string, contents: string, mode: number): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  try {
    await writeFile(path, contents, { mode, flag: 'wx' });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new EdgewardError('EW_PKI_FILE_INVALID', `${path} already exists; refusing to overwrite it`, {
        cause: error,
      });
    }
    throw error;
  }
}

export async function fileExists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
}

export const modes = { privateKey: constants.S_IRUSR | constants.S_IWUSR, certificate: 0o644 } as const;
