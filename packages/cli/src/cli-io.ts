/**
 * Everything the CLI reads from or writes to its process, passed in so that tests run commands in-process
 * and capture what they print.
 */
export interface CliIo {
  /** Standard output: results, one write per line or block. */
  out(text: string): void;
  /** Standard error: progress, warnings and errors. */
  err(text: string): void;
  readonly env: Record<string, string | undefined>;
  readonly isTty: boolean;
  /** Resolves when the process is asked to stop (SIGINT, SIGTERM); only long-running commands wait on it. */
  readonly stopRequested: Promise<string>;
  /** Standard input, for commands that read it (`syslog parse`); absent when there is none to read. */
  readonly stdin?: AsyncIterable<Uint8Array>;
}

export function processIo(): CliIo {
  const stopRequested = new Promise<string>((resolve) => {
    for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => resolve(signal));
  });
  return {
    out: (text) => process.stdout.write(text.endsWith('\n') ? text : `${text}\n`),
    err: (text) => process.stderr.write(text.endsWith('\n') ? text : `${text}\n`),
    env: process.env,
    isTty: process.stdout.isTTY === true,
    stopRequested,
    // A getter: process.stdin opens the stream, which only commands that read it should do.
    get stdin() {
      return process.stdin;
    },
  };
}

/**
 * Exits once standard output and error are written out: a pipe takes 64 KiB at a time, and exiting
 * with data still queued would cut a large `--json` answer short. Exiting explicitly also stops kept-alive
 * sockets and timers of a finished command from holding the process open.
 */
export async function exitWhenFlushed(code: number): Promise<never> {
  await Promise.all(
    [process.stdout, process.stderr].map(
      (stream) =>
        new Promise<void>((resolve) =>
          stream.writableLength === 0 ? resolve() : stream.write('', () => resolve()),
        ),
    ),
  );
  process.exit(code);
}
