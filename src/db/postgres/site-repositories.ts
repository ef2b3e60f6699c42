import { and, asc, eq, gt, inArray, isNull, lt, or, sql } from 'drizzle-orm';
import type { AccessLevelRepository, ApiTokenRepository, SiteRepository, WebhookSecretRepository } from '../../domain/ports';
import { toLevel, toSecret, toSite, toToken } from '../site-rows';
import { toMs } from '../time-columns';
import type { PgDb } from './database';
import { accessLevels, apiTokens, sites, webhookSecrets } from './schema';

/** The one row an INSERT … RETURNING of one row answers with; its absence is a driver fault, not an outcome. */
function insertedRow<Row>(rows: Row[]): Row {
  const [row] = rows;
  if (row === undefined) throw new Error('INSERT … RETURNING answered with no row');
  return row;
}

export function createSiteRepository(db: PgDb): SiteRepository {
  return {
    create: async ({ key, name, createdAt }) => toSite(insertedRow(await db.insert(sites).values({ key, name, createdAt: toMs(createdAt) }).returning())),
    findById: async (siteId) => {
      const [row] = await db.select().from(sites).where(eq(sites.id, siteId));
      return row ? toSite(row) : null;
    },
    findByKey: async (key) => {
      const [row] = await db.select().from(sites).where(eq(sites.key, key));
      return row ? toSite(row) : null;
    },
    list: async (siteIds) => {
      if (siteIds !== 'all' && siteIds.length === 0) return [];
      const query = db.select().from(sites);
      const rows = siteIds === 'all' ? await query.orderBy(asc(sites.id)) : await query.where(inArray(sites.id, siteIds)).orderBy(asc(sites.id));
      return rows.map(toSite);
    },
    update: async (siteId, changes) => {
      // drizzle rejects an UPDATE with nothing to set; no changes is a valid request that changes nothing.
      if (Object.keys(changes).length === 0) return;
      await db.update(sites).set(changes).where(eq(sites.id, siteId));
    },
  };
}

export function createWebhookSecretRepository(db: PgDb): WebhookSecretRepository {
  return {
    add: async ({ siteId, secretHash, secretHint, createdAt }) =>
      toSecret(insertedRow(await db.insert(webhookSecrets).values({ siteId, secretHash, secretHint, createdAt: toMs(createdAt) }).returning())),
    // SQLite's query has no ORDER BY and answers in id order (it walks the site index, whose entries end in the rowid);
    // PostgreSQL promises no order without one, so the id order is asked for.
    listUsable: async (siteId, now) =>
      (
        await db
          .select()
          .from(webhookSecrets)
          .where(and(eq(webhookSecrets.siteId, siteId), or(isNull(webhookSecrets.retiredAt), gt(webhookSecrets.validUntil, toMs(now)))))
          .orderBy(asc(webhookSecrets.id))
      ).map(toSecret),
    listAll: async (siteId) => (await db.select().from(webhookSecrets).where(eq(webhookSecrets.siteId, siteId)).orderBy(asc(webhookSecrets.id))).map(toSecret),
    retireCurrent: async (siteId, retiredAt, validUntil) => {
      await db
        .update(webhookSecrets)
        .set({ retiredAt: toMs(retiredAt), validUntil: toMs(validUntil) })
        .where(and(eq(webhookSecrets.siteId, siteId), isNull(webhookSecrets.retiredAt)));
    },
    markUsed: async (secretId, usedAt) => {
      // Runs inside each delivery's unit. The units of a burst all read the same stale last use, and a plain UPDATE
      // would queue every one on this row until the one before it commits; SKIP LOCKED lets the first write it and
      // the others go on (the last use is kept to the minute anyway).
      await db
        .update(webhookSecrets)
        .set({ lastUsedAt: sql`greatest(coalesce(${webhookSecrets.lastUsedAt}, 0), ${toMs(usedAt)}::bigint)` })
        .where(sql`${webhookSecrets.id} = (select s.id from ${webhookSecrets} s where s.id = ${secretId} for update skip locked)`);
    },
  };
}

export function createAccessLevelRepository(db: PgDb): AccessLevelRepository {
  return {
    create: async (siteId, name, createdAt) => toLevel(insertedRow(await db.insert(accessLevels).values({ siteId, name, createdAt: toMs(createdAt) }).returning())),
    // SQLite compares text byte by byte (BINARY); the database's collation may not (en_US puts "a" before "B"), so names
    // are ordered in the C collation, which compares UTF-8 bytes, that is code points, as SQLite does.
    list: async (siteId) =>
      (
        await db
          .select()
          .from(accessLevels)
          .where(eq(accessLevels.siteId, siteId))
          .orderBy(sql`${accessLevels.name} collate "C"`, asc(accessLevels.id))
      ).map(toLevel),
    findById: async (siteId, levelId) => {
      const [row] = await db
        .select()
        .from(accessLevels)
        .where(and(eq(accessLevels.siteId, siteId), eq(accessLevels.id, levelId)));
      return row ? toLevel(row) : null;
    },
    findByName: async (siteId, name) => {
      const [row] = await db
        .select()
        .from(accessLevels)
        .where(and(eq(accessLevels.siteId, siteId), eq(accessLevels.name, name)));
      return row ? toLevel(row) : null;
    },
    rename: async (siteId, levelId, name) => {
      await db
        .update(accessLevels)
        .set({ name })
        .where(and(eq(accessLevels.siteId, siteId), eq(accessLevels.id, levelId)));
    },
    delete: async (siteId, levelId) => {
      await db.delete(accessLevels).where(and(eq(accessLevels.siteId, siteId), eq(accessLevels.id, levelId)));
    },
  };
}

export function createApiTokenRepository(db: PgDb): ApiTokenRepository {
  return {
    create: async ({ name, tokenHash, tokenPrefix, siteId, createdAt }) =>
      toToken(insertedRow(await db.insert(apiTokens).values({ name, tokenHash, tokenPrefix, siteId, createdAt: toMs(createdAt) }).returning())),
    findActiveByHash: async (tokenHash) => {
      const [row] = await db
        .select()
        .from(apiTokens)
        .where(and(eq(apiTokens.tokenHash, tokenHash), isNull(apiTokens.revokedAt)));
      return row ? toToken(row) : null;
    },
    list: async () => (await db.select().from(apiTokens).orderBy(asc(apiTokens.id))).map(toToken),
    // Only a token not yet revoked matches, so two concurrent revokes report true once: the second waits for the
    // first's row lock and then finds revoked_at set.
    revoke: async (tokenId, at) => {
      const result = await db
        .update(apiTokens)
        .set({ revokedAt: toMs(at) })
        .where(and(eq(apiTokens.id, tokenId), isNull(apiTokens.revokedAt)));
      return (result.rowCount ?? 0) > 0;
    },
    // Conditional, so two requests that both read an old mark write it once (the domain decides the precision).
    markUsed: async (tokenId, at, unlessUsedSince) => {
      await db
        .update(apiTokens)
        .set({ lastUsedAt: toMs(at) })
        .where(and(eq(apiTokens.id, tokenId), or(isNull(apiTokens.lastUsedAt), lt(apiTokens.lastUsedAt, toMs(unlessUsedSince)))));
    },
  };
}
