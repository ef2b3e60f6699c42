import express, { Router, type ErrorRequestHandler } from 'express';
import { randomUUID } from 'node:crypto';
import { DomainError } from '../../domain/errors';
import { describeError, type Logger } from '../../logger';
import type { AppServices } from '../admin/services';
import { clientErrorOf } from '../middleware/client-errors';
import { statusForDomainError } from '../middleware/error-handler';
import { loadAdminSession, requireCsrf, requireSameOrigin, requireSignedIn } from './admin-session';
import { createAccountPages } from './account-pages';
import { createAuthPages } from './auth-pages';
import { createEventPages } from './event-pages';
import { createExportPages } from './export-pages';
import { createMappingPages } from './mapping-pages';
import { createMemberPages } from './member-pages';
import { createNotificationPages } from './notification-pages';
import { createPageKit } from './page-kit';
import type { SignInLimiter } from './sign-in-limiter';
import { createSitePages } from './site-pages';

const TITLES: Record<number, string> = { 403: 'Not allowed', 404: 'Page not found', 409: 'Not possible', 422: 'Not valid' };

/** The App Station pages under /admin: an explicit table of routers, each a thin layer over the domain services. */
export function createPagesRouter(options: { services: AppServices; viewsDir: string; signInLimiter: SignInLimiter; logger: Logger }): Router {
  const { services, logger } = options;
  const kit = createPageKit(services, options.viewsDir);
  const router = Router();
  // Before any body is read or session looked up, and before the sign-in form: see requireSameOrigin.
  router.use(requireSameOrigin());
  // Forms post urlencoded bodies; repeated fields (level checkboxes) become arrays.
  router.use(express.urlencoded({ extended: false, limit: '50kb', parameterLimit: 200 }));
  router.use((_req, res, next) => {
    // Admin pages show member data: never cache them in shared caches or the back/forward cache of a shared browser.
    res.setHeader('Cache-Control', 'no-store');
    next();
  });
  router.use(loadAdminSession(services.admins));
  router.use(createAuthPages(services, kit, options.signInLimiter));
  router.use(requireSignedIn());
  router.use(requireCsrf(services.admins));
  router.use(createAccountPages(services, kit, options.signInLimiter));
  router.use(createSitePages(services, kit));
  router.use(createMappingPages(services, kit));
  router.use(createEventPages(services, kit));
  router.use(createMemberPages(services, kit));
  router.use(createExportPages(services, kit));
  router.use(createNotificationPages(services, kit));

  router.use((_req, res) => {
    kit.render(res, 'errors/error.njk', { layout: kit.plainLayout(res, 'error', TITLES[404] ?? 'Not found'), message: 'There is no such page, or it belongs to a site you do not administer.' }, 404);
  });

  const pageErrors: ErrorRequestHandler = function pageErrorHandler(error, req, res, next) {
    if (res.headersSent) {
      next(error);
      return;
    }
    if (error instanceof DomainError) {
      const status = statusForDomainError(error);
      // A site or record this admin may not see reads as missing, with no hint of whether it exists.
      const message = status === 404 ? 'There is no such page, or it belongs to a site you do not administer.' : error.message;
      kit.render(res, 'errors/error.njk', { layout: kit.plainLayout(res, 'error', TITLES[status] ?? 'Something is not right'), message }, status);
      return;
    }
    const clientError = clientErrorOf(error);
    if (clientError) {
      const message = clientError.code === 'malformed_path' ? 'This address is not valid: it has a malformed percent-escape.' : 'The form could not be read; go back and try again.';
      kit.render(res, 'errors/error.njk', { layout: kit.plainLayout(res, 'error', 'Request not accepted'), message }, clientError.status);
      return;
    }
    const errorId = randomUUID();
    logger.error({ errorId, err: describeError(error), method: req.method }, 'unhandled error on an admin page');
    kit.render(res, 'errors/error.njk', { layout: kit.plainLayout(res, 'error', 'Something went wrong'), message: `Something went wrong on our side. If it keeps happening, quote error id ${errorId}.` }, 500);
  };
  router.use(pageErrors);
  return router;
}
