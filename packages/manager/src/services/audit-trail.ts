import type { Clock } from '@edgeward/core';
import type { Store } from '@edgeward/store';
import type { OperatorContext } from './operator-context.ts';
import { newId } from './secrets.ts';

/** Records who did what, when, for every operator write. */
export class AuditTrail {
  readonly #clock: Clock;

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  record(
    store: Store,
    operator: OperatorContext,
    action: string,
    target: string,
    details: Record<string, unknown> = {},
  ): Promise<void> {
    return store.actions.record({
      id: newId('act'),
      at: this.#clock.now(),
      operatorId: operator.id,
      operatorName: operator.name,
      action,
      target,
      details,
    });
  }
}
