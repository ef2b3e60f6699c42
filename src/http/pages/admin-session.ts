import type { RequestHandler } from 'express';
import { ForbiddenError } from '../../domain/errors';
import type { AdminAuthService, SignedInAdmin } from '../../domain/admins/admin-auth-service';
import { readCookie } from './cookies';

export const SESSION_COOKIE = 'ka_session';

/** Puts the signed-in admin (if the session cookie is valid) on res.locals.signedIn. */
export function loadAdminSession(admins: AdminAuthService): RequestHandler {
  return function adminSession(req, res, next) {
    const signedIn = admins.authenticate(readCookie(req, SESSION_COOKIE));
    if (signedIn) res.locals.signedIn = signedIn;
    next();
  };
}

/** Pages behind sign-in send a visitor without a session to the sign-in page, and back here afterwards. */
export function requireSignedIn(): RequestHandler {
  return function signedInOnly(req, res, next) {
    if (res.locals.signedIn) {
      next();
      return;
    }
    const back = req.method === 'GET' ? `?next=${encodeURIComponent(req.originalUrl)}` : '';
    res.redirect(303, `/admin/sign-in${back}`);
  };
}

/**
 * Every state-changing form carries the session's CSRF token in `_csrf` (synchronizer token). SameSite=Lax already
 * stops most cross-site posts; the token also covers older browsers and same-site subdomains.
 */
export function requireCsrf(admins: AdminAuthService): RequestHandler {
  return function csrfCheck(req, res, next) {
    if (req.method === 'GET' || req.method === 'HEAD') {
      next();
      return;
    }
    const signedIn = res.locals.signedIn as SignedInAdmin;
    const presented = (req.body as Record<string, unknown> | undefined)?._csrf;
    if (!admins.csrfMatches(signedIn.session, presented)) throw new ForbiddenError('this form has expired or did not come from this site; reload the page and try again');
    next();
  };
}
