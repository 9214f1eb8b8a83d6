import { cp, mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { Agent as HttpsAgent } from 'node:https';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { EdgewardError } from '@edgeward/core';
import { type DeviceTls, mtlsGet, readBody } from './mtls-request.ts';
import { trustedTufDir } from './tuf-trust.ts';

/** A target as the signed targets metadata describes it. */
export interface VerifiedTargetInfo {
  readonly path: string;
  readonly length: number;
  readonly sha256: string;
  readonly custom: Record<string, unknown>;
}

/**
 * TUF verification with the tuf-js client, loaded only when an update is pending (it is the agent's
 * largest dependency). The client works on a copy of the trusted metadata (`tuf-work/`); only after a
 * refresh fully verified are its files moved into `tuf/`, each written then renamed, so a crash or a
 * refused update never leaves the trusted set half-updated. The first root is the one pinned at enrollment
 * (`pinTufRoot`); an agent enrolled with a manager that gave none fetches it over the mutually authenticated
 * connection to the manager, whose certificate chains to the CA pinned at enrollment.
 */
export class TufVerifier {
  readonly #trustedDir: string;
  readonly #workDir: string;
  readonly #baseUrl: string;
  readonly #tls: DeviceTls;
  readonly #timeoutMs: number;

  constructor(options: { dir: string; managerUrl: string; tls: DeviceTls; timeoutMs: number }) {
    this.#trustedDir = trustedTufDir(options.dir);
    this.#workDir = join(options.dir, 'tuf-work');
    this.#baseUrl = new URL('/v1/tuf/', options.managerUrl).toString();
    this.#tls = options.tls;
    this.#timeoutMs = options.timeoutMs;
  }

  /** Refreshes the metadata (timestamp, snapshot, targets, root rotations) and returns the target's signed description. */
  async targetInfo(targetPath: string): Promise<VerifiedTargetInfo> {
    await this.#ensureRoot();
    await rm(this.#workDir, { recursive: true, force: true });
    await cp(this.#trustedDir, this.#workDir, { recursive: true });
    const { Updater, BaseFetcher } = await import('tuf-js');
    const { DownloadHTTPError } = await import('tuf-js/dist/error.js');
    const tls = this.#tls;
    const timeoutMs = this.#timeoutMs;
    const agent = new HttpsAgent({ keepAlive: false, ca: tls.ca, key: tls.key, cert: tls.cert });
    class MtlsFetcher extends BaseFetcher {
      override async fetch(url: string): Promise<ReadableStream<Uint8Array<ArrayBuffer>>> {
        const response = await mtlsGet(new URL(url), tls, { timeoutMs, agent });
        if (response.statusCode !== 200) {
          response.resume();
          throw new DownloadHTTPError('Failed to download', response.statusCode ?? 0);
        }
        return Readable.toWeb(response) as ReadableStream<Uint8Array<ArrayBuffer>>;
      }
    }
    let info: Awaited<ReturnType<InstanceType<typeof Updater>['getTargetInfo']>>;
    try {
      const updater = new Updater({
        metadataDir: this.#workDir,
        metadataBaseUrl: this.#baseUrl,
        fetcher: new MtlsFetcher(),
        config: { fetchTimeout: timeoutMs },
      });
      await updater.refresh();
      info = await updater.getTargetInfo(targetPath);
    } catch (error) {
      throw new EdgewardError('EW_UPDATE_REFUSED', `TUF metadata refused: ${(error as Error).message}`, {
        cause: error,
      });
    } finally {
      agent.destroy();
    }
    if (info === undefined) {
      throw new EdgewardError('EW_UPDATE_REFUSED', `the signed targets list no ${targetPath}: refused`);
    }
    const sha256 = info.hashes.sha256;
    if (sha256 === undefined)
      throw new EdgewardError('EW_UPDATE_REFUSED', `${targetPath} has no signed SHA-256`);
    await this.#commit();
    return { path: targetPath, length: info.length, sha256, custom: info.custom };
  }

  async #ensureRoot(): Promise<void> {
    await mkdir(this.#trustedDir, { recursive: true });
    try {
      await readFile(join(this.#trustedDir, 'root.json'));
      return;
    } catch {
      // First update: fetch the first root.
    }
    const response = await mtlsGet(new URL('1.root.json', this.#baseUrl), this.#tls, {
      timeoutMs: this.#timeoutMs,
    });
    const body = await readBody(response);
    if (response.statusCode !== 200) {
      throw new EdgewardError(
        'EW_MANAGER_UNREACHABLE',
        `the manager has no TUF root (HTTP ${response.statusCode})`,
      );
    }
    await writeAtomically(join(this.#trustedDir, 'root.json'), body);
  }

  async #commit(): Promise<void> {
    for (const file of await readdir(this.#workDir)) {
      if (!file.endsWith('.json')) continue;
      await writeAtomically(join(this.#trustedDir, file), await readFile(join(this.#workDir, file)));
    }
  }
}

async function writeAtomically(path: string, contents: Buffer): Promise<void> {
  const temporary = `${path}.tmp`;
  await writeFile(temporary, contents);
  await rename(temporary, path);
}
