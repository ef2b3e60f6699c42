import { and, asc, desc, eq, isNotNull, or, sql, type SQL } from 'drizzle-orm';
import type { AssetFactRepository, AssetRepository } from '../domain/ports';
import { assetChangeColumns, assetFactColumns, newAssetColumns, toAssetFact, toKartraAsset, type KartraAssetRow } from './asset-rows';
import type { Db } from './database';
import { definedEntries, placeholderSet, preparedByColumns } from './prepared';
import { assetFacts, assetLevels, kartraAssets } from './schema';
import type { Sync } from './sync';
import { toMs } from './time-columns';

/** Whether an asset has a level: mapped assets give access, the others are only discovered. */
const hasLevels = sql`exists (select 1 from ${assetLevels} al where al.site_id = ${sql.identifier('kartra_assets')}.site_id and al.asset_key = ${sql.identifier('kartra_assets')}.key)`;

/**
 * The order of the mapping pages: tags, then memberships, each by name (a level under its membership's name), names
 * compared without case; the key settles ties. lower() folds ASCII letters only, as on PostgreSQL's C collation.
 */
const byKindThenName: SQL[] = [
  sql`${kartraAssets.kind}`,
  sql`lower(coalesce(${kartraAssets.membershipName}, ''))`,
  sql`lower(coalesce(${kartraAssets.name}, ''))`,
  sql`${kartraAssets.key}`,
];

export function createAssetRepository(db: Db): Sync<AssetRepository> {
  const p = sql.placeholder;
  const ofSite = eq(kartraAssets.siteId, p('siteId'));
  const byKey = db
    .select()
    .from(kartraAssets)
    .where(and(ofSite, eq(kartraAssets.key, p('key'))))
    .prepare();
  // Any membership; with one, that membership's level first, then a level stored without its membership.
  const byKartraId = db
    .select()
    .from(kartraAssets)
    .where(and(ofSite, eq(kartraAssets.kind, p('kind')), eq(kartraAssets.kartraId, p('kartraId'))))
    .orderBy(asc(kartraAssets.key))
    .limit(1)
    .prepare();
  const byKartraIdInMembership = db
    .select()
    .from(kartraAssets)
    .where(
      and(
        ofSite,
        eq(kartraAssets.kind, p('kind')),
        eq(kartraAssets.kartraId, p('kartraId')),
        or(eq(kartraAssets.membershipId, p('membershipId')), sql`${kartraAssets.membershipId} is null`),
      ),
    )
    .orderBy(sql`${kartraAssets.membershipId} is null`, asc(kartraAssets.key))
    .limit(1)
    .prepare();
  // Oldest sighting first; an asset an admin named before Kartra sent it (never seen) after those, by key.
  const byMatchName = db
    .select()
    .from(kartraAssets)
    .where(and(ofSite, eq(kartraAssets.kind, p('kind')), eq(kartraAssets.matchName, p('matchName'))))
    .orderBy(sql`${kartraAssets.firstSeenAt} is null`, asc(kartraAssets.firstSeenAt), asc(kartraAssets.key))
    .prepare();
  const insertAsset = db
    .insert(kartraAssets)
    .values({
      siteId: p('siteId'),
      key: p('key'),
      kind: p('kind'),
      kartraId: p('kartraId'),
      name: p('name'),
      membershipId: p('membershipId'),
      membershipName: p('membershipName'),
      matchName: p('matchName'),
      firstSeenAt: p('firstSeenAt'),
      lastSeenAt: p('lastSeenAt'),
    })
    .onConflictDoNothing()
    .prepare();
  const updateAsset = preparedByColumns((columns) =>
    db
      .update(kartraAssets)
      .set(placeholderSet(columns))
      .where(and(eq(kartraAssets.siteId, p('whereSiteId')), eq(kartraAssets.key, p('whereKey'))))
      .prepare(),
  );
  const levelsOfAsset = db
    .select({ levelId: assetLevels.levelId })
    .from(assetLevels)
    .where(and(eq(assetLevels.siteId, p('siteId')), eq(assetLevels.assetKey, p('key'))))
    .orderBy(asc(assetLevels.levelId))
    .prepare();

  const withLevels = (row: KartraAssetRow) => toKartraAsset(row, levelsOfAsset.all({ siteId: row.siteId, key: row.key }).map((level) => level.levelId));

  function levelIdsByAsset(siteId: number): Map<string, number[]> {
    const map = new Map<string, number[]>();
    for (const row of db.select().from(assetLevels).where(eq(assetLevels.siteId, siteId)).orderBy(asc(assetLevels.levelId)).all()) {
      map.set(row.assetKey, [...(map.get(row.assetKey) ?? []), row.levelId]);
    }
    return map;
  }

  function list(siteId: number, condition: SQL | undefined, order: SQL[]) {
    const levels = levelIdsByAsset(siteId);
    return db
      .select()
      .from(kartraAssets)
      .where(and(eq(kartraAssets.siteId, siteId), condition))
      .orderBy(...order)
      .all()
      .map((row) => toKartraAsset(row, levels.get(row.key) ?? []));
  }

  const findByKey = (siteId: number, key: string) => {
    const row = byKey.get({ siteId, key });
    return row ? withLevels(row) : null;
  };

  return {
    findByKey,
    findByKartraId: (siteId, kind, kartraId, membershipId) => {
      const row =
        membershipId === null ? byKartraId.get({ siteId, kind, kartraId }) : byKartraIdInMembership.get({ siteId, kind, kartraId, membershipId });
      return row ? withLevels(row) : null;
    },
    findByMatchName: (siteId, kind, matchName) => byMatchName.all({ siteId, kind, matchName }).map(withLevels),
    create: (asset) => {
      insertAsset.run(newAssetColumns(asset));
      const stored = findByKey(asset.siteId, asset.key);
      if (!stored) throw new Error('the asset was neither inserted nor found');
      return stored;
    },
    update: (siteId, key, changes) => {
      const values = definedEntries(assetChangeColumns(changes));
      const columns = Object.keys(values);
      if (columns.length === 0) return;
      updateAsset(columns).run({ ...values, whereSiteId: siteId, whereKey: key });
    },
    setLevels: (siteId, key, levelIds, at) => {
      db.delete(assetLevels).where(and(eq(assetLevels.siteId, siteId), eq(assetLevels.assetKey, key))).run();
      for (const levelId of levelIds) db.insert(assetLevels).values({ siteId, assetKey: key, levelId, createdAt: toMs(at) }).run();
    },
    clearLevels: (siteId, key) => {
      db.delete(assetLevels).where(and(eq(assetLevels.siteId, siteId), eq(assetLevels.assetKey, key))).run();
    },
    listMapped: (siteId) => list(siteId, hasLevels, byKindThenName),
    // SQLite sorts NULLs lowest, so an asset seen without a last sighting would come last; the key breaks ties.
    listDiscovered: (siteId) => list(siteId, and(sql`not ${hasLevels}`, isNotNull(kartraAssets.firstSeenAt)), [desc(kartraAssets.lastSeenAt), asc(kartraAssets.key)]),
    listAll: (siteId) => list(siteId, undefined, byKindThenName),
    keysForLevel: (siteId, levelId) =>
      db
        .select({ assetKey: assetLevels.assetKey })
        .from(assetLevels)
        .where(and(eq(assetLevels.siteId, siteId), eq(assetLevels.levelId, levelId)))
        .orderBy(asc(assetLevels.assetKey))
        .all()
        .map((row) => row.assetKey),
  };
}

export function createAssetFactRepository(db: Db): Sync<AssetFactRepository> {
  const p = sql.placeholder;
  // One fact per event: a re-applied or redelivered event finds its fact there and adds none.
  const insertFact = db
    .insert(assetFacts)
    .values({
      siteId: p('siteId'),
      memberId: p('memberId'),
      assetKey: p('assetKey'),
      change: p('change'),
      occurredAt: p('occurredAt'),
      receivedAt: p('receivedAt'),
      eventId: p('eventId'),
    })
    .onConflictDoNothing()
    .prepare();
  const factsOfMemberAsset = db
    .select()
    .from(assetFacts)
    .where(and(eq(assetFacts.siteId, p('siteId')), eq(assetFacts.memberId, p('memberId')), eq(assetFacts.assetKey, p('assetKey'))))
    .orderBy(asc(assetFacts.eventId), asc(assetFacts.id))
    .prepare();

  return {
    record: (fact) => {
      insertFact.run(assetFactColumns(fact));
    },
    forMemberAsset: (siteId, memberId, assetKey) => factsOfMemberAsset.all({ siteId, memberId, assetKey }).map(toAssetFact),
    membersForAsset: (siteId, assetKey) =>
      db
        .selectDistinct({ memberId: assetFacts.memberId })
        .from(assetFacts)
        .where(and(eq(assetFacts.siteId, siteId), eq(assetFacts.assetKey, assetKey)))
        .orderBy(asc(assetFacts.memberId))
        .all()
        .map((row) => row.memberId),
  };
}
