import type { Command } from 'commander';
import type { CliIo } from '../cli-io.ts';
import { type ApiFlags, operatorApiFrom } from '../operator-api-client.ts';
import { json, table, UsageError, when } from '../output.ts';
import { withApiOptions } from './api-options.ts';

export function registerOperatorCommands(program: Command, io: CliIo): void {
  const operators = program
    .command('operators')
    .description('operator API tokens and their roles (admin only)');

  withApiOptions(operators.command('create'))
    .description('create an operator API token with a role: viewer (read), operator (read, act), admin (all)')
    .argument('<name>', 'who will use it, e.g. alice or siem-integration')
    .requiredOption('--role <role>', 'viewer, operator or admin')
    .option('--json', 'print as JSON')
    .addHelpText('after', '\nExample:\n  $ edgeward operators create alice --role operator')
    .action(async (name: string, flags: ApiFlags & { role: string; json?: boolean }) => {
      if (!['viewer', 'operator', 'admin'].includes(flags.role)) {
        throw new UsageError(`--role ${flags.role} is not a role; use viewer, operator or admin`);
      }
      const created = await operatorApiFrom(flags, io).createOperator(name, flags.role);
      io.out(
        flags.json
          ? json(created)
          : `created ${created.role} ${created.name} (${created.id})\ntoken (shown once): ${created.token}`,
      );
    });

  withApiOptions(operators.command('list'))
    .description('list operators')
    .option('--all', 'include revoked operators')
    .addHelpText('after', '\nExample:\n  $ edgeward operators list --all')
    .option('--json', 'print as JSON')
    .action(async (flags: ApiFlags & { all?: boolean; json?: boolean }) => {
      const { operators: list } = await operatorApiFrom(flags, io).listOperators(flags.all === true);
      io.out(
        flags.json
          ? json(list)
          : table(
              ['ID', 'NAME', 'ROLE', 'CREATED', 'BY', 'REVOKED'],
              list.map((operator) => [
                operator.id,
                operator.name,
                operator.role,
                when(operator.createdAt),
                operator.createdBy,
                operator.revokedAt === null ? '-' : when(operator.revokedAt),
              ]),
            ),
      );
    });

  withApiOptions(operators.command('revoke'))
    .description("revoke an operator's token")
    .argument('<id>', 'operator id')
    .addHelpText('after', '\nExample:\n  $ edgeward operators revoke op-5f0c2d9e8a7b6c41')
    .option('--json', 'print as JSON')
    .action(async (id: string, flags: ApiFlags & { json?: boolean }) => {
      const operator = await operatorApiFrom(flags, io).revokeOperator(id);
      io.out(flags.json ? json(operator) : `revoked ${operator.name} (${operator.id})`);
    });
}
