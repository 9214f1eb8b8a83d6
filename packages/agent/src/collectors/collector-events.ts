import { type EventType, eventTypes, type NewDeviceEvent } from '@edgeward/core';

/**
 * What the collectors share: the sink they emit into, the log they fall back on when that sink fails,
 * and the way they build events (default severity, collector errors reported once).
 */

/** Hands events to the durable queue; resolves once they are stored there. */
export type EmitEvents = (events: readonly NewDeviceEvent[]) => Promise<void>;

/** The part of a pino logger a collector uses, for failures it cannot report as events (the queue's own). */
export interface CollectorLog {
  warn(details: object, message: string): void;
}

export const silentLog: CollectorLog = { warn() {} };

/** An event with its type's default severity. */
export function securityEvent(
  type: EventType,
  time: number,
  data: Record<string, unknown>,
  id?: string,
): NewDeviceEvent {
  const event = { type, severity: eventTypes[type], time: Math.trunc(time), data: withoutUndefined(data) };
  return id === undefined ? event : { ...event, id };
}

export type CollectorName = 'auth-log' | 'fim';

/** The details an `agent.collector_error` carries: which collector, doing what, on which path, and why. */
export function collectorErrorEvent(
  collector: CollectorName,
  operation: string,
  error: unknown,
  time: number,
  extra: Record<string, unknown> = {},
): NewDeviceEvent {
  const code = (error as { code?: unknown } | null)?.code;
  return securityEvent('agent.collector_error', time, {
    collector,
    operation,
    ...extra,
    code: typeof code === 'string' ? code : undefined,
    message: error instanceof Error ? error.message : String(error),
  });
}

/**
 * Remembers which failures were already reported, so that a log file the agent may not read makes one
 * `agent.collector_error` rather than one every poll. A success in the same scope re-arms the report, and
 * so does a different reason.
 */
export class ReportedErrors {
  readonly #reported = new Map<string, string>();

  shouldReport(scope: string, reason: string): boolean {
    if (this.#reported.get(scope) === reason) return false;
    this.#reported.set(scope, reason);
    return true;
  }

  succeeded(scope: string): void {
    this.#reported.delete(scope);
  }

  /**
   * Emits one `agent.collector_error` for a failure not reported yet in its scope. When the queue itself
   * fails, the log is all that is left, and the scope is re-armed so that the next attempt tries again.
   */
  async report(options: {
    readonly collector: CollectorName;
    readonly scope: string;
    readonly operation: string;
    readonly error: unknown;
    readonly time: number;
    readonly extra?: Record<string, unknown>;
    readonly emit: EmitEvents;
    readonly log: CollectorLog;
  }): Promise<void> {
    const { error, scope, operation } = options;
    const reason = `${errorCode(error) ?? ''}:${error instanceof Error ? error.message : String(error)}`;
    if (!this.shouldReport(scope, reason)) return;
    try {
      await options.emit([
        collectorErrorEvent(options.collector, operation, error, options.time, options.extra),
      ]);
    } catch (emitError) {
      this.succeeded(scope);
      options.log.warn(
        { err: (error as Error).message, emitErr: (emitError as Error).message, operation },
        `${options.collector} collector failed and could not report it`,
      );
    }
  }
}

/** The errno code of a Node error, if any. */
export function errorCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

function withoutUndefined(data: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(data)) if (value !== undefined) out[key] = value;
  return out;
}
