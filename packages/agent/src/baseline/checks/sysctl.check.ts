import { type BaselineContext, type CheckOutcome, outcome, type SpecOf } from '../check-outcome.ts';
import { existsInRoot, readTextInRoot } from '../root-files.ts';
import { judgeValue, normalizeValue } from '../value-expectation.ts';

/**
 * Where a kernel setting lives: `net.ipv4.ip_forward` is /proc/sys/net/ipv4/ip_forward. A key written
 * with slashes keeps its dots, as sysctl(8) reads it (`net/ipv4/conf/eth0.100/rp_filter`).
 */
export const sysctlPath = (key: string): string =>
  `/proc/sys/${key.includes('/') ? key : key.replaceAll('.', '/')}`;

/** A kernel setting, read from /proc/sys under the root. */
export async function evaluateSysctl(
  spec: SpecOf<'sysctl'>,
  context: BaselineContext,
): Promise<CheckOutcome> {
  const path = sysctlPath(spec.key);
  const read = await readTextInRoot(context.root, path);
  if (read.kind === 'unreadable') return outcome('error', `cannot read ${path}: ${read.reason}`);
  if (read.kind === 'missing' && !(await existsInRoot(context.root, '/proc/sys'))) {
    return outcome('error', `there is no /proc/sys under ${context.root}, so kernel settings cannot be read`);
  }
  const value = read.kind === 'text' ? normalizeValue(read.text) : undefined;
  const judgement = judgeValue(value, spec.expect);
  const found = value === undefined ? `${spec.key} does not exist in this kernel` : `${spec.key} = ${value}`;
  return outcome(judgement.pass ? 'pass' : 'fail', judgement.pass ? found : `${found}; ${judgement.reason}`);
}
