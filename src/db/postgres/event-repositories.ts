import { and, asc, desc, eq, gt, gte, inArray, isNull, lt, lte, sql, type SQL } from 'drizzle-orm';
import type { EventStatus } from '../../domain/model';
import type { EventQuery, PaymentFactRepository, WebhookEventRepository } from '../../domain/ports';
import { COMPARABLE_ASSET_EVENT_STATUSES, groupBySource, outcomeColumns, paymentFactColumns, periodIndex, toEventRecord, toEventSummary, toPaymentFact } from '../event-rows';
import { toDate, toMs } from '../time-columns';
import type { PgDb } from './database';
import { eventFingerprints, paymentFacts, webhookEvents } from './schema';

// The PostgreSQL twin of ../event-repositories.ts: the same answers, in SQLite's order where it has one. pg returns
// count(*) and max() of a bigint as strings, so every aggregate is cast or mapped to a number; where SQLite's order
// rests on NULLs sorting first, the order says so, since PostgreSQL sorts them last.

const summaryColumns = {
  id: webhookEvents.id,
  siteId: webhookEvents.siteId,
  receivedAt: webhookEvents.receivedAt,
  channel: webhookEvents.channel,
  status: webhookEvents.status,
  kind: webhookEvents.kind,
  action: webhookEvents.action,
  productId: webhookEvents.productId,
  assetKey: webhookEvents.assetKey,
  leadId: webhookEvents.leadId,
  email: webhookEvents.email,
  transactionId: webhookEvents.transactionId,
  memberId: webhookEvents.memberId,
  duplicateOfEventId: webhookEvents.duplicateOfEventId,
  summary: webhookEvents.summary,
  error: webhookEvents.error,
  attempts: webhookEvents.attempts,
};

const count = () => sql<number>`count(*)::int`;

/** The log's filter as conditions on webhook_events; empty strings ask for nothing, as in the SQLite adapter. */
function pageConditions(siteId: number, query: EventQuery): SQL | undefined {
  const statuses = query.statuses ?? [];
  const conditions = [eq(webhookEvents.siteId, siteId)];
  if (statuses.length > 0) conditions.push(inArray(webhookEvents.status, statuses));
  if (query.action) conditions.push(eq(webhookEvents.action, query.action));
  if (query.productId) conditions.push(eq(webhookEvents.productId, query.productId));
  if (query.assetKey) conditions.push(eq(webhookEvents.assetKey, query.assetKey));
  if (query.email) conditions.push(eq(webhookEvents.email, query.email.trim().toLowerCase()));
  if (query.since) conditions.push(gte(webhookEvents.receivedAt, toMs(query.since)));
  if (query.until) conditions.push(lte(webhookEvents.receivedAt, toMs(query.until)));
  if (query.beforeId !== undefined) conditions.push(lt(webhookEvents.id, query.beforeId));
  return and(...conditions);
}

/** Newer events than this past a range's end, and walking down to the range from the newest costs more than reading it. */
const OLD_RANGE_PROBE = 200;

export function createWebhookEventRepository(db: PgDb): WebhookEventRepository {
  /** Up to `atMost` events of the site received after `until` (an index-only count that stops at `atMost`). */
  async function newerThanCount(siteId: number, until: Date, atMost: number): Promise<number> {
    const [row] = await db
      .select({ count: count() })
      .from(
        db
          .select({ one: sql`1` })
          .from(webhookEvents)
          .where(and(eq(webhookEvents.siteId, siteId), gt(webhookEvents.receivedAt, toMs(until))))
          .limit(atMost)
          .as('newer'),
      );
    return row?.count ?? 0;
  }

  /**
   * The page from the ids of the range, read from (site_id, received_at, id) alone, then the newest of them.
   * MATERIALIZED keeps the planner from folding the range back into the walk of the primary key.
   */
  function throughRange(siteId: number, query: EventQuery) {
    const inRange = sql`with in_range as materialized (select ${webhookEvents.id} as id from ${webhookEvents} where ${pageConditions(siteId, query)})
      select id from in_range order by id desc limit ${query.limit}`;
    return db.select(summaryColumns).from(webhookEvents).where(and(eq(webhookEvents.siteId, siteId), sql`${webhookEvents.id} in (${inRange})`)).orderBy(desc(webhookEvents.id));
  }

  /** One backward walk of (site_id, status, id) per status, then the newest `limit` of them all. */
  function newestPerStatus(siteId: number, query: EventQuery, statuses: EventStatus[]) {
    const others = pageConditions(siteId, { ...query, statuses: [] });
    const perStatus = sql`select picked.id from unnest(${sql.param(statuses)}::text[]) as wanted(status) cross join lateral (
      select ${webhookEvents.id} as id from ${webhookEvents} where ${others} and ${webhookEvents.status} = wanted.status
      order by ${webhookEvents.id} desc limit ${query.limit}) as picked order by picked.id desc limit ${query.limit}`;
    return db.select(summaryColumns).from(webhookEvents).where(and(eq(webhookEvents.siteId, siteId), sql`${webhookEvents.id} in (${perStatus})`)).orderBy(desc(webhookEvents.id));
  }

  return {
    insert: async (event) => {
      const [row] = await db
        .insert(webhookEvents)
        .values({
          siteId: event.siteId,
          receivedAt: toMs(event.receivedAt),
          channel: event.channel,
          sourceIp: event.sourceIp,
          headersJson: JSON.stringify(event.headers),
          rawBody: event.rawBody,
          status: 'received',
        })
        .returning({ id: webhookEvents.id });
      if (!row) throw new Error('inserting the event returned no id');
      return row.id;
    },
    recordOutcome: async (siteId, eventId, outcome) => {
      // drizzle leaves the undefined fields out of the SET, which is what the port asks for.
      await db
        .update(webhookEvents)
        .set(outcomeColumns(outcome))
        .where(and(eq(webhookEvents.siteId, siteId), eq(webhookEvents.id, eventId)));
    },
    incrementAttempts: async (siteId, eventId) => {
      await db
        .update(webhookEvents)
        .set({ attempts: sql`${webhookEvents.attempts} + 1` })
        .where(and(eq(webhookEvents.siteId, siteId), eq(webhookEvents.id, eventId)));
    },
    findById: async (siteId, eventId) => {
      const [row] = await db
        .select()
        .from(webhookEvents)
        .where(and(eq(webhookEvents.siteId, siteId), eq(webhookEvents.id, eventId)));
      return row ? toEventRecord(row) : null;
    },
    // One plain query: PostgreSQL's per-column statistics pick the index that SQLite's probes in ../event-repositories.ts pick by hand.
    // EXPLAIN ANALYZE (6k and 200k events, 9 sites): email/product/action/status (asset_key likewise, through (site_id, asset_key, id)) (+beforeId) walk (site_id, X, id) backward or top-N sort only X's matches; no filter, a common status or a recent range walk the pkey backward; old ranges read (site_id, received_at); none sorts the site.
    // Two shapes the planner gets wrong at a million events (npm run bench, EXPLAIN ANALYZE) are written out:
    // several statuses (it walked the primary key past every other status) and an old time range (it walked the
    // primary key backward through every newer event, 910,266 rows for a 30-day window a year back).
    list: async (siteId, query) => {
      const statuses = query.statuses ?? [];
      if (statuses.length > 1) return (await newestPerStatus(siteId, query, statuses)).map(toEventSummary);
      const onlyRange = query.until && statuses.length === 0 && !query.action && !query.productId && !query.assetKey && !query.email;
      if (onlyRange && (await newerThanCount(siteId, query.until as Date, OLD_RANGE_PROBE)) >= OLD_RANGE_PROBE) {
        return (await throughRange(siteId, query)).map(toEventSummary);
      }
      const rows = await db.select(summaryColumns).from(webhookEvents).where(pageConditions(siteId, query)).orderBy(desc(webhookEvents.id)).limit(query.limit);
      return rows.map(toEventSummary);
    },
    idsForReapply: async (siteId, filter) => {
      const conditions = [eq(webhookEvents.siteId, siteId), inArray(webhookEvents.status, filter.statuses), isNull(webhookEvents.rawBodyPrunedAt)];
      if (filter.since) conditions.push(gte(webhookEvents.receivedAt, toMs(filter.since)));
      if (filter.productId) conditions.push(eq(webhookEvents.productId, filter.productId));
      if (filter.assetKey) conditions.push(eq(webhookEvents.assetKey, filter.assetKey));
      const rows = await db
        .select({ id: webhookEvents.id })
        .from(webhookEvents)
        .where(and(...conditions))
        .orderBy(asc(webhookEvents.id));
      return rows.map((row) => row.id);
    },
    productActivity: async (siteId, productIds, cap) => {
      const activity = [];
      for (const productId of productIds) {
        // The newest `cap` events other than duplicates: the counts stop growing with the log.
        const newest = db
          .select({ kind: webhookEvents.kind, leadId: webhookEvents.leadId, email: webhookEvents.email })
          .from(webhookEvents)
          .where(and(eq(webhookEvents.siteId, siteId), eq(webhookEvents.productId, productId), sql`${webhookEvents.status} <> 'duplicate'`))
          .orderBy(desc(webhookEvents.id))
          .limit(cap)
          .as('newest');
        const [row] = await db
          .select({
            eventCount: count(),
            buyerCount: sql<number>`count(distinct case when ${newest.kind} in ('purchase', 'rebill') then coalesce(${newest.leadId}, ${newest.email}) end)::int`,
          })
          .from(newest);
        if (row && row.eventCount > 0) activity.push({ productId, eventCount: row.eventCount, buyerCount: row.buyerCount, capped: row.eventCount >= cap });
      }
      return activity;
    },
    assetActivity: async (siteId, assetKeys) => {
      if (assetKeys.length === 0) return [];
      // By key in SQLite's order (bytewise), whatever the database's collation.
      return db
        .select({
          assetKey: sql<string>`${webhookEvents.assetKey}`,
          eventCount: count(),
          leadCount: sql<number>`count(distinct coalesce(${webhookEvents.leadId}, ${webhookEvents.email}))::int`,
        })
        .from(webhookEvents)
        .where(and(eq(webhookEvents.siteId, siteId), inArray(webhookEvents.assetKey, assetKeys), sql`${webhookEvents.status} <> 'duplicate'`))
        .groupBy(webhookEvents.assetKey)
        .orderBy(sql`${webhookEvents.assetKey} collate "C"`);
    },
    countUnmapped: async (siteId, of) => {
      const subject = 'productId' in of ? eq(webhookEvents.productId, of.productId) : eq(webhookEvents.assetKey, of.assetKey);
      const [row] = await db
        .select({ events: count(), people: sql<number>`count(distinct coalesce(${webhookEvents.leadId}, ${webhookEvents.email}))::int` })
        .from(webhookEvents)
        .where(and(eq(webhookEvents.siteId, siteId), subject, eq(webhookEvents.status, 'unmapped'), isNull(webhookEvents.rawBodyPrunedAt)));
      return { events: row?.events ?? 0, people: row?.people ?? 0 };
    },
    latestAssetEvent: async (siteId, assetKey, person, beforeId) => {
      // Through (site_id, asset_key, lead_id, id) backward from beforeId; a person known by email is under a NULL lead id.
      const ofPerson = 'leadId' in person ? eq(webhookEvents.leadId, person.leadId) : and(isNull(webhookEvents.leadId), eq(webhookEvents.email, person.email));
      const [row] = await db
        .select({ id: webhookEvents.id, action: webhookEvents.action, receivedAt: webhookEvents.receivedAt })
        .from(webhookEvents)
        .where(
          and(
            eq(webhookEvents.siteId, siteId),
            eq(webhookEvents.assetKey, assetKey),
            ofPerson,
            lt(webhookEvents.id, beforeId),
            inArray(webhookEvents.status, COMPARABLE_ASSET_EVENT_STATUSES),
          ),
        )
        .orderBy(desc(webhookEvents.id))
        .limit(1);
      return row ? { id: row.id, action: row.action, receivedAt: toDate(row.receivedAt) } : null;
    },
    lastReceived: async (siteId) => {
      const [row] = await db
        .select({ receivedAt: webhookEvents.receivedAt, action: webhookEvents.action })
        .from(webhookEvents)
        .where(eq(webhookEvents.siteId, siteId))
        .orderBy(desc(webhookEvents.id))
        .limit(1);
      return row ? { at: toDate(row.receivedAt), action: row.action } : null;
    },
    lastReceivedByAction: async (siteId) => {
      // A skip scan of (site_id, action, id), as on SQLite: PostgreSQL before 18 has none, and GROUP BY reads every
      // entry of the site. Each step seeks the next distinct action; the cost follows the number of actions.
      const { rows } = await db.execute<{ action: string; at: string }>(sql`
        with recursive actions(action) as (
          select (select min(action) from webhook_events where site_id = ${siteId})
          union all
          select (select min(action) from webhook_events where site_id = ${siteId} and action > actions.action) from actions where actions.action is not null
        )
        select action, (select received_at from webhook_events where site_id = ${siteId} and action = actions.action order by id desc limit 1)::text as at
        from actions where action is not null`);
      const [unparsed] = await db
        .select({ at: webhookEvents.receivedAt })
        .from(webhookEvents)
        .where(and(eq(webhookEvents.siteId, siteId), isNull(webhookEvents.action)))
        .orderBy(desc(webhookEvents.id))
        .limit(1);
      const result = rows.map((row) => ({ action: row.action, at: toDate(Number(row.at)) }));
      if (unparsed) result.push({ action: '(unparsed)', at: toDate(unparsed.at) });
      return result;
    },
    countWithStatus: async (siteId, status, cap) => {
      const capped = db
        .select({ one: sql`1` })
        .from(webhookEvents)
        .where(and(eq(webhookEvents.siteId, siteId), eq(webhookEvents.status, status)))
        .limit(cap)
        .as('capped');
      const [row] = await db.select({ count: count() }).from(capped);
      return row?.count ?? 0;
    },
    countByStatusSince: async (siteId, since) => {
      const rows = await db
        .select({ status: webhookEvents.status, count: count() })
        .from(webhookEvents)
        .where(and(eq(webhookEvents.siteId, siteId), gte(webhookEvents.receivedAt, toMs(since))))
        .groupBy(webhookEvents.status)
        .orderBy(asc(webhookEvents.status));
      return Object.fromEntries(rows.map((row) => [row.status, row.count]));
    },
    countReceivedBefore: async (siteId, before) => {
      const [row] = await db
        .select({ count: count() })
        .from(webhookEvents)
        .where(and(eq(webhookEvents.siteId, siteId), lte(webhookEvents.receivedAt, toMs(before))));
      return row?.count ?? 0;
    },
    countByStatusInPeriods: async (siteId, starts, end) => {
      const [first] = starts;
      if (!first) return [];
      const period = periodIndex(webhookEvents.receivedAt, starts).mapWith(Number);
      const rows = await db
        .select({ period, status: webhookEvents.status, count: count() })
        .from(webhookEvents)
        .where(and(eq(webhookEvents.siteId, siteId), gte(webhookEvents.receivedAt, toMs(first)), lt(webhookEvents.receivedAt, toMs(end))))
        .groupBy(period, webhookEvents.status)
        .orderBy(period, asc(webhookEvents.status));
      return rows.map((row) => ({ period: row.period, status: row.status as EventStatus, count: row.count }));
    },
    claimFingerprint: async (siteId, fingerprint, eventId) => {
      // A concurrent claim of the same fingerprint waits on the primary key until the first transaction ends, then
      // does nothing; the SELECT after it is a new statement, so at READ COMMITTED it sees the committed owner.
      const claimed = await db.insert(eventFingerprints).values({ siteId, fingerprint, eventId }).onConflictDoNothing().returning({ eventId: eventFingerprints.eventId });
      if (claimed.length > 0) return eventId;
      const [owner] = await db
        .select({ eventId: eventFingerprints.eventId })
        .from(eventFingerprints)
        .where(and(eq(eventFingerprints.siteId, siteId), eq(eventFingerprints.fingerprint, fingerprint)));
      return owner?.eventId ?? eventId;
    },
  };
}

const isPayment = inArray(paymentFacts.kind, ['purchase', 'rebill']);

export function createPaymentFactRepository(db: PgDb): PaymentFactRepository {
  return {
    record: async (fact) => {
      await db.insert(paymentFacts).values(paymentFactColumns(fact)).onConflictDoNothing();
    },
    forSource: async (siteId, sourceKey) => {
      const rows = await db
        .select()
        .from(paymentFacts)
        .where(and(eq(paymentFacts.siteId, siteId), eq(paymentFacts.sourceKey, sourceKey)))
        .orderBy(asc(paymentFacts.occurredAt), asc(paymentFacts.id));
      return rows.map(toPaymentFact);
    },
    forSources: async (siteId, sourceKeys) => {
      if (sourceKeys.length === 0) return new Map();
      const rows = await db
        .select()
        .from(paymentFacts)
        .where(and(eq(paymentFacts.siteId, siteId), inArray(paymentFacts.sourceKey, [...new Set(sourceKeys)])))
        .orderBy(asc(paymentFacts.occurredAt), asc(paymentFacts.id));
      return groupBySource(rows.map(toPaymentFact));
    },
    findPaymentByTransaction: async (siteId, transactionId) => {
      // The first recorded, as SQLite's walk of (site_id, transaction_id) finds it.
      const [row] = await db
        .select()
        .from(paymentFacts)
        .where(and(eq(paymentFacts.siteId, siteId), eq(paymentFacts.transactionId, transactionId), isPayment))
        .orderBy(asc(paymentFacts.id))
        .limit(1);
      return row ? toPaymentFact(row) : null;
    },
    latestPurchaseSource: async (siteId, memberId, productId) => {
      // Ties at one instant go to the last recorded (SQLite leaves them to its plan).
      const [row] = await db
        .select({ sourceKey: paymentFacts.sourceKey })
        .from(paymentFacts)
        .where(and(eq(paymentFacts.siteId, siteId), eq(paymentFacts.memberId, memberId), eq(paymentFacts.productId, productId), isPayment))
        .orderBy(desc(paymentFacts.occurredAt), desc(paymentFacts.id))
        .limit(1);
      return row?.sourceKey ?? null;
    },
    sourcesForProduct: async (siteId, productId) =>
      // Ordered as SQLite returns them, through its (site_id, source_key) index.
      db
        .selectDistinct({ sourceKey: paymentFacts.sourceKey, memberId: paymentFacts.memberId })
        .from(paymentFacts)
        .where(and(eq(paymentFacts.siteId, siteId), eq(paymentFacts.productId, productId)))
        .orderBy(asc(paymentFacts.sourceKey), asc(paymentFacts.memberId)),
    listByKind: async (siteId, kind, { since, limit }) => {
      const rows = await db
        .select()
        .from(paymentFacts)
        .where(and(eq(paymentFacts.siteId, siteId), eq(paymentFacts.kind, kind), since ? gte(paymentFacts.occurredAt, toMs(since)) : undefined))
        .orderBy(desc(paymentFacts.occurredAt), desc(paymentFacts.id))
        .limit(limit);
      return rows.map(toPaymentFact);
    },
  };
}
