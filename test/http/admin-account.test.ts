import request from 'supertest';
import { buildSite, type SiteWithHook } from '../support/factories';
import { createAdmin, csrfFrom, PASSWORD, signIn } from '../support/admin-pages';
import { buildTestApp, type TestApp } from '../support/test-app';

const NEW_PASSWORD = 'a different long passphrase';

/** An admin's own account page: the time zone pages show times in, and the password. */
describe('App Station account page', () => {
  let t: TestApp;
  let site: SiteWithHook;
  let session: Awaited<ReturnType<typeof signIn>>;
  const post = (path: string, body: Record<string, unknown>) => session.agent.post(`/admin/account${path}`).type('form').send({ _csrf: session.csrf, ...body });

  beforeEach(async () => {
    t = await buildTestApp();
    site = await buildSite(t);
    await createAdmin(t, 'ann@example.com', [site.siteId], 'Europe/Berlin');
    session = await signIn(t, 'ann@example.com');
  });
  afterEach(() => t.close());

  it('changes the time zone every page shows times in', async () => {
    const page = await session.agent.get('/admin/account').expect(200);
    expect(page.text).toContain('<option value="Europe/Berlin" selected>');
    expect(page.text).toContain('Times are shown in Europe/Berlin');

    const saved = await post('/time-zone', { timeZone: 'America/Chicago' }).expect(303);
    expect(saved.headers.location).toBe('/admin/account?notice=time-zone');
    const after = await session.agent.get(`/admin/sites/${site.siteId}/kartra`).expect(200);
    expect(after.text).toContain('Times are shown in America/Chicago');
  });

  it('refuses a time zone that does not exist, keeping the page usable', async () => {
    const refused = await post('/time-zone', { timeZone: 'Mars/Olympus_Mons' }).expect(422);
    expect(refused.text).toContain('an IANA time zone such as Europe/Berlin');
    expect(refused.text).toContain('Times are shown in Europe/Berlin');
  });

  it('needs the CSRF token', async () => {
    await session.agent.post('/admin/account/time-zone').type('form').send({ timeZone: 'America/Chicago' }).expect(403);
    const page = await session.agent.get('/admin/account').expect(200);
    expect(page.text).toContain('<option value="Europe/Berlin" selected>');
  });

  it('changes the password after checking the current one, and signs out every other browser', async () => {
    const otherBrowser = await signIn(t, 'ann@example.com');

    const wrong = await post('/password', { currentPassword: 'not my password', newPassword: NEW_PASSWORD, confirmPassword: NEW_PASSWORD }).expect(422);
    expect(wrong.text).toContain('this is not your current password');
    const mismatch = await post('/password', { currentPassword: PASSWORD, newPassword: NEW_PASSWORD, confirmPassword: 'typo' }).expect(422);
    expect(mismatch.text).toContain('does not match the new password');
    const short = await post('/password', { currentPassword: PASSWORD, newPassword: 'short', confirmPassword: 'short' }).expect(422);
    expect(short.text).toContain('at least 12 characters');
    // Nothing typed into a password field is echoed back.
    expect(short.text).not.toContain(PASSWORD);

    await post('/password', { currentPassword: PASSWORD, newPassword: NEW_PASSWORD, confirmPassword: NEW_PASSWORD }).expect(303);
    await session.agent.get('/admin/account').expect(200);
    const signedOut = await otherBrowser.agent.get('/admin/account').expect(303);
    expect(signedOut.headers.location).toMatch(/^\/admin\/sign-in/);

    const agent = request.agent(t.app);
    const fresh = await agent.get('/admin/sign-in').expect(200);
    await agent.post('/admin/sign-in').type('form').send({ _csrf: csrfFrom(fresh.text), email: 'ann@example.com', password: PASSWORD }).expect(401);
    await signIn(t, 'ann@example.com', NEW_PASSWORD);
  });

  it('counts wrong current passwords like failed sign-ins', async () => {
    for (let attempt = 0; attempt < 5; attempt += 1) {
      await post('/password', { currentPassword: `guess ${attempt}`, newPassword: NEW_PASSWORD, confirmPassword: NEW_PASSWORD }).expect(422);
    }
    const limited = await post('/password', { currentPassword: PASSWORD, newPassword: NEW_PASSWORD, confirmPassword: NEW_PASSWORD }).expect(429);
    expect(limited.headers['retry-after']).toEqual(expect.any(String));
    expect(limited.text).toContain('Too many wrong passwords');
  });
});
