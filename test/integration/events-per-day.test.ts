import { buildSite, postOutbound } from '../support/factories';
import { outboundFixture } from '../support/kartra-fixtures';
import { buildTestApp, type TestApp } from '../support/test-app';
import { createAdmin, signIn } from '../support/admin-pages';

describe('events per day and keyset pages of the webhook log', () => {
  let t: TestApp;
  beforeEach(async () => {
    t = await buildTestApp();
  });
  afterEach(() => t.close());

  it('counts an event on the calendar day of the admin’s time zone, not UTC’s', async () => {
    const site = await buildSite(t);
    // 02:30 UTC on 1 July is still 30 June in New York (UTC-4 in summer).
    t.clock.set('2025-07-01T02:30:00Z');
    await postOutbound(t, site.hookPath, outboundFixture('02-buy_product.one-time.dana.json')).expect(200);
    t.clock.set('2025-07-01T20:00:00Z');
    const siteRecord = await t.composed.services.sites.requireSite(site.siteId, 'all');
    const perDay = (timeZone: string) => t.composed.services.eventLog.perDay(siteRecord, { days: 30, timeZone, now: t.clock.now() });

    const newYork = await perDay('America/New_York');
    expect(newYork).toHaveLength(30);
    expect(newYork[newYork.length - 1]).toEqual({ day: '2025-07-01', counts: {} });
    expect(newYork[newYork.length - 2]).toEqual({ day: '2025-06-30', counts: { unmapped: 1 } });
    const utc = await perDay('UTC');
    expect(utc[utc.length - 1]).toEqual({ day: '2025-07-01', counts: { unmapped: 1 } });
    // Kathmandu is UTC+5:45: the quarter-hour buckets still put the event on the right day.
    const kathmandu = await perDay('Asia/Kathmandu');
    expect(kathmandu.find((day) => day.day === '2025-07-01')?.counts).toEqual({ unmapped: 1 });
  });

  it('pages through the log with an "Older events" link that keeps the filters', async () => {
    const site = await buildSite(t);
    const purchase = outboundFixture('02-buy_product.one-time.dana.json') as { action_details: { transaction_details: Record<string, unknown> } };
    for (let index = 0; index < 55; index += 1) {
      purchase.action_details.transaction_details.transaction_id = String(9200000 + index);
      t.clock.advanceMs(60_000);
      await postOutbound(t, site.hookPath, purchase).expect(200);
    }
    await createAdmin(t, 'ann@example.com', [site.siteId]);
    const { agent } = await signIn(t, 'ann@example.com');
    const first = await agent.get(`/admin/sites/${site.siteId}/events?outcome=unmapped`).expect(200);
    expect(first.text.match(/data-event-id=/g)).toHaveLength(50);
    const older = /href="([^"]+)" rel="next"/.exec(first.text)?.[1]?.replace(/&amp;/g, '&');
    expect(older).toContain('outcome=unmapped');
    const second = await agent.get(older as string).expect(200);
    expect(second.text.match(/data-event-id=/g)).toHaveLength(5);
    expect(second.text).not.toContain('rel="next"');
    expect(second.text).toContain('data-event-id="1"');
  });
});
