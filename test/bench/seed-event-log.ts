import Database from 'better-sqlite3';
import { createHash } from 'node:crypto';
import { openDatabase } from '../../src/db/database';

export interface SeedOptions {
  events: number;
  members: number;
  products: number;
  sites: number;
  /** Size of the stored raw body per seeded event, as a real Kartra purchase (~3 KB). */
  rawBodyBytes: number;
  /** Raw bodies older than this are pruned (empty), as the default retention leaves a log in production. */
  rawBodyRetentionDays: number;
  /** Events are spread evenly over this many days, ending at `endAt`. */
  days: number;
  endAt: Date;
}

export interface SeededLog {
  siteIds: number[];
  /** Per site: the product ids, some member ids and emails, and the id range of its events. */
  sites: { siteId: number; productIds: string[]; memberIds: number[]; emails: string[]; minEventId: number; maxEventId: number }[];
  counts: { events: number; members: number; products: number; facts: number; grants: number; history: number; fingerprints: number };
  statusMix: Record<string, number>;
  seconds: number;
}

/** One value of a seeded row, whichever engine stores it (booleans become 1/0 on SQLite). */
export type SeedValue = string | number | boolean | Buffer | null;

/**
 * The tables the seed writes and the columns of each row, in the order the generator gives the values. Ids are given
 * explicitly (1, 2, 3… per table, what a fresh database would assign), so both engines hold the same rows under the
 * same ids and the generator never has to read an id back.
 */
export const SEED_COLUMNS = {
  sites: ['id', 'key', 'name', 'kartra_enabled', 'created_at'],
  access_levels: ['id', 'site_id', 'name', 'created_at'],
  products: ['site_id', 'product_id', 'kartra_name', 'first_seen_at', 'last_seen_at'],
  product_levels: ['site_id', 'product_id', 'level_id', 'created_at'],
  members: ['id', 'site_id', 'kartra_lead_id', 'email', 'first_name', 'last_name', 'created_at', 'updated_at'],
  webhook_events: [
    'id', 'site_id', 'received_at', 'channel', 'source_ip', 'headers_json', 'raw_body', 'raw_body_pruned_at', 'status', 'fingerprint', 'duplicate_of_event_id', 'kind', 'action',
    'product_id', 'lead_id', 'email', 'transaction_id', 'member_id', 'kartra_time_raw', 'kartra_time_at', 'parsed_json', 'notes_json', 'summary', 'error', 'attempts', 'processed_at',
  ],
  event_fingerprints: ['site_id', 'fingerprint', 'event_id'],
  payment_facts: ['id', 'site_id', 'kind', 'fact_key', 'member_id', 'product_id', 'source_key', 'transaction_id', 'amount_cents', 'occurred_at', 'event_id'],
  grants: ['id', 'site_id', 'member_id', 'level_id', 'source_type', 'source_key', 'product_id', 'transaction_id', 'status', 'revoked_reason', 'created_at', 'updated_at'],
  grant_history: ['id', 'site_id', 'grant_id', 'member_id', 'level_id', 'change', 'reason', 'event_id', 'actor', 'at'],
} as const satisfies Record<string, readonly string[]>;

export type SeedTable = keyof typeof SEED_COLUMNS;

/** Tables in an order that inserts every row after the rows it references. */
export const SEED_TABLES = Object.keys(SEED_COLUMNS) as SeedTable[];

/** Where the generator puts its rows: an engine's writer (prepared inserts on SQLite, COPY on PostgreSQL). */
export interface SeedSink {
  row(table: SeedTable, values: SeedValue[]): void;
}

const LEVELS_PER_SITE = 5;

/** Deterministic pseudo-random numbers, so two runs seed the same log. */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** What an event did, with the share of the log it takes: mostly purchases applied, a tail of everything else. */
const EVENT_MIX: { share: number; action: string; kind: string; status: string; channel: string }[] = [
  { share: 0.494, action: 'buy_product', kind: 'purchase', status: 'applied', channel: 'outbound' },
  { share: 0.06, action: 'buy_product', kind: 'purchase', status: 'unmapped', channel: 'outbound' },
  { share: 0.04, action: 'refund_product', kind: 'refund', status: 'applied', channel: 'outbound' },
  { share: 0.03, action: 'cancel_subscription', kind: 'subscription_cancel', status: 'applied', channel: 'outbound' },
  { share: 0.01, action: 'partial_refund_product', kind: 'partial_refund', status: 'applied', channel: 'outbound' },
  { share: 0.08, action: 'rebill', kind: 'rebill', status: 'applied', channel: 'ipn' },
  { share: 0.04, action: 'buy_product', kind: 'purchase', status: 'duplicate', channel: 'outbound' },
  { share: 0.1, action: 'membership_granted', kind: 'other', status: 'ignored', channel: 'outbound' },
  { share: 0.08, action: 'assign_tag', kind: 'other', status: 'ignored', channel: 'outbound' },
  { share: 0.04, action: 'list_subscription', kind: 'other', status: 'ignored', channel: 'outbound' },
  { share: 0.01, action: '', kind: '', status: 'invalid', channel: 'unknown' },
  { share: 0.005, action: 'sale', kind: 'purchase', status: 'rejected', channel: 'ipn' },
  { share: 0.005, action: 'buy_product', kind: 'purchase', status: 'failed', channel: 'outbound' },
  // Failed rebills and chargebacks: what the needs-attention report reads (past due, chargebacks).
  { share: 0.005, action: 'failed', kind: 'payment_failed', status: 'applied', channel: 'ipn' },
  { share: 0.001, action: 'chargeback', kind: 'chargeback', status: 'applied', channel: 'ipn' },
];

/**
 * The synthetic log, the same on every engine: sites, levels, products (three in four mapped), members, then the
 * events with what the intake writes beside them (fingerprints, payment facts, grants and their history). The rows
 * carry what the intake stores (parsed JSON, summary, headers), so sizes and query plans are those of a real log.
 * Rows go to `sink`; the generator pauses (yields) after the sites and members and after every `batchSize` events, so
 * a writer can end a transaction (SQLite) or send what it has gathered (PostgreSQL) there. Returns the log's
 * description; `seconds` is the writer's to measure.
 */
export function* generateEventLog(options: SeedOptions, sink: SeedSink, batchSize = 50_000): Generator<void, Omit<SeededLog, 'seconds'>, void> {
  const random = seededRandom(20251123);
  const pick = <T>(items: T[]): T => items[Math.floor(random() * items.length)] as T;
  const createdAt = options.endAt.getTime() - options.days * 86_400_000;
  const nextId = { level: 1, member: 1, event: 1, fact: 1, grant: 1, history: 1 };

  const sites: SeededLog['sites'] = [];
  const mappedLevels = new Map<string, number[]>();
  const membersPerSite = Math.floor(options.members / options.sites);
  const productsPerSite = Math.floor(options.products / options.sites);
  for (let s = 0; s < options.sites; s++) {
    const siteId = s + 1;
    sink.row('sites', [siteId, `bench-site-${s}`, `Bench Site ${s}`, true, createdAt]);
    const levelIds = Array.from({ length: LEVELS_PER_SITE }, (_, l) => {
      const levelId = nextId.level++;
      sink.row('access_levels', [levelId, siteId, `Level ${l}`, createdAt]);
      return levelId;
    });
    const productIds: string[] = [];
    for (let p = 0; p < productsPerSite; p++) {
      const productId = String(700_000 + s * 1000 + p);
      productIds.push(productId);
      sink.row('products', [siteId, productId, `Course ${s}-${p}`, createdAt, options.endAt.getTime()]);
      // Three products in four are mapped; the rest arrive as "unmapped".
      if (p % 4 !== 3) {
        const levels = [levelIds[p % LEVELS_PER_SITE] as number];
        for (const levelId of levels) sink.row('product_levels', [siteId, productId, levelId, createdAt]);
        mappedLevels.set(`${siteId}:${productId}`, levels);
      }
    }
    const memberIds: number[] = [];
    const emails: string[] = [];
    for (let m = 0; m < membersPerSite; m++) {
      const email = `member${s}-${m}@seed.example.com`;
      const memberId = nextId.member++;
      sink.row('members', [memberId, siteId, String(80_000_000 + s * membersPerSite + m), email, `First${m}`, `Last${m}`, createdAt, createdAt]);
      memberIds.push(memberId);
      emails.push(email);
    }
    sites.push({ siteId, productIds, memberIds, emails, minEventId: Number.MAX_SAFE_INTEGER, maxEventId: 0 });
  }
  yield;

  const shares: number[] = [];
  let cumulative = 0;
  for (const entry of EVENT_MIX) shares.push((cumulative += entry.share));
  const statusMix: Record<string, number> = {};
  const counts = { events: 0, members: options.sites * membersPerSite, products: options.sites * productsPerSite, facts: 0, grants: 0, history: 0, fingerprints: 0 };
  const filler = 'x'.repeat(Math.max(0, options.rawBodyBytes - 200));
  const headersJson = JSON.stringify({ 'content-type': 'application/json', 'content-length': '2859', 'user-agent': 'Kartra' });
  const spanMs = options.days * 86_400_000;
  const retentionMs = options.rawBodyRetentionDays * 86_400_000;
  const pruneBefore = options.endAt.getTime() - retentionMs;

  for (let start = 0; start < options.events; start += batchSize) {
    for (let i = start; i < Math.min(options.events, start + batchSize); i++) {
      const site = sites[Math.floor(random() * sites.length)] as SeededLog['sites'][number];
      const r = random();
      const mix = EVENT_MIX[shares.findIndex((edge) => r < edge)] ?? (EVENT_MIX[0] as (typeof EVENT_MIX)[number]);
      statusMix[mix.status] = (statusMix[mix.status] ?? 0) + 1;
      const memberIndex = Math.floor(random() * site.memberIds.length);
      const memberId = site.memberIds[memberIndex] as number;
      const email = site.emails[memberIndex] as string;
      const leadId = String(80_000_000 + (site.siteId - 1) * membersPerSite + memberIndex);
      const receivedAt = options.endAt.getTime() - spanMs + Math.floor((i / options.events) * spanMs);
      const isMoney = mix.kind !== 'other' && mix.kind !== '';
      const mapped = site.productIds.filter((_, p) => p % 4 !== 3);
      const productId = isMoney ? (mix.status === 'unmapped' ? (site.productIds[3] as string) : pick(mapped)) : null;
      const transactionId = isMoney ? String(9_000_000 + i) : null;
      const pruned = receivedAt < pruneBefore;
      const rawBody = pruned ? Buffer.alloc(0) : Buffer.from(`{"lead":{"id":"${leadId}","email":"${email}"},"action":"${mix.action}","seed":${i},"filler":"${filler}"}`);
      const parsed = mix.kind
        ? JSON.stringify({
            kind: mix.kind,
            channel: mix.channel,
            action: mix.action,
            lead: { leadId, email, firstName: `First${memberIndex}`, lastName: `Last${memberIndex}` },
            ...(isMoney ? { transaction: { transactionId, productId, productName: `Course ${productId}`, pricePoint: 1, amountCents: 19700, occurredAtRaw: '2025-03-04 09:12:05', occurredAt: new Date(receivedAt).toISOString() } } : { knownAction: true }),
          })
        : null;
      const fingerprint = mix.status === 'invalid' || mix.status === 'rejected' ? null : createHash('sha256').update(`seed:${i}`).digest('hex');
      const summary =
        mix.status === 'applied'
          ? `purchase ${transactionId} for member ${email}: 1 grant(s) created (access active)`
          : mix.status === 'ignored'
            ? `${mix.action} changes no access`
            : `${mix.status} event`;
      const eventId = nextId.event++;
      sink.row('webhook_events', [eventId, site.siteId, receivedAt, mix.channel, '203.0.113.45', headersJson, rawBody, pruned ? receivedAt + retentionMs : null, mix.status, fingerprint,
        null, mix.kind || null, mix.action || null, productId, leadId, email, transactionId, mix.status === 'invalid' ? null : memberId, isMoney ? '2025-03-04 09:12:05' : null,
        isMoney ? receivedAt : null, parsed, '[]', summary, mix.status === 'failed' ? 'applying failed: seeded failure' : null, 1, receivedAt + 3]);
      counts.events++;
      site.minEventId = Math.min(site.minEventId, eventId);
      site.maxEventId = Math.max(site.maxEventId, eventId);
      if (fingerprint && mix.status !== 'duplicate') {
        sink.row('event_fingerprints', [site.siteId, fingerprint, eventId]);
        counts.fingerprints++;
      }
      if (isMoney && (mix.status === 'applied' || mix.status === 'unmapped') && productId && transactionId) {
        sink.row('payment_facts', [nextId.fact++, site.siteId, mix.kind, transactionId, memberId, productId, `txn:${transactionId}`, transactionId, 19700, receivedAt, eventId]);
        counts.facts++;
        // Each event has its own transaction id, so its (source, level) grants are new: no grant is inserted twice.
        const levels = mix.kind === 'purchase' ? mappedLevels.get(`${site.siteId}:${productId}`) : undefined;
        for (const levelId of levels ?? []) {
          const grantId = nextId.grant++;
          sink.row('grants', [grantId, site.siteId, memberId, levelId, 'purchase', `txn:${transactionId}`, productId, transactionId, 'active', null, receivedAt, receivedAt]);
          counts.grants++;
          sink.row('grant_history', [nextId.history++, site.siteId, grantId, memberId, levelId, 'granted', `purchase of product ${productId}`, eventId, 'kartra', receivedAt]);
          counts.history++;
        }
      }
    }
    yield;
  }
  return { siteIds: sites.map((site) => site.siteId), sites, counts, statusMix };
}

/**
 * Seeds the log into a SQLite file (migrated by the real openDatabase) with prepared statements in big transactions,
 * with synchronous off: the seed is a fixture, not a durability test.
 */
export function seedEventLog(file: string, options: SeedOptions): SeededLog {
  const startedAt = Date.now();
  openDatabase(file).close();
  const sqlite = new Database(file);
  sqlite.pragma('synchronous = OFF');
  sqlite.pragma('cache_size = -262144');
  const inserts = new Map(
    SEED_TABLES.map((table) => {
      const columns = SEED_COLUMNS[table];
      return [table, sqlite.prepare(`insert into ${table} (${columns.join(', ')}) values (${columns.map(() => '?').join(', ')})`)] as const;
    }),
  );
  const sink: SeedSink = {
    row: (table, values) => {
      inserts.get(table)?.run(...values.map((value) => (typeof value === 'boolean' ? Number(value) : value)));
    },
  };
  const generator = generateEventLog(options, sink);
  let step: IteratorResult<void, Omit<SeededLog, 'seconds'>> | undefined;
  const nextBatch = sqlite.transaction(() => {
    step = generator.next();
  });
  do nextBatch();
  while (!step?.done);
  // No ANALYZE here: the service gathers its own statistics when it opens the file (PRAGMA optimize, database.ts),
  // so the bench sees the query plans a production log gets.
  sqlite.pragma('wal_checkpoint(TRUNCATE)');
  sqlite.close();
  return { ...step.value, seconds: (Date.now() - startedAt) / 1000 };
}
