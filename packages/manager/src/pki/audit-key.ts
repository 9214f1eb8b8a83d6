import { type AuditSigner, auditSigner } from '@edgeward/core';
import type { Logger } from 'pino';
import { openEd25519KeyFiles } from './key-files.ts';

/** The key that signs audit checkpoints and exports (Ed25519), apart from the policy key. */
export interface AuditSigningKey {
  readonly signer: AuditSigner;
  /** SPKI PEM, as `audit-signing.pub` holds it: what auditors verify exports with, offline. */
  readonly publicKeyPem: string;
  readonly publicKeyPath: string;
}

/**
 * Loads `<dir>/audit-signing.key` and `audit-signing.pub`, creating both at the first start. Never
 * replaced: auditors keep the public half to verify exports, and the stored checkpoints were signed with
 * it, so a new key would make the whole chain look forged.
 */
export async function openAuditSigningKey(dir: string, logger: Logger): Promise<AuditSigningKey> {
  const { privateKeyPem, publicKeyPem, publicKeyPath } = await openEd25519KeyFiles({
    dir,
    name: 'audit-signing',
    what: 'audit signing key',
    consequence: "the audit chain's checkpoints were signed with it",
    logger,
  });
  return { signer: auditSigner(privateKeyPem), publicKeyPem, publicKeyPath };
}
