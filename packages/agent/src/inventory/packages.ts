import type { InventoryPackage } from '@edgeward/core';
import type { CommandRunner } from './command-runner.ts';
import type { RootFs } from './root-fs.ts';

/**
 * Paragraphs of `Field: value` lines (dpkg and opkg status files), keeping only the `wanted` fields;
 * continuation lines are skipped. The status file of a full system is a megabyte or more, read on every
 * inventory: it is read in pieces and walked with indexOf, so that neither the whole text nor its lines
 * take the agent's heap.
 */
async function* controlParagraphs(
  chunks: AsyncIterable<string>,
  wanted: readonly string[],
): AsyncGenerator<Map<string, string>> {
  let fields = new Map<string, string>();
  const line = (text: string, start: number, end: number) => {
    const first = text.charCodeAt(start);
    if (end === start || (end === start + 1 && first === 13)) {
      const paragraph = fields;
      fields = new Map();
      return paragraph.size > 0 ? paragraph : undefined;
    }
    if (first === 32 || first === 9) return undefined;
    for (const field of wanted) {
      if (text.charCodeAt(start + field.length) === 58 && text.startsWith(field, start)) {
        fields.set(field, text.slice(start + field.length + 1, end).trim());
        break;
      }
    }
    return undefined;
  };
  let carried = '';
  for await (const chunk of chunks) {
    const text = carried + chunk;
    let start = 0;
    for (let end = text.indexOf('\n'); end >= 0; end = text.indexOf('\n', start)) {
      const paragraph = line(text, start, end);
      if (paragraph !== undefined) yield paragraph;
      start = end + 1;
    }
    carried = text.slice(start);
  }
  if (carried !== '') line(carried, 0, carried.length);
  if (fields.size > 0) yield fields;
}

const statusFields = ['Package', 'Version', 'Status', 'Architecture'] as const;

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

async function parseStatusFile(
  chunks: AsyncIterable<string>,
  manager: 'dpkg' | 'opkg',
): Promise<InventoryPackage[]> {
  const packages: InventoryPackage[] = [];
  for await (const fields of controlParagraphs(chunks, statusFields)) {
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
  const opkgStatus = (await fs.exists('usr/lib/opkg/status')) ? 'usr/lib/opkg/status' : 'var/lib/opkg/status';
  const lists = [
    await parseStatusFile(fs.textChunks('var/lib/dpkg/status'), 'dpkg'),
    await parseStatusFile(fs.textChunks(opkgStatus), 'opkg'),
    parseApkInstalled(await fs.text('lib/apk/db/installed')),
    fs.live && run !== undefined ? await readRpm(fs, run).catch(() => []) : [],
  ];
  return lists.flat();
}
