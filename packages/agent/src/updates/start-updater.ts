import { join } from 'node:path';
import { type Clock, EdgewardError } from '@edgeward/core';
import type { Logger } from 'pino';
import type { AgentConfig } from '../config/agent-config.ts';
import { AbSlotsHandler, commandHealthCheck } from './ab-slots.handler.ts';
import { CommandHandler } from './command.handler.ts';
import type { InstallHandler } from './install-handler.ts';
import type { DeviceTls } from './mtls-request.ts';
import { Updater, type UpdaterClient } from './updater.ts';

/** The install handler the configuration names; undefined for `none`. */
export function handlerFromConfig(
  config: AgentConfig,
  updater: () => Updater | undefined,
): InstallHandler | undefined {
  if (config.updateHandler === 'none') return undefined;
  if (config.updateHandler === 'ab-slots') {
    return new AbSlotsHandler({
      dir: config.updateSlotsDir ?? join(config.dataDir, 'slots'),
      healthCheck: commandHealthCheck(config.updateHealthCommand),
    });
  }
  const {
    updateInstallCommand: install,
    updateCommitCommand: commit,
    updateRollbackCommand: rollback,
  } = config;
  if (install === undefined || commit === undefined || rollback === undefined) {
    throw new EdgewardError(
      'EW_CONFIG_INVALID',
      'updateHandler=command needs updateInstallCommand, updateCommitCommand and updateRollbackCommand',
    );
  }
  return new CommandHandler({
    commands: {
      install,
      commit,
      rollback,
      ...(config.updateHealthCommand === undefined ? {} : { health: config.updateHealthCommand }),
      ...(config.updateVersionCommand === undefined ? {} : { version: config.updateVersionCommand }),
    },
    timeoutMs: config.updateHealthDeadlineMs,
    recordedVersion: async (name) => {
      const record = updater()?.record;
      if (record === undefined || record.name !== name) return null;
      return record.state === 'committed' ? record.version : record.previousVersion;
    },
  });
}

/** Builds and starts the updater for a running agent; its TLS material is read at each use (renewals). */
export async function startUpdater(deps: {
  config: AgentConfig;
  handler: InstallHandler;
  deviceId: string;
  managerUrl: string;
  labels: Readonly<Record<string, string>>;
  tls: () => DeviceTls;
  client: UpdaterClient;
  clock: Clock;
  logger: Logger;
}): Promise<Updater> {
  const { config } = deps;
  const updater = new Updater({
    dataDir: config.dataDir,
    deviceId: deps.deviceId,
    managerUrl: deps.managerUrl,
    get tls() {
      return deps.tls();
    },
    get keyPem() {
      return deps.tls().key;
    },
    client: deps.client,
    handler: deps.handler,
    artifactNames: config.updateArtifacts,
    labels: deps.labels,
    pollMs: config.updatePollMs,
    healthDeadlineMs: config.updateHealthDeadlineMs,
    maxAttempts: config.updateMaxAttempts,
    requestTimeoutMs: config.requestTimeoutMs,
    clock: deps.clock,
    logger: deps.logger,
  });
  await updater.start();
  return updater;
}
