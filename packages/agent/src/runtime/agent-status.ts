import { X509Certificate } from 'node:crypto';
import { AgentFiles, type AgentStateFile } from '../identity/agent-files.ts';

export interface AgentStatus {
  readonly dataDir: string;
  readonly enrolled: boolean;
  /** The last state the agent recorded, and whether its process is still alive. */
  readonly state: string;
  readonly running: boolean;
  readonly deviceId: string | null;
  readonly spiffeId: string | null;
  readonly managerUrl: string | null;
  readonly labels: Record<string, string>;
  readonly certificateNotAfter: number | null;
  readonly lastContactAt: number | null;
  readonly lastError: string | null;
  readonly inventoryVersion: number;
  /** Events waiting in the queue when the agent last wrote its state. */
  readonly queuedEvents: number;
  readonly queuedBytes: number;
  readonly oldestQueuedAt: number | null;
  readonly lastEventAckAt: number | null;
}

/** What `edgeward agent status` shows, read from the data directory alone. */
export async function readAgentStatus(dataDir: string): Promise<AgentStatus> {
  const files = new AgentFiles(dataDir);
  const enrollment = await files.readJson<{
    deviceId: string;
    spiffeId: string;
    managerUrl: string;
    labels: Record<string, string>;
  }>('enrollment.json');
  const state = await files.readJson<AgentStateFile>('state.json');
  let notAfter: number | null = null;
  if (enrollment !== undefined) {
    notAfter = Date.parse(new X509Certificate(await files.readText('cert.pem')).validTo);
  }
  const running = state !== undefined && !['stopped', 'failed'].includes(state.state) && isAlive(state.pid);
  return {
    dataDir,
    enrolled: enrollment !== undefined,
    state:
      enrollment === undefined
        ? 'not enrolled'
        : running
          ? state.state
          : state === undefined
            ? 'never started'
            : 'stopped',
    running,
    deviceId: enrollment?.deviceId ?? null,
    spiffeId: enrollment?.spiffeId ?? null,
    managerUrl: enrollment?.managerUrl ?? null,
    labels: enrollment?.labels ?? {},
    certificateNotAfter: notAfter,
    lastContactAt: state?.lastContactAt ?? null,
    lastError: state?.lastError ?? null,
    inventoryVersion: state?.inventoryVersion ?? 0,
    queuedEvents: state?.queue?.events ?? 0,
    queuedBytes: state?.queue?.bytes ?? 0,
    oldestQueuedAt: state?.queue?.oldestTime ?? null,
    lastEventAckAt: state?.lastEventAckAt ?? null,
  };
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
