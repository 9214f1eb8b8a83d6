import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';

/**
 * Collector state on disk. Every file is replaced whole: written to a temporary sibling, flushed to the
 * disk, then renamed over the old one, so a crash or a power cut leaves the old version or the new one.
 * Without the flush, a journaling filesystem may commit the rename before the data and leave an empty
 * file after a power cut.
 */

/** Bytes gathered before each write of a line-per-entry file: few system calls, bounded memory. */
const writeChunkBytes = 64 * 1024;

export async function writeFileAtomic(path: string, text: string): Promise<void> {
  await writeLinesAtomic(path, [text]);
}

/** Writes `lines` (each without its newline) as one file, atomically, without building it in memory. */
export async function writeLinesAtomic(path: string, lines: Iterable<string>): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const temporary = `${path}.${randomBytes(4).toString('hex')}.tmp`;
  const handle = await open(temporary, 'w', 0o600);
  try {
    let pending = '';
    for (const line of lines) {
      pending += line.endsWith('\n') ? line : `${line}\n`;
      if (pending.length >= writeChunkBytes) {
        await handle.write(pending);
        pending = '';
      }
    }
    if (pending !== '') await handle.write(pending);
    await handle.sync();
    await handle.close();
    await rename(temporary, path);
  } catch (error) {
    await handle.close().catch(() => {});
    await rm(temporary, { force: true }).catch(() => {});
    throw error;
  }
}

/** The parsed JSON file, or `undefined` when it does not exist; unreadable or malformed files throw. */
export async function readJsonFile(path: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  return JSON.parse(text) as unknown;
}

/**
 * The file's lines (without their `\n` or `\r\n`), read as a stream; `undefined` when the file does not
 * exist. Split here rather than by Node's readline, which the agent would load for this alone.
 */
export async function readLines(path: string): Promise<AsyncIterable<string> | undefined> {
  const handle = await open(path, 'r').catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return undefined;
    throw error;
  });
  if (handle === undefined) return undefined;
  return splitLines(handle.createReadStream({ encoding: 'utf8', highWaterMark: writeChunkBytes }));
}

/** Stopping early ends the stream, which closes the file. */
async function* splitLines(chunks: AsyncIterable<string>): AsyncGenerator<string> {
  let partial = '';
  for await (const chunk of chunks) {
    const lines = (partial + chunk).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) yield withoutCarriageReturn(line);
  }
  if (partial !== '') yield withoutCarriageReturn(partial);
}

function withoutCarriageReturn(line: string): string {
  return line.endsWith('\r') ? line.slice(0, -1) : line;
}
