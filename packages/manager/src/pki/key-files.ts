import { constants } from 'node:fs';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { EdgewardError, generatePolicyKeyPair, policyPublicKeyOf } from '@edgeward/core';
import type { Logger } from 'pino';

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

export interface Ed25519KeyFiles {
  /** PKCS#8 PEM. */
  readonly privateKeyPem: string;
  /** SPKI PEM, as `<name>.pub` holds it. */
  readonly publicKeyPem: string;
  readonly keyPath: string;
  readonly publicKeyPath: string;
}

/**
 * Loads `<dir>/<name>.key` (0600) and `<name>.pub`, creating both when neither exists. An existing key is
 * never replaced (what it signed is trusted by its public half), so a public key without its private key
 * is refused, as is a pair that does not match; `consequence` says to the operator why a new key would hurt.
 */
export async function openEd25519KeyFiles(options: {
  readonly dir: string;
  readonly name: string;
  /** For the log: `policy signing key`. */
  readonly what: string;
  /** Why the lost key matters: `agents pinned this public key, …`. */
  readonly consequence: string;
  readonly logger: Logger;
}): Promise<Ed25519KeyFiles> {
  const keyPath = join(options.dir, `${options.name}.key`);
  const publicKeyPath = join(options.dir, `${options.name}.pub`);
  const [hasKey, hasPublic] = await Promise.all([fileExists(keyPath), fileExists(publicKeyPath)]);
  if (!hasKey && hasPublic) {
    throw new EdgewardError(
      'EW_PKI_FILE_INVALID',
      `${publicKeyPath} exists but ${keyPath} is missing; restore the key from backup — ${options.consequence}`,
    );
  }
  if (!hasKey) {
    const pair = generatePolicyKeyPair();
    // Exclusive creation: of two processes starting at once on one directory, one fails instead of both
    // writing different keys.
    await writeNewFile(keyPath, pair.privateKeyPem, modes.privateKey);
    await writeNewFile(publicKeyPath, pair.publicKeyPem, modes.certificate);
    options.logger.info({ keyPath }, `created the ${options.what}`);
    return { ...pair, keyPath, publicKeyPath };
  }
  const privateKeyPem = await readPrivateKeyFile(keyPath);
  let publicKeyPem: string;
  try {
    publicKeyPem = policyPublicKeyOf(privateKeyPem);
  } catch (error) {
    throw new EdgewardError(
      'EW_PKI_FILE_INVALID',
      `${keyPath} does not hold an Ed25519 private key (PKCS#8 PEM)`,
      {
        cause: error,
      },
    );
  }
  if (!hasPublic) {
    await writeNewFile(publicKeyPath, publicKeyPem, modes.certificate);
  } else if ((await readFile(publicKeyPath, 'utf8')).trim() !== publicKeyPem.trim()) {
    throw new EdgewardError(
      'EW_PKI_FILE_INVALID',
      `${publicKeyPath} is not the public half of ${keyPath}; restore both from the same backup`,
    );
  }
  return { privateKeyPem, publicKeyPem, keyPath, publicKeyPath };
}
