import request from 'supertest';
import { buildMapping, buildSite, postOutbound, type SiteWithHook } from '../support/factories';
import { createAdmin, csrfFrom, signIn } from '../support/admin-pages';
import { outboundFixture } from '../support/kartra-fixtures';
import { buildTestApp, type TestApp } from '../support/test-app';
import { fillPath, listRoutes, reportFigure, snapshotData, type RouteEntry } from './support';

/** The ids one site's data has, to put in every :param of a route. */
interface SiteIds {
  siteId: number;
  levelId: number;
  memberId: number;
  eventId: number;
  grantId: number;
  productId: string;
  /** The key of the site's mapped Kartra tag. */
  key: string;
  /** A notification endpoint of the site, and a message to it. */
  endpointId: number;
  messageId: number;
}

/**
 * A site with a level, a mapped product, a buyer (member, purchase grant, event) and a manual grant: something behind
 * every route for an intruder to reach for.
 */
async function buildPopulatedSite(t: TestApp, name: string, productId: string): Promise<{ site: SiteWithHook; ids: SiteIds }> {
  const site = await buildSite(t, { name });
  await buildMapping(t, site, productId, ['Foundations']);
  const purchase = outboundFixture('02-buy_product.one-time.dana.json') as { action_details: { transaction_details: Record<string, unknown> } };
  purchase.action_details.transaction_details.product_id = productId;
  const delivered = await postOutbound(t, site.hookPath, purchase).expect(200);
  const memberId = await t.scalar('select id from members where site_id = ?', [site.siteId]);
  const manual = await t.api.post(`/sites/${site.siteId}/members/${memberId}/grants`, { levelId: site.levels['Studio Members'] }).expect(201);
  // A tag of the site's own name, so the two sites' tag keys differ.
  const tag = await t.api.post(`/sites/${site.siteId}/asset-mappings`, { kind: 'tag', tagName: `${name} VIP`, levelIds: [site.levels.Foundations] }).expect(201);
  const endpoint = await t.api.post(`/sites/${site.siteId}/notification-endpoints`, { url: `https://hooks.${name.toLowerCase()}.example.com/in`, eventTypes: ['access.granted'] }).expect(201);
  const message = await t.api.post(`/sites/${site.siteId}/notification-endpoints/${endpoint.body.id}/test`).expect(202);
  // Saved Kartra API credentials, for an intruder to read, replace, test or remove.
  await t.api.put(`/sites/${site.siteId}/kartra/credentials`, { appId: `${name}App`, apiKey: `${name.toLowerCase()}-api-key-1234`, apiPassword: `${name.toLowerCase()}-api-password` }).expect(200);
  return {
    site,
    ids: {
      siteId: site.siteId,
      levelId: site.levels['Studio Members'] ?? 0,
      memberId,
      eventId: delivered.body.eventId as number,
      grantId: manual.body.id as number,
      productId,
      key: tag.body.assetMapping.key as string,
      endpointId: endpoint.body.id as number,
      messageId: message.body.id as number,
    },
  };
}

const API_BODIES: Record<string, (ids: SiteIds) => object> = {
  'POST /api/v1/sites': () => ({ name: 'Intruder' }),
  'POST /api/v1/sites/:siteId/levels': () => ({ name: 'Intruder level' }),
  'PATCH /api/v1/sites/:siteId/levels/:levelId': () => ({ name: 'Renamed by an intruder' }),
  'PUT /api/v1/sites/:siteId/kartra': () => ({ enabled: false, ipnSecret: 'intruder' }),
  'PUT /api/v1/sites/:siteId/kartra/credentials': () => ({ appId: 'IntruderApp', apiKey: 'intruder-api-key-0000', apiPassword: 'intruder-password' }),
  'POST /api/v1/sites/:siteId/mappings': (ids) => ({ productId: '777', levelIds: [ids.levelId], applyToPast: true }),
  'POST /api/v1/sites/:siteId/asset-mappings': (ids) => ({ key: ids.key, levelIds: [ids.levelId], applyToPast: true }),
  'POST /api/v1/sites/:siteId/members/:memberId/grants': (ids) => ({ levelId: ids.levelId }),
  'POST /api/v1/sites/:siteId/events/reapply': () => ({ statuses: ['failed', 'unmapped', 'invalid', 'rejected'] }),
  'POST /api/v1/sites/:siteId/notification-endpoints': () => ({ url: 'https://intruder.example.com/in', eventTypes: ['access.granted'] }),
  'PATCH /api/v1/sites/:siteId/notification-endpoints/:endpointId': () => ({ url: 'https://intruder.example.com/in', enabled: false }),
  'POST /api/v1/sites/:siteId/notification-endpoints/:endpointId/replay': () => ({ since: '2000-01-01T00:00:00Z' }),
};

const PAGE_FORMS: Record<string, (ids: SiteIds) => Record<string, string>> = {
  'POST /admin/sites/:siteId/kartra/settings': () => ({ graceDays: '3', cancelMode: 'period_end', ipnSecret: 'intruder', publicUrl: 'https://evil.example.com' }),
  'POST /admin/sites/:siteId/kartra/credentials': () => ({ appId: 'IntruderApp', apiKey: 'intruder-api-key-0000', apiPassword: 'intruder-password' }),
  'POST /admin/sites/:siteId/kartra/api-settings': () => ({ verifyWithKartra: 'on', reconcileEveryHours: '1' }),
  'POST /admin/sites/:siteId/mappings': (ids) => ({ productId: '777', levelIds: String(ids.levelId), applyToPast: 'on', confirm: 'on' }),
  'POST /admin/sites/:siteId/mappings/:productId/delete': () => ({ grants: 'revoke' }),
  'POST /admin/sites/:siteId/members/:memberId/grants': (ids) => ({ levelId: String(ids.levelId) }),
  'POST /admin/sites/:siteId/levels': () => ({ name: 'Intruder level' }),
  'POST /admin/sites/:siteId/levels/:levelId/rename': () => ({ name: 'Renamed by an intruder' }),
};

const key = (route: RouteEntry) => `${route.method} ${route.path}`;

/** The routes with a site in their path, plus the other site's ids put where this site's would go. */
const hasSubIds = (route: RouteEntry) => /:(levelId|memberId|eventId|grantId|productId|key|endpointId|messageId)\b/.test(route.path);

describe('no site is reachable without a token or from another site', () => {
  let t: TestApp;
  let mine: SiteIds;
  let theirs: SiteIds;
  let routes: RouteEntry[];

  beforeAll(async () => {
    t = await buildTestApp();
    mine = (await buildPopulatedSite(t, 'Mine', '558475')).ids;
    theirs = (await buildPopulatedSite(t, 'Theirs', '612001')).ids;
    routes = listRoutes(t.app).filter((route) => route.path.startsWith('/api/v1/') && route.path !== '/api/v1/openapi.json');
  });
  afterAll(() => t.close());

  it('reads every API route from the router table', () => {
    expect(routes.length).toBeGreaterThanOrEqual(25);
    expect(routes.map(key)).toEqual(expect.arrayContaining(['GET /api/v1/sites/:siteId/events/:eventId', 'DELETE /api/v1/sites/:siteId/members/:memberId/grants/:grantId']));
  });

  it('answers 401 on every API route without a valid token, and changes nothing', async () => {
    const { token: revoked, record } = await t.composed.services.tokens.create('revoked', null);
    await t.composed.services.tokens.revoke(record.id);
    const before = await snapshotData(t.query);
    const refused: string[] = [];
    for (const route of routes) {
      for (const authorization of [undefined, 'Bearer ka_not-a-real-token', `Bearer ${revoked}`, `Basic ${Buffer.from(`x:${t.token}`).toString('base64')}`, t.token]) {
        let call = request(t.app)[route.method.toLowerCase() as 'get'](fillPath(route.path, mine));
        if (authorization) call = call.set('Authorization', authorization);
        const response = await call.send(API_BODIES[key(route)]?.(mine) ?? {});
        if (response.status !== 401 || response.body.error?.code !== 'unauthenticated') refused.push(`${key(route)} with ${authorization?.slice(0, 12) ?? 'no header'}: ${response.status}`);
      }
    }
    expect(refused).toEqual([]);
    expect(await snapshotData(t.query)).toBe(before);
    reportFigure('abuse: API without a token', { routes: routes.length, 'requests (5 bad credentials each)': routes.length * 5, 'not 401': refused.length });
  });

  it("answers 404 to a site-scoped token on every route of another site, or of its own site with the other's ids", async () => {
    const scoped = (await t.composed.services.tokens.create('mine only', mine.siteId)).token;
    const api = t.api.withToken(scoped);
    // Not vacuous: the same token reads its own site.
    await api.get(`/sites/${mine.siteId}/members/${mine.memberId}`).expect(200);
    const listed = await api.get('/sites').expect(200);
    expect(listed.body.sites.map((site: { id: number }) => site.id)).toEqual([mine.siteId]);
    await api.post('/sites', { name: 'Intruder' }).expect(403);

    const before = await snapshotData(t.query);
    const leaks: string[] = [];
    let requests = 0;
    const mixed = { ...mine, levelId: theirs.levelId, memberId: theirs.memberId, eventId: theirs.eventId, grantId: theirs.grantId, productId: theirs.productId, key: theirs.key, endpointId: theirs.endpointId, messageId: theirs.messageId };
    for (const route of routes.filter((candidate) => candidate.path.includes(':siteId'))) {
      const attempts: [string, SiteIds][] = [['their site', theirs]];
      if (hasSubIds(route)) attempts.push(['my site, their ids', mixed]);
      for (const [label, ids] of attempts) {
        requests++;
        const path = `${fillPath(route.path, ids)}${route.method === 'DELETE' && /:(productId|key)$/.test(route.path) ? '?revoke=true' : ''}`;
        const response = await request(t.app)[route.method.toLowerCase() as 'get'](path)
          .set('Authorization', `Bearer ${scoped}`)
          .send(API_BODIES[key(route)]?.(theirs) ?? {});
        // A level named in the body that is not the site's is refused as invalid input (422): also nothing done. A
        // product id is Kartra's, not a row of theirs: previewing it on my site counts my site's events only (none).
        const myOwnPreview = route.path.endsWith('/preview') && label === 'my site, their ids' && response.status === 200 && response.body.unmappedEvents === 0 && response.body.people === 0 && response.body.recordedPurchases === 0;
        const refused = response.status === 404 || (label === 'my site, their ids' && response.status === 422) || myOwnPreview;
        if (!refused) leaks.push(`${key(route)} (${label}): ${response.status}`);
        if (JSON.stringify(response.body).includes('Theirs')) leaks.push(`${key(route)} (${label}) names the other site`);
      }
    }
    // Bodies that name the other site's level on my own routes.
    requests++;
    const grantTheirLevel = await api.post(`/sites/${mine.siteId}/members/${mine.memberId}/grants`, { levelId: theirs.levelId });
    if (grantTheirLevel.status !== 422) leaks.push(`manual grant of their level: ${grantTheirLevel.status}`);
    requests++;
    const mapTheirLevel = await api.post(`/sites/${mine.siteId}/mappings`, { productId: '777', levelIds: [theirs.levelId] });
    if (mapTheirLevel.status < 400) leaks.push(`mapping to their level: ${mapTheirLevel.status}`);

    expect(leaks).toEqual([]);
    expect(await snapshotData(t.query)).toBe(before);
    reportFigure('abuse: API across sites', { 'site routes': routes.filter((route) => route.path.includes(':siteId')).length, requests, 'reached the other site': leaks.length });
  });
});

describe('the admin pages: sign-in, site isolation and CSRF on every form', () => {
  let t: TestApp;
  let mine: SiteIds;
  let theirs: SiteIds;
  let routes: RouteEntry[];

  beforeAll(async () => {
    t = await buildTestApp();
    mine = (await buildPopulatedSite(t, 'Mine', '558475')).ids;
    theirs = (await buildPopulatedSite(t, 'Theirs', '612001')).ids;
    await createAdmin(t, 'ann@example.com', [mine.siteId]);
    await createAdmin(t, 'bob@example.com', [theirs.siteId]);
    const signInPages = new Set(['GET /admin/sign-in', 'POST /admin/sign-in', 'POST /admin/sign-out']);
    routes = listRoutes(t.app).filter((route) => route.path.startsWith('/admin') && !signInPages.has(key(route)));
  });
  afterAll(() => t.close());

  const form = (route: RouteEntry, ids: SiteIds) => PAGE_FORMS[key(route)]?.(ids) ?? {};

  it('reads every page route from the router table', () => {
    expect(routes.length).toBeGreaterThanOrEqual(20);
    expect(routes.filter((route) => route.method === 'POST').length).toBeGreaterThanOrEqual(13);
  });

  it('sends a visitor without a session to sign in, on every page and form, and changes nothing', async () => {
    const before = await snapshotData(t.query);
    const wrong: string[] = [];
    for (const route of routes) {
      const path = fillPath(route.path, mine);
      const response = route.method === 'GET' ? await request(t.app).get(path) : await request(t.app).post(path).type('form').send(form(route, mine));
      if (response.status !== 303 || !String(response.headers.location).startsWith('/admin/sign-in')) wrong.push(`${key(route)}: ${response.status} ${response.headers.location}`);
    }
    expect(wrong).toEqual([]);
    expect(await snapshotData(t.query)).toBe(before);
    reportFigure('abuse: pages without a session', { routes: routes.length, 'not sent to sign-in': wrong.length });
  });

  it("answers 404 to an admin on every page and form of a site not theirs, or of their site with the other site's ids", async () => {
    const ann = await signIn(t, 'ann@example.com');
    // Not vacuous: Ann opens her own pages (the site list sends her straight to her only site).
    for (const route of routes.filter((candidate) => candidate.method === 'GET')) {
      const own = await ann.agent.get(fillPath(route.path, mine));
      expect(`${key(route)}: ${own.status}`).toBe(`${key(route)}: ${route.path === '/admin' ? 303 : 200}`);
    }

    const before = await snapshotData(t.query);
    const mixed = { ...mine, levelId: theirs.levelId, memberId: theirs.memberId, eventId: theirs.eventId, grantId: theirs.grantId, productId: theirs.productId, key: theirs.key, endpointId: theirs.endpointId, messageId: theirs.messageId };
    const leaks: string[] = [];
    let requests = 0;
    for (const route of routes.filter((candidate) => candidate.path.includes(':siteId'))) {
      const attempts: [string, SiteIds][] = [['their site', theirs]];
      if (hasSubIds(route)) attempts.push(['my site, their ids', mixed]);
      for (const [label, ids] of attempts) {
        requests++;
        const path = fillPath(route.path, ids);
        const response = route.method === 'GET' ? await ann.agent.get(path) : await ann.agent.post(path).type('form').send({ ...form(route, theirs), _csrf: ann.csrf });
        if (response.status !== 404) leaks.push(`${key(route)} (${label}): ${response.status}`);
        if (response.text.includes('Theirs')) leaks.push(`${key(route)} (${label}) names the other site`);
      }
    }
    expect(leaks).toEqual([]);
    expect(await snapshotData(t.query)).toBe(before);
    reportFigure('abuse: pages across sites', { 'site routes': routes.filter((route) => route.path.includes(':siteId')).length, requests, 'reached the other site': leaks.length });
  });

  it('refuses every state-changing form without the session CSRF token (missing, wrong, or another session) and changes nothing', async () => {
    const ann = await signIn(t, 'ann@example.com');
    const bob = await signIn(t, 'bob@example.com');
    const posts = routes.filter((route) => route.method === 'POST');
    const before = await snapshotData(t.query);
    const accepted: string[] = [];
    for (const route of posts) {
      const path = fillPath(route.path, mine);
      for (const [label, csrf] of [['missing', undefined], ['wrong', `${ann.csrf.slice(0, -2)}xx`], ["another admin's", bob.csrf], ['empty', '']] as const) {
        const body = csrf === undefined ? form(route, mine) : { ...form(route, mine), _csrf: csrf };
        const response = await ann.agent.post(path).type('form').send(body);
        if (response.status !== 403) accepted.push(`${key(route)} (${label} token): ${response.status}`);
      }
      // A cross-site form post arrives as JSON or multipart just as well; the token is still required.
      const asJson = await ann.agent.post(path).set('Content-Type', 'application/json').send(JSON.stringify(form(route, mine)));
      if (asJson.status !== 403) accepted.push(`${key(route)} (JSON body): ${asJson.status}`);
    }
    // Signing out is a form too; without the token the session stays.
    await ann.agent.post('/admin/sign-out').type('form').send({}).expect(403);
    await ann.agent.get(fillPath('/admin/sites/:siteId', mine)).expect(200);
    // The sign-in form has its own token, tied to a cookie.
    await request(t.app).post('/admin/sign-in').type('form').send({ email: 'ann@example.com', password: 'whatever it is' }).expect(403);
    const signInPage = await request(t.app).get('/admin/sign-in').expect(200);
    await request(t.app).post('/admin/sign-in').type('form').send({ _csrf: csrfFrom(signInPage.text), email: 'ann@example.com', password: 'whatever it is' }).expect(403);

    expect(accepted).toEqual([]);
    expect(await snapshotData(t.query)).toBe(before);
    // Not vacuous: the same form with the session's token goes through.
    await ann.agent.post(fillPath('/admin/sites/:siteId/levels', mine)).type('form').send({ name: 'Gold', _csrf: ann.csrf }).expect(303);
    expect(await snapshotData(t.query)).not.toBe(before);
    reportFigure('abuse: CSRF', { forms: posts.length, 'bad tokens tried per form': 5, accepted: accepted.length });
  });
});
