import { adminApiDocument } from '../../src/http/admin/openapi';
import { buildMapping, buildSite, postOutbound, type SiteWithHook } from '../support/factories';
import { outboundFixture } from '../support/kartra-fixtures';
import { buildTestApp, type TestApp } from '../support/test-app';

const BUYERS = 7;

/** A purchase by a buyer of their own: each one becomes a member. */
function purchaseBy(buyer: number): Record<string, unknown> {
  const body = structuredClone(outboundFixture('02-buy_product.one-time.dana.json')) as {
    lead: Record<string, unknown>;
    action_details: { transaction_details: Record<string, unknown> };
  };
  const leadId = String(70000 + buyer);
  const email = `buyer-${buyer}@example.com`;
  Object.assign(body.lead, { id: leadId, email, first_name: `Buyer ${buyer}` });
  Object.assign(body.action_details.transaction_details, { lead_id: leadId, lead_email: email, lead_username: email, transaction_id: String(9500000 + buyer) });
  return body as unknown as Record<string, unknown>;
}

interface MemberPage {
  members: { id: number; email: string }[];
  nextCursor: string | null;
  nextAfter: number | null;
}

describe('one paging convention for the lists of the admin API: limit, cursor and nextCursor', () => {
  let t: TestApp;
  let site: SiteWithHook;
  let allIds: number[];

  beforeAll(async () => {
    t = await buildTestApp();
    site = await buildSite(t);
    await buildMapping(t, site, '558475', ['Foundations']);
    for (let buyer = 1; buyer <= BUYERS; buyer += 1) await postOutbound(t, site.hookPath, purchaseBy(buyer)).expect(200);
    allIds = ((await t.api.get(`/sites/${site.siteId}/members?limit=200`).expect(200)).body as MemberPage).members.map((member) => member.id);
  });
  afterAll(() => t.close());

  it('pages through every member with cursor, oldest first, with no duplicates or gaps, and says when it is done', async () => {
    expect(allIds).toHaveLength(BUYERS);
    for (const limit of [1, 2, 3, BUYERS, BUYERS + 1]) {
      const seen: number[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const query: string = cursor === null ? `limit=${limit}` : `limit=${limit}&cursor=${encodeURIComponent(cursor)}`;
        const page = (await t.api.get(`/sites/${site.siteId}/members?${query}`).expect(200)).body as MemberPage;
        expect(page.members.length).toBeLessThanOrEqual(limit);
        expect(page.members.length).toBeGreaterThan(0);
        seen.push(...page.members.map((member) => member.id));
        cursor = page.nextCursor;
        pages += 1;
      } while (cursor !== null && pages <= BUYERS + 1);
      expect({ limit, seen }).toEqual({ limit, seen: allIds });
      // The last page is the last: no trailing empty page when the count divides by the limit.
      expect({ limit, pages }).toEqual({ limit, pages: Math.ceil(BUYERS / limit) });
    }
  });

  it('keeps the filters while paging: a search pages within its own matches', async () => {
    const first = (await t.api.get(`/sites/${site.siteId}/members?q=buyer-&limit=4`).expect(200)).body as MemberPage;
    const second = (await t.api.get(`/sites/${site.siteId}/members?q=buyer-&limit=4&cursor=${first.nextCursor}`).expect(200)).body as MemberPage;
    expect([...first.members, ...second.members].map((member) => member.email)).toEqual(Array.from({ length: BUYERS }, (_, index) => `buyer-${index + 1}@example.com`));
    expect(second.nextCursor).toBeNull();
  });

  it('still takes the deprecated after and answers nextAfter, in step with the cursor', async () => {
    const seen: number[] = [];
    let after: number | null = null;
    do {
      const page = (await t.api.get(`/sites/${site.siteId}/members?limit=3${after === null ? '' : `&after=${after}`}`).expect(200)).body as MemberPage;
      seen.push(...page.members.map((member) => member.id));
      expect(page.nextAfter === null).toBe(page.nextCursor === null);
      after = page.nextAfter;
    } while (after !== null && seen.length <= BUYERS);
    expect(seen).toEqual(allIds);
  });

  it('refuses a cursor it did not give, edited, from another list or garbage, with a 422 naming the cursor', async () => {
    const page = (await t.api.get(`/sites/${site.siteId}/members?limit=2`).expect(200)).body as MemberPage;
    const eventCursor = (await t.api.get(`/sites/${site.siteId}/events?limit=1`).expect(200)).body.nextCursor as string;
    const edited = Buffer.from(`m:${allIds[1]}x`).toString('base64url');
    for (const cursor of [edited, `${page.nextCursor}!`, eventCursor, 'not a cursor', Buffer.from('m:-1').toString('base64url')]) {
      const refused = await t.api.get(`/sites/${site.siteId}/members?cursor=${encodeURIComponent(cursor)}`).expect(422);
      expect({ cursor, body: refused.body }).toEqual({
        cursor,
        body: { error: { code: 'invalid_input', message: 'invalid cursor', details: { issues: [{ path: 'cursor', message: expect.stringContaining('nextCursor') }] } } },
      });
    }
    const eventRefusal = await t.api.get(`/sites/${site.siteId}/events?cursor=${encodeURIComponent(page.nextCursor ?? '')}`).expect(422);
    expect(eventRefusal.body.error.details.issues).toEqual([{ path: 'cursor', message: expect.stringContaining('nextCursor') }]);
  });

  it('documents cursor and nextCursor on every list that pages, and after and nextAfter as deprecated', () => {
    const schemas = adminApiDocument.components.schemas as Record<string, { properties: Record<string, { deprecated?: boolean }> }>;
    for (const [path, page] of [
      ['/api/v1/sites/{siteId}/members', 'MemberPage'],
      ['/api/v1/sites/{siteId}/events', 'EventPage'],
    ] as const) {
      const parameters = adminApiDocument.paths[path]?.get?.parameters ?? [];
      expect(parameters.filter((parameter) => ['limit', 'cursor'].includes(parameter.name)).map((parameter) => parameter.name)).toEqual(['limit', 'cursor']);
      expect(Object.keys(schemas[page]?.properties ?? {})).toContain('nextCursor');
      expect(schemas[page]?.properties.nextCursor?.deprecated).toBeUndefined();
    }
    const after = adminApiDocument.paths['/api/v1/sites/{siteId}/members']?.get?.parameters?.find((parameter) => parameter.name === 'after');
    expect(after).toMatchObject({ in: 'query', deprecated: true });
    expect(schemas.MemberPage?.properties.nextAfter).toMatchObject({ deprecated: true });
  });
});
