import express, { type Express } from 'express';
import helmet from 'helmet';
import { createAdminApiRouter } from './http/admin/admin-routes';
import { adminApiDocument } from './http/admin/openapi';
import type { AttemptCountStore, TokenBucketStore } from './domain/ports';
import type { AppServices } from './http/admin/services';
import { createErrorHandler } from './http/middleware/error-handler';
import { tokenBucketRateLimit } from './http/middleware/rate-limit';
import { requestLog } from './http/middleware/request-log';
import { createPagesRouter } from './http/pages/pages-router';
import { createSignInLimiter, type SignInLimits } from './http/pages/sign-in-limiter';
import { createWebhookRouter } from './http/webhook-routes';
import { resolve } from 'node:path';
import type { Logger } from './logger';

export interface AppOptions {
  services: AppServices;
  logger: Logger;
  webhookBodyLimitBytes: number;
  /** Reverse proxies in front of the service (0: none); see TRUST_PROXY in config.ts. */
  trustProxyHops: number;
  /** Per source IP on the hook route; see HOOK_RATE_* in config.ts for the numbers and why. */
  hookRateLimit: { burst: number; perSecond: number };
  /** Answers /healthz: true while the database answers. */
  isHealthy: () => Promise<boolean>;
  /** Password checks allowed per email and address, per email, per address and per device cookie; see SignInLimits. */
  signInLimits?: SignInLimits;
  /**
   * Where the hook limit's buckets and the sign-in attempt counts live: process memory holds for one process (SQLite),
   * but instances sharing a database need stores in it, or each would give a source its own full allowance.
   */
  limitStores: LimitStores;
}

export interface LimitStores {
  hookBuckets: TokenBucketStore;
  signInAttempts: AttemptCountStore;
}

const VIEWS_DIR = resolve(__dirname, '../views');
const ASSETS_DIR = resolve(__dirname, '../public/assets');

/** The Express app: helmet, request logs, the webhook route, the admin API, one 404 and one error handler. */
export function createApp(options: AppOptions): Express {
  const { services, logger } = options;
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', options.trustProxyHops === 0 ? false : options.trustProxyHops);
  app.use(
    helmet({
      // Strict: scripts and styles only from files we serve, no inline code or style attributes, nothing from other
      // hosts. No upgrade-insecure-requests: a plain-http deployment (or a local one) must still load its CSS.
      contentSecurityPolicy: {
        useDefaults: false,
        directives: {
          defaultSrc: ["'none'"],
          scriptSrc: ["'self'"],
          scriptSrcAttr: ["'none'"],
          styleSrc: ["'self'"],
          imgSrc: ["'self'"],
          fontSrc: ["'self'"],
          connectSrc: ["'self'"],
          formAction: ["'self'"],
          frameAncestors: ["'none'"],
          baseUri: ["'none'"],
          objectSrc: ["'none'"],
        },
      },
      // same-origin, not helmet's no-referrer: under no-referrer a browser sends `Origin: null` with every form post
      // (Fetch standard, "append a request Origin header"), and the admin pages' Origin check (requireSameOrigin)
      // would refuse them all. same-origin still sends nothing to any other site.
      referrerPolicy: { policy: 'same-origin' },
    }),
  );
  app.use(requestLog(logger));

  app.get('/healthz', async (_req, res) => {
    const healthy = await options.isHealthy();
    res.status(healthy ? 200 : 503).json({ status: healthy ? 'ok' : 'unavailable' });
  });
  app.use('/hooks', tokenBucketRateLimit({ ...options.hookRateLimit, scope: 'hook', store: options.limitStores.hookBuckets }));
  app.use(createWebhookRouter({ intake: services.intake, bodyLimitBytes: options.webhookBodyLimitBytes }));
  // Public, before the admin router and its token check: the document describes how to authenticate.
  app.get('/api/v1/openapi.json', (_req, res) => {
    res.json(adminApiDocument);
  });
  app.use('/api/v1', createAdminApiRouter(services));
  app.use('/assets', express.static(ASSETS_DIR, { index: false, maxAge: '1h' }));
  app.get('/', (_req, res) => res.redirect(303, '/admin'));
  app.use(
    '/admin',
    createPagesRouter({ services, logger, viewsDir: VIEWS_DIR, signInLimiter: createSignInLimiter(services.clock, options.signInLimits, options.limitStores.signInAttempts) }),
  );

  app.use((_req, res) => {
    res.status(404).json({ error: { code: 'not_found', message: 'no such route' } });
  });
  app.use(createErrorHandler(logger));
  return app;
}
