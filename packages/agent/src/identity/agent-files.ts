import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { EdgewardError } from '@edgeward/core';

/** What the agent learned at enrollment, kept in `<dataDir>/enrollment.json`. */
export interface Enrollment {
  readonly deviceId: string;
  readonly fleet: string;
  readonly spiffeId: string;
  readonly managerUrl: string;
  readonly enrolledAt: number;
  readonly labels: Record<string, string>;
  /** The fleet's policy key, pinned here: only bundles it signed are enforced. */
  readonly policyPublicKeyPem?: string;
}

/** Runtime facts for `agent status`, kept in `<dataDir>/state.json`. */
export interface AgentStateFile {
  readonly state: string;
  readonly pid: number;
  readonly updatedAt: number;
  readonly lastContactAt: number | null;
  readonly lastError: string | null;
  readonly inventoryVersion: number;
  /** The event queue when the state was written: what is still waiting to reach the manager. */
  readonly queue?: {
    readonly events: number;
    readonly bytes: number;
    readonly oldestTime: number | null;
    readonly lowSeverityPaused: boolean;
  };
  readonly lastEventAckAt?: number | null;
}

/**
 * The agent's data directory. Every file is replaced atomically (write, then rename), so a crash or
 * power loss leaves the old version or the new one, never half of each. The key is 0600 and never leaves.
 */
export class AgentFiles {
  readonly dir: string;

  constructor(dir: string) {
    this.dir = dir;
  }

  path(
    name:
      | 'key.pem'
      | 'cert.pem'
      | 'chain.pem'
      | 'ca.pem'
      | 'enrollment.json'
      | 'state.json'
      | 'inventory.json',
  ) {
    return join(this.dir, name);
  }

  async ensureDir(): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
  }

  async isEnrolled(): Promise<boolean> {
    return (await this.readJson<Enrollment>('enrollment.json')) !== undefined;
  }

  async requireEnrollment(): Promise<Enrollment> {
    const enrollment = await this.readJson<Enrollment>('enrollment.json');
    if (enrollment === undefined) {
      throw new EdgewardError(
        'EW_AGENT_NOT_ENROLLED',
        `${this.dir} holds no enrollment; run \`edgeward agent enroll --data-dir ${this.dir} …\` first`,
      );
    }
    return enrollment;
  }

  async readKey(): Promise<string> {
    const path = this.path('key.pem');
    const info = await stat(path);
    if ((info.mode & 0o077) !== 0) {
      throw new EdgewardError(
        'EW_PKI_FILE_MODE_UNSAFE',
        `${path} is readable by other users; run chmod 600 ${path}`,
      );
    }
    return readFile(path, 'utf8');
  }

  async readText(name: 'cert.pem' | 'chain.pem' | 'ca.pem'): Promise<string> {
    return readFile(this.path(name), 'utf8');
  }

  async readJson<T>(name: 'enrollment.json' | 'state.json' | 'inventory.json'): Promise<T | undefined> {
    try {
      return JSON.parse(await readFile(this.path(name), 'utf8')) as T;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new EdgewardError('EW_PKI_FILE_INVALID', `${this.path(name)} is unreadable or not JSON`, {
        cause: error,
      });
    }
  }

  async write(
    name:
      | 'key.pem'
      | 'cert.pem'
      | 'chain.pem'
      | 'ca.pem'
      | 'enrollment.json'
      | 'state.json'
      | 'inventory.json',
    contents: string | object,
  ): Promise<void> {
    const path = this.path(name);
    const temporary = `${path}.${randomBytes(4).toString('hex')}.tmp`;
    const text = typeof contents === 'string' ? contents : `${JSON.stringify(contents)}\n`;
    await writeFile(temporary, text, { mode: name === 'key.pem' ? 0o600 : 0o644 });
    await rename(temporary, path);
  }
}
