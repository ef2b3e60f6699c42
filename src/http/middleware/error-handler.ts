import type { ErrorRequestHandler } from 'express';
import { randomUUID } from 'node:crypto';
import { DomainError, InvalidInputError } from '../../domain/errors';
import { describeError, type Logger } from '../../logger';
import { clientErrorOf } from './client-errors';

/** The one table from domain error code to HTTP status. */
const statusByCode: Record<string, number> = {
  not_found: 404,
  invalid_input: 422,
  conflict: 409,
  forbidden: 403,
  unauthenticated: 401,
  // Transient: the same request again goes through (the adapter already retried it a few times).
  concurrent_update: 503,
};

/** The status for a domain error; the admin pages use it too, so JSON and HTML agree. */
export function statusForDomainError(error: DomainError): number {
  return statusByCode[error.code] ?? 400;
}

/**
 * What every hook URL that names no enabled webhook answers (unknown key, wrong secret, disabled, undecodable): one
 * body, byte for byte, so the answer tells a guesser nothing.
 */
export const HOOK_NOT_FOUND = { error: { code: 'not_found', message: 'no enabled Kartra webhook at this URL' } } as const;

/** Hook paths are matched case-insensitively by Express, so this check is too. */
function isHookPath(path: string): boolean {
  return /^\/+hooks(\/|$)/i.test(path);
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
    const clientError = clientErrorOf(error);
    if (clientError) {
      // A hook URL that cannot even be decoded is no enabled URL: the same 404 as a wrong secret, telling nothing more.
      if (clientError.code === 'malformed_path' && isHookPath(req.path)) {
        res.status(404).json(HOOK_NOT_FOUND);
        return;
      }
      res.status(clientError.status).json({ error: { code: clientError.code, message: clientError.message } });
      return;
    }
    const errorId = randomUUID();
    logger.error({ errorId, err: describeError(error), method: req.method }, 'unhandled error');
    res.status(500).json({ error: { code: 'internal', message: `something went wrong; quote error id ${errorId}` } });
  };
}
