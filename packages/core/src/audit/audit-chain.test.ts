import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { generatePolicyKeyPair } from '../policy/policy-signing.ts';
import {
  AUDIT_GENESIS_HASH,
  type AuditCheckpoint,
  type AuditEntry,
  type AuditEntryInput,
  appendEntry,
  auditSigner,
  signCheckpoint,
  verifyChain,
} from './audit-chain.ts';
import { auditExportText, signAuditExport, verifyExport, verifyExportText } from './audit-export.ts';

const keys = generatePolicyKeyPair();
const signer = auditSigner(keys.privateKeyPem);
const otherKeys = generatePolicyKeyPair();

const inputArbitrary: fc.Arbitrary<AuditEntryInput> = fc.record({
  at: fc.integer({ min: 0, max: 4_000_000_000_000 }),
  kind: fc.constantFrom('operator.action', 'policy.version', 'alert.state', 'device.enrolled'),
  actor: fc.string({ maxLength: 12 }),
  subject: fc.string({ maxLength: 12 }),
  details: fc.dictionary(
    fc.string({ maxLength: 6 }),
    fc.oneof(fc.string({ maxLength: 8 }), fc.integer(), fc.boolean(), fc.constant(null)),
    { maxKeys: 3 },
  ),
});

function buildChain(inputs: readonly AuditEntryInput[]): AuditEntry[] {
  const entries: AuditEntry[] = [];
  for (const input of inputs) entries.push(appendEntry(entries.at(-1), input));
  return entries;
}

function checkpointsEvery(entries: readonly AuditEntry[], every: number): AuditCheckpoint[] {
  return entries
    .filter((entry) => entry.seq % every === 0 || entry.seq === entries.length)
    .map((entry) => signCheckpoint(signer, entry, entry.at + 1));
}

const chainArbitrary = fc.array(inputArbitrary, { minLength: 2, maxLength: 25 }).map(buildChain);

function expectProblem(result: ReturnType<typeof verifyChain>, firstBadSeq: number, problem: string): void {
  assert.equal(result.ok, false, 'the chain should not verify');
  if (result.ok) return;
  assert.deepEqual({ firstBadSeq: result.firstBadSeq, problem: result.problem }, { firstBadSeq, problem });
}

describe('audit chain', () => {
  it('starts at seq 1 from 64 zeros and links each entry to the hash before it', () => {
    const [first, second] = buildChain([
      { at: 1, kind: 'operator.action', actor: 'a', subject: 's', details: {} },
      { at: 2, kind: 'operator.action', actor: 'a', subject: 's', details: { x: 1 } },
    ]);
    assert.equal(first?.seq, 1);
    assert.equal(first?.prevHash, AUDIT_GENESIS_HASH);
    assert.match(first?.hash ?? '', /^[0-9a-f]{64}$/);
    assert.equal(second?.seq, 2);
    assert.equal(second?.prevHash, first?.hash);
  });

  it('verifies an untouched chain with its checkpoints', () => {
    fc.assert(
      fc.property(chainArbitrary, (entries) => {
        const checkpoints = checkpointsEvery(entries, 5);
        const result = verifyChain(entries, checkpoints, keys.publicKeyPem);
        assert.equal(result.ok, true);
        if (result.ok) assert.equal(result.lastCheckpoint?.seq, entries.length);
      }),
    );
  });

  it('locates any single edit at the edited entry', () => {
    fc.assert(
      fc.property(
        chainArbitrary,
        fc.nat(),
        fc.constantFrom('at', 'kind', 'actor', 'subject', 'details', 'prevHash', 'hash', 'seq'),
        (entries, pick, field) => {
          const index = pick % entries.length;
          const original = entries[index] as AuditEntry;
          const edited: AuditEntry = {
            ...original,
            ...(field === 'at' ? { at: original.at + 1 } : {}),
            ...(field === 'kind' ? { kind: `${original.kind}x` } : {}),
            ...(field === 'actor' ? { actor: `${original.actor}x` } : {}),
            ...(field === 'subject' ? { subject: `${original.subject}x` } : {}),
            ...(field === 'details' ? { details: { ...original.details, injected: true } } : {}),
            ...(field === 'prevHash' ? { prevHash: flipHex(original.prevHash) } : {}),
            ...(field === 'hash' ? { hash: flipHex(original.hash) } : {}),
            ...(field === 'seq' ? { seq: original.seq + 1000 } : {}),
          };
          const tampered = entries.with(index, edited);
          expectProblem(
            verifyChain(tampered, checkpointsEvery(entries, 5), keys.publicKeyPem),
            original.seq,
            'edited',
          );
        },
      ),
    );
  });

  it('locates any single deletion at the missing seq, and a deleted tail as truncation after a checkpoint', () => {
    fc.assert(
      fc.property(chainArbitrary, fc.nat(), (entries, pick) => {
        const index = pick % entries.length;
        const tampered = entries.toSpliced(index, 1);
        const result = verifyChain(tampered, checkpointsEvery(entries, 5), keys.publicKeyPem);
        expectProblem(result, index + 1, index === entries.length - 1 ? 'truncated' : 'deleted');
      }),
    );
  });

  it('locates a swap of two entries at the earlier place, in the list or in stored rows', () => {
    fc.assert(
      fc.property(chainArbitrary, fc.nat(), fc.nat(), (entries, pickA, pickB) => {
        const a = pickA % entries.length;
        let b = pickB % entries.length;
        if (a === b) b = (a + 1) % entries.length;
        const [low, high] = a < b ? [a, b] : [b, a];
        const first = entries[low] as AuditEntry;
        const second = entries[high] as AuditEntry;
        const checkpoints = checkpointsEvery(entries, 5);
        const listSwap = entries.with(low, second).with(high, first);
        expectProblem(verifyChain(listSwap, checkpoints, keys.publicKeyPem), low + 1, 'reordered');
        // A database row keeps its seq (the primary key) while its other columns are swapped.
        const rowSwap = entries
          .with(low, { ...second, seq: first.seq })
          .with(high, { ...first, seq: second.seq });
        expectProblem(verifyChain(rowSwap, checkpoints, keys.publicKeyPem), low + 1, 'reordered');
      }),
    );
  });

  it('reports truncation after a checkpoint, also when the tail was rewritten with fresh hashes', () => {
    fc.assert(
      fc.property(chainArbitrary, fc.nat(), inputArbitrary, (entries, pick, replacement) => {
        const checkpoints = checkpointsEvery(entries, 5);
        const keep = pick % entries.length;
        const cut = entries.slice(0, keep);
        const lastCoveredBefore = checkpoints.filter((checkpoint) => checkpoint.seq <= keep).at(-1)?.seq ?? 0;
        expectProblem(verifyChain(cut, checkpoints, keys.publicKeyPem), keep + 1, 'truncated');
        // Cut, then append new entries up to the old length: every link holds, only the checkpoint tells.
        const rewritten = [...cut];
        while (rewritten.length < entries.length) {
          rewritten.push(
            appendEntry(rewritten.at(-1), { ...replacement, at: replacement.at + rewritten.length }),
          );
        }
        const result = verifyChain(rewritten, checkpoints, keys.publicKeyPem);
        expectProblem(result, lastCoveredBefore + 1, 'truncated');
      }),
    );
  });

  it('refuses checkpoints signed by another key or altered', () => {
    const entries = buildChain(
      Array.from({ length: 6 }, (_, index) => ({
        at: index,
        kind: 'operator.action',
        actor: 'a',
        subject: 's',
        details: {},
      })),
    );
    const good = signCheckpoint(signer, entries[3] as AuditEntry, 10);
    const foreign = signCheckpoint(auditSigner(otherKeys.privateKeyPem), entries[3] as AuditEntry, 10);
    expectProblem(verifyChain(entries, [foreign], keys.publicKeyPem), 4, 'bad-checkpoint');
    expectProblem(verifyChain(entries, [{ ...good, at: 11 }], keys.publicKeyPem), 4, 'bad-checkpoint');
    assert.equal(verifyChain(entries, [good], keys.publicKeyPem).ok, true);
  });

  it('refuses a public key that is not Ed25519', () => {
    assert.throws(() => verifyChain([], [], 'not a key'), { code: 'EW_AUDIT_KEY_INVALID' });
  });
});

describe('audit export', () => {
  function exportOf(entries: readonly AuditEntry[], fromSeq: number) {
    const slice = entries.slice(fromSeq - 1);
    return signAuditExport(signer, {
      fleet: 'acme',
      exportedAt: 1_000,
      fromSeq,
      entries: slice,
      checkpoints: checkpointsEvery(entries, 3).filter((checkpoint) => checkpoint.seq >= fromSeq),
      anchor: fromSeq === 1 ? AUDIT_GENESIS_HASH : (entries[fromSeq - 2] as AuditEntry).hash,
    });
  }

  it('verifies offline from any starting seq with only the public key', () => {
    fc.assert(
      fc.property(chainArbitrary, fc.nat(), (entries, pick) => {
        const fromSeq = (pick % entries.length) + 1;
        const text = auditExportText(exportOf(entries, fromSeq));
        const result = verifyExportText(text, keys.publicKeyPem);
        assert.equal(result.ok, true, result.ok ? '' : result.message);
      }),
    );
  });

  it('fails after any single byte of its text changes', () => {
    fc.assert(
      fc.property(
        fc.array(inputArbitrary, { minLength: 1, maxLength: 6 }).map(buildChain),
        fc.nat(),
        fc.integer({ min: 1, max: 255 }),
        (entries, pick, mask) => {
          const bytes = Buffer.from(auditExportText(exportOf(entries, 1)), 'utf8');
          const position = pick % bytes.length;
          bytes[position] = (bytes[position] as number) ^ mask;
          const result = verifyExportText(bytes.toString('utf8'), keys.publicKeyPem);
          assert.equal(result.ok, false, `flipping byte ${position} with ${mask} went unnoticed`);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('refuses an export signed by another key, naming no entry', () => {
    const entries = buildChain([{ at: 1, kind: 'operator.action', actor: 'a', subject: 's', details: {} }]);
    const bundle = exportOf(entries, 1);
    const result = verifyExport({ ...bundle, fleet: 'other' }, keys.publicKeyPem);
    assert.deepEqual(result.ok ? undefined : [result.firstBadSeq, result.problem], [0, 'bad-signature']);
    const wrongKey = verifyExport(bundle, otherKeys.publicKeyPem);
    assert.deepEqual(wrongKey.ok ? undefined : wrongKey.problem, 'bad-checkpoint');
  });
});

function flipHex(hex: string): string {
  const first = hex[0] === '0' ? '1' : '0';
  return `${first}${hex.slice(1)}`;
}
