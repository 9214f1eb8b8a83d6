import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import type { CliIo } from '../cli-io.ts';
import { type ApiFlags, operatorApiFrom } from '../operator-api-client.ts';
import { json, parseLabelFlags, table, when } from '../output.ts';
import { withApiOptions } from './api-options.ts';

const collect = (value: string, previous: string[] = []) => [...previous, value];

export function registerArtifactCommands(program: Command, io: CliIo): void {
  const artifacts = program.command('artifacts').description('update artifacts, signed with TUF metadata');

  withApiOptions(artifacts.command('upload'))
    .description('store a file content-addressed and publish its signed TUF target')
    .argument('<file>', 'the artifact (image, bundle, package)')
    .requiredOption('--name <name>', 'artifact name, e.g. firmware')
    .requiredOption('--version <version>', 'its version; never reused with other content')
    .option('--compat <key=value>', 'what a device must match to install it (repeatable)', collect)
    .option('--severity <severity>', 'critical, high, medium, low or info: decides its patch SLA', 'medium')
    .option('--json', 'print as JSON')
    .addHelpText(
      'after',
      '\nExample:\n  $ edgeward artifacts upload gw-image-2.4.1.raucb --name gw-image --version 2.4.1 --compat board=imx8 --severity critical',
    )
    .action(
      async (
        file: string,
        flags: ApiFlags & {
          name: string;
          version: string;
          compat?: string[];
          severity: string;
          json?: boolean;
        },
      ) => {
        const query = new URLSearchParams({
          name: flags.name,
          version: flags.version,
          severity: flags.severity,
          compat: JSON.stringify(parseLabelFlags(flags.compat ?? [])),
        });
        const artifact = await operatorApiFrom(flags, io).uploadArtifact(await readFile(file), query);
        io.out(
          flags.json
            ? json(artifact)
            : `published ${artifact.name}@${artifact.version}: ${artifact.length} bytes, sha256 ${artifact.sha256}`,
        );
      },
    );

  withApiOptions(artifacts.command('list'))
    .description('list artifacts and the anti-downgrade floors')
    .addHelpText('after', '\nExample:\n  $ edgeward artifacts list --json')
    .option('--json', 'print as JSON')
    .action(async (flags: ApiFlags & { json?: boolean }) => {
      const view = await operatorApiFrom(flags, io).listArtifacts();
      if (flags.json) {
        io.out(json(view));
        return;
      }
      io.out(
        table(
          ['NAME', 'VERSION', 'SEVERITY', 'BYTES', 'SHA256', 'RELEASED', 'FLOOR'],
          view.artifacts.map((artifact) => [
            artifact.name,
            artifact.version,
            artifact.severity,
            String(artifact.length),
            artifact.sha256.slice(0, 16),
            when(artifact.releasedAt),
            view.floors[artifact.name] ?? '-',
          ]),
        ),
      );
    });

  withApiOptions(artifacts.command('floor'))
    .description('set the fleet-wide minimum version of an artifact (anti-downgrade); only ever raised')
    .argument('<name>', 'artifact name')
    .argument('<version>', 'the lowest version rollouts may install')
    .addHelpText('after', '\nExample:\n  $ edgeward artifacts floor gw-image 2.4.0')
    .action(async (name: string, version: string, flags: ApiFlags) => {
      await operatorApiFrom(flags, io).setArtifactFloor(name, version);
      io.out(`floor of ${name} is now ${version}`);
    });
}
