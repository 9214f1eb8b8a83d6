import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rename, rm, stat, truncate } from 'node:fs/promises';
import { dirname } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { EdgewardError } from '@edgeward/core';
import { type DeviceTls, mtlsGet } from './mtls-request.ts';

export interface DownloadTarget {
  readonly url: URL;
  /** From the signed TUF targets metadata. */
  readonly length: number;
  readonly sha256: string;
}

async function sizeOf(path: string): Promise<number | undefined> {
  try {
    return (await stat(path)).size;
  } catch {
    return undefined;
  }
}

async function sha256Of(path: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(path), hash);
  return hash.digest('hex');
}

/**
 * Downloads a target into `<path>.part`, continuing from the bytes already there (HTTP Range), so a cut
 * link, an agent restart or a reboot costs only what was in flight. Never writes past the signed length;
 * once complete, checks length and SHA-256 against the signed values and renames the file to `path`. A
 * mismatch deletes the partial file and throws EW_UPDATE_REFUSED. Returns how many bytes it fetched.
 */
export async function downloadResumable(
  target: DownloadTarget,
  path: string,
  tls: DeviceTls,
  timeoutMs: number,
): Promise<{ fetchedBytes: number; resumedFrom: number }> {
  if ((await sizeOf(path)) === target.length && (await sha256Of(path)) === target.sha256) {
    return { fetchedBytes: 0, resumedFrom: target.length };
  }
  await mkdir(dirname(path), { recursive: true });
  const partial = `${path}.part`;
  let offset = (await sizeOf(partial)) ?? 0;
  if (offset > target.length) {
    await truncate(partial, 0);
    offset = 0;
  }
  const resumedFrom = offset;
  let fetchedBytes = 0;
  if (offset < target.length) {
    const response = await mtlsGet(target.url, tls, {
      timeoutMs,
      headers: offset > 0 ? { range: `bytes=${offset}-` } : {},
    });
    const status = response.statusCode ?? 0;
    if (status !== 200 && status !== 206) {
      response.resume();
      throw new EdgewardError(
        'EW_MANAGER_UNREACHABLE',
        `downloading ${target.url.pathname} answered HTTP ${status}; retried at the next poll`,
      );
    }
    // A server that ignores the range sends the whole file: start over.
    const append = status === 206 && offset > 0;
    if (!append) offset = 0;
    const remaining = target.length - offset;
    const limit = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        fetchedBytes += chunk.length;
        if (fetchedBytes > remaining) {
          done(
            new EdgewardError(
              'EW_UPDATE_REFUSED',
              `the target is longer than its signed length ${target.length}`,
            ),
          );
          return;
        }
        done(null, chunk);
      },
    });
    try {
      await pipeline(response, limit, createWriteStream(partial, { flags: append ? 'a' : 'w' }));
    } catch (error) {
      if (error instanceof EdgewardError) {
        await rm(partial, { force: true });
        throw error;
      }
      throw new EdgewardError(
        'EW_MANAGER_UNREACHABLE',
        `the download broke after ${offset + fetchedBytes} of ${target.length} bytes; it resumes from there`,
        { cause: error },
      );
    }
  }
  const length = (await sizeOf(partial)) ?? 0;
  const digest = length === target.length ? await sha256Of(partial) : undefined;
  if (digest !== target.sha256) {
    await rm(partial, { force: true });
    throw new EdgewardError(
      'EW_UPDATE_REFUSED',
      length === target.length
        ? `the target's SHA-256 is ${digest}, not the signed ${target.sha256}: refused`
        : `the target has ${length} bytes, not the signed ${target.length}: refused`,
    );
  }
  await rename(partial, path);
  return { fetchedBytes, resumedFrom };
}
