import { execFile } from 'node:child_process';

export interface CommandResult {
  /** The exit code, or `null` when a signal ended the command. */
  readonly exitCode: number | null;
  readonly stdout: string;
}

/**
 * Runs a program without a shell. Rejects when the program cannot be started or outlives `timeoutMs`
 * (it is then killed); resolves with its exit code otherwise, non-zero included.
 */
export type CommandRunner = (
  file: string,
  args: readonly string[],
  options: { readonly timeoutMs: number },
) => Promise<CommandResult>;

/** Larger than any package list or unit list a device prints, small enough to bound a runaway. */
const maxOutputBytes = 32 * 1024 * 1024;

/** The runner over `child_process.execFile`. */
export const execFileRunner: CommandRunner = (file, args, { timeoutMs }) =>
  new Promise((resolve, reject) => {
    execFile(
      file,
      [...args],
      { timeout: timeoutMs, maxBuffer: maxOutputBytes, encoding: 'utf8', windowsHide: true },
      (error, stdout) => {
        if (error === null) {
          resolve({ exitCode: 0, stdout });
          return;
        }
        // A number means the program ran and exited non-zero: an answer, not a failure to run.
        if (typeof error.code === 'number' && !error.killed) {
          resolve({ exitCode: error.code, stdout });
          return;
        }
        reject(error);
      },
    );
  });
