import type { OperatorRole } from '@edgeward/core';

/** Who is calling the operator API; every write is recorded under this name. */
export interface OperatorContext {
  readonly id: string;
  readonly name: string;
  readonly role: OperatorRole;
}

/** The manager acting on its own (first start, schedules). */
export const systemOperator: OperatorContext = { id: 'system', name: 'system', role: 'admin' };
