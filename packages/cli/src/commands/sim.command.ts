import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EdgewardError, formatDuration, parseDuration } from '@edgeward/core';
import { type FleetSimulation, type FleetStats, startFleetSimulation } from '@edgeward/sim';
import type { Command } from 'commander';
import type { CliIo } from '../cli-io.ts';
import { createLogger } from '../logger.ts';
import { type ApiFlags, operatorApiFrom } from '../operator-api-client.ts';
import { json, labelsText, parseLabelFlags, UsageError } from '../output.ts';
import { EDGEWARD_VERSION } from '../version.ts';
import { withApiOptions } from './api-options.ts';

interface SimFlags extends ApiFlags {
  devices: string;
  manager: string;
  caFingerprint: string;
  simDir?: string;
  label?: string[];
  reportInterval: string;
  inventoryInterval: string;
  duration?: string;
  enrollConcurrency: string;
  drift: string;
  seed: string;
  tokenTtl: string;
  logLevel: string;
  json?: boolean;
}

const collect = (value: string, previous: string[] = []) => [...previous, value];

function wholeNumber(text: string, flag: string, min: number): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < min)
    throw new UsageError(`${flag} ${text} must be a whole number ≥ ${min}`);
  return value;
}

function progressLine(stats: FleetStats): string {
  return `${stats.enrolled}/${stats.devices} enrolled, ${stats.running} running, ${stats.failed} failed, ${stats.reported} reported inventory`;
}

export function registerSimCommand(program: Command, io: CliIo): void {
  withApiOptions(program.command('sim'))
    .description(
      'simulate a fleet: many real agents in this process, each enrolled with its own token, key and certificate',
    )
    .requiredOption('--devices <n>', 'how many devices to simulate')
    .requiredOption('--manager <url>', 'device API of the manager, https://HOST:8443')
    .requiredOption('--ca-fingerprint <sha256>', 'fleet CA fingerprint, as printed by the manager')
    .option(
      '--sim-dir <dir>',
      "agents' data directories; kept and reused on the next run (default: a temporary directory, removed at the end)",
    )
    .option(
      '--label <key=value>',
      'label for every simulated device (repeatable); sim=true is always added',
      collect,
    )
    .option('--report-interval <duration>', 'heartbeat period of each agent', '30s')
    .option('--inventory-interval <duration>', 'inventory period of each agent', '5m')
    .option(
      '--duration <duration>',
      'stop this long after every device has started (default: run until interrupted)',
    )
    .option('--enroll-concurrency <n>', 'devices enrolling at once', '20')
    .option(
      '--drift <probability>',
      'chance, 0 to 1, that a device changes (package, port, user, module) at an inventory collection',
      '0',
    )
    .option('--seed <n>', 'selects the synthetic fleet; the same seed gives the same inventories', '0')
    .option('--token-ttl <duration>', 'lifetime of the enrollment tokens it creates', '1h')
    .option('--log-level <level>', "the agents' log level: trace, debug, info, warn, error, silent", 'warn')
    .option('--json', 'print the summary as JSON')
    .addHelpText(
      'after',
      `
Creates one single-use enrollment token per device through the operator API (labels plus sim=true),
then runs that many agents built from the real agent code, each in its own data directory with its
own key and certificate, reporting synthetic Debian and Alpine inventories. Progress goes to standard
error, the summary to standard output. Stops on Ctrl-C or after --duration.

Example:
  $ edgeward sim --devices 500 --manager https://hub.example:8443 --ca-fingerprint 3f5c…e9 \\
      --label site=lab --report-interval 30s --drift 0.05 --duration 10m`,
    )
    .action(async (flags: SimFlags) => {
      const devices = wholeNumber(flags.devices, '--devices', 1);
      const enrollConcurrency = wholeNumber(flags.enrollConcurrency, '--enroll-concurrency', 1);
      const seed = wholeNumber(flags.seed, '--seed', 0);
      const driftProbability = Number(flags.drift);
      if (!(driftProbability >= 0 && driftProbability <= 1)) {
        throw new UsageError(`--drift ${flags.drift} must be a probability between 0 and 1, e.g. 0.05`);
      }
      const reportIntervalMs = parseDuration(flags.reportInterval, '--report-interval');
      const inventoryIntervalMs = parseDuration(flags.inventoryInterval, '--inventory-interval');
      const durationMs =
        flags.duration === undefined ? undefined : parseDuration(flags.duration, '--duration');
      const tokenTtlMs = parseDuration(flags.tokenTtl, '--token-ttl');
      const labels = parseLabelFlags(flags.label ?? []);
      const api = operatorApiFrom(flags, io);
      const logger = await createLogger(flags.logLevel, io);

      const temporary = flags.simDir === undefined;
      const dataRoot = flags.simDir ?? (await mkdtemp(join(tmpdir(), 'edgeward-sim-')));
      const startedAt = Date.now();
      const start = () =>
        startFleetSimulation({
          devices,
          managerUrl: flags.manager,
          caFingerprint: flags.caFingerprint,
          createEnrollmentToken: async (_index, tokenLabels) =>
            (await api.createToken(tokenLabels, tokenTtlMs)).token,
          dataRoot,
          reportIntervalMs,
          inventoryIntervalMs,
          enrollConcurrency,
          labels,
          logger,
          seed,
          driftProbability,
          agentVersion: `${EDGEWARD_VERSION}+sim`,
        });
      let simulation: FleetSimulation;
      try {
        simulation = start();
      } catch (error) {
        // Bad settings are refused before any device starts; leave no temporary directory behind.
        if (temporary) await rm(dataRoot, { recursive: true, force: true });
        throw error;
      }
      io.err(
        `simulating ${devices} devices (labels ${labelsText({ ...labels, sim: 'true' })}) in ${dataRoot}`,
      );

      let stopReason: string | undefined;
      const stopRequested = io.stopRequested.then((signal) => {
        stopReason ??= signal;
      });
      const progress = setInterval(() => io.err(progressLine(simulation.stats())), 2000);
      let durationTimer: NodeJS.Timeout | undefined;
      try {
        const ready = await Promise.race([simulation.ready(), stopRequested.then(() => undefined)]);
        clearInterval(progress);
        if (ready !== undefined) {
          io.err(
            `started in ${formatDuration(ready.durationMs)}: ${ready.running} running, ${ready.failed} failed`,
          );
          const failures = new Map<string, { count: number; example: string }>();
          for (const device of simulation.devices) {
            if (device.error === undefined) continue;
            const key = device.error instanceof EdgewardError ? device.error.code : device.error.message;
            const entry = failures.get(key) ?? { count: 0, example: device.error.message };
            entry.count += 1;
            failures.set(key, entry);
          }
          for (const [key, { count, example }] of failures) io.err(`  ${count} × ${key}: ${example}`);
          const firstError = simulation.devices.find((device) => device.error !== undefined)?.error;
          if (ready.running === 0 && firstError !== undefined) throw firstError;

          const reportEveryMs = Math.max(10_000, reportIntervalMs);
          const steady = setInterval(() => io.err(progressLine(simulation.stats())), reportEveryMs);
          const elapsed = new Promise<void>((resolve) => {
            if (durationMs !== undefined) durationTimer = setTimeout(resolve, durationMs);
          }).then(() => {
            stopReason ??= 'duration';
          });
          await Promise.race([stopRequested, elapsed]);
          clearInterval(steady);
        }
        io.err(`stopping (${stopReason ?? 'requested'})…`);
        const before = simulation.stats();
        await simulation.stop();
        const summary = {
          devices,
          enrolled: before.enrolled,
          running: before.running,
          failed: before.failed,
          reported: before.reported,
          startupMs: ready?.durationMs ?? null,
          runMs: Date.now() - startedAt,
          lastContactAt: before.lastContactAt,
          stoppedBy: stopReason ?? 'requested',
        };
        if (flags.json) {
          io.out(json(summary));
        } else {
          io.out(
            [
              `simulated ${devices} devices against ${flags.manager} for ${formatDuration(summary.runMs)}`,
              `enrolled:  ${summary.enrolled}`,
              `running:   ${summary.running} (until the stop)`,
              `failed:    ${summary.failed}`,
              `reported:  ${summary.reported} inventories`,
              `startup:   ${summary.startupMs === null ? 'interrupted' : formatDuration(summary.startupMs)}`,
            ].join('\n'),
          );
        }
      } finally {
        clearInterval(progress);
        clearTimeout(durationTimer);
        await simulation.stop();
        logger.flush?.();
        if (temporary) await rm(dataRoot, { recursive: true, force: true });
      }
    });
}
