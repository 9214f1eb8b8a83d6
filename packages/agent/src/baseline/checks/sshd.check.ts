import { type BaselineContext, type CheckOutcome, outcome, type SpecOf } from '../check-outcome.ts';
import { canonicalKeyword, effectiveSetting, loadSshdConfig, type SshdConnection } from '../sshd-config.ts';
import { judgeValue } from '../value-expectation.ts';

/** Algorithm lists, whose value may start with `+` (append to), `^` (put first in) or `-` (remove from) sshd's defaults. */
const algorithmLists = new Set([
  'ciphers',
  'macs',
  'kexalgorithms',
  'hostkeyalgorithms',
  'pubkeyacceptedalgorithms',
  'hostbasedacceptedalgorithms',
  'casignaturealgorithms',
]);

function describeConnection(connection: SshdConnection): string {
  const parts: string[] = [];
  if (connection.user !== undefined) parts.push(`user ${connection.user}`);
  if (connection.host !== undefined) parts.push(`host ${connection.host}`);
  if (connection.address !== undefined) parts.push(`address ${connection.address}`);
  return `for ${parts.join(', ') || 'any connection'}: `;
}

/** One sshd setting, judged as sshd would resolve it (see sshd-config.ts). */
export async function evaluateSshd(spec: SpecOf<'sshd'>, context: BaselineContext): Promise<CheckOutcome> {
  const load = await loadSshdConfig(context.root, spec.configPath);
  if (!load.ok) {
    return load.missing
      ? outcome('not-applicable', `${spec.configPath} does not exist: there is no OpenSSH server to judge`)
      : outcome('error', load.reason);
  }
  const connection = spec.match;
  const setting = effectiveSetting(load.config, spec.setting, connection);
  const notes = [...setting.notes, ...load.config.notes];
  const from = setting.from;
  const where =
    from === undefined
      ? ''
      : `${from.file}:${from.line}${from.block === undefined ? '' : ` (Match ${from.block.criteria.join(' ')})`}`;
  let value = setting.value;
  let found: string;
  if (value === undefined) {
    found = `${spec.setting} is not set`;
  } else if (from === undefined) {
    found = `${spec.setting} is not set; sshd's default ${value} applies`;
  } else if (algorithmLists.has(canonicalKeyword(spec.setting)) && value.startsWith('-')) {
    // What is left of sshd's defaults depends on its version: judged as if unset.
    found = `${spec.setting} in ${where} only removes algorithms from sshd's defaults`;
    value = undefined;
  } else if (algorithmLists.has(canonicalKeyword(spec.setting)) && /^[+^]/.test(value)) {
    found = `${spec.setting} in ${where} adds ${value.slice(1)} to sshd's defaults`;
    value = value.slice(1);
  } else {
    found = `${spec.setting} is ${value} in ${where}`;
  }
  const judgement = judgeValue(value, spec.expect, { ignoreCase: true });
  if (value === undefined && judgement.pass) found += ' (whenMissing: pass)';
  const reason = judgement.pass ? '' : `; ${judgement.reason}`;
  const prefix = connection === undefined ? '' : describeConnection(connection);
  const suffix = notes.length === 0 ? '' : ` [${notes.join('; ')}]`;
  return outcome(judgement.pass ? 'pass' : 'fail', `${prefix}${found}${reason}${suffix}`);
}
