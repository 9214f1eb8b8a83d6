import { mkdir, open, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  type AuditCheckpoint,
  type AuditEntry,
  type AuditEntryInput,
  appendEntry,
  type DeviceAuditAnchorReply,
  deviceAuditSigner,
  PROTOCOL_VERSION,
  signCheckpoint,
} from '@edgeward/core';
import type { Logger } from 'pino';
import { writeFileAtomically } from '../baseline/atomic-write.ts';

export interface AgentAuditChainOptions {
  /** `<dataDir>/audit`: `chain.jsonl` (one entry a line, append-only) and `anchored.json`. */
  readonly dir: string;
  /** The device key (PEM) that signs checkpoints. */
  readonly keyPem: () => Promise<string>;
  readonly now: () => number;
  readonly log: Logger;
}

/** What the agent sends with its uploads (POST /v1/audit), certificate aside. */
export interface AgentAuditUpload {
  readonly entries: AuditEntry[];
  readonly checkpoint: AuditCheckpoint;
}

/**
 * The device's own tamper-evident record of its security actions: the hash chain of core's audit-chain,
 * kept in an append-only file, with checkpoints signed by the device key. Entries since the last anchor
 * travel to the manager with a checkpoint over them; once the manager anchored them in its own chain,
 * rewriting them here no longer links with what the manager holds.
 */
export class AgentAuditChain {
  readonly #options: AgentAuditChainOptions;
  #entries: AuditEntry[] | undefined;
  #anchoredSeq = 0;
  #busy: Promise<unknown> = Promise.resolve();

  constructor(options: AgentAuditChainOptions) {
    this.#options = options;
  }

  get #chainFile(): string {
    return join(this.#options.dir, 'chain.jsonl');
  }

  /** Appends one entry, on disk before it resolves. Failures are logged: the action itself stands. */
  record(input: Omit<AuditEntryInput, 'at'>): Promise<AuditEntry | undefined> {
    const run = this.#busy.then(async () => {
      const entries = await this.#load();
      const entry = appendEntry(entries.at(-1), { ...input, at: this.#options.now() });
      await mkdir(this.#options.dir, { recursive: true, mode: 0o700 });
      const handle = await open(this.#chainFile, 'a', 0o600);
      try {
        await handle.write(`${JSON.stringify(entry)}\n`);
        await handle.sync();
      } finally {
        await handle.close();
      }
      entries.push(entry);
      return entry;
    });
    this.#busy = run.catch(() => {});
    return run.catch((error: unknown) => {
      this.#options.log.error(
        { err: (error as Error).message, kind: input.kind },
        'audit entry not recorded',
      );
      return undefined;
    });
  }

  async entries(): Promise<readonly AuditEntry[]> {
    await this.#busy;
    return this.#load();
  }

  /** The entries the manager has not anchored yet and a checkpoint over the last; undefined when none. */
  async pendingUpload(): Promise<AgentAuditUpload | undefined> {
    await this.#busy;
    const entries = await this.#load();
    const last = entries.at(-1);
    if (last === undefined || last.seq <= this.#anchoredSeq) return undefined;
    const signer = deviceAuditSigner(await this.#options.keyPem());
    return {
      entries: entries.filter((entry) => entry.seq > this.#anchoredSeq),
      checkpoint: signCheckpoint(signer, last, this.#options.now()),
    };
  }

  /** Sends what is pending through `post`, and remembers what the manager anchored. */
  async upload(
    post: (body: unknown) => Promise<DeviceAuditAnchorReply>,
    certificatePem: string,
  ): Promise<number | undefined> {
    const pending = await this.pendingUpload();
    if (pending === undefined) return undefined;
    const reply = await post({ v: PROTOCOL_VERSION, ...pending, certificatePem });
    this.#anchoredSeq = Math.max(this.#anchoredSeq, reply.anchoredSeq);
    await writeFileAtomically(
      join(this.#options.dir, 'anchored.json'),
      JSON.stringify({ seq: this.#anchoredSeq }),
      {
        mode: 0o600,
      },
    );
    return this.#anchoredSeq;
  }

  async #load(): Promise<AuditEntry[]> {
    if (this.#entries !== undefined) return this.#entries;
    const text = await readFile(this.#chainFile, 'utf8').catch(() => '');
    // A crash mid-write leaves at most a partial last line; it was never anchored, so it is dropped.
    const entries: AuditEntry[] = [];
    let cut = false;
    for (const line of text.split('\n')) {
      if (line.trim() === '') continue;
      try {
        entries.push(JSON.parse(line) as AuditEntry);
      } catch {
        cut = true;
        break;
      }
    }
    if (cut) {
      this.#options.log.warn(
        { file: this.#chainFile },
        'an unreadable line ends the audit chain file; dropped',
      );
      const whole = entries.map((entry) => `${JSON.stringify(entry)}\n`).join('');
      await writeFileAtomically(this.#chainFile, whole, { mode: 0o600 });
    }
    const anchored = await readFile(join(this.#options.dir, 'anchored.json'), 'utf8').catch(() => undefined);
    this.#anchoredSeq = anchored === undefined ? 0 : ((JSON.parse(anchored) as { seq?: number }).seq ?? 0);
    this.#entries = entries;
    return entries;
  }
}
