import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { buildMapping, buildSite, type SiteWithHook } from '../support/factories';
import { ipnFixtureBody } from '../support/kartra-fixtures';
import { buildTestApp, type TestApp } from '../support/test-app';
import { count, distinctPurchase, FULL, reportFigure } from './support';

async function listen(t: TestApp): Promise<{ server: Server; baseUrl: string }> {
  const server = t.app.listen(0, '127.0.0.1');
  await new Promise((done) => server.once('listening', done));
  return { server, baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

/** All orderings of `items` (Heap's algorithm would do; recursion is clearer and 6! is small). */
function permutations<T>(items: T[]): T[][] {
  if (items.length <= 1) return [items];
  return items.flatMap((item, index) => permutations([...items.slice(0, index), ...items.slice(index + 1)]).map((rest) => [item, ...rest]));
}

describe('identical deliveries sent concurrently', () => {
  const rounds = count(150, 1000);
  const copies = 4;
  let t: TestApp;
  let site: SiteWithHook;
  let server: Server;
  let baseUrl: string;

  beforeAll(async () => {
    t = await buildTestApp({ HOOK_RATE_BURST: '1000000' });
    site = await buildSite(t);
    await buildMapping(t, site, '558475', ['Foundations']);
    ({ server, baseUrl } = await listen(t));
  });
  afterAll(async () => {
    await new Promise((done) => server.close(done));
    await t.close();
  });

  it(`applies each of ${rounds} purchases once when ${copies} copies arrive at the same moment`, async () => {
    const badRounds: string[] = [];
    for (let round = 0; round < rounds; round++) {
      const purchase = distinctPurchase(round);
      const answers = await Promise.all(
        Array.from({ length: copies }, async () => {
          const response = await fetch(`${baseUrl}${site.hookPath}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: purchase.body });
          return ((await response.json()) as { outcome: string }).outcome;
        }),
      );
      const applied = answers.filter((outcome) => outcome === 'applied').length;
      const duplicates = answers.filter((outcome) => outcome === 'duplicate').length;
      if (applied !== 1 || duplicates !== copies - 1) badRounds.push(`${purchase.transactionId}: ${answers.join(',')}`);
    }
    const facts = await t.scalar('select count(*) from payment_facts');
    const grants = await t.scalar('select count(*) from grants');
    reportFigure('concurrent duplicates', { rounds, copies, deliveries: rounds * copies, 'applied twice': badRounds.length });
    expect(badRounds).toEqual([]);
    expect({ facts, grants }).toEqual({ facts: rounds, grants: rounds });
  }, 600_000);
});

type Step = 'purchase' | 'rebill' | 'partial_refund' | 'failed' | 'cancel' | 'refund';
const STEPS: Step[] = ['purchase', 'rebill', 'partial_refund', 'failed', 'cancel', 'refund'];
const TRANSACTION_TYPE: Record<Step, string> = { purchase: 'sale', rebill: 'rebill', partial_refund: 'partial_refund', failed: 'failed', cancel: 'cancellation', refund: 'refund' };

interface Timeline {
  name: string;
  /** Kartra's transaction_date of each step (America/New_York). */
  at: Record<Step, string>;
  /** Which payment the refunds point at. */
  refundsParent: 'purchase' | 'rebill';
  /** Derived by hand from the rules below, by Kartra time; arrival order must not matter. */
  expectedLevels: string[];
}

/*
 * Site policy: cancel at the end of the paid period, 10 days of grace. Now is 2025-07-01 12:00 UTC (FixedClock).
 * - "refund last": the full refund (06-25) comes after the latest payment (rebill 06-01), so access is revoked,
 *   whatever the cancel, failure or partial refund say.
 * - "early refund": the refund (05-03) is older than the latest payment (rebill 06-01), so it no longer revokes; the
 *   cancel (06-21) ends access at the end of the paid period: 06-01 plus the measured period (05-01 to 06-01, 31
 *   days) is 07-02 10:00 EDT, after now, so the level is still held. The failure (06-20) is overtaken by the cancel
 *   and its grace would run to 06-30 anyway; the partial refund changes nothing.
 */
const TIMELINES: Timeline[] = [
  {
    name: 'refund last',
    at: { purchase: '2025-05-01 10:00:00', rebill: '2025-06-01 10:00:00', partial_refund: '2025-06-05 10:00:00', failed: '2025-06-20 10:00:00', cancel: '2025-06-22 10:00:00', refund: '2025-06-25 10:00:00' },
    refundsParent: 'rebill',
    expectedLevels: [],
  },
  {
    name: 'early refund, then paid and cancelled at period end',
    at: { purchase: '2025-05-01 10:00:00', refund: '2025-05-03 10:00:00', partial_refund: '2025-05-04 10:00:00', rebill: '2025-06-01 10:00:00', failed: '2025-06-20 10:00:00', cancel: '2025-06-21 10:00:00' },
    refundsParent: 'purchase',
    expectedLevels: ['Studio Members'],
  },
];

function ipnBody(timeline: Timeline, step: Step, subscriber: number): string {
  const base = 50_000_000 + subscriber * 10;
  const transactionId = (which: Step) => String(base + STEPS.indexOf(which));
  const payNumber: Partial<Record<Step, string>> = { purchase: '1', rebill: '2', failed: '3' };
  const isReversal = step === 'refund' || step === 'partial_refund';
  return ipnFixtureBody('03-sale.subscription-first-payment.dana.txt', {
    transaction_id: transactionId(step),
    transaction_type: TRANSACTION_TYPE[step],
    transaction_date: timeline.at[step],
    transaction_parent_id: isReversal ? transactionId(timeline.refundsParent) : '0',
    transaction_full_amount: step === 'partial_refund' ? '5.00' : '29.00',
    transaction_subscription_id: String(800_000 + subscriber),
    transaction_internal_subscription_id: String(800_000 + subscriber),
    transaction_subscription_pay_number: payNumber[step] ?? 'N/A',
    original_id: transactionId('purchase'),
    lead_id: String(60_000_000 + subscriber),
    lead_email: `subscriber-${subscriber}@example.com`,
    lead_username: `subscriber-${subscriber}@example.com`,
  });
}

describe('a purchase and its follow-ups in every order of arrival', () => {
  const orders = permutations(STEPS);
  // The default suite walks every 8th ordering (90 of 720); RELIABILITY_FULL=1 walks all of them.
  const stride = FULL ? 1 : 8;
  let t: TestApp;
  let site: SiteWithHook;
  let server: Server;
  let baseUrl: string;

  beforeAll(async () => {
    t = await buildTestApp({ HOOK_RATE_BURST: '1000000' });
    site = await buildSite(t);
    await buildMapping(t, site, '612001', ['Studio Members']);
    await t.api.put(`/sites/${site.siteId}/kartra`, { cancelMode: 'period_end', graceDays: 10 }).expect(200);
    ({ server, baseUrl } = await listen(t));
  });
  afterAll(async () => {
    await new Promise((done) => server.close(done));
    await t.close();
  });

  it.each(TIMELINES.map((timeline, index) => [timeline.name, timeline, index] as const))('ends in the state the rules give: %s', async (_name, timeline, timelineIndex) => {
    expect(orders).toHaveLength(720);
    const wrong: string[] = [];
    let tried = 0;
    for (let orderIndex = 0; orderIndex < orders.length; orderIndex += stride) {
      const order = orders[orderIndex] ?? [];
      const subscriber = timelineIndex * 1000 + orderIndex;
      for (const step of order) {
        const response = await fetch(`${baseUrl}${site.hookPath}`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: ipnBody(timeline, step, subscriber) });
        const answer = (await response.json()) as { outcome: string };
        if (response.status !== 200 || answer.outcome !== 'applied') wrong.push(`${order.join('>')}: ${step} answered ${response.status} ${answer.outcome}`);
      }
      const found = await t.api.get(`/sites/${site.siteId}/members?email=subscriber-${subscriber}%40example.com`).expect(200);
      const levels = ((found.body.members[0]?.levels ?? []) as { name: string }[]).map((level) => level.name).sort();
      if (JSON.stringify(levels) !== JSON.stringify(timeline.expectedLevels)) wrong.push(`${order.join('>')}: levels ${JSON.stringify(levels)}`);
      tried++;
    }
    reportFigure(`arrival orders (${timeline.name})`, { orderings: tried, deliveries: tried * STEPS.length, 'wrong end state': wrong.length });
    expect(wrong).toEqual([]);
  }, 600_000);
});
