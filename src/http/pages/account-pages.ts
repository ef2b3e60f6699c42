import { Router, type Request, type Response } from 'express';
import type { AppServices } from '../admin/services';
import { parseInput } from '../parse-input';
import type { FormProblem, PageKit } from './page-kit';
import { PasswordForm, TimeZoneForm } from './page-schemas';
import { readDeviceToken, setDeviceCookie } from './device-cookie';
import { announceWait, type SignInLimiter } from './sign-in-limiter';

const TIME_ZONES = Intl.supportedValuesOf('timeZone');

/**
 * The signed-in admin's own account: the time zone every page shows times in, and the password. A wrong current
 * password counts as a failed sign-in, so a session left open on a shared computer cannot be used to guess it.
 */
export function createAccountPages(services: AppServices, kit: PageKit, limiter: SignInLimiter): Router {
  const router = Router();

  async function renderAccount(req: Request, res: Response, forms: { timeZone?: { value: string; problem: FormProblem | null }; password?: FormProblem | null } = {}, status = 200) {
    const { admin } = kit.signedIn(res);
    const zones = TIME_ZONES.includes(admin.timeZone) ? TIME_ZONES : [admin.timeZone, ...TIME_ZONES];
    kit.render(
      res,
      'account/index.njk',
      {
        layout: kit.plainLayout(res, 'account', 'Your account'),
        notice: req.query.notice === 'time-zone' ? `Times are now shown in ${admin.timeZone}.` : req.query.notice === 'password' ? 'Your password is changed; other browsers signed in as you were signed out.' : null,
        email: admin.email,
        timeZone: { zones, selected: forms.timeZone?.value ?? admin.timeZone, problem: forms.timeZone?.problem ?? null },
        password: { problem: forms.password ?? null },
      },
      status,
    );
  }

  router.get('/account', (req, res) => renderAccount(req, res));

  router.post('/account/time-zone', async (req, res) => {
    const typed = String((req.body as Record<string, unknown> | undefined)?.timeZone ?? '').slice(0, 100);
    await kit.handleForm(
      async () => {
        const { timeZone } = parseInput(TimeZoneForm, req.body);
        await services.admins.setTimeZone(kit.signedIn(res).admin.id, timeZone);
        res.redirect(303, '/admin/account?notice=time-zone');
      },
      async (problem) => renderAccount(req, res, { timeZone: { value: typed, problem } }, problem.status),
    );
  });

  router.post('/account/password', async (req, res) => {
    const signedIn = kit.signedIn(res);
    const { email } = signedIn.admin;
    const reservation = await limiter.reserve({ email, address: req.ip ?? 'unknown', deviceId: await services.admins.trustedDevice(readDeviceToken(req), email) });
    if (!reservation.granted) {
      await renderAccount(req, res, { password: { status: 429, errors: {}, message: `Too many wrong passwords. Try again in ${announceWait(res, reservation.retryAfterMs)}.` } }, 429);
      return;
    }
    // Anything but a wrong current password (a form error, the new password refused) gives the slot back: only
    // comparing the current password is a guess. Each outcome is settled before its answer is sent (the counts may
    // live in a shared database, and the next attempt must find them updated); the `finally` settles what threw.
    try {
      await kit.handleForm(
        async () => {
          const input = parseInput(PasswordForm, req.body);
          const changed = await services.admins.changePassword(signedIn, input.currentPassword, input.newPassword);
          if (!changed) {
            await reservation.settle('wrong-password');
            await renderAccount(req, res, { password: { status: 422, errors: { currentPassword: 'this is not your current password' }, message: 'Please correct the fields marked below.' } }, 422);
            return;
          }
          await reservation.settle('signed-in');
          // The change made every device cookie of this admin stale (they are signed with the old hash); this browser
          // just proved the password, so it stays a known one.
          setDeviceCookie(req, res, await services.admins.issueDeviceToken(signedIn.admin.id));
          res.redirect(303, '/admin/account?notice=password');
        },
        async (problem) => {
          await reservation.settle('not-checked');
          await renderAccount(req, res, { password: problem }, problem.status);
        },
      );
    } finally {
      await reservation.settle('not-checked');
    }
  });

  return router;
}
