import { type ChildProcess, spawn } from 'node:child_process';

const main = new URL('../../packages/cli/src/main.ts', import.meta.url).pathname;

/**
 * An agent's settings in end-to-end tests: short polls, batches and retries, so that a test waits seconds
 * rather than minutes; a request on a blackholed link gives up soon instead of after the default 30 s.
 */
export const e2eAgentEnv: Readonly<Record<string, string>> = {
  EDGEWARD_AUTH_POLL_MS: '200',
  EDGEWARD_BATCH_MAX_AGE_MS: '200',
  EDGEWARD_RETRY_INITIAL_MS: '50',
  EDGEWARD_RETRY_MAX_MS: '400',
  EDGEWARD_REQUEST_TIMEOUT_MS: '1500',
  EDGEWARD_SHUTDOWN_GRACE_MS: '2000',
  EDGEWARD_AUTH_LOG_FILES: '/var/log/auth.log',
  EDGEWARD_FIM_PATHS: '/etc/edgeward-e2e',
  EDGEWARD_LOG_LEVEL: 'warn',
};

export interface CliRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `edgeward ARGS` as a real process with this Node (24) and waits for it to end. */
export function runEdgeward(
  args: readonly string[],
  env: Record<string, string> = {},
  timeoutMs = 60_000,
): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [main, ...args], {
      env: { ...process.env, ...env },
      stdio: 'pipe',
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk;
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk;
    });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`edgeward ${args.join(' ')} did not finish in ${timeoutMs} ms\n${stdout}\n${stderr}`));
    }, timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

export interface LongRunning {
  readonly child: ChildProcess;
  output(): string;
  /** Resolves with the first stdout match of `pattern`. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** How long `stop()` waits for a process to end on its own signal before it sends SIGKILL. */
const stopGraceMs = 20_000;

/** Starts `edgeward ARGS` and keeps it running (manager start, agent run). */
export function startEdgeward(args: readonly string[], env: Record<string, string> = {}): LongRunning {
  const child = spawn(process.execPath, [main, ...args], { env: { ...process.env, ...env }, stdio: 'pipe' });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    stdout += chunk;
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk;
  });
  // 'close' comes once the output is read to its end; but a descendant that inherited the pipes would hold
  // it back for as long as it lives, so 'exit' settles it after a short wait for the last output.
  const exited = new Promise<number | null>((resolve) => {
    child.on('close', (code) => resolve(code));
    child.on('exit', (code) => setTimeout(() => resolve(code), 2_000));
  });
  return {
    child,
    output: () => `${stdout}\n--- stderr ---\n${stderr}`,
    async waitFor(pattern, timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline) {
        const match = stdout.match(pattern);
        if (match) return match;
        if (child.exitCode !== null) break;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      throw new Error(`no ${pattern} in the output of edgeward ${args.join(' ')}:\n${stdout}\n${stderr}`);
    },
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      // A process that outlives its grace is killed, so that no test or hook waits on it forever.
      const forced = setTimeout(() => child.kill('SIGKILL'), stopGraceMs);
      try {
        return await exited;
      } finally {
        clearTimeout(forced);
      }
    },
  };
}

/**
 * `edgeward agent enroll … --json` as a real process; returns the device id. A failed enrollment fails
 * the test with what the command printed.
 */
export async function enrollWithCli(options: {
  readonly managerUrl: string;
  readonly token: string;
  readonly caFingerprint: string;
  readonly dataDir: string;
  readonly hostname?: string;
}): Promise<string> {
  const enrolled = await runEdgeward([
    'agent',
    'enroll',
    '--manager',
    options.managerUrl,
    '--token',
    options.token,
    '--ca-fingerprint',
    options.caFingerprint,
    '--data-dir',
    options.dataDir,
    ...(options.hostname === undefined ? [] : ['--hostname', options.hostname]),
    '--json',
  ]);
  if (enrolled.code !== 0)
    throw new Error(`edgeward agent enroll exited with ${enrolled.code}: ${enrolled.stderr}`);
  return (JSON.parse(enrolled.stdout) as { deviceId: string }).deviceId;
}
