import { type ErrorCategory, type ErrorCode, errorCatalog } from './error-catalog.ts';

/** The one error type domain code throws: a stable code, a message naming the bad input and the fix. */
export class EdgewardError extends Error {
  readonly code: ErrorCode;
  readonly details: Record<string, unknown> | undefined;

  constructor(
    code: ErrorCode,
    message: string,
    options?: { cause?: unknown; details?: Record<string, unknown> },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'EdgewardError';
    this.code = code;
    this.details = options?.details;
  }

  get category(): ErrorCategory {
    return errorCatalog[this.code].category;
  }
}

export function isEdgewardError(value: unknown, code?: ErrorCode): value is EdgewardError {
  return value instanceof EdgewardError && (code === undefined || value.code === code);
}

/** Wraps anything thrown into an EdgewardError, keeping the original as cause. */
export function toEdgewardError(value: unknown): EdgewardError {
  if (value instanceof EdgewardError) return value;
  const message = value instanceof Error ? value.message : String(value);
  return new EdgewardError('EW_INTERNAL', `unexpected error: ${message}`, { cause: value });
}

/** The protocol's error reply body, shared by both APIs and read back by clients. */
export interface ErrorReply {
  readonly error: {
    readonly code: string;
    readonly message: string;
    readonly details?: Record<string, unknown>;
  };
}

export function toErrorReply(error: EdgewardError): ErrorReply {
  return {
    error: {
      code: error.code,
      message: error.message,
      ...(error.details === undefined ? {} : { details: error.details }),
    },
  };
}

export function isErrorCode(code: string): code is ErrorCode {
  return Object.hasOwn(errorCatalog, code);
}
