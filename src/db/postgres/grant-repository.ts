import { and, asc, count, countDistinct, eq, inArray, isNotNull, lte, sql } from 'drizzle-orm';
import type { GrantRepository } from '../../domain/ports';
import { newGrantColumns, toGrant, toGrantHistoryEntry } from '../grant-rows';
import { definedEntries } from '../prepared';
import { toMs, toMsOrNull } from '../time-columns';
import type { PgDb } from './database';
import { grantHistory, grants } from './schema';

export function createGrantRepository(db: PgDb): GrantRepository {
  return {
    create: async (grant) => {
      // A plain INSERT: a unit that races another to the same (site, member, source, level) fails with a unique
      // violation and is retried, and then finds the other's grant, rather than carrying on with a row it did not read.
      const [row] = await db
        .insert(grants)
        .values({ ...newGrantColumns(grant), updatedAt: toMs(grant.createdAt) })
        .returning();
      if (!row) throw new Error('inserting the grant returned no row');
      return toGrant(row);
    },
    update: async (siteId, grantId, changes, at) => {
      const { expiresAt, ...rest } = changes;
      const values = definedEntries({
        ...rest,
        expiresAt: expiresAt === undefined ? undefined : toMsOrNull(expiresAt),
        updatedAt: toMs(at),
      });
      await db
        .update(grants)
        .set(values)
        .where(and(eq(grants.siteId, siteId), eq(grants.id, grantId)));
    },
    findById: async (siteId, grantId) => {
      const [row] = await db
        .select()
        .from(grants)
        .where(and(eq(grants.siteId, siteId), eq(grants.id, grantId)));
      return row ? toGrant(row) : null;
    },
    forSource: async (siteId, sourceKey) =>
      (
        await db
          .select()
          .from(grants)
          .where(and(eq(grants.siteId, siteId), eq(grants.sourceKey, sourceKey)))
          .orderBy(asc(grants.id))
      ).map(toGrant),
    forMember: async (siteId, memberId) =>
      (
        await db
          .select()
          .from(grants)
          .where(and(eq(grants.siteId, siteId), eq(grants.memberId, memberId)))
          .orderBy(asc(grants.id))
      ).map(toGrant),
    forMembers: async (siteId, memberIds) => {
      if (memberIds.length === 0) return [];
      // SQLite's order (it reads grants_site_member_idx): each member's grants oldest first, as forMember gives them.
      const rows = await db
        .select()
        .from(grants)
        .where(and(eq(grants.siteId, siteId), inArray(grants.memberId, memberIds)))
        .orderBy(asc(grants.memberId), asc(grants.id));
      return rows.map(toGrant);
    },
    activeForProduct: async (siteId, productId) => {
      // Oldest first, so revoking a product's grants writes their history in a stable order; SQLite leaves it to its plan.
      const rows = await db
        .select()
        .from(grants)
        .where(and(eq(grants.siteId, siteId), eq(grants.productId, productId), eq(grants.status, 'active')))
        .orderBy(asc(grants.id));
      return rows.map(toGrant);
    },
    activeForSource: async (siteId, sourceKey) => {
      const rows = await db
        .select()
        .from(grants)
        .where(and(eq(grants.siteId, siteId), eq(grants.sourceKey, sourceKey), eq(grants.status, 'active')))
        .orderBy(asc(grants.id));
      return rows.map(toGrant);
    },
    // count() and countDistinct() turn pg's bigint count, which arrives as a string, into a number.
    countActiveByLevel: async (siteId) =>
      // By level, as SQLite gives them (it groups along grants_site_level_idx); a hash aggregate here would not.
      await db
        .select({ levelId: grants.levelId, memberCount: countDistinct(grants.memberId) })
        .from(grants)
        .where(and(eq(grants.siteId, siteId), eq(grants.status, 'active')))
        .groupBy(grants.levelId)
        .orderBy(asc(grants.levelId)),
    countActiveMembersByProduct: async (siteId, productIds) =>
      productIds.length === 0
        ? []
        : await db
            .select({ productId: sql<string>`${grants.productId}`, memberCount: countDistinct(grants.memberId) })
            .from(grants)
            .where(and(eq(grants.siteId, siteId), inArray(grants.productId, productIds), eq(grants.status, 'active')))
            .groupBy(grants.productId)
            .orderBy(asc(grants.productId)),
    countAnyForLevel: async (siteId, levelId) => {
      const [row] = await db
        .select({ count: count() })
        .from(grants)
        .where(and(eq(grants.siteId, siteId), eq(grants.levelId, levelId)));
      return row?.count ?? 0;
    },
    // EXPLAIN, 4,000 grants: Index Scan on the partial grants_due_idx (Index Cond expires_at <= now), already in order.
    dueForExpiry: async (now, limit) =>
      (
        await db
          .select()
          .from(grants)
          // 'active' as a literal: a bound status matches the partial index only in a custom plan, never a generic one.
          .where(and(sql`${grants.status} = 'active'`, isNotNull(grants.expiresAt), lte(grants.expiresAt, toMs(now))))
          .orderBy(asc(grants.expiresAt))
          .limit(limit)
      ).map(toGrant),
    addHistory: async (entry) => {
      await db.insert(grantHistory).values({ ...entry, at: toMs(entry.at) });
    },
    hasHistory: async (siteId, grantId, change, eventId) => {
      const rows = await db
        .select({ id: grantHistory.id })
        .from(grantHistory)
        .where(and(eq(grantHistory.siteId, siteId), eq(grantHistory.grantId, grantId), eq(grantHistory.change, change), eq(grantHistory.eventId, eventId)))
        .limit(1);
      return rows.length > 0;
    },
    historyForMember: async (siteId, memberId) =>
      (
        await db
          .select()
          .from(grantHistory)
          .where(and(eq(grantHistory.siteId, siteId), eq(grantHistory.memberId, memberId)))
          .orderBy(asc(grantHistory.id))
      ).map(toGrantHistoryEntry),
    historyForEvent: async (siteId, eventId) =>
      (
        await db
          .select()
          .from(grantHistory)
          .where(and(eq(grantHistory.siteId, siteId), eq(grantHistory.eventId, eventId)))
          .orderBy(asc(grantHistory.id))
      ).map(toGrantHistoryEntry),
  };
}
