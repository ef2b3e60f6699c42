import { and, asc, eq, inArray, isNotNull, lte, sql } from 'drizzle-orm';
import type { Grant, GrantChange, GrantHistoryEntry, GrantSourceType, GrantStatus } from '../domain/model';
import type { GrantRepository } from '../domain/ports';
import type { Db } from './database';
import { grantHistory, grants } from './schema';
import { toDate, toDateOrNull, toMs, toMsOrNull } from './time-columns';

function toGrant(row: typeof grants.$inferSelect): Grant {
  return {
    ...row,
    sourceType: row.sourceType as GrantSourceType,
    status: row.status as GrantStatus,
    expiresAt: toDateOrNull(row.expiresAt),
    createdAt: toDate(row.createdAt),
    updatedAt: toDate(row.updatedAt),
  };
}

function toHistory(row: typeof grantHistory.$inferSelect): GrantHistoryEntry {
  return { ...row, change: row.change as GrantChange, at: toDate(row.at) };
}

export function createGrantRepository(db: Db): GrantRepository {
  return {
    create: (grant) =>
      toGrant(
        db
          .insert(grants)
          .values({ ...grant, expiresAt: toMsOrNull(grant.expiresAt), createdAt: toMs(grant.createdAt), updatedAt: toMs(grant.createdAt) })
          .returning()
          .get(),
      ),
    update: (siteId, grantId, changes, at) => {
      const { expiresAt, ...rest } = changes;
      db.update(grants)
        .set({ ...rest, ...(expiresAt !== undefined ? { expiresAt: toMsOrNull(expiresAt) } : {}), updatedAt: toMs(at) })
        .where(and(eq(grants.siteId, siteId), eq(grants.id, grantId)))
        .run();
    },
    findById: (siteId, grantId) => {
      const row = db.select().from(grants).where(and(eq(grants.siteId, siteId), eq(grants.id, grantId))).get();
      return row ? toGrant(row) : null;
    },
    forSource: (siteId, sourceKey) => db.select().from(grants).where(and(eq(grants.siteId, siteId), eq(grants.sourceKey, sourceKey))).orderBy(asc(grants.id)).all().map(toGrant),
    forMember: (siteId, memberId) => db.select().from(grants).where(and(eq(grants.siteId, siteId), eq(grants.memberId, memberId))).orderBy(asc(grants.id)).all().map(toGrant),
    forMembers: (siteId, memberIds) =>
      memberIds.length === 0 ? [] : db.select().from(grants).where(and(eq(grants.siteId, siteId), inArray(grants.memberId, memberIds))).all().map(toGrant),
    activeForProduct: (siteId, productId) =>
      db
        .select()
        .from(grants)
        .where(and(eq(grants.siteId, siteId), eq(grants.productId, productId), eq(grants.status, 'active')))
        .all()
        .map(toGrant),
    countActiveByLevel: (siteId) =>
      db
        .select({ levelId: grants.levelId, memberCount: sql<number>`count(distinct ${grants.memberId})` })
        .from(grants)
        .where(and(eq(grants.siteId, siteId), eq(grants.status, 'active')))
        .groupBy(grants.levelId)
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
      db.insert(grantHistory).values({ ...entry, at: toMs(entry.at) }).run();
    },
    hasHistory: (siteId, grantId, change, eventId) =>
      db
        .select({ id: grantHistory.id })
        .from(grantHistory)
        .where(and(eq(grantHistory.siteId, siteId), eq(grantHistory.grantId, grantId), eq(grantHistory.change, change), eq(grantHistory.eventId, eventId)))
        .get() !== undefined,
    historyForMember: (siteId, memberId) =>
      db.select().from(grantHistory).where(and(eq(grantHistory.siteId, siteId), eq(grantHistory.memberId, memberId))).orderBy(asc(grantHistory.id)).all().map(toHistory),
    historyForEvent: (siteId, eventId) =>
      db.select().from(grantHistory).where(and(eq(grantHistory.siteId, siteId), eq(grantHistory.eventId, eventId))).orderBy(asc(grantHistory.id)).all().map(toHistory),
  };
}
