import { buildMapping, buildSite, memberLevels, postOutbound, type SiteWithHook } from '../support/factories';
import { outboundFixture } from '../support/kartra-fixtures';
import { injectInsertFault } from '../support/raw-sql';
import { buildTestApp, type TestApp } from '../support/test-app';

const DANA_BUY = '02-buy_product.one-time.dana.json';
const SAM_BUY = '11-buy_product.one-time.sam.json';
const DANA_STUDIO = '05-buy_product.subscription-first-payment.dana.json';

/** Raw-body retention against re-applying: pruning never turns a real outcome into "invalid" or loses a failed event. */
describe('raw-body retention and re-apply', () => {
  let t: TestApp;
  let site: SiteWithHook;

  beforeEach(async () => {
    t = await buildTestApp();
    site = await buildSite(t);
  });
  afterEach(() => t.close());

  function rawBodyLength(eventId: number): Promise<number> {
    return t.scalar('select length(raw_body) as n from webhook_events where id = ?', [eventId]);
  }

  it('prunes old bodies but keeps a failed event whole until it is re-applied', async () => {
    await buildMapping(t, site, '558475', ['Foundations']);
    const applied = await postOutbound(t, site.hookPath, outboundFixture(DANA_BUY)).expect(200);
    const removeFault = await injectInsertFault(t, { table: 'payment_facts', message: 'disk on fire' });
    const failed = await postOutbound(t, site.hookPath, outboundFixture(SAM_BUY)).expect(200);
    await removeFault();
    expect(failed.body.outcome).toBe('failed');

    t.clock.advanceDays(91);
    expect((await t.composed.retention.pruneRawBodies()).bodiesPruned).toBe(1);
    expect(await rawBodyLength(applied.body.eventId)).toBe(0);
    expect(await rawBodyLength(failed.body.eventId)).toBeGreaterThan(0);

    // The pruned event keeps its outcome and effects and refuses a re-apply that would read an empty body.
    const detail = await t.api.get(`/sites/${site.siteId}/events/${applied.body.eventId}`).expect(200);
    expect(detail.body).toMatchObject({ status: 'applied', rawBody: null, rawBodyNote: expect.stringMatching(/pruned/) });
    const refused = await t.api.post(`/sites/${site.siteId}/events/${applied.body.eventId}/reapply`).expect(409);
    expect(refused.body.error.message).toMatch(/pruned by retention/);
    expect((await t.api.get(`/sites/${site.siteId}/events/${applied.body.eventId}`).expect(200)).body.status).toBe('applied');

    // The failed one still re-applies from its body.
    const bulk = await t.api.post(`/sites/${site.siteId}/events/reapply`, { statuses: ['failed', 'unmapped'], since: '2000-01-01T00:00:00Z' }).expect(200);
    expect(bulk.body).toEqual({ eventCount: 1, outcomes: { applied: 1 } });
    expect(await memberLevels(t, site, 'sam.okafor@example.net')).toEqual(['Foundations']);
    expect(await memberLevels(t, site, 'dana.whitfield@example.com')).toEqual(['Foundations']);
  });

  it('maps a product whose unmapped events were pruned from the purchases on record, leaving their outcomes readable', async () => {
    const unmapped = await postOutbound(t, site.hookPath, outboundFixture(DANA_STUDIO)).expect(200);
    expect(unmapped.body.outcome).toBe('unmapped');
    t.clock.advanceDays(91);
    expect((await t.composed.retention.pruneRawBodies()).bodiesPruned).toBe(1);

    const mapped = await buildMapping(t, site, '612001', ['Studio Members'], true);
    expect(mapped.body.applied).toMatchObject({ eventCount: 0, membersReconciled: 1 });
    expect(await memberLevels(t, site, 'dana.whitfield@example.com')).toEqual(['Studio Members']);
    const detail = await t.api.get(`/sites/${site.siteId}/events/${unmapped.body.eventId}`).expect(200);
    expect(detail.body.status).toBe('unmapped');
  });
});
