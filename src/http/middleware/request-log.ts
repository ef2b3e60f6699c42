import type { RequestHandler } from 'express';
import { randomUUID } from 'node:crypto';
import { maskSecrets, type Logger } from '../../logger';

/** One JSON line per request: no bodies, no headers, no query strings, and the hook secret masked. */
export function requestLog(logger: Logger): RequestHandler {
  return function logRequest(req, res, next) {
    const startedAt = process.hrtime.bigint();
    const requestId = randomUUID();
    res.setHeader('X-Request-Id', requestId);
    res.on('finish', () => {
      const durationMs = Number(process.hrtime.bigint() - startedAt) / 1e6;
      const path = maskSecrets(req.originalUrl.split('?')[0] ?? '');
      logger.info({ requestId, method: req.method, path, status: res.statusCode, durationMs: Math.round(durationMs * 10) / 10, ip: req.ip }, 'request');
    });
    next();
  };
}
