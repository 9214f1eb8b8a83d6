import type { Readable } from 'node:stream';
import { createGunzip, createZstdDecompress } from 'node:zlib';
import { EdgewardError } from '@edgeward/core';
import type { HttpsApp } from './http-errors.ts';

/**
 * Agents upload compressed bodies (zstd, or gzip where zstd is missing). Decompression happens before
 * parsing, so the body limit counts decompressed bytes and a small bomb cannot inflate past it.
 */
export function acceptCompressedBodies(app: HttpsApp): void {
  app.addHook('preParsing', async (request, _reply, payload) => {
    const encoding = request.headers['content-encoding'];
    if (encoding === undefined || encoding === 'identity') return payload;
    const decompressor =
      encoding === 'zstd' ? createZstdDecompress() : encoding === 'gzip' ? createGunzip() : undefined;
    if (decompressor === undefined) {
      throw new EdgewardError(
        'EW_REQUEST_INVALID',
        `content-encoding ${encoding} is not supported; send zstd, gzip or identity`,
      );
    }
    delete request.headers['content-length'];
    return (payload as Readable).pipe(decompressor) as unknown as Readable & {
      receivedEncodedLength?: number;
    };
  });
}
