import request from 'supertest';
import { buildSite, postOutbound } from '../support/factories';
import { outboundFixture } from '../support/kartra-fixtures';
import { buildTestApp, type TestApp } from '../support/test-app';
import { createAdmin, csrfFrom, PASSWORD, signIn } from '../support/admin-pages';

describe('App Station pages over HTTP', () => {
  let t: TestApp;
  beforeEach(async () => {
    t = await buildTestApp();
  });
  afterEach(() => t.close());

  describe('sign-in and sign-out', () => {
    it('sends a visitor without a session to the sign-in page', async () => {
      const site = await buildSite(t);
      const res = await request(t.app).get(`/admin/sites/${site.siteId}/kartra`).expect(303);
      expect(res.headers.location).toBe(`/admin/sign-in?next=${encodeURIComponent(`/admin/sites/${site.siteId}/kartra`)}`);
    });

    it('signs in with the right password and sets an httpOnly SameSite session cookie', async () => {
      const site = await buildSite(t);
      await createAdmin(t, 'ann@example.com', [site.siteId]);
      const agent = request.agent(t.app);
      const form = await agent.get('/admin/sign-in').expect(200);
      const res = await agent.post('/admin/sign-in').type('form').send({ _csrf: csrfFrom(form.text), email: 'Ann@Example.com', password: PASSWORD, next: `/admin/sites/${site.siteId}/events` }).expect(303);
      expect(res.headers.location).toBe(`/admin/sites/${site.siteId}/events`);
      const cookie = ([] as string[]).concat(res.headers['set-cookie'] ?? []).find((value) => value.startsWith('ka_session='));
      expect(cookie).toMatch(/HttpOnly/);
      expect(cookie).toMatch(/SameSite=Lax/);
      expect(cookie).not.toMatch(/Secure/);
      const page = await agent.get(`/admin/sites/${site.siteId}/events`).expect(200);
      expect(page.text).toContain('Webhook activity');
      expect(page.text).toContain('Times are shown in Europe/Berlin');
    });

    it('marks the cookie Secure when the request came over https behind a trusted proxy', async () => {
      await t.close();
      t = await buildTestApp({ TRUST_PROXY: 'true' });
      await createAdmin(t, 'ann@example.com', []);
      const form = await request(t.app).get('/admin/sign-in').set('X-Forwarded-Proto', 'https').expect(200);
      const signInCookie = ([] as string[]).concat(form.headers['set-cookie'] ?? []).find((value) => value.startsWith('ka_sign_in='));
      expect(signInCookie).toMatch(/; Secure/);
      // A cookie jar would not send a Secure cookie over plain http; behind the proxy the browser did use https.
      const res = await request(t.app)
        .post('/admin/sign-in')
        .set('X-Forwarded-Proto', 'https')
        .set('Cookie', signInCookie?.split(';')[0] ?? '')
        .type('form').send({ _csrf: csrfFrom(form.text), email: 'ann@example.com', password: PASSWORD }).expect(303);
      const cookie = ([] as string[]).concat(res.headers['set-cookie'] ?? []).find((value) => value.startsWith('ka_session='));
      expect(cookie).toMatch(/; Secure/);
    });

    it('refuses a wrong password, keeps the typed email and never echoes the password', async () => {
      await createAdmin(t, 'ann@example.com', []);
      const agent = request.agent(t.app);
      const form = await agent.get('/admin/sign-in').expect(200);
      const res = await agent.post('/admin/sign-in').type('form').send({ _csrf: csrfFrom(form.text), email: 'ann@example.com', password: 'wrong password 123' }).expect(401);
      expect(res.text).toContain('do not match');
      expect(res.text).toContain('value="ann@example.com"');
      expect(res.text).not.toContain('wrong password 123');
      expect(res.headers['set-cookie']?.toString() ?? '').not.toContain('ka_session=');
    });

    it('starts a new session at sign-in, so a session held before it stops working', async () => {
      await createAdmin(t, 'ann@example.com', []);
      const first = await signIn(t, 'ann@example.com');
      const form = await first.agent.get('/admin/sign-in').expect(303);
      expect(form.headers.location).toBe('/admin');
      // Signing in again from the same browser replaces the session it presented.
      const fresh = request.agent(t.app);
      const signInForm = await fresh.get('/admin/sign-in').expect(200);
      const oldCookie = (await first.agent.get('/admin').redirects(0)).request.cookies;
      await fresh
        .post('/admin/sign-in')
        .set('Cookie', `${oldCookie}; ka_sign_in=${/ka_sign_in=([^;]+)/.exec(signInForm.headers['set-cookie']?.toString() ?? '')?.[1] ?? ''}`)
        .type('form')
        .send({ _csrf: csrfFrom(signInForm.text), email: 'ann@example.com', password: PASSWORD })
        .expect(303);
      await first.agent.get('/admin').expect(303).expect('Location', /\/admin\/sign-in/);
    });

    it('signs out: the session ends and its cookie no longer opens pages', async () => {
      const site = await buildSite(t);
      await createAdmin(t, 'ann@example.com', [site.siteId]);
      const { agent, csrf } = await signIn(t, 'ann@example.com');
      await agent.post('/admin/sign-out').type('form').send({ _csrf: csrf }).expect(303).expect('Location', '/admin/sign-in?notice=signed-out');
      await agent.get(`/admin/sites/${site.siteId}`).expect(303);
    });
  });

  describe('CSRF', () => {
    it('rejects a state-changing form without the session token, and changes nothing', async () => {
      const site = await buildSite(t, { levels: [] });
      await createAdmin(t, 'ann@example.com', [site.siteId]);
      const { agent, csrf } = await signIn(t, 'ann@example.com');
      const missing = await agent.post(`/admin/sites/${site.siteId}/levels`).type('form').send({ name: 'Gold' }).expect(403);
      expect(missing.text).toContain('reload the page');
      await agent.post(`/admin/sites/${site.siteId}/levels`).type('form').send({ name: 'Gold', _csrf: `${csrf}x` }).expect(403);
      await agent.post(`/admin/sites/${site.siteId}/kartra/rotate`).type('form').send({}).expect(403);
      expect(await t.composed.services.sites.listLevels(await t.composed.services.sites.requireSite(site.siteId, 'all'))).toEqual([]);
      await agent.post(`/admin/sites/${site.siteId}/levels`).type('form').send({ name: 'Gold', _csrf: csrf }).expect(303);
    });

    it('rejects a sign-in post without the sign-in form token', async () => {
      await createAdmin(t, 'ann@example.com', []);
      await request(t.app).post('/admin/sign-in').type('form').send({ email: 'ann@example.com', password: PASSWORD }).expect(403);
    });
  });

  describe('cross-site isolation', () => {
    it('answers 404 for every page and form of a site the admin does not administer', async () => {
      const mine = await buildSite(t, { name: 'Mine' });
      const theirs = await buildSite(t, { name: 'Theirs' });
      await postOutbound(t, theirs.hookPath, outboundFixture('02-buy_product.one-time.dana.json')).expect(200);
      const theirEvent = (await t.composed.services.eventLog.list(await t.composed.services.sites.requireSite(theirs.siteId, 'all'), { limit: 1 })).events[0];
      await createAdmin(t, 'ann@example.com', [mine.siteId]);
      const { agent, csrf } = await signIn(t, 'ann@example.com');
      for (const path of ['', '/kartra', '/mappings', '/events', `/events/${theirEvent?.id}`, '/members', '/levels', '/attention']) {
        const res = await agent.get(`/admin/sites/${theirs.siteId}${path}`).expect(404);
        expect(res.text).not.toContain('Theirs');
      }
      // Another site's event through my site's path is missing too.
      await agent.get(`/admin/sites/${mine.siteId}/events/${theirEvent?.id}`).expect(404);
      await agent.post(`/admin/sites/${theirs.siteId}/kartra/disable`).type('form').send({ _csrf: csrf }).expect(404);
      expect((await t.composed.services.sites.requireSite(theirs.siteId, 'all')).kartraEnabled).toBe(true);
      const list = await agent.get('/admin').redirects(1).expect(200);
      expect(list.text).toContain('Mine');
      expect(list.text).not.toContain('Theirs');
    });
  });

  describe('sign-in rate limiting', () => {
    it('refuses further attempts at an email from one address after 5 failures there, even with the right password, until the window passes', async () => {
      await createAdmin(t, 'ann@example.com', []);
      const agent = request.agent(t.app);
      const form = await agent.get('/admin/sign-in').expect(200);
      const token = csrfFrom(form.text);
      for (let attempt = 0; attempt < 5; attempt += 1) {
        await agent.post('/admin/sign-in').type('form').send({ _csrf: token, email: 'ann@example.com', password: `wrong-${attempt}-xxxxxxxx` }).expect(401);
      }
      const limited = await agent.post('/admin/sign-in').type('form').send({ _csrf: token, email: 'ann@example.com', password: PASSWORD }).expect(429);
      expect(limited.text).toContain('Too many sign-in attempts');
      expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
      t.clock.advanceMs(15 * 60 * 1000);
      await agent.post('/admin/sign-in').type('form').send({ _csrf: token, email: 'ann@example.com', password: PASSWORD }).expect(303);
    });

    it('refuses further attempts from one address after 20 failures across emails, in browsers that never signed in there', async () => {
      await createAdmin(t, 'ann@example.com', []);
      const agent = request.agent(t.app);
      const token = csrfFrom((await agent.get('/admin/sign-in').expect(200)).text);
      for (let attempt = 0; attempt < 20; attempt += 1) {
        await agent.post('/admin/sign-in').type('form').send({ _csrf: token, email: `guess${attempt}@example.com`, password: 'not the password' }).expect(401);
      }
      await agent.post('/admin/sign-in').type('form').send({ _csrf: token, email: 'ann@example.com', password: PASSWORD }).expect(429);
    });
  });
});
