import { and, asc, eq, inArray, isNotNull, lte, sql } from 'drizzle-orm';
import type { GrantRepository } from '../domain/ports';
import type { Sync } from './sync';
import type { Db } from './database';
import { definedEntries, placeholderSet, preparedByColumns } from './prepared';
import { newGrantColumns, toGrant, toGrantHistoryEntry } from './grant-rows';
import { grantHistory, grants } from './schema';
import { toMs, toMsOrNull } from './time-columns';

export function createGrantRepository(db: Db): Sync<GrantRepository> {
  const p = sql.placeholder;
  const insertGrant = db
    .insert(grants)
    .values({
      siteId: p('siteId'),
      memberId: p('memberId'),
      levelId: p('levelId'),
      sourceType: p('sourceType'),
      sourceKey: p('sourceKey'),
      productId: p('productId'),
      transactionId: p('transactionId'),
      subscriptionId: p('subscriptionId'),
      status: p('status'),
      revokedReason: p('revokedReason'),
      expiresAt: p('expiresAt'),
      createdAt: p('createdAt'),
      updatedAt: p('createdAt'),
    })
    .returning()
    .prepare();
  const updateGrant = preparedByColumns((columns) =>
    db
      .update(grants)
      .set(placeholderSet(columns))
      .where(and(eq(grants.siteId, p('whereSiteId')), eq(grants.id, p('whereGrantId'))))
      .prepare(),
  );
  const grantsForSource = db
    .select()
    .from(grants)
    .where(and(eq(grants.siteId, p('siteId')), eq(grants.sourceKey, p('sourceKey'))))
    .orderBy(asc(grants.id))
    .prepare();
  const activeOfSource = db
    .select()
    .from(grants)
    .where(and(eq(grants.siteId, p('siteId')), eq(grants.sourceKey, p('sourceKey')), eq(grants.status, 'active')))
    .orderBy(asc(grants.id))
    .prepare();
  const grantsForMember = db
    .select()
    .from(grants)
    .where(and(eq(grants.siteId, p('siteId')), eq(grants.memberId, p('memberId'))))
    .orderBy(asc(grants.id))
    .prepare();
  const insertHistory = db
    .insert(grantHistory)
    .values({
      siteId: p('siteId'),
      grantId: p('grantId'),
      memberId: p('memberId'),
      levelId: p('levelId'),
      change: p('change'),
      reason: p('reason'),
      eventId: p('eventId'),
      actor: p('actor'),
      at: p('at'),
    })
    .prepare();
  const historyEntry = db
    .select({ id: grantHistory.id })
    .from(grantHistory)
    .where(and(eq(grantHistory.siteId, p('siteId')), eq(grantHistory.grantId, p('grantId')), eq(grantHistory.change, p('change')), eq(grantHistory.eventId, p('eventId'))))
    .limit(1)
    .prepare();
  const historyOfMember = db
    .select()
    .from(grantHistory)
    .where(and(eq(grantHistory.siteId, p('siteId')), eq(grantHistory.memberId, p('memberId'))))
    .orderBy(asc(grantHistory.id))
    .prepare();
  const historyOfEvent = db
    .select()
    .from(grantHistory)
    .where(and(eq(grantHistory.siteId, p('siteId')), eq(grantHistory.eventId, p('eventId'))))
    .orderBy(asc(grantHistory.id))
    .prepare();

  return {
    create: (grant) => {
      const row = insertGrant.get(newGrantColumns(grant));
      if (!row) throw new Error('inserting the grant returned no row');
      return toGrant(row);
    },
    update: (siteId, grantId, changes, at) => {
      const { expiresAt, adminLocked, ...rest } = changes;
      const values = definedEntries({
        ...rest,
        // Bound directly, so the boolean column gets SQLite's 0/1 here.
        adminLocked: adminLocked === undefined ? undefined : adminLocked ? 1 : 0,
        expiresAt: expiresAt === undefined ? undefined : toMsOrNull(expiresAt),
        updatedAt: toMs(at),
      });
      updateGrant(Object.keys(values)).run({ ...values, whereSiteId: siteId, whereGrantId: grantId });
    },
    findById: (siteId, grantId) => {
      const row = db.select().from(grants).where(and(eq(grants.siteId, siteId), eq(grants.id, grantId))).get();
      return row ? toGrant(row) : null;
    },
    forSource: (siteId, sourceKey) => grantsForSource.all({ siteId, sourceKey }).map(toGrant),
    forMember: (siteId, memberId) => grantsForMember.all({ siteId, memberId }).map(toGrant),
    forMembers: (siteId, memberIds) =>
      memberIds.length === 0 ? [] : db.select().from(grants).where(and(eq(grants.siteId, siteId), inArray(grants.memberId, memberIds))).all().map(toGrant),
    activeForProduct: (siteId, productId) =>
      db
        .select()
        .from(grants)
        .where(and(eq(grants.siteId, siteId), eq(grants.productId, productId), eq(grants.status, 'active')))
        .all()
        .map(toGrant),
    activeForSource: (siteId, sourceKey) => activeOfSource.all({ siteId, sourceKey }).map(toGrant),
    countActiveByLevel: (siteId) =>
      db
        .select({ levelId: grants.levelId, memberCount: sql<number>`count(distinct ${grants.memberId})` })
        .from(grants)
        .where(and(eq(grants.siteId, siteId), eq(grants.status, 'active')))
        .groupBy(grants.levelId)
        .all(),
    countActiveMembersByProduct: (siteId, productIds) =>
      productIds.length === 0
        ? []
        : db
            .select({ productId: sql<string>`${grants.productId}`, memberCount: sql<number>`count(distinct ${grants.memberId})` })
            .from(grants)
            .where(and(eq(grants.siteId, siteId), inArray(grants.productId, productIds), eq(grants.status, 'active')))
            .groupBy(grants.productId)
            .all(),
    countAnyForLevel: (siteId, levelId) =>
      db
        .select({ count: sql<number>`count(*)` })
        .from(grants)
        .where(and(eq(grants.siteId, siteId), eq(grants.levelId, levelId)))
        .get()?.count ?? 0,
    dueForExpiry: (now, limit) =>
      db
        .select()
        .from(grants)
        .where(and(eq(grants.status, 'active'), isNotNull(grants.expiresAt), lte(grants.expiresAt, toMs(now))))
        .orderBy(asc(grants.expiresAt))
        .limit(limit)
        .all()
        .map(toGrant),
    addHistory: (entry) => {
      insertHistory.run({ ...entry, at: toMs(entry.at) });
    },
    hasHistory: (siteId, grantId, change, eventId) => historyEntry.get({ siteId, grantId, change, eventId }) !== undefined,
    historyForMember: (siteId, memberId) => historyOfMember.all({ siteId, memberId }).map(toGrantHistoryEntry),
    historyForEvent: (siteId, eventId) => historyOfEvent.all({ siteId, eventId }).map(toGrantHistoryEntry),
  };
}
