import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { type LongRunning, runEdgeward, startEdgeward } from './cli-process.ts';

/** A free TCP port on 127.0.0.1: a manager keeps its ports across restarts, so a proxy's target holds. */
/** Ports this test process has handed out: the kernel may offer a just-closed port again at once. */
const handedOut = new Set<number>();

export async function freePort(): Promise<number> {
  for (;;) {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    if (typeof address !== 'object' || address === null) throw new Error('no port');
    if (handedOut.has(address.port)) continue;
    handedOut.add(address.port);
    return address.port;
  }
}

/**
 * `edgeward manager start` as a real process on fixed ports of 127.0.0.1, restartable with the same data,
 * whose SQLite database the test reads directly (read-only, so also while it runs or is down).
 */
export class ManagerProcess {
  readonly dataDir: string;
  readonly devicePort: number;
  readonly operatorPort: number;
  operatorUrl = '';
  fingerprint = '';
  #process: LongRunning | undefined;

  constructor(dataDir: string, devicePort: number, operatorPort: number) {
    this.dataDir = dataDir;
    this.devicePort = devicePort;
    this.operatorPort = operatorPort;
  }

  get deviceUrl(): string {
    return `https://127.0.0.1:${this.devicePort}`;
  }

  /** Starts it with `extra` arguments and environment; resolves once it printed its operator API and CA. */
  async start(extra: readonly string[] = [], env: Record<string, string> = {}): Promise<void> {
    this.#process = startEdgeward(
      [
        'manager',
        'start',
        '--data-dir',
        this.dataDir,
        '--host',
        '127.0.0.1',
        '--device-port',
        String(this.devicePort),
        '--operator-port',
        String(this.operatorPort),
        '--log-level',
        'warn',
        ...extra,
      ],
      env,
    );
    this.operatorUrl = (await this.#process.waitFor(/operator API\s+(\S+)/))[1] ?? '';
    this.fingerprint = (await this.#process.waitFor(/fleet CA fingerprint (\S+)/))[1] ?? '';
  }

  /** Its exit code, or null when a signal ended it (or it was not running). */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
    const running = this.#process;
    this.#process = undefined;
    return (await running?.stop(signal)) ?? null;
  }

  output(): string {
    return this.#process?.output() ?? '';
  }

  /** Runs an operator command against it and returns what it printed; a failure fails the test. */
  async cli(args: readonly string[]): Promise<string> {
    const run = await runEdgeward([...args, '--api', this.operatorUrl, '--data-dir', this.dataDir]);
    assert.equal(run.code, 0, `${args.join(' ')}: ${run.stderr}`);
    return run.stdout;
  }

  query<T>(sql: string, ...params: string[]): T[] {
    const db = new DatabaseSync(join(this.dataDir, 'edgeward.db'), { readOnly: true });
    try {
      return db.prepare(sql).all(...params) as T[];
    } finally {
      db.close();
    }
  }

  /**
   * How often each marker (the user name of a generated failed login) of `deviceId`'s
   * auth.login_failed events is stored here.
   */
  storedMarkers(deviceId: string): Map<string, number> {
    const rows = this.query<{ user: string; n: number }>(
      `SELECT json_extract(data, '$.user') AS user, count(*) AS n FROM events
       WHERE device_id = ? AND type = 'auth.login_failed' GROUP BY user`,
      deviceId,
    );
    return new Map(rows.map((row) => [String(row.user), Number(row.n)]));
  }
}
