import type { ComplianceCountsView } from '@edgeward/core';
import type { Command } from 'commander';
import type { CliIo } from '../cli-io.ts';
import { type ApiFlags, operatorApiFrom } from '../operator-api-client.ts';
import { json, table, when } from '../output.ts';
import { withApiOptions } from './api-options.ts';

export function registerComplianceCommands(program: Command, io: CliIo): void {
  const compliance = withApiOptions(program.command('compliance'))
    .description('how far the fleet meets the policy in force: by segment and by check, in percent')
    .option('--days <n>', 'days of trend to show', '7')
    .option('--json', 'print as JSON')
    .addHelpText(
      'after',
      `
Percent is passing checks over evaluated ones (pass, fail, error); checks that do not apply to a
device are left out. Devices whose policy bundle had expired when they last reported are listed as
stale: they keep enforcing it.

Examples:
  $ edgeward compliance
  $ edgeward compliance device dev-1234abcd5678ef90`,
    )
    .action(async (flags: ApiFlags & { days: string; json?: boolean }) => {
      const view = await operatorApiFrom(flags, io).compliance(Number(flags.days));
      if (flags.json) {
        io.out(json(view));
        return;
      }
      if (view.policyVersion === null) {
        io.out('no policy applied yet: edgeward policy apply DIR -m MESSAGE');
        return;
      }
      io.out(
        `policy version ${view.policyVersion}: ${view.devicesReporting} devices reporting, ${percent(view.overall)} compliant overall`,
      );
      io.out('');
      io.out(
        table(
          ['SEGMENT', 'DEVICES', 'COMPLIANT', 'PASS', 'FAIL', 'ERROR'],
          view.segments.map((segment) => [
            segment.segment,
            String(segment.devices),
            percent(segment),
            String(segment.pass),
            String(segment.fail),
            String(segment.error),
          ]),
        ),
      );
      io.out('');
      io.out(
        table(
          ['CHECK', 'SEVERITY', 'COMPLIANT', 'PASS', 'FAIL', 'ERROR', 'TITLE'],
          view.checks.map((check) => [
            check.checkId,
            check.severity ?? '-',
            percent(check),
            String(check.pass),
            String(check.fail),
            String(check.error),
            check.title ?? '(not in the version in force)',
          ]),
        ),
      );
      if (view.trend.length > 0) {
        io.out('');
        io.out(`trend: ${view.trend.map((day) => `${day.day.slice(5)} ${percent(day)}`).join('  ')}`);
      }
      if (view.staleDevices.count > 0) {
        io.out('');
        io.out(
          `${view.staleDevices.count} devices enforce an expired bundle: ${view.staleDevices.devices
            .slice(0, 10)
            .map((device) => device.deviceId)
            .join(', ')}${view.staleDevices.count > 10 ? ', …' : ''}`,
        );
      }
    });

  // The API flags belong to `compliance` and are read from there, wherever they stand on the line.
  compliance
    .command('device')
    .argument('<id>', 'device id')
    .description("one device's result for every check, with the last remediation")
    .addHelpText(
      'after',
      '\nExamples:\n  $ edgeward compliance device dev-1234abcd5678ef90\n  $ edgeward compliance device dev-1234abcd5678ef90 --json',
    )
    .action(async (id: string, _flags: unknown, command: Command) => {
      const flags = command.optsWithGlobals<ApiFlags & { json?: boolean }>();
      const view = await operatorApiFrom(flags, io).deviceCompliance(id);
      if (flags.json) {
        io.out(json(view));
        return;
      }
      if (view.bundleVersion === null) {
        io.out(`${id} has not reported compliance yet`);
        return;
      }
      io.out(
        [
          `device     ${view.deviceId}`,
          `segment    ${view.segment ?? '-'}`,
          `policy     version ${view.bundleVersion}${view.stale ? ' (expired bundle, still enforced)' : ''}`,
          `evaluated  ${when(view.evaluatedAt)}`,
          `compliant  ${percent(view.counts)}`,
          '',
          table(
            ['STATUS', 'CHECK', 'SEVERITY', 'SINCE', 'DETAIL', 'REMEDIATION'],
            view.checks.map((check) => [
              check.status.toUpperCase(),
              check.checkId,
              check.severity ?? '-',
              when(check.statusSince),
              check.detail,
              check.remediation === null ? '-' : `${check.remediation.outcome} ${when(check.remediation.at)}`,
            ]),
          ),
        ].join('\n'),
      );
    });
}

function percent(counts: ComplianceCountsView): string {
  return counts.percent === null ? '-' : `${counts.percent.toFixed(1)}%`;
}
