import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import type { DeviceCommand, IsolationState as WireIsolationState } from '@edgeward/core';
import type { DeviceCommandHandler, DeviceCommandOutcome } from '../commands/command-dispatcher.ts';
import type { IsolationManager } from './isolation-state.ts';

/**
 * The `isolate` and `release` commands, carried out by the isolation manager. The manager's address is
 * resolved when isolating, since firewall rules hold addresses, not names.
 */
export function isolationCommandHandlers(
  isolation: IsolationManager,
  managerUrl: string,
  now: () => number,
): { isolate: DeviceCommandHandler; release: DeviceCommandHandler } {
  const url = new URL(managerUrl);
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  const port = Number(url.port || 443);
  const outcome = (detail: string): DeviceCommandOutcome => ({
    status: 'done',
    detail,
    state: wireState(isolation),
  });
  return {
    isolate: {
      async handle(command: DeviceCommand) {
        if (command.kind !== 'isolate') throw new Error(`not an isolate command: ${command.kind}`);
        const addresses =
          isIP(host) !== 0 ? [host] : (await lookup(host, { all: true })).map((entry) => entry.address);
        const { params } = command;
        const result = await isolation.isolate(
          {
            manager: { host, port },
            resolvedManagerAddresses: addresses,
            allowDns: params.allowDns,
            allow: params.allow.map(({ port, ...entry }) =>
              port === undefined ? entry : { ...entry, port },
            ),
            ...(params.releaseAfterMs === undefined ? {} : { releaseAt: now() + params.releaseAfterMs }),
          },
          params.reason,
          command.createdBy,
        );
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

function wireState(isolation: IsolationManager): WireIsolationState {
  const state = isolation.state();
  return { isolated: state.isolated, since: state.since, releaseAt: state.releaseAt, reason: state.reason };
}
