import type { BaselineContext } from './check-outcome.ts';
import { existsInRoot, listInRoot, readTextInRoot } from './root-files.ts';

/**
 * Whether a service runs, from whichever source the device has. A service counts as running as soon as
 * one source sees it, consulted in this order:
 *
 * 1. systemd, when the root was booted with it (`/run/systemd/system` exists, sd_booted(3)'s test): on
 *    the live system `systemctl is-active <unit>`; on another root, or when systemctl cannot be run,
 *    systemd's own record of running units, `/run/systemd/units/invocation:<unit>`.
 * 2. OpenRC (Alpine), when `/run/openrc` exists: `/run/openrc/started/<name>`, which is what `rc-status`
 *    reads.
 * 3. The process table: a process whose `comm` (cut at 15 characters by the kernel) or argv[0] is the
 *    name. This catches what no init system knows: daemons started by hand, by inetd, or by busybox.
 *
 * A fixture root stands in for a live system by holding those same files (`run/systemd/units/
 * invocation:nftables.service`, `run/openrc/started/sshd`, `proc/<pid>/comm`).
 */

const systemctlTimeoutMs = 10_000;
/** TASK_COMM_LEN - 1. */
const commLength = 15;

export interface RunningProcess {
  readonly pid: number;
  readonly comm: string;
  readonly argv: readonly string[];
}

/** The process table of the context's root: the pass's shared reading when there is one. */
export function processTable(context: BaselineContext): Promise<readonly RunningProcess[]> {
  return context.processTable?.() ?? readProcesses(context.root);
}

/** The processes under the root's /proc, by increasing pid. */
export async function readProcesses(root: string): Promise<RunningProcess[]> {
  const listing = await listInRoot(root, '/proc');
  if (listing.kind !== 'found') return [];
  const pids = listing.entries
    .filter((entry) => /^\d+$/.test(entry.name))
    .map((entry) => Number(entry.name))
    .sort((a, b) => a - b);
  const processes: RunningProcess[] = [];
  for (const pid of pids) {
    const comm = await readTextInRoot(root, `/proc/${pid}/comm`);
    // A process that exited since the listing leaves nothing to read.
    if (comm.kind !== 'text') continue;
    const cmdline = await readTextInRoot(root, `/proc/${pid}/cmdline`);
    const argv = cmdline.kind === 'text' ? cmdline.text.split('\0').filter((arg) => arg !== '') : [];
    processes.push({ pid, comm: comm.text.trim(), argv });
  }
  return processes;
}

/**
 * A process that is `name`: by comm, or by the file name of argv[0]. Daemons that retitle themselves
 * write one string (`sshd: /usr/sbin/sshd [listener]`): its first word counts, without the colon.
 */
export function processIs(process: RunningProcess, name: string): boolean {
  if (process.comm === name.slice(0, commLength)) return true;
  const program = process.argv[0]?.split(' ')[0]?.split('/').pop()?.replace(/:$/, '');
  return program === name;
}

const unitSuffix = /\.(service|socket|timer|path|mount|target)$/;
/** `nftables` is `nftables.service` to systemd. */
export const unitName = (name: string): string => (unitSuffix.test(name) ? name : `${name}.service`);
/** `sshd.service` is `sshd` to OpenRC. */
const openRcName = (name: string): string => name.replace(/\.service$/, '');

export async function usesSystemd(root: string): Promise<boolean> {
  return existsInRoot(root, '/run/systemd/system');
}

export async function usesOpenRc(root: string): Promise<boolean> {
  return existsInRoot(root, '/run/openrc');
}

export interface ServiceSighting {
  readonly name: string;
  /** How it was seen: `systemd unit nftables.service is active`. */
  readonly evidence: string;
}

/**
 * The first of `names` seen running, by the sources above; `undefined` when none is. `processes` may be
 * passed in when several services are looked up against one reading of the process table.
 */
export async function findRunningService(
  context: BaselineContext,
  names: readonly string[],
  processes?: readonly RunningProcess[],
): Promise<ServiceSighting | undefined> {
  if (await usesSystemd(context.root)) {
    for (const name of names) {
      const unit = unitName(name);
      let answered = false;
      if (context.live && context.run !== undefined) {
        try {
          const result = await context.run('systemctl', ['is-active', '--quiet', unit], {
            timeoutMs: systemctlTimeoutMs,
          });
          answered = true;
          if (result.exitCode === 0) return { name, evidence: `systemd unit ${unit} is active` };
        } catch {
          // systemctl missing or hung: systemd's own files still tell.
        }
      }
      if (!answered && (await existsInRoot(context.root, `/run/systemd/units/invocation:${unit}`))) {
        return { name, evidence: `systemd unit ${unit} is running` };
      }
    }
  }
  if (await usesOpenRc(context.root)) {
    for (const name of names) {
      if (await existsInRoot(context.root, `/run/openrc/started/${openRcName(name)}`)) {
        return { name, evidence: `OpenRC service ${openRcName(name)} is started` };
      }
    }
  }
  const table = processes ?? (await processTable(context));
  for (const name of names) {
    const process = table.find((p) => processIs(p, name));
    if (process !== undefined) return { name, evidence: `process ${process.pid} (${process.comm}) runs` };
  }
  return undefined;
}

/** Which sources were consulted, for a detail that says where a service was looked for. */
export async function describeServiceSources(context: BaselineContext): Promise<string> {
  const sources: string[] = [];
  if (await usesSystemd(context.root))
    sources.push(context.live && context.run !== undefined ? 'systemctl' : 'systemd');
  if (await usesOpenRc(context.root)) sources.push('OpenRC');
  sources.push('the process table');
  return sources.join(', ');
}
