/**
 * The manager's side of exactly-once delivery: given the highest contiguous sequence already stored and
 * the sequence numbers held beyond a gap, which events of a batch are new, and what to acknowledge.
 * Duplicates (at or below the ack, or already held beyond it) are ignored; a gap keeps the ack where it is
 * until the missing events arrive.
 */
export interface AckState {
  /** Every event with seq ≤ ackedSeq is stored. */
  readonly ackedSeq: number;
  /** Stored sequence numbers above ackedSeq (after a gap), ascending. */
  readonly heldAbove: readonly number[];
}

export interface AckOutcome {
  /** Sequence numbers of the batch to store, each once, ascending. */
  readonly accept: number[];
  readonly state: AckState;
  /** Missing ranges below the highest seq now held, inclusive. */
  readonly gaps: { from: number; to: number }[];
}

/**
 * `floorSeq` is the sender's word that nothing at or below it will ever come (delivered already, or
 * evicted and reported lost): the acknowledgement moves up to it even across a gap.
 */
export function applyBatch(state: AckState, batchSeqs: readonly number[], floorSeq = 0): AckOutcome {
  const floor = Math.max(state.ackedSeq, floorSeq);
  const previouslyHeld = new Set(state.heldAbove);
  const accept: number[] = [];
  for (const seq of [...new Set(batchSeqs)].sort((a, b) => a - b)) {
    if (seq <= state.ackedSeq || previouslyHeld.has(seq)) continue;
    accept.push(seq);
  }
  const held = new Set([...previouslyHeld, ...accept].filter((seq) => seq > floor));
  let ackedSeq = floor;
  while (held.has(ackedSeq + 1)) {
    ackedSeq += 1;
    held.delete(ackedSeq);
  }
  const heldAbove = [...held].sort((a, b) => a - b);
  const gaps: { from: number; to: number }[] = [];
  let expected = ackedSeq + 1;
  for (const seq of heldAbove) {
    if (seq > expected) gaps.push({ from: expected, to: seq - 1 });
    expected = seq + 1;
  }
  return { accept, state: { ackedSeq, heldAbove }, gaps };
}
