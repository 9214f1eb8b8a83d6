import type { Command } from 'commander';

/** The flags every operator-API command takes. */
export function withApiOptions(command: Command): Command {
  return command
    .option('--api <url>', 'operator API URL; EDGEWARD_API (default https://127.0.0.1:8444)')
    .option('--token <token>', 'operator API token; EDGEWARD_TOKEN (default: <data-dir>/admin.token)')
    .option(
      '--ca-file <file>',
      'fleet root CA certificate; EDGEWARD_CA_FILE (default <data-dir>/pki/root-ca.crt)',
    )
    .option('--data-dir <dir>', "the local manager's data directory; EDGEWARD_DATA_DIR (default .edgeward)");
}
