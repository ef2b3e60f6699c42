import express, { type Express } from 'express';
import helmet from 'helmet';
import { createAdminApiRouter } from './http/admin/admin-routes';
import type { AppServices } from './http/admin/services';
import { createErrorHandler } from './http/middleware/error-handler';
import { tokenBucketRateLimit } from './http/middleware/rate-limit';
import { requestLog } from './http/middleware/request-log';
import { createWebhookRouter } from './http/webhook-routes';
import type { Logger } from './logger';

export interface AppOptions {
  services: AppServices;
  logger: Logger;
  webhookBodyLimitBytes: number;
  trustProxy: boolean;
  /** Per source IP on the hook route; see HOOK_RATE_* in config.ts for the numbers and why. */
  hookRateLimit: { burst: number; perSecond: number };
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
  app.use('/hooks', tokenBucketRateLimit(options.hookRateLimit));
  app.use(createWebhookRouter({ intake: services.intake, bodyLimitBytes: options.webhookBodyLimitBytes }));
  app.use('/api/v1', createAdminApiRouter(services));

  app.use((_req, res) => {
    res.status(404).json({ error: { code: 'not_found', message: 'no such route' } });
  });
  app.use(createErrorHandler(logger));
  return app;
}
