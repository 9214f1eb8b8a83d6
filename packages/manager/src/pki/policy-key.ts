import { policyKeyId } from '@edgeward/core';
import type { Logger } from 'pino';
import { openEd25519KeyFiles } from './key-files.ts';

/** The fleet's policy signing key (Ed25519): the private half signs bundles, agents pin the public half. */
export interface PolicySigningKey {
  /** PKCS#8 PEM. */
  readonly privateKeyPem: string;
  /** SPKI PEM, as `policy-signing.pub` holds it and enrollment grants carry it. */
  readonly publicKeyPem: string;
  readonly keyId: string;
}

/**
 * Loads `<dir>/policy-signing.key` and `policy-signing.pub`, creating both at the first start (or the
 * first start of a release that signs policies). Never replaced: every agent pinned the public half at
 * enrollment, so a new key would make them refuse every bundle.
 */
export async function openPolicySigningKey(dir: string, logger: Logger): Promise<PolicySigningKey> {
  const { privateKeyPem, publicKeyPem } = await openEd25519KeyFiles({
    dir,
    name: 'policy-signing',
    what: 'policy signing key',
    consequence: 'agents pinned this public key, so a new one would make them refuse every policy',
    logger,
  });
  return { privateKeyPem, publicKeyPem, keyId: policyKeyId(publicKeyPem) };
}
