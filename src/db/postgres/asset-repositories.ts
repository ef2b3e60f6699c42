import { and, asc, eq, isNotNull, isNull, or, sql, type SQL } from 'drizzle-orm';
import type { AnyPgColumn } from 'drizzle-orm/pg-core';
import type { AssetFactRepository, AssetRepository } from '../../domain/ports';
import { assetChangeColumns, assetFactColumns, newAssetColumns, toAssetFact, toKartraAsset } from '../asset-rows';
import { definedEntries } from '../prepared';
import { toMs } from '../time-columns';
import type { PgDb } from './database';
import { assetFacts, assetLevels, kartraAssets } from './schema';

// The PostgreSQL twin of ../asset-repositories.ts, in SQLite's order: text is compared in the C collation (bytewise,
// as SQLite's BINARY does) and lower() under it folds ASCII letters only, as SQLite's does, so the mapping pages list
// assets alike on both engines whatever the database's collation.

const bytewise = (column: AnyPgColumn) => sql`${column} collate "C"`;

/**
 * The asset row's levels, correlated by qualified names: drizzle writes a column in a select list without its table,
 * and inside the subquery a bare "site_id" would be asset_levels' own.
 */
const ofAssetRow = sql`al.site_id = ${sql.identifier('kartra_assets')}.site_id and al.asset_key = ${sql.identifier('kartra_assets')}.key`;

/** The asset's levels, ascending, in the same round trip as the asset: every tag or membership event reads them. */
const levelIdsOfRow = sql<number[]>`coalesce((select array_agg(al.level_id order by al.level_id) from ${assetLevels} al where ${ofAssetRow}), '{}')`;

const hasLevels = sql`exists (select 1 from ${assetLevels} al where ${ofAssetRow})`;

const byKindThenName: SQL[] = [
  bytewise(kartraAssets.kind),
  sql`lower(coalesce(${kartraAssets.membershipName}, '') collate "C")`,
  sql`lower(coalesce(${kartraAssets.name}, '') collate "C")`,
  bytewise(kartraAssets.key),
];

export function createAssetRepository(db: PgDb): AssetRepository {
  const selectAssets = () => db.select({ asset: kartraAssets, levelIds: levelIdsOfRow }).from(kartraAssets);
  const toAssets = (rows: { asset: typeof kartraAssets.$inferSelect; levelIds: number[] }[]) => rows.map((row) => toKartraAsset(row.asset, row.levelIds));
  const ofAsset = (siteId: number, key: string) => and(eq(assetLevels.siteId, siteId), eq(assetLevels.assetKey, key));

  /**
   * Takes the asset row's lock, so two units mapping one asset at once replace its levels one after the other (the
   * second DELETE, a new statement, sees the first's rows), never mixing them. Without an asset row a racing insert
   * fails with a unique violation and the unit is retried.
   */
  async function lockAsset(siteId: number, key: string): Promise<void> {
    await db
      .select({ key: kartraAssets.key })
      .from(kartraAssets)
      .where(and(eq(kartraAssets.siteId, siteId), eq(kartraAssets.key, key)))
      .for('update');
  }

  const findByKey = async (siteId: number, key: string) => {
    const [row] = await selectAssets().where(and(eq(kartraAssets.siteId, siteId), eq(kartraAssets.key, key)));
    return row ? toKartraAsset(row.asset, row.levelIds) : null;
  };

  return {
    findByKey,
    findByKartraId: async (siteId, kind, kartraId, membershipId) => {
      const conditions = [eq(kartraAssets.siteId, siteId), eq(kartraAssets.kind, kind), eq(kartraAssets.kartraId, kartraId)];
      // With a membership: that membership's level first, then a level stored without its membership.
      if (membershipId !== null) conditions.push(or(eq(kartraAssets.membershipId, membershipId), isNull(kartraAssets.membershipId)) as SQL);
      const [row] = await selectAssets()
        .where(and(...conditions))
        .orderBy(sql`${kartraAssets.membershipId} is null`, bytewise(kartraAssets.key))
        .limit(1);
      return row ? toKartraAsset(row.asset, row.levelIds) : null;
    },
    findByMatchName: async (siteId, kind, matchName) =>
      toAssets(
        await selectAssets()
          .where(and(eq(kartraAssets.siteId, siteId), eq(kartraAssets.kind, kind), eq(kartraAssets.matchName, matchName)))
          .orderBy(sql`${kartraAssets.firstSeenAt} is null`, asc(kartraAssets.firstSeenAt), bytewise(kartraAssets.key)),
      ),
    create: async (asset) => {
      // A unit inserting the same key at once makes this one wait for it and then do nothing; the SELECT after it is a
      // new statement, so at READ COMMITTED it reads the other's committed row.
      await db.insert(kartraAssets).values(newAssetColumns(asset)).onConflictDoNothing();
      const stored = await findByKey(asset.siteId, asset.key);
      if (!stored) throw new Error('the asset was neither inserted nor found');
      return stored;
    },
    update: async (siteId, key, changes) => {
      const values = definedEntries(assetChangeColumns(changes));
      if (Object.keys(values).length === 0) return;
      await db
        .update(kartraAssets)
        .set(values)
        .where(and(eq(kartraAssets.siteId, siteId), eq(kartraAssets.key, key)));
    },
    setLevels: async (siteId, key, levelIds, at) => {
      await lockAsset(siteId, key);
      await db.delete(assetLevels).where(ofAsset(siteId, key));
      if (levelIds.length > 0) await db.insert(assetLevels).values(levelIds.map((levelId) => ({ siteId, assetKey: key, levelId, createdAt: toMs(at) })));
    },
    clearLevels: async (siteId, key) => {
      // Under the same row lock as setLevels, so a mapping deleted while another unit saves it does not outlive it.
      await lockAsset(siteId, key);
      await db.delete(assetLevels).where(ofAsset(siteId, key));
    },
    listMapped: async (siteId) => toAssets(await selectAssets().where(and(eq(kartraAssets.siteId, siteId), hasLevels)).orderBy(...byKindThenName)),
    listDiscovered: async (siteId) =>
      // SQLite sorts NULLs lowest, so a descending order puts them last there; here that is said.
      toAssets(
        await selectAssets()
          .where(and(eq(kartraAssets.siteId, siteId), sql`not ${hasLevels}`, isNotNull(kartraAssets.firstSeenAt)))
          .orderBy(sql`${kartraAssets.lastSeenAt} desc nulls last`, bytewise(kartraAssets.key)),
      ),
    listAll: async (siteId) => toAssets(await selectAssets().where(eq(kartraAssets.siteId, siteId)).orderBy(...byKindThenName)),
    keysForLevel: async (siteId, levelId) => {
      const rows = await db
        .select({ assetKey: assetLevels.assetKey })
        .from(assetLevels)
        .where(and(eq(assetLevels.siteId, siteId), eq(assetLevels.levelId, levelId)))
        .orderBy(bytewise(assetLevels.assetKey));
      return rows.map((row) => row.assetKey);
    },
  };
}

export function createAssetFactRepository(db: PgDb): AssetFactRepository {
  return {
    record: async (fact) => {
      // One fact per event: a concurrent unit recording the same event's fact waits on the unique index, then does nothing.
      await db.insert(assetFacts).values(assetFactColumns(fact)).onConflictDoNothing();
    },
    forMemberAsset: async (siteId, memberId, assetKey) => {
      const rows = await db
        .select()
        .from(assetFacts)
        .where(and(eq(assetFacts.siteId, siteId), eq(assetFacts.memberId, memberId), eq(assetFacts.assetKey, assetKey)))
        .orderBy(asc(assetFacts.eventId), asc(assetFacts.id));
      return rows.map(toAssetFact);
    },
    membersForAsset: async (siteId, assetKey) => {
      const rows = await db
        .selectDistinct({ memberId: assetFacts.memberId })
        .from(assetFacts)
        .where(and(eq(assetFacts.siteId, siteId), eq(assetFacts.assetKey, assetKey)))
        .orderBy(asc(assetFacts.memberId));
      return rows.map((row) => row.memberId);
    },
  };
}
