import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import {
  Agent,
  type AgentConfig,
  type AgentDeps,
  AgentFiles,
  type AgentState,
  resolveAgentConfig,
} from '@edgeward/agent';
import { EdgewardError, type Labels } from '@edgeward/core';
import { SyntheticBaseline } from './synthetic-baseline.ts';
import { SyntheticCollector, simulatedHostname } from './synthetic-inventory.ts';
import { SyntheticSlots } from './synthetic-slots.ts';

/** The agent's logger type; taken from the agent so that this package needs no logger dependency of its own. */
type Logger = AgentDeps['logger'];

/** Agent settings a simulation may tighten, e.g. short retry delays for fault tests. */
export type SimulatedAgentSettings = Partial<
  Pick<
    AgentConfig,
    'retryInitialMs' | 'retryMaxMs' | 'requestTimeoutMs' | 'shutdownGraceMs' | 'policyPollMs' | 'remediation'
  >
>;

export interface FleetSimulationOptions {
  /** How many devices to simulate. */
  readonly devices: number;
  /** Device API of the manager (or of a FaultProxy in front of it), https://HOST:PORT. */
  readonly managerUrl: string;
  /** SHA-256 fingerprint of the fleet root CA, which every simulated agent pins at enrollment. */
  readonly caFingerprint: string;
  /**
   * Makes a fresh single-use enrollment token for device `index`, carrying `labels` (the simulation's
   * labels plus `sim=true`). Called only for devices whose data directory holds no enrollment yet.
   */
  readonly createEnrollmentToken: (index: number, labels: Labels) => Promise<string>;
  /** Parent of the per-device data directories (`<dataRoot>/sim-00042`); a rerun reuses enrollments. */
  readonly dataRoot: string;
  /** Heartbeat period of every agent, ms. Default 30,000; at least 1,000. */
  readonly reportIntervalMs?: number;
  /** Inventory collection period of every agent, ms. Default 300,000; at least 1,000. */
  readonly inventoryIntervalMs?: number;
  /** Devices enrolling or starting at once. Default 20. */
  readonly enrollConcurrency?: number;
  /** Labels for every simulated device, on top of `sim=true`. */
  readonly labels?: Labels;
  readonly logger: Logger;
  /** Index of the first device, so that two simulations can share a manager. Default 0. */
  readonly firstIndex?: number;
  /** Selects the synthetic fleet; the same seed gives the same inventories. Default 0. */
  readonly seed?: number;
  /** Chance (0 to 1) that a device drifts at an inventory collection. Default 0 (only `drift()`). */
  readonly driftProbability?: number;
  /** Reported to the manager. Default `0.1.0+sim`. */
  readonly agentVersion?: string;
  readonly agentSettings?: SimulatedAgentSettings;
  /** Share of (device, policy check) pairs that fail until remediated. Default 0.1. */
  readonly checkFailRate?: number;
  /**
   * Run the real updater on every device with synthetic A/B slots (`<dataDir>/slots`, see
   * SyntheticSlots). Absent: the devices take no updates.
   */
  readonly updates?: {
    /** Default 1000 ms. */
    readonly pollMs?: number;
    readonly healthDeadlineMs?: number;
    readonly maxAttempts?: number;
  };
}

export type SimulatedDeviceState = AgentState | 'pending';

/** One simulated device: its synthetic inventory and, once its turn to start has come, its agent. */
export interface SimulatedDevice {
  readonly index: number;
  readonly hostname: string;
  readonly dataDir: string;
  readonly collector: SyntheticCollector;
  /** The device's policy checks: `baseline.drift(checkId)` makes one fail. */
  readonly baseline: SyntheticBaseline;
  readonly agent: Agent | undefined;
  /** Why the device could not be started (token, enrollment or connection), when it could not. */
  readonly error: Error | undefined;
  /** The device's synthetic A/B slots, when the simulation runs updates. */
  readonly slots: SyntheticSlots | undefined;
}

export interface SimulatedDeviceReport {
  readonly index: number;
  readonly hostname: string;
  readonly deviceId: string | undefined;
  readonly state: SimulatedDeviceState;
  readonly error?: string;
}

export interface FleetReadyReport {
  readonly running: number;
  readonly failed: number;
  /** Devices that never started because `stop()` came first. */
  readonly notStarted: number;
  /** From `startFleetSimulation` until every device was running or failed. */
  readonly durationMs: number;
  readonly devices: readonly SimulatedDeviceReport[];
}

export interface FleetStats {
  readonly devices: number;
  /** Devices holding a certificate (enrolled now or in an earlier run). */
  readonly enrolled: number;
  readonly running: number;
  readonly failed: number;
  /** Devices whose inventory the manager acknowledged at least once. */
  readonly reported: number;
  /** The most recent contact of any agent with the manager, ms since the epoch. */
  readonly lastContactAt: number | null;
  /** The stalest last contact among running agents (null while one has had none). */
  readonly oldestContactAt: number | null;
}

export interface FleetSimulation {
  readonly devices: readonly SimulatedDevice[];
  /** The agents built so far, in device order. */
  readonly agents: readonly Agent[];
  /** Resolves once every device is running or failed (or skipped by `stop()`); never rejects. */
  ready(): Promise<FleetReadyReport>;
  stats(): FleetStats;
  /**
   * Takes one drift step on the given devices (device indices; default all), which their next inventory
   * collection reports. Returns how many devices drifted.
   */
  drift(indices?: Iterable<number>): number;
  /**
   * Stops one device's agent and starts it again on the same data directory. With `crash`, its updater
   * is abandoned first, as if the process had been killed: nothing it was doing gets to finish.
   */
  restart(index: number, options?: { crash?: boolean }): Promise<void>;
  /** Starts no more devices and stops every agent, each within its shutdown grace period. */
  stop(): Promise<void>;
}

interface DeviceSlot extends SimulatedDevice {
  agent: Agent | undefined;
  slots: SyntheticSlots | undefined;
  error: Error | undefined;
  enrolled: boolean;
}

/**
 * Runs many real agents in this process, each with its own data directory, key and certificate (made by
 * enrolling with its own token), its own mTLS connection and a synthetic inventory. Devices start
 * `enrollConcurrency` at a time, so that a large fleet neither floods the manager's enrollment endpoint
 * nor reports in lockstep afterwards.
 */
export function startFleetSimulation(options: FleetSimulationOptions): FleetSimulation {
  if (!Number.isInteger(options.devices) || options.devices < 0) {
    throw new EdgewardError(
      'EW_CONFIG_INVALID',
      `devices must be a whole number ≥ 0, not ${options.devices}`,
    );
  }
  const startedAt = Date.now();
  const firstIndex = options.firstIndex ?? 0;
  const concurrency = Math.max(1, Math.floor(options.enrollConcurrency ?? 20));
  const labels: Labels = { ...options.labels, sim: 'true' };
  const agentVersion = options.agentVersion ?? '0.1.0+sim';
  const baseConfig = {
    // Simulated devices share this machine's firewall: they only report what isolating would do.
    isolation: 'report-only',
    reportIntervalMs: options.reportIntervalMs ?? 30_000,
    inventoryIntervalMs: options.inventoryIntervalMs ?? 300_000,
    ...options.agentSettings,
    ...(options.updates === undefined
      ? {}
      : {
          updatePollMs: options.updates.pollMs ?? 1000,
          ...(options.updates.healthDeadlineMs === undefined
            ? {}
            : { updateHealthDeadlineMs: options.updates.healthDeadlineMs }),
          ...(options.updates.maxAttempts === undefined
            ? {}
            : { updateMaxAttempts: options.updates.maxAttempts }),
        }),
  };
  // Validated once, before any device starts, so that a bad interval fails here and not 10,000 times.
  const { shutdownGraceMs } = resolveAgentConfig([
    { source: 'simulation options', values: { ...baseConfig, dataDir: options.dataRoot } },
  ]);

  const slots: DeviceSlot[] = Array.from({ length: options.devices }, (_, offset) => {
    const index = firstIndex + offset;
    const hostname = simulatedHostname(index);
    return {
      index,
      hostname,
      dataDir: join(options.dataRoot, hostname),
      collector: new SyntheticCollector({
        index,
        ...(options.seed === undefined ? {} : { seed: options.seed }),
        ...(options.driftProbability === undefined ? {} : { driftProbability: options.driftProbability }),
      }),
      baseline: new SyntheticBaseline(index, {
        ...(options.checkFailRate === undefined ? {} : { failRate: options.checkFailRate }),
        ...(options.seed === undefined ? {} : { seed: options.seed }),
      }),
      agent: undefined,
      error: undefined,
      enrolled: false,
      slots: undefined,
    };
  });
  const byIndex = new Map(slots.map((slot) => [slot.index, slot]));
  let stopping = false;
  let stopped: Promise<void> | undefined;

  async function startDevice(slot: DeviceSlot): Promise<void> {
    const files = new AgentFiles(slot.dataDir);
    slot.enrolled = await files.isEnrolled();
    const token = slot.enrolled ? undefined : await options.createEnrollmentToken(slot.index, labels);
    if (stopping) return;
    const config = resolveAgentConfig([
      { source: 'simulation options', values: { ...baseConfig, dataDir: slot.dataDir } },
    ]);
    // A fresh handler object per start (a restarted process has none of the old one's state); the
    // slots themselves are on disk.
    slot.slots = options.updates === undefined ? undefined : new SyntheticSlots(join(slot.dataDir, 'slots'));
    const agent = new Agent({
      config,
      ...(slot.slots === undefined ? {} : { updateHandler: slot.slots }),
      logger: options.logger.child({ device: slot.hostname }),
      agentVersion,
      collectInventory: () => slot.collector.collect(),
      // Simulated devices have no logs or files of their own; tests feed them events with emit().
      eventSources: 'none',
      baseline: slot.baseline,
      ...(token === undefined
        ? {}
        : {
            enroll: {
              managerUrl: options.managerUrl,
              token,
              caFingerprint: options.caFingerprint,
              hostname: slot.hostname,
            },
          }),
    });
    slot.agent = agent;
    await agent.start();
    slot.enrolled = true;
  }

  async function worker(queue: Iterator<DeviceSlot>): Promise<void> {
    for (let next = queue.next(); !next.done && !stopping; next = queue.next()) {
      const slot = next.value;
      await startDevice(slot).catch((error: unknown) => {
        if (slot.agent?.deviceId !== undefined) slot.enrolled = true;
        // A start cut short by stop() is not a failure of the device.
        if (stopping) return;
        slot.error = error instanceof Error ? error : new Error(String(error));
        options.logger.warn(
          { device: slot.hostname, err: slot.error.message },
          'simulated device failed to start',
        );
      });
    }
  }

  const readyPromise = (async (): Promise<FleetReadyReport> => {
    await mkdir(options.dataRoot, { recursive: true, mode: 0o700 });
    const queue = slots[Symbol.iterator]();
    await Promise.all(Array.from({ length: Math.min(concurrency, slots.length) }, () => worker(queue)));
    return readyReport();
  })().catch((error: unknown) => {
    // Only the data root can fail here; every device's own failure is caught in its slot.
    for (const slot of slots) slot.error ??= error instanceof Error ? error : new Error(String(error));
    return readyReport();
  });

  function stateOf(slot: DeviceSlot): SimulatedDeviceState {
    if (slot.agent !== undefined) return slot.agent.state;
    return slot.error === undefined ? 'pending' : 'failed';
  }

  function readyReport(): FleetReadyReport {
    const devices = slots.map((slot): SimulatedDeviceReport => {
      const state = stateOf(slot);
      return {
        index: slot.index,
        hostname: slot.hostname,
        deviceId: slot.agent?.deviceId,
        state,
        ...(slot.error === undefined ? {} : { error: slot.error.message }),
      };
    });
    return {
      running: devices.filter((device) => device.state === 'running').length,
      failed: devices.filter((device) => device.state === 'failed' || device.error !== undefined).length,
      notStarted: devices.filter((device) => device.state === 'pending').length,
      durationMs: Date.now() - startedAt,
      devices,
    };
  }

  async function stopAll(): Promise<void> {
    stopping = true;
    await Promise.all(
      slots.map(async (slot) => {
        const agent = slot.agent;
        if (agent === undefined) return;
        await agent.stop().catch((error: unknown) => {
          options.logger.warn(
            { device: slot.hostname, err: (error as Error).message },
            'simulated agent stop failed',
          );
        });
      }),
    );
    // Starts in flight end with their current request; do not wait longer than an agent's own grace.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      readyPromise,
      new Promise((resolve) => (timer = setTimeout(resolve, shutdownGraceMs))),
    ]);
    clearTimeout(timer);
  }

  return {
    devices: slots,
    get agents() {
      return slots.flatMap((slot) => (slot.agent === undefined ? [] : [slot.agent]));
    },
    ready: () => readyPromise,
    stats(): FleetStats {
      let enrolled = 0;
      let running = 0;
      let failed = 0;
      let reported = 0;
      let lastContactAt: number | null = null;
      let oldestContactAt: number | null = null;
      let runningWithoutContact = false;
      for (const slot of slots) {
        const agent = slot.agent;
        if (slot.enrolled || agent?.deviceId !== undefined) enrolled += 1;
        const state = stateOf(slot);
        if (state === 'failed') failed += 1;
        if (agent === undefined) continue;
        if (agent.inventoryVersion >= 1) reported += 1;
        const contact = agent.lastContactAt;
        if (contact !== null && (lastContactAt === null || contact > lastContactAt)) lastContactAt = contact;
        if (state === 'running') {
          running += 1;
          if (contact === null) runningWithoutContact = true;
          else if (oldestContactAt === null || contact < oldestContactAt) oldestContactAt = contact;
        }
      }
      return {
        devices: slots.length,
        enrolled,
        running,
        failed,
        reported,
        lastContactAt,
        oldestContactAt: runningWithoutContact ? null : oldestContactAt,
      };
    },
    drift(indices?: Iterable<number>): number {
      let count = 0;
      for (const index of indices ?? byIndex.keys()) {
        const slot = byIndex.get(index);
        if (slot === undefined) continue;
        slot.collector.drift();
        count += 1;
      }
      return count;
    },
    async restart(index, restartOptions = {}) {
      const slot = byIndex.get(index);
      if (slot?.agent === undefined) {
        throw new EdgewardError('EW_CONFIG_INVALID', `simulated device ${index} has no agent to restart`);
      }
      if (restartOptions.crash === true) slot.agent.updater?.abandon();
      await slot.agent.stop(1000, restartOptions.crash === true ? 'simulated crash' : 'simulated restart');
      await startDevice(slot);
    },
    stop() {
      stopped ??= stopAll();
      return stopped;
    },
  };
}
