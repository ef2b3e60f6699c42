import request from 'supertest';
import { buildSite, memberLevels, postOutbound, type SiteWithHook } from '../support/factories';
import { assetFixture, outboundFixture } from '../support/kartra-fixtures';
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
  describe('access from Kartra tags and membership levels', () => {
    const LEE = 'lee.park@example.com';
    const TAG_LABEL = 'Kartra tag &quot;CheckoutJoy - Pro Course&quot;';
    let site: SiteWithHook;
    let session: Awaited<ReturnType<typeof signIn>>;
    let base: string;
    const post = (path: string, body: Record<string, unknown>) => session.agent.post(`${base}${path}`).type('form').send({ _csrf: session.csrf, ...body });
    const get = (path: string) => session.agent.get(`${base}${path}`).expect(200);
    const unescape = (html: string) => html.replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
    /** The keys of the asset rows in one section of the Mappings page, as a browser would read them. */
    const keysIn = (html: string, sectionId: string) => {
      const section = html.slice(html.indexOf(`id="${sectionId}"`), html.indexOf('</section>', html.indexOf(`id="${sectionId}"`)));
      return [...section.matchAll(/data-asset-key="([^"]*)"/g)].map((match) => unescape(match[1] ?? ''));
    };
    const memberPageOf = async (email: string) => {
      const list = await get(`/members?q=${encodeURIComponent(email)}`);
      const id = /\/members\/(\d+)"/.exec(list.text)?.[1];
      if (!id) throw new Error(`no member ${email} on the members page`);
      return (await get(`/members/${id}`)).text;
    };

    beforeEach(async () => {
      site = await buildSite(t, { levels: ['Pro Course', 'Academy Pro'] });
      await createAdmin(t, 'ann@example.com', [site.siteId]);
      session = await signIn(t, 'ann@example.com');
      base = `/admin/sites/${site.siteId}`;
    });

    it('lists a discovered tag after a tag event, maps it with a preview first, and the member gets the level, named on their page', async () => {
      expect((await postOutbound(t, site.hookPath, assetFixture('01-assign_tag.nested.lee.json')).expect(200)).body.outcome).toBe('unmapped');
      const page = await get('/mappings');
      expect(page.text).toContain('<h1>Mappings</h1>');
      expect(page.text).toContain('<title>Mappings · Watercolor Academy');
      const [key] = keysIn(page.text, 'discovered-tags');
      expect(key).toBeDefined();
      const row = page.text.slice(page.text.indexOf('data-asset-key'), page.text.indexOf('</li>', page.text.indexOf('data-asset-key')));
      expect(row).toContain('CheckoutJoy - Pro Course');
      expect(row).toContain('#70200');
      expect(row).toContain('1 event · 1 lead');
      expect(keysIn(page.text, 'mapped-tags')).toEqual([]);

      const preview = await post('/asset-mappings', { kind: 'discovered', key, levelIds: String(site.levels['Pro Course']), applyToPast: 'on' }).expect(200);
      expect(preview.text).toContain('Apply to past events?');
      expect(preview.text).toContain('the Kartra tag &quot;CheckoutJoy - Pro Course&quot;');
      expect(preview.text).toContain('1 stored event');
      expect(preview.text).toContain('1 person');
      expect(preview.text).toContain('0 members with it on record');
      // Nothing is mapped, and nobody has access, until the admin confirms.
      expect(await t.composed.services.assetMappings.list(await t.composed.services.sites.requireSite(site.siteId, 'all'))).toEqual([]);
      expect(await memberLevels(t, site, LEE)).toEqual([]);

      const saved = await post('/asset-mappings', { kind: 'discovered', key, levelIds: String(site.levels['Pro Course']), applyToPast: 'on', confirm: 'yes' }).expect(303);
      const after = await session.agent.get(saved.headers.location as string).expect(200);
      expect(after.text).toContain('Mapping of the Kartra tag saved. Applied to the past: 1 event re-applied');
      expect(keysIn(after.text, 'discovered-tags')).toEqual([]);
      expect(keysIn(after.text, 'mapped-tags')).toEqual([key]);
      const mappedRow = after.text.slice(after.text.indexOf('<tr data-asset-key'), after.text.indexOf('</tr>', after.text.indexOf('<tr data-asset-key')));
      expect(mappedRow).toContain('Pro Course');
      expect(mappedRow).toContain('1 member');
      expect(await memberLevels(t, site, LEE)).toEqual(['Pro Course']);

      const member = await memberPageOf(LEE);
      expect(member).toContain('Lee Park');
      expect(member).toContain(TAG_LABEL);
      expect(member).toMatch(/data-testid="effective-levels"><span class="chip chip-ok">Pro Course<\/span>/);
    });

    it('maps a tag by name and a membership level by id before Kartra sends them, and deletes one with revoke', async () => {
      const tag = await post('/asset-mappings', { kind: 'tag', tagName: '  checkoutjoy - PRO course ', levelIds: String(site.levels['Pro Course']) }).expect(303);
      expect(tag.headers.location).toContain('notice=asset-saved&kind=tag');
      const level = await post('/asset-mappings', { kind: 'membership', membershipId: '4402', levelId: '08812', levelIds: String(site.levels['Academy Pro']) }).expect(303);
      const notice = await session.agent.get(level.headers.location as string).expect(200);
      expect(notice.text).toContain('Mapping of the Kartra membership level saved.');
      expect(notice.text).not.toContain('Applied to the past');

      expect((await postOutbound(t, site.hookPath, assetFixture('01-assign_tag.nested.lee.json')).expect(200)).body.outcome).toBe('applied');
      t.clock.advanceMs(60_000);
      expect((await postOutbound(t, site.hookPath, assetFixture('03-membership_granted.nested.lee.json')).expect(200)).body.outcome).toBe('applied');
      expect(await memberLevels(t, site, LEE)).toEqual(['Academy Pro', 'Pro Course']);

      const page = await get('/mappings');
      expect(keysIn(page.text, 'mapped-tags')).toHaveLength(1);
      const [levelKey] = keysIn(page.text, 'mapped-memberships');
      const membershipSection = page.text.slice(page.text.indexOf('id="mapped-memberships"'), page.text.indexOf('id="add-mappings"'));
      // Kartra's event filled in the names of the level mapped by id.
      expect(membershipSection).toContain('Pro Members');
      expect(membershipSection).toContain('Watercolor Academy');
      expect(membershipSection).toContain('1 member');
      const member = await memberPageOf(LEE);
      expect(member).toContain(TAG_LABEL);
      expect(member).toContain('Kartra membership &quot;Watercolor Academy&quot; level &quot;Pro Members&quot;');

      const deleted = await post('/asset-mappings/delete', { key: levelKey, grants: 'revoke' }).expect(303);
      const deletedPage = await session.agent.get(deleted.headers.location as string).expect(200);
      expect(deletedPage.text).toContain('Mapping of the Kartra membership level deleted; 1 grant revoked.');
      expect(keysIn(deletedPage.text, 'mapped-memberships')).toEqual([]);
      expect(await memberLevels(t, site, LEE)).toEqual(['Pro Course']);
      const [tagKey] = keysIn(deletedPage.text, 'mapped-tags');
      const kept = await post('/asset-mappings/delete', { key: tagKey, grants: 'keep' }).expect(303);
      expect((await session.agent.get(kept.headers.location as string).expect(200)).text).toContain('Mapping of the Kartra tag deleted; members keep the access they have.');
      expect(await memberLevels(t, site, LEE)).toEqual(['Pro Course']);
      // A mapping that is gone is a missing page, not a second deletion.
      await post('/asset-mappings/delete', { key: tagKey, grants: 'revoke' }).expect(404);
    });

    it('filters the event log by a tag, listing only its events, and keeps the filter in the paging links', async () => {
      await postOutbound(t, site.hookPath, outboundFixture('02-buy_product.one-time.dana.json')).expect(200);
      await postOutbound(t, site.hookPath, assetFixture('03-membership_granted.nested.lee.json')).expect(200);
      // 51 tag events, assigned and removed in turn: one more than a page.
      for (let index = 0; index < 51; index++) {
        t.clock.advanceMs(60_000);
        await postOutbound(t, site.hookPath, assetFixture(index % 2 === 0 ? '01-assign_tag.nested.lee.json' : '02-unassign_tag.nested.lee.json')).expect(200);
      }
      const [tagKey] = keysIn((await get('/mappings')).text, 'discovered-tags');
      const all = await get('/events');
      expect(all.text).toContain('<option value="">Any</option>');
      expect(all.text).toContain(`<option value="${tagKey}" >tag &quot;CheckoutJoy - Pro Course&quot;</option>`);
      // The action filter offers each action the log holds, by name.
      const actionSelect = /<select id="action" name="action">([\s\S]*?)<\/select>/.exec(all.text)?.[1] ?? '';
      expect([...actionSelect.matchAll(/<option value="([^"]+)"/g)].map((match) => match[1])).toEqual(['assign_tag', 'buy_product', 'membership_granted', 'unassign_tag']);

      const filtered = await get(`/events?asset=${encodeURIComponent(tagKey ?? '')}`);
      expect(filtered.text).toContain(`<option value="${tagKey}" selected>`);
      const rows = [...filtered.text.matchAll(/<tr data-event-id="\d+">[\s\S]*?<\/tr>/g)].map((match) => match[0]);
      expect(rows).toHaveLength(50);
      expect(rows.every((row) => /assign_tag/.test(row) && row.includes('tag &quot;CheckoutJoy - Pro Course&quot;'))).toBe(true);
      const older = /href="([^"]+)" rel="next"/.exec(filtered.text)?.[1]?.replace(/&amp;/g, '&');
      expect(older).toContain(`asset=${encodeURIComponent(tagKey ?? '').replace(/%20/g, '+')}`);
      const second = await session.agent.get(older ?? '').expect(200);
      const secondRows = [...second.text.matchAll(/<tr data-event-id="\d+">[\s\S]*?<\/tr>/g)].map((match) => match[0]);
      expect(secondRows).toHaveLength(1);
      expect(secondRows[0]).toContain('assign_tag');
      expect(second.text).toMatch(new RegExp(`href="[^"]*asset=[^"]*"[^>]*>Newest`));
      // A key the select does not offer filters nothing out.
      const unknown = await get('/events?asset=tag%3Anot%20a%20tag');
      expect([...unknown.text.matchAll(/<tr data-event-id=/g)]).toHaveLength(50);
    });

    it('saves the two access switches, on by default, and leaves them alone when a post does not carry them', async () => {
      const state = async () => {
        const current = await t.composed.services.sites.integrationState(await t.composed.services.sites.requireSite(site.siteId, 'all'));
        return { tags: current.tagAccess, memberships: current.membershipAccess };
      };
      const before = await get('/kartra');
      expect(before.text).toContain('Access from Kartra tags');
      expect(before.text).toContain('Access from Kartra memberships');
      expect(before.text).toContain('name="tagAccess" value="on" checked');
      expect(before.text).toContain('name="membershipAccess" value="on" checked');
      expect(await state()).toEqual({ tags: true, memberships: true });

      await post('/kartra/settings', { graceDays: '10', cancelMode: 'immediate', accessSwitches: 'shown', membershipAccess: 'on' }).expect(303);
      expect(await state()).toEqual({ tags: false, memberships: true });
      const after = await get('/kartra');
      expect(after.text).toContain('name="tagAccess" value="on" >');
      expect(after.text).toContain('name="membershipAccess" value="on" checked');
      const mappings = await get('/mappings');
      expect(mappings.text).toContain('Access from Kartra tags is switched off for this site');
      expect(mappings.text).not.toContain('Access from Kartra memberships is switched off');

      // A post without the switches (an older page, a script) does not switch them off.
      await post('/kartra/settings', { graceDays: '5', cancelMode: 'immediate' }).expect(303);
      expect(await state()).toEqual({ tags: false, memberships: true });
      // A form with an error shows the switches as they were sent.
      const invalid = await post('/kartra/settings', { graceDays: 'ten', cancelMode: 'immediate', accessSwitches: 'shown', tagAccess: 'on' }).expect(422);
      expect(invalid.text).toContain('name="tagAccess" value="on" checked');
      expect(invalid.text).toContain('name="membershipAccess" value="on" >');
      expect(await state()).toEqual({ tags: false, memberships: true });
      await post('/kartra/settings', { graceDays: '5', cancelMode: 'immediate', accessSwitches: 'shown', tagAccess: 'on', membershipAccess: 'on' }).expect(303);
      expect(await state()).toEqual({ tags: true, memberships: true });
    });

    it('shows a tag named like markup as text on every page, and never as markup', async () => {
      const MARKUP = '<script>alert(1)</script> VIP';
      const body = assetFixture('01-assign_tag.nested.lee.json') as { action_details: { tag: Record<string, unknown> } };
      body.action_details.tag = { tag_id: '70999', tag_name: MARKUP };
      await postOutbound(t, site.hookPath, body).expect(200);
      const escaped = '&lt;script&gt;alert(1)&lt;/script&gt; VIP';
      const noMarkup = (html: string) => {
        expect(html).not.toContain('<script>alert(1)');
        expect(html).toContain(escaped);
      };
      const page = await get('/mappings');
      noMarkup(page.text);
      const [key] = keysIn(page.text, 'discovered-tags');
      const preview = await post('/asset-mappings', { kind: 'discovered', key, levelIds: String(site.levels['Pro Course']), applyToPast: 'on' }).expect(200);
      noMarkup(preview.text);
      // The key is carried as a hidden field and comes back intact.
      expect(unescape(/name="key" value="([^"]*)"/.exec(preview.text)?.[1] ?? '')).toBe(key);
      await post('/asset-mappings', { kind: 'discovered', key, levelIds: String(site.levels['Pro Course']), applyToPast: 'on', confirm: 'yes' }).expect(303);
      noMarkup((await get('/mappings')).text);
      noMarkup((await get('/events')).text);
      noMarkup(await memberPageOf(LEE));
      expect(await memberLevels(t, site, LEE)).toEqual(['Pro Course']);
      // A tag typed into the form the same way is text too.
      const typed = await post('/asset-mappings', { kind: 'tag', tagName: '<b>bold</b>', levelIds: '' }).expect(422);
      expect(typed.text).toContain('value="&lt;b&gt;bold&lt;/b&gt;"');
      expect(typed.text).not.toContain('<b>bold</b>');
    });
  });
});
