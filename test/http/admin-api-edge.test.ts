import request from 'supertest';
import { buildMapping, buildSite, postOutbound, type SiteWithHook } from '../support/factories';
import { outboundFixture } from '../support/kartra-fixtures';
import { buildTestApp, type TestApp } from '../support/test-app';

describe('the admin API at its edge: caching and the order of token and body checks', () => {
  let t: TestApp;
  let site: SiteWithHook;
  let memberId: number;

  beforeAll(async () => {
    t = await buildTestApp();
    site = await buildSite(t);
    await buildMapping(t, site, '558475', ['Foundations']);
    await postOutbound(t, site.hookPath, outboundFixture('02-buy_product.one-time.dana.json')).expect(200);
    memberId = (await t.api.get(`/sites/${site.siteId}/members`).expect(200)).body.members[0].id as number;
  });
  afterAll(() => t.close());

  it('marks answers with member data, the integration and the one-time webhook URL Cache-Control: no-store', async () => {
    const answers: [string, request.Response][] = [
      ['member', await t.api.get(`/sites/${site.siteId}/members/${memberId}`).expect(200)],
      ['member search', await t.api.get(`/sites/${site.siteId}/members`).expect(200)],
      ['integration', await t.api.get(`/sites/${site.siteId}/kartra`).expect(200)],
      ['rotated webhook URL', await t.api.post(`/sites/${site.siteId}/kartra/rotate`).expect(200)],
      ['event log', await t.api.get(`/sites/${site.siteId}/events`).expect(200)],
    ];
    expect(answers[3]?.[1].body.webhookUrl).toMatch(/\/hooks\/kartra\//);
    expect(answers.map(([label, answer]) => `${label}: ${answer.headers['cache-control']}`)).toEqual(answers.map(([label]) => `${label}: no-store`));
  });

  it('marks refusals no-store too (401, 404, 422), while the public OpenAPI document may be cached', async () => {
    const refusals = [
      await request(t.app).get(`/api/v1/sites/${site.siteId}/members`).expect(401),
      await t.api.get('/sites/999999/members').expect(404),
      await t.api.put(`/sites/${site.siteId}/kartra`, { graceDays: -1 }).expect(422),
      await t.api.get('/no-such-route').expect(404),
    ];
    expect(refusals.map((answer) => answer.headers['cache-control'])).toEqual(['no-store', 'no-store', 'no-store', 'no-store']);
    const document = await request(t.app).get('/api/v1/openapi.json').expect(200);
    expect(document.headers['cache-control']).not.toBe('no-store');
  });

  it.each(['post', 'put', 'patch', 'delete'] as const)('answers 401 before reading the body: a malformed JSON %s without a token', async (method) => {
    const response = await request(t.app)[method](`/api/v1/sites/${site.siteId}/levels`).set('Content-Type', 'application/json').send('{"name": "Gold",');
    expect([response.status, response.body.error?.code]).toEqual([401, 'unauthenticated']);
  });

  it('answers 401, not 413, to a body over the limit sent without a token or with a wrong one', async () => {
    const huge = JSON.stringify({ name: 'x'.repeat(2 * 1024 * 1024) });
    for (const authorization of [undefined, 'Bearer ka_not-a-real-token']) {
      let call = request(t.app).post('/api/v1/sites').set('Content-Type', 'application/json');
      if (authorization) call = call.set('Authorization', authorization);
      const response = await call.send(huge);
      expect([response.status, response.body.error?.code]).toEqual([401, 'unauthenticated']);
    }
    const listed = await t.api.get('/sites').expect(200);
    expect(listed.body.sites).toHaveLength(1);
  });

  it('still reads the body once the token is valid: malformed JSON is 400 and an oversized body 413', async () => {
    const withToken = () => request(t.app).post('/api/v1/sites').set('Authorization', `Bearer ${t.token}`).set('Content-Type', 'application/json');
    const malformed = await withToken().send('{"name": "Gold",').expect(400);
    expect(malformed.body.error.code).toBe('invalid_json');
    const oversized = await withToken().send(JSON.stringify({ name: 'x'.repeat(200 * 1024) })).expect(413);
    expect(oversized.body.error.code).toBe('payload_too_large');
  });
});
