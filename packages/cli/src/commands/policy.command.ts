import {
  type CheckStatus,
  type CompiledPolicy,
  checksForSegment,
  compilePolicy,
  DEFAULT_SEGMENT_ID,
  EdgewardError,
  formatPolicyPlan,
  type PolicyProblem,
  segmentOf,
} from '@edgeward/core';
import type { Command } from 'commander';
import type { CliIo } from '../cli-io.ts';
import { type ApiFlags, operatorApiFrom } from '../operator-api-client.ts';
import { json, parseLabelFlags, table, when } from '../output.ts';
import { gitCommitOf, readPolicyFolder } from '../policy/policy-folder.ts';
import { withApiOptions } from './api-options.ts';

interface CheckFlags {
  root: string;
  label: string[];
  segment?: string;
  json?: boolean;
}

export function registerPolicyCommands(program: Command, io: CliIo): void {
  const policy = program
    .command('policy')
    .description('policy as code: validate, check, plan and apply a policy folder; versions and rollback');

  policy
    .command('validate')
    .argument('<dir>', 'the policy folder (settings.yaml, segments/, baselines/, windows/, rules/)')
    .description('check a policy folder without a manager; every problem names file, line and field')
    .option('--json', 'print the compiled policy (or the problems) as JSON')
    .addHelpText(
      'after',
      `
Exit status 2 when the folder has a problem; each is printed as FILE:LINE:COLUMN: FIELD: MESSAGE.

Examples:
  $ edgeward policy validate ./policy
  $ edgeward policy validate policies/starter --json`,
    )
    .action(async (dir: string, flags: { json?: boolean }) => {
      const policy = await compileFolder(dir, io, flags.json === true);
      if (flags.json) io.out(json(policy));
      else
        io.out(
          `${dir}: valid — ${policy.checks.length} checks, ${policy.segments.length} segments, ${policy.windows.length} maintenance windows, ${policy.rules.length} rule files, ${policy.playbooks?.length ?? 0} playbooks`,
        );
    });

  policy
    .command('check')
    .argument('<dir>', 'the policy folder')
    .description(
      "evaluate the folder's baselines against a root directory, without a manager, and print each check's result (nothing is remediated)",
    )
    .option('--root <path>', 'the root directory to inspect (/ for this machine)', '/')
    .option(
      '--label <key=value>',
      "a device label, to pick the device's segment (repeatable)",
      (value: string, previous: string[]) => [...previous, value],
      [],
    )
    .option('--segment <id>', 'evaluate the checks of this segment (instead of choosing it from --label)')
    .option('--json', 'print the results as JSON')
    .addHelpText(
      'after',
      `
Exit status: 0 when every check passes (or does not apply), 5 when a check fails or cannot be
evaluated, 2 when the folder is invalid — so a CI job can gate on it.

Examples:
  $ edgeward policy check ./policy --root /
  $ edgeward policy check ./policy --root ./fixtures/debian --label risk=high --json`,
    )
    .action(async (dir: string, flags: CheckFlags) => {
      const policy = await compileFolder(dir, io, flags.json === true);
      const segment = flags.segment ?? segmentOf(policy, parseLabelFlags(flags.label));
      if (segment !== DEFAULT_SEGMENT_ID && !policy.segments.some((declared) => declared.id === segment)) {
        throw new EdgewardError('EW_CONFIG_INVALID', `--segment ${segment} is not a segment of ${dir}`);
      }
      const { createBaselineRunnerOnDemand } = await import('@edgeward/agent');
      const runner = createBaselineRunnerOnDemand({
        root: flags.root,
        live: flags.root === '/',
        now: Date.now,
      });
      const results: { id: string; title: string; severity: string; status: CheckStatus; detail: string }[] =
        [];
      for (const check of checksForSegment(policy, segment)) {
        const outcome = await runner.evaluate(check);
        results.push({ id: check.id, title: check.title, severity: check.severity, ...outcome });
      }
      const failing = results.filter((result) => result.status === 'fail' || result.status === 'error');
      if (flags.json) io.out(json({ root: flags.root, segment, results }));
      else {
        io.out(
          table(
            ['STATUS', 'CHECK', 'SEVERITY', 'DETAIL'],
            results.map((result) => [result.status.toUpperCase(), result.id, result.severity, result.detail]),
          ),
        );
        io.err(
          `${results.length - failing.length} of ${results.length} checks pass (segment ${segment}, root ${flags.root})`,
        );
      }
      if (failing.length > 0) {
        throw new EdgewardError(
          'EW_POLICY_CHECK_FAILED',
          `${failing.length} of ${results.length} checks failed or could not be evaluated: ${failing.map((result) => result.id).join(', ')}`,
        );
      }
    });

  withApiOptions(policy.command('plan'))
    .argument('<dir>', 'the policy folder')
    .description('show what applying the folder would change, against the version in force')
    .option('--remediation', 'also list the devices that automatic remediation would change')
    .option('--json', 'print the plan as JSON')
    .addHelpText(
      'after',
      `
+ added, - removed, ~ changed (with before -> after), and how many devices each change reaches.

Examples:
  $ edgeward policy plan ./policy
  $ edgeward policy plan ./policy --remediation`,
    )
    .action(async (dir: string, flags: ApiFlags & { remediation?: boolean; json?: boolean }) => {
      const files = await readPolicyFolder(dir);
      const plan = await operatorApiFrom(flags, io).planPolicy({ files });
      if (flags.json) {
        io.out(json(plan.plan));
        return;
      }
      const { devices, mayChange } = plan.plan.remediation;
      if (flags.remediation) {
        io.out(formatPolicyPlan(plan.plan));
        return;
      }
      io.out(formatPolicyPlan({ ...plan.plan, remediation: { devices: [], mayChange: [] } }));
      if (devices.length + mayChange.length > 0)
        io.out(
          `\nautomatic remediation would change ${devices.length} device(s) and may change ${mayChange.length} more; --remediation lists them`,
        );
    });

  withApiOptions(policy.command('apply'))
    .argument('<dir>', 'the policy folder')
    .description('make the folder the next policy version: compiled, signed and offered to every device')
    .requiredOption('-m, --message <text>', 'why this version (kept with the author and the git commit)')
    .option('--json', 'print the new version as JSON')
    .addHelpText(
      'after',
      `
When DIR is in a git repository its commit is recorded (with +dirty for uncommitted changes).

Examples:
  $ edgeward policy apply ./policy -m "SSH: no passwords on gateways"`,
    )
    .action(async (dir: string, flags: ApiFlags & { message: string; json?: boolean }) => {
      const files = await readPolicyFolder(dir);
      const gitCommit = await gitCommitOf(dir);
      const version = await operatorApiFrom(flags, io).applyPolicy({
        files,
        message: flags.message,
        ...(gitCommit === undefined ? {} : { gitCommit }),
      });
      if (flags.json) io.out(json(version));
      else
        io.out(
          `policy version ${version.version} applied${gitCommit === undefined ? '' : ` (git ${gitCommit})`}; devices pick it up at their next poll`,
        );
    });

  withApiOptions(policy.command('history'))
    .description('every policy version, newest first')
    .option('--json', 'print as JSON')
    .addHelpText('after', '\nExamples:\n  $ edgeward policy history\n  $ edgeward policy history --json')
    .action(async (flags: ApiFlags & { json?: boolean }) => {
      const { versions } = await operatorApiFrom(flags, io).policyVersions();
      if (flags.json) {
        io.out(json(versions));
        return;
      }
      if (versions.length === 0) {
        io.out('no policy applied yet: edgeward policy apply DIR -m MESSAGE');
        return;
      }
      io.out(
        table(
          ['VERSION', 'CREATED', 'AUTHOR', 'GIT', 'MESSAGE'],
          versions.map((version) => [
            `${version.version}${version.rollbackOf == null ? '' : ` (= ${version.rollbackOf})`}`,
            when(version.createdAt),
            version.author,
            version.gitCommit?.slice(0, 12) ?? '-',
            version.message,
          ]),
        ),
      );
    });

  withApiOptions(policy.command('show'))
    .argument('<version>', 'a version number')
    .description('one policy version: who, when, why, and its checks')
    .option('--json', 'print the whole version (source files and compiled policy) as JSON')
    .addHelpText('after', '\nExamples:\n  $ edgeward policy show 12\n  $ edgeward policy show 12 --json')
    .action(async (versionText: string, flags: ApiFlags & { json?: boolean }) => {
      const version = await operatorApiFrom(flags, io).policyVersion(versionNumber(versionText));
      if (flags.json) {
        io.out(json(version));
        return;
      }
      const policy = version.policy;
      io.out(
        [
          `version    ${version.version}${version.rollbackOf == null ? '' : ` (rollback to ${version.rollbackOf})`}`,
          `created    ${when(version.createdAt)} by ${version.author}`,
          `message    ${version.message}`,
          `git        ${version.gitCommit ?? '-'}`,
          `digest     ${version.policyDigest}`,
          `segments   ${policy.segments.map((segment) => segment.id).join(', ') || '-'}`,
          '',
          table(
            ['CHECK', 'SEVERITY', 'SEGMENTS', 'REMEDIATE', 'TITLE'],
            policy.checks.map((check) => [
              check.id,
              check.severity,
              check.segments.join(',') || 'all',
              check.remediate,
              check.title,
            ]),
          ),
        ].join('\n'),
      );
    });

  withApiOptions(policy.command('rollback'))
    .argument('<version>', 'the version to return to')
    .description('make a new version equal to an old one (versions only go up)')
    .requiredOption('-m, --message <text>', 'why')
    .addHelpText(
      'after',
      '\nExamples:\n  $ edgeward policy rollback 11 -m "version 12 locked out the HMI panels"',
    )
    .action(async (versionText: string, flags: ApiFlags & { message: string }) => {
      const created = await operatorApiFrom(flags, io).rollbackPolicy({
        version: versionNumber(versionText),
        message: flags.message,
      });
      io.out(`policy version ${created.version} created, equal to version ${versionText}`);
    });
}

/** Compiles the folder or throws EW_POLICY_INVALID after printing every problem. */
async function compileFolder(dir: string, io: CliIo, asJson: boolean): Promise<CompiledPolicy> {
  const result = compilePolicy(await readPolicyFolder(dir));
  if (result.ok) {
    for (const warning of result.warnings) io.err(`warning: ${problemText(dir, warning)}`);
    return result.policy;
  }
  if (asJson) io.out(json({ problems: result.problems }));
  else for (const problem of result.problems) io.err(problemText(dir, problem));
  throw new EdgewardError(
    'EW_POLICY_INVALID',
    `${dir} has ${result.problems.length} problem${result.problems.length === 1 ? '' : 's'}`,
  );
}

/** `baselines/ssh.yaml:12:5: checks.0.check.port: expected a number` — the form editors jump to. */
export function problemText(dir: string, problem: PolicyProblem): string {
  const position =
    problem.line === undefined
      ? ''
      : `:${problem.line}${problem.column === undefined ? '' : `:${problem.column}`}`;
  const field = problem.field === undefined || problem.field === '' ? '' : ` ${problem.field}:`;
  return `${dir.replace(/\/$/, '')}/${problem.file}${position}:${field} ${problem.message}`;
}

function versionNumber(text: string): number {
  const version = Number(text);
  if (!Number.isInteger(version) || version < 1)
    throw new EdgewardError('EW_CONFIG_INVALID', `version ${text} must be a whole number ≥ 1`);
  return version;
}
