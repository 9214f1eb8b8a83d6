import { type EventView, formatDuration } from '@edgeward/core';
import type { Command } from 'commander';
import type { CliIo } from '../cli-io.ts';
import { type ApiFlags, operatorApiFrom } from '../operator-api-client.ts';
import { json, table } from '../output.ts';
import { withApiOptions } from './api-options.ts';

/** Receipt later (or earlier) than device time by at least this much is shown beside the receipt time. */
const SHOWN_SKEW_MS = 60_000;
const SUMMARY_CHARS = 60;

type EventFlags = ApiFlags & {
  device?: string;
  since?: string;
  until?: string;
  type?: string;
  severity?: string;
  limit: string;
  before?: string;
  json?: boolean;
};

export function registerEventCommands(program: Command, io: CliIo): void {
  withApiOptions(program.command('events'))
    .description('security events reported by devices, newest first by device time')
    .option('--device <id>', 'only this device')
    .option('--since <when>', 'from this device time on: 30m, 1h, 7d back from now, an ISO date, or epoch ms')
    .option('--until <when>', 'before this device time (same forms as --since)')
    .option('--type <type>', 'only this event type, e.g. auth.login_failed')
    .option('--severity <level>', 'at least this severity: info, low, medium, high or critical')
    .option('--limit <n>', 'at most this many, up to 1000', '100')
    .option('--before <cursor>', 'continue with older events: the cursor printed after a page')
    .option('--json', 'print as JSON')
    .addHelpText(
      'after',
      [
        '',
        'Times: TIME is the device clock, RECEIVED the manager clock; a difference of a minute or more',
        'is shown beside RECEIVED (delivery delay, or a device clock that is off).',
        '',
        'Examples:',
        '  $ edgeward events --since 1h',
        '  $ edgeward events --device dev-1234abcd5678ef90 --type auth.login_failed --severity high --limit 20',
        '  $ edgeward events --since 2026-05-01T00:00:00Z --until 2026-05-02T00:00:00Z --json',
      ].join('\n'),
    )
    .action(async (flags: EventFlags) => {
      const query = new URLSearchParams({ limit: flags.limit });
      for (const name of ['device', 'since', 'until', 'type', 'severity', 'before'] as const) {
        const value = flags[name];
        if (value !== undefined) query.set(name, value);
      }
      const page = await operatorApiFrom(flags, io).listEvents(query);
      if (flags.json) {
        io.out(json(page));
        return;
      }
      if (page.events.length === 0) {
        io.out('no events match');
        return;
      }
      io.out(
        table(
          ['TIME (DEVICE)', 'RECEIVED', 'DEVICE', 'SEVERITY', 'TYPE', 'DATA'],
          page.events.map((event) => [
            timestamp(event.time),
            received(event),
            event.deviceId,
            event.severity,
            event.type,
            summary(event.data),
          ]),
        ),
      );
      const more = page.nextBefore === null ? '' : ` — older: --before ${page.nextBefore}`;
      io.err(`${page.events.length} events${more}`);
    });
}

function timestamp(ms: number): string {
  return new Date(ms)
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d+Z$/, 'Z');
}

function received(event: EventView): string {
  const skew = event.receivedAt - event.time;
  if (Math.abs(skew) < SHOWN_SKEW_MS) return timestamp(event.receivedAt);
  return `${timestamp(event.receivedAt)} (${skew > 0 ? '+' : '-'}${formatDuration(Math.abs(skew))})`;
}

/** `user=root source=10.0.0.9 …`, cut to one short line. */
function summary(data: Record<string, unknown>): string {
  const text = Object.entries(data)
    .map(([key, value]) => `${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`)
    .join(' ');
  if (text === '') return '-';
  return text.length > SUMMARY_CHARS ? `${text.slice(0, SUMMARY_CHARS - 1)}…` : text;
}
