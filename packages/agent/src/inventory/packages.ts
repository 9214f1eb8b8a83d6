import type { InventoryPackage } from '@edgeward/core';
import type { CommandRunner } from './command-runner.ts';
import type { RootFs } from './root-fs.ts';

/** Paragraphs of `Field: value` lines (dpkg and opkg status files); continuation lines are skipped. */
function* controlParagraphs(text: string): Generator<Map<string, string>> {
  let fields = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (line.trim() === '') {
      if (fields.size > 0) yield fields;
      fields = new Map();
    } else if (line[0] !== ' ' && line[0] !== '\t') {
      const colon = line.indexOf(':');
      if (colon > 0) fields.set(line.slice(0, colon), line.slice(colon + 1).trim());
    }
  }
  if (fields.size > 0) yield fields;
}

/**
 * States in which a package's files are on disk. `config-files` (removed, configuration kept) and
 * `not-installed` are left out: nothing of them runs.
 */
const presentStates = new Set([
  'installed',
  'half-installed',
  'unpacked',
  'half-configured',
  'triggers-awaited',
  'triggers-pending',
]);

function parseStatusFile(text: string | undefined, manager: 'dpkg' | 'opkg'): InventoryPackage[] {
  const packages: InventoryPackage[] = [];
  for (const fields of controlParagraphs(text ?? '')) {
    const name = fields.get('Package');
    const version = fields.get('Version');
    // Status is `want flag state`, e.g. `install ok installed`; the last word is what is on disk.
    const state = fields.get('Status')?.split(/\s+/).at(-1);
    if (name === undefined || version === undefined || state === undefined || !presentStates.has(state))
      continue;
    const architecture = fields.get('Architecture');
    packages.push({ name, version, manager, ...(architecture === undefined ? {} : { architecture }) });
  }
  return packages;
}

/** apk's installed database: paragraphs of one-letter `K:value` lines (P name, V version, A arch). */
function parseApkInstalled(text: string | undefined): InventoryPackage[] {
  const packages: InventoryPackage[] = [];
  for (const paragraph of (text ?? '').split(/\n\s*\n/)) {
    const fields = new Map<string, string>();
    for (const line of paragraph.split('\n')) {
      if (line[1] === ':' && !fields.has(line[0]!)) fields.set(line[0]!, line.slice(2).trim());
    }
    const name = fields.get('P');
    const version = fields.get('V');
    if (name === undefined || version === undefined) continue;
    const architecture = fields.get('A');
    packages.push({ name, version, manager: 'apk', ...(architecture === undefined ? {} : { architecture }) });
  }
  return packages;
}

const rpmTimeoutMs = 60_000;
// The epoch only when set, as rpm itself prints versions; gpg-pubkey entries have arch `(none)`.
const rpmQueryFormat = '%{NAME}\\t%|EPOCH?{%{EPOCH}:}:{}|%{VERSION}-%{RELEASE}\\t%{ARCH}\\n';

async function readRpm(fs: RootFs, run: CommandRunner): Promise<InventoryPackage[]> {
  const hasRpm = (await fs.exists('usr/bin/rpm')) || (await fs.exists('bin/rpm'));
  const hasDb = (await fs.exists('var/lib/rpm')) || (await fs.exists('usr/lib/sysimage/rpm'));
  if (!hasRpm || !hasDb) return [];
  const result = await run('rpm', ['-qa', '--qf', rpmQueryFormat], { timeoutMs: rpmTimeoutMs });
  if (result.exitCode !== 0) return [];
  return parseRpmQuery(result.stdout);
}

export function parseRpmQuery(stdout: string): InventoryPackage[] {
  const packages: InventoryPackage[] = [];
  for (const line of stdout.split('\n')) {
    const [name, version, arch] = line.split('\t');
    if (name === undefined || name === '' || version === undefined) continue;
    const architecture = arch === undefined || arch === '' || arch === '(none)' ? undefined : arch.trim();
    packages.push({ name, version, manager: 'rpm', ...(architecture === undefined ? {} : { architecture }) });
  }
  return packages;
}

/**
 * Installed packages from every package database present under the root. rpm keeps a binary database,
 * so it is asked through `run`, and only on the live root: another root's rpm would read this one's.
 */
export async function readPackages(fs: RootFs, run: CommandRunner | undefined): Promise<InventoryPackage[]> {
  const opkgStatus = (await fs.text('usr/lib/opkg/status')) ?? (await fs.text('var/lib/opkg/status'));
  const lists = [
    parseStatusFile(await fs.text('var/lib/dpkg/status'), 'dpkg'),
    parseStatusFile(opkgStatus, 'opkg'),
    parseApkInstalled(await fs.text('lib/apk/db/installed')),
    fs.live && run !== undefined ? await readRpm(fs, run).catch(() => []) : [],
  ];
  return lists.flat();
}
