import { and, asc, eq, gt, or, sql } from 'drizzle-orm';
import type { Member, MemberEmailChange, Product } from '../domain/model';
import type { MemberRepository, ProductRepository } from '../domain/ports';
import type { Db } from './database';
import { memberEmailChanges, members, productLevels, products } from './schema';
import { toDate, toDateOrNull, toMs } from './time-columns';

function toMember(row: typeof members.$inferSelect): Member {
  return { ...row, createdAt: toDate(row.createdAt), updatedAt: toDate(row.updatedAt) };
}

/** Escapes LIKE wildcards so a search for "a_b%" finds exactly that text. */
function likePattern(text: string): string {
  return `%${text.replace(/[\\%_]/g, (char) => `\\${char}`)}%`;
}

export function createMemberRepository(db: Db): MemberRepository {
  return {
    findByLeadId: (siteId, leadId) => {
      const row = db.select().from(members).where(and(eq(members.siteId, siteId), eq(members.kartraLeadId, leadId))).get();
      return row ? toMember(row) : null;
    },
    findByEmail: (siteId, email) => {
      const row = db.select().from(members).where(and(eq(members.siteId, siteId), eq(members.email, email))).orderBy(asc(members.id)).get();
      return row ? toMember(row) : null;
    },
    findById: (siteId, memberId) => {
      const row = db.select().from(members).where(and(eq(members.siteId, siteId), eq(members.id, memberId))).get();
      return row ? toMember(row) : null;
    },
    create: (input) =>
      toMember(db.insert(members).values({ ...input, createdAt: toMs(input.createdAt), updatedAt: toMs(input.updatedAt) }).returning().get()),
    update: (siteId, memberId, changes) => {
      const { updatedAt, ...rest } = changes;
      db.update(members)
        .set({ ...rest, ...(updatedAt ? { updatedAt: toMs(updatedAt) } : {}) })
        .where(and(eq(members.siteId, siteId), eq(members.id, memberId)))
        .run();
    },
    recordEmailChange: ({ siteId, memberId, previousEmail, newEmail, eventId, changedAt }) => {
      db.insert(memberEmailChanges).values({ siteId, memberId, previousEmail, newEmail, eventId, changedAt: toMs(changedAt) }).run();
    },
    emailChanges: (siteId, memberId): MemberEmailChange[] =>
      db
        .select()
        .from(memberEmailChanges)
        .where(and(eq(memberEmailChanges.siteId, siteId), eq(memberEmailChanges.memberId, memberId)))
        .orderBy(asc(memberEmailChanges.id))
        .all()
        .map((row) => ({ id: row.id, memberId: row.memberId, previousEmail: row.previousEmail, newEmail: row.newEmail, eventId: row.eventId, changedAt: toDate(row.changedAt) })),
    search: (siteId, { email, query, limit, afterId }) => {
      const conditions = [eq(members.siteId, siteId)];
      if (afterId !== undefined) conditions.push(gt(members.id, afterId));
      if (email) conditions.push(eq(members.email, email.trim().toLowerCase()));
      if (query) {
        const pattern = likePattern(query.trim());
        const nameMatch = or(
          sql`${members.email} LIKE ${pattern} ESCAPE '\\'`,
          sql`${members.firstName} LIKE ${pattern} ESCAPE '\\'`,
          sql`${members.lastName} LIKE ${pattern} ESCAPE '\\'`,
          sql`(${members.firstName} || ' ' || ${members.lastName}) LIKE ${pattern} ESCAPE '\\'`,
          eq(members.kartraLeadId, query.trim()),
        );
        if (nameMatch) conditions.push(nameMatch);
      }
      return db.select().from(members).where(and(...conditions)).orderBy(asc(members.id)).limit(limit).all().map(toMember);
    },
  };
}


export function createProductRepository(db: Db): ProductRepository {
  function levelIdsByProduct(siteId: number): Map<string, number[]> {
    const map = new Map<string, number[]>();
    for (const row of db.select().from(productLevels).where(eq(productLevels.siteId, siteId)).orderBy(asc(productLevels.levelId)).all()) {
      map.set(row.productId, [...(map.get(row.productId) ?? []), row.levelId]);
    }
    return map;
  }

  function toProduct(row: typeof products.$inferSelect, levelIds: number[]): Product {
    return {
      siteId: row.siteId,
      productId: row.productId,
      kartraName: row.kartraName,
      firstSeenAt: toDateOrNull(row.firstSeenAt),
      lastSeenAt: toDateOrNull(row.lastSeenAt),
      billingPeriodDays: row.billingPeriodDays,
      levelIds,
    };
  }

  return {
    recordSeen: (siteId, productId, kartraName, seenAt) => {
      const at = toMs(seenAt);
      db.insert(products)
        .values({ siteId, productId, kartraName: kartraName ?? null, firstSeenAt: at, lastSeenAt: at })
        .onConflictDoUpdate({
          target: [products.siteId, products.productId],
          set: {
            kartraName: kartraName === undefined ? sql`${products.kartraName}` : kartraName,
            firstSeenAt: sql`min(coalesce(${products.firstSeenAt}, ${at}), ${at})`,
            lastSeenAt: sql`max(coalesce(${products.lastSeenAt}, ${at}), ${at})`,
          },
        })
        .run();
    },
    ensure: (siteId, productId) => {
      db.insert(products).values({ siteId, productId }).onConflictDoNothing().run();
    },
    find: (siteId, productId) => {
      const row = db.select().from(products).where(and(eq(products.siteId, siteId), eq(products.productId, productId))).get();
      if (!row) return null;
      const levelIds = db
        .select({ levelId: productLevels.levelId })
        .from(productLevels)
        .where(and(eq(productLevels.siteId, siteId), eq(productLevels.productId, productId)))
        .orderBy(asc(productLevels.levelId))
        .all()
        .map((level) => level.levelId);
      return toProduct(row, levelIds);
    },
    setLevels: (siteId, productId, levelIds, billingPeriodDays, at) => {
      db.delete(productLevels).where(and(eq(productLevels.siteId, siteId), eq(productLevels.productId, productId))).run();
      for (const levelId of levelIds) db.insert(productLevels).values({ siteId, productId, levelId, createdAt: toMs(at) }).run();
      db.update(products).set({ billingPeriodDays }).where(and(eq(products.siteId, siteId), eq(products.productId, productId))).run();
    },
    clearLevels: (siteId, productId) => {
      db.delete(productLevels).where(and(eq(productLevels.siteId, siteId), eq(productLevels.productId, productId))).run();
    },
    listMapped: (siteId) => {
      const levels = levelIdsByProduct(siteId);
      return db
        .select()
        .from(products)
        .where(eq(products.siteId, siteId))
        .orderBy(asc(products.productId))
        .all()
        .filter((row) => levels.has(row.productId))
        .map((row) => toProduct(row, levels.get(row.productId) ?? []));
    },
    listDiscovered: (siteId) => {
      const levels = levelIdsByProduct(siteId);
      return db
        .select()
        .from(products)
        .where(eq(products.siteId, siteId))
        .orderBy(sql`${products.lastSeenAt} desc`)
        .all()
        .filter((row) => !levels.has(row.productId))
        .map((row) => toProduct(row, []));
    },
    productIdsForLevel: (siteId, levelId) =>
      db
        .select({ productId: productLevels.productId })
        .from(productLevels)
        .where(and(eq(productLevels.siteId, siteId), eq(productLevels.levelId, levelId)))
        .all()
        .map((row) => row.productId),
  };
}
