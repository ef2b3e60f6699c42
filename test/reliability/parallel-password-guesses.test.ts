import type { Server } from 'node:http';
import { DEFAULT_SIGN_IN_LIMITS } from '../../src/http/pages/sign-in-limiter';
import { createAdmin, csrfFrom, PASSWORD } from '../support/admin-pages';
import { buildTestApp, type TestApp } from '../support/test-app';
import { count, listenOnLoopback, reportFigure, sendRequest, type PlainResponse } from './support';

const FORM = { 'content-type': 'application/x-www-form-urlencoded' };
const NEW_PASSWORD = 'a different long passphrase';

/** `name=value` pairs from a response's Set-Cookie headers, for a browser's Cookie header. */
function cookiesFrom(response: PlainResponse): Record<string, string> {
  return Object.fromEntries(([] as string[]).concat(response.headers['set-cookie'] ?? []).map((line) => (line.split(';')[0] ?? '').split('=') as [string, string]));
}
const cookieHeader = (cookies: Record<string, string>) => Object.entries(cookies).map(([name, value]) => `${name}=${value}`).join('; ');
const form = (fields: Record<string, string>) => new URLSearchParams(fields).toString();

function tally(answers: PlainResponse[]): Record<number, number> {
  const statuses: Record<number, number> = {};
  for (const { status } of answers) statuses[status] = (statuses[status] ?? 0) + 1;
  return statuses;
}

/**
 * A burst of guesses sent all at once through a real port. Before, the limit was checked, then scrypt ran, then the
 * failure was counted, so every guess of a burst passed the check while the first ones were still hashing: 200
 * parallel wrong passwords were all checked, and a right one late in the burst signed in.
 */
describe('parallel password guesses', () => {
  const guesses = count(200, 500);
  const limit = DEFAULT_SIGN_IN_LIMITS.perEmailAndAddress;
  let t: TestApp;
  let server: Server;
  let baseUrl: string;

  beforeEach(async () => {
    t = await buildTestApp();
    ({ server, baseUrl } = await listenOnLoopback(t.app));
    await createAdmin(t, 'ann@example.com', []);
  });
  afterEach(async () => {
    await new Promise((done) => server.close(done));
    await t.close();
  });

  /** Sends every body at once (none waits for another's answer) and returns the answers in the order sent. */
  function burst(path: string, cookies: Record<string, string>, bodies: string[]): Promise<PlainResponse[]> {
    return Promise.all(bodies.map((body) => sendRequest(`${baseUrl}${path}`, { body, headers: { ...FORM, cookie: cookieHeader(cookies) } })));
  }

  it(`check at most ${limit} sign-in passwords of ${guesses} sent at once, and the right one, a quarter of the way in, does not sign in`, async () => {
    const page = await sendRequest(`${baseUrl}/admin/sign-in`, { method: 'GET' });
    const cookies = cookiesFrom(page);
    const rightAt = Math.floor(guesses / 4);
    const bodies = Array.from({ length: guesses }, (_, index) => form({ _csrf: csrfFrom(page.text), email: 'ann@example.com', password: index === rightAt ? PASSWORD : `wrong guess ${index} xxxx` }));

    const answers = await burst('/admin/sign-in', cookies, bodies);

    const statuses = tally(answers);
    reportFigure('abuse: parallel sign-in guesses', { sent: guesses, 'checked (401)': statuses[401] ?? 0, 'refused (429)': statuses[429] ?? 0, 'signed in (303)': statuses[303] ?? 0 });
    expect(answers[rightAt]?.status).toBe(429);
    expect(statuses).toEqual({ 401: limit, 429: guesses - limit });
    for (const refused of answers.filter((answer) => answer.status === 429)) expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0);
  });

  it(`check at most ${limit} current passwords of ${guesses} sent at once on the account page, and the right one, a quarter of the way in, changes nothing`, async () => {
    // A browser signed in through the real form: session, device cookie and the page's CSRF token.
    const signInPage = await sendRequest(`${baseUrl}/admin/sign-in`, { method: 'GET' });
    const signedIn = await sendRequest(`${baseUrl}/admin/sign-in`, {
      body: form({ _csrf: csrfFrom(signInPage.text), email: 'ann@example.com', password: PASSWORD }),
      headers: { ...FORM, cookie: cookieHeader(cookiesFrom(signInPage)) },
    });
    expect(signedIn.status).toBe(303);
    const cookies = cookiesFrom(signedIn);
    const account = await sendRequest(`${baseUrl}/admin/account`, { method: 'GET', headers: { cookie: cookieHeader(cookies) } });
    const csrf = csrfFrom(account.text);
    const rightAt = Math.floor(guesses / 4);
    const bodies = Array.from({ length: guesses }, (_, index) =>
      form({ _csrf: csrf, currentPassword: index === rightAt ? PASSWORD : `wrong guess ${index} xxxx`, newPassword: NEW_PASSWORD, confirmPassword: NEW_PASSWORD }),
    );

    const answers = await burst('/admin/account/password', cookies, bodies);

    const statuses = tally(answers);
    reportFigure('abuse: parallel current-password guesses', { sent: guesses, 'checked (422)': statuses[422] ?? 0, 'refused (429)': statuses[429] ?? 0, 'changed (303)': statuses[303] ?? 0 });
    expect(answers[rightAt]?.status).toBe(429);
    expect(statuses).toEqual({ 422: limit, 429: guesses - limit });
    expect(await t.composed.services.admins.signIn('ann@example.com', PASSWORD)).not.toBeNull();
    expect(await t.composed.services.admins.signIn('ann@example.com', NEW_PASSWORD)).toBeNull();
  });
});
