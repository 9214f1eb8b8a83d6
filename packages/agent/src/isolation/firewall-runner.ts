import { spawn } from 'node:child_process';

export interface FirewallCommandResult {
  /** The exit code, or `null` when a signal ended the command. */
  readonly exitCode: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs a firewall tool without a shell, `input` written to its stdin (`nft -f -` reads its script
 * there). Rejects when the program cannot be started or outlives `timeoutMs` (it is then killed);
 * resolves with its exit code otherwise, non-zero included. The inventory's `CommandRunner` has no
 * stdin and drops stderr, which is where nft and iptables say what they refused.
 */
export type FirewallRunner = (
  file: string,
  args: readonly string[],
  options: { readonly timeoutMs: number; readonly input?: string },
) => Promise<FirewallCommandResult>;

/** A ruleset listing is small; this only bounds a runaway. */
const maxOutputBytes = 8 * 1024 * 1024;

/** The runner over `child_process.spawn`. */
export const spawnFirewallRunner: FirewallRunner = (file, args, { timeoutMs, input }) =>
  new Promise((resolve, reject) => {
    const child = spawn(file, [...args], { stdio: ['pipe', 'pipe', 'pipe'], windowsHide: true });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    let size = 0;
    let failure: Error | undefined;
    const collect = (into: Buffer[]) => (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxOutputBytes) {
        failure ??= new Error(`${file} printed more than ${maxOutputBytes} bytes`);
        child.kill('SIGKILL');
        return;
      }
      into.push(chunk);
    };
    child.stdout.on('data', collect(stdout));
    child.stderr.on('data', collect(stderr));
    const timer = setTimeout(() => {
      failure ??= new Error(`${file} did not finish within ${timeoutMs} ms`);
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('error', (error) => {
      failure ??= error;
    });
    // A program that exits without reading its stdin closes the pipe: that is its answer, not ours.
    child.stdin.on('error', () => undefined);
    child.stdin.end(input ?? '');
    child.on('close', (exitCode) => {
      clearTimeout(timer);
      if (failure !== undefined) {
        reject(failure);
        return;
      }
      resolve({
        exitCode,
        stdout: Buffer.concat(stdout).toString('utf8'),
        stderr: Buffer.concat(stderr).toString('utf8'),
      });
    });
  });
