import { randomBytes, timingSafeEqual, createHash } from 'node:crypto';
import { Router, type Request, type Response } from 'express';
import type { SignedInAdmin } from '../../domain/admins/admin-auth-service';
import { ForbiddenError, InvalidInputError } from '../../domain/errors';
import type { AppServices } from '../admin/services';
import { parseInput } from '../parse-input';
import { SESSION_COOKIE } from './admin-session';
import { clearCookie, readCookie, setCookie } from './cookies';
import type { PageKit } from './page-kit';
import { SignInForm } from './page-schemas';
import { readDeviceToken, setDeviceCookie } from './device-cookie';
import { announceWait, type AttemptOutcome, type Reservation, type SignInLimiter } from './sign-in-limiter';

const SIGN_IN_CSRF_COOKIE = 'ka_sign_in';
const SESSION_COOKIE_MAX_AGE_MS = 7 * 24 * 60 * 60 * 1000;

/** Only our own admin pages are valid targets after sign-in: an open redirect would help phishing. */
function safeNext(value: unknown): string {
  return typeof value === 'string' && /^\/admin(\/[^\\]*)?$/.test(value) && !value.startsWith('//') ? value : '/admin';
}

function sameToken(a: string | undefined, b: unknown): boolean {
  if (!a || typeof b !== 'string') return false;
  const digest = (value: string) => createHash('sha256').update(value).digest();
  return timingSafeEqual(digest(a), digest(b));
}

/** The 429 message: when to retry, and what helps sooner when the whole account is limited. */
function tooManyAttempts(res: Response, refusal: Extract<Reservation, { granted: false }>): string {
  const wait = announceWait(res, refusal.retryAfterMs);
  if (refusal.scope === 'email') return `Too many sign-in attempts for this account. Try again in ${wait}, or sign in from a browser you have signed in with before.`;
  if (refusal.scope === 'device') return `Too many sign-in attempts from this browser. Try again in ${wait}.`;
  return `Too many sign-in attempts. Try again in ${wait}.`;
}

/**
 * Sign-in and sign-out. Before there is a session, the sign-in form is protected by a double-submit token (a cookie
 * and a hidden field that must match), so another site cannot sign a browser in to an account of its choosing.
 */
export function createAuthPages(services: AppServices, kit: PageKit, limiter: SignInLimiter): Router {
  const router = Router();

  async function renderSignIn(req: Request, res: Response, model: { email?: string; errors?: Record<string, string>; message?: string; notice?: string }, status = 200) {
    let token = readCookie(req, SIGN_IN_CSRF_COOKIE);
    if (!token) {
      token = randomBytes(24).toString('base64url');
      setCookie(req, res, SIGN_IN_CSRF_COOKIE, token);
    }
    kit.render(res, 'auth/sign-in.njk', {
      layout: { ...kit.plainLayout(res, 'sign-in', 'Sign in'), csrfToken: token },
      email: model.email ?? '',
      next: safeNext(req.query.next ?? (req.body as Record<string, unknown> | undefined)?.next),
      errors: model.errors ?? {},
      message: model.message ?? null,
      notice: model.notice ?? null,
    }, status);
  }

  router.get('/sign-in', async (req, res) => {
    if (res.locals.signedIn) {
      res.redirect(303, '/admin');
      return;
    }
    await renderSignIn(req, res, { notice: req.query.notice === 'signed-out' ? 'You are signed out.' : undefined });
  });

  router.post('/sign-in', async (req, res) => {
    const body = (req.body ?? {}) as Record<string, unknown>;
    if (!sameToken(readCookie(req, SIGN_IN_CSRF_COOKIE), body._csrf)) {
      throw new ForbiddenError('this sign-in form has expired; reload the page and try again');
    }
    const typedEmail = typeof body.email === 'string' ? body.email.trim().slice(0, 320) : '';
    let input: { email: string; password: string };
    try {
      input = parseInput(SignInForm, body);
    } catch (error) {
      if (!(error instanceof InvalidInputError)) throw error;
      const errors = Object.fromEntries(error.issues.map((issue) => [issue.path, issue.message]));
      await renderSignIn(req, res, { email: typedEmail, errors, message: 'Please fill in both fields.' }, 422);
      return;
    }
    const email = input.email.toLowerCase();
    const reservation = await limiter.reserve({ email, address: req.ip ?? 'unknown', deviceId: await services.admins.trustedDevice(readDeviceToken(req), email) });
    if (!reservation.granted) {
      await renderSignIn(req, res, { email: typedEmail, message: tooManyAttempts(res, reservation) }, 429);
      return;
    }
    // Settled before answering: the counts may live in a shared database, and a browser that sends its next attempt
    // the moment it has this answer must find them already updated.
    let outcome: AttemptOutcome = 'not-checked';
    let result: Awaited<ReturnType<typeof services.admins.signIn>>;
    try {
      result = await services.admins.signIn(email, input.password, readCookie(req, SESSION_COOKIE));
      outcome = result ? 'signed-in' : 'wrong-password';
    } finally {
      await reservation.settle(outcome);
    }
    if (!result) {
      await renderSignIn(req, res, { email: typedEmail, message: 'That email and password do not match an admin account.' }, 401);
      return;
    }
    clearCookie(req, res, SIGN_IN_CSRF_COOKIE);
    setCookie(req, res, SESSION_COOKIE, result.sessionToken, SESSION_COOKIE_MAX_AGE_MS);
    setDeviceCookie(req, res, await services.admins.issueDeviceToken(result.signedIn.admin.id));
    res.redirect(303, safeNext(body.next));
  });

  router.post('/sign-out', async (req, res) => {
    const signedIn = res.locals.signedIn as SignedInAdmin | undefined;
    if (signedIn) {
      if (!services.admins.csrfMatches(signedIn.session, (req.body as Record<string, unknown> | undefined)?._csrf)) throw new ForbiddenError('this form has expired; reload the page and try again');
      await services.admins.signOut(readCookie(req, SESSION_COOKIE));
    }
    clearCookie(req, res, SESSION_COOKIE);
    res.redirect(303, '/admin/sign-in?notice=signed-out');
  });

  return router;
}
