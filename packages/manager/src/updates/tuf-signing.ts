import { createHash, createPrivateKey, createPublicKey, sign } from 'node:crypto';
import { canonicalJson, EdgewardError } from '@edgeward/core';
import { Key, Metadata, MetadataKind, type Root, Signature } from '@tufjs/models';

/**
 * TUF keys and detached signatures. A signature covers the canonical JSON of the `signed` part, so it can
 * be made anywhere the private key lives (an offline machine, a hardware token) and added to the document
 * afterwards: `signableBytes` is what to sign, `addSignature` puts a signature in.
 */

/** A TUF public key (Ed25519, the public half as SPKI PEM), with its key id: SHA-256 of its canonical JSON. */
export function tufKeyOf(publicKeyPem: string): Key {
  const keyVal = { public: createPublicKey(publicKeyPem).export({ type: 'spki', format: 'pem' }).toString() };
  const body = { keytype: 'ed25519', scheme: 'ed25519', keyval: keyVal };
  const keyID = createHash('sha256').update(canonicalJson(body)).digest('hex');
  return new Key({ keyID, keyType: 'ed25519', scheme: 'ed25519', keyVal: keyVal });
}

export type AnyMetadata =
  | Metadata<Root>
  | Metadata<import('@tufjs/models').Targets>
  | Metadata<import('@tufjs/models').Snapshot>
  | Metadata<import('@tufjs/models').Timestamp>;

/** Signs with an Ed25519 private key (PKCS#8 PEM) held here. */
export function signWithKey(metadata: AnyMetadata, privateKeyPem: string): void {
  const key = tufKeyOf(
    createPublicKey(createPrivateKey(privateKeyPem)).export({ type: 'spki', format: 'pem' }).toString(),
  );
  metadata.sign(
    (data) =>
      new Signature({
        keyID: key.keyID,
        sig: sign(null, data, createPrivateKey(privateKeyPem)).toString('hex'),
      }),
    true,
  );
}

/**
 * Signs a metadata document given as JSON (for example a root draft) with a private key: what a holder of
 * an offline root key runs on their own machine. Returns the document with the signature added.
 */
export function signMetadataJson(documentJson: string, privateKeyPem: string): string {
  const metadata = parseRootJson(documentJson);
  signWithKey(metadata, privateKeyPem);
  return `${JSON.stringify(metadata.toJSON(), null, 2)}\n`;
}

export function parseRootJson(documentJson: string): Metadata<Root> {
  try {
    return Metadata.fromJSON(MetadataKind.Root, JSON.parse(documentJson));
  } catch (error) {
    throw new EdgewardError(
      'EW_TUF_KEY_INVALID',
      `the document is not TUF root metadata: ${(error as Error).message}`,
      {
        cause: error,
      },
    );
  }
}

/**
 * Checks that `root` carries at least `threshold` valid signatures from the keys `signer` trusts for the
 * root role (`signer` is the root itself, or the previous root during a rotation).
 */
export function verifyRootThreshold(root: Metadata<Root>, signer: Root): void {
  const role = signer.roles.root;
  if (role === undefined) throw new EdgewardError('EW_TUF_KEY_INVALID', 'the root metadata has no root role');
  let valid = 0;
  for (const keyId of role.keyIDs) {
    const key = signer.keys[keyId];
    if (key === undefined || root.signatures[keyId] === undefined) continue;
    try {
      key.verifySignature(root);
      valid += 1;
    } catch {
      // An invalid signature counts as none.
    }
  }
  if (valid < role.threshold) {
    throw new EdgewardError(
      'EW_TUF_KEY_INVALID',
      `root version ${root.signed.version} has ${valid} valid signature(s) of the ${role.threshold} required; sign it with more root keys (edgeward tuf sign)`,
    );
  }
}
