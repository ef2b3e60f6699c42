import { and, asc, eq, gt, inArray, isNull, or } from 'drizzle-orm';
import type { AccessLevel, ApiToken, CancelMode, Site, WebhookSecret } from '../domain/model';
import type { AccessLevelRepository, ApiTokenRepository, SiteRepository, WebhookSecretRepository } from '../domain/ports';
import type { Db } from './database';
import { accessLevels, apiTokens, sites, webhookSecrets } from './schema';
import { toDate, toDateOrNull, toMs } from './time-columns';

function toSite(row: typeof sites.$inferSelect): Site {
  return { ...row, cancelMode: row.cancelMode as CancelMode, createdAt: toDate(row.createdAt) };
}

export function createSiteRepository(db: Db): SiteRepository {
  return {
    create: ({ key, name, createdAt }) => toSite(db.insert(sites).values({ key, name, createdAt: toMs(createdAt) }).returning().get()),
    findById: (siteId) => {
      const row = db.select().from(sites).where(eq(sites.id, siteId)).get();
      return row ? toSite(row) : null;
    },
    findByKey: (key) => {
      const row = db.select().from(sites).where(eq(sites.key, key)).get();
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

function toSecret(row: typeof webhookSecrets.$inferSelect): WebhookSecret {
  return {
    ...row,
    createdAt: toDate(row.createdAt),
    retiredAt: toDateOrNull(row.retiredAt),
    validUntil: toDateOrNull(row.validUntil),
    lastUsedAt: toDateOrNull(row.lastUsedAt),
  };
}

export function createWebhookSecretRepository(db: Db): WebhookSecretRepository {
  return {
    add: ({ siteId, secretHash, secretHint, createdAt }) =>
      toSecret(db.insert(webhookSecrets).values({ siteId, secretHash, secretHint, createdAt: toMs(createdAt) }).returning().get()),
    listUsable: (siteId, now) =>
      db
        .select()
        .from(webhookSecrets)
        .where(and(eq(webhookSecrets.siteId, siteId), or(isNull(webhookSecrets.retiredAt), gt(webhookSecrets.validUntil, toMs(now)))))
        .all()
        .map(toSecret),
    listAll: (siteId) => db.select().from(webhookSecrets).where(eq(webhookSecrets.siteId, siteId)).orderBy(asc(webhookSecrets.id)).all().map(toSecret),
    retireCurrent: (siteId, retiredAt, validUntil) => {
      db.update(webhookSecrets)
        .set({ retiredAt: toMs(retiredAt), validUntil: toMs(validUntil) })
        .where(and(eq(webhookSecrets.siteId, siteId), isNull(webhookSecrets.retiredAt)))
        .run();
    },
    markUsed: (secretId, usedAt) => {
      db.update(webhookSecrets).set({ lastUsedAt: toMs(usedAt) }).where(eq(webhookSecrets.id, secretId)).run();
    },
  };
}

function toLevel(row: typeof accessLevels.$inferSelect): AccessLevel {
  return { ...row, createdAt: toDate(row.createdAt) };
}

export function createAccessLevelRepository(db: Db): AccessLevelRepository {
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

function toToken(row: typeof apiTokens.$inferSelect): ApiToken {
  return {
    id: row.id,
    name: row.name,
    tokenPrefix: row.tokenPrefix,
    siteId: row.siteId,
    createdAt: toDate(row.createdAt),
    lastUsedAt: toDateOrNull(row.lastUsedAt),
    revokedAt: toDateOrNull(row.revokedAt),
  };
}

export function createApiTokenRepository(db: Db): ApiTokenRepository {
  return {
    create: ({ name, tokenHash, tokenPrefix, siteId, createdAt }) =>
      toToken(db.insert(apiTokens).values({ name, tokenHash, tokenPrefix, siteId, createdAt: toMs(createdAt) }).returning().get()),
    findActiveByHash: (tokenHash) => {
      const row = db.select().from(apiTokens).where(and(eq(apiTokens.tokenHash, tokenHash), isNull(apiTokens.revokedAt))).get();
      return row ? toToken(row) : null;
    },
    list: () => db.select().from(apiTokens).orderBy(asc(apiTokens.id)).all().map(toToken),
    revoke: (tokenId, at) => db.update(apiTokens).set({ revokedAt: toMs(at) }).where(and(eq(apiTokens.id, tokenId), isNull(apiTokens.revokedAt))).run().changes > 0,
    markUsed: (tokenId, at) => {
      db.update(apiTokens).set({ lastUsedAt: toMs(at) }).where(eq(apiTokens.id, tokenId)).run();
    },
  };
}
