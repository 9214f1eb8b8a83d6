import { mkdir, open, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { type EvidenceUploadState, isEdgewardError, PROTOCOL_VERSION } from '@edgeward/core';

/** Refusals that sending the same bundle again cannot change: it is set aside instead. */
const FINAL_REFUSALS = [
  'EW_EVIDENCE_INVALID',
  'EW_EVIDENCE_CHUNK_INVALID',
  'EW_REQUEST_INVALID',
  'EW_REQUEST_TOO_LARGE',
] as const;

import type { Logger } from 'pino';
import { Backoff } from '../runtime/backoff.ts';
import { pendingBundles, readBundle } from './capture.ts';

/** The calls the uploader makes to the manager (ManagerClient's). */
export interface EvidenceTransport {
  post<T>(path: string, body: unknown): Promise<{ body: T }>;
  put<T>(path: string, bytes: Buffer): Promise<{ body: T }>;
}

export interface EvidenceUploaderOptions {
  /** `<dataDir>/evidence`. */
  readonly dir: string;
  /** The device certificate sent with each offer (read at upload time: renewals change it). */
  readonly certificatePem: () => Promise<string>;
  readonly transport: () => EvidenceTransport;
  readonly retryInitialMs: number;
  readonly retryMaxMs: number;
  readonly log: Logger;
  /** Told when the manager verified (or rejected) a bundle. */
  readonly onFinished?: (id: string, state: 'verified' | 'rejected') => Promise<void> | void;
}

/**
 * Uploads finished bundles, oldest first, in chunks: it offers the signed manifest, the manager answers
 * with the bytes it holds, and chunks follow from there. A broken link leaves the bundle on disk; the
 * next attempt (with backoff, or at `kick`) offers it again and resumes where the manager stands. A
 * bundle leaves the device only once the manager verified or rejected it.
 */
export class EvidenceUploader {
  readonly #options: EvidenceUploaderOptions;
  readonly #backoff: Backoff;
  #running: Promise<void> | undefined;
  #again = false;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(options: EvidenceUploaderOptions) {
    this.#options = options;
    this.#backoff = new Backoff({ initialMs: options.retryInitialMs, maxMs: options.retryMaxMs });
  }

  /** Starts an upload round now (or right after the running one). */
  kick(): void {
    if (this.#stopped) return;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#running !== undefined) {
      this.#again = true;
      return;
    }
    this.#running = this.#round().finally(() => {
      this.#running = undefined;
      if (this.#again) {
        this.#again = false;
        this.kick();
      }
    });
  }

  /** Resolves when no round is running. */
  async idle(): Promise<void> {
    while (this.#running !== undefined) await this.#running;
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#running;
  }

  async #round(): Promise<void> {
    try {
      for (const id of await pendingBundles(this.#options.dir)) {
        if (this.#stopped) return;
        try {
          await this.upload(id);
        } catch (error) {
          if (!FINAL_REFUSALS.some((code) => isEdgewardError(error, code))) throw error;
          await this.#setAside(id, (error as Error).message);
        }
      }
      this.#backoff.reset();
    } catch (error) {
      const delay = this.#backoff.nextDelayMs();
      this.#options.log.warn(
        { err: (error as Error).message, retryInMs: delay },
        'evidence upload interrupted; it resumes where the manager stands',
      );
      if (!this.#stopped) this.#timer = setTimeout(() => this.kick(), delay).unref();
    }
  }

  /**
   * A bundle the manager will never take (its signature or a chunk does not match: the copy here was
   * damaged or altered) moves to `refused/`, kept for inspection, so that it does not hold up the others.
   */
  async #setAside(id: string, reason: string): Promise<void> {
    this.#options.log.error(
      { evidenceId: id, reason },
      'the manager refused this evidence bundle; set aside in refused/',
    );
    await mkdir(join(this.#options.dir, 'refused'), { recursive: true, mode: 0o700 });
    await rename(join(this.#options.dir, id), join(this.#options.dir, 'refused', id));
    await this.#options.onFinished?.(id, 'rejected');
  }

  /** Uploads one bundle to the end; throws when the link breaks (the bundle stays for the next try). */
  async upload(id: string): Promise<EvidenceUploadState> {
    const { manifest, signature } = await readBundle(this.#options.dir, id);
    const transport = this.#options.transport();
    let state = (
      await transport.post<EvidenceUploadState>('/v1/evidence', {
        v: PROTOCOL_VERSION,
        manifest,
        signature,
        certificatePem: await this.#options.certificatePem(),
      })
    ).body;
    const file = await open(join(this.#options.dir, id, 'bundle.bin'), 'r');
    try {
      // A stop leaves the rest for the next start, which resumes where the manager stands.
      while (!this.#stopped && state.state === 'uploading' && state.receivedBytes < manifest.totalBytes) {
        const offset = state.receivedBytes;
        const length = Math.min(manifest.chunkBytes, manifest.totalBytes - offset);
        const chunk = Buffer.alloc(length);
        await file.read(chunk, 0, length, offset);
        try {
          state = (
            await transport.put<EvidenceUploadState>(`/v1/evidence/${id}/content?offset=${offset}`, chunk)
          ).body;
        } catch (error) {
          // Another attempt got further (a reply lost on the way): continue where the manager stands.
          const received = isEdgewardError(error, 'EW_EVIDENCE_OFFSET_MISMATCH')
            ? error.details?.receivedBytes
            : undefined;
          if (typeof received !== 'number') throw error;
          state = { ...state, receivedBytes: received };
        }
      }
    } finally {
      await file.close();
    }
    if (state.state !== 'uploading') {
      this.#options.log.info({ evidenceId: id, state: state.state }, 'evidence bundle delivered');
      await this.#options.onFinished?.(id, state.state);
      await rm(join(this.#options.dir, id), { recursive: true, force: true });
    }
    return state;
  }
}
