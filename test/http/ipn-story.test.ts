import request from 'supertest';
import { parseKartraTime } from '../../src/domain/kartra/kartra-time';
import { buildStorySite, memberLevels, postIpn, postOutbound, type SiteWithHook } from '../support/factories';
import { ipnFixtureBody, ipnFixtureFields, listFixtures, outboundFixture } from '../support/kartra-fixtures';
import { buildTestApp, type TestApp } from '../support/test-app';

const DANA = 'dana.whitfield@example.com';
const SAM = 'sam.okafor@example.net';

/** Moves the test clock to just after the Kartra time of a fixture, as if it were arriving live. */
function arriveAt(t: TestApp, kartraTime: string): void {
  const instant = parseKartraTime(kartraTime, 'America/New_York');
  if (!instant) throw new Error(`bad fixture time ${kartraTime}`);
  t.clock.set(new Date(instant.getTime() + 30_000).toISOString());
}

function fixtureTime(name: string): string {
  return ipnFixtureFields(name).find(([key]) => key === 'transaction_date')?.[1] ?? '';
}

function postIpnLive(t: TestApp, site: SiteWithHook, name: string, overrides: Record<string, string> = {}) {
  arriveAt(t, overrides.transaction_date ?? fixtureTime(name));
  return postIpn(t, site.hookPath, ipnFixtureBody(name, overrides));
}

async function memberDetail(t: TestApp, site: SiteWithHook, email: string) {
  const found = await t.api.get(`/sites/${site.siteId}/members?email=${encodeURIComponent(email)}`).expect(200);
  return (await t.api.get(`/sites/${site.siteId}/members/${found.body.members[0].id}`).expect(200)).body;
}

describe("Dana's and Sam's IPN stories", () => {
  let t: TestApp;
  let site: SiteWithHook;

  beforeEach(async () => {
    t = await buildTestApp();
    site = await buildStorySite(t);
  });
  afterEach(() => t.close());

  it('ends right at every step: rebills confirm, a failed payment keeps access in grace, the cancellation revokes', async () => {
    const steps: [string, string, string[], string[]][] = [
      ['01-sale.one-time.dana.txt', 'applied', ['Foundations'], []],
      ['02-partial_refund.one-time.dana.txt', 'applied', ['Foundations'], []],
      ['03-sale.subscription-first-payment.dana.txt', 'applied', ['Foundations', 'Studio Members'], []],
      ['04-rebill.payment-2.dana.txt', 'applied', ['Foundations', 'Studio Members'], []],
      ['05-rebill.payment-3.dana.txt', 'applied', ['Foundations', 'Studio Members'], []],
      ['06-failed.rebill-payment-4.dana.txt', 'applied', ['Foundations', 'Studio Members'], []],
      ['07-cancellation.dana.txt', 'applied', ['Foundations'], []],
      ['08-sale.one-time.sam.txt', 'applied', ['Foundations'], ['Foundations']],
      ['09-refund.one-time.sam.txt', 'applied', ['Foundations'], []],
    ];
    expect(listFixtures('ipn')).toEqual(steps.map(([name]) => name));
    for (const [name, outcome, dana, sam] of steps) {
      const response = await postIpnLive(t, site, name).expect(200);
      expect({ name, outcome: response.body.outcome }).toEqual({ name, outcome });
      expect({ name, dana: await memberLevels(t, site, DANA), sam: await memberLevels(t, site, SAM) }).toEqual({ name, dana, sam });
      if (name.startsWith('06-')) {
        const attention = await t.api.get(`/sites/${site.siteId}/attention`).expect(200);
        expect(attention.body.pastDue).toEqual([
          expect.objectContaining({ email: DANA, productId: '612001', subscriptionId: '77310', graceEndsAt: '2025-06-20T18:06:03.000Z' }),
        ]);
      }
    }
    const dana = await memberDetail(t, site, DANA);
    const studio = dana.grants.find((grant: { levelName: string }) => grant.levelName === 'Studio Members');
    expect(studio.history.map((entry: { change: string }) => entry.change)).toEqual(['granted', 'confirmed', 'confirmed', 'expires', 'revoked']);
    expect(studio.revokedReason).toBe('subscription cancelled');
    expect(dana.grants).toHaveLength(2);
    const attention = await t.api.get(`/sites/${site.siteId}/attention`).expect(200);
    expect(attention.body.pastDue).toEqual([]);
  });

  it('keeps access in grace after a failed payment; later failures do not extend it; a rebill ends it', async () => {
    await postIpnLive(t, site, '03-sale.subscription-first-payment.dana.txt').expect(200);
    await postIpnLive(t, site, '06-failed.rebill-payment-4.dana.txt').expect(200);
    await postIpnLive(t, site, '06-failed.rebill-payment-4.dana.txt', { transaction_id: '9161111', transaction_date: '2025-06-13 14:06:03' }).expect(200);
    const detail = await memberDetail(t, site, DANA);
    expect(detail.grants[0].expiresAt).toBe('2025-06-20T18:06:03.000Z');
    expect(detail.levels).toEqual([{ id: site.levels['Studio Members'], name: 'Studio Members', accessEndsAt: '2025-06-20T18:06:03.000Z' }]);
    await postIpnLive(t, site, '04-rebill.payment-2.dana.txt', { transaction_id: '9162222', transaction_date: '2025-06-16 09:00:00', transaction_subscription_pay_number: '4' }).expect(200);
    const after = await memberDetail(t, site, DANA);
    expect(after.grants[0]).toMatchObject({ status: 'active', expiresAt: null });
    t.clock.advanceDays(30);
    expect(await memberLevels(t, site, DANA)).toEqual(['Studio Members']);
  });

  it('revokes when the grace runs out without a rebill, with the reason in the history', async () => {
    await postIpnLive(t, site, '03-sale.subscription-first-payment.dana.txt').expect(200);
    await postIpnLive(t, site, '06-failed.rebill-payment-4.dana.txt').expect(200);
    t.clock.advanceDays(9);
    expect(await memberLevels(t, site, DANA)).toEqual(['Studio Members']);
    t.clock.advanceDays(2);
    // Effective access follows the clock even before the sweep has written anything.
    expect(await memberLevels(t, site, DANA)).toEqual([]);
    expect(await t.composed.services.access.sweepExpired()).toBe(1);
    expect(await t.composed.services.access.sweepExpired()).toBe(0);
    const studio = (await memberDetail(t, site, DANA)).grants[0];
    expect(studio.status).toBe('revoked');
    expect(studio.history.at(-1)).toMatchObject({ change: 'revoked', actor: 'system', reason: expect.stringMatching(/10-day grace ran out/) });
  });

  it('in period_end mode keeps a cancelled subscription until the paid period ends', async () => {
    await t.api.put(`/sites/${site.siteId}/kartra`, { cancelMode: 'period_end' }).expect(200);
    await postIpnLive(t, site, '03-sale.subscription-first-payment.dana.txt').expect(200);
    await postIpnLive(t, site, '04-rebill.payment-2.dana.txt').expect(200);
    await postIpnLive(t, site, '07-cancellation.dana.txt', { transaction_date: '2025-04-20 10:00:00' }).expect(200);
    const cancelled = (await memberDetail(t, site, DANA)).grants[0];
    // Paid on 2025-04-10 14:05:11 EDT; the period is the subscription's own, measured between its two payments
    // (2025-03-10 14:03:40 to 2025-04-10 14:05:11: 31 days and 91 seconds).
    expect(cancelled).toMatchObject({ status: 'active', expiresAt: '2025-05-11T18:06:42.000Z' });
    expect(await memberLevels(t, site, DANA)).toEqual(['Studio Members']);
    t.clock.set('2025-05-11T18:06:43.000Z');
    expect(await memberLevels(t, site, DANA)).toEqual([]);
    await t.composed.services.access.sweepExpired();
    const ended = (await memberDetail(t, site, DANA)).grants[0];
    expect(ended).toMatchObject({ status: 'revoked', revokedReason: 'subscription cancelled; the paid period has ended' });
  });

  it('uses the billing period of the mapping when the subscription has only one payment', async () => {
    await t.api.post(`/sites/${site.siteId}/mappings`, { productId: '612001', levelIds: [site.levels['Studio Members']], billingPeriodDays: 7 }).expect(201);
    await t.api.put(`/sites/${site.siteId}/kartra`, { cancelMode: 'period_end' }).expect(200);
    await postIpnLive(t, site, '03-sale.subscription-first-payment.dana.txt').expect(200);
    await postIpnLive(t, site, '07-cancellation.dana.txt', { transaction_date: '2025-03-12 10:00:00' }).expect(200);
    expect((await memberDetail(t, site, DANA)).grants[0].expiresAt).toBe('2025-03-17T18:03:40.000Z');
  });

  it('revokes the charged-back purchase and lists the chargeback as needing attention', async () => {
    await postIpnLive(t, site, '08-sale.one-time.sam.txt').expect(200);
    const chargeback = await postIpnLive(t, site, '09-refund.one-time.sam.txt', { transaction_type: 'chargeback', transaction_id: '9137777', transaction_date: '2025-04-02 08:00:00' }).expect(200);
    expect(chargeback.body.outcome).toBe('applied');
    expect(await memberLevels(t, site, SAM)).toEqual([]);
    const attention = await t.api.get(`/sites/${site.siteId}/attention`).expect(200);
    expect(attention.body.chargebacks).toEqual([expect.objectContaining({ email: SAM, chargedBackOrderId: '9133410', transactionId: '9137777' })]);
    expect((await memberDetail(t, site, SAM)).grants[0].revokedReason).toBe('chargeback on order 9133410');
    expect(attention.body).toMatchObject({ chargebackWindowDays: 30, total: 1 });

    // A month later the chargeback is no longer something to act on: off the list and the badge, still in the
    // member's history.
    t.clock.advanceDays(31);
    const later = await t.api.get(`/sites/${site.siteId}/attention`).expect(200);
    // What remains is the feed gone quiet for a month.
    expect(later.body).toMatchObject({ chargebacks: [], total: 1, quietFeed: { quiet: true } });
    expect((await memberDetail(t, site, SAM)).grants[0].revokedReason).toBe('chargeback on order 9133410');
  });

  it('accepts multipart IPN posts as the same event', async () => {
    const boundary = '----kartra7MA4YWxkTrZu0gW';
    const parts = ipnFixtureFields('08-sale.one-time.sam.txt').map(([key, value]) => `--${boundary}\r\nContent-Disposition: form-data; name="${key}"\r\n\r\n${value}\r\n`);
    const body = `${parts.join('')}--${boundary}--\r\n`;
    arriveAt(t, fixtureTime('08-sale.one-time.sam.txt'));
    const response = await postIpn(t, site.hookPath, body, `multipart/form-data; boundary=${boundary}`).expect(200);
    expect(response.body.outcome).toBe('applied');
    expect(await memberLevels(t, site, SAM)).toEqual(['Foundations']);
  });

  describe('IPN secret', () => {
    beforeEach(async () => {
      await t.api.put(`/sites/${site.siteId}/kartra`, { ipnSecret: 'wc-ipn-3f9a71c2' }).expect(200);
    });

    it('rejects a post whose secret_key is wrong or missing: stored, 403, nothing changes', async () => {
      const wrong = await postIpnLive(t, site, '08-sale.one-time.sam.txt', { secret_key: 'guess' }).expect(403);
      expect(wrong.body.error.code).toBe('rejected');
      const fields = ipnFixtureFields('08-sale.one-time.sam.txt').filter(([key]) => key !== 'secret_key');
      await postIpn(t, site.hookPath, new URLSearchParams(fields).toString()).expect(403);
      expect(await memberLevels(t, site, SAM)).toEqual([]);
      const log = await t.api.get(`/sites/${site.siteId}/events?status=rejected`).expect(200);
      expect(log.body.events).toHaveLength(2);
      await postIpnLive(t, site, '08-sale.one-time.sam.txt').expect(200);
      expect(await memberLevels(t, site, SAM)).toEqual(['Foundations']);
      const attention = await t.api.get(`/sites/${site.siteId}/attention`).expect(200);
      expect(attention.body.rejectedEvents.count).toBe(2);
    });

    it('never shows the secret in the API', async () => {
      const accepted = await postIpnLive(t, site, '08-sale.one-time.sam.txt').expect(200);
      const detail = await t.api.get(`/sites/${site.siteId}/events/${accepted.body.eventId}`).expect(200);
      const integration = await t.api.get(`/sites/${site.siteId}/kartra`).expect(200);
      expect(JSON.stringify(detail.body)).not.toContain('wc-ipn-3f9a71c2');
      expect(detail.body.rawBody).toContain('secret_key=[redacted]');
      expect(JSON.stringify(integration.body)).not.toContain('wc-ipn-3f9a71c2');
      expect(integration.body.ipnSecretSet).toBe(true);
    });

    it('does not apply the IPN secret to outbound JSON, which carries none', async () => {
      await postOutbound(t, site.hookPath, outboundFixture('11-buy_product.one-time.sam.json')).expect(200);
      expect(await memberLevels(t, site, SAM)).toEqual(['Foundations']);
    });
  });
});

describe('both channels at once', () => {
  let t: TestApp;
  afterEach(() => t.close());

  const pairs: [string | null, string][] = [
    ['02-buy_product.one-time.dana.json', '01-sale.one-time.dana.txt'],
    ['04-partial_refund_product.dana.json', '02-partial_refund.one-time.dana.txt'],
    ['05-buy_product.subscription-first-payment.dana.json', '03-sale.subscription-first-payment.dana.txt'],
    [null, '04-rebill.payment-2.dana.txt'],
    [null, '05-rebill.payment-3.dana.txt'],
    [null, '06-failed.rebill-payment-4.dana.txt'],
    ['08-cancel_subscription.dana.json', '07-cancellation.dana.txt'],
    ['11-buy_product.one-time.sam.json', '08-sale.one-time.sam.txt'],
    ['12-refund_product.sam.json', '09-refund.one-time.sam.txt'],
  ];

  async function runStory(order: 'outbound-first' | 'ipn-first' | 'ipn-only') {
    t = await buildTestApp();
    const site = await buildStorySite(t);
    const outcomes: string[] = [];
    for (const [outbound, ipn] of pairs) {
      if (ipn) arriveAt(t, fixtureTime(ipn));
      const sendOutbound = async () => {
        if (outbound && order !== 'ipn-only') outcomes.push((await postOutbound(t, site.hookPath, outboundFixture(outbound)).expect(200)).body.outcome);
      };
      const sendIpn = async () => {
        if (ipn) outcomes.push((await postIpn(t, site.hookPath, ipnFixtureBody(ipn)).expect(200)).body.outcome);
      };
      if (order === 'ipn-first') {
        await sendIpn();
        await sendOutbound();
      } else {
        await sendOutbound();
        await sendIpn();
      }
    }
    const grants = await request(t.app).get(`/api/v1/sites/${site.siteId}/members`).set('Authorization', `Bearer ${t.token}`).expect(200);
    const state = grants.body.members.map((member: { email: string; levels: { name: string }[] }) => [member.email, member.levels.map((level) => level.name).sort()]);
    const applied = await t.api.get(`/sites/${site.siteId}/events?status=applied&limit=200`).expect(200);
    return { state: Object.fromEntries(state), outcomes, appliedCount: applied.body.events.length };
  }

  it('gives the same end state as one channel, with each transaction applied once, whichever arrives first', async () => {
    const ipnOnly = await runStory('ipn-only');
    await t.close();
    const outboundFirst = await runStory('outbound-first');
    await t.close();
    const ipnFirst = await runStory('ipn-first');
    expect(ipnOnly.state).toEqual({ [DANA]: ['Foundations'], [SAM]: [] });
    expect(outboundFirst.state).toEqual(ipnOnly.state);
    expect(ipnFirst.state).toEqual(ipnOnly.state);
    // Six transactions reach us twice; the second copy of each is a duplicate.
    expect(outboundFirst.outcomes.filter((outcome) => outcome === 'duplicate')).toHaveLength(6);
    expect(ipnFirst.outcomes.filter((outcome) => outcome === 'duplicate')).toHaveLength(6);
    expect(outboundFirst.appliedCount).toBe(ipnOnly.appliedCount);
  });
});
