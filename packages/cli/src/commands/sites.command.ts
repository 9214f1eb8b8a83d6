import { parseDuration, type SiteView } from '@edgeward/core';
import type { Command } from 'commander';
import type { CliIo } from '../cli-io.ts';
import { type ApiFlags, operatorApiFrom } from '../operator-api-client.ts';
import { json, table, when } from '../output.ts';
import { withApiOptions } from './api-options.ts';

export function registerSiteCommands(program: Command, io: CliIo): void {
  const sites = program
    .command('sites')
    .description('site managers of this hub, or the lower sites of a region (federation)');

  withApiOptions(sites.command('create'))
    .description('declare a site and print the one-time token it starts with')
    .argument('<id>', 'site id: lower-case letters, digits and "-"')
    .option('--name <text>', 'a readable name')
    .option('--max-offline <duration>', 'offline budget: how long it may run cut off (default 3d)', '3d')
    .option('--ttl <duration>', 'lifetime of the token (default 24h)', '24h')
    .option('--region', 'on the hub: a region, which may create lower sites of its own')
    .option('--json', 'print as JSON')
    .addHelpText(
      'after',
      '\nExamples:\n  $ edgeward sites create plant-1 --name "Plant 1" --max-offline 7d\n  $ edgeward sites create north --region --max-offline 7d\n  $ edgeward sites create plant-7 --max-offline 3d --data-dir ./site-north  # on the region',
    )
    .action(
      async (
        id: string,
        flags: ApiFlags & {
          name?: string;
          maxOffline: string;
          ttl: string;
          region?: boolean;
          json?: boolean;
        },
      ) => {
        const created = await operatorApiFrom(flags, io).createSite({
          id,
          ...(flags.name === undefined ? {} : { name: flags.name }),
          ...(flags.region === true ? { region: true } : {}),
          maxOfflineMs: parseDuration(flags.maxOffline, '--max-offline'),
          ttlMs: parseDuration(flags.ttl, '--ttl'),
        });
        if (flags.json) {
          io.out(json(created));
          return;
        }
        io.out(
          [
            `site:  ${created.id}`,
            `token: ${created.token}`,
            'start the site manager with:',
            `  ${created.startCommand}`,
          ].join('\n'),
        );
      },
    );

  withApiOptions(sites.command('list'))
    .description('every site: link state, last sync, backlog, offline budget left, conflicts')
    .addHelpText('after', '\nExample:\n  $ edgeward sites list --json')
    .option('--json', 'print as JSON')
    .action(async (flags: ApiFlags & { json?: boolean }) => {
      const { sites: list } = await operatorApiFrom(flags, io).listSites();
      if (flags.json) {
        io.out(json(list));
        return;
      }
      io.out(
        table(
          ['ID', 'LINK', 'LAST SYNC', 'BACKLOG', 'BUDGET LEFT', 'DEVICES', 'CONFLICTS'],
          list.map((site) => [
            site.id,
            site.link,
            site.lastSyncAt === null ? '-' : when(site.lastSyncAt),
            String(site.backlog),
            budgetText(site),
            String(site.devices),
            String(site.conflicts),
          ]),
        ),
      );
    });

  withApiOptions(sites.command('show'))
    .description('one site in detail')
    .addHelpText('after', '\nExample:\n  $ edgeward sites show plant-1')
    .argument('<id>', 'site id')
    .option('--json', 'print as JSON')
    .action(async (id: string, flags: ApiFlags & { json?: boolean }) => {
      const site = await operatorApiFrom(flags, io).showSite(id);
      if (flags.json) {
        io.out(json(site));
        return;
      }
      io.out(
        [
          `site:           ${site.id} (${site.name})`,
          `link:           ${site.link}`,
          `enrolled:       ${site.enrolledAt === null ? '-' : when(site.enrolledAt)}`,
          `last sync:      ${site.lastSyncAt === null ? '-' : when(site.lastSyncAt)}`,
          `backlog:        ${site.backlog} events`,
          `offline budget: ${hours(site.maxOfflineMs)}, ${budgetText(site)} left`,
          `site CA until:  ${site.caNotAfter === null ? '-' : when(site.caNotAfter)}`,
          `devices:        ${site.devices}`,
          `conflicts:      ${site.conflicts}`,
          ...(site.revokedAt === null ? [] : [`revoked:        ${when(site.revokedAt)}`]),
        ].join('\n'),
      );
    });

  withApiOptions(sites.command('revoke'))
    .description(
      'revoke a whole site (admin): its delegated CA goes into the root CRL, the hub refuses the site and its devices',
    )
    .argument('<id>', 'site id')
    .option('--reason <text>', 'why, for the audit chain', 'revoked by an operator')
    .option('--json', 'print as JSON')
    .addHelpText(
      'after',
      [
        '',
        'It cannot be undone: a replacement is a new site (`edgeward sites create`), whose devices enroll again.',
        '',
        'Example:',
        '  $ edgeward sites revoke plant-1 --reason "site server stolen"',
      ].join('\n'),
    )
    .action(async (id: string, flags: ApiFlags & { reason: string; json?: boolean }) => {
      const site = await operatorApiFrom(flags, io).revokeSite(id, flags.reason);
      if (flags.json) {
        io.out(json(site));
        return;
      }
      io.out(`site ${site.id} revoked: the hub refuses it and every device it enrolled`);
    });
}

function budgetText(site: SiteView): string {
  return site.budgetLeftMs === null ? '-' : hours(site.budgetLeftMs);
}

function hours(ms: number): string {
  return ms >= 86_400_000 ? `${(ms / 86_400_000).toFixed(1)}d` : `${(ms / 3_600_000).toFixed(1)}h`;
}
