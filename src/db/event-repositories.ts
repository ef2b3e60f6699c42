import { and, asc, desc, eq, gt, gte, inArray, isNull, lt, lte, sql, type SQL } from 'drizzle-orm';
import type { EventStatus } from '../domain/model';
import type { EventPerson, EventQuery, PaymentFactRepository, WebhookEventRepository } from '../domain/ports';
import type { Sync } from './sync';
import type { Db } from './database';
import { COMPARABLE_ASSET_EVENT_STATUSES, groupBySource, outcomeColumns, paymentFactColumns, periodIndex, toEventRecord, toEventSummary, toPaymentFact } from './event-rows';
import { definedEntries, placeholderSet, preparedByColumns } from './prepared';
import { eventFingerprints, paymentFacts, webhookEvents } from './schema';
import { toDate, toMs } from './time-columns';

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

/** Index entries counted at most when choosing which index leads a page (about half a millisecond's worth). */
const PROBE_CAP = 5000;
/** Rows newer than a time range that a newest-first walk may read before reaching it (a couple of milliseconds). */
const NEWER_ROWS_CAP = 200;

/** Which index leads a page of the log, and which conditions it has: one prepared statement per shape. */
interface PageShape {
  index: string;
  status: boolean;
  action: boolean;
  productId: boolean;
  assetKey: boolean;
  email: boolean;
  since: boolean;
  until: boolean;
  beforeId: boolean;
}

export function createWebhookEventRepository(db: Db): Sync<WebhookEventRepository> {
  const p = sql.placeholder;
  const insertEvent = db
    .insert(webhookEvents)
    .values({
      siteId: p('siteId'),
      receivedAt: p('receivedAt'),
      channel: p('channel'),
      sourceIp: p('sourceIp'),
      headersJson: p('headersJson'),
      rawBody: p('rawBody'),
      status: 'received',
    })
    .returning({ id: webhookEvents.id })
    .prepare();
  const updateOutcome = preparedByColumns((columns) =>
    db
      .update(webhookEvents)
      .set(placeholderSet(columns))
      .where(and(eq(webhookEvents.siteId, p('whereSiteId')), eq(webhookEvents.id, p('whereEventId'))))
      .prepare(),
  );
  const findEvent = db
    .select()
    .from(webhookEvents)
    .where(and(eq(webhookEvents.siteId, p('siteId')), eq(webhookEvents.id, p('eventId'))))
    .prepare();
  const insertFingerprint = db
    .insert(eventFingerprints)
    .values({ siteId: p('siteId'), fingerprint: p('fingerprint'), eventId: p('eventId') })
    .onConflictDoNothing()
    .prepare();
  const fingerprintOwner = db
    .select({ eventId: eventFingerprints.eventId })
    .from(eventFingerprints)
    .where(and(eq(eventFingerprints.siteId, p('siteId')), eq(eventFingerprints.fingerprint, p('fingerprint'))))
    .prepare();

  /**
   * The ids of one page of the log, newest first, found through the index that fits the filter (each holds the id
   * last, so the walk comes out in id order and stops after the page), before any row is read:
   * - email, product or asset: (site, email|product|asset_key, id), a member's, a product's or a tag's events;
   * - a time range: (site, received_at), then the ids in range sorted; walking ids newest first instead would read
   *   every row newer than the range, or every row of the site when the range holds less than a page;
   * - a status: (site, status, id); action: (site, action, id); nothing: (site, id).
   * Other conditions are checked on the rows the walk reaches. Several statuses take one walk each, merged: an IN
   * list would make SQLite sort every match. One prepared statement per shape of filter.
   */
  const pageIdsStatements = new Map<string, ReturnType<typeof buildPageIdsStatement>>();
  function buildPageIdsStatement(shape: PageShape) {
    const conditions = [eq(webhookEvents.siteId, p('siteId'))];
    if (shape.status) conditions.push(eq(webhookEvents.status, p('status')));
    if (shape.action) conditions.push(eq(webhookEvents.action, p('action')));
    if (shape.productId) conditions.push(eq(webhookEvents.productId, p('productId')));
    if (shape.assetKey) conditions.push(eq(webhookEvents.assetKey, p('assetKey')));
    if (shape.email) conditions.push(eq(webhookEvents.email, p('email')));
    if (shape.since) conditions.push(gte(webhookEvents.receivedAt, p('since')));
    if (shape.until) conditions.push(lte(webhookEvents.receivedAt, p('until')));
    if (shape.beforeId) conditions.push(lt(webhookEvents.id, p('beforeId')));
    // drizzle has no INDEXED BY; the table keeps its name, so the conditions' column references still hold.
    return db
      .select({ id: sql<number>`${sql.identifier('id')}` })
      .from(sql`${webhookEvents} indexed by ${sql.identifier(shape.index)}`)
      .where(and(...conditions))
      .orderBy(desc(webhookEvents.id))
      .limit(p('limit'))
      .prepare();
  }

  // Entries of an index range counted up to a cap through the index alone (it covers the query), without reading rows.
  const countUpTo = (index: string, condition: SQL | undefined) =>
    db
      .select({ entries: sql<number>`count(*)` })
      .from(
        db
          .select({ one: sql`1` })
          .from(sql`${webhookEvents} indexed by ${sql.identifier(index)}`)
          .where(and(eq(webhookEvents.siteId, p('siteId')), condition))
          .limit(PROBE_CAP)
          .as('probe'),
      )
      .prepare();
  const statusEntries = countUpTo('webhook_events_site_status_idx', eq(webhookEvents.status, p('status')));
  const productEntries = countUpTo('webhook_events_site_product_idx', eq(webhookEvents.productId, p('productId')));
  const assetEntries = countUpTo('webhook_events_site_asset_idx', eq(webhookEvents.assetKey, p('assetKey')));
  const actionEntries = countUpTo('webhook_events_site_action_idx', eq(webhookEvents.action, p('action')));
  const rangeEntries = countUpTo('webhook_events_site_received_idx', and(gte(webhookEvents.receivedAt, p('since')), lte(webhookEvents.receivedAt, p('until'))));

  const newerEntries = db
    .select({ entries: sql<number>`count(*)` })
    .from(
      db
        .select({ one: sql`1` })
        .from(sql`${webhookEvents} indexed by ${sql.identifier('webhook_events_site_received_idx')}`)
        .where(and(eq(webhookEvents.siteId, p('siteId')), gt(webhookEvents.receivedAt, p('after'))))
        .limit(NEWER_ROWS_CAP)
        .as('probe'),
    )
    .prepare();

  function drivingIndex(siteId: number, query: EventQuery, statuses: EventStatus[]): string {
    // A member's events are few: their email leads whatever else is asked.
    if (query.email) return 'webhook_events_site_email_idx';
    const equalityIndex = query.productId
      ? 'webhook_events_site_product_idx'
      : query.assetKey
        ? 'webhook_events_site_asset_idx'
        : statuses.length > 0
          ? 'webhook_events_site_status_idx'
          : query.action
            ? 'webhook_events_site_action_idx'
            : null;
    if (!query.since && !query.until) return equalityIndex ?? 'webhook_events_site_id_idx';
    const sinceMs = query.since ? toMs(query.since) : Number.MIN_SAFE_INTEGER;
    const untilMs = query.until ? toMs(query.until) : Number.MAX_SAFE_INTEGER;
    const inRange = rangeEntries.get({ siteId, since: sinceMs, until: untilMs })?.entries ?? 0;
    if (!equalityIndex) {
      // A time range alone: the ids in range are sorted through the time index alone, which costs little while they
      // are few. A wide range that reaches to the newest events (a "since" with no "until", as the pages ask) is walked
      // newest first instead: the page comes after passing the rows newer than the range, each read, so only when
      // those are a handful. Ids follow receipt order; the received_at check keeps the answer right if a clock went back.
      if (inRange < PROBE_CAP) return 'webhook_events_site_received_idx';
      const newer = query.until ? (newerEntries.get({ siteId, after: untilMs })?.entries ?? 0) : 0;
      return newer < NEWER_ROWS_CAP ? 'webhook_events_site_id_idx' : 'webhook_events_site_received_idx';
    }
    // A product, asset, status or action with a time range: the walk reads a row for each entry it passes, so take the
    // index with fewer entries for this filter. A rare status over a year and a common one over a day both stay cheap;
    // SQLite cannot tell them apart (its statistics hold averages, not how rare one status is).
    const withValue = query.productId
      ? (productEntries.get({ siteId, productId: query.productId })?.entries ?? 0)
      : query.assetKey
        ? (assetEntries.get({ siteId, assetKey: query.assetKey })?.entries ?? 0)
        : statuses.length > 0
          ? statuses.reduce((total, status) => total + (statusEntries.get({ siteId, status })?.entries ?? 0), 0)
          : (actionEntries.get({ siteId, action: query.action })?.entries ?? 0);
    return withValue <= inRange ? equalityIndex : 'webhook_events_site_received_idx';
  }

  function pageIds(siteId: number, query: EventQuery): number[] {
    const statuses = query.statuses ?? [];
    const shape: PageShape = {
      index: drivingIndex(siteId, query, statuses),
      status: statuses.length > 0,
      action: Boolean(query.action),
      productId: Boolean(query.productId),
      assetKey: Boolean(query.assetKey),
      email: Boolean(query.email),
      since: Boolean(query.since),
      until: Boolean(query.until),
      beforeId: query.beforeId !== undefined,
    };
    const key = JSON.stringify(shape);
    let statement = pageIdsStatements.get(key);
    if (!statement) {
      statement = buildPageIdsStatement(shape);
      pageIdsStatements.set(key, statement);
    }
    const params = {
      siteId,
      action: query.action,
      productId: query.productId,
      assetKey: query.assetKey,
      email: query.email?.trim().toLowerCase(),
      since: query.since ? toMs(query.since) : undefined,
      until: query.until ? toMs(query.until) : undefined,
      beforeId: query.beforeId,
      limit: query.limit,
    };
    const walk = (status: EventStatus | undefined) => statement.all({ ...params, status }).map((row) => row.id);
    if (statuses.length < 2) return walk(statuses[0]);
    return statuses
      .flatMap(walk)
      .sort((a, b) => b - a)
      .slice(0, query.limit);
  }
  const summariesByIds = db
    .select(summaryColumns)
    .from(webhookEvents)
    .where(and(eq(webhookEvents.siteId, p('siteId')), sql`${webhookEvents.id} in (select value from json_each(${p('idsJson')}))`))
    .orderBy(desc(webhookEvents.id))
    .prepare();

  // The newest `limit` events of a product other than duplicates, counted with their buyers: bounded whatever the log.
  const productActivityCapped = db
    .select({
      eventCount: sql<number>`count(*)`,
      buyerCount: sql<number>`count(distinct case when kind in ('purchase', 'rebill') then coalesce(lead_id, email) end)`,
    })
    .from(
      db
        .select({ kind: webhookEvents.kind, leadId: webhookEvents.leadId, email: webhookEvents.email })
        .from(webhookEvents)
        .where(and(eq(webhookEvents.siteId, p('siteId')), eq(webhookEvents.productId, p('productId')), sql`${webhookEvents.status} <> 'duplicate'`))
        .orderBy(desc(webhookEvents.id))
        .limit(p('limit'))
        .as('newest'),
    )
    .prepare();
  const countWithStatusCapped = db
    .select({ count: sql<number>`count(*)` })
    .from(
      db
        .select({ one: sql`1` })
        .from(webhookEvents)
        .where(and(eq(webhookEvents.siteId, p('siteId')), eq(webhookEvents.status, p('status'))))
        .limit(p('cap'))
        .as('capped'),
    )
    .prepare();
  // A skip scan of (site_id, action, id): each step seeks the next distinct action, then the newest event of each,
  // so the cost follows the number of actions (a few dozen), not the number of events. SQLite has no skip scan of
  // its own for this, and GROUP BY reads every entry.
  const lastPerAction = (siteId: number) =>
    db.all<{ action: string; at: number }>(sql`
      with recursive actions(action) as (
        select (select min(action) from webhook_events where site_id = ${siteId})
        union all
        select (select min(action) from webhook_events where site_id = ${siteId} and action > actions.action) from actions where actions.action is not null
      )
      select action, (select received_at from webhook_events where site_id = ${siteId} and action = actions.action order by id desc limit 1) as at
      from actions where action is not null`);
  const lastOfNoAction = db
    .select({ at: webhookEvents.receivedAt })
    .from(webhookEvents)
    .where(and(eq(webhookEvents.siteId, p('siteId')), isNull(webhookEvents.action)))
    .orderBy(desc(webhookEvents.id))
    .limit(1)
    .prepare();

  // Every tag or membership event reads its person's previous one: prepared, newest first from beforeId, through
  // (site, asset_key, lead_id, id) for a lead. A person known by email only is under a NULL lead id there; SQLite may
  // take their (site, email, id) entries instead, which are as few.
  const latestAssetEventOf = (personCondition: SQL) =>
    db
      .select({ id: webhookEvents.id, action: webhookEvents.action, receivedAt: webhookEvents.receivedAt })
      .from(webhookEvents)
      .where(
        and(
          eq(webhookEvents.siteId, p('siteId')),
          eq(webhookEvents.assetKey, p('assetKey')),
          personCondition,
          lt(webhookEvents.id, p('beforeId')),
          inArray(webhookEvents.status, COMPARABLE_ASSET_EVENT_STATUSES),
        ),
      )
      .orderBy(desc(webhookEvents.id))
      .limit(1)
      .prepare();
  const latestAssetEventOfLead = latestAssetEventOf(eq(webhookEvents.leadId, p('leadId')));
  const latestAssetEventOfEmail = latestAssetEventOf(and(isNull(webhookEvents.leadId), eq(webhookEvents.email, p('email'))) as SQL);

  return {
    insert: (event) => {
      const row = insertEvent.get({
        siteId: event.siteId,
        receivedAt: toMs(event.receivedAt),
        channel: event.channel,
        sourceIp: event.sourceIp,
        headersJson: JSON.stringify(event.headers),
        rawBody: event.rawBody,
      });
      if (!row) throw new Error('inserting the event returned no id');
      return row.id;
    },
    recordOutcome: (siteId, eventId, outcome) => {
      const changes = definedEntries(outcomeColumns(outcome));
      updateOutcome(Object.keys(changes)).run({ ...changes, whereSiteId: siteId, whereEventId: eventId });
    },
    incrementAttempts: (siteId, eventId) => {
      db.update(webhookEvents)
        .set({ attempts: sql`${webhookEvents.attempts} + 1` })
        .where(and(eq(webhookEvents.siteId, siteId), eq(webhookEvents.id, eventId)))
        .run();
    },
    findById: (siteId, eventId) => {
      const row = findEvent.get({ siteId, eventId });
      return row ? toEventRecord(row) : null;
    },
    list: (siteId, query) => {
      const ids = pageIds(siteId, query);
      return ids.length === 0 ? [] : summariesByIds.all({ siteId, idsJson: JSON.stringify(ids) }).map(toEventSummary);
    },
    idsForReapply: (siteId, filter) => {
      const conditions = [eq(webhookEvents.siteId, siteId), inArray(webhookEvents.status, filter.statuses), isNull(webhookEvents.rawBodyPrunedAt)];
      if (filter.since) conditions.push(gte(webhookEvents.receivedAt, toMs(filter.since)));
      if (filter.productId) conditions.push(eq(webhookEvents.productId, filter.productId));
      if (filter.assetKey) conditions.push(eq(webhookEvents.assetKey, filter.assetKey));
      return db
        .select({ id: webhookEvents.id })
        .from(webhookEvents)
        .where(and(...conditions))
        .orderBy(asc(webhookEvents.id))
        .all()
        .map((row) => row.id);
    },
    productActivity: (siteId, productIds, cap) =>
      productIds.flatMap((productId) => {
        const row = productActivityCapped.get({ siteId, productId, limit: cap });
        if (!row || row.eventCount === 0) return [];
        return [{ productId, eventCount: row.eventCount, buyerCount: row.buyerCount, capped: row.eventCount >= cap }];
      }),
    assetActivity: (siteId, assetKeys) => {
      if (assetKeys.length === 0) return [];
      return db
        .select({
          assetKey: sql<string>`${webhookEvents.assetKey}`,
          eventCount: sql<number>`count(*)`,
          leadCount: sql<number>`count(distinct coalesce(${webhookEvents.leadId}, ${webhookEvents.email}))`,
        })
        .from(webhookEvents)
        .where(and(eq(webhookEvents.siteId, siteId), inArray(webhookEvents.assetKey, assetKeys), sql`${webhookEvents.status} <> 'duplicate'`))
        .groupBy(webhookEvents.assetKey)
        .orderBy(asc(webhookEvents.assetKey))
        .all();
    },
    countUnmapped: (siteId, of) => {
      const subject = 'productId' in of ? eq(webhookEvents.productId, of.productId) : eq(webhookEvents.assetKey, of.assetKey);
      const row = db
        .select({ events: sql<number>`count(*)`, people: sql<number>`count(distinct coalesce(${webhookEvents.leadId}, ${webhookEvents.email}))` })
        .from(webhookEvents)
        .where(and(eq(webhookEvents.siteId, siteId), subject, eq(webhookEvents.status, 'unmapped'), isNull(webhookEvents.rawBodyPrunedAt)))
        .get();
      return { events: row?.events ?? 0, people: row?.people ?? 0 };
    },
    latestAssetEvent: (siteId, assetKey, person: EventPerson, beforeId) => {
      const row =
        'leadId' in person
          ? latestAssetEventOfLead.get({ siteId, assetKey, leadId: person.leadId, beforeId })
          : latestAssetEventOfEmail.get({ siteId, assetKey, email: person.email, beforeId });
      return row ? { id: row.id, action: row.action, receivedAt: toDate(row.receivedAt) } : null;
    },
    lastReceived: (siteId) => {
      const row = db
        .select({ receivedAt: webhookEvents.receivedAt, action: webhookEvents.action })
        .from(webhookEvents)
        .where(eq(webhookEvents.siteId, siteId))
        .orderBy(desc(webhookEvents.id))
        .limit(1)
        .get();
      return row ? { at: toDate(row.receivedAt), action: row.action } : null;
    },
    lastReceivedByAction: (siteId) => {
      const rows = lastPerAction(siteId);
      const unparsed = lastOfNoAction.get({ siteId });
      if (unparsed) rows.push({ action: '(unparsed)', at: unparsed.at });
      return rows.map((row) => ({ action: row.action, at: toDate(row.at) }));
    },
    countWithStatus: (siteId, status, cap) => countWithStatusCapped.get({ siteId, status, cap })?.count ?? 0,
    countByStatusSince: (siteId, since) => {
      const rows = db
        .select({ status: webhookEvents.status, count: sql<number>`count(*)` })
        .from(webhookEvents)
        .where(and(eq(webhookEvents.siteId, siteId), gte(webhookEvents.receivedAt, toMs(since))))
        .groupBy(webhookEvents.status)
        .all();
      return Object.fromEntries(rows.map((row) => [row.status, row.count]));
    },
    countReceivedBefore: (siteId, before) =>
      db
        .select({ count: sql<number>`count(*)` })
        .from(webhookEvents)
        .where(and(eq(webhookEvents.siteId, siteId), lte(webhookEvents.receivedAt, toMs(before))))
        .get()?.count ?? 0,
    countByStatusInPeriods: (siteId, starts, end) => {
      const [first] = starts;
      if (!first) return [];
      const period = periodIndex(webhookEvents.receivedAt, starts);
      return db
        .select({ period, status: webhookEvents.status, count: sql<number>`count(*)` })
        .from(webhookEvents)
        .where(and(eq(webhookEvents.siteId, siteId), gte(webhookEvents.receivedAt, toMs(first)), lt(webhookEvents.receivedAt, toMs(end))))
        .groupBy(period, webhookEvents.status)
        .all()
        .map((row) => ({ period: row.period, status: row.status as EventStatus, count: row.count }));
    },
    claimFingerprint: (siteId, fingerprint, eventId) => {
      insertFingerprint.run({ siteId, fingerprint, eventId });
      return fingerprintOwner.get({ siteId, fingerprint })?.eventId ?? eventId;
    },
  };
}

export function createPaymentFactRepository(db: Db): Sync<PaymentFactRepository> {
  const p = sql.placeholder;
  const insertFact = db
    .insert(paymentFacts)
    .values({
      siteId: p('siteId'),
      kind: p('kind'),
      factKey: p('factKey'),
      memberId: p('memberId'),
      productId: p('productId'),
      sourceKey: p('sourceKey'),
      transactionId: p('transactionId'),
      parentTransactionId: p('parentTransactionId'),
      subscriptionId: p('subscriptionId'),
      payNumber: p('payNumber'),
      amountCents: p('amountCents'),
      occurredAt: p('occurredAt'),
      eventId: p('eventId'),
    })
    .onConflictDoNothing()
    .prepare();
  const factsForSource = db
    .select()
    .from(paymentFacts)
    .where(and(eq(paymentFacts.siteId, p('siteId')), eq(paymentFacts.sourceKey, p('sourceKey'))))
    .orderBy(asc(paymentFacts.occurredAt), asc(paymentFacts.id))
    .prepare();
  const paymentByTransaction = db
    .select()
    .from(paymentFacts)
    .where(and(eq(paymentFacts.siteId, p('siteId')), eq(paymentFacts.transactionId, p('transactionId')), inArray(paymentFacts.kind, ['purchase', 'rebill'])))
    .prepare();
  const latestPurchase = db
    .select({ sourceKey: paymentFacts.sourceKey })
    .from(paymentFacts)
    .where(
      and(
        eq(paymentFacts.siteId, p('siteId')),
        eq(paymentFacts.memberId, p('memberId')),
        eq(paymentFacts.productId, p('productId')),
        inArray(paymentFacts.kind, ['purchase', 'rebill']),
      ),
    )
    .orderBy(desc(paymentFacts.occurredAt))
    .limit(1)
    .prepare();

  return {
    record: (fact) => {
      insertFact.run(paymentFactColumns(fact));
    },
    forSource: (siteId, sourceKey) => factsForSource.all({ siteId, sourceKey }).map(toPaymentFact),
    forSources: (siteId, sourceKeys) =>
      groupBySource(
        sourceKeys.length === 0
          ? []
          : db
              .select()
              .from(paymentFacts)
              .where(and(eq(paymentFacts.siteId, siteId), inArray(paymentFacts.sourceKey, [...new Set(sourceKeys)])))
              .orderBy(asc(paymentFacts.occurredAt), asc(paymentFacts.id))
              .all()
              .map(toPaymentFact),
      ),
    findPaymentByTransaction: (siteId, transactionId) => {
      const row = paymentByTransaction.get({ siteId, transactionId });
      return row ? toPaymentFact(row) : null;
    },
    latestPurchaseSource: (siteId, memberId, productId) => latestPurchase.get({ siteId, memberId, productId })?.sourceKey ?? null,
    sourcesForProduct: (siteId, productId) =>
      db
        .selectDistinct({ sourceKey: paymentFacts.sourceKey, memberId: paymentFacts.memberId })
        .from(paymentFacts)
        .where(and(eq(paymentFacts.siteId, siteId), eq(paymentFacts.productId, productId)))
        .all(),
    listByKind: (siteId, kind, { since, limit }) =>
      db
        .select()
        .from(paymentFacts)
        .where(and(eq(paymentFacts.siteId, siteId), eq(paymentFacts.kind, kind), since ? gte(paymentFacts.occurredAt, toMs(since)) : undefined))
        .orderBy(desc(paymentFacts.occurredAt), desc(paymentFacts.id))
        .limit(limit)
        .all()
        .map(toPaymentFact),
  };
}
