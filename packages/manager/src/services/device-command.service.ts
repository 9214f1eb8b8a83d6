import { randomUUID } from 'node:crypto';
import {
  type CaptureParams,
  type Clock,
  type DeviceCommand,
  type DeviceCommandListView,
  type DeviceCommandResult,
  type DeviceCommandView,
  type DeviceIsolationView,
  EdgewardError,
  type IsolateParams,
  NOT_ISOLATED,
  type ReleaseParams,
} from '@edgeward/core';
import type { DeviceCommandRecord, Store } from '@edgeward/store';
import type { Logger } from 'pino';
import type { AuditTrail } from './audit-trail.ts';
import type { DeviceService } from './device.service.ts';
import type { OperatorContext } from './operator-context.ts';

/** What became of a hub command at a site (DeviceCommandService.relayFromHub). */
export type RelayOutcome =
  | { readonly kind: 'queued' | 'held' | 'refused' }
  | { readonly kind: 'unknown-device'; readonly refusal: DeviceCommandResult };

/** Hands a command to the device's live push connection; false when this process holds none. */
export type CommandPush = (command: DeviceCommand) => boolean;

/** The store notification channel on which replicas announce a device's new command (payload: its id). */
export const DEVICE_COMMAND_CHANNEL = 'edgeward_device_command';

/** How many of a device's commands the list shows, newest first. */
const LISTED_COMMANDS = 100;

/**
 * Commands to devices (isolate, release, capture): stored with the operator's action in one transaction, pushed at
 * once when the device holds a push connection, otherwise handed over at its next heartbeat or poll.
 * Delivery is at least once; the device executes each command id once and its first result counts.
 */
export class DeviceCommandService {
  readonly #store: Store;
  readonly #clock: Clock;
  readonly #audit: AuditTrail;
  readonly #devices: DeviceService;
  readonly #logger: Logger;
  readonly #announce: (deviceId: string) => Promise<void>;
  readonly #onChanged: (change: { deviceId: string; commandId: string; status: string }) => void;
  #push: CommandPush = () => false;

  constructor(deps: {
    store: Store;
    clock: Clock;
    audit: AuditTrail;
    devices: DeviceService;
    logger: Logger;
    /**
     * Tells other replicas that the device has a new command (PostgreSQL NOTIFY), so that the one holding
     * its push connection delivers it. Default: nothing (one process).
     */
    announce?: (deviceId: string) => Promise<void>;
    /** Called after a command was issued or its result stored (for live views). */
    onChanged?: (change: { deviceId: string; commandId: string; status: string }) => void;
  }) {
    this.#store = deps.store;
    this.#clock = deps.clock;
    this.#audit = deps.audit;
    this.#devices = deps.devices;
    this.#logger = deps.logger;
    this.#announce = deps.announce ?? (async () => {});
    this.#onChanged = deps.onChanged ?? (() => {});
  }

  /** Set by the push listener once it exists. */
  usePush(push: CommandPush): void {
    this.#push = push;
  }

  isolate(operator: OperatorContext, deviceId: string, params: IsolateParams): Promise<DeviceCommandView> {
    return this.#issue(operator, { deviceId, kind: 'isolate', params });
  }

  release(operator: OperatorContext, deviceId: string, params: ReleaseParams): Promise<DeviceCommandView> {
    return this.#issue(operator, { deviceId, kind: 'release', params });
  }

  capture(operator: OperatorContext, deviceId: string, params: CaptureParams): Promise<DeviceCommandView> {
    return this.#issue(operator, { deviceId, kind: 'capture', params });
  }

  /**
   * On a site: queues a command that an operator at the hub gave one of this site's devices, under the
   * hub's id, so that a command handed over again (a lost reply, a restart) is queued once. The site's
   * audit chain records it as an action of the hub's operator. A command for a device this site revoked
   * is stored with a refusal as its result, which goes back to the hub like any; one for a device this
   * site does not hold (its database replaced) cannot be stored here, and its refusal is returned for the
   * caller to send the hub at once.
   */
  async relayFromHub(command: DeviceCommand): Promise<RelayOutcome> {
    const operator: OperatorContext = { id: 'hub', name: `hub:${command.createdBy}`, role: 'operator' };
    const relayed = { ...command, createdBy: operator.name } as DeviceCommand;
    const refusal = (why: string): DeviceCommandResult => ({
      v: 1,
      commandId: command.id,
      status: 'refused',
      detail: `device ${command.deviceId} is ${why} at this site`,
      at: this.#clock.now(),
      state: NOT_ISOLATED,
    });
    const outcome = await this.#store.transaction(async (store): Promise<RelayOutcome> => {
      const device = await store.devices.findById(command.deviceId);
      if (device === undefined) return { kind: 'unknown-device', refusal: refusal('not enrolled') };
      if (!(await store.sites.recordRelayedCommand(command.id, command.deviceId, this.#clock.now())))
        return { kind: 'held' };
      if (device.revokedAt !== null) {
        await store.commands.create(relayed);
        await store.commands.complete(command.id, refusal('revoked'), this.#clock.now());
        await this.#audit.record(store, operator, `device.${command.kind}`, command.deviceId, {
          commandId: command.id,
          refused: 'the device is revoked at this site',
        });
        return { kind: 'refused' };
      }
      await this.#queue(store, operator, relayed);
      return { kind: 'queued' };
    });
    if (outcome.kind === 'queued') await this.#deliver(relayed);
    return outcome;
  }

  async list(deviceId: string): Promise<DeviceCommandListView> {
    await this.#devices.show(deviceId);
    const records = await this.#store.commands.listByDevice(deviceId, LISTED_COMMANDS);
    return { commands: records.map(commandView) };
  }

  async isolation(deviceId: string): Promise<DeviceIsolationView> {
    const record = await this.#store.commands.findIsolation(deviceId);
    if (record === undefined) {
      return {
        desired: null,
        desiredAt: null,
        desiredBy: null,
        reason: null,
        reported: null,
        reportedAt: null,
        commandId: null,
      };
    }
    return {
      desired: record.desired,
      desiredAt: record.desiredAt,
      desiredBy: record.desiredBy,
      reason: record.reason,
      reported: record.reported,
      reportedAt: record.reportedAt,
      commandId: record.commandId,
    };
  }

  /** The device's commands without a result, oldest first, marked sent: for heartbeat replies and polls. */
  async takeOpen(deviceId: string): Promise<DeviceCommand[]> {
    const open = await this.#store.commands.listOpen(deviceId);
    if (open.length === 0) return [];
    await this.#store.commands.markSent(
      open.map((command) => command.id),
      this.#clock.now(),
    );
    return open.map(commandOf);
  }

  /** Pushes every open command of a device that just opened its push connection (or was announced). */
  async pushOpen(deviceId: string): Promise<number> {
    const open = await this.#store.commands.listOpen(deviceId);
    const sent = open.filter((command) => this.#push(commandOf(command))).map((command) => command.id);
    if (sent.length > 0) await this.#store.commands.markSent(sent, this.#clock.now());
    return sent.length;
  }

  /**
   * Stores the device's result. A repeated result (the agent retried after a lost reply) is accepted and
   * changes nothing; a result for another device's command is refused as unknown.
   */
  async recordResult(
    deviceId: string,
    commandId: string,
    result: DeviceCommandResult,
  ): Promise<{ accepted: boolean }> {
    if (result.commandId !== commandId) {
      throw new EdgewardError(
        'EW_REQUEST_INVALID',
        `the result names command ${result.commandId} but was posted for ${commandId}; post it to /v1/commands/${result.commandId}/result`,
      );
    }
    await this.#devices.requireActive(deviceId);
    const accepted = await this.#store.transaction(async (store) => {
      const command = await store.commands.findById(commandId);
      if (command === undefined || command.deviceId !== deviceId) {
        throw new EdgewardError('EW_COMMAND_NOT_FOUND', `device ${deviceId} has no command ${commandId}`);
      }
      const now = this.#clock.now();
      const first = await store.commands.complete(commandId, result, now);
      // Only results of the latest command describe the state operators look at.
      if (first && command.kind !== 'capture')
        await store.commands.reportIsolation(deviceId, result.state, now);
      return first;
    });
    if (accepted) {
      this.#onChanged({ deviceId, commandId, status: result.status });
      this.#logger.info(
        { deviceId, commandId, status: result.status, isolated: result.state.isolated },
        'device command result',
      );
    }
    return { accepted };
  }

  async #issue(
    operator: OperatorContext,
    request: Pick<DeviceCommand, 'deviceId' | 'kind' | 'params'>,
  ): Promise<DeviceCommandView> {
    const command = {
      ...request,
      id: randomUUID(),
      createdAt: this.#clock.now(),
      createdBy: operator.name,
    } as DeviceCommand;
    await this.#store.transaction(async (store) => {
      await this.#devices.requireActive(command.deviceId, store);
      await this.#queue(store, operator, command);
    });
    const sentAt = await this.#deliver(command);
    return {
      ...command,
      status: sentAt === null ? 'pending' : 'sent',
      sentAt,
      acknowledgedAt: null,
      result: null,
    };
  }

  async #queue(store: Store, operator: OperatorContext, command: DeviceCommand): Promise<void> {
    await store.commands.create(command);
    if (command.kind !== 'capture') {
      await store.commands.setDesiredIsolation({
        deviceId: command.deviceId,
        desired: command.kind === 'isolate' ? 'isolated' : 'released',
        desiredAt: command.createdAt,
        desiredBy: operator.name,
        reason: command.params.reason,
        commandId: command.id,
      });
    }
    await this.#audit.record(store, operator, `device.${command.kind}`, command.deviceId, {
      commandId: command.id,
      ...command.params,
    });
  }

  /** Pushes the command when this process holds the device's connection; returns when it was sent. */
  async #deliver(command: DeviceCommand): Promise<number | null> {
    this.#logger.info(
      { deviceId: command.deviceId, commandId: command.id, kind: command.kind, by: command.createdBy },
      'device command issued',
    );
    let sentAt: number | null = null;
    if (this.#push(command)) {
      sentAt = this.#clock.now();
      await this.#store.commands.markSent([command.id], sentAt);
    } else {
      await this.#announce(command.deviceId).catch((error: unknown) => {
        this.#logger.warn(
          { err: error, deviceId: command.deviceId },
          'cannot tell the other replicas of the command; the device gets it at its next heartbeat',
        );
      });
    }
    this.#onChanged({ deviceId: command.deviceId, commandId: command.id, status: 'issued' });
    return sentAt;
  }
}

function commandOf(record: DeviceCommandRecord): DeviceCommand {
  return {
    id: record.id,
    deviceId: record.deviceId,
    kind: record.kind,
    params: record.params,
    createdAt: record.createdAt,
    createdBy: record.createdBy,
  } as DeviceCommand;
}

function commandView(record: DeviceCommandRecord): DeviceCommandView {
  return {
    ...commandOf(record),
    status: record.status,
    sentAt: record.sentAt,
    acknowledgedAt: record.acknowledgedAt,
    result: record.result,
  };
}
