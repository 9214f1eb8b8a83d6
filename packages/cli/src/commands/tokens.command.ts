import { parseDuration } from '@edgeward/core';
import type { Command } from 'commander';
import type { CliIo } from '../cli-io.ts';
import { type ApiFlags, operatorApiFrom } from '../operator-api-client.ts';
import { json, labelsText, parseLabelFlags, table, when } from '../output.ts';
import { withApiOptions } from './api-options.ts';

const collect = (value: string, previous: string[] = []) => [...previous, value];

export function registerTokenCommands(program: Command, io: CliIo): void {
  const tokens = program.command('tokens').description('one-time enrollment tokens');

  withApiOptions(tokens.command('create'))
    .description('create a single-use enrollment token; devices enrolled with it get its labels')
    .option(
      '--label <key=value>',
      'label for the device (repeatable): site, risk, function, location, …',
      collect,
    )
    .option('--ttl <duration>', 'lifetime, e.g. 2h or 7d (default 24h)', '24h')
    .option('--json', 'print as JSON')
    .addHelpText(
      'after',
      '\nExample:\n  $ edgeward tokens create --label site=plant-a --label risk=high --ttl 2h',
    )
    .action(async (flags: ApiFlags & { label?: string[]; ttl: string; json?: boolean }) => {
      const api = operatorApiFrom(flags, io);
      const created = await api.createToken(
        parseLabelFlags(flags.label ?? []),
        parseDuration(flags.ttl, '--ttl'),
      );
      if (flags.json) {
        io.out(json(created));
        return;
      }
      io.out(
        [
          `token:   ${created.token}`,
          `id:      ${created.id}`,
          `labels:  ${labelsText(created.labels)}`,
          `expires: ${when(created.expiresAt)}`,
          'enroll a device with:',
          `  ${created.enrollCommand}`,
        ].join('\n'),
      );
    });

  withApiOptions(tokens.command('list'))
    .description('list enrollment tokens (active ones; --all for used, expired and revoked too)')
    .option('--all', 'include used, expired and revoked tokens')
    .addHelpText('after', '\nExample:\n  $ edgeward tokens list --all --json')
    .option('--json', 'print as JSON')
    .action(async (flags: ApiFlags & { all?: boolean; json?: boolean }) => {
      const { tokens: list } = await operatorApiFrom(flags, io).listTokens(flags.all === true);
      if (flags.json) {
        io.out(json(list));
        return;
      }
      io.out(
        table(
          ['ID', 'STATE', 'LABELS', 'EXPIRES', 'CREATED BY', 'DEVICE'],
          list.map((token) => [
            token.id,
            token.state,
            labelsText(token.labels),
            when(token.expiresAt),
            token.createdBy,
            token.usedByDeviceId ?? '-',
          ]),
        ),
      );
    });

  withApiOptions(tokens.command('revoke'))
    .description('revoke an enrollment token so that it can no longer enroll anything')
    .argument('<id>', 'token id (the part before the dot)')
    .addHelpText('after', '\nExample:\n  $ edgeward tokens revoke et-9360480d26c7e9ad')
    .option('--json', 'print as JSON')
    .action(async (id: string, flags: ApiFlags & { json?: boolean }) => {
      const token = await operatorApiFrom(flags, io).revokeToken(id.split('.')[0] ?? id);
      io.out(flags.json ? json(token) : `revoked ${token.id}`);
    });
}
