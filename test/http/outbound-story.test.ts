import { buildStorySite, memberLevels, postOutbound, type SiteWithHook } from '../support/factories';
import { listFixtures, outboundFixture } from '../support/kartra-fixtures';
import { buildTestApp, type TestApp } from '../support/test-app';

describe("Dana's and Sam's outbound stories", () => {
  let t: TestApp;
  let site: SiteWithHook;

  beforeEach(async () => {
    t = await buildTestApp();
    site = await buildStorySite(t);
  });
  afterEach(() => t.close());

  it('applies every outbound fixture in story order and ends with the access the rules give', async () => {
    const expectedOutcomes: Record<string, string> = {
      '01-list_subscription.dana.json': 'ignored',
      '02-buy_product.one-time.dana.json': 'applied',
      '03-membership_granted.dana.foundations.json': 'unmapped',
      '04-partial_refund_product.dana.json': 'applied',
      '05-buy_product.subscription-first-payment.dana.json': 'applied',
      '06-assign_tag.dana.json': 'unmapped',
      '07-membership_granted.dana.studio.json': 'unmapped',
      '08-cancel_subscription.dana.json': 'applied',
      '09-membership_revoked.dana.studio.json': 'unmapped',
      '10-unassign_tag.dana.json': 'unmapped',
      '11-buy_product.one-time.sam.json': 'applied',
      '12-refund_product.sam.json': 'applied',
    };
    expect(listFixtures('outbound')).toEqual(Object.keys(expectedOutcomes));

    const levelsAfter: Record<string, { dana: string[]; sam: string[] }> = {};
    for (const name of listFixtures('outbound')) {
      const response = await postOutbound(t, site.hookPath, outboundFixture(name)).expect(200);
      expect({ name, outcome: response.body.outcome }).toEqual({ name, outcome: expectedOutcomes[name] });
      levelsAfter[name] = {
        dana: await memberLevels(t, site, 'dana.whitfield@example.com'),
        sam: await memberLevels(t, site, 'sam.okafor@example.net'),
      };
    }

    // Dana keeps Foundations throughout: the partial refund must not revoke it.
    expect(levelsAfter['04-partial_refund_product.dana.json']?.dana).toEqual(['Foundations']);
    expect(levelsAfter['05-buy_product.subscription-first-payment.dana.json']?.dana).toEqual(['Foundations', 'Studio Members']);
    // The cancel revokes the subscription's level only.
    expect(levelsAfter['08-cancel_subscription.dana.json']?.dana).toEqual(['Foundations']);
    expect(levelsAfter['11-buy_product.one-time.sam.json']?.sam).toEqual(['Foundations']);
    expect(levelsAfter['12-refund_product.sam.json']).toEqual({ dana: ['Foundations'], sam: [] });
  });

  it("explains a member's levels with grants and their history", async () => {
    for (const name of ['02-buy_product.one-time.dana.json', '05-buy_product.subscription-first-payment.dana.json', '08-cancel_subscription.dana.json']) {
      await postOutbound(t, site.hookPath, outboundFixture(name)).expect(200);
    }
    const list = await t.api.get(`/sites/${site.siteId}/members?email=dana.whitfield@example.com`).expect(200);
    const detail = await t.api.get(`/sites/${site.siteId}/members/${list.body.members[0].id}`).expect(200);
    expect(detail.body.kartraLeadId).toBe('48213977');
    const studio = detail.body.grants.find((grant: { levelName: string }) => grant.levelName === 'Studio Members');
    expect(studio).toMatchObject({ status: 'revoked', revokedReason: 'subscription cancelled', subscriptionId: '77310', transactionId: '9131507', effective: false });
    expect(studio.history.map((entry: { change: string }) => entry.change)).toEqual(['granted', 'revoked']);
    expect(studio.history[1].eventId).toEqual(expect.any(Number));
    const foundations = detail.body.grants.find((grant: { levelName: string }) => grant.levelName === 'Foundations');
    expect(foundations).toMatchObject({ status: 'active', effective: true, transactionId: '9130021' });
  });

  it('shows in the event log what each event did, newest first, with the raw body and its effects', async () => {
    await postOutbound(t, site.hookPath, outboundFixture('11-buy_product.one-time.sam.json')).expect(200);
    const refund = await postOutbound(t, site.hookPath, outboundFixture('12-refund_product.sam.json')).expect(200);
    const log = await t.api.get(`/sites/${site.siteId}/events`).expect(200);
    expect(log.body.events.map((event: { status: string; kind: string }) => [event.kind, event.status])).toEqual([
      ['refund', 'applied'],
      ['purchase', 'applied'],
    ]);
    const detail = await t.api.get(`/sites/${site.siteId}/events/${refund.body.eventId}`).expect(200);
    expect(JSON.parse(detail.body.rawBody)).toEqual(outboundFixture('12-refund_product.sam.json'));
    expect(detail.body.parsed).toMatchObject({ kind: 'refund', transaction: { transactionId: '9135876', parentTransactionId: '9133410', amountCents: 19700 } });
    expect(detail.body.kartraTimeRaw).toBe('2025-03-19 11:02:15');
    // 2025-03-19 is in daylight saving time in New York (UTC-4).
    expect(detail.body.kartraTimeAt).toBe('2025-03-19T15:02:15.000Z');
    expect(detail.body.effects.grantChanges).toEqual([expect.objectContaining({ change: 'revoked', levelName: 'Foundations', reason: 'full refund of order 9133410' })]);
  });
});
