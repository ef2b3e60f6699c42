import type { EventStatus, Member, Site } from '../../../src/domain/model';
import type { EventOutcomeUpdate, EventQuery, NewPaymentFact, NewWebhookEvent, Repositories } from '../../../src/domain/ports';
import { createTestStorage, testEngine, type TestStorage } from '../../support/storage';

// The ports' contract for the webhook event log, payment facts and raw-body retention, as both adapters must keep
// it: the same test runs on SQLite (bare jest) and on PostgreSQL (TEST_ENGINE=postgres).

const at = (iso: string) => new Date(iso);
const T0 = at('2025-07-01T12:00:00.123Z');
const MINUTE_MS = 60 * 1000;
const later = (ms: number, from: Date = T0) => new Date(from.getTime() + ms);
const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms));

let storage: TestStorage;
let repos: Repositories;
let site: Site;

beforeEach(async () => {
  storage = await createTestStorage();
  repos = storage.repos;
  site = await newSite('acme');
});

afterEach(async () => {
  await storage.close();
});

const newSite = (key: string): Promise<Site> => repos.sites.create({ key, name: `Site ${key}`, createdAt: T0 });

const newEvent = (overrides: Partial<NewWebhookEvent> = {}): NewWebhookEvent => ({
  siteId: site.id,
  receivedAt: T0,
  channel: 'outbound',
  sourceIp: '203.0.113.7',
  headers: { 'content-type': 'application/json' },
  rawBody: Buffer.from('{"action":"buy_product"}'),
  ...overrides,
});

interface Received {
  siteId?: number;
  receivedAt?: Date;
  status?: EventStatus;
  action?: string | null;
  productId?: string | null;
  email?: string | null;
  leadId?: string | null;
  kind?: string | null;
  rawBody?: Buffer;
}

/** An event as the intake leaves it: inserted, then its outcome recorded. */
async function receive(event: Received = {}): Promise<number> {
  const siteId = event.siteId ?? site.id;
  const receivedAt = event.receivedAt ?? T0;
  const id = await repos.events.insert(newEvent({ siteId, receivedAt, ...(event.rawBody ? { rawBody: event.rawBody } : {}) }));
  await repos.events.recordOutcome(siteId, id, {
    status: event.status ?? 'applied',
    action: event.action === undefined ? 'buy_product' : event.action,
    productId: event.productId ?? null,
    email: event.email ?? null,
    leadId: event.leadId ?? null,
    kind: event.kind ?? null,
    processedAt: receivedAt,
  });
  return id;
}

const newMember = (email: string): Promise<Member> =>
  repos.members.create({ siteId: site.id, kartraLeadId: null, email, firstName: null, lastName: null, createdAt: T0, updatedAt: T0 });

const ids = (rows: { id: number }[]) => rows.map((row) => row.id);

describe(`webhook events on ${testEngine}`, () => {
  it('stores an event as received and reads it back with its exact bytes, headers and defaults', async () => {
    // Not valid UTF-8: the body must come back byte for byte.
    const rawBody = Buffer.from([0x7b, 0xff, 0xfe, 0x00, 0x7d]);
    const id = await repos.events.insert(newEvent({ rawBody, headers: { 'x-kartra': 'yes', 'content-type': 'text/plain' } }));

    const event = await repos.events.findById(site.id, id);
    expect(event).toMatchObject({
      id,
      siteId: site.id,
      receivedAt: T0,
      channel: 'outbound',
      sourceIp: '203.0.113.7',
      headers: { 'x-kartra': 'yes', 'content-type': 'text/plain' },
      rawBodyPrunedAt: null,
      status: 'received',
      fingerprint: null,
      duplicateOfEventId: null,
      kind: null,
      action: null,
      memberId: null,
      kartraTimeAt: null,
      parsed: null,
      notes: [],
      summary: null,
      error: null,
      attempts: 1,
      processedAt: null,
    });
    expect(Buffer.isBuffer(event?.rawBody)).toBe(true);
    expect(event?.rawBody.equals(rawBody)).toBe(true);
  });

  it('finds an event only through its own site', async () => {
    const other = await newSite('other');
    const id = await repos.events.insert(newEvent());
    expect(await repos.events.findById(other.id, id)).toBeNull();
    expect(await repos.events.findById(site.id, id + 1000)).toBeNull();
  });

  it('records an outcome, and a later outcome changes only the fields it names', async () => {
    const member = await newMember('dana@example.com');
    const id = await repos.events.insert(newEvent());
    const outcome: EventOutcomeUpdate = {
      status: 'applied',
      channel: 'ipn',
      fingerprint: 'fp-1',
      kind: 'purchase',
      action: 'buy_product',
      productId: 'p-1',
      leadId: 'lead-1',
      email: 'dana@example.com',
      transactionId: 'txn-1',
      memberId: member.id,
      kartraTimeRaw: '2025-07-01 12:00:00',
      kartraTimeAt: T0,
      parsed: { kind: 'purchase', amounts: [1, 2] },
      notes: [{ path: 'lead.email', message: 'lower-cased' }],
      summary: 'Dana bought p-1',
      error: null,
      processedAt: later(1000),
    };
    await repos.events.recordOutcome(site.id, id, outcome);
    await repos.events.recordOutcome(site.id, id, { status: 'failed', error: 'boom', processedAt: later(2000) });
    await repos.events.incrementAttempts(site.id, id);
    await repos.events.incrementAttempts(site.id, id);

    expect(await repos.events.findById(site.id, id)).toMatchObject({
      status: 'failed',
      channel: 'ipn',
      fingerprint: 'fp-1',
      kind: 'purchase',
      productId: 'p-1',
      leadId: 'lead-1',
      email: 'dana@example.com',
      transactionId: 'txn-1',
      memberId: member.id,
      kartraTimeRaw: '2025-07-01 12:00:00',
      kartraTimeAt: T0,
      parsed: { kind: 'purchase', amounts: [1, 2] },
      notes: [{ path: 'lead.email', message: 'lower-cased' }],
      summary: 'Dana bought p-1',
      error: 'boom',
      attempts: 3,
      processedAt: later(2000),
    });
  });

  it('leaves another site’s event alone when an outcome names the wrong site', async () => {
    const other = await newSite('other');
    const id = await repos.events.insert(newEvent());
    await repos.events.recordOutcome(other.id, id, { status: 'failed', processedAt: T0 });
    await repos.events.incrementAttempts(other.id, id);
    expect(await repos.events.findById(site.id, id)).toMatchObject({ status: 'received', attempts: 1, processedAt: null });
  });

  describe('the log', () => {
    it('lists summaries newest first, without the raw body, headers or parsed form', async () => {
      const first = await receive({ email: 'a@example.com', productId: 'p-1', kind: 'purchase' });
      const second = await receive({ status: 'unmapped' });
      const other = await newSite('other');
      await receive({ siteId: other.id });

      const page = await repos.events.list(site.id, { limit: 10 });
      expect(ids(page)).toEqual([second, first]);
      expect(page[1]).toEqual({
        id: first,
        siteId: site.id,
        receivedAt: T0,
        channel: 'outbound',
        status: 'applied',
        kind: 'purchase',
        action: 'buy_product',
        productId: 'p-1',
        assetKey: null,
        leadId: null,
        email: 'a@example.com',
        transactionId: null,
        memberId: null,
        duplicateOfEventId: null,
        summary: null,
        error: null,
        attempts: 1,
      });
    });

    it('filters by status, several statuses, action, product, email and time, alone and together', async () => {
      const e1 = await receive({ status: 'applied', action: 'buy_product', productId: 'p-1', email: 'a@example.com', receivedAt: later(1 * MINUTE_MS) });
      const e2 = await receive({ status: 'unmapped', action: 'buy_product', productId: 'p-2', email: 'b@example.com', receivedAt: later(2 * MINUTE_MS) });
      const e3 = await receive({ status: 'failed', action: 'refund', productId: 'p-1', email: 'a@example.com', receivedAt: later(3 * MINUTE_MS) });
      const e4 = await receive({ status: 'applied', action: null, productId: null, email: null, receivedAt: later(4 * MINUTE_MS) });
      const e5 = await receive({ status: 'duplicate', action: 'refund', productId: 'p-2', email: 'b@example.com', receivedAt: later(5 * MINUTE_MS) });
      const list = async (query: Omit<Parameters<Repositories['events']['list']>[1], 'limit'>, limit = 50) => ids(await repos.events.list(site.id, { ...query, limit }));

      expect(await list({})).toEqual([e5, e4, e3, e2, e1]);
      expect(await list({ statuses: [] })).toEqual([e5, e4, e3, e2, e1]);
      expect(await list({ statuses: ['applied'] })).toEqual([e4, e1]);
      expect(await list({ statuses: ['failed', 'unmapped', 'duplicate'] })).toEqual([e5, e3, e2]);
      expect(await list({ statuses: ['failed', 'unmapped', 'duplicate'] }, 2)).toEqual([e5, e3]);
      expect(await list({ action: 'refund' })).toEqual([e5, e3]);
      expect(await list({ productId: 'p-1' })).toEqual([e3, e1]);
      // The email is matched as stored (trimmed, lower case) whatever the admin typed.
      expect(await list({ email: '  A@Example.COM ' })).toEqual([e3, e1]);
      // Both ends of a time range are inclusive.
      expect(await list({ since: later(2 * MINUTE_MS), until: later(4 * MINUTE_MS) })).toEqual([e4, e3, e2]);
      expect(await list({ since: later(4 * MINUTE_MS) })).toEqual([e5, e4]);
      expect(await list({ until: later(2 * MINUTE_MS) })).toEqual([e2, e1]);
      expect(await list({ statuses: ['applied', 'failed'], productId: 'p-1' })).toEqual([e3, e1]);
      expect(await list({ action: 'buy_product', since: later(2 * MINUTE_MS) })).toEqual([e2]);
      expect(await list({ email: 'b@example.com', statuses: ['duplicate'], until: later(5 * MINUTE_MS) })).toEqual([e5]);
      expect(await list({ productId: 'p-3' })).toEqual([]);
      // An empty filter value asks for nothing.
      expect(await list({ action: '', productId: '', email: '' })).toEqual([e5, e4, e3, e2, e1]);
    });

    it('pages through the log with beforeId, each page newest first, every event once', async () => {
      const all: number[] = [];
      for (let index = 0; index < 23; index += 1) {
        all.push(await receive({ status: index % 3 === 0 ? 'unmapped' : 'applied', receivedAt: later(index * MINUTE_MS) }));
      }
      const walk = async (statuses?: EventStatus[]) => {
        const pages: number[][] = [];
        let beforeId: number | undefined;
        for (;;) {
          const page = ids(await repos.events.list(site.id, { statuses, beforeId, limit: 5 }));
          if (page.length === 0) break;
          pages.push(page);
          beforeId = page[page.length - 1];
        }
        return pages;
      };

      const pages = await walk();
      expect(pages.map((page) => page.length)).toEqual([5, 5, 5, 5, 3]);
      expect(pages.flat()).toEqual([...all].reverse());
      const unmapped = all.filter((_, index) => index % 3 === 0).reverse();
      expect((await walk(['unmapped'])).flat()).toEqual(unmapped);
      expect((await walk(['unmapped', 'applied'])).flat()).toEqual([...all].reverse());
    });
  });

  it('pages through an old time range under hundreds of newer events, and through several statuses, newest first', async () => {
    // Past 200 newer events the PostgreSQL adapter reads a range through its own index instead of walking down from
    // the newest event: the answers must not change with the path.
    const all: { id: number; at: number; status: EventStatus }[] = [];
    for (let index = 0; index < 260; index += 1) {
      const status: EventStatus = index % 4 === 0 ? 'failed' : index % 4 === 1 ? 'unmapped' : 'applied';
      all.push({ id: await receive({ status, receivedAt: later(index * MINUTE_MS) }), at: index, status });
    }
    const since = later(10 * MINUTE_MS);
    const until = later(40 * MINUTE_MS);
    const inRange = all.filter((event) => event.at >= 10 && event.at <= 40).map((event) => event.id).reverse();
    const pageOf = async (filter: Partial<EventQuery>, limit: number) => ids(await repos.events.list(site.id, { ...filter, limit }));
    expect(await pageOf({ since, until }, 50)).toEqual(inRange);
    expect(await pageOf({ since, until }, 7)).toEqual(inRange.slice(0, 7));
    expect(await pageOf({ since, until, beforeId: inRange[6] }, 7)).toEqual(inRange.slice(7, 14));
    expect(await pageOf({ until }, 5)).toEqual(all.filter((event) => event.at <= 40).map((event) => event.id).reverse().slice(0, 5));

    const failedOrUnmapped = all.filter((event) => event.status !== 'applied').map((event) => event.id).reverse();
    expect(await pageOf({ statuses: ['failed', 'unmapped'] }, 30)).toEqual(failedOrUnmapped.slice(0, 30));
    expect(await pageOf({ statuses: ['failed', 'unmapped'], beforeId: failedOrUnmapped[29] }, 30)).toEqual(failedOrUnmapped.slice(30, 60));
    expect(await pageOf({ statuses: ['failed', 'unmapped'], since, until }, 100)).toEqual(
      all.filter((event) => event.status !== 'applied' && event.at >= 10 && event.at <= 40).map((event) => event.id).reverse(),
    );
  });

  it('lists the ids to re-apply in receipt order, leaving out events whose raw body was pruned', async () => {
    const old = await receive({ status: 'unmapped', productId: 'p-1', receivedAt: later(-60 * MINUTE_MS) });
    const e1 = await receive({ status: 'unmapped', productId: 'p-1' });
    const e2 = await receive({ status: 'failed', productId: 'p-2' });
    await receive({ status: 'applied', productId: 'p-1' });
    const pruned = await receive({ status: 'unmapped', productId: 'p-1', receivedAt: later(-120 * MINUTE_MS) });
    // Prune only the oldest one: the retention cut-off sits between it and `old`.
    expect(await repos.retention.pruneRawBodies(site.id, later(-90 * MINUTE_MS), T0, 10)).toBe(1);

    expect(await repos.events.idsForReapply(site.id, { statuses: ['unmapped', 'failed'] })).toEqual([old, e1, e2]);
    expect(await repos.events.idsForReapply(site.id, { statuses: ['unmapped'], productId: 'p-1' })).toEqual([old, e1]);
    expect(await repos.events.idsForReapply(site.id, { statuses: ['unmapped', 'failed'], since: T0 })).toEqual([e1, e2]);
    expect(await repos.events.idsForReapply(site.id, { statuses: ['rejected'] })).toEqual([]);
    expect(await repos.events.idsForReapply(site.id, { statuses: ['unmapped'] })).not.toContain(pruned);
  });

  it('counts events and distinct buyers per product, leaving duplicates out', async () => {
    await receive({ productId: 'p-1', kind: 'purchase', leadId: 'lead-1', email: 'a@example.com' });
    await receive({ productId: 'p-1', kind: 'rebill', leadId: 'lead-1', email: 'a@example.com' });
    await receive({ productId: 'p-1', kind: 'purchase', leadId: null, email: 'b@example.com' });
    await receive({ productId: 'p-1', kind: 'refund', leadId: 'lead-3', email: 'c@example.com' });
    await receive({ productId: 'p-1', kind: 'purchase', leadId: 'lead-4', status: 'duplicate' });
    await receive({ productId: 'p-2', kind: 'refund', leadId: 'lead-1' });
    await receive({ productId: 'p-3', kind: 'purchase', leadId: 'lead-1' });

    const activity = await repos.events.productActivity(site.id, ['p-2', 'p-1', 'p-9'], 100);
    expect([...activity].sort((a, b) => a.productId.localeCompare(b.productId))).toEqual([
      { productId: 'p-1', eventCount: 4, buyerCount: 2, capped: false },
      { productId: 'p-2', eventCount: 1, buyerCount: 0, capped: false },
    ]);
    expect(await repos.events.productActivity(site.id, [], 100)).toEqual([]);
  });

  it('counts the activity of a product over its newest events only, and says when the cap was reached', async () => {
    await receive({ productId: 'p-1', kind: 'purchase', leadId: 'lead-1' });
    await receive({ productId: 'p-1', kind: 'purchase', leadId: 'lead-2' });
    await receive({ productId: 'p-1', kind: 'purchase', leadId: 'lead-3', status: 'duplicate' });
    await receive({ productId: 'p-1', kind: 'purchase', leadId: 'lead-4' });
    await receive({ productId: 'p-1', kind: 'purchase', leadId: 'lead-4' });

    // The newest two that are not duplicates: lead-4 twice, one buyer; the cap was reached.
    expect(await repos.events.productActivity(site.id, ['p-1'], 2)).toEqual([{ productId: 'p-1', eventCount: 2, buyerCount: 1, capped: true }]);
    expect(await repos.events.productActivity(site.id, ['p-1'], 5)).toEqual([{ productId: 'p-1', eventCount: 4, buyerCount: 3, capped: false }]);
  });

  it('counts the events with a status no further than a cap', async () => {
    for (let i = 0; i < 3; i++) await receive({ status: 'failed' });
    await receive({ status: 'rejected' });
    const other = await newSite('other');
    await receive({ siteId: other.id, status: 'failed' });

    expect(await repos.events.countWithStatus(site.id, 'failed', 10)).toBe(3);
    expect(await repos.events.countWithStatus(site.id, 'failed', 2)).toBe(2);
    expect(await repos.events.countWithStatus(site.id, 'rejected', 10)).toBe(1);
    expect(await repos.events.countWithStatus(site.id, 'applied', 10)).toBe(0);
  });

  it('counts the unmapped events of a product that can still be re-applied, and their people', async () => {
    await receive({ status: 'unmapped', productId: 'p-1', leadId: 'lead-1', email: 'a@example.com', receivedAt: later(-60 * MINUTE_MS) });
    await receive({ status: 'unmapped', productId: 'p-1', leadId: 'lead-1', email: 'a@example.com' });
    await receive({ status: 'unmapped', productId: 'p-1', leadId: null, email: 'b@example.com' });
    await receive({ status: 'unmapped', productId: 'p-1', leadId: null, email: null });
    await receive({ status: 'applied', productId: 'p-1', leadId: 'lead-9' });
    await receive({ status: 'unmapped', productId: 'p-2', leadId: 'lead-9' });
    await receive({ status: 'unmapped', productId: 'p-1', leadId: 'lead-old', receivedAt: later(-120 * MINUTE_MS) });
    await repos.retention.pruneRawBodies(site.id, later(-90 * MINUTE_MS), T0, 10);

    const counts = await repos.events.countUnmapped(site.id, { productId: 'p-1' });
    expect(counts).toEqual({ events: 4, people: 2 });
    expect(typeof counts.events).toBe('number');
    expect(await repos.events.countUnmapped(site.id, { productId: 'p-9' })).toEqual({ events: 0, people: 0 });
  });

  it('tells when the last event arrived, overall and per action', async () => {
    expect(await repos.events.lastReceived(site.id)).toBeNull();
    expect(await repos.events.lastReceivedByAction(site.id)).toEqual([]);
    await receive({ action: 'buy_product', receivedAt: later(1 * MINUTE_MS) });
    await receive({ action: null, receivedAt: later(2 * MINUTE_MS) });
    await receive({ action: 'buy_product', receivedAt: later(3 * MINUTE_MS) });
    await receive({ action: 'refund', receivedAt: later(4 * MINUTE_MS) });
    await receive({ action: 'assign_tag', receivedAt: later(5 * MINUTE_MS) });
    await receive({ siteId: (await newSite('other')).id, action: 'zz_other_site', receivedAt: later(6 * MINUTE_MS) });
    // The newest by id, even when a clock went back.
    await receive({ action: null, receivedAt: later(-5 * MINUTE_MS) });

    expect(await repos.events.lastReceived(site.id)).toEqual({ at: later(-5 * MINUTE_MS), action: null });
    const byAction = await repos.events.lastReceivedByAction(site.id);
    expect([...byAction].sort((a, b) => a.action.localeCompare(b.action))).toEqual([
      { action: '(unparsed)', at: later(-5 * MINUTE_MS) },
      { action: 'assign_tag', at: later(5 * MINUTE_MS) },
      { action: 'buy_product', at: later(3 * MINUTE_MS) },
      { action: 'refund', at: later(4 * MINUTE_MS) },
    ]);
  });

  it('counts events per status since a time, and those received at or before one', async () => {
    await receive({ status: 'applied', receivedAt: later(-1) });
    await receive({ status: 'applied', receivedAt: T0 });
    await receive({ status: 'applied', receivedAt: later(1) });
    await receive({ status: 'failed', receivedAt: later(2) });
    const other = await newSite('other');
    await receive({ siteId: other.id, status: 'failed', receivedAt: later(3) });

    expect(await repos.events.countByStatusSince(site.id, T0)).toEqual({ applied: 2, failed: 1 });
    expect(await repos.events.countByStatusSince(site.id, later(10))).toEqual({});
    expect(await repos.events.countReceivedBefore(site.id, T0)).toBe(2);
    expect(await repos.events.countReceivedBefore(site.id, later(-10))).toBe(0);
  });

  describe('counts per period', () => {
    const day = (n: number) => at(`2025-07-0${n}T22:00:00.000Z`);
    beforeEach(async () => {
      await receive({ status: 'applied', receivedAt: later(-1, day(1)) });
      await receive({ status: 'applied', receivedAt: day(1) });
      await receive({ status: 'applied', receivedAt: later(MINUTE_MS, day(1)) });
      await receive({ status: 'failed', receivedAt: later(-1, day(2)) });
      await receive({ status: 'applied', receivedAt: day(2) });
      await receive({ status: 'applied', receivedAt: day(4) });
      await receive({ siteId: (await newSite('other')).id, status: 'applied', receivedAt: day(2) });
    });

    it('counts each event in the period it falls in, per status, from the first start to the end', async () => {
      const rows = await repos.events.countByStatusInPeriods(site.id, [day(1), day(2), day(3)], day(4));
      expect([...rows].sort((a, b) => a.period - b.period || a.status.localeCompare(b.status))).toEqual([
        { period: 0, status: 'applied', count: 2 },
        { period: 0, status: 'failed', count: 1 },
        { period: 1, status: 'applied', count: 1 },
      ]);
      expect(await repos.events.countByStatusInPeriods(site.id, [], day(4))).toEqual([]);
    });
  });

  describe('fingerprint claims', () => {
    it('gives a fingerprint to its first claimant and answers later claims with that owner, per site', async () => {
      const other = await newSite('other');
      const first = await repos.events.insert(newEvent());
      const second = await repos.events.insert(newEvent());
      const elsewhere = await repos.events.insert(newEvent({ siteId: other.id }));

      expect(await repos.events.claimFingerprint(site.id, 'fp', first)).toBe(first);
      expect(await repos.events.claimFingerprint(site.id, 'fp', second)).toBe(first);
      expect(await repos.events.claimFingerprint(site.id, 'fp', first)).toBe(first);
      expect(await repos.events.claimFingerprint(site.id, 'fp-2', second)).toBe(second);
      expect(await repos.events.claimFingerprint(other.id, 'fp', elsewhere)).toBe(elsewhere);
    });

    it('gives two concurrent units claiming one fingerprint the same owner', async () => {
      let signalClaimed: () => void = () => undefined;
      const claimed = new Promise<void>((resolve) => {
        signalClaimed = resolve;
      });
      // The first unit holds its claim uncommitted while the second claims: on PostgreSQL the second waits on the key.
      const first = storage.transaction(async (tx) => {
        const eventId = await tx.events.insert(newEvent());
        const owner = await tx.events.claimFingerprint(site.id, 'fp-race', eventId);
        signalClaimed();
        await sleep(150);
        return { eventId, owner, releasedAt: Date.now() };
      });
      const second = storage.transaction(async (tx) => {
        const eventId = await tx.events.insert(newEvent());
        await claimed;
        const owner = await tx.events.claimFingerprint(site.id, 'fp-race', eventId);
        return { eventId, owner, answeredAt: Date.now() };
      });
      const [a, b] = await Promise.all([first, second]);

      expect(a.owner).toBe(a.eventId);
      expect(b.owner).toBe(a.eventId);
      // The second claim was answered only once the first unit had finished (and so committed).
      expect(b.answeredAt).toBeGreaterThanOrEqual(a.releasedAt);
      expect(await storage.query('select cast(event_id as integer) as event_id from event_fingerprints where site_id = ?', [site.id])).toEqual([{ event_id: a.eventId }]);
    });

    it('settles on one owner when several units race for a fingerprint at once', async () => {
      const racers = await Promise.all(
        [0, 1, 2, 3].map(() =>
          storage.transaction(async (tx) => {
            const eventId = await tx.events.insert(newEvent());
            const owner = await tx.events.claimFingerprint(site.id, 'fp-crowd', eventId);
            await sleep(20);
            return { eventId, owner };
          }),
        ),
      );
      const owners = new Set(racers.map((racer) => racer.owner));
      expect(owners.size).toBe(1);
      expect(racers.map((racer) => racer.eventId)).toContain(racers[0]?.owner);
    });

    it('hands the fingerprint to the next claimant when the first claim is rolled back', async () => {
      let signalClaimed: () => void = () => undefined;
      const claimed = new Promise<void>((resolve) => {
        signalClaimed = resolve;
      });
      const first = storage.transaction(async (tx) => {
        const eventId = await tx.events.insert(newEvent());
        await tx.events.claimFingerprint(site.id, 'fp-undone', eventId);
        signalClaimed();
        await sleep(100);
        throw new Error('the first unit fails');
      });
      const second = storage.transaction(async (tx) => {
        const eventId = await tx.events.insert(newEvent());
        await claimed;
        return { eventId, owner: await tx.events.claimFingerprint(site.id, 'fp-undone', eventId) };
      });

      await expect(first).rejects.toThrow('the first unit fails');
      const b = await second;
      expect(b.owner).toBe(b.eventId);
    });
  });
});

describe(`payment facts on ${testEngine}`, () => {
  let member: Member;
  let eventId: number;
  beforeEach(async () => {
    member = await newMember('dana@example.com');
    eventId = await repos.events.insert(newEvent());
  });

  const fact = (overrides: Partial<NewPaymentFact>): NewPaymentFact => ({
    siteId: site.id,
    kind: 'purchase',
    factKey: 'order-1',
    memberId: member.id,
    productId: 'p-1',
    sourceKey: 'txn:order-1',
    transactionId: 'order-1',
    parentTransactionId: null,
    subscriptionId: null,
    payNumber: null,
    amountCents: 4900,
    occurredAt: T0,
    eventId,
    ...overrides,
  });

  it('records a fact once per kind and key, and reads a source’s facts oldest first', async () => {
    await repos.facts.record(fact({ kind: 'purchase', factKey: 'order-1', occurredAt: later(2000), amountCents: 4900 }));
    await repos.facts.record(fact({ kind: 'purchase', factKey: 'order-1', occurredAt: later(9000), amountCents: 1 }));
    await repos.facts.record(fact({ kind: 'refund', factKey: 'order-1', occurredAt: later(1000), amountCents: -4900 }));
    await repos.facts.record(fact({ kind: 'payment_failed', factKey: 'order-1-f', occurredAt: later(1000), amountCents: null }));
    await repos.facts.record(fact({ kind: 'purchase', factKey: 'order-2', sourceKey: 'txn:order-2', transactionId: 'order-2' }));

    const facts = await repos.facts.forSource(site.id, 'txn:order-1');
    // Ties on the time in recording order.
    expect(facts.map((f) => [f.kind, f.occurredAt.getTime(), f.amountCents])).toEqual([
      ['refund', later(1000).getTime(), -4900],
      ['payment_failed', later(1000).getTime(), null],
      ['purchase', later(2000).getTime(), 4900],
    ]);
    expect(facts[0]).toEqual({
      id: expect.any(Number),
      siteId: site.id,
      kind: 'refund',
      memberId: member.id,
      productId: 'p-1',
      sourceKey: 'txn:order-1',
      transactionId: 'order-1',
      parentTransactionId: null,
      subscriptionId: null,
      payNumber: null,
      amountCents: -4900,
      occurredAt: later(1000),
      eventId,
    });
    expect(await repos.facts.forSource(site.id, 'txn:nothing')).toEqual([]);

    // Several sources in one read: each as forSource gives it, sources without facts absent.
    const bySource = await repos.facts.forSources(site.id, ['txn:order-1', 'txn:order-2', 'txn:nothing', 'txn:order-1']);
    expect([...bySource.keys()].sort()).toEqual(['txn:order-1', 'txn:order-2']);
    expect(bySource.get('txn:order-1')).toEqual(facts);
    expect(bySource.get('txn:order-2')?.map((f) => f.transactionId)).toEqual(['order-2']);
    expect((await repos.facts.forSources(site.id, [])).size).toBe(0);
  });

  it('finds the payment of a transaction, not its refunds, and only on its site', async () => {
    await repos.facts.record(fact({ kind: 'refund', factKey: 'r-1', transactionId: 'order-7' }));
    expect(await repos.facts.findPaymentByTransaction(site.id, 'order-7')).toBeNull();
    await repos.facts.record(fact({ kind: 'rebill', factKey: 'b-1', transactionId: 'order-7', payNumber: 2 }));
    expect(await repos.facts.findPaymentByTransaction(site.id, 'order-7')).toMatchObject({ kind: 'rebill', payNumber: 2, transactionId: 'order-7' });
    const other = await newSite('other');
    expect(await repos.facts.findPaymentByTransaction(other.id, 'order-7')).toBeNull();
  });

  it('names the source of a member’s latest purchase of a product', async () => {
    const other = await newMember('eve@example.com');
    expect(await repos.facts.latestPurchaseSource(site.id, member.id, 'p-1')).toBeNull();
    await repos.facts.record(fact({ factKey: 'o-1', sourceKey: 'txn:o-1', occurredAt: later(1000) }));
    await repos.facts.record(fact({ kind: 'rebill', factKey: 'o-2', sourceKey: 'sub:s-1', occurredAt: later(3000) }));
    await repos.facts.record(fact({ factKey: 'o-3', sourceKey: 'txn:o-3', occurredAt: later(2000) }));
    await repos.facts.record(fact({ kind: 'refund', factKey: 'o-4', sourceKey: 'txn:o-4', occurredAt: later(9000) }));
    await repos.facts.record(fact({ factKey: 'o-5', sourceKey: 'txn:o-5', productId: 'p-2', occurredAt: later(9000) }));
    await repos.facts.record(fact({ factKey: 'o-6', sourceKey: 'txn:o-6', memberId: other.id, occurredAt: later(9000) }));

    expect(await repos.facts.latestPurchaseSource(site.id, member.id, 'p-1')).toBe('sub:s-1');
  });

  it('lists the distinct sources and members of a product', async () => {
    const other = await newMember('eve@example.com');
    await repos.facts.record(fact({ factKey: 'o-1', sourceKey: 'sub:b' }));
    await repos.facts.record(fact({ kind: 'rebill', factKey: 'o-2', sourceKey: 'sub:b' }));
    await repos.facts.record(fact({ factKey: 'o-3', sourceKey: 'sub:a', memberId: other.id }));
    await repos.facts.record(fact({ factKey: 'o-4', sourceKey: 'sub:c', productId: 'p-2' }));

    const sources = await repos.facts.sourcesForProduct(site.id, 'p-1');
    expect([...sources].sort((a, b) => a.sourceKey.localeCompare(b.sourceKey))).toEqual([
      { sourceKey: 'sub:a', memberId: other.id },
      { sourceKey: 'sub:b', memberId: member.id },
    ]);
    expect(await repos.facts.sourcesForProduct(site.id, 'p-9')).toEqual([]);
  });

  it('lists the facts of one kind newest first, up to a limit', async () => {
    await repos.facts.record(fact({ kind: 'chargeback', factKey: 'c-1', occurredAt: later(1000) }));
    await repos.facts.record(fact({ kind: 'chargeback', factKey: 'c-2', occurredAt: later(3000) }));
    await repos.facts.record(fact({ kind: 'chargeback', factKey: 'c-3', occurredAt: later(2000) }));
    await repos.facts.record(fact({ kind: 'refund', factKey: 'r-1', occurredAt: later(9000) }));

    const all = await repos.facts.listByKind(site.id, 'chargeback', { limit: 10 });
    expect(all.map((f) => f.occurredAt)).toEqual([later(3000), later(2000), later(1000)]);
    expect((await repos.facts.listByKind(site.id, 'chargeback', { limit: 2 })).map((f) => f.occurredAt)).toEqual([later(3000), later(2000)]);
    expect((await repos.facts.listByKind(site.id, 'chargeback', { since: later(2000), limit: 10 })).map((f) => f.occurredAt)).toEqual([later(3000), later(2000)]);
    expect(await repos.facts.listByKind(site.id, 'subscription_cancel', { limit: 10 })).toEqual([]);
  });
});

describe(`raw body retention on ${testEngine}`, () => {
  it('prunes the oldest bodies first, in batches, sparing failed events, newer ones and other sites', async () => {
    const other = await newSite('other');
    const body = Buffer.from('{"lead":{"email":"dana@example.com"}}');
    const oldest = await receive({ receivedAt: later(-50 * MINUTE_MS), rawBody: body });
    const failed = await receive({ status: 'failed', receivedAt: later(-40 * MINUTE_MS), rawBody: body });
    const middle = await receive({ status: 'unmapped', receivedAt: later(-30 * MINUTE_MS), rawBody: body });
    const youngest = await receive({ receivedAt: later(-20 * MINUTE_MS), rawBody: body });
    const atCutoff = await receive({ receivedAt: later(-10 * MINUTE_MS), rawBody: body });
    const elsewhere = await receive({ siteId: other.id, receivedAt: later(-50 * MINUTE_MS), rawBody: body });
    const cutoff = later(-10 * MINUTE_MS);
    const prunedAt = later(1000);

    expect(await repos.retention.pruneRawBodies(site.id, cutoff, prunedAt, 2)).toBe(2);
    const afterFirst = await repos.events.findById(site.id, middle);
    expect(afterFirst?.rawBodyPrunedAt).toEqual(prunedAt);
    expect(afterFirst?.rawBody.length).toBe(0);
    expect((await repos.events.findById(site.id, youngest))?.rawBodyPrunedAt).toBeNull();

    expect(await repos.retention.pruneRawBodies(site.id, cutoff, later(2000), 2)).toBe(1);
    expect(await repos.retention.pruneRawBodies(site.id, cutoff, later(3000), 2)).toBe(0);

    const state = async (siteId: number, id: number) => {
      const event = await repos.events.findById(siteId, id);
      return { pruned: event?.rawBodyPrunedAt ?? null, bytes: event?.rawBody.length, status: event?.status };
    };
    expect(await state(site.id, oldest)).toEqual({ pruned: prunedAt, bytes: 0, status: 'applied' });
    expect(await state(site.id, youngest)).toEqual({ pruned: later(2000), bytes: 0, status: 'applied' });
    expect(await state(site.id, failed)).toEqual({ pruned: null, bytes: body.length, status: 'failed' });
    expect(await state(site.id, atCutoff)).toEqual({ pruned: null, bytes: body.length, status: 'applied' });
    expect(await state(other.id, elsewhere)).toEqual({ pruned: null, bytes: body.length, status: 'applied' });
  });

  it('never prunes or counts a body twice when two runs overlap', async () => {
    for (let index = 0; index < 6; index += 1) await receive({ receivedAt: later(-(10 - index) * MINUTE_MS) });
    let signalPruned: () => void = () => undefined;
    const firstPruned = new Promise<void>((resolve) => {
      signalPruned = resolve;
    });
    // The first run holds its batch uncommitted while the second picks the same rows: on PostgreSQL it waits for them.
    const first = storage.transaction(async (tx) => {
      const pruned = await tx.retention.pruneRawBodies(site.id, T0, later(1000), 5);
      signalPruned();
      await sleep(100);
      return pruned;
    });
    const second = storage.transaction(async (tx) => {
      await firstPruned;
      return tx.retention.pruneRawBodies(site.id, T0, later(2000), 5);
    });
    const [a, b] = await Promise.all([first, second]);

    expect(a).toBe(5);
    const marked = await storage.query<{ at: number | string }>('select raw_body_pruned_at as at from webhook_events where site_id = ? and raw_body_pruned_at is not null', [site.id]);
    expect(a + b).toBe(marked.length);
    expect(marked.filter((row) => Number(row.at) === later(1000).getTime())).toHaveLength(5);
  });

  it('prunes events received at the same instant in receipt order', async () => {
    const first = await receive({ receivedAt: later(-MINUTE_MS) });
    const second = await receive({ receivedAt: later(-MINUTE_MS) });
    expect(await repos.retention.pruneRawBodies(site.id, T0, T0, 1)).toBe(1);
    expect((await repos.events.findById(site.id, first))?.rawBodyPrunedAt).toEqual(T0);
    expect((await repos.events.findById(site.id, second))?.rawBodyPrunedAt).toBeNull();
  });
});
