import { createHash, createPrivateKey, randomUUID } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import {
  type EvidenceItem,
  type EvidenceManifest,
  PROTOCOL_VERSION,
  signEvidenceManifest,
} from '@edgeward/core';
import type { CommandRunner } from '../inventory/command-runner.ts';
import { createRootFs } from '../inventory/root-fs.ts';
import {
  readConnections,
  readJournal,
  readMemoryAndLoad,
  readModules,
  readMounts,
  readProcesses,
  readSessions,
  tailFile,
} from './volatile-data.ts';

/** Why a capture was taken: an operator's command, or a local rule's response. */
export type CaptureTrigger =
  | { readonly kind: 'command'; readonly commandId: string }
  | { readonly kind: 'rule'; readonly ruleId: string };

export interface CaptureOptions {
  /** The tree the agent reads (`/` on a device, a fixture tree in tests). */
  readonly root: string;
  /** `<dataDir>/evidence`: each bundle is a folder here until the manager verified it. */
  readonly dir: string;
  readonly deviceId: string;
  /** The device key (PEM, ECDSA P-256) that signs the manifest. */
  readonly signingKeyPem: string;
  /** Files to take after the volatile data, paths inside the root, in this order. */
  readonly files: readonly string[];
  /** The whole bundle stays within this many bytes: volatile data first, then files, cut short at the cap. */
  readonly capBytes: number;
  /** Upload chunk length, bytes. */
  readonly chunkBytes: number;
  /** How much of the end of each log is taken, bytes. */
  readonly logTailBytes: number;
  readonly authLogFiles: readonly string[];
  /** The agent's own latest events. */
  readonly recentEvents: () => readonly unknown[];
  /** Runs journalctl on the live machine; absent elsewhere. */
  readonly runCommand?: CommandRunner | undefined;
  readonly now: () => number;
  readonly trigger: CaptureTrigger;
  readonly reason: string;
}

export interface CapturedBundle {
  readonly manifest: EvidenceManifest;
  readonly signature: string;
  /** The bundle's folder: `bundle.bin` and `manifest.json`. */
  readonly path: string;
}

const json = (value: unknown) => Buffer.from(`${JSON.stringify(value, null, 1)}\n`, 'utf8');

/**
 * Collects a forensic bundle: volatile data first (processes, connections, sessions, modules, memory and
 * load, mounts, recent authentication and journal entries, the agent's own events), then the files, all
 * within `capBytes`. Each item is written to `bundle.bin` as it is read and hashed; the manifest names
 * every item's range and SHA-256, every upload chunk's SHA-256 and the whole's, and is signed with the
 * device key. Nothing is uploaded here (see EvidenceUploader), so a capture works offline.
 */
export async function captureEvidence(options: CaptureOptions): Promise<CapturedBundle> {
  const startedAt = options.now();
  const id = randomUUID();
  const root = resolve(options.root);
  const fs = createRootFs(root, root === '/');
  const folder = join(options.dir, id);
  const partial = `${folder}.partial`;
  await mkdir(partial, { recursive: true, mode: 0o700 });
  const handle = await open(join(partial, 'bundle.bin'), 'w', 0o600);
  const items: EvidenceItem[] = [];
  const skipped: { path: string; reason: string }[] = [];
  let offset = 0;
  const add = async (
    item: Omit<EvidenceItem, 'offset' | 'bytes' | 'sha256' | 'truncated'>,
    content: Buffer,
  ) => {
    const room = options.capBytes - offset;
    if (room <= 0) {
      skipped.push({
        path: item.path ?? item.name,
        reason: `the capture reached its size cap of ${options.capBytes} bytes`,
      });
      return;
    }
    const kept = content.length > room ? content.subarray(0, room) : content;
    await handle.write(kept, 0, kept.length, offset);
    items.push({
      ...item,
      offset,
      bytes: kept.length,
      sha256: createHash('sha256').update(kept).digest('hex'),
      truncated: kept.length < content.length,
    });
    offset += kept.length;
  };
  try {
    // Most volatile first: what a running intruder changes soonest.
    await add({ name: 'volatile/processes.json', kind: 'volatile' }, json(await readProcesses(fs)));
    await add({ name: 'volatile/connections.json', kind: 'volatile' }, json(await readConnections(fs)));
    await add({ name: 'volatile/sessions.json', kind: 'volatile' }, json(await readSessions(fs)));
    await add({ name: 'volatile/kernel-modules.json', kind: 'volatile' }, json(await readModules(fs)));
    await add({ name: 'volatile/memory-load.json', kind: 'volatile' }, json(await readMemoryAndLoad(fs)));
    await add({ name: 'volatile/mounts.json', kind: 'volatile' }, json(await readMounts(fs)));
    for (const path of options.authLogFiles) {
      const tail = await tailFile(root, path, options.logTailBytes);
      if (tail !== undefined) await add({ name: `logs/auth${path}`, kind: 'volatile', path }, tail);
    }
    const journal =
      (await readJournal(root === '/' ? options.runCommand : undefined, options.logTailBytes)) ??
      (await tailFile(root, 'var/log/syslog', options.logTailBytes)) ??
      (await tailFile(root, 'var/log/messages', options.logTailBytes));
    if (journal !== undefined) await add({ name: 'logs/journal.txt', kind: 'volatile' }, journal);
    await add({ name: 'agent/recent-events.json', kind: 'volatile' }, json(options.recentEvents()));
    for (const path of options.files) {
      const full = join(root, path);
      if (!full.startsWith(root === '/' ? '/' : `${root}/`)) {
        skipped.push({ path, reason: 'outside the agent root' });
        continue;
      }
      const info = await stat(full).catch(() => undefined);
      if (info === undefined) {
        skipped.push({ path, reason: 'missing or unreadable' });
        continue;
      }
      if (!info.isFile()) {
        skipped.push({ path, reason: 'not a regular file' });
        continue;
      }
      const room = options.capBytes - offset;
      if (room <= 0) {
        skipped.push({ path, reason: `the capture reached its size cap of ${options.capBytes} bytes` });
        continue;
      }
      const content = await readHead(full, Math.min(info.size, room + 1)).catch(() => undefined);
      if (content === undefined) {
        skipped.push({ path, reason: 'unreadable' });
        continue;
      }
      // One byte past the room, when there is more: `add` then keeps the room's worth and marks it truncated.
      await add({ name: `files${path.startsWith('/') ? '' : '/'}${path}`, kind: 'file', path }, content);
    }
    await handle.sync();
  } finally {
    await handle.close();
  }
  const { chunks, sha256 } = await chunkHashes(join(partial, 'bundle.bin'), options.chunkBytes);
  const manifest: EvidenceManifest = {
    v: PROTOCOL_VERSION,
    id,
    deviceId: options.deviceId,
    commandId: options.trigger.kind === 'command' ? options.trigger.commandId : null,
    trigger: options.trigger.kind,
    ruleId: options.trigger.kind === 'rule' ? options.trigger.ruleId : null,
    reason: options.reason.slice(0, 500),
    startedAt,
    collectedAt: options.now(),
    capBytes: options.capBytes,
    totalBytes: offset,
    sha256,
    chunkBytes: options.chunkBytes,
    chunks,
    items,
    skipped,
  };
  const signature = signEvidenceManifest(manifest, createPrivateKey(options.signingKeyPem));
  await writeJson(join(partial, 'manifest.json'), { manifest, signature });
  // Complete or absent: the uploader only ever sees finished bundles.
  await rename(partial, folder);
  return { manifest, signature, path: folder };
}

async function readHead(path: string, length: number): Promise<Buffer> {
  const handle = await open(path, 'r');
  try {
    const buffer = Buffer.alloc(length);
    const { bytesRead } = await handle.read(buffer, 0, length, 0);
    return buffer.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

async function chunkHashes(path: string, chunkBytes: number): Promise<{ chunks: string[]; sha256: string }> {
  const whole = createHash('sha256');
  const chunks: string[] = [];
  const handle = await open(path, 'r');
  try {
    const buffer = Buffer.alloc(chunkBytes);
    for (let position = 0; ; position += chunkBytes) {
      const { bytesRead } = await handle.read(buffer, 0, chunkBytes, position);
      if (bytesRead === 0) break;
      const chunk = buffer.subarray(0, bytesRead);
      whole.update(chunk);
      chunks.push(createHash('sha256').update(chunk).digest('hex'));
      if (bytesRead < chunkBytes) break;
    }
  } finally {
    await handle.close();
  }
  return { chunks, sha256: whole.digest('hex') };
}

async function writeJson(path: string, value: unknown): Promise<void> {
  const handle = await open(path, 'w', 0o600);
  try {
    await handle.write(JSON.stringify(value));
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** The finished bundles waiting for upload, oldest first; unfinished captures (a crash midway) are dropped. */
export async function pendingBundles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  const pending: { id: string; at: number }[] = [];
  for (const entry of entries) {
    if (!entry.isDirectory()) continue;
    if (entry.name.endsWith('.partial')) {
      await rm(join(dir, entry.name), { recursive: true, force: true });
      continue;
    }
    const info = await stat(join(dir, entry.name, 'manifest.json')).catch(() => undefined);
    if (info !== undefined) pending.push({ id: entry.name, at: info.mtimeMs });
  }
  return pending.sort((a, b) => a.at - b.at).map((entry) => entry.id);
}

export async function readBundle(
  dir: string,
  id: string,
): Promise<{ manifest: EvidenceManifest; signature: string }> {
  return JSON.parse(await readFile(join(dir, id, 'manifest.json'), 'utf8')) as {
    manifest: EvidenceManifest;
    signature: string;
  };
}
