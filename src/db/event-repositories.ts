import { and, asc, desc, eq, gte, inArray, isNull, lt, lte, sql } from 'drizzle-orm';
import type { EventStatus, PaymentFact, PaymentFactKind, WebhookEventRecord } from '../domain/model';
import type { PaymentFactRepository, WebhookEventRepository } from '../domain/ports';
import type { Db } from './database';
import { definedEntries, placeholderSet, preparedByColumns } from './prepared';
import { eventFingerprints, paymentFacts, webhookEvents } from './schema';
import { toDate, toDateOrNull, toMs, toMsOrNull } from './time-columns';

function parseJson<T>(text: string | null, fallback: T): T {
  if (text === null) return fallback;
  try {
    return JSON.parse(text) as T;
  } catch {
    return fallback;
  }
}

function toEvent(row: typeof webhookEvents.$inferSelect): WebhookEventRecord {
  return {
    ...row,
    receivedAt: toDate(row.receivedAt),
    rawBodyPrunedAt: toDateOrNull(row.rawBodyPrunedAt),
    status: row.status as EventStatus,
    headers: parseJson<Record<string, string>>(row.headersJson, {}),
    kartraTimeAt: toDateOrNull(row.kartraTimeAt),
    parsed: parseJson<unknown>(row.parsedJson, null),
    notes: parseJson<{ path: string; message: string }[]>(row.notesJson, []),
    processedAt: toDateOrNull(row.processedAt),
  };
}

const undefinedIfMissing = <T, R>(value: T | undefined, map: (value: T) => R): R | undefined => (value === undefined ? undefined : map(value));

export function createWebhookEventRepository(db: Db): WebhookEventRepository {
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
      const changes = definedEntries({
        status: outcome.status,
        channel: outcome.channel,
        fingerprint: outcome.fingerprint,
        duplicateOfEventId: outcome.duplicateOfEventId,
        kind: outcome.kind,
        action: outcome.action,
        productId: outcome.productId,
        leadId: outcome.leadId,
        email: outcome.email,
        transactionId: outcome.transactionId,
        memberId: outcome.memberId,
        kartraTimeRaw: outcome.kartraTimeRaw,
        kartraTimeAt: undefinedIfMissing(outcome.kartraTimeAt, toMsOrNull),
        parsedJson: undefinedIfMissing(outcome.parsed, (parsed) => JSON.stringify(parsed)),
        notesJson: undefinedIfMissing(outcome.notes, (notes) => JSON.stringify(notes)),
        summary: outcome.summary,
        error: outcome.error,
        processedAt: toMs(outcome.processedAt),
      });
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
      return row ? toEvent(row) : null;
    },
    list: (siteId, query) => {
      const conditions = [eq(webhookEvents.siteId, siteId)];
      if (query.statuses?.length) conditions.push(inArray(webhookEvents.status, query.statuses));
      if (query.action) conditions.push(eq(webhookEvents.action, query.action));
      if (query.productId) conditions.push(eq(webhookEvents.productId, query.productId));
      if (query.email) conditions.push(eq(webhookEvents.email, query.email.trim().toLowerCase()));
      if (query.since) conditions.push(gte(webhookEvents.receivedAt, toMs(query.since)));
      if (query.until) conditions.push(lte(webhookEvents.receivedAt, toMs(query.until)));
      if (query.beforeId !== undefined) conditions.push(lt(webhookEvents.id, query.beforeId));
      return db
        .select()
        .from(webhookEvents)
        .where(and(...conditions))
        .orderBy(desc(webhookEvents.id))
        .limit(query.limit)
        .all()
        .map(toEvent);
    },
    idsForReapply: (siteId, filter) => {
      const conditions = [eq(webhookEvents.siteId, siteId), inArray(webhookEvents.status, filter.statuses), isNull(webhookEvents.rawBodyPrunedAt)];
      if (filter.since) conditions.push(gte(webhookEvents.receivedAt, toMs(filter.since)));
      if (filter.productId) conditions.push(eq(webhookEvents.productId, filter.productId));
      return db
        .select({ id: webhookEvents.id })
        .from(webhookEvents)
        .where(and(...conditions))
        .orderBy(asc(webhookEvents.id))
        .all()
        .map((row) => row.id);
    },
    productActivity: (siteId, productIds) => {
      if (productIds.length === 0) return [];
      return db
        .select({
          productId: sql<string>`${webhookEvents.productId}`,
          eventCount: sql<number>`count(*)`,
          buyerCount: sql<number>`count(distinct case when ${webhookEvents.kind} in ('purchase', 'rebill') then coalesce(${webhookEvents.leadId}, ${webhookEvents.email}) end)`,
        })
        .from(webhookEvents)
        .where(and(eq(webhookEvents.siteId, siteId), inArray(webhookEvents.productId, productIds), sql`${webhookEvents.status} <> 'duplicate'`))
        .groupBy(webhookEvents.productId)
        .all();
    },
    countUnmapped: (siteId, productId) => {
      const row = db
        .select({ events: sql<number>`count(*)`, people: sql<number>`count(distinct coalesce(${webhookEvents.leadId}, ${webhookEvents.email}))` })
        .from(webhookEvents)
        .where(and(eq(webhookEvents.siteId, siteId), eq(webhookEvents.productId, productId), eq(webhookEvents.status, 'unmapped')))
        .get();
      return { events: row?.events ?? 0, people: row?.people ?? 0 };
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
    lastReceivedByAction: (siteId) =>
      db
        .select({ action: sql<string>`coalesce(${webhookEvents.action}, '(unparsed)')`, at: sql<number>`max(${webhookEvents.receivedAt})` })
        .from(webhookEvents)
        .where(eq(webhookEvents.siteId, siteId))
        .groupBy(webhookEvents.action)
        .all()
        .map((row) => ({ action: row.action, at: toDate(row.at) })),
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
    countByQuarterHourAndStatus: (siteId, since) => {
      const quarterHourMs = 15 * 60 * 1000;
      const bucket = sql<number>`(${webhookEvents.receivedAt} / ${quarterHourMs}) * ${quarterHourMs}`;
      return db
        .select({ bucketStart: bucket, status: webhookEvents.status, count: sql<number>`count(*)` })
        .from(webhookEvents)
        .where(and(eq(webhookEvents.siteId, siteId), gte(webhookEvents.receivedAt, toMs(since))))
        .groupBy(bucket, webhookEvents.status)
        .all()
        .map((row) => ({ bucketStart: toDate(row.bucketStart), status: row.status as EventStatus, count: row.count }));
    },
    claimFingerprint: (siteId, fingerprint, eventId) => {
      insertFingerprint.run({ siteId, fingerprint, eventId });
      return fingerprintOwner.get({ siteId, fingerprint })?.eventId ?? eventId;
    },
  };
}

function toFact(row: typeof paymentFacts.$inferSelect): PaymentFact {
  return {
    id: row.id,
    siteId: row.siteId,
    kind: row.kind as PaymentFactKind,
    memberId: row.memberId,
    productId: row.productId,
    sourceKey: row.sourceKey,
    transactionId: row.transactionId,
    parentTransactionId: row.parentTransactionId,
    subscriptionId: row.subscriptionId,
    payNumber: row.payNumber,
    amountCents: row.amountCents,
    occurredAt: toDate(row.occurredAt),
    eventId: row.eventId,
  };
}

export function createPaymentFactRepository(db: Db): PaymentFactRepository {
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
      insertFact.run({
        siteId: fact.siteId,
        kind: fact.kind,
        factKey: fact.factKey,
        memberId: fact.memberId,
        productId: fact.productId,
        sourceKey: fact.sourceKey,
        transactionId: fact.transactionId,
        parentTransactionId: fact.parentTransactionId,
        subscriptionId: fact.subscriptionId,
        payNumber: fact.payNumber,
        amountCents: fact.amountCents,
        occurredAt: toMs(fact.occurredAt),
        eventId: fact.eventId,
      });
    },
    forSource: (siteId, sourceKey) => factsForSource.all({ siteId, sourceKey }).map(toFact),
    findPaymentByTransaction: (siteId, transactionId) => {
      const row = paymentByTransaction.get({ siteId, transactionId });
      return row ? toFact(row) : null;
    },
    latestPurchaseSource: (siteId, memberId, productId) => latestPurchase.get({ siteId, memberId, productId })?.sourceKey ?? null,
    sourcesForProduct: (siteId, productId) =>
      db
        .selectDistinct({ sourceKey: paymentFacts.sourceKey, memberId: paymentFacts.memberId })
        .from(paymentFacts)
        .where(and(eq(paymentFacts.siteId, siteId), eq(paymentFacts.productId, productId)))
        .all(),
    listByKind: (siteId, kind, limit) =>
      db
        .select()
        .from(paymentFacts)
        .where(and(eq(paymentFacts.siteId, siteId), eq(paymentFacts.kind, kind)))
        .orderBy(desc(paymentFacts.occurredAt))
        .limit(limit)
        .all()
        .map(toFact),
  };
}
