import { EVENT_COUNT_CAP } from '../../src/domain/attention/attention-service';
import type { EventStatus } from '../../src/domain/model';
import { createAdmin, signIn } from '../support/admin-pages';
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

  /** Stored events with an outcome, as the intake leaves them, written through the repositories in bulk. */
  async function storeEvents(siteId: number, status: EventStatus, count: number): Promise<void> {
    const { repos } = t.composed.database;
    for (let i = 0; i < count; i++) {
      const id = await repos.events.insert({ siteId, receivedAt: t.clock.now(), channel: 'ipn', sourceIp: '203.0.113.7', headers: {}, rawBody: Buffer.from(`seq=${i}`) });
      await repos.events.recordOutcome(siteId, id, { status, action: 'sale', processedAt: t.clock.now() });
    }
  }

  it('counts failed and rejected events up to a cap, and the badge on every page shows the report’s total with a plus', async () => {
    t = await buildTestApp();
    const site = await buildSite(t);
    await storeEvents(site.siteId, 'rejected', EVENT_COUNT_CAP + 5);
    await storeEvents(site.siteId, 'failed', 2);

    const report = (await t.api.get(`/sites/${site.siteId}/attention`).expect(200)).body;
    expect(report.rejectedEvents).toMatchObject({ count: EVENT_COUNT_CAP, countIsLowerBound: true });
    expect(report.rejectedEvents.latest).toHaveLength(50);
    expect(report.failedEvents).toMatchObject({ count: 2, countIsLowerBound: false });
    expect(report).toMatchObject({ total: EVENT_COUNT_CAP + 2, totalIsLowerBound: true });

    await createAdmin(t, 'ann@example.com', [site.siteId]);
    const { agent } = await signIn(t, 'ann@example.com');
    for (const path of ['/kartra', '/mappings', '/events', '/members', '/levels', '/attention']) {
      const page = await agent.get(`/admin/sites/${site.siteId}${path}`).expect(200);
      expect({ path, badge: /data-testid="attention-badge">([^<]+)</.exec(page.text)?.[1] }).toEqual({ path, badge: `${EVENT_COUNT_CAP + 2}+` });
    }
    const attention = await agent.get(`/admin/sites/${site.siteId}/attention`).expect(200);
    expect(attention.text).toContain(`Rejected events (${EVENT_COUNT_CAP}+)`);
    expect(attention.text).toContain('Failed events (2)');
    expect((await agent.get(`/admin/sites/${site.siteId}/events`).expect(200)).text).toContain('2 failed in total');
  });
});
