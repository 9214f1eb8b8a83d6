import { isIP } from 'node:net';
import type { DeviceCommand, IsolateParams, IsolationState as WireIsolationState } from '@edgeward/core';
import type { DeviceCommandHandler, DeviceCommandOutcome } from '../commands/command-dispatcher.ts';
import type { IsolationSpec } from './isolation-policy.ts';
import type { IsolationManager } from './isolation-state.ts';

/** The `isolate` and `release` commands, carried out by the isolation manager. */
export function isolationCommandHandlers(
  isolation: IsolationManager,
  managerUrl: string,
  now: () => number,
): { isolate: DeviceCommandHandler; release: DeviceCommandHandler } {
  const outcome = (detail: string): DeviceCommandOutcome => ({
    status: 'done',
    detail,
    state: wireState(isolation),
  });
  return {
    isolate: {
      async handle(command: DeviceCommand) {
        if (command.kind !== 'isolate') throw new Error(`not an isolate command: ${command.kind}`);
        const { params } = command;
        const spec = await isolationSpec(managerUrl, params, now());
        const result = await isolation.isolate(spec, params.reason, command.createdBy);
        return outcome(result.detail);
      },
    },
    release: {
      async handle(command: DeviceCommand) {
        if (command.kind !== 'release') throw new Error(`not a release command: ${command.kind}`);
        const result = await isolation.release(command.params.reason, command.createdBy);
        return outcome(result.detail);
      },
    },
  };
}

/**
 * What isolating means on this device: everything cut but the manager (resolved now, since firewall
 * rules hold addresses, not names), DNS when asked, and the allow-list.
 */
export async function isolationSpec(
  managerUrl: string,
  params: Pick<IsolateParams, 'allow' | 'allowDns' | 'releaseAfterMs'>,
  now: number,
): Promise<IsolationSpec> {
  const url = new URL(managerUrl);
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  const port = Number(url.port || 443);
  // The resolver is loaded only to isolate: a device that is never isolated does not keep it.
  const addresses =
    isIP(host) !== 0
      ? [host]
      : (await (await import('node:dns/promises')).lookup(host, { all: true })).map((entry) => entry.address);
  return {
    manager: { host, port },
    resolvedManagerAddresses: addresses,
    allowDns: params.allowDns,
    allow: params.allow.map(({ port: allowedPort, ...entry }) =>
      allowedPort === undefined ? entry : { ...entry, port: allowedPort },
    ),
    ...(params.releaseAfterMs === undefined ? {} : { releaseAt: now + params.releaseAfterMs }),
  };
}

function wireState(isolation: IsolationManager): WireIsolationState {
  const state = isolation.state();
  return { isolated: state.isolated, since: state.since, releaseAt: state.releaseAt, reason: state.reason };
}
