import type { RequestHandler } from 'express';
import { ForbiddenError } from '../../domain/errors';
import type { AdminAuthService, SignedInAdmin } from '../../domain/admins/admin-auth-service';
import { readCookie } from './cookies';

export const SESSION_COOKIE = 'ka_session';

/** Puts the signed-in admin (if the session cookie is valid) on res.locals.signedIn. */
export function loadAdminSession(admins: AdminAuthService): RequestHandler {
  return async function adminSession(req, res, next) {
    const signedIn = await admins.authenticate(readCookie(req, SESSION_COOKIE));
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

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * Refuses a state-changing request that a browser says came from another site: an `Origin` other than this
 * service's own (as express sees it, behind `trust proxy`: protocol and host of the request), or
 * `Sec-Fetch-Site: cross-site`. This stands beside the CSRF token rather than in place of it: a request without
 * these headers (a non-browser client, an old browser) passes here and still needs the token. The sign-in form is
 * covered too (login CSRF). See RFC 6454 §7 (Origin) and the W3C Fetch Metadata Request Headers specification.
 */
export function requireSameOrigin(): RequestHandler {
  return function sameOriginCheck(req, _res, next) {
    if (SAFE_METHODS.has(req.method)) {
      next();
      return;
    }
    if (req.get('sec-fetch-site') === 'cross-site') throw new ForbiddenError('this form was sent from another site; open the page here and try again');
    const origin = req.get('origin');
    if (origin !== undefined && origin !== ownOrigin(req.protocol, req.host)) {
      throw new ForbiddenError('this form was sent from another site; open the page here and try again');
    }
    next();
  };
}

/** `https://host[:port]` serialised as browsers write Origin: lower-case host, no default port. Null if unreadable. */
function ownOrigin(protocol: string, host: string | undefined): string | null {
  if (!host) return null;
  try {
    return new URL(`${protocol}://${host}`).origin;
  } catch {
    return null;
  }
}
