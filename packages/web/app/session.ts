import type { SessionView } from '@edgeward/core';
import { createContext, useContext } from 'react';

export type Operator = SessionView['operator'];

export const OperatorContext = createContext<Operator>({ id: '', name: '', role: 'viewer' });

/** Whether the signed-in operator may change things; a viewer's pages show no action buttons at all. */
export function useCanAct(): boolean {
  return useContext(OperatorContext).role !== 'viewer';
}

export function useOperator(): Operator {
  return useContext(OperatorContext);
}
