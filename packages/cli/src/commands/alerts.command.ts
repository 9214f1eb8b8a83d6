import {
  type AlertDetailView,
  type AlertView,
  alertDeliveryStates,
  alertResolutions,
  formatDuration,
  type ResolveAlertRequest,
} from '@edgeward/core';
import type { Command } from 'commander';
import type { CliIo } from '../cli-io.ts';
import { type ApiFlags, operatorApiFrom } from '../operator-api-client.ts';
import { json, table, UsageError, when } from '../output.ts';
import { withApiOptions } from './api-options.ts';

const GROUP_CHARS = 40;

type ListFlags = ApiFlags & {
  state?: string;
  tier?: string;
  severity?: string;
  rule?: string;
  device?: string;
  assignee?: string;
  since?: string;
  limit: string;
  before?: string;
  json?: boolean;
};

export function registerAlertCommands(program: Command, io: CliIo): void {
  const alerts = program
    .command('alerts')
    .description(
      'alerts raised by the detection rules: list, inspect, acknowledge, assign, resolve, measure noise',
    );

  withApiOptions(alerts.command('list'))
    .description('alerts, most recent activity first')
    .option('--state <state>', 'open, acknowledged, resolved or suppressed')
    .option('--tier <tier>', 'only this tier: info, low, medium, high or critical')
    .option('--severity <level>', 'at least this severity')
    .option('--rule <id>', 'only alerts of this rule')
    .option('--device <id>', 'only alerts naming this device')
    .option('--assignee <operator>', 'only alerts assigned to this operator (id or name)')
    .option('--since <when>', 'last signal since: 30m, 1h, 7d back from now, an ISO date, or epoch ms')
    .option('--limit <n>', 'at most this many, up to 1000', '100')
    .option('--before <cursor>', 'continue with older alerts: the cursor printed after a page')
    .option('--json', 'print as JSON')
    .addHelpText(
      'after',
      [
        '',
        'Examples:',
        '  $ edgeward alerts list --state open',
        '  $ edgeward alerts list --tier high --since 24h',
        '  $ edgeward alerts list --device dev-1234abcd5678ef90 --json',
      ].join('\n'),
    )
    .action(async (flags: ListFlags) => {
      const query = new URLSearchParams({ limit: flags.limit });
      for (const name of [
        'state',
        'tier',
        'severity',
        'rule',
        'device',
        'assignee',
        'since',
        'before',
      ] as const) {
        const value = flags[name];
        if (value !== undefined) query.set(name, value);
      }
      const page = await operatorApiFrom(flags, io).listAlerts(query);
      if (flags.json) {
        io.out(json(page));
        return;
      }
      if (page.alerts.length === 0) {
        io.out('no alerts match');
        return;
      }
      io.out(
        table(
          [
            'ID',
            'TIER',
            'SEVERITY',
            'STATE',
            'COUNT',
            'LAST SIGNAL',
            'RULE',
            'GROUP',
            'DEVICES',
            'ASSIGNEE',
            'SITE',
          ],
          page.alerts.map((alert) => [
            alert.id,
            alert.tier,
            alert.severity,
            stateText(alert),
            String(alert.count),
            shortTime(alert.lastSignalAt),
            alert.ruleTitle,
            groupText(alert),
            devicesText(alert),
            alert.assignee?.name ?? '-',
            alert.siteId ?? '-',
          ]),
        ),
      );
      const more = page.nextBefore === null ? '' : ` — older: --before ${page.nextBefore}`;
      io.err(`${page.alerts.length} alerts${more}`);
    });

  withApiOptions(alerts.command('show'))
    .description('one alert: what it found, its comments, its history and its notifications')
    .argument('<id>', 'alert id')
    .option('--json', 'print as JSON')
    .addHelpText('after', '\nExample:\n  $ edgeward alerts show alr-1234abcd5678ef90')
    .action(async (id: string, flags: ApiFlags & { json?: boolean }) => {
      const alert = await operatorApiFrom(flags, io).showAlert(id);
      io.out(flags.json ? json(alert) : describeAlert(alert));
    });

  withApiOptions(alerts.command('ack'))
    .description('acknowledge an alert: someone is on it')
    .argument('<id>', 'alert id')
    .option('--json', 'print as JSON')
    .addHelpText('after', '\nExample:\n  $ edgeward alerts ack alr-1234abcd5678ef90')
    .action(async (id: string, flags: ApiFlags & { json?: boolean }) => {
      const alert = await operatorApiFrom(flags, io).acknowledgeAlert(id);
      io.out(flags.json ? json(alert) : `acknowledged ${alert.id} (${alert.ruleTitle})`);
    });

  withApiOptions(alerts.command('resolve'))
    .description('resolve an alert (it reopens if its rule fires again)')
    .argument('<id>', 'alert id')
    .option('--false-positive', 'the rule was wrong: same as --resolution false-positive')
    .option('--resolution <kind>', `how it ended: ${alertResolutions.join(', ')}`, 'fixed')
    .option('-m, --message <note>', 'a note, kept as a comment')
    .option('--json', 'print as JSON')
    .addHelpText(
      'after',
      [
        '',
        'False-positive resolutions feed the noise figures of `edgeward alerts noise`.',
        '',
        'Examples:',
        "  $ edgeward alerts resolve alr-1234abcd5678ef90 -m 'patched sshd'",
        "  $ edgeward alerts resolve alr-1234abcd5678ef90 --false-positive -m 'backup job logs in as root'",
        '  $ edgeward alerts resolve alr-1234abcd5678ef90 --resolution accepted-risk',
      ].join('\n'),
    )
    .action(
      async (
        id: string,
        flags: ApiFlags & { falsePositive?: boolean; resolution: string; message?: string; json?: boolean },
      ) => {
        const resolution = flags.falsePositive ? 'false-positive' : flags.resolution;
        if (flags.falsePositive && flags.resolution !== 'fixed' && flags.resolution !== 'false-positive') {
          throw new UsageError(
            `--false-positive and --resolution ${flags.resolution} contradict each other; give one`,
          );
        }
        if (!(alertResolutions as readonly string[]).includes(resolution)) {
          throw new UsageError(`--resolution ${resolution} is not one of ${alertResolutions.join(', ')}`);
        }
        const request: ResolveAlertRequest = {
          resolution: resolution as ResolveAlertRequest['resolution'],
          ...(flags.message === undefined ? {} : { note: flags.message }),
        };
        const alert = await operatorApiFrom(flags, io).resolveAlert(id, request);
        io.out(flags.json ? json(alert) : `resolved ${alert.id} as ${alert.resolution ?? resolution}`);
      },
    );

  withApiOptions(alerts.command('assign'))
    .description('assign an alert to an operator (by id, or by a name only one operator has)')
    .argument('<id>', 'alert id')
    .argument('<operator>', 'operator id or name')
    .option('--json', 'print as JSON')
    .addHelpText('after', '\nExample:\n  $ edgeward alerts assign alr-1234abcd5678ef90 ada')
    .action(async (id: string, operator: string, flags: ApiFlags & { json?: boolean }) => {
      const alert = await operatorApiFrom(flags, io).assignAlert(id, operator);
      io.out(flags.json ? json(alert) : `assigned ${alert.id} to ${alert.assignee?.name ?? operator}`);
    });

  withApiOptions(alerts.command('comment'))
    .description('add a comment to an alert')
    .argument('<id>', 'alert id')
    .argument('<text>', 'the comment')
    .option('--json', 'print as JSON')
    .addHelpText(
      'after',
      "\nExample:\n  $ edgeward alerts comment alr-1234abcd5678ef90 'asked the site team to check the cabinet'",
    )
    .action(async (id: string, text: string, flags: ApiFlags & { json?: boolean }) => {
      const alert = await operatorApiFrom(flags, io).commentAlert(id, text);
      io.out(flags.json ? json(alert) : `commented on ${alert.id}`);
    });

  withApiOptions(alerts.command('suppress'))
    .description('silence an alert until a time: signals are still counted, nobody is notified')
    .argument('<id>', 'alert id')
    .requiredOption('--until <when>', 'a duration ahead (4h, 2d), an ISO date-time, or epoch ms')
    .option('-m, --message <note>', 'why, kept as a comment')
    .option('--json', 'print as JSON')
    .addHelpText(
      'after',
      "\nExample:\n  $ edgeward alerts suppress alr-1234abcd5678ef90 --until 4h -m 'maintenance on line 3'",
    )
    .action(async (id: string, flags: ApiFlags & { until: string; message?: string; json?: boolean }) => {
      const alert = await operatorApiFrom(flags, io).suppressAlert(id, flags.until, flags.message);
      io.out(
        flags.json
          ? json(alert)
          : `suppressed ${alert.id} until ${alert.suppressedUntil === null ? '-' : when(alert.suppressedUntil)}`,
      );
    });

  withApiOptions(alerts.command('noise'))
    .description('per rule: alerts per day, median time to acknowledge, share resolved as false positive')
    .option('--days <n>', 'the period, in days back from now', '7')
    .option('--json', 'print as JSON')
    .addHelpText(
      'after',
      [
        '',
        'Rules that raise often, sit long before anyone acknowledges them, or are mostly false positives',
        'are the ones to tune first.',
        '',
        'Examples:',
        '  $ edgeward alerts noise',
        '  $ edgeward alerts noise --days 30 --json',
      ].join('\n'),
    )
    .action(async (flags: ApiFlags & { days: string; json?: boolean }) => {
      const days = Number(flags.days);
      if (!Number.isInteger(days) || days < 1)
        throw new UsageError(`--days ${flags.days} must be a whole number, 1 or more`);
      const view = await operatorApiFrom(flags, io).alertNoise(days);
      if (flags.json) {
        io.out(json(view));
        return;
      }
      if (view.rules.length === 0) {
        io.out(`no alerts in the last ${view.days} days`);
        return;
      }
      io.out(
        table(
          [
            'RULE',
            'RAISED',
            'PER DAY',
            'MEDIAN ACK',
            'RESOLVED',
            'FALSE POS.',
            'AUTO',
            'UNRESOLVED',
            'TITLE',
          ],
          view.rules.map((rule) => [
            rule.ruleId,
            String(rule.raised),
            String(rule.alertsPerDay),
            rule.medianTimeToAcknowledgeMs === null ? '-' : formatDuration(rule.medianTimeToAcknowledgeMs),
            String(rule.resolved),
            rule.falsePositiveShare === null
              ? '-'
              : `${rule.falsePositive} (${Math.round(rule.falsePositiveShare * 100)}%)`,
            String(rule.autoResolved),
            String(rule.unresolved),
            rule.ruleTitle,
          ]),
        ),
      );
    });

  withApiOptions(alerts.command('deliveries'))
    .description('alert notifications to webhooks, MQTT, mail and syslog, newest first')
    .option('--state <state>', `only these: ${alertDeliveryStates.join(', ')}`)
    .option('--limit <n>', 'at most this many, up to 1000', '100')
    .option('--json', 'print as JSON')
    .addHelpText(
      'after',
      [
        '',
        'A failing notification is still retried, with backoff, until its destination takes it.',
        '',
        'Examples:',
        '  $ edgeward alerts deliveries --state failing',
        '  $ edgeward alerts deliveries --limit 20 --json',
      ].join('\n'),
    )
    .action(async (flags: ApiFlags & { state?: string; limit: string; json?: boolean }) => {
      const query = new URLSearchParams({ limit: flags.limit });
      if (flags.state !== undefined) query.set('state', flags.state);
      const { deliveries } = await operatorApiFrom(flags, io).alertDeliveries(query);
      if (flags.json) {
        io.out(json(deliveries));
        return;
      }
      if (deliveries.length === 0) {
        io.out('no notifications match');
        return;
      }
      io.out(
        table(
          ['ID', 'DESTINATION', 'STATE', 'ATTEMPTS', 'CREATED', 'ALERT / DIGEST', 'LAST ERROR'],
          deliveries.map((delivery) => [
            delivery.id,
            delivery.destination,
            delivery.state === 'delivered'
              ? 'delivered'
              : `${delivery.state} (next ${shortTime(delivery.nextAttemptAt)})`,
            String(delivery.attempts),
            shortTime(delivery.createdAt),
            delivery.alertId ?? delivery.digestKey ?? '-',
            delivery.lastError ?? '-',
          ]),
        ),
      );
    });
}

function shortTime(ms: number): string {
  return new Date(ms)
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d+Z$/, 'Z');
}

function stateText(alert: AlertView): string {
  if (alert.state === 'resolved') return `resolved (${alert.resolution ?? '-'})`;
  if (alert.state === 'suppressed' && alert.suppressedUntil !== null) {
    return `suppressed until ${shortTime(alert.suppressedUntil)}`;
  }
  return alert.state;
}

function groupText(alert: AlertView): string {
  const text = Object.entries(alert.groupFields)
    .map(([key, value]) => `${key}=${value}`)
    .join(' ');
  if (text === '') return '-';
  return text.length > GROUP_CHARS ? `${text.slice(0, GROUP_CHARS - 1)}…` : text;
}

function devicesText(alert: AlertView): string {
  if (alert.deviceIds.length <= 1) return alert.deviceIds[0] ?? '-';
  return `${alert.deviceIds[0]} +${alert.deviceIds.length - 1}`;
}

function describeAlert(alert: AlertDetailView): string {
  const lines = [
    `id:           ${alert.id}`,
    `rule:         ${alert.ruleTitle} (${alert.ruleId}, ${alert.kind}, from ${alert.siteId === null ? alert.source : `site ${alert.siteId}`})`,
    `group:        ${groupText(alert)}`,
    `state:        ${stateText(alert)}${alert.reopenedCount > 0 ? `, reopened ${alert.reopenedCount}×` : ''}`,
    `tier:         ${alert.tier} (severity ${alert.severity})`,
    `events:       ${alert.count}, ${shortTime(alert.firstSeen)} to ${shortTime(alert.lastSeen)} (device time)`,
    `devices:      ${alert.deviceIds.join(', ') || '-'}`,
    `assignee:     ${alert.assignee === null ? '-' : `${alert.assignee.name} (${alert.assignee.id})`}`,
    `opened:       ${when(alert.openedAt)}`,
    `acknowledged: ${alert.acknowledgedAt === null ? '-' : when(alert.acknowledgedAt)}`,
    `last signal:  ${when(alert.lastSignalAt)}`,
  ];
  if (alert.response.length > 0) lines.push(`response:     ${alert.response.join(', ')}`);
  if (alert.eventRefs.length > 0) {
    lines.push(
      `first events: ${alert.eventRefs
        .slice(0, 5)
        .map((ref) => `${ref.deviceId}#${ref.seq}`)
        .join(', ')}${alert.eventRefs.length > 5 ? ` (+${alert.eventRefs.length - 5})` : ''}`,
    );
  }
  if (alert.comments.length > 0) {
    lines.push('', 'comments:');
    for (const comment of alert.comments)
      lines.push(`  ${shortTime(comment.at)} ${comment.author}: ${comment.text}`);
  }
  if (alert.history.length > 0) {
    lines.push('', 'history:');
    for (const entry of alert.history) {
      const change = Object.keys(entry.change).length === 0 ? '' : ` ${JSON.stringify(entry.change)}`;
      lines.push(`  ${shortTime(entry.at)} ${entry.actor}: ${entry.kind}${change}`);
    }
  }
  if (alert.deliveries.length > 0) {
    lines.push('', 'notifications:');
    for (const delivery of alert.deliveries) {
      const error = delivery.lastError === null ? '' : ` — ${delivery.lastError}`;
      lines.push(
        `  ${shortTime(delivery.createdAt)} ${delivery.destination}: ${delivery.state} after ${delivery.attempts} attempt${delivery.attempts === 1 ? '' : 's'}${error}`,
      );
    }
  }
  return lines.join('\n');
}
