// From an operator's isolate to the device carrying it out, over the push channel, with a fleet of
// simulated agents connected: a real manager on SQLite (port 0) and real agents in this process
// (@edgeward/sim), each with its own certificate, mTLS connection and push WebSocket. The simulator runs
// its agents with `isolation: 'report-only'`, since they all share this machine's firewall: the whole
// isolate path runs (push, dispatcher, isolation manager, ruleset built, state file written, result
// posted) except loading the ruleset into nftables.

import { mkdtemp, rm } from 'node:fs/promises';
import { Agent as HttpsAgent, request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type FleetSimulation, startFleetSimulation } from '@edgeward/sim';
import pino from 'pino';
import { type BenchManager, sleep, startBenchManager } from './support.ts';

/** Milliseconds from issuing the command, at each point on its way. */
export interface LatencyStats {
  readonly count: number;
  readonly median: number;
  readonly p90: number;
  readonly p99: number;
  readonly max: number;
}

export interface IsolatePhase {
  readonly commands: number;
  /** The operator API answered 201 with the command stored and handed to the push connection. */
  readonly replied: LatencyStats;
  /** The agent's isolate handler returned `done` (report-only: the ruleset it would load is built). */
  readonly enforced: LatencyStats;
  /** The manager committed the device's `done` result: what the operator sees as done. */
  readonly stored: LatencyStats;
  /** Commands the API answered with `pending` (no push connection) instead of `sent`. */
  readonly notPushed: number;
  /** Commands without a stored `done` result within the timeout, or with another status. */
  readonly incomplete: number;
  /** From the first request to the last stored result. */
  readonly wallMs: number;
}

export interface IsolateLatency {
  readonly devices: number;
  /** Agents running with their push connection up when the measurement began. */
  readonly connected: number;
  /** From starting the fleet until every agent was running (enrollments included), seconds. */
  readonly fleetReadySeconds: number;
  /** From then until every push connection was up, seconds. */
  readonly pushReadySeconds: number;
  readonly reportIntervalS: number;
  readonly warmup: number;
  readonly sequential: IsolatePhase;
  readonly burst: IsolatePhase;
}

const operator = { id: 'bench', name: 'bench', role: 'admin' as const };
/** A command without a stored result by then counts as incomplete. */
const COMMAND_TIMEOUT_MS = 30_000;
const WARMUP_COMMANDS = 5;
/** The simulator's default heartbeat: the background load of a connected fleet. */
const REPORT_INTERVAL_MS = 30_000;

/**
 * Isolates `commands` devices spread over a fleet of `devices` one after another (each issued once the
 * previous one's result is stored), then `burst` other devices at once, timing each command at three
 * points: the API's reply, the agent's handler returning, the result committed on the manager.
 */
export async function measureIsolateLatency(options: {
  devices: number;
  commands: number;
  burst: number;
  progress: (line: string) => void;
}): Promise<IsolateLatency> {
  const dir = await mkdtemp(join(tmpdir(), 'edgeward-bench-isolate-'));
  const enforced = new Marks();
  const stored = new Marks();
  let manager: BenchManager | undefined;
  let fleet: FleetSimulation | undefined;
  let client: HttpsAgent | undefined;
  try {
    const started = await startBenchManager(join(dir, 'manager'));
    manager = started.manager;
    const bench = manager;
    const adminToken = bench.firstStart?.adminToken.token;
    const address = bench.operatorServer.server.address();
    if (adminToken === undefined) throw new Error('the manager made no admin token on its first start');
    if (address === null || typeof address === 'string') throw new Error('the operator API is not listening');
    const operatorUrl = `https://127.0.0.1:${address.port}`;
    client = new HttpsAgent({ keepAlive: true, ca: bench.pki.rootCaPem });
    const api = operatorApi(client, operatorUrl, adminToken);

    // The moment the device server has committed a result, without polling the store from the event loop
    // the agents and the manager share (which would add load and a polling interval to every figure).
    const commands = bench.services.commands;
    const recordResult = commands.recordResult.bind(commands);
    commands.recordResult = async (deviceId, commandId, result) => {
      const outcome = await recordResult(deviceId, commandId, result);
      if (outcome.accepted) stored.mark(commandId, result.status);
      return outcome;
    };

    const fleetStart = performance.now();
    fleet = startFleetSimulation({
      devices: options.devices,
      managerUrl: started.deviceUrl,
      caFingerprint: bench.pki.caFingerprint,
      createEnrollmentToken: async (_index, labels) =>
        (await bench.services.tokens.create(operator, labels, 3_600_000)).token,
      dataRoot: join(dir, 'fleet'),
      reportIntervalMs: REPORT_INTERVAL_MS,
      logger: handlerReturnLogger(enforced),
    });
    const ready = await fleet.ready();
    const fleetReadySeconds = (performance.now() - fleetStart) / 1000;
    if (ready.failed > 0) {
      const failure = ready.devices.find((device) => device.error !== undefined);
      throw new Error(`${ready.failed} simulated devices failed to start, e.g. ${failure?.error}`);
    }
    const deviceIds = ready.devices.flatMap((device) =>
      device.deviceId === undefined ? [] : [device.deviceId],
    );
    options.progress(
      `isolate: ${ready.running} agents running after ${fleetReadySeconds.toFixed(1)} s; waiting for their push connections`,
    );

    const pushStart = performance.now();
    const push = bench.deviceServer.push;
    await until(() => deviceIds.every((id) => push.isConnected(id)), 60_000, 'every push connection');
    const pushReadySeconds = (performance.now() - pushStart) / 1000;
    // The fleet's start-up traffic (first inventories) is over before the clock runs; heartbeats go on.
    await until(() => fleet?.stats().reported === deviceIds.length, 120_000, 'every first inventory');
    const connected = deviceIds.filter((id) => push.isConnected(id)).length;
    options.progress(
      `isolate: ${connected} push connections up ${pushReadySeconds.toFixed(1)} s later; first inventories in`,
    );

    const sequentialIds = spread(deviceIds, options.commands);
    const chosen = new Set(sequentialIds);
    const others = deviceIds.filter((id) => !chosen.has(id));
    const burstIds = spread(others.length >= options.burst ? others : deviceIds, options.burst);
    const warmupIds = spread(others.length > 0 ? others.slice(-WARMUP_COMMANDS) : deviceIds, WARMUP_COMMANDS);

    const issue = async (deviceId: string, startedAt: number): Promise<Timing> => {
      const reply = await api('POST', `/api/v1/devices/${deviceId}/isolate`, {
        reason: 'bench: isolate latency',
      });
      const repliedAt = performance.now();
      const body = reply.body as { id?: string; status?: string };
      if (reply.status !== 201 || body.id === undefined) {
        throw new Error(`isolate ${deviceId}: HTTP ${reply.status} ${JSON.stringify(reply.body)}`);
      }
      const [enforcedMark, storedMark] = await Promise.all([
        enforced.wait(body.id, COMMAND_TIMEOUT_MS),
        stored.wait(body.id, COMMAND_TIMEOUT_MS),
      ]);
      return {
        pushed: body.status === 'sent',
        replied: repliedAt - startedAt,
        enforced: enforcedMark?.status === 'done' ? enforcedMark.at - startedAt : undefined,
        stored: storedMark?.status === 'done' ? storedMark.at - startedAt : undefined,
      };
    };

    for (const deviceId of warmupIds) await issue(deviceId, performance.now());

    const sequentialStart = performance.now();
    const sequential: Timing[] = [];
    for (const deviceId of sequentialIds) sequential.push(await issue(deviceId, performance.now()));
    const sequentialPhase = phase(sequential, performance.now() - sequentialStart);
    options.progress(
      `isolate: sequential ${sequential.length}: stored median ${sequentialPhase.stored.median.toFixed(1)} ms, p99 ${sequentialPhase.stored.p99.toFixed(1)} ms`,
    );

    // A client that fires 100 requests at once holds 100 connections; they are opened beforehand so that
    // the burst times the manager and the devices, not this client's TLS handshakes.
    await Promise.all(burstIds.map((deviceId) => api('GET', `/api/v1/devices/${deviceId}`)));
    const burstStart = performance.now();
    const burst = await Promise.all(burstIds.map((deviceId) => issue(deviceId, burstStart)));
    const burstPhase = phase(burst, performance.now() - burstStart);
    options.progress(
      `isolate: burst of ${burst.length}: stored median ${burstPhase.stored.median.toFixed(1)} ms, p99 ${burstPhase.stored.p99.toFixed(1)} ms`,
    );

    return {
      devices: options.devices,
      connected,
      fleetReadySeconds,
      pushReadySeconds,
      reportIntervalS: REPORT_INTERVAL_MS / 1000,
      warmup: warmupIds.length,
      sequential: sequentialPhase,
      burst: burstPhase,
    };
  } finally {
    await fleet?.stop();
    client?.destroy();
    await manager?.close();
    await rm(dir, { recursive: true, force: true });
  }
}

interface Timing {
  readonly pushed: boolean;
  readonly replied: number;
  readonly enforced: number | undefined;
  readonly stored: number | undefined;
}

function phase(timings: readonly Timing[], wallMs: number): IsolatePhase {
  const complete = timings.filter((timing) => timing.enforced !== undefined && timing.stored !== undefined);
  return {
    commands: timings.length,
    replied: stats(timings.map((timing) => timing.replied)),
    enforced: stats(complete.map((timing) => timing.enforced ?? Number.NaN)),
    stored: stats(complete.map((timing) => timing.stored ?? Number.NaN)),
    notPushed: timings.filter((timing) => !timing.pushed).length,
    incomplete: timings.length - complete.length,
    wallMs,
  };
}

/** Nearest-rank percentiles: p99 of 100 samples is the 99th smallest, of 200 the 198th. */
function stats(values: readonly number[]): LatencyStats {
  const sorted = [...values].sort((a, b) => a - b);
  const rank = (fraction: number) =>
    sorted[Math.max(0, Math.ceil(fraction * sorted.length) - 1)] ?? Number.NaN;
  return {
    count: sorted.length,
    median: rank(0.5),
    p90: rank(0.9),
    p99: rank(0.99),
    max: sorted.at(-1) ?? Number.NaN,
  };
}

/** `count` items spread evenly over `items`, so that samples come from every part of the fleet. */
function spread<T>(items: readonly T[], count: number): T[] {
  if (items.length === 0) return [];
  return Array.from({ length: count }, (_, index) => items[Math.floor((index * items.length) / count)] as T);
}

/** When each command reached a point, by command id, for waiters that may come before or after. */
class Marks {
  readonly #marks = new Map<string, { at: number; status: string }>();
  readonly #waiters = new Map<string, (mark: { at: number; status: string }) => void>();

  mark(commandId: string, status: string): void {
    if (this.#marks.has(commandId)) return;
    const mark = { at: performance.now(), status };
    this.#marks.set(commandId, mark);
    this.#waiters.get(commandId)?.(mark);
    this.#waiters.delete(commandId);
  }

  /** Undefined when the mark did not come within `timeoutMs`. */
  wait(commandId: string, timeoutMs: number): Promise<{ at: number; status: string } | undefined> {
    const mark = this.#marks.get(commandId);
    if (mark !== undefined) return Promise.resolve(mark);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#waiters.delete(commandId);
        resolve(undefined);
      }, timeoutMs);
      this.#waiters.set(commandId, (arrived) => {
        clearTimeout(timer);
        resolve(arrived);
      });
    });
  }
}

/**
 * The agents' logger: the command dispatcher logs `command executed` the moment a handler has returned
 * (before the result is saved and posted), which is the device-side end point. Intercepted before
 * serialization; everything below warn is dropped, warnings and errors go to stderr.
 */
function handlerReturnLogger(enforced: Marks): pino.Logger {
  return pino(
    {
      level: 'info',
      hooks: {
        logMethod(args, method, level) {
          const [fields, message] = args as unknown[];
          if (message === 'command executed' && typeof fields === 'object' && fields !== null) {
            const { commandId, status } = fields as { commandId?: unknown; status?: unknown };
            if (typeof commandId === 'string') enforced.mark(commandId, String(status));
          }
          if (level >= 40) method.apply(this, args);
        },
      },
    },
    pino.destination(2),
  );
}

/** Requests to the operator API over one keep-alive client, as the CLI or a SOAR script would send them. */
function operatorApi(client: HttpsAgent, baseUrl: string, token: string) {
  return (method: string, path: string, body?: unknown): Promise<{ status: number; body: unknown }> =>
    new Promise((resolve, reject) => {
      const payload = body === undefined ? undefined : JSON.stringify(body);
      const outgoing = request(
        new URL(path, baseUrl),
        {
          method,
          agent: client,
          headers: {
            authorization: `Bearer ${token}`,
            ...(payload === undefined ? {} : { 'content-type': 'application/json' }),
          },
        },
        (response) => {
          let text = '';
          response.setEncoding('utf8');
          response.on('data', (chunk: string) => {
            text += chunk;
          });
          response.on('end', () =>
            resolve({ status: response.statusCode ?? 0, body: text ? JSON.parse(text) : {} }),
          );
        },
      );
      outgoing.on('error', reject);
      outgoing.end(payload);
    });
}

async function until(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!check()) {
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(100);
  }
}
