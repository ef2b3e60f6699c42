import { and, asc, eq, gt, or, sql, type SQL } from 'drizzle-orm';
import type { MemberRepository, ProductRepository } from '../../domain/ports';
import { likePattern, toMember, toMemberEmailChange, toProduct } from '../member-rows';
import { definedEntries } from '../prepared';
import { toMs } from '../time-columns';
import type { PgDb } from './database';
import { memberEmailChanges, members, productLevels, products } from './schema';

/**
 * Product ids in SQLite's order (bytewise, its BINARY collation) whatever the database's collation, so a list of
 * mappings reads the same on both engines.
 */
const productIdBytewise = sql`${products.productId} collate "C"`;

// EXPLAIN, 6,000 members on 3 sites: findByEmail and search by email use members_site_email_idx; ILIKE '%…%' walks members_pkey.
export function createMemberRepository(db: PgDb): MemberRepository {
  return {
    findByLeadId: async (siteId, leadId) => {
      const [row] = await db
        .select()
        .from(members)
        .where(and(eq(members.siteId, siteId), eq(members.kartraLeadId, leadId)));
      return row ? toMember(row) : null;
    },
    findByEmail: async (siteId, email) => {
      const [row] = await db
        .select()
        .from(members)
        .where(and(eq(members.siteId, siteId), eq(members.email, email)))
        .orderBy(asc(members.id))
        .limit(1);
      return row ? toMember(row) : null;
    },
    findById: async (siteId, memberId) => {
      const [row] = await db
        .select()
        .from(members)
        .where(and(eq(members.siteId, siteId), eq(members.id, memberId)));
      return row ? toMember(row) : null;
    },
    create: async (input) => {
      const [row] = await db
        .insert(members)
        .values({
          siteId: input.siteId,
          kartraLeadId: input.kartraLeadId,
          email: input.email,
          firstName: input.firstName,
          lastName: input.lastName,
          createdAt: toMs(input.createdAt),
          updatedAt: toMs(input.updatedAt),
        })
        .returning();
      if (!row) throw new Error('inserting the member returned no row');
      return toMember(row);
    },
    update: async (siteId, memberId, changes) => {
      const { updatedAt, ...rest } = changes;
      const values = definedEntries({ ...rest, updatedAt: updatedAt ? toMs(updatedAt) : undefined });
      if (Object.keys(values).length === 0) return;
      await db
        .update(members)
        .set(values)
        .where(and(eq(members.siteId, siteId), eq(members.id, memberId)));
    },
    recordEmailChange: async ({ siteId, memberId, previousEmail, newEmail, eventId, changedAt }) => {
      await db.insert(memberEmailChanges).values({ siteId, memberId, previousEmail, newEmail, eventId, changedAt: toMs(changedAt) });
    },
    emailChanges: async (siteId, memberId) =>
      (
        await db
          .select()
          .from(memberEmailChanges)
          .where(and(eq(memberEmailChanges.siteId, siteId), eq(memberEmailChanges.memberId, memberId)))
          .orderBy(asc(memberEmailChanges.id))
      ).map(toMemberEmailChange),
    search: async (siteId, { email, query, limit, afterId }) => {
      const conditions: (SQL | undefined)[] = [eq(members.siteId, siteId)];
      if (afterId !== undefined) conditions.push(gt(members.id, afterId));
      if (email) conditions.push(eq(members.email, email.trim().toLowerCase()));
      // Blank text is no filter, as no text is (not a pattern "%%" that would also match every member with a name).
      if (query?.trim()) {
        // ILIKE, as SQLite's LIKE ignores case; a null first or last name makes the full name null there and here.
        const pattern = likePattern(query.trim());
        conditions.push(
          or(
            sql`${members.email} ILIKE ${pattern} ESCAPE '\\'`,
            sql`${members.firstName} ILIKE ${pattern} ESCAPE '\\'`,
            sql`${members.lastName} ILIKE ${pattern} ESCAPE '\\'`,
            sql`(${members.firstName} || ' ' || ${members.lastName}) ILIKE ${pattern} ESCAPE '\\'`,
            eq(members.kartraLeadId, query.trim()),
          ),
        );
      }
      const rows = await db
        .select()
        .from(members)
        .where(and(...conditions))
        .orderBy(asc(members.id))
        .limit(limit);
      return rows.map(toMember);
    },
  };
}

export function createProductRepository(db: PgDb): ProductRepository {
  async function levelIdsByProduct(siteId: number): Promise<Map<string, number[]>> {
    const map = new Map<string, number[]>();
    const rows = await db.select().from(productLevels).where(eq(productLevels.siteId, siteId)).orderBy(asc(productLevels.levelId));
    for (const row of rows) map.set(row.productId, [...(map.get(row.productId) ?? []), row.levelId]);
    return map;
  }

  const ofProduct = (siteId: number, productId: string) => and(eq(productLevels.siteId, siteId), eq(productLevels.productId, productId));

  return {
    recordSeen: async (siteId, productId, kartraName, seenAt) => {
      const at = toMs(seenAt);
      // A product seen without a name keeps the name it had: `coalesce` keeps the stored one when the new one is null.
      // Times may arrive out of order, so the first and last seen only ever widen. The row is every purchase's of the
      // product: SKIP LOCKED leaves it to a unit already writing it rather than queue behind that unit's commit (the
      // intake writes a sighting only when it tells something new, to the minute).
      const updated = await db
        .update(products)
        .set({
          kartraName: sql`coalesce(${kartraName ?? null}::text, ${products.kartraName})`,
          firstSeenAt: sql`least(coalesce(${products.firstSeenAt}, ${at}::bigint), ${at}::bigint)`,
          lastSeenAt: sql`greatest(coalesce(${products.lastSeenAt}, ${at}::bigint), ${at}::bigint)`,
        })
        .where(
          sql`(${products.siteId}, ${products.productId}) = (select p.site_id, p.product_id from ${products} p where p.site_id = ${siteId} and p.product_id = ${productId} for update skip locked)`,
        )
        .returning({ productId: products.productId });
      if (updated.length > 0) return;
      // Not there yet (or another unit is writing it): a unit inserting the same product at once makes this one wait
      // for it and then do nothing.
      await db.insert(products).values({ siteId, productId, kartraName: kartraName ?? null, firstSeenAt: at, lastSeenAt: at }).onConflictDoNothing();
    },
    ensure: async (siteId, productId) => {
      // A concurrent unit inserting the same product makes this one wait for it and then do nothing.
      await db.insert(products).values({ siteId, productId }).onConflictDoNothing();
    },
    find: async (siteId, productId) => {
      // The product and its levels in one round trip: every money event reads them.
      const [row] = await db
        .select({
          product: products,
          levelIds: sql<number[]>`coalesce((select array_agg(${productLevels.levelId} order by ${productLevels.levelId}) from ${productLevels} where ${ofProduct(siteId, productId)}), '{}')`,
        })
        .from(products)
        .where(and(eq(products.siteId, siteId), eq(products.productId, productId)));
      return row ? toProduct(row.product, row.levelIds) : null;
    },
    setLevels: async (siteId, productId, levelIds, billingPeriodDays, at) => {
      // The UPDATE comes first for the product row's lock: two units mapping one product at once then replace its
      // levels one after the other (the second DELETE, a new statement, sees the first's rows), never mixing them. No
      // ON CONFLICT here: without a product row a racing insert fails with a unique violation and the unit is retried.
      await db.update(products).set({ billingPeriodDays }).where(and(eq(products.siteId, siteId), eq(products.productId, productId)));
      await db.delete(productLevels).where(ofProduct(siteId, productId));
      if (levelIds.length > 0) await db.insert(productLevels).values(levelIds.map((levelId) => ({ siteId, productId, levelId, createdAt: toMs(at) })));
    },
    clearLevels: async (siteId, productId) => {
      // Under the same row lock as setLevels, so a mapping deleted while another unit saves it does not outlive it.
      await db
        .select({ productId: products.productId })
        .from(products)
        .where(and(eq(products.siteId, siteId), eq(products.productId, productId)))
        .for('update');
      await db.delete(productLevels).where(ofProduct(siteId, productId));
    },
    listMapped: async (siteId) => {
      const levels = await levelIdsByProduct(siteId);
      const rows = await db.select().from(products).where(eq(products.siteId, siteId)).orderBy(asc(productIdBytewise));
      return rows.filter((row) => levels.has(row.productId)).map((row) => toProduct(row, levels.get(row.productId) ?? []));
    },
    listDiscovered: async (siteId) => {
      const levels = await levelIdsByProduct(siteId);
      // SQLite sorts nulls lowest, so a product never seen (only ensured) comes last there; the product id breaks ties,
      // which SQLite leaves to its plan (the primary key's order).
      const rows = await db
        .select()
        .from(products)
        .where(eq(products.siteId, siteId))
        .orderBy(sql`${products.lastSeenAt} desc nulls last`, asc(productIdBytewise));
      return rows.filter((row) => !levels.has(row.productId)).map((row) => toProduct(row, []));
    },
    productIdsForLevel: async (siteId, levelId) => {
      // Ordered as SQLite returns them (it reads the primary key, site then product): the ids end up in a message.
      const rows = await db
        .select({ productId: productLevels.productId })
        .from(productLevels)
        .where(and(eq(productLevels.siteId, siteId), eq(productLevels.levelId, levelId)))
        .orderBy(sql`${productLevels.productId} collate "C"`);
      return rows.map((row) => row.productId);
    },
  };
}
