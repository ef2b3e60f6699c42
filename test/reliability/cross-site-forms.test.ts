import request from 'supertest';
import { buildSite, type SiteWithHook } from '../support/factories';
import { createAdmin, csrfFrom, PASSWORD, signIn } from '../support/admin-pages';
import { buildTestApp, type TestApp } from '../support/test-app';
import { fillPath, listRoutes, snapshotData, type RouteEntry } from './support';

const HOST = 'admin.example.com';
const key = (route: RouteEntry) => `${route.method} ${route.path}`;

/** What a browser adds to a form post made from another site's page; the CSRF token alone would let it through. */
const CROSS_SITE: [label: string, headers: Record<string, string>][] = [
  ['Origin https://evil.example', { Origin: 'https://evil.example' }],
  ['Origin of the same host on another scheme', { Origin: `https://${HOST}` }],
  ['Origin of the same host on another port', { Origin: `http://${HOST}:8443` }],
  ['Origin null (a sandboxed frame or a redirect)', { Origin: 'null' }],
  ['Sec-Fetch-Site cross-site, no Origin', { 'Sec-Fetch-Site': 'cross-site' }],
  ['Sec-Fetch-Site cross-site with a same-origin Origin', { 'Sec-Fetch-Site': 'cross-site', Origin: `http://${HOST}` }],
];

describe('admin forms sent from another site are refused even with a valid CSRF token', () => {
  let t: TestApp;
  let site: SiteWithHook;
  let posts: RouteEntry[];

  beforeAll(async () => {
    t = await buildTestApp();
    site = await buildSite(t);
    await createAdmin(t, 'ann@example.com', [site.siteId]);
    posts = listRoutes(t.app).filter((route) => route.path.startsWith('/admin') && route.method === 'POST');
  });
  afterAll(() => t.close());

  const ids = () => ({ siteId: site.siteId, levelId: site.levels.Foundations, memberId: 1, eventId: 1, grantId: 1, productId: '558475', endpointId: 1, messageId: 1 });

  it('answers 403 on every state-changing admin route, sign-in and sign-out included, and changes nothing', async () => {
    expect(posts.length).toBeGreaterThanOrEqual(15);
    expect(posts.map(key)).toEqual(expect.arrayContaining(['POST /admin/sign-in', 'POST /admin/sign-out', 'POST /admin/sites/:siteId/kartra/settings']));
    const ann = await signIn(t, 'ann@example.com');
    const signInPage = await request(t.app).get('/admin/sign-in').expect(200);
    const before = await snapshotData(t.query);
    const accepted: string[] = [];
    for (const route of posts) {
      for (const [label, headers] of CROSS_SITE) {
        const body = route.path === '/admin/sign-in' ? { _csrf: csrfFrom(signInPage.text), email: 'ann@example.com', password: PASSWORD } : { _csrf: ann.csrf, name: 'Gold', graceDays: '3', cancelMode: 'immediate' };
        const response = await ann.agent.post(fillPath(route.path, ids())).set('Host', HOST).set(headers).type('form').send(body);
        if (response.status !== 403) accepted.push(`${key(route)} (${label}): ${response.status}`);
        else if (!response.text.includes('sent from another site')) accepted.push(`${key(route)} (${label}): 403 without saying why`);
      }
    }
    expect(accepted).toEqual([]);
    expect(await snapshotData(t.query)).toBe(before);
    // Still signed in: the cross-site sign-out did nothing.
    await ann.agent.get(`/admin/sites/${site.siteId}`).set('Host', HOST).expect(200);
  });

  it('a cross-site sign-in with the right password and a valid form token starts no session', async () => {
    const visitor = request.agent(t.app);
    const form = await visitor.get('/admin/sign-in').expect(200);
    const refused = await visitor.post('/admin/sign-in').set('Host', HOST).set('Origin', 'https://evil.example').type('form').send({ _csrf: csrfFrom(form.text), email: 'ann@example.com', password: PASSWORD }).expect(403);
    expect(String(refused.headers['set-cookie'] ?? '')).not.toContain('ka_session=');
    await visitor.get('/admin').expect(303).expect('Location', /^\/admin\/sign-in/);
  });

  it('a same-origin form post goes through, as does one with no Origin or Sec-Fetch-Site (the token still guards it)', async () => {
    const ann = await signIn(t, 'ann@example.com');
    const levels = () => t.api.get(`/sites/${site.siteId}/levels`).then((res) => (res.body.levels as { name: string }[]).map((level) => level.name));
    const post = () => ann.agent.post(`/admin/sites/${site.siteId}/levels`).set('Host', HOST).type('form');
    await post().set('Origin', `http://${HOST}`).set('Sec-Fetch-Site', 'same-origin').send({ _csrf: ann.csrf, name: 'Gold' }).expect(303);
    // Browsers write Origin lower-case without the default port; the Host header may have either.
    await post().set('Host', 'Admin.Example.com:80').set('Origin', `http://${HOST}`).send({ _csrf: ann.csrf, name: 'Silver' }).expect(303);
    await post().send({ _csrf: ann.csrf, name: 'Bronze' }).expect(303);
    await post().set('Sec-Fetch-Site', 'same-site').send({ _csrf: ann.csrf, name: 'Tin' }).expect(303);
    // No Origin is no pass: without the token the same post is still refused.
    await post().send({ name: 'Lead' }).expect(403);
    expect(await levels()).toEqual(expect.arrayContaining(['Gold', 'Silver', 'Bronze', 'Tin']));
    expect(await levels()).not.toContain('Lead');
  });

  it('behind a trusted proxy, the https origin the proxy reports counts as this service\'s own', async () => {
    const proxied = await buildTestApp({ TRUST_PROXY: '1' });
    try {
      const target = await buildSite(proxied);
      await createAdmin(proxied, 'ann@example.com', [target.siteId]);
      const agent = request.agent(proxied.app);
      const behindProxy = { Host: HOST, 'X-Forwarded-Proto': 'https', Origin: `https://${HOST}` };
      const form = await agent.get('/admin/sign-in').expect(200);
      await agent.post('/admin/sign-in').set(behindProxy).type('form').send({ _csrf: csrfFrom(form.text), email: 'ann@example.com', password: PASSWORD }).expect(303);
      const page = await agent.get('/admin').set(behindProxy).redirects(1).expect(200);
      await agent.post(`/admin/sites/${target.siteId}/levels`).set(behindProxy).type('form').send({ _csrf: csrfFrom(page.text), name: 'Gold' }).expect(303);
      // The same post claiming plain http while the proxy says https is from another origin.
      await agent.post(`/admin/sites/${target.siteId}/levels`).set({ ...behindProxy, Origin: `http://${HOST}` }).type('form').send({ _csrf: csrfFrom(page.text), name: 'Silver' }).expect(403);
    } finally {
      await proxied.close();
    }
  });
});
