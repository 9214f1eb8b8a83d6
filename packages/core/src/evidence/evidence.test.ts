import assert from 'node:assert/strict';
import { createPrivateKey, type KeyObject } from 'node:crypto';
import { before, describe, it } from 'node:test';
import fc from 'fast-check';
import { createTestFleetCa, issueTestDevice } from '../pki/fleet-ca.fixture.ts';
import { exportPrivateKeyPem } from '../pki/keys.ts';
import {
  type EvidenceManifest,
  evidenceChunkHolds,
  sha256OfBytes,
  signEvidenceManifest,
  verifyEvidence,
} from './evidence.ts';

let key: KeyObject;
let certificatePem: string;

before(async () => {
  const device = await issueTestDevice(await createTestFleetCa(), { id: 'dev-1' });
  key = createPrivateKey(await exportPrivateKeyPem(device.keys.privateKey));
  certificatePem = device.certPem;
});

/** A bundle of `bytes` cut into items at `cuts`, uploaded in chunks of `chunkBytes`, as a device builds it. */
function manifestOf(bytes: Uint8Array, cuts: readonly number[], chunkBytes: number): EvidenceManifest {
  const bounds = [...new Set([0, ...cuts.map((cut) => cut % (bytes.length + 1)), bytes.length])].sort(
    (a, b) => a - b,
  );
  const items = bounds.slice(1).map((end, index) => {
    const start = bounds[index] ?? 0;
    return {
      name: `volatile/item-${index}.json`,
      kind: 'volatile' as const,
      offset: start,
      bytes: end - start,
      sha256: sha256OfBytes(bytes.subarray(start, end)),
      truncated: false,
    };
  });
  const chunks: string[] = [];
  for (let start = 0; start < bytes.length; start += chunkBytes) {
    chunks.push(sha256OfBytes(bytes.subarray(start, start + chunkBytes)));
  }
  return {
    v: 1,
    id: '00000000-0000-4000-8000-000000000001',
    deviceId: 'dev-1',
    commandId: null,
    trigger: 'rule',
    ruleId: 'rule-1',
    reason: 'test',
    startedAt: 1,
    collectedAt: 2,
    capBytes: 1_000_000,
    totalBytes: bytes.length,
    sha256: sha256OfBytes(bytes),
    chunkBytes,
    chunks,
    items,
    skipped: [],
  };
}

const bundleArbitrary = fc.record({
  bytes: fc.uint8Array({ minLength: 1, maxLength: 4096 }),
  cuts: fc.array(fc.nat(), { maxLength: 6 }),
  chunkBytes: fc.integer({ min: 1, max: 1500 }),
});

describe('evidence bundles', () => {
  it('a bundle signed on the device verifies with its certificate, however it is cut into items and chunks', () => {
    fc.assert(
      fc.property(bundleArbitrary, ({ bytes, cuts, chunkBytes }) => {
        const manifest = manifestOf(bytes, cuts, chunkBytes);
        const signature = signEvidenceManifest(manifest, key);
        assert.deepEqual(verifyEvidence(manifest, signature, certificatePem, bytes), { ok: true });
        manifest.chunks.forEach((_hash, index) => {
          const start = index * chunkBytes;
          assert.equal(evidenceChunkHolds(manifest, index, bytes.subarray(start, start + chunkBytes)), true);
        });
      }),
      { numRuns: 100 },
    );
  });

  it('any changed byte fails its chunk, and the chunk check alone already refuses it', () => {
    fc.assert(
      fc.property(
        bundleArbitrary,
        fc.nat(),
        fc.integer({ min: 1, max: 255 }),
        ({ bytes, cuts, chunkBytes }, at, flip) => {
          const manifest = manifestOf(bytes, cuts, chunkBytes);
          const signature = signEvidenceManifest(manifest, key);
          const position = at % bytes.length;
          const tampered = Uint8Array.from(bytes);
          tampered[position] = (tampered[position] ?? 0) ^ flip;
          const result = verifyEvidence(manifest, signature, certificatePem, tampered);
          assert.equal(result.ok, false);
          assert.equal(result.ok ? '' : result.problem, 'chunk');
          const index = Math.floor(position / chunkBytes);
          const start = index * chunkBytes;
          assert.equal(
            evidenceChunkHolds(manifest, index, tampered.subarray(start, start + chunkBytes)),
            false,
          );
        },
      ),
      { numRuns: 100 },
    );
  });

  it('a manifest changed after signing, or cut short, does not verify', () => {
    fc.assert(
      fc.property(
        bundleArbitrary,
        fc.string({ minLength: 1, maxLength: 20 }),
        ({ bytes, cuts, chunkBytes }, reason) => {
          const manifest = manifestOf(bytes, cuts, chunkBytes);
          const signature = signEvidenceManifest(manifest, key);
          fc.pre(reason !== manifest.reason);
          assert.equal(verifyEvidence({ ...manifest, reason }, signature, certificatePem, bytes).ok, false);
          const short = verifyEvidence(
            manifest,
            signature,
            certificatePem,
            bytes.subarray(0, bytes.length - 1),
          );
          assert.equal(short.ok ? '' : short.problem, 'size');
        },
      ),
      { numRuns: 50 },
    );
  });
});
