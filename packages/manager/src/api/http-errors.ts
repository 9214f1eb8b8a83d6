import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Server } from 'node:https';
import {
  EdgewardError,
  errorCatalog,
  httpStatusByCategory,
  isErrorCode,
  toEdgewardError,
  toErrorReply,
  useEnglishSchemaMessages,
} from '@edgeward/core';
import type { FastifyBaseLogger, FastifyError, FastifyInstance, FastifyTypeProviderDefault } from 'fastify';
import * as z from 'zod/mini';

/** Both listeners are HTTPS Fastify apps. */
export type HttpsApp = FastifyInstance<
  Server,
  IncomingMessage,
  ServerResponse,
  FastifyBaseLogger,
  FastifyTypeProviderDefault
>;

/** The one mapping from error codes to HTTP replies, for both listeners. */
export function registerErrorReplies(app: HttpsApp): void {
  app.setErrorHandler((thrown: FastifyError | Error, request, reply) => {
    const error = fromFastify(thrown);
    const status = httpStatusByCategory[errorCatalog[error.code].category];
    if (status >= 500) request.log.error({ err: thrown }, 'request failed');
    else request.log.info({ code: error.code, message: error.message }, 'request refused');
    void reply.status(status).send(toErrorReply(error));
  });
  app.setNotFoundHandler((request, reply) => {
    const error = new EdgewardError('EW_ROUTE_NOT_FOUND', `no endpoint ${request.method} ${request.url}`);
    void reply.status(404).send(toErrorReply(error));
  });
}

function fromFastify(thrown: FastifyError | Error): EdgewardError {
  if (thrown instanceof EdgewardError) return thrown;
  const code = (thrown as FastifyError).code;
  if (code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
    return new EdgewardError('EW_REQUEST_TOO_LARGE', thrown.message, { cause: thrown });
  }
  if (typeof code === 'string' && (code.startsWith('FST_ERR_CTP') || code === 'FST_ERR_VALIDATION')) {
    return new EdgewardError('EW_REQUEST_INVALID', `request body rejected: ${thrown.message}`, {
      cause: thrown,
    });
  }
  if ((thrown as { statusCode?: number }).statusCode === 400) {
    return new EdgewardError('EW_REQUEST_INVALID', thrown.message, { cause: thrown });
  }
  if (typeof code === 'string' && isErrorCode(code))
    return new EdgewardError(code, thrown.message, { cause: thrown });
  return toEdgewardError(thrown);
}

/** Validates input with a protocol schema; the error names each bad field and what was expected. */
export function parseInput<Schema extends z.core.$ZodType>(
  schema: Schema,
  value: unknown,
  what: string,
): z.output<Schema> {
  useEnglishSchemaMessages();
  const result = z.safeParse(schema, value);
  if (result.success) return result.data;
  const version = (value as { v?: unknown } | null)?.v;
  if (version !== undefined && result.error.issues.some((issue) => issue.path[0] === 'v')) {
    throw new EdgewardError(
      'EW_PROTOCOL_VERSION_UNSUPPORTED',
      `${what} has protocol version ${String(version)}, which this manager does not speak; upgrade the manager, or send an older version`,
    );
  }
  const problems = result.error.issues.map(
    (issue) => `${issue.path.join('.') || '(body)'}: ${issue.message}`,
  );
  throw new EdgewardError('EW_REQUEST_INVALID', `${what} is invalid: ${problems.join('; ')}`, {
    details: { problems },
  });
}
