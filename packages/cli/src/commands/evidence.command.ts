import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import {
  certificateDerSha256,
  EdgewardError,
  type EvidenceManifest,
  type EvidenceView,
  verifyEvidence,
} from '@edgeward/core';
import type { Command } from 'commander';
import type { CliIo } from '../cli-io.ts';
import { type ApiFlags, operatorApiFrom } from '../operator-api-client.ts';
import { json, table, UsageError, when } from '../output.ts';
import { withApiOptions } from './api-options.ts';

/** What `evidence download` writes next to the bundle, and `evidence verify --dir` reads back. */
interface DownloadedManifest {
  readonly manifest: EvidenceManifest;
  readonly signature: string;
  readonly certificatePem: string;
}

export function registerEvidenceCommands(program: Command, io: CliIo): void {
  const evidence = program
    .command('evidence')
    .description('forensic evidence captured on devices: list, show, download, verify');

  withApiOptions(evidence.command('list'))
    .description('evidence bundles, newest first')
    .option('--device <id>', 'only bundles of this device')
    .option('--limit <n>', 'at most this many (default 100)', '100')
    .option('--json', 'print as JSON')
    .addHelpText('after', '\nExample:\n  $ edgeward evidence list --device dev-1234abcd5678ef90')
    .action(async (flags: ApiFlags & { device?: string; limit: string; json?: boolean }) => {
      const query = new URLSearchParams({ limit: flags.limit });
      if (flags.device !== undefined) query.set('device', flags.device);
      const { evidence: bundles } = await operatorApiFrom(flags, io).listEvidence(query);
      if (flags.json) {
        io.out(json(bundles));
        return;
      }
      if (bundles.length === 0) {
        io.out('no evidence yet');
        return;
      }
      io.out(
        table(
          ['ID', 'DEVICE', 'STATE', 'TRIGGER', 'ITEMS', 'BYTES', 'COLLECTED'],
          bundles.map((bundle) => [
            bundle.id,
            bundle.deviceId,
            bundle.state,
            bundle.trigger === 'rule' ? `rule ${bundle.ruleId ?? ''}` : 'command',
            String(bundle.items),
            progress(bundle),
            when(bundle.collectedAt),
          ]),
        ),
      );
    });

  withApiOptions(evidence.command('show'))
    .description('an evidence bundle: its state, items with their SHA-256, and what was skipped')
    .argument('<id>', 'evidence bundle id')
    .option('--json', 'print as JSON (manifest, signature and device certificate)')
    .addHelpText('after', '\nExample:\n  $ edgeward evidence show 6f1c2a9e-…')
    .action(async (id: string, flags: ApiFlags & { json?: boolean }) => {
      const detail = await operatorApiFrom(flags, io).showEvidence(id);
      if (flags.json) {
        io.out(json(detail));
        return;
      }
      const lines = [
        `id:         ${detail.id}`,
        `device:     ${detail.deviceId}`,
        `state:      ${detail.state}${detail.problem === null ? '' : ` (${detail.problem})`}`,
        `trigger:    ${detail.trigger === 'rule' ? `rule ${detail.ruleId}` : `command ${detail.commandId}`}`,
        `reason:     ${detail.reason}`,
        `collected:  ${when(detail.collectedAt)}`,
        `size:       ${progress(detail)} (cap ${detail.manifest.capBytes})`,
        `sha256:     ${detail.sha256}`,
        '',
        table(
          ['ITEM', 'BYTES', 'SHA-256', ''],
          detail.manifest.items.map((item) => [
            item.name,
            String(item.bytes),
            item.sha256,
            item.truncated ? 'cut at the cap' : '',
          ]),
        ),
      ];
      for (const skipped of detail.manifest.skipped) lines.push(`skipped ${skipped.path}: ${skipped.reason}`);
      io.out(lines.join('\n'));
    });

  withApiOptions(evidence.command('download'))
    .description('download a verified bundle into a folder, check it, and unpack its items')
    .argument('<id>', 'evidence bundle id')
    .requiredOption('--out <dir>', 'the folder to write (bundle.bin, manifest.json, items/)')
    .addHelpText('after', '\nExample:\n  $ edgeward evidence download 6f1c… --out ./case-42')
    .action(async (id: string, flags: ApiFlags & { out: string }) => {
      const api = operatorApiFrom(flags, io);
      const detail = await api.showEvidence(id);
      const bundle = await api.evidenceContent(id);
      const verdict = verifyEvidence(detail.manifest, detail.signature, detail.certificatePem, bundle);
      await mkdir(flags.out, { recursive: true });
      const manifest: DownloadedManifest = {
        manifest: detail.manifest,
        signature: detail.signature,
        certificatePem: detail.certificatePem,
      };
      await writeFile(join(flags.out, 'manifest.json'), json(manifest));
      await writeFile(join(flags.out, 'bundle.bin'), bundle);
      if (!verdict.ok) throw invalid(id, verdict.message);
      for (const item of detail.manifest.items) {
        const path = join(flags.out, 'items', ...safeSegments(item.name));
        await mkdir(dirname(path), { recursive: true });
        await writeFile(path, bundle.subarray(item.offset, item.offset + item.bytes));
      }
      io.out(
        `${id}: ${detail.manifest.items.length} items, ${bundle.length} bytes, signature and hashes verify; written to ${flags.out}`,
      );
    });

  withApiOptions(evidence.command('verify'))
    .description(
      "check a bundle's signature (device certificate) and every hash, from the manager or a download folder",
    )
    .argument('[id]', 'evidence bundle id (downloaded and checked here, not by the manager)')
    .option('--dir <dir>', 'a folder written by `evidence download` (offline: no manager needed)')
    .option('--json', 'print as JSON')
    .addHelpText(
      'after',
      '\nExits 0 when it verifies, 2 (EW_EVIDENCE_INVALID) naming what does not.\n\nExamples:\n  $ edgeward evidence verify 6f1c…\n  $ edgeward evidence verify --dir ./case-42',
    )
    .action(async (id: string | undefined, flags: ApiFlags & { dir?: string; json?: boolean }) => {
      let downloaded: DownloadedManifest;
      let bundle: Buffer;
      if (flags.dir !== undefined) {
        if (id !== undefined) throw new UsageError('give a bundle id or --dir, not both');
        downloaded = JSON.parse(
          await readFile(join(flags.dir, 'manifest.json'), 'utf8'),
        ) as DownloadedManifest;
        bundle = await readFile(join(flags.dir, 'bundle.bin'));
      } else {
        if (id === undefined) throw new UsageError('give the bundle id, or --dir with a downloaded bundle');
        const api = operatorApiFrom(flags, io);
        downloaded = await api.showEvidence(id);
        bundle = await api.evidenceContent(id);
      }
      const { manifest } = downloaded;
      const verdict = verifyEvidence(manifest, downloaded.signature, downloaded.certificatePem, bundle);
      const certificate = certificateDerSha256(downloaded.certificatePem) ?? '-';
      if (flags.json)
        io.out(
          json({ id: manifest.id, deviceId: manifest.deviceId, certificateSha256: certificate, ...verdict }),
        );
      if (!verdict.ok) throw invalid(manifest.id, verdict.message);
      if (!flags.json) {
        io.out(
          `${manifest.id} verifies: signed by device ${manifest.deviceId} (certificate sha256 ${certificate}), ${manifest.items.length} items and ${manifest.chunks.length} chunks match, bundle sha256 ${manifest.sha256}`,
        );
      }
    });
}

function progress(bundle: EvidenceView): string {
  return bundle.receivedBytes === bundle.totalBytes
    ? String(bundle.totalBytes)
    : `${bundle.receivedBytes}/${bundle.totalBytes}`;
}

function invalid(id: string, message: string): EdgewardError {
  return new EdgewardError('EW_EVIDENCE_INVALID', `evidence bundle ${id} does not verify: ${message}`);
}

/** An item name as path segments that stay inside the output folder. */
function safeSegments(name: string): string[] {
  return name.split('/').filter((segment) => segment !== '' && segment !== '.' && segment !== '..');
}
