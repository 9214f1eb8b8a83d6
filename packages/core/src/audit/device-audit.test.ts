import assert from 'node:assert/strict';
import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { type AuditEntry, type AuditEntryInput, appendEntry, signCheckpoint } from './audit-chain.ts';
import {
  checkDeviceAuditExtension,
  deviceAuditSigner,
  deviceAuditVerifier,
  verifyDeviceChain,
} from './device-audit.ts';

const deviceKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
const signer = deviceAuditSigner(deviceKey.export({ type: 'pkcs8', format: 'pem' }).toString());
const publicKey = createPublicKey(deviceKey);
const verifier = deviceAuditVerifier(publicKey);
const otherSigner = deviceAuditSigner(
  generateKeyPairSync('ec', { namedCurve: 'P-256' })
    .privateKey.export({ type: 'pkcs8', format: 'pem' })
    .toString(),
);

const inputArbitrary: fc.Arbitrary<AuditEntryInput> = fc.record({
  at: fc.integer({ min: 0, max: 4_000_000_000_000 }),
  kind: fc.constantFrom('agent.isolation_changed', 'policy.remediated', 'rule.response', 'evidence.captured'),
  actor: fc.constantFrom('agent', 'manager', 'rule:x'),
  subject: fc.constant('dev-1'),
  details: fc.dictionary(fc.string({ maxLength: 6 }), fc.oneof(fc.string({ maxLength: 8 }), fc.integer()), {
    maxKeys: 3,
  }),
});

function build(inputs: readonly AuditEntryInput[]): AuditEntry[] {
  const entries: AuditEntry[] = [];
  for (const input of inputs) entries.push(appendEntry(entries.at(-1), input));
  return entries;
}

/** Rebuilds the chain from `from` on with recomputed hashes: what someone rewriting history would do. */
function rewrite(
  entries: readonly AuditEntry[],
  from: number,
  change: (input: AuditEntryInput) => AuditEntryInput,
) {
  const kept = entries.slice(0, from - 1);
  const rest = entries.slice(from - 1).map((entry, index) => (index === 0 ? change(entry) : entry));
  const rebuilt = [...kept];
  for (const entry of rest) rebuilt.push(appendEntry(rebuilt.at(-1), entry));
  return rebuilt;
}

/** A chain, a seq anchored by the manager, and a seq at or before it where the device rewrites. */
const scenario = fc
  .array(inputArbitrary, { minLength: 2, maxLength: 20 })
  .chain((inputs) =>
    fc.record({
      entries: fc.constant(build(inputs)),
      anchoredSeq: fc.integer({ min: 1, max: inputs.length }),
      later: fc.array(inputArbitrary, { minLength: 1, maxLength: 3 }),
    }),
  )
  .chain((base) =>
    fc.record({ base: fc.constant(base), rewriteSeq: fc.integer({ min: 1, max: base.anchoredSeq }) }),
  );

describe('device audit chain anchoring', () => {
  it('a device chain verifies against checkpoints signed with its key, not with another', () => {
    const entries = build([
      {
        at: 1,
        kind: 'agent.isolation_changed',
        actor: 'agent',
        subject: 'dev-1',
        details: { isolated: true },
      },
      { at: 2, kind: 'rule.response', actor: 'rule:x', subject: 'dev-1', details: {} },
    ]);
    const last = entries.at(-1) as AuditEntry;
    assert.equal(verifyDeviceChain(entries, [signCheckpoint(signer, last, 3)], publicKey).ok, true);
    const forged = verifyDeviceChain(entries, [signCheckpoint(otherSigner, last, 3)], publicKey);
    assert.equal(forged.ok, false);
  });

  it('any rewrite of anchored history, however the hashes are recomputed, is refused at the next upload', () => {
    fc.assert(
      fc.property(
        scenario,
        fc.constantFrom('edit', 'delete', 'reorder', 'truncate'),
        ({ base, rewriteSeq }, how) => {
          const { entries, anchoredSeq, later } = base;
          // The manager holds entries 1..anchoredSeq, anchored by a checkpoint the device signed.
          const held = entries.slice(0, anchoredSeq);
          const hashes = new Map(held.map((entry) => [entry.seq, entry.hash]));
          const heldState = { latest: held.at(-1), hashAt: (seq: number) => hashes.get(seq) };
          // The device rewrites its own history at or before the anchor, then records more and uploads.
          let forged: AuditEntry[];
          if (how === 'edit') {
            forged = rewrite(entries, rewriteSeq, (input) => ({
              ...input,
              details: { ...input.details, rewritten: true },
            }));
          } else if (how === 'delete') {
            forged = rewrite(
              entries.filter((entry) => entry.seq !== rewriteSeq),
              rewriteSeq,
              (input) => input,
            );
          } else if (how === 'reorder') {
            const moved = [...entries];
            const [taken] = moved.splice(rewriteSeq - 1, 1);
            moved.push(taken as AuditEntry);
            forged = rewrite(moved, rewriteSeq, (input) => input);
          } else {
            forged = entries.slice(0, rewriteSeq - 1);
          }
          for (const input of later) forged.push(appendEntry(forged.at(-1), input));
          const changed = forged.some((entry, index) => entries[index]?.hash !== entry.hash);
          fc.pre(changed);
          const last = forged.at(-1) as AuditEntry;
          // The device resends from the first entry it changed (or everything: it cannot do better).
          const upload = { entries: forged, checkpoint: signCheckpoint(signer, last, last.at + 1) };
          const outcome = checkDeviceAuditExtension(heldState, upload, verifier);
          const untouched =
            forged.length >= anchoredSeq &&
            forged.slice(0, anchoredSeq).every((entry, index) => entry.hash === held[index]?.hash);
          assert.equal(outcome.ok, untouched, JSON.stringify({ how, rewriteSeq, anchoredSeq, outcome }));
          if (!outcome.ok) assert.ok(outcome.firstBadSeq <= Math.max(anchoredSeq + 1, rewriteSeq + 1));
        },
      ),
      { numRuns: 200 },
    );
  });

  it('the manager copy, edited after anchoring, no longer verifies against the device signatures', () => {
    fc.assert(
      fc.property(scenario, ({ base, rewriteSeq }) => {
        const { entries, anchoredSeq } = base;
        const held = entries.slice(0, anchoredSeq);
        const anchor = signCheckpoint(signer, held.at(-1) as AuditEntry, 1);
        assert.equal(verifyDeviceChain(held, [anchor], publicKey).ok, true);
        const edited = rewrite(held, rewriteSeq, (input) => ({ ...input, actor: `${input.actor}!` }));
        const result = verifyDeviceChain(edited, [anchor], publicKey);
        assert.equal(result.ok, false);
        if (!result.ok) assert.ok(result.firstBadSeq <= anchoredSeq);
      }),
      { numRuns: 200 },
    );
  });

  it('a resend of what the manager holds plus new entries extends the chain', () => {
    const entries = build(
      Array.from({ length: 5 }, (_, index) => ({
        at: index,
        kind: 'k',
        actor: 'agent',
        subject: 'dev-1',
        details: {},
      })),
    );
    const held = entries.slice(0, 3);
    const hashes = new Map(held.map((entry) => [entry.seq, entry.hash]));
    const outcome = checkDeviceAuditExtension(
      { latest: held.at(-1), hashAt: (seq) => hashes.get(seq) },
      { entries: entries.slice(1), checkpoint: signCheckpoint(signer, entries[4] as AuditEntry, 9) },
      verifier,
    );
    assert.equal(outcome.ok, true);
    assert.deepEqual(outcome.ok ? outcome.fresh.map((entry) => entry.seq) : [], [4, 5]);
  });
});
