import { parseDuration, type RolloutDryRunView, type RolloutView } from '@edgeward/core';
import type { Command } from 'commander';
import type { CliIo } from '../cli-io.ts';
import { type ApiFlags, operatorApiFrom } from '../operator-api-client.ts';
import { json, parseLabelFlags, table, UsageError, when } from '../output.ts';
import { withApiOptions } from './api-options.ts';

const collect = (value: string, previous: string[] = []) => [...previous, value];
const FINAL_STATES: readonly RolloutView['state'][] = ['completed', 'aborted', 'rolled-back'];
const BAR_WIDTH = 24;

/** One line per phase: a bar of committed (█), failed (✗) and under way (▒) devices. */
export function phaseLines(view: RolloutView): string[] {
  return view.phaseViews.map((phase) => {
    const cells = (count: number) =>
      phase.devices === 0 ? 0 : Math.round((count / phase.devices) * BAR_WIDTH);
    const done = cells(phase.committed);
    const failed = Math.min(BAR_WIDTH - done, cells(phase.failed + phase.rolledBack));
    const busy = Math.min(BAR_WIDTH - done - failed, cells(phase.inProgress));
    const bar = `${'█'.repeat(done)}${'✗'.repeat(failed)}${'▒'.repeat(busy)}${'·'.repeat(BAR_WIDTH - done - failed - busy)}`;
    const marker = phase.index === view.currentPhase && view.state === 'running' ? '▶' : ' ';
    return `${marker} ${phase.label.padEnd(10)} [${bar}] ${phase.committed}/${phase.devices} committed, ${phase.failed + phase.rolledBack} failed, ${phase.inProgress} under way, ${phase.skipped} skipped`;
  });
}

function statusText(view: RolloutView): string {
  return [
    `rollout ${view.id}: ${view.artifact.name}@${view.artifact.version} — ${view.state}${view.reason === null ? '' : ` (${view.reason})`}`,
    ...phaseLines(view),
  ].join('\n');
}

function percent(text: string): number {
  const value = Number(text.replace(/%$/, ''));
  if (!Number.isFinite(value) || value < 0 || value > 100)
    throw new UsageError(`--min-success ${text} is not a percentage`);
  return value;
}

export function registerRolloutCommands(program: Command, io: CliIo): void {
  const rollouts = program.command('rollouts').description('staged rollouts of artifacts with health gates');

  withApiOptions(rollouts.command('create'))
    .description('create a rollout (then `rollouts start`); --dry-run shows the phases, canaries and windows')
    .requiredOption('--artifact <name@version>', 'the artifact to roll out')
    .option(
      '--selector <key=value>',
      'devices whose labels match (repeatable; all devices when none)',
      collect,
    )
    .option(
      '--phases <plan>',
      'canary:N first, then cumulative percentages ending at 100%',
      'canary:5,25%,100%',
    )
    .option('--max-failures <n>', 'a phase breaches once more devices than this failed', '0')
    .option('--min-success <percent>', 'share of finished devices of a phase that must succeed', '100%')
    .option(
      '--alert-severity <severity>',
      'a new alert of this severity or above on an updated device is a failure',
      'high',
    )
    .option(
      '--soak <duration>',
      'wait this long after a phase finished, gates holding, before the next',
      '0s',
    )
    .option('--respect-windows', "install only inside the device segment's maintenance window")
    .option('--site-concurrency <n>', 'at most this many devices of one site update at once')
    .option('--site-label <label>', 'the label that names a site', 'site')
    .option(
      '--offline-deadline <duration>',
      'a device that has not started this long after its turn is skipped',
      '24h',
    )
    .option('--below-floor-reason <text>', 'allow a version below the anti-downgrade floor (audited)')
    .option('--dry-run', 'show the plan without creating the rollout')
    .option('--json', 'print as JSON')
    .addHelpText(
      'after',
      '\nExample:\n  $ edgeward rollouts create --artifact gw-image@2.4.1 --selector segment=gateways --phases canary:5,25%,100% --max-failures 1 --min-success 95% --soak 30m --respect-windows',
    )
    .action(
      async (
        flags: ApiFlags & {
          artifact: string;
          selector?: string[];
          phases: string;
          maxFailures: string;
          minSuccess: string;
          alertSeverity: 'critical' | 'high' | 'medium';
          soak: string;
          respectWindows?: boolean;
          siteConcurrency?: string;
          siteLabel: string;
          offlineDeadline: string;
          belowFloorReason?: string;
          dryRun?: boolean;
          json?: boolean;
        },
      ) => {
        const at = flags.artifact.lastIndexOf('@');
        if (at <= 0) throw new UsageError(`--artifact ${flags.artifact} must be NAME@VERSION`);
        const result = await operatorApiFrom(flags, io).createRollout({
          artifact: { name: flags.artifact.slice(0, at), version: flags.artifact.slice(at + 1) },
          selector: parseLabelFlags(flags.selector ?? []),
          phases: flags.phases,
          gates: {
            maxFailures: Number.parseInt(flags.maxFailures, 10),
            minSuccessPercent: percent(flags.minSuccess),
            alertSeverity: flags.alertSeverity,
          },
          soakMs: parseDuration(flags.soak, '--soak'),
          respectWindows: flags.respectWindows === true,
          ...(flags.siteConcurrency === undefined
            ? {}
            : { siteConcurrency: Number.parseInt(flags.siteConcurrency, 10) }),
          siteLabel: flags.siteLabel,
          offlineDeadlineMs: parseDuration(flags.offlineDeadline, '--offline-deadline'),
          dryRun: flags.dryRun === true,
          ...(flags.belowFloorReason === undefined ? {} : { belowFloorReason: flags.belowFloorReason }),
        });
        if (flags.json) {
          io.out(json(result));
          return;
        }
        if ('canaries' in result) {
          const plan = result as RolloutDryRunView;
          io.out(
            [
              ...plan.phases.map(
                (phase) =>
                  `${phase.label.padEnd(10)} ${phase.deviceIds.length} device(s): ${phase.deviceIds.join(' ')}`,
              ),
              `canaries: ${plan.canaries.join(' ') || '-'}`,
              `outside their maintenance window now: ${plan.outsideWindow.join(' ') || '-'}`,
            ].join('\n'),
          );
          return;
        }
        io.out(`${statusText(result)}\nstart it with: edgeward rollouts start ${result.id}`);
      },
    );

  withApiOptions(rollouts.command('list'))
    .description('list rollouts, newest first')
    .addHelpText('after', '\nExample:\n  $ edgeward rollouts list')
    .option('--json', 'print as JSON')
    .action(async (flags: ApiFlags & { json?: boolean }) => {
      const { rollouts: list } = await operatorApiFrom(flags, io).listRollouts();
      if (flags.json) {
        io.out(json(list));
        return;
      }
      io.out(
        table(
          ['ID', 'ARTIFACT', 'STATE', 'PHASE', 'CREATED'],
          list.map((view) => [
            view.id,
            `${view.artifact.name}@${view.artifact.version}`,
            view.state,
            view.phaseViews[view.currentPhase]?.label ?? '-',
            when(view.createdAt),
          ]),
        ),
      );
    });

  for (const action of ['start', 'pause', 'resume', 'abort', 'rollback'] as const) {
    withApiOptions(rollouts.command(action))
      .description(
        {
          start: 'start a created rollout at its first phase',
          pause: 'pause: devices under way finish, no new device starts',
          resume: 'resume a paused rollout',
          abort: 'abort: devices that took the update roll back, the others never start',
          rollback: 'roll back every device that took the update (also after completion)',
        }[action],
      )
      .argument('<id>', 'rollout id')
      .option('--reason <text>', 'why (recorded in the audit chain)')
      .addHelpText('after', `\nExample:\n  $ edgeward rollouts ${action} ro-2f1c… --reason "change 4711"`)
      .option('--json', 'print as JSON')
      .action(async (id: string, flags: ApiFlags & { reason?: string; json?: boolean }) => {
        const view = await operatorApiFrom(flags, io).actOnRollout(id, action, flags.reason);
        io.out(flags.json ? json(view) : statusText(view));
      });
  }

  withApiOptions(rollouts.command('status'))
    .description('show a rollout and its phases')
    .addHelpText('after', '\nExample:\n  $ edgeward rollouts status ro-2f1c… --json')
    .argument('<id>', 'rollout id')
    .option('--json', 'print as JSON')
    .action(async (id: string, flags: ApiFlags & { json?: boolean }) => {
      const view = await operatorApiFrom(flags, io).rollout(id);
      io.out(flags.json ? json(view) : statusText(view));
    });

  withApiOptions(rollouts.command('watch'))
    .description(
      'follow a rollout with a live progress bar per phase until it ends (Ctrl-C to stop watching)',
    )
    .addHelpText('after', '\nExample:\n  $ edgeward rollouts watch ro-2f1c…')
    .argument('<id>', 'rollout id')
    .option('--interval <duration>', 'how often to refresh', '1s')
    .action(async (id: string, flags: ApiFlags & { interval: string }) => {
      const api = operatorApiFrom(flags, io);
      const intervalMs = parseDuration(flags.interval, '--interval');
      let stop = false;
      void io.stopRequested.then(() => {
        stop = true;
      });
      let previousLines = 0;
      let previousText = '';
      for (;;) {
        const view = await api.rollout(id);
        const text = statusText(view);
        if (io.isTty) {
          // Redraw in place: move the cursor up over the previous frame and clear below it.
          io.out(`${previousLines > 0 ? `\x1b[${previousLines}A\x1b[J` : ''}${text}`);
          previousLines = text.split('\n').length;
        } else if (text !== previousText) {
          io.out(text);
        }
        previousText = text;
        if (stop || FINAL_STATES.includes(view.state)) return;
        await new Promise((resolve) => setTimeout(resolve, intervalMs));
      }
    });
}
