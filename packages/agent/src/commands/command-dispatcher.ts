import { readFile } from 'node:fs/promises';
import {
  type DeviceCommand,
  type DeviceCommandKind,
  type DeviceCommandResult,
  type IsolationState,
  NOT_ISOLATED,
  PROTOCOL_VERSION,
} from '@edgeward/core';
import type { Logger } from 'pino';
import { writeFileAtomically } from '../baseline/atomic-write.ts';
import { isMissingError } from '../baseline/root-files.ts';

/** What a handler reports after carrying out (or declining) a command. */
export interface DeviceCommandOutcome {
  readonly status: 'done' | 'failed' | 'refused';
  readonly detail: string;
  /** The device's isolation after the command. */
  readonly state: IsolationState;
}

/**
 * Carries out one kind of command on the device. The isolation enforcer implements it for `isolate` and
 * `release`; a thrown error is reported as `failed` with its message.
 */
export interface DeviceCommandHandler {
  handle(command: DeviceCommand): Promise<DeviceCommandOutcome>;
}

/** Until an isolation enforcer is configured, commands are answered, not silently dropped. */
export const refusingHandler: DeviceCommandHandler = {
  async handle() {
    return {
      status: 'refused',
      detail: 'this agent has no isolation enforcer configured',
      state: NOT_ISOLATED,
    };
  },
};

export interface CommandDispatcherOptions {
  /** JSON file remembering executed command ids and results not yet delivered (in the data directory). */
  readonly stateFile: string;
  readonly handlers: Partial<Record<DeviceCommandKind, DeviceCommandHandler>>;
  /** Posts a result to the manager; a rejection keeps it for `flushResults`. */
  readonly report: (result: DeviceCommandResult) => Promise<void>;
  readonly now: () => number;
  readonly log: Logger;
}

interface DispatcherState {
  /** Executed ids, oldest first; the newest MAX_REMEMBERED are kept. */
  executed: string[];
  /** Results the manager has not acknowledged yet. */
  unreported: DeviceCommandResult[];
}

/** Far more than a device receives between two deliveries of the same command. */
const MAX_REMEMBERED = 1000;

/**
 * Runs the manager's commands one at a time, in the order they were issued, each id at most once — even
 * when push, heartbeat and poll deliver it several times, and across restarts (the ids are on disk before
 * the result is sent). Results are retried until the manager has them.
 */
export class CommandDispatcher {
  readonly #options: CommandDispatcherOptions;
  #state: DispatcherState | undefined;
  #chain: Promise<void> = Promise.resolve();
  readonly #queued = new Set<string>();

  constructor(options: CommandDispatcherOptions) {
    this.#options = options;
  }

  /**
   * Queues the commands not executed yet (oldest first) and resolves once they have run. Errors of
   * handlers and reports are logged, never thrown.
   */
  offer(commands: readonly DeviceCommand[]): Promise<void> {
    const fresh = [...commands]
      .sort((a, b) => a.createdAt - b.createdAt || (a.id < b.id ? -1 : 1))
      .filter((command) => !this.#queued.has(command.id));
    for (const command of fresh) this.#queued.add(command.id);
    const run = this.#chain.then(async () => {
      for (const command of fresh) {
        try {
          await this.#execute(command);
        } finally {
          this.#queued.delete(command.id);
        }
      }
    });
    this.#chain = run.catch((error: unknown) => {
      this.#options.log.error({ err: error }, 'command dispatch failed');
    });
    return this.#chain;
  }

  /** Sends results that could not be delivered before (after a reconnect, at each heartbeat). */
  flushResults(): Promise<void> {
    const run = this.#chain.then(() => this.#flush());
    this.#chain = run.catch((error: unknown) => {
      this.#options.log.error({ err: error }, 'command results could not be saved');
    });
    return this.#chain;
  }

  /** Resolves once every command offered so far has run. */
  idle(): Promise<void> {
    return this.#chain;
  }

  async #execute(command: DeviceCommand): Promise<void> {
    const state = await this.#load();
    const log = this.#options.log;
    if (state.executed.includes(command.id)) {
      log.debug({ commandId: command.id }, 'command already executed; not running it again');
      await this.#flush();
      return;
    }
    const handler = this.#options.handlers[command.kind] ?? refusingHandler;
    let outcome: DeviceCommandOutcome;
    try {
      outcome = await handler.handle(command);
    } catch (error) {
      outcome = { status: 'failed', detail: (error as Error).message, state: NOT_ISOLATED };
    }
    log.info(
      { commandId: command.id, kind: command.kind, status: outcome.status, detail: outcome.detail },
      'command executed',
    );
    state.executed = [...state.executed, command.id].slice(-MAX_REMEMBERED);
    state.unreported.push({
      v: PROTOCOL_VERSION,
      commandId: command.id,
      status: outcome.status,
      detail: outcome.detail.slice(0, 2000),
      at: this.#options.now(),
      state: outcome.state,
    });
    // On disk before anything is sent: a crash after this never runs the command again.
    await this.#save(state);
    await this.#flush();
  }

  async #flush(): Promise<void> {
    const state = await this.#load();
    if (state.unreported.length === 0) return;
    const left: DeviceCommandResult[] = [];
    for (const result of state.unreported) {
      try {
        await this.#options.report(result);
      } catch (error) {
        this.#options.log.warn(
          { commandId: result.commandId, err: (error as Error).message },
          'command result not delivered; retrying at the next contact',
        );
        left.push(result);
      }
    }
    state.unreported = left;
    await this.#save(state);
  }

  async #load(): Promise<DispatcherState> {
    if (this.#state !== undefined) return this.#state;
    try {
      const saved = JSON.parse(await readFile(this.#options.stateFile, 'utf8')) as Partial<DispatcherState>;
      this.#state = { executed: saved.executed ?? [], unreported: saved.unreported ?? [] };
    } catch (error) {
      if (!isMissingError(error)) {
        this.#options.log.warn(
          { err: (error as Error).message, file: this.#options.stateFile },
          'command state unreadable; starting with none',
        );
      }
      this.#state = { executed: [], unreported: [] };
    }
    return this.#state;
  }

  async #save(state: DispatcherState): Promise<void> {
    await writeFileAtomically(this.#options.stateFile, JSON.stringify(state), { mode: 0o600 });
  }
}
