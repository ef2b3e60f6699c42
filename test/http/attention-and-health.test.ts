import { buildMapping, buildSite, postOutbound } from '../support/factories';
import { outboundFixture } from '../support/kartra-fixtures';
import { buildTestApp, type TestApp } from '../support/test-app';

describe('needs attention and integration health', () => {
  let t: TestApp;
  afterEach(() => t.close());

  it('flags a feed gone quiet only after events used to arrive', async () => {
    t = await buildTestApp();
    const site = await buildSite(t);
    const empty = await t.api.get(`/sites/${site.siteId}/attention`).expect(200);
    expect(empty.body).toMatchObject({ total: 0, quietFeed: { quiet: false, lastEventAt: null, thresholdHours: 72 } });

    await postOutbound(t, site.hookPath, outboundFixture('01-list_subscription.dana.json')).expect(200);
    t.clock.advanceMs(71 * 3600_000);
    expect((await t.api.get(`/sites/${site.siteId}/attention`).expect(200)).body.quietFeed.quiet).toBe(false);
    t.clock.advanceMs(2 * 3600_000);
    const quiet = await t.api.get(`/sites/${site.siteId}/attention`).expect(200);
    expect(quiet.body).toMatchObject({ total: 1, quietFeed: { quiet: true } });

    await t.api.put(`/sites/${site.siteId}/kartra`, { quietFeedHours: 100 }).expect(200);
    expect((await t.api.get(`/sites/${site.siteId}/attention`).expect(200)).body.quietFeed.quiet).toBe(false);
  });

  it('lists unmapped products and failed events, and counts them in the badge total', async () => {
    t = await buildTestApp();
    const site = await buildSite(t);
    await postOutbound(t, site.hookPath, outboundFixture('11-buy_product.one-time.sam.json')).expect(200);
    const attention = await t.api.get(`/sites/${site.siteId}/attention`).expect(200);
    expect(attention.body.unmappedProducts).toEqual([expect.objectContaining({ productId: '558475', buyerCount: 1 })]);
    expect(attention.body.total).toBe(1);
    await buildMapping(t, site, '558475', ['Foundations'], true);
    expect((await t.api.get(`/sites/${site.siteId}/attention`).expect(200)).body.total).toBe(0);
  });

  it('shows the last event overall and per action, and counts by outcome over 24 hours and 7 days', async () => {
    t = await buildTestApp();
    const site = await buildSite(t);
    await buildMapping(t, site, '558475', ['Foundations']);
    await postOutbound(t, site.hookPath, outboundFixture('02-buy_product.one-time.dana.json')).expect(200);
    t.clock.advanceDays(2);
    await postOutbound(t, site.hookPath, outboundFixture('06-assign_tag.dana.json')).expect(200);
    await postOutbound(t, site.hookPath, 'not json', 'text/plain').expect(400);
    const state = await t.api.get(`/sites/${site.siteId}/kartra`).expect(200);
    expect(state.body.health.countsLast24h).toEqual({ invalid: 1, unmapped: 1 });
    expect(state.body.health.countsLast7d).toEqual({ applied: 1, invalid: 1, unmapped: 1 });
    expect(state.body.health.lastByAction.map((entry: { action: string }) => entry.action).sort()).toEqual(['(unparsed)', 'assign_tag', 'buy_product']);
    expect(state.body.lastEventAt).toBe(t.clock.now().toISOString());
  });
});
