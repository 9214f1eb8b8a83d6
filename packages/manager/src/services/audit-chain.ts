import {
  AUDIT_GENESIS_HASH,
  type AuditEntriesView,
  type AuditEntry,
  type AuditEntryInput,
  type AuditExportBundle,
  type AuditVerifyView,
  auditVerifier,
  type Clock,
  EdgewardError,
  type OperatorActionRecord,
  parseTimeBound,
  signAuditExport,
  signCheckpoint,
  verifyChainWith,
} from '@edgeward/core';
import type { Store } from '@edgeward/store';
import type { Logger } from 'pino';
import type { AuditSigningKey } from '../pki/audit-key.ts';

/**
 * The manager's side of the tamper-evident audit chain: appends entries inside the caller's transaction,
 * signs a checkpoint every `checkpointEvery` entries and, on a timer, over whatever came since the last
 * one, and verifies and exports the chain.
 */
export class AuditChainService {
  readonly #store: Store;
  readonly #clock: Clock;
  readonly #key: AuditSigningKey;
  readonly #fleet: string;
  readonly #checkpointEvery: number;
  readonly #checkpointMs: number;
  readonly #logger: Logger;
  #timer: NodeJS.Timeout | undefined;
  #checkpointing: Promise<unknown> | undefined;

  constructor(deps: {
    store: Store;
    clock: Clock;
    key: AuditSigningKey;
    fleet: string;
    checkpointEvery: number;
    checkpointMs: number;
    logger: Logger;
  }) {
    this.#store = deps.store;
    this.#clock = deps.clock;
    this.#key = deps.key;
    this.#fleet = deps.fleet;
    this.#checkpointEvery = deps.checkpointEvery;
    this.#checkpointMs = deps.checkpointMs;
    this.#logger = deps.logger;
  }

  /** Appends through `store` (the caller's transaction): the entry lands with the caller's writes or not at all. */
  async record(
    store: Store,
    input: Omit<AuditEntryInput, 'at'> & { readonly at?: number },
  ): Promise<AuditEntry> {
    const entry = await store.audit.append({ ...input, at: input.at ?? this.#clock.now() });
    if (entry.seq % this.#checkpointEvery === 0) {
      await store.audit.addCheckpoint(signCheckpoint(this.#key.signer, entry, this.#clock.now()));
    }
    return entry;
  }

  /** The chain entry of an operator action, as AuditTrail records it. */
  recordAction(store: Store, action: OperatorActionRecord): Promise<AuditEntry> {
    return this.record(store, {
      at: action.at,
      kind: kindOfAction(action.action),
      actor: actorOf(action),
      subject: action.target,
      details: {
        action: action.action,
        actionId: action.id,
        actorName: action.operatorName,
        details: action.details,
      },
    });
  }

  /** Signs a checkpoint over the latest entry when none covers it yet; returns its seq, or undefined. */
  async checkpointNow(): Promise<number | undefined> {
    const [latest, checkpoint] = await Promise.all([
      this.#store.audit.latest(),
      this.#store.audit.latestCheckpoint(),
    ]);
    if (latest === undefined || (checkpoint !== undefined && checkpoint.seq >= latest.seq)) return undefined;
    await this.#store.audit.addCheckpoint(signCheckpoint(this.#key.signer, latest, this.#clock.now()));
    return latest.seq;
  }

  start(): void {
    this.#timer ??= setInterval(() => {
      this.#checkpointing ??= this.checkpointNow()
        .catch((error: unknown) => {
          this.#logger.error({ err: error }, 'audit checkpoint failed; it is retried at the next run');
        })
        .finally(() => {
          this.#checkpointing = undefined;
        });
    }, this.#checkpointMs).unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#checkpointing;
  }

  /** Verifies the whole chain against the manager's own public key. */
  async verify(): Promise<AuditVerifyView> {
    const [entries, checkpoints] = await Promise.all([
      this.#store.audit.range(),
      this.#store.audit.checkpoints(),
    ]);
    const result = verifyChainWith(entries, checkpoints, auditVerifier(this.#key.publicKeyPem));
    if (!result.ok) {
      this.#logger.warn(
        { firstBadSeq: result.firstBadSeq, problem: result.problem },
        'the audit chain does not verify',
      );
      return { ...result, entries: entries.length, checkpoints: checkpoints.length };
    }
    return {
      ok: true,
      entries: entries.length,
      checkpoints: checkpoints.length,
      lastCheckpointSeq: result.lastCheckpoint?.seq ?? null,
      keyId: this.#key.signer.keyId,
    };
  }

  /**
   * The signed export from `since` on: a time bound (`7d`, an ISO date, epoch ms) or `seq:N`; everything
   * without it. A checkpoint over the latest entry is signed first, so the export covers its own tail.
   */
  async export(since: string | undefined): Promise<AuditExportBundle> {
    await this.checkpointNow();
    const now = this.#clock.now();
    const fromSeq = await this.#fromSeqOf(since, now);
    const [entries, checkpoints, before] = await Promise.all([
      this.#store.audit.range({ fromSeq }),
      this.#store.audit.checkpoints({ fromSeq }),
      fromSeq > 1 ? this.#store.audit.range({ fromSeq: fromSeq - 1, limit: 1 }) : Promise.resolve([]),
    ]);
    const last = entries.at(-1)?.seq ?? fromSeq - 1;
    return signAuditExport(this.#key.signer, {
      fleet: this.#fleet,
      exportedAt: now,
      fromSeq,
      entries,
      // A checkpoint written after the entries were read would cover entries the export lacks.
      checkpoints: checkpoints.filter((checkpoint) => checkpoint.seq <= last),
      anchor: before[0]?.hash ?? AUDIT_GENESIS_HASH,
    });
  }

  async list(limit: number, before: number | undefined): Promise<AuditEntriesView> {
    const entries = await this.#store.audit.list({ limit, ...(before === undefined ? {} : { before }) });
    const oldest = entries.at(-1);
    return {
      entries,
      nextBefore: entries.length === limit && oldest !== undefined && oldest.seq > 1 ? oldest.seq : null,
    };
  }

  async #fromSeqOf(since: string | undefined, now: number): Promise<number> {
    if (since === undefined) return 1;
    const seqMatch = /^seq:(\d+)$/.exec(since.trim());
    if (seqMatch !== null) {
      const seq = Number(seqMatch[1]);
      if (!Number.isSafeInteger(seq) || seq < 1) {
        throw new EdgewardError('EW_REQUEST_INVALID', `since "${since}" names no entry; use seq:1 or higher`);
      }
      return seq;
    }
    const at = parseTimeBound(since, now, 'since');
    // Nothing recorded since then: an empty export that starts after the latest entry.
    return (
      (await this.#store.audit.firstSeqAtOrAfter(at)) ?? ((await this.#store.audit.latest())?.seq ?? 0) + 1
    );
  }
}

function kindOfAction(action: string): string {
  switch (action) {
    case 'device.enroll':
      return 'device.enrolled';
    case 'device.renew':
      return 'device.renewed';
    case 'device.revoke':
      return 'device.revoked';
    case 'policy.apply':
    case 'policy.rollback':
      return 'policy.version';
    // The first link of an evidence bundle's chain of custody.
    case 'device.capture':
      return 'evidence.requested';
    default:
      return action.startsWith('alert.') ? 'alert.state' : 'operator.action';
  }
}

function actorOf(action: OperatorActionRecord): string {
  if (action.operatorId === 'device') return `device:${action.operatorName}`;
  if (action.operatorId === 'system') return 'system';
  return `operator:${action.operatorId}`;
}
