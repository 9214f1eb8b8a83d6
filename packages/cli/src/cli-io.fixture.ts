import { Readable } from 'node:stream';
import type { CliIo } from './cli-io.ts';

/** A CliIo for tests: collects what a command prints, and feeds it `stdin` when given. */
export function captureIo(
  stdin?: readonly (string | Uint8Array)[],
): CliIo & { stdout: string[]; stderr: string[] } {
  const stdout: string[] = [];
  const stderr: string[] = [];
  return {
    stdout,
    stderr,
    out: (text) => stdout.push(text),
    err: (text) => stderr.push(text),
    env: {},
    isTty: false,
    stopRequested: new Promise(() => {}),
    ...(stdin === undefined ? {} : { stdin: Readable.from(stdin.map((chunk) => Buffer.from(chunk))) }),
  };
}
