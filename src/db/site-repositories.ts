import { and, asc, eq, gt, inArray, isNull, lt, or, sql } from 'drizzle-orm';
import type { AccessLevelRepository, ApiTokenRepository, SiteRepository, WebhookSecretRepository } from '../domain/ports';
import type { Sync } from './sync';
import type { Db } from './database';
import { accessLevels, apiTokens, sites, webhookSecrets } from './schema';
import { toLevel, toSecret, toSite, toToken } from './site-rows';
import { toMs } from './time-columns';

export function createSiteRepository(db: Db): Sync<SiteRepository> {
  const byKey = db
    .select()
    .from(sites)
    .where(eq(sites.key, sql.placeholder('key')))
    .prepare();
  const byId = db
    .select()
    .from(sites)
    .where(eq(sites.id, sql.placeholder('siteId')))
    .prepare();
  return {
    create: ({ key, name, createdAt }) => toSite(db.insert(sites).values({ key, name, createdAt: toMs(createdAt) }).returning().get()),
    findById: (siteId) => {
      const row = byId.get({ siteId });
      return row ? toSite(row) : null;
    },
    findByKey: (key) => {
      const row = byKey.get({ key });
      return row ? toSite(row) : null;
    },
    list: (siteIds) => {
      if (siteIds !== 'all' && siteIds.length === 0) return [];
      const query = db.select().from(sites);
      const rows = siteIds === 'all' ? query.orderBy(asc(sites.id)).all() : query.where(inArray(sites.id, siteIds)).orderBy(asc(sites.id)).all();
      return rows.map(toSite);
    },
    update: (siteId, changes) => {
      if (Object.keys(changes).length === 0) return;
      db.update(sites).set(changes).where(eq(sites.id, siteId)).run();
    },
  };
}

export function createWebhookSecretRepository(db: Db): Sync<WebhookSecretRepository> {
  const p = sql.placeholder;
  const usable = db
    .select()
    .from(webhookSecrets)
    .where(and(eq(webhookSecrets.siteId, p('siteId')), or(isNull(webhookSecrets.retiredAt), gt(webhookSecrets.validUntil, p('now')))))
    .prepare();
  const markSecretUsed = db
    .update(webhookSecrets)
    .set({ lastUsedAt: sql`${p('usedAt')}` })
    .where(eq(webhookSecrets.id, p('secretId')))
    .prepare();
  return {
    add: ({ siteId, secretHash, secretHint, createdAt }) =>
      toSecret(db.insert(webhookSecrets).values({ siteId, secretHash, secretHint, createdAt: toMs(createdAt) }).returning().get()),
    listUsable: (siteId, now) => usable.all({ siteId, now: toMs(now) }).map(toSecret),
    listAll: (siteId) => db.select().from(webhookSecrets).where(eq(webhookSecrets.siteId, siteId)).orderBy(asc(webhookSecrets.id)).all().map(toSecret),
    retireCurrent: (siteId, retiredAt, validUntil) => {
      db.update(webhookSecrets)
        .set({ retiredAt: toMs(retiredAt), validUntil: toMs(validUntil) })
        .where(and(eq(webhookSecrets.siteId, siteId), isNull(webhookSecrets.retiredAt)))
        .run();
    },
    markUsed: (secretId, usedAt) => {
      markSecretUsed.run({ secretId, usedAt: toMs(usedAt) });
    },
  };
}

export function createAccessLevelRepository(db: Db): Sync<AccessLevelRepository> {
  return {
    create: (siteId, name, createdAt) => toLevel(db.insert(accessLevels).values({ siteId, name, createdAt: toMs(createdAt) }).returning().get()),
    list: (siteId) => db.select().from(accessLevels).where(eq(accessLevels.siteId, siteId)).orderBy(asc(accessLevels.name), asc(accessLevels.id)).all().map(toLevel),
    findById: (siteId, levelId) => {
      const row = db.select().from(accessLevels).where(and(eq(accessLevels.siteId, siteId), eq(accessLevels.id, levelId))).get();
      return row ? toLevel(row) : null;
    },
    findByName: (siteId, name) => {
      const row = db.select().from(accessLevels).where(and(eq(accessLevels.siteId, siteId), eq(accessLevels.name, name))).get();
      return row ? toLevel(row) : null;
    },
    rename: (siteId, levelId, name) => {
      db.update(accessLevels).set({ name }).where(and(eq(accessLevels.siteId, siteId), eq(accessLevels.id, levelId))).run();
    },
    delete: (siteId, levelId) => {
      db.delete(accessLevels).where(and(eq(accessLevels.siteId, siteId), eq(accessLevels.id, levelId))).run();
    },
  };
}

export function createApiTokenRepository(db: Db): Sync<ApiTokenRepository> {
  const p = sql.placeholder;
  const activeByHash = db
    .select()
    .from(apiTokens)
    .where(and(eq(apiTokens.tokenHash, p('tokenHash')), isNull(apiTokens.revokedAt)))
    .prepare();
  // Conditional, so two requests that both read an old mark write it once (the domain decides the precision).
  const markTokenUsed = db
    .update(apiTokens)
    .set({ lastUsedAt: sql`${p('usedAt')}` })
    .where(and(eq(apiTokens.id, p('tokenId')), or(isNull(apiTokens.lastUsedAt), lt(apiTokens.lastUsedAt, p('staleBefore')))))
    .prepare();
  return {
    create: ({ name, tokenHash, tokenPrefix, siteId, createdAt }) =>
      toToken(db.insert(apiTokens).values({ name, tokenHash, tokenPrefix, siteId, createdAt: toMs(createdAt) }).returning().get()),
    findActiveByHash: (tokenHash) => {
      const row = activeByHash.get({ tokenHash });
      return row ? toToken(row) : null;
    },
    list: () => db.select().from(apiTokens).orderBy(asc(apiTokens.id)).all().map(toToken),
    revoke: (tokenId, at) => db.update(apiTokens).set({ revokedAt: toMs(at) }).where(and(eq(apiTokens.id, tokenId), isNull(apiTokens.revokedAt))).run().changes > 0,
    markUsed: (tokenId, at, unlessUsedSince) => {
      markTokenUsed.run({ tokenId, usedAt: toMs(at), staleBefore: toMs(unlessUsedSince) });
    },
  };
}
