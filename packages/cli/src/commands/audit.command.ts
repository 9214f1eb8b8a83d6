import { readFile } from 'node:fs/promises';
import { type AuditExportBundle, auditExportText, EdgewardError, verifyExportText } from '@edgeward/core';
import type { Command } from 'commander';
import type { CliIo } from '../cli-io.ts';
import { type ApiFlags, operatorApiFrom } from '../operator-api-client.ts';
import { json, table } from '../output.ts';
import { withApiOptions } from './api-options.ts';

type VerifyFlags = ApiFlags & { file?: string; key?: string; device?: string; site?: string; json?: boolean };
type ExportFlags = ApiFlags & { since?: string };
type LogFlags = ApiFlags & { limit: string; before?: string; device?: string; site?: string; json?: boolean };

const DETAILS_CHARS = 60;

export function registerAuditCommands(program: Command, io: CliIo): void {
  const audit = program
    .command('audit')
    .description("the manager's tamper-evident audit chain: verify, export, read");

  withApiOptions(audit.command('verify'))
    .description('verify the audit chain on the manager, or an export file offline with the public key')
    .option('--file <file>', 'an export written by `edgeward audit export` (offline: no manager needed)')
    .option('--key <file>', "with --file: the manager's audit public key, pki/audit-signing.pub")
    .option('--device <id>', "a device's own chain, against the checkpoints the manager anchored")
    .option('--site <id>', "on a hub: a site's own chain, against the checkpoints the hub anchored")
    .option('--json', 'print as JSON')
    .addHelpText(
      'after',
      [
        '',
        'Exits 0 when the chain verifies; 5 (EW_AUDIT_CHAIN_BROKEN) naming the first bad sequence number',
        'and what is wrong there: edited, deleted, reordered, truncated or bad-checkpoint (an export also',
        'malformed or bad-signature).',
        '',
        'Examples:',
        '  $ edgeward audit verify',
        '  $ edgeward audit verify --file audit-2026-05.json --key audit-signing.pub',
        '  $ edgeward audit verify --device dev-1234abcd5678ef90',
        '  $ edgeward audit verify --site plant-1',
      ].join('\n'),
    )
    .action(async (flags: VerifyFlags) => {
      if (flags.device !== undefined || flags.site !== undefined) {
        if (flags.device !== undefined && flags.site !== undefined)
          throw usage('give --device or --site, not both');
        if (flags.file !== undefined || flags.key !== undefined)
          throw usage('--device and --site check on the manager; leave out --file and --key');
        const api = operatorApiFrom(flags, io);
        const [what, result] =
          flags.site !== undefined
            ? [`site ${flags.site}`, await api.verifySiteAudit(flags.site)]
            : [flags.device as string, await api.verifyDeviceAudit(flags.device as string)];
        if (flags.json) io.out(json(result));
        if (!result.ok) {
          const subject = flags.site !== undefined ? what : `device ${what}`;
          throw broken(result.firstBadSeq, result.problem, `${subject}: ${result.message}`);
        }
        if (!flags.json) {
          io.out(
            `the audit chain of ${what} verifies: ${result.entries} entries, ${result.anchors} anchors (last anchored: ${result.lastCheckpoint === null ? 'none yet' : `seq ${result.lastCheckpoint.seq}`})`,
          );
        }
        return;
      }
      if (flags.file === undefined) {
        if (flags.key !== undefined) throw usage('--key goes with --file: the export to verify offline');
        const result = await operatorApiFrom(flags, io).verifyAudit();
        if (flags.json) io.out(json(result));
        if (!result.ok) throw broken(result.firstBadSeq, result.problem, result.message);
        if (!flags.json) {
          const checkpoint =
            result.lastCheckpointSeq === null ? 'none yet' : `seq ${result.lastCheckpointSeq}`;
          io.out(
            `the audit chain verifies: ${result.entries} entries, ${result.checkpoints} checkpoints (last: ${checkpoint}), key ${result.keyId}`,
          );
        }
        return;
      }
      if (flags.key === undefined)
        throw usage('--file needs --key: the audit public key (pki/audit-signing.pub)');
      const [text, publicKeyPem] = await Promise.all([
        readInput(flags.file, 'the export'),
        readInput(flags.key, 'the audit public key'),
      ]);
      const result = verifyExportText(text, publicKeyPem);
      if (flags.json) io.out(json(result.ok ? { ...result, file: flags.file } : result));
      if (!result.ok) throw broken(result.firstBadSeq, result.problem, result.message);
      if (!flags.json) {
        const bundle = JSON.parse(text) as AuditExportBundle;
        const last = bundle.fromSeq + bundle.entries.length - 1;
        const checkpoint = result.lastCheckpoint === null ? 'none' : `seq ${result.lastCheckpoint.seq}`;
        io.out(
          `${flags.file} verifies: fleet ${bundle.fleet}, entries ${bundle.fromSeq}–${last} (${result.entries}), last checkpoint ${checkpoint}`,
        );
      }
    });

  withApiOptions(audit.command('export'))
    .description('write a signed export of the audit chain to standard output (admin)')
    .option('--since <when>', 'from this time on: 7d back from now, an ISO date, epoch ms, or seq:N')
    .addHelpText(
      'after',
      [
        '',
        'The file verifies offline with `edgeward audit verify --file FILE --key audit-signing.pub`; keep',
        'it byte for byte as written (it is canonical JSON: any change makes it fail).',
        '',
        'Examples:',
        '  $ edgeward audit export --since 7d > audit-week.json',
        '  $ edgeward audit export --since seq:1000 > audit-from-1000.json',
      ].join('\n'),
    )
    .action(async (flags: ExportFlags) => {
      const bundle = await operatorApiFrom(flags, io).exportAudit(flags.since);
      io.out(auditExportText(bundle));
      io.err(
        `${bundle.entries.length} entries from seq ${bundle.fromSeq}, ${bundle.checkpoints.length} checkpoints`,
      );
    });

  withApiOptions(audit.command('log'))
    .description('the audit chain, newest first')
    .option('--limit <n>', 'at most this many, up to 1000', '50')
    .option('--before <seq>', 'continue with older entries: the seq printed after a page')
    .option('--device <id>', "a device's own chain as the manager holds it, with the seqs anchored (*)")
    .option('--site <id>', "on a hub: a site's own chain as the hub holds it, with the seqs anchored (*)")
    .option('--json', 'print as JSON')
    .addHelpText(
      'after',
      [
        '',
        'Examples:',
        '  $ edgeward audit log',
        '  $ edgeward audit log --limit 200 --json',
        '  $ edgeward audit log --device dev-1234abcd5678ef90',
        '  $ edgeward audit log --site plant-1',
      ].join('\n'),
    )
    .action(async (flags: LogFlags) => {
      if (flags.device !== undefined || flags.site !== undefined) {
        const api = operatorApiFrom(flags, io);
        const what = flags.site !== undefined ? `site ${flags.site}` : `device ${flags.device}`;
        const chain =
          flags.site !== undefined
            ? await api.siteAuditChain(flags.site)
            : await api.deviceAuditChain(flags.device as string);
        if (flags.json) {
          io.out(json(chain));
          return;
        }
        const anchored = new Set(chain.anchors.map((anchor) => anchor.seq));
        const newest = [...chain.entries].reverse().slice(0, Number(flags.limit));
        io.out(
          newest.length === 0
            ? `${what} has sent no audit entries yet`
            : table(
                ['SEQ', 'TIME', 'KIND', 'ACTOR', 'SUBJECT', 'DETAILS'],
                newest.map((entry) => [
                  `${entry.seq}${anchored.has(entry.seq) ? '*' : ''}`,
                  new Date(entry.at).toISOString(),
                  entry.kind,
                  entry.actor,
                  entry.subject,
                  shorten(JSON.stringify(entry.details)),
                ]),
              ),
        );
        io.err(`${chain.entries.length} entries, ${chain.anchors.length} anchored checkpoints (*)`);
        return;
      }
      const query = new URLSearchParams({ limit: flags.limit });
      if (flags.before !== undefined) query.set('before', flags.before);
      const page = await operatorApiFrom(flags, io).auditEntries(query);
      if (flags.json) {
        io.out(json(page));
        return;
      }
      if (page.entries.length === 0) {
        io.out('the audit chain is empty');
        return;
      }
      io.out(
        table(
          ['SEQ', 'TIME', 'KIND', 'ACTOR', 'SUBJECT', 'DETAILS'],
          page.entries.map((entry) => [
            String(entry.seq),
            new Date(entry.at).toISOString(),
            entry.kind,
            entry.actor,
            entry.subject,
            shorten(JSON.stringify(entry.details)),
          ]),
        ),
      );
      const more = page.nextBefore === null ? '' : ` — older: --before ${page.nextBefore}`;
      io.err(`${page.entries.length} entries${more}`);
    });
}

function broken(firstBadSeq: number, problem: string, message: string): EdgewardError {
  const where = firstBadSeq === 0 ? '' : ` at seq ${firstBadSeq}`;
  return new EdgewardError(
    'EW_AUDIT_CHAIN_BROKEN',
    `the audit chain is broken${where} (${problem}): ${message}`,
    {
      details: { firstBadSeq, problem },
    },
  );
}

function usage(message: string): EdgewardError {
  return new EdgewardError('EW_CONFIG_INVALID', message);
}

async function readInput(path: string, what: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    throw new EdgewardError(
      'EW_CONFIG_INVALID',
      `${what} ${path} cannot be read (${(error as Error).message})`,
      {
        cause: error,
      },
    );
  }
}

function shorten(text: string): string {
  return text.length > DETAILS_CHARS ? `${text.slice(0, DETAILS_CHARS - 1)}…` : text;
}
