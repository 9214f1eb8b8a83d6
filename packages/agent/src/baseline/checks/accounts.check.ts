import { type BaselineContext, type CheckOutcome, listSome, outcome, type SpecOf } from '../check-outcome.ts';
import { colonRecords, readTextInRoot } from '../root-files.ts';

/**
 * Account rules over the root's /etc/passwd and /etc/shadow. An empty password field lets anyone log
 * in without a password; `!`, `*` and `!!` lock the account and are fine. A passwd entry whose field is
 * empty (rather than `x`) has an empty password whatever /etc/shadow says.
 */
export async function evaluateAccounts(
  spec: SpecOf<'accounts'>,
  context: BaselineContext,
): Promise<CheckOutcome> {
  const passwd = await readTextInRoot(context.root, '/etc/passwd');
  if (passwd.kind !== 'text') {
    return outcome(
      'error',
      `cannot read /etc/passwd: ${passwd.kind === 'unreadable' ? passwd.reason : 'it does not exist'}`,
    );
  }
  const users = colonRecords(passwd.text).filter((fields) => fields.length >= 7);

  if (spec.rule === 'no-extra-uid0') {
    const extra = users.filter(([name, , uid]) => uid === '0' && name !== 'root').map(([name]) => name!);
    return extra.length === 0
      ? outcome('pass', 'only root has UID 0')
      : outcome('fail', `UID 0 is also held by ${listSome(extra)} (/etc/passwd)`);
  }

  const empty = users
    .filter(([name, password]) => name !== '' && password === '')
    .map(([name]) => `${name} (/etc/passwd)`);
  const shadow = await readTextInRoot(context.root, '/etc/shadow');
  if (shadow.kind === 'unreadable') return outcome('error', `cannot read /etc/shadow: ${shadow.reason}`);
  if (shadow.kind === 'text') {
    for (const [name, password] of colonRecords(shadow.text)) {
      if (name !== undefined && name !== '' && password === '') empty.push(`${name} (/etc/shadow)`);
    }
  }
  if (empty.length > 0) return outcome('fail', `accounts without a password: ${listSome(empty)}`);
  return outcome(
    'pass',
    shadow.kind === 'text'
      ? 'every account has a password or is locked'
      : 'every account in /etc/passwd has a password field (there is no /etc/shadow)',
  );
}
