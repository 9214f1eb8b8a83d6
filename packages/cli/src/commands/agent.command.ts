import { readFileSync } from 'node:fs';
// Named imports only: the device bundle keeps just what they reach (a namespace import would pull in all
// of core, the X.509 library with it).
import {
  type ConfigLayer,
  diffInventory,
  environmentLayer,
  parseConfigFile,
  parseDuration,
} from '@edgeward/core';
import type { Command } from 'commander';
import type { CliIo } from '../cli-io.ts';
import { createLogger } from '../logger.ts';
import { json, labelsText, when } from '../output.ts';
import { EDGEWARD_VERSION } from '../version.ts';

interface AgentFlags {
  config?: string;
  dataDir?: string;
  root?: string;
  firmwareFile?: string;
  reportInterval?: string;
  inventoryInterval?: string;
  logLevel?: string;
}

async function agentConfig(flags: AgentFlags, io: CliIo) {
  const { agentConfigKeys, resolveAgentConfig } = await import('@edgeward/agent');
  const layers: ConfigLayer[] = [];
  if (flags.config !== undefined)
    layers.push(await parseConfigFile(readFileSync(flags.config, 'utf8'), flags.config));
  layers.push(environmentLayer(io.env, agentConfigKeys, (path) => readFileSync(path, 'utf8')));
  layers.push({
    source: 'flags',
    values: {
      dataDir: flags.dataDir,
      root: flags.root,
      firmwareFile: flags.firmwareFile,
      reportIntervalMs: flags.reportInterval && parseDuration(flags.reportInterval, '--report-interval'),
      inventoryIntervalMs:
        flags.inventoryInterval && parseDuration(flags.inventoryInterval, '--inventory-interval'),
      logLevel: flags.logLevel,
    },
  });
  return resolveAgentConfig(layers);
}

const dataDirHelp = 'the agent data directory (key, certificates, state); EDGEWARD_DATA_DIR';

/** Adds enroll, run, status and inventory under `parent` (`edgeward agent`, or the device binary itself). */
export function registerAgentCommands(parent: Command, io: CliIo): void {
  const agent = parent;

  agent
    .command('enroll')
    .description('enroll this device with a manager using a one-time token')
    .requiredOption('--manager <url>', 'device API of the manager, https://HOST:8443')
    .requiredOption('--token <token>', 'enrollment token from `edgeward tokens create`')
    .requiredOption('--ca-fingerprint <sha256>', 'fleet CA fingerprint, as printed by the manager')
    .requiredOption('--data-dir <dir>', dataDirHelp)
    .option('--hostname <name>', 'name to report (default: this host name)')
    .option('--json', 'print the result as JSON')
    .addHelpText(
      'after',
      `
The device key is created here and never leaves the device; the manager sets the certificate's
subject and SPIFFE id (spiffe://<fleet>/device/<id>) and the labels of the token.

Example:
  $ edgeward agent enroll --manager https://hub.example:8443 --token et-1a2b….secret \\
      --ca-fingerprint 3f5c…e9 --data-dir /var/lib/edgeward-agent`,
    )
    .action(
      async (flags: {
        manager: string;
        token: string;
        caFingerprint: string;
        dataDir: string;
        hostname?: string;
        json?: boolean;
      }) => {
        const config = await agentConfig({ dataDir: flags.dataDir }, io);
        const { enrollAgent } = await import('@edgeward/agent');
        const enrollment = await enrollAgent({
          managerUrl: flags.manager,
          token: flags.token,
          caFingerprint: flags.caFingerprint,
          dataDir: flags.dataDir,
          ...(flags.hostname === undefined ? {} : { hostname: flags.hostname }),
          agentVersion: EDGEWARD_VERSION,
          reportIntervalMs: config.reportIntervalMs,
          timeoutMs: config.requestTimeoutMs,
        });
        if (flags.json) io.out(json(enrollment));
        else
          io.out(
            [
              `enrolled as ${enrollment.deviceId} (${enrollment.spiffeId})`,
              `labels: ${labelsText(enrollment.labels)}`,
              `start the agent with: edgeward agent run --data-dir ${flags.dataDir}`,
            ].join('\n'),
          );
      },
    );

  agent
    .command('run')
    .description('run the agent: heartbeats, inventory reports, certificate renewal')
    .requiredOption('--data-dir <dir>', dataDirHelp)
    .option('--config <file>', 'YAML file with agent settings')
    .option('--root <dir>', 'filesystem root the collectors read (default /)')
    .option(
      '--firmware-file <file>',
      'file holding the firmware version, where DMI and device tree are missing',
    )
    .option('--report-interval <duration>', 'heartbeat period, e.g. 60s (default 60s)')
    .option('--inventory-interval <duration>', 'inventory period, e.g. 5m (default 5m)')
    .option('--log-level <level>', 'trace, debug, info, warn, error (default info)')
    .addHelpText(
      'after',
      '\nExample:\n  $ edgeward agent run --data-dir /var/lib/edgeward-agent --report-interval 30s',
    )
    .action(async (flags: AgentFlags) => {
      const config = await agentConfig(flags, io);
      const { Agent, collectInventory } = await import('@edgeward/agent');
      const logger = await createLogger(config.logLevel, io);
      const runner = new Agent({
        config,
        logger,
        agentVersion: EDGEWARD_VERSION,
        collectInventory: () =>
          collectInventory({
            root: config.root,
            now: Date.now,
            ...(config.firmwareFile === undefined ? {} : { firmwareFile: config.firmwareFile }),
          }),
      });
      await runner.start();
      const signal = await io.stopRequested;
      logger.info({ signal }, 'stopping');
      await runner.stop(undefined, `signal:${signal}`);
      logger.flush?.();
    });

  agent
    .command('status')
    .description("show the agent's state, manager, certificate expiry and last contact")
    .requiredOption('--data-dir <dir>', dataDirHelp)
    .option('--json', 'print as JSON')
    .addHelpText('after', '\nExample:\n  $ edgeward agent status --data-dir /var/lib/edgeward-agent')
    .action(async (flags: { dataDir: string; json?: boolean }) => {
      const { readAgentStatus } = await import('@edgeward/agent');
      const status = await readAgentStatus(flags.dataDir);
      if (flags.json) {
        io.out(json(status));
        return;
      }
      io.out(
        [
          `state:          ${status.state}${status.running ? ' (process running)' : ''}`,
          `device:         ${status.deviceId ?? '-'} ${status.spiffeId ? `(${status.spiffeId})` : ''}`.trimEnd(),
          `manager:        ${status.managerUrl ?? '-'}`,
          `labels:         ${labelsText(status.labels)}`,
          `certificate:    ${status.certificateNotAfter === null ? '-' : `expires ${when(status.certificateNotAfter)}`}`,
          `last contact:   ${when(status.lastContactAt)}`,
          `inventory:      version ${status.inventoryVersion}`,
          `event queue:    ${status.queuedEvents} events, ${status.queuedBytes} bytes${status.oldestQueuedAt === null ? '' : `, oldest ${when(status.oldestQueuedAt)}`}`,
          `events acked:   ${when(status.lastEventAckAt)}`,
          ...(status.lastError ? [`last error:     ${status.lastError}`] : []),
        ].join('\n'),
      );
    });

  agent
    .command('inventory')
    .description('print the inventory report the agent would send now (JSON)')
    .option(
      '--data-dir <dir>',
      'when enrolled, print the difference from the last report, as it would be sent',
    )
    .option('--root <dir>', 'filesystem root to read (default /)', '/')
    .option('--firmware-file <file>', 'file holding the firmware version')
    .addHelpText(
      'after',
      '\nExamples:\n  $ edgeward agent inventory | jq .inventory.listeners\n  $ edgeward agent inventory --root /mnt/device-image',
    )
    .action(async (flags: { dataDir?: string; root: string; firmwareFile?: string }) => {
      const { AgentFiles, collectInventory } = await import('@edgeward/agent');
      const inventory = await collectInventory({
        root: flags.root,
        now: Date.now,
        ...(flags.firmwareFile === undefined ? {} : { firmwareFile: flags.firmwareFile }),
      });
      const last =
        flags.dataDir === undefined
          ? undefined
          : await new AgentFiles(flags.dataDir).readJson<{ version: number; inventory: typeof inventory }>(
              'inventory.json',
            );
      io.out(
        json(
          last === undefined
            ? { v: 1, kind: 'full', inventory }
            : {
                v: 1,
                kind: 'delta',
                baseVersion: last.version,
                delta: diffInventory(last.inventory, inventory),
              },
        ),
      );
    });
}
