import type { Clock, OperatorActionRecord } from '@edgeward/core';
import type { Store } from '@edgeward/store';
import type { OperatorContext } from './operator-context.ts';
import { newId } from './secrets.ts';

/**
 * Hears each action inside the transaction that records it, writing through that transaction's store:
 * what it writes lands with the action or not at all (syslog out queues the action for the SIEM).
 */
export type AuditListener = (store: Store, action: OperatorActionRecord) => Promise<void>;

/** Records who did what, when, for every operator write. */
export class AuditTrail {
  readonly #clock: Clock;
  readonly #listener: AuditListener | undefined;

  constructor(clock: Clock, listener?: AuditListener) {
    this.#clock = clock;
    this.#listener = listener;
  }

  record(
    store: Store,
    operator: OperatorContext,
    action: string,
    target: string,
    details: Record<string, unknown> = {},
  ): Promise<void> {
    const record: OperatorActionRecord = {
      id: newId('act'),
      at: this.#clock.now(),
      operatorId: operator.id,
      operatorName: operator.name,
      action,
      target,
      details,
    };
    const listener = this.#listener;
    if (listener === undefined) return store.actions.record(record);
    // Callers pass their transaction's store, where this is a savepoint; a caller outside one still gets
    // the action and what the listener writes together.
    return store.transaction(async (tx) => {
      await tx.actions.record(record);
      await listener(tx, record);
    });
  }
}
