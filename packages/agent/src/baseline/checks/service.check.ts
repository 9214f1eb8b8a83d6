import { type BaselineContext, type CheckOutcome, listSome, outcome, type SpecOf } from '../check-outcome.ts';
import { describeServiceSources, findRunningService, processTable } from '../service-state.ts';

/** `running` holds when any of the names runs, `stopped` when none does (see service-state.ts). */
export async function evaluateService(
  spec: SpecOf<'service'>,
  context: BaselineContext,
): Promise<CheckOutcome> {
  const names = spec.names.join(', ');
  if (spec.state === 'running') {
    const seen = await findRunningService(context, spec.names);
    if (seen !== undefined) return outcome('pass', seen.evidence);
    return outcome('fail', `none of ${names} runs (looked in ${await describeServiceSources(context)})`);
  }
  const processes = await processTable(context);
  const running: string[] = [];
  for (const name of spec.names) {
    const seen = await findRunningService(context, [name], processes);
    if (seen !== undefined) running.push(seen.evidence);
  }
  if (running.length > 0) return outcome('fail', `should be stopped, but ${listSome(running)}`);
  return outcome('pass', `none of ${names} runs (looked in ${await describeServiceSources(context)})`);
}
