import type { CompiledCheck } from '@edgeward/core';
import {
  type BaselineContext,
  type CheckOutcome,
  clipDetail,
  formatMs,
  withDeadline,
} from './check-outcome.ts';
import { evaluateCheck } from './evaluate-check.ts';
import { type ActionResult, applyRemediationAction, describeAction } from './remediation-actions.ts';
import { describeError } from './root-files.ts';

export interface RemediationOutcome {
  /** `fixed`: the check passes afterwards; `not-fixed`: the action ran but the check still does not pass; `failed`: the action could not run or complete. */
  readonly outcome: 'fixed' | 'not-fixed' | 'failed';
  readonly detail: string;
  readonly before: CheckOutcome;
  readonly after: CheckOutcome;
}

/**
 * Evaluates the check, runs its remediation bounded by `remediation.timeoutMs`, and evaluates it again:
 * whether the device complies is decided by the check, not by the action reporting success. Nothing is
 * changed when the check already passes or does not apply, or when its remediation is `off`. Never
 * throws.
 */
export async function remediate(check: CompiledCheck, context: BaselineContext): Promise<RemediationOutcome> {
  const before = await evaluateCheck(check, context);
  const result = (
    outcome: RemediationOutcome['outcome'],
    detail: string,
    after = before,
  ): RemediationOutcome => ({
    outcome,
    detail: clipDetail(detail),
    before,
    after,
  });
  const { remediation } = check;
  if (remediation === undefined) return result('failed', `${check.id} has no remediation`);
  if (check.remediate === 'off') return result('failed', `remediation of ${check.id} is off`);
  if (before.status === 'pass') return result('fixed', 'the check already passes; nothing was changed');
  if (before.status === 'not-applicable') {
    return result('not-fixed', `the check does not apply here (${before.detail}); nothing was changed`);
  }

  const action = describeAction(remediation.action);
  let applied: ActionResult | undefined;
  let failure: string | undefined;
  try {
    const finished = await withDeadline(
      applyRemediationAction(remediation.action, context, remediation.timeoutMs),
      remediation.timeoutMs,
    );
    if (finished.done) applied = finished.value;
    else failure = `${action} did not finish within ${formatMs(remediation.timeoutMs)}`;
  } catch (error) {
    failure = `${action} failed: ${describeError(error)}`;
  }
  // Even a failed action may have changed something: the device's state is whatever the check now says.
  const after = await evaluateCheck(check, context);
  if (failure !== undefined) return result('failed', failure, after);
  if (applied === undefined || !applied.ok)
    return result('failed', `${action} refused: ${applied?.detail ?? 'no result'}`, after);
  if (after.status === 'pass') return result('fixed', applied.detail, after);
  return result(
    'not-fixed',
    `${applied.detail}; the check still ${after.status === 'fail' ? 'fails' : `gives ${after.status}`}: ${after.detail}`,
    after,
  );
}
