import type { Dirent } from 'node:fs';
import { type FileHandle, open, readdir, readFile, readlink, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { StringDecoder } from 'node:string_decoder';

/**
 * Pieces of a big file read at a time. V8 puts a string of more than about 128 KB straight into its old
 * generation, where it stays until a full collection; pieces this small die young, cheaply.
 */
const TEXT_CHUNK_BYTES = 32 * 1024;

/**
 * Read-only access to a Linux tree under a root directory, where a missing or unreadable file is an
 * answer (`undefined`, an empty list) rather than an exception: the collector runs on devices that lack
 * half of these files, and on fixture trees that hold only a few.
 */
export interface RootFs {
  readonly root: string;
  /** True when the root is this machine's own `/`, so live-only sources may be used. */
  readonly live: boolean;
  text(path: string): Promise<string | undefined>;
  /**
   * A file's text in pieces of at most `chunkBytes` bytes (a multi-byte character is never split), for
   * files too big to hold whole; nothing when the file is missing or unreadable.
   */
  textChunks(path: string, chunkBytes?: number): AsyncGenerator<string>;
  list(path: string): Promise<Dirent[]>;
  /** A symlink's target; a regular file's content stands in for it (see `createRootFs`). */
  link(path: string): Promise<string | undefined>;
  exists(path: string): Promise<boolean>;
}

/** Absences the collector expects: files that do not exist here, or that this user may not read. */
const expectedCodes = new Set(['ENOENT', 'ENOTDIR', 'EACCES', 'EPERM', 'ESRCH', 'ENXIO', 'ELOOP']);

export type SourceErrorHandler = (source: string, error: unknown) => void;

function isExpected(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && expectedCodes.has(code);
}

export function createRootFs(root: string, live: boolean, onError?: SourceErrorHandler): RootFs {
  const full = (path: string): string => join(root, path);
  const report = (path: string, error: unknown): void => {
    if (!isExpected(error)) onError?.(path, error);
  };
  return {
    root,
    live,
    async text(path) {
      try {
        return await readFile(full(path), 'utf8');
      } catch (error) {
        report(path, error);
        return undefined;
      }
    },
    async *textChunks(path, chunkBytes = TEXT_CHUNK_BYTES) {
      let file: FileHandle;
      try {
        file = await open(full(path), 'r');
      } catch (error) {
        report(path, error);
        return;
      }
      try {
        const buffer = Buffer.allocUnsafe(chunkBytes);
        const decoder = new StringDecoder('utf8');
        for (;;) {
          const { bytesRead } = await file.read(buffer, 0, chunkBytes, null);
          if (bytesRead === 0) break;
          yield decoder.write(buffer.subarray(0, bytesRead));
        }
        const rest = decoder.end();
        if (rest !== '') yield rest;
      } catch (error) {
        report(path, error);
      } finally {
        await file.close();
      }
    },
    async list(path) {
      try {
        return await readdir(full(path), { withFileTypes: true });
      } catch (error) {
        report(path, error);
        return [];
      }
    },
    async link(path) {
      try {
        return await readlink(full(path));
      } catch (error) {
        // A checkout made without symlink support (git's core.symlinks=false) writes a link as a small
        // file holding its target; reading it keeps fixture trees usable there.
        if ((error as { code?: unknown }).code === 'EINVAL') return (await this.text(path))?.trim();
        report(path, error);
        return undefined;
      }
    },
    async exists(path) {
      try {
        await stat(full(path));
        return true;
      } catch {
        return false;
      }
    },
  };
}

/** The first line that is neither blank nor a `#` comment, trimmed. */
export function firstLine(text: string | undefined): string | undefined {
  const line = text
    ?.split('\n')
    .map((l) => l.trim())
    .find((l) => l !== '' && !l.startsWith('#'));
  return line;
}

/** `KEY=value` lines, with shell-style quotes and backslash escapes as os-release allows them. */
export function parseKeyValues(text: string | undefined): Map<string, string> {
  const values = new Map<string, string>();
  for (const raw of text?.split('\n') ?? []) {
    const line = raw.trim();
    const eq = line.indexOf('=');
    if (line.startsWith('#') || eq <= 0) continue;
    let value = line.slice(eq + 1).trim();
    const quote = value[0];
    if ((quote === '"' || quote === "'") && value.endsWith(quote) && value.length >= 2) {
      value = value.slice(1, -1);
      if (quote === '"') value = value.replace(/\\(["\\$`])/g, '$1');
    }
    values.set(line.slice(0, eq).trim(), value);
  }
  return values;
}
