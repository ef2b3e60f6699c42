import express, { type Express } from 'express';
import helmet from 'helmet';
import { createAdminApiRouter } from './http/admin/admin-routes';
import { adminApiDocument } from './http/admin/openapi';
import type { AppServices } from './http/admin/services';
import { createErrorHandler } from './http/middleware/error-handler';
import { requestLog } from './http/middleware/request-log';
import { createWebhookRouter } from './http/webhook-routes';
import type { Logger } from './logger';

export interface AppOptions {
  services: AppServices;
  logger: Logger;
  webhookBodyLimitBytes: number;
  trustProxy: boolean;
  /** Answers /healthz: true while the database answers. */
  isHealthy: () => boolean;
}

/** The Express app: helmet, request logs, the webhook route, the admin API, one 404 and one error handler. */
export function createApp(options: AppOptions): Express {
  const { services, logger } = options;
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', options.trustProxy);
  app.use(helmet());
  app.use(requestLog(logger));

  app.get('/healthz', (_req, res) => {
    const healthy = options.isHealthy();
    res.status(healthy ? 200 : 503).json({ status: healthy ? 'ok' : 'unavailable' });
  });
  app.use(createWebhookRouter({ intake: services.intake, bodyLimitBytes: options.webhookBodyLimitBytes }));
  // Public, before the admin router and its token check: the document describes how to authenticate.
  app.get('/api/v1/openapi.json', (_req, res) => {
    res.json(adminApiDocument);
  });
  app.use('/api/v1', createAdminApiRouter(services));

  app.use((_req, res) => {
    res.status(404).json({ error: { code: 'not_found', message: 'no such route' } });
  });
  app.use(createErrorHandler(logger));
  return app;
}
