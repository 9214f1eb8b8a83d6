import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { copyFile, mkdir, open, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import {
  type AuditEntryInput,
  type CaptureParams,
  type Clock,
  certificateDerSha256,
  type DeviceCommandView,
  EdgewardError,
  type EvidenceDetailView,
  type EvidenceListView,
  type EvidenceManifest,
  type EvidenceOffer,
  type EvidenceUploadState,
  type EvidenceVerification,
  type EvidenceView,
  evidenceChunkCount,
  evidenceChunkHolds,
  evidenceSignatureHolds,
  PROTOCOL_VERSION,
} from '@edgeward/core';
import type { EvidenceRecord, Store } from '@edgeward/store';
import type { Logger } from 'pino';
import type { DeviceService } from './device.service.ts';
import type { DeviceCommandService } from './device-command.service.ts';
import type { OperatorContext } from './operator-context.ts';

/** Appends a chain entry through the caller's transaction (AuditChainService.record). */
export type CustodyRecorder = (
  store: Store,
  input: Omit<AuditEntryInput, 'at'> & { readonly at?: number },
) => Promise<unknown>;

/**
 * Forensic evidence on the manager: capture requests (a device command), the resumable upload of each
 * bundle (the signed manifest first, then chunks at the offset the manager names, each checked against
 * the manifest before it is kept), verification of the whole, and storage by SHA-256 under
 * `<dataDir>/evidence/objects`. Every step is a chain-of-custody entry in the audit chain: requested
 * (the operator action), collected (the manifest arrived), chunk refused, uploaded, verified or rejected,
 * downloaded.
 */
export class EvidenceService {
  readonly #store: Store;
  readonly #clock: Clock;
  readonly #custody: CustodyRecorder;
  readonly #devices: DeviceService;
  readonly #commands: DeviceCommandService;
  readonly #dir: string;
  readonly #maxBundleBytes: number;
  readonly #logger: Logger;
  readonly #changed: (deviceId: string) => void;
  /** One chunk of a bundle at a time in this process; replicas are kept apart by `advance`. */
  readonly #busy = new Map<string, Promise<unknown>>();

  constructor(deps: {
    store: Store;
    clock: Clock;
    custody: CustodyRecorder;
    devices: DeviceService;
    commands: DeviceCommandService;
    /** `<dataDir>/evidence`. */
    dir: string;
    /** Largest bundle accepted, bytes. */
    maxBundleBytes: number;
    logger: Logger;
    /** Told when a device's bundle arrives or finishes (the dashboard's live updates). */
    changed?: (deviceId: string) => void;
  }) {
    this.#store = deps.store;
    this.#clock = deps.clock;
    this.#custody = deps.custody;
    this.#devices = deps.devices;
    this.#commands = deps.commands;
    this.#dir = deps.dir;
    this.#maxBundleBytes = deps.maxBundleBytes;
    this.#logger = deps.logger;
    this.#changed = deps.changed ?? (() => {});
  }

  /** Asks the device for a capture: a command, delivered like isolate (at once when connected). */
  capture(operator: OperatorContext, deviceId: string, params: CaptureParams): Promise<DeviceCommandView> {
    return this.#commands.capture(operator, deviceId, params);
  }

  /**
   * A device announces a bundle, or announces it again after a broken upload: the answer says how many
   * bytes the manager holds, which is where the device resumes. The signature is checked before anything
   * is stored, against a certificate the registry issued to this device.
   */
  async offer(deviceId: string, offer: EvidenceOffer): Promise<EvidenceUploadState> {
    const { manifest } = offer;
    await this.#devices.requireActive(deviceId);
    if (manifest.deviceId !== deviceId) {
      throw new EdgewardError(
        'EW_REQUEST_INVALID',
        `the manifest names device ${manifest.deviceId} but was sent by ${deviceId}`,
      );
    }
    const existing = await this.#store.evidence.get(manifest.id);
    if (existing !== undefined) {
      if (existing.deviceId !== deviceId) {
        throw new EdgewardError(
          'EW_EVIDENCE_NOT_FOUND',
          `device ${deviceId} has no evidence bundle ${manifest.id}`,
        );
      }
      return uploadState(existing);
    }
    if (manifest.totalBytes > this.#maxBundleBytes) {
      throw new EdgewardError(
        'EW_REQUEST_TOO_LARGE',
        `evidence bundle ${manifest.id} holds ${manifest.totalBytes} bytes; this manager takes at most ${this.#maxBundleBytes} (evidenceMaxBytes)`,
      );
    }
    if (evidenceChunkCount(manifest.totalBytes, manifest.chunkBytes) !== manifest.chunks.length) {
      throw new EdgewardError(
        'EW_REQUEST_INVALID',
        `the manifest lists ${manifest.chunks.length} chunks; ${manifest.totalBytes} bytes in chunks of ${manifest.chunkBytes} make ${evidenceChunkCount(manifest.totalBytes, manifest.chunkBytes)}`,
      );
    }
    const fingerprint = certificateDerSha256(offer.certificatePem);
    const issued = await this.#store.certificates.listByDevice(deviceId);
    if (fingerprint === undefined || !issued.some((certificate) => certificate.fingerprint === fingerprint)) {
      throw new EdgewardError(
        'EW_EVIDENCE_INVALID',
        `evidence bundle ${manifest.id} comes with a certificate this fleet never issued to device ${deviceId}`,
      );
    }
    const signed = evidenceSignatureHolds(manifest, offer.signature, offer.certificatePem);
    if (!signed.ok) {
      throw new EdgewardError('EW_EVIDENCE_INVALID', `evidence bundle ${manifest.id}: ${signed.message}`);
    }
    const now = this.#clock.now();
    const record = {
      id: manifest.id,
      deviceId,
      manifest,
      signature: offer.signature,
      certificatePem: offer.certificatePem,
      receivedBytes: 0,
      createdAt: now,
      updatedAt: now,
    };
    const created = await this.#store.transaction(async (tx) => {
      if (!(await tx.evidence.create(record))) return false;
      await this.#custody(tx, {
        kind: 'evidence.collected',
        actor: `device:${deviceId}`,
        subject: `evidence/${manifest.id}`,
        details: {
          deviceId,
          commandId: manifest.commandId,
          trigger: manifest.trigger,
          ruleId: manifest.ruleId,
          collectedAt: manifest.collectedAt,
          totalBytes: manifest.totalBytes,
          sha256: manifest.sha256,
          items: manifest.items.length,
        },
      });
      return true;
    });
    this.#logger.info(
      { deviceId, evidenceId: manifest.id, totalBytes: manifest.totalBytes, created },
      'evidence bundle offered',
    );
    if (created) this.#changed(deviceId);
    if (manifest.totalBytes === 0) return this.#complete(manifest.id);
    const stored = await this.#store.evidence.get(manifest.id);
    if (stored === undefined) throw new EdgewardError('EW_INTERNAL', `evidence ${manifest.id} vanished`);
    return uploadState(stored);
  }

  /** Where the upload of a bundle stands (the device asks after a reconnect). */
  async uploadStatus(deviceId: string, id: string): Promise<EvidenceUploadState> {
    return uploadState(await this.#ofDevice(deviceId, id));
  }

  /**
   * Stores one chunk at `offset`, which must be where the upload stands and a chunk boundary; the chunk
   * must be the length and SHA-256 the signed manifest names, or it is refused and nothing of it is kept.
   * The last chunk completes the bundle: it is verified whole and stored by its SHA-256.
   */
  putChunk(deviceId: string, id: string, offset: number, bytes: Buffer): Promise<EvidenceUploadState> {
    const previous = this.#busy.get(id) ?? Promise.resolve();
    const run = previous.catch(() => {}).then(() => this.#putChunk(deviceId, id, offset, bytes));
    this.#busy.set(id, run);
    return run.finally(() => {
      if (this.#busy.get(id) === run) this.#busy.delete(id);
    });
  }

  async list(deviceId: string | undefined, limit: number): Promise<EvidenceListView> {
    const records = await this.#store.evidence.list({
      limit,
      ...(deviceId === undefined ? {} : { deviceId }),
    });
    return { evidence: records.map(evidenceView) };
  }

  async show(id: string): Promise<EvidenceDetailView> {
    const record = await this.#find(id);
    return {
      ...evidenceView(record),
      manifest: record.manifest,
      signature: record.signature,
      certificatePem: record.certificatePem,
    };
  }

  /** The verified bundle's bytes, streamed from its object; reading them is a custody entry. */
  async content(operator: OperatorContext, id: string): Promise<{ bytes: number; stream: Readable }> {
    const record = await this.#find(id);
    if (record.state !== 'verified') {
      throw new EdgewardError(
        'EW_EVIDENCE_NOT_FOUND',
        `evidence bundle ${id} has no verified content (it is ${record.state}, ${record.receivedBytes} of ${record.manifest.totalBytes} bytes received)`,
      );
    }
    const path = this.#objectPath(record.manifest.sha256);
    const { size } = await stat(path);
    await this.#store.transaction((tx) =>
      this.#custody(tx, {
        kind: 'evidence.downloaded',
        actor: `operator:${operator.id}`,
        subject: `evidence/${id}`,
        details: { by: operator.name, sha256: record.manifest.sha256, bytes: size },
      }),
    );
    return { bytes: size, stream: createReadStream(path) };
  }

  async #putChunk(deviceId: string, id: string, offset: number, bytes: Buffer): Promise<EvidenceUploadState> {
    const record = await this.#ofDevice(deviceId, id);
    if (record.state !== 'uploading') return uploadState(record);
    const { manifest } = record;
    if (offset !== record.receivedBytes) {
      throw new EdgewardError(
        'EW_EVIDENCE_OFFSET_MISMATCH',
        `evidence bundle ${id} continues at byte ${record.receivedBytes}, not ${offset}`,
        { details: { receivedBytes: record.receivedBytes } },
      );
    }
    const index = offset / manifest.chunkBytes;
    if (!Number.isInteger(index) || !evidenceChunkHolds(manifest, index, bytes)) {
      await this.#store.transaction((tx) =>
        this.#custody(tx, {
          kind: 'evidence.chunk_refused',
          actor: `device:${deviceId}`,
          subject: `evidence/${id}`,
          details: { offset, bytes: bytes.length, chunk: Number.isInteger(index) ? index : null },
        }),
      );
      this.#logger.warn({ deviceId, evidenceId: id, offset, bytes: bytes.length }, 'evidence chunk refused');
      throw new EdgewardError(
        'EW_EVIDENCE_CHUNK_INVALID',
        `the chunk at byte ${offset} of evidence bundle ${id} does not match its signed manifest (length or SHA-256); it was not stored`,
      );
    }
    await mkdir(join(this.#dir, 'uploads'), { recursive: true, mode: 0o700 });
    const part = this.#partPath(id);
    const handle = await open(part, offset === 0 ? 'w' : 'r+', 0o600);
    try {
      await handle.write(bytes, 0, bytes.length, offset);
      await handle.sync();
    } finally {
      await handle.close();
    }
    const to = offset + bytes.length;
    await this.#store.evidence.advance(id, offset, to, this.#clock.now());
    if (to === manifest.totalBytes) return this.#complete(id);
    return uploadState(await this.#ofDevice(deviceId, id));
  }

  /** Verifies the whole bundle, stores it by its SHA-256 and records uploaded and verified (or rejected). */
  async #complete(id: string): Promise<EvidenceUploadState> {
    const record = await this.#find(id);
    if (record.state !== 'uploading') return uploadState(record);
    const { manifest } = record;
    const part = this.#partPath(id);
    if (manifest.totalBytes === 0) await open(part, 'w', 0o600).then((handle) => handle.close());
    const signed = evidenceSignatureHolds(manifest, record.signature, record.certificatePem);
    const verdict = signed.ok ? await verifyEvidenceFile(manifest, part) : signed;
    if (verdict.ok) await this.#storeObject(manifest.sha256, part);
    const now = this.#clock.now();
    await this.#store.transaction(async (tx) => {
      const finished = await tx.evidence.finish(
        id,
        verdict.ok ? 'verified' : 'rejected',
        verdict.ok ? null : verdict.message,
        now,
      );
      if (!finished) return;
      const subject = `evidence/${id}`;
      const actor = 'system';
      await this.#custody(tx, {
        kind: 'evidence.uploaded',
        actor: `device:${record.deviceId}`,
        subject,
        details: { bytes: manifest.totalBytes, sha256: manifest.sha256 },
      });
      await this.#custody(tx, {
        kind: verdict.ok ? 'evidence.verified' : 'evidence.rejected',
        actor,
        subject,
        details: verdict.ok
          ? { sha256: manifest.sha256, items: manifest.items.length, stored: `objects/${manifest.sha256}` }
          : { problem: verdict.problem, message: verdict.message },
      });
    });
    await rm(part, { force: true });
    this.#logger.info(
      { evidenceId: id, deviceId: record.deviceId, verified: verdict.ok, bytes: manifest.totalBytes },
      verdict.ok ? 'evidence bundle verified' : 'evidence bundle rejected',
    );
    this.#changed(record.deviceId);
    return uploadState(await this.#find(id));
  }

  async #storeObject(sha256: string, from: string): Promise<void> {
    const path = this.#objectPath(sha256);
    const exists = await stat(path).then(
      () => true,
      () => false,
    );
    // Content-addressed: the same bytes are the same object; a second copy adds nothing.
    if (exists) return;
    await mkdir(join(this.#dir, 'objects', sha256.slice(0, 2)), { recursive: true, mode: 0o700 });
    const temporary = `${path}.${randomBytes(4).toString('hex')}.tmp`;
    await copyFile(from, temporary);
    const handle = await open(temporary, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temporary, path);
  }

  #objectPath(sha256: string): string {
    return join(this.#dir, 'objects', sha256.slice(0, 2), sha256);
  }

  #partPath(id: string): string {
    return join(this.#dir, 'uploads', `${id}.part`);
  }

  async #find(id: string): Promise<EvidenceRecord> {
    const record = await this.#store.evidence.get(id);
    if (record === undefined)
      throw new EdgewardError('EW_EVIDENCE_NOT_FOUND', `no evidence bundle has id ${id}`);
    return record;
  }

  async #ofDevice(deviceId: string, id: string): Promise<EvidenceRecord> {
    const record = await this.#store.evidence.get(id);
    if (record === undefined || record.deviceId !== deviceId) {
      throw new EdgewardError(
        'EW_EVIDENCE_NOT_FOUND',
        `device ${deviceId} has no evidence bundle ${id}; offer its manifest first`,
      );
    }
    return record;
  }
}

function uploadState(record: EvidenceRecord): EvidenceUploadState {
  return { v: PROTOCOL_VERSION, id: record.id, receivedBytes: record.receivedBytes, state: record.state };
}

export function evidenceView(record: EvidenceRecord): EvidenceView {
  const { manifest } = record;
  return {
    id: record.id,
    deviceId: record.deviceId,
    commandId: manifest.commandId,
    trigger: manifest.trigger,
    ruleId: manifest.ruleId,
    reason: manifest.reason,
    state: record.state,
    problem: record.problem,
    totalBytes: manifest.totalBytes,
    receivedBytes: record.receivedBytes,
    sha256: manifest.sha256,
    items: manifest.items.length,
    collectedAt: manifest.collectedAt,
    createdAt: record.createdAt,
    verifiedAt: record.verifiedAt,
  };
}

/** Read size for checking a stored bundle: bounded memory whatever the bundle's size. */
const VERIFY_BLOCK_BYTES = 1_048_576;

/**
 * verifyEvidence (core) over a file instead of a buffer, reading it in blocks: the length, every chunk,
 * every item and the whole bundle's SHA-256 (the signature is checked by the caller).
 */
async function verifyEvidenceFile(manifest: EvidenceManifest, path: string): Promise<EvidenceVerification> {
  const handle = await open(path, 'r');
  try {
    const { size } = await handle.stat();
    if (size !== manifest.totalBytes) {
      return {
        ok: false,
        problem: 'size',
        message: `the bundle holds ${size} bytes; its manifest names ${manifest.totalBytes}`,
      };
    }
    const hashRange = async (start: number, length: number, whole?: ReturnType<typeof createHash>) => {
      const hash = createHash('sha256');
      const block = Buffer.alloc(Math.min(VERIFY_BLOCK_BYTES, Math.max(length, 1)));
      for (let done = 0; done < length; ) {
        const { bytesRead } = await handle.read(
          block,
          0,
          Math.min(block.length, length - done),
          start + done,
        );
        if (bytesRead === 0) break;
        hash.update(block.subarray(0, bytesRead));
        whole?.update(block.subarray(0, bytesRead));
        done += bytesRead;
      }
      return hash.digest('hex');
    };
    const whole = createHash('sha256');
    const chunks = evidenceChunkCount(manifest.totalBytes, manifest.chunkBytes);
    for (let index = 0; index < chunks; index++) {
      const start = index * manifest.chunkBytes;
      const length = Math.min(manifest.chunkBytes, manifest.totalBytes - start);
      if ((await hashRange(start, length, whole)) !== manifest.chunks[index]) {
        return {
          ok: false,
          problem: 'chunk',
          message: `chunk ${index} (from byte ${start}) does not give its SHA-256`,
        };
      }
    }
    for (const item of manifest.items) {
      if (item.offset + item.bytes > size || (await hashRange(item.offset, item.bytes)) !== item.sha256) {
        return { ok: false, problem: 'item', message: `item ${item.name} does not give its SHA-256` };
      }
    }
    if (whole.digest('hex') !== manifest.sha256) {
      return {
        ok: false,
        problem: 'bundle-hash',
        message: 'the bundle does not give the SHA-256 its manifest names',
      };
    }
    return { ok: true };
  } finally {
    await handle.close();
  }
}
