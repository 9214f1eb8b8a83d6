import { readFile, writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import type { CliIo } from '../cli-io.ts';
import { type ApiFlags, operatorApiFrom } from '../operator-api-client.ts';
import { withApiOptions } from './api-options.ts';

const collect = (value: string, previous: string[] = []) => [...previous, value];

/**
 * Root changes by detached signing: the draft comes from the manager, each root key holder signs it on
 * their own machine (`tuf sign`, no manager needed), and the signed root goes back (`tuf root-install`).
 */
export function registerTufCommands(program: Command, io: CliIo): void {
  const tuf = program.command('tuf').description("the fleet's TUF root: new root keys and k-of-n signatures");

  withApiOptions(tuf.command('root-draft'))
    .description('draft the next root version with these root public keys and threshold (unsigned)')
    .requiredOption('--key <file>', 'a root public key, SPKI PEM (repeatable)', collect)
    .requiredOption('--threshold <k>', 'signatures of these keys the root needs')
    .requiredOption('--out <file>', 'where to write the draft')
    .addHelpText(
      'after',
      '\nExample:\n  $ edgeward tuf root-draft --key alice.pub --key bob.pub --key carol.pub --threshold 2 --out root.json',
    )
    .action(async (flags: ApiFlags & { key: string[]; threshold: string; out: string }) => {
      const keys = await Promise.all(flags.key.map((file) => readFile(file, 'utf8')));
      const { root } = await operatorApiFrom(flags, io).tufRootDraft(
        keys,
        Number.parseInt(flags.threshold, 10),
      );
      await writeFile(flags.out, root);
      io.out(`wrote ${flags.out}; sign it with \`edgeward tuf sign ${flags.out} --key <private key>\``);
    });

  tuf
    .command('sign')
    .description('add a signature to a root draft with a private key held here (offline; no manager needed)')
    .addHelpText('after', '\nExample:\n  $ edgeward tuf sign root.json --key alice.key')
    .argument('<file>', 'the draft (signed in place)')
    .requiredOption('--key <file>', 'Ed25519 private key, PKCS#8 PEM')
    .action(async (file: string, flags: { key: string }) => {
      const { signMetadataJson } = await import('@edgeward/manager');
      await writeFile(
        file,
        signMetadataJson(await readFile(file, 'utf8'), await readFile(flags.key, 'utf8')),
      );
      io.out(`signed ${file}`);
    });

  withApiOptions(tuf.command('root-install'))
    .description('install a signed root: it needs the threshold of the current root keys and of its own')
    .addHelpText('after', '\nExample:\n  $ edgeward tuf root-install root.json')
    .argument('<file>', 'the signed root')
    .action(async (file: string, flags: ApiFlags) => {
      const { version } = await operatorApiFrom(flags, io).installTufRoot(await readFile(file, 'utf8'));
      io.out(`root version ${version} is in force; devices pick it up at their next update check`);
    });
}
