import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  type AuditSigner,
  auditSigner,
  EdgewardError,
  generatePolicyKeyPair,
  policyPublicKeyOf,
} from '@edgeward/core';
import type { Logger } from 'pino';
import { fileExists, modes, readPrivateKeyFile, writeNewFile } from './key-files.ts';

/** The key that signs audit checkpoints and exports (Ed25519), apart from the policy key. */
export interface AuditSigningKey {
  readonly signer: AuditSigner;
  /** SPKI PEM, as `audit-signing.pub` holds it: what auditors verify exports with, offline. */
  readonly publicKeyPem: string;
  readonly publicKeyPath: string;
}

/**
 * Loads `<dir>/audit-signing.key` (0600) and `audit-signing.pub`, creating both when neither exists. An
 * existing key is never replaced: auditors keep the public half to verify exports, and the checkpoints
 * already stored were signed with it, so a new key would make the whole chain look forged.
 */
export async function openAuditSigningKey(dir: string, logger: Logger): Promise<AuditSigningKey> {
  const keyPath = join(dir, 'audit-signing.key');
  const publicKeyPath = join(dir, 'audit-signing.pub');
  const [hasKey, hasPublic] = await Promise.all([fileExists(keyPath), fileExists(publicKeyPath)]);
  if (!hasKey && hasPublic) {
    throw new EdgewardError(
      'EW_PKI_FILE_INVALID',
      `${publicKeyPath} exists but ${keyPath} is missing; restore the key from backup — the audit chain's checkpoints were signed with it`,
    );
  }
  if (!hasKey) {
    const pair = generatePolicyKeyPair();
    // Exclusive creation: of two replicas starting at once on one directory, one fails instead of both
    // writing different keys.
    await writeNewFile(keyPath, pair.privateKeyPem, modes.privateKey);
    await writeNewFile(publicKeyPath, pair.publicKeyPem, modes.certificate);
    logger.info({ keyPath }, 'created the audit signing key');
    return { signer: auditSigner(pair.privateKeyPem), publicKeyPem: pair.publicKeyPem, publicKeyPath };
  }
  const privateKeyPem = await readPrivateKeyFile(keyPath);
  let signer: AuditSigner;
  let publicKeyPem: string;
  try {
    signer = auditSigner(privateKeyPem);
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
  return { signer, publicKeyPem, publicKeyPath };
}
