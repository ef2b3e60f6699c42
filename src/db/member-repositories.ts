import { and, asc, eq, gt, or, sql } from 'drizzle-orm';
import type { MemberEmailChange } from '../domain/model';
import type { MemberRepository, ProductRepository } from '../domain/ports';
import type { Sync } from './sync';
import type { Db } from './database';
import { definedEntries, placeholderSet, preparedByColumns } from './prepared';
import { likePattern, toMember, toMemberEmailChange, toProduct } from './member-rows';
import { memberEmailChanges, members, productLevels, products } from './schema';
import { toMs } from './time-columns';

export function createMemberRepository(db: Db): Sync<MemberRepository> {
  const p = sql.placeholder;
  const byLeadId = db
    .select()
    .from(members)
    .where(and(eq(members.siteId, p('siteId')), eq(members.kartraLeadId, p('leadId'))))
    .prepare();
  const byEmail = db
    .select()
    .from(members)
    .where(and(eq(members.siteId, p('siteId')), eq(members.email, p('email'))))
    .orderBy(asc(members.id))
    .limit(1)
    .prepare();
  const byId = db
    .select()
    .from(members)
    .where(and(eq(members.siteId, p('siteId')), eq(members.id, p('memberId'))))
    .prepare();
  const insertMember = db
    .insert(members)
    .values({
      siteId: p('siteId'),
      kartraLeadId: p('kartraLeadId'),
      email: p('email'),
      firstName: p('firstName'),
      lastName: p('lastName'),
      createdAt: p('createdAt'),
      updatedAt: p('updatedAt'),
    })
    .returning()
    .prepare();
  const updateMember = preparedByColumns((columns) =>
    db
      .update(members)
      .set(placeholderSet(columns))
      .where(and(eq(members.siteId, p('whereSiteId')), eq(members.id, p('whereMemberId'))))
      .prepare(),
  );
  const insertEmailChange = db
    .insert(memberEmailChanges)
    .values({ siteId: p('siteId'), memberId: p('memberId'), previousEmail: p('previousEmail'), newEmail: p('newEmail'), eventId: p('eventId'), changedAt: p('changedAt') })
    .prepare();

  return {
    findByLeadId: (siteId, leadId) => {
      const row = byLeadId.get({ siteId, leadId });
      return row ? toMember(row) : null;
    },
    findByEmail: (siteId, email) => {
      const row = byEmail.get({ siteId, email });
      return row ? toMember(row) : null;
    },
    findById: (siteId, memberId) => {
      const row = byId.get({ siteId, memberId });
      return row ? toMember(row) : null;
    },
    create: (input) => {
      const row = insertMember.get({
        siteId: input.siteId,
        kartraLeadId: input.kartraLeadId,
        email: input.email,
        firstName: input.firstName,
        lastName: input.lastName,
        createdAt: toMs(input.createdAt),
        updatedAt: toMs(input.updatedAt),
      });
      if (!row) throw new Error('inserting the member returned no row');
      return toMember(row);
    },
    update: (siteId, memberId, changes) => {
      const { updatedAt, ...rest } = changes;
      const values = definedEntries({ ...rest, updatedAt: updatedAt ? toMs(updatedAt) : undefined });
      const columns = Object.keys(values);
      if (columns.length === 0) return;
      updateMember(columns).run({ ...values, whereSiteId: siteId, whereMemberId: memberId });
    },
    recordEmailChange: ({ siteId, memberId, previousEmail, newEmail, eventId, changedAt }) => {
      insertEmailChange.run({ siteId, memberId, previousEmail, newEmail, eventId, changedAt: toMs(changedAt) });
    },
    emailChanges: (siteId, memberId): MemberEmailChange[] =>
      db
        .select()
        .from(memberEmailChanges)
        .where(and(eq(memberEmailChanges.siteId, siteId), eq(memberEmailChanges.memberId, memberId)))
        .orderBy(asc(memberEmailChanges.id))
        .all()
        .map(toMemberEmailChange),
    search: (siteId, { email, query, limit, afterId }) => {
      const conditions = [eq(members.siteId, siteId)];
      if (afterId !== undefined) conditions.push(gt(members.id, afterId));
      if (email) conditions.push(eq(members.email, email.trim().toLowerCase()));
      // Blank text is no filter, as no text is (not a pattern "%%" that would also match every member with a name).
      if (query?.trim()) {
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


export function createProductRepository(db: Db): Sync<ProductRepository> {
  function levelIdsByProduct(siteId: number): Map<string, number[]> {
    const map = new Map<string, number[]>();
    for (const row of db.select().from(productLevels).where(eq(productLevels.siteId, siteId)).orderBy(asc(productLevels.levelId)).all()) {
      map.set(row.productId, [...(map.get(row.productId) ?? []), row.levelId]);
    }
    return map;
  }

  const p = sql.placeholder;
  // A product seen without a name keeps the name it had: `coalesce` keeps the stored one when the new one is null.
  const upsertSeen = db
    .insert(products)
    .values({ siteId: p('siteId'), productId: p('productId'), kartraName: p('kartraName'), firstSeenAt: p('at'), lastSeenAt: p('at') })
    .onConflictDoUpdate({
      target: [products.siteId, products.productId],
      set: {
        kartraName: sql`coalesce(${p('kartraName')}, ${products.kartraName})`,
        firstSeenAt: sql`min(coalesce(${products.firstSeenAt}, ${p('at')}), ${p('at')})`,
        lastSeenAt: sql`max(coalesce(${products.lastSeenAt}, ${p('at')}), ${p('at')})`,
      },
    })
    .prepare();
  const findProduct = db
    .select()
    .from(products)
    .where(and(eq(products.siteId, p('siteId')), eq(products.productId, p('productId'))))
    .prepare();
  const levelsOfProduct = db
    .select({ levelId: productLevels.levelId })
    .from(productLevels)
    .where(and(eq(productLevels.siteId, p('siteId')), eq(productLevels.productId, p('productId'))))
    .orderBy(asc(productLevels.levelId))
    .prepare();

  return {
    recordSeen: (siteId, productId, kartraName, seenAt) => {
      upsertSeen.run({ siteId, productId, kartraName: kartraName ?? null, at: toMs(seenAt) });
    },
    ensure: (siteId, productId) => {
      db.insert(products).values({ siteId, productId }).onConflictDoNothing().run();
    },
    find: (siteId, productId) => {
      const row = findProduct.get({ siteId, productId });
      if (!row) return null;
      return toProduct(
        row,
        levelsOfProduct.all({ siteId, productId }).map((level) => level.levelId),
      );
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
