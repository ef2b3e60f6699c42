import type { ErrorRequestHandler } from 'express';
import { randomUUID } from 'node:crypto';
import { DomainError, InvalidInputError } from '../../domain/errors';
import type { Logger } from '../../logger';

/** The one table from domain error code to HTTP status. */
const statusByCode: Record<string, number> = {
  not_found: 404,
  invalid_input: 422,
  conflict: 409,
  forbidden: 403,
  unauthenticated: 401,
};

/** Errors raised by express's body parsers carry a `type`; they are the client's fault, with their own status. */
interface BodyParserError {
  status: number;
  type: string;
  message: string;
}

function isBodyParserError(error: unknown): error is BodyParserError {
  return typeof error === 'object' && error !== null && 'type' in error && typeof (error as BodyParserError).status === 'number';
}

const bodyParserCodes: Record<string, string> = {
  'entity.too.large': 'payload_too_large',
  'entity.parse.failed': 'invalid_json',
  'encoding.unsupported': 'unsupported_encoding',
  'charset.unsupported': 'unsupported_charset',
  'request.aborted': 'request_aborted',
};

/** The status for a domain error; the admin pages use it too, so JSON and HTML agree. */
export function statusForDomainError(error: DomainError): number {
  return statusByCode[error.code] ?? 400;
}

export function createErrorHandler(logger: Logger): ErrorRequestHandler {
  return function errorHandler(error, req, res, next) {
    if (res.headersSent) {
      next(error);
      return;
    }
    if (error instanceof DomainError) {
      const details = error instanceof InvalidInputError && error.issues.length > 0 ? { issues: error.issues } : undefined;
      res.status(statusForDomainError(error)).json({ error: { code: error.code, message: error.message, ...(details ? { details } : {}) } });
      return;
    }
    if (isBodyParserError(error) && error.status >= 400 && error.status < 500) {
      const code = bodyParserCodes[error.type] ?? 'bad_request';
      res.status(error.status).json({ error: { code, message: code === 'payload_too_large' ? 'request body is larger than the limit' : error.message } });
      return;
    }
    const errorId = randomUUID();
    logger.error({ errorId, err: error instanceof Error ? { message: error.message, stack: error.stack } : String(error), method: req.method }, 'unhandled error');
    res.status(500).json({ error: { code: 'internal', message: `something went wrong; quote error id ${errorId}` } });
  };
}
