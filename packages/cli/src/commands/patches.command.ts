import { formatDuration } from '@edgeward/core';
import type { Command } from 'commander';
import type { CliIo } from '../cli-io.ts';
import { type ApiFlags, operatorApiFrom } from '../operator-api-client.ts';
import { json, table, when } from '../output.ts';
import { withApiOptions } from './api-options.ts';

export function registerPatchCommands(program: Command, io: CliIo): void {
  const patches = program.command('patches').description('patch latency against the policy SLA');

  withApiOptions(patches.command('sla'))
    .description(
      "devices in breach of the patch SLA: a release newer than what they run, past its severity's SLA",
    )
    .addHelpText('after', '\nExample:\n  $ edgeward patches sla --json')
    .option('--json', 'print as JSON')
    .action(async (flags: ApiFlags & { json?: boolean }) => {
      const { breaches } = await operatorApiFrom(flags, io).patchSla();
      if (flags.json) {
        io.out(json(breaches));
        return;
      }
      if (breaches.length === 0) {
        io.out('no device is in breach of the patch SLA');
        return;
      }
      io.out(
        table(
          ['DEVICE', 'ARTIFACT', 'RUNS', 'SEVERITY', 'SLA', 'RELEASED', 'DUE'],
          breaches.map((breach) => [
            breach.deviceId,
            `${breach.name}@${breach.version}`,
            breach.running ?? '-',
            breach.severity,
            formatDuration(breach.slaMs),
            when(breach.releasedAt),
            when(breach.dueAt),
          ]),
        ),
      );
    });
}
