import fc from 'fast-check';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase, type OpenDatabase } from '../../src/db/database';
import { createRepositories } from '../../src/db/repositories';
import type { EventStatus } from '../../src/domain/model';
import type { EventQuery } from '../../src/domain/ports';
import type { SyncRepositories } from '../../src/db/sync';
import { describeSqliteOnly } from '../support/storage';

/**
 * The event log picks which index leads each page from the filter and from how many index entries it would pass.
 * Whatever it picks, a page must be exactly what a plain filter over every row gives, newest first; these checks run
 * over a log big enough for every choice to be taken (the choice switches at 5,000 entries).
 *
 * SQLite only: the choice is the SQLite adapter's (PostgreSQL's planner makes its own), and the log is seeded and read
 * through its synchronous repositories and better-sqlite3 handle.
 */
const EVENT_COUNT = 12_000;
const START_MS = Date.UTC(2026, 0, 1);
const MINUTE_MS = 60_000;
const STATUSES: EventStatus[] = ['applied', 'applied', 'applied', 'ignored', 'ignored', 'unmapped', 'duplicate', 'invalid', 'rejected', 'failed'];
const ACTIONS = ['buy_product', 'refund_product', 'assign_tag', 'list_subscription'];
const PRODUCTS = ['558475', '558476', '612001'];

interface StoredEvent {
  id: number;
  receivedAtMs: number;
  status: EventStatus;
  action: string;
  productId: string | null;
  email: string;
}

describeSqliteOnly('pages of the event log, whichever index leads them', () => {
  let dir: string;
  let database: OpenDatabase;
  // The SQLite repositories themselves, synchronous: this test is about their query plans, not the unit of work.
  let repos: SyncRepositories;
  let siteId: number;
  const stored: StoredEvent[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'kartra-access-event-pages-'));
    database = openDatabase(join(dir, 'pages.db'));
    repos = createRepositories(database.db);
    siteId = repos.sites.create({ key: 'pages', name: 'Pages', createdAt: new Date(START_MS) }).id;
    const otherSiteId = repos.sites.create({ key: 'other', name: 'Other', createdAt: new Date(START_MS) }).id;
    const insert = database.sqlite.prepare(
      'insert into webhook_events (site_id, received_at, channel, headers_json, raw_body, status, action, product_id, email) values (?, ?, ?, ?, ?, ?, ?, ?, ?)',
    );
    let random = 7;
    const next = (below: number) => {
      random = (random * 48271) % 2147483647;
      return random % below;
    };
    database.sqlite.transaction(() => {
      for (let index = 0; index < EVENT_COUNT; index++) {
        // A minute apart, but every 1,000th event arrives with a clock set back two hours, so ids and receipt times
        // do not always agree.
        const receivedAtMs = START_MS + index * MINUTE_MS - (index % 1000 === 999 ? 120 * MINUTE_MS : 0);
        const status = index % 97 === 0 ? 'failed' : (STATUSES[next(STATUSES.length - 1)] as EventStatus);
        const action = ACTIONS[next(ACTIONS.length)] as string;
        const productId = action === 'buy_product' || action === 'refund_product' ? (PRODUCTS[next(PRODUCTS.length)] as string) : null;
        const email = `buyer${next(300)}@example.com`;
        const siteOfEvent = index % 10 === 5 ? otherSiteId : siteId;
        const id = Number(insert.run(siteOfEvent, receivedAtMs, 'outbound', '{}', Buffer.alloc(0), status, action, productId, email).lastInsertRowid);
        if (siteOfEvent === siteId) stored.push({ id, receivedAtMs, status, action, productId, email });
      }
    })();
  });

  afterAll(() => {
    database.close();
    rmSync(dir, { recursive: true, force: true });
  });

  function expectedIds(query: EventQuery): number[] {
    return stored
      .filter(
        (event) =>
          (!query.statuses?.length || query.statuses.includes(event.status)) &&
          (!query.action || event.action === query.action) &&
          (!query.productId || event.productId === query.productId) &&
          (!query.email || event.email === query.email) &&
          (!query.since || event.receivedAtMs >= query.since.getTime()) &&
          (!query.until || event.receivedAtMs <= query.until.getTime()) &&
          (query.beforeId === undefined || event.id < query.beforeId),
      )
      .map((event) => event.id)
      .sort((a, b) => b - a)
      .slice(0, query.limit);
  }

  /** Up to three pages, each continued from the last id of the one before, as the cursor does. */
  function pagesMatch(query: Omit<EventQuery, 'limit' | 'beforeId'>, limit = 50): void {
    let beforeId: number | undefined;
    for (let page = 0; page < 3; page++) {
      const pageQuery = { ...query, limit, beforeId };
      const ids = repos.events.list(siteId, pageQuery).map((event) => event.id);
      expect({ query: pageQuery, ids }).toEqual({ query: pageQuery, ids: expectedIds(pageQuery) });
      if (ids.length < limit) return;
      beforeId = ids[ids.length - 1];
    }
  }

  const at = (minutes: number) => new Date(START_MS + minutes * MINUTE_MS);

  it.each<[string, Omit<EventQuery, 'limit' | 'beforeId'>]>([
    ['no filter', {}],
    ['a rare status', { statuses: ['failed'] }],
    ['a common status', { statuses: ['applied'] }],
    ['two statuses', { statuses: ['unmapped', 'invalid'] }],
    ['an action', { action: 'assign_tag' }],
    ['a product', { productId: '612001' }],
    ['an email', { email: 'buyer7@example.com' }],
    ['an email with a status', { email: 'buyer7@example.com', statuses: ['applied', 'ignored'] }],
    ['a recent since, few events', { since: at(EVENT_COUNT - 30) }],
    ['a wide since reaching the newest events', { since: at(100) }],
    ['a narrow range long ago', { since: at(2000), until: at(2040) }],
    ['a wide range ending long ago', { since: at(0), until: at(6000) }],
    ['a range across a clock set back', { since: at(990), until: at(1010) }],
    ['a wide range ending near the newest events', { since: at(0), until: at(EVENT_COUNT - 50) }],
    ['a rare status over a wide range', { statuses: ['failed'], since: at(0), until: at(11000) }],
    ['a common status over a narrow range', { statuses: ['applied'], since: at(3000), until: at(3100) }],
    ['a product over a narrow range', { productId: '558475', since: at(500), until: at(700) }],
    ['an action over a wide range', { action: 'refund_product', since: at(1000) }],
  ])('lists exactly the matching events, newest first, for %s', (_name, query) => {
    pagesMatch(query);
  });

  it('lists exactly the matching events for any mix of filters', () => {
    const minute = fc.integer({ min: -10, max: EVENT_COUNT + 10 });
    fc.assert(
      fc.property(
        fc.record(
          {
            statuses: fc.subarray<EventStatus>(['applied', 'ignored', 'unmapped', 'duplicate', 'invalid', 'rejected', 'failed'], { minLength: 1, maxLength: 3 }),
            action: fc.constantFrom(...ACTIONS),
            productId: fc.constantFrom(...PRODUCTS),
            email: fc.integer({ min: 0, max: 310 }).map((n) => `buyer${n}@example.com`),
            since: minute.map(at),
            until: minute.map(at),
          },
          { requiredKeys: [] },
        ),
        fc.integer({ min: 1, max: 60 }),
        (query, limit) => pagesMatch(query, limit),
      ),
      { numRuns: 150 },
    );
  });

  it('never lists another site’s events', () => {
    const theirs = repos.events.list(siteId + 1, { limit: 100 });
    expect(theirs.length).toBeGreaterThan(0);
    const ours = new Set(stored.map((event) => event.id));
    expect(theirs.filter((event) => ours.has(event.id))).toEqual([]);
    expect(theirs.every((event) => event.siteId === siteId + 1)).toBe(true);
  });
});
