import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { EdgewardError, generatePolicyKeyPair, policyKeyId, policyPublicKeyOf } from '@edgeward/core';
import type { Logger } from 'pino';
import { fileExists, modes, readPrivateKeyFile, writeNewFile } from './key-files.ts';

/** The fleet's policy signing key (Ed25519): the private half signs bundles, agents pin the public half. */
export interface PolicySigningKey {
  /** PKCS#8 PEM. */
  readonly privateKeyPem: string;
  /** SPKI PEM, as `policy-signing.pub` holds it and enrollment grants carry it. */
  readonly publicKeyPem: string;
  readonly keyId: string;
}

/**
 * Loads `<dir>/policy-signing.key` (0600) and `policy-signing.pub`, creating both when neither exists —
 * at the first start, or the first start of a release that signs policies. An existing key is never
 * replaced: every agent pinned its public half at enrollment, so a new key would make them refuse every
 * bundle. A public key without its private key is refused, as is a pair that does not match.
 */
export async function openPolicySigningKey(dir: string, logger: Logger): Promise<PolicySigningKey> {
  const keyPath = join(dir, 'policy-signing.key');
  const publicPath = join(dir, 'policy-signing.pub');
  const [hasKey, hasPublic] = await Promise.all([fileExists(keyPath), fileExists(publicPath)]);
  if (!hasKey && hasPublic) {
    throw new EdgewardError(
      'EW_PKI_FILE_INVALID',
      `${publicPath} exists but ${keyPath} is missing; restore the key from backup — agents pinned this public key, so a new one would make them refuse every policy`,
    );
  }
  if (!hasKey) {
    const pair = generatePolicyKeyPair();
    // Exclusive creation: of two processes starting at once on one directory, one fails instead of both
    // writing different keys.
    await writeNewFile(keyPath, pair.privateKeyPem, modes.privateKey);
    await writeNewFile(publicPath, pair.publicKeyPem, modes.certificate);
    logger.info({ keyPath }, 'created the policy signing key');
    return { ...pair, keyId: policyKeyId(pair.publicKeyPem) };
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
    await writeNewFile(publicPath, publicKeyPem, modes.certificate);
  } else if ((await readFile(publicPath, 'utf8')).trim() !== publicKeyPem.trim()) {
    throw new EdgewardError(
      'EW_PKI_FILE_INVALID',
      `${publicPath} is not the public half of ${keyPath}; restore both from the same backup (agents trust only the key they pinned)`,
    );
  }
  return { privateKeyPem, publicKeyPem, keyId: policyKeyId(publicKeyPem) };
}
