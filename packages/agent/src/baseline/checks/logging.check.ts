import { type BaselineContext, type CheckOutcome, outcome, type SpecOf } from '../check-outcome.ts';
import { listInRoot, readTextInRoot, statInRoot } from '../root-files.ts';
import { findRunningService, processIs, processTable, usesSystemd } from '../service-state.ts';

/** Drop-in directories, lowest precedence first: a file in /etc replaces one of the same name in /run or /usr/lib. */
const journaldDropInDirs = [
  '/usr/lib/systemd/journald.conf.d',
  '/run/systemd/journald.conf.d',
  '/etc/systemd/journald.conf.d',
];
const syslogDaemons = ['rsyslogd', 'syslog-ng', 'syslogd'];

/** journald's `Storage=`, as systemd merges journald.conf and its drop-ins (sorted by name, last wins). */
async function journaldStorage(root: string): Promise<{ storage: string; from: string }> {
  let storage = 'auto';
  let from = "journald's default";
  const apply = (text: string, path: string) => {
    let section = '';
    for (const raw of text.split('\n')) {
      const line = raw.trim();
      if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
      const header = /^\[(.+)\]$/.exec(line);
      if (header !== null) section = header[1]!;
      const setting = /^Storage\s*=\s*(.*)$/.exec(line);
      if (section === 'Journal' && setting !== null) {
        storage = setting[1]!.trim() || 'auto';
        from = path;
      }
    }
  };
  const main = await readTextInRoot(root, '/etc/systemd/journald.conf');
  if (main.kind === 'text') apply(main.text, '/etc/systemd/journald.conf');
  const dropIns = new Map<string, string>();
  for (const dir of journaldDropInDirs) {
    const listing = await listInRoot(root, dir);
    if (listing.kind !== 'found') continue;
    for (const entry of listing.entries)
      if (entry.name.endsWith('.conf')) dropIns.set(entry.name, `${dir}/${entry.name}`);
  }
  for (const name of [...dropIns.keys()].sort()) {
    const path = dropIns.get(name)!;
    const read = await readTextInRoot(root, path);
    if (read.kind === 'text') apply(read.text, path);
  }
  return { storage, from };
}

/**
 * Logs that survive a reboot: journald storing on disk (`Storage=persistent`, or `auto` with
 * /var/log/journal present), or a syslog daemon writing files (rsyslogd, syslog-ng, syslogd; busybox's
 * syslogd started with `-C` keeps its log in a memory ring buffer and does not count). With
 * `persistent: false`, any running logger passes.
 */
export async function evaluateLogging(
  spec: SpecOf<'logging'>,
  context: BaselineContext,
): Promise<CheckOutcome> {
  const processes = await processTable(context);
  const found: string[] = [];
  let persistent = false;
  let logging = false;

  if ((await usesSystemd(context.root)) || processes.some((p) => processIs(p, 'systemd-journald'))) {
    const { storage, from } = await journaldStorage(context.root);
    const journalDir = await statInRoot(context.root, '/var/log/journal');
    const hasJournalDir = journalDir.kind === 'found' && journalDir.stats.isDirectory();
    const onDisk = storage === 'persistent' || (storage === 'auto' && hasJournalDir);
    persistent ||= onDisk;
    logging ||= storage !== 'none';
    const where = onDisk ? 'on disk' : storage === 'none' ? 'nowhere' : 'in memory only';
    const dir = storage === 'auto' ? `, /var/log/journal ${hasJournalDir ? 'exists' : 'does not exist'}` : '';
    found.push(`journald keeps logs ${where} (Storage=${storage} from ${from}${dir})`);
  }

  const daemons = processes.filter((p) => syslogDaemons.some((name) => processIs(p, name)));
  for (const daemon of daemons) {
    const ringBuffer =
      daemon.comm === 'syslogd' && daemon.argv.slice(1).some((arg) => /^-[A-Za-z]*C/.test(arg));
    logging = true;
    persistent ||= !ringBuffer;
    found.push(
      `${daemon.comm} (process ${daemon.pid}) ${ringBuffer ? 'logs to a memory ring buffer (-C)' : 'runs'}`,
    );
  }
  if (daemons.length === 0) {
    const service = await findRunningService(context, ['rsyslog', 'syslog-ng', 'syslog'], []);
    if (service !== undefined) {
      logging = true;
      persistent = true;
      found.push(service.evidence);
    }
  }

  const summary = found.length === 0 ? 'neither journald nor a syslog daemon runs' : found.join('; ');
  const pass = spec.persistent ? persistent : logging;
  const verdict = pass ? '' : spec.persistent ? ': no log survives a reboot' : ': nothing collects logs';
  return outcome(pass ? 'pass' : 'fail', `${summary}${verdict}`);
}
