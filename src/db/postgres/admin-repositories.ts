import { and, asc, eq, lte, ne } from 'drizzle-orm';
import type { AdminSessionRepository, AdminUserRepository } from '../../domain/ports';
import { toAdmin, toSession } from '../admin-rows';
import { toMs } from '../time-columns';
import type { PgDb } from './database';
import { adminSessions, adminSiteAccess, adminUsers } from './schema';

export function createAdminUserRepository(db: PgDb): AdminUserRepository {
  return {
    create: async ({ email, passwordHash, timeZone, createdAt }) => {
      const [row] = await db.insert(adminUsers).values({ email, passwordHash, timeZone, createdAt: toMs(createdAt) }).returning();
      if (row === undefined) throw new Error('INSERT … RETURNING answered with no row');
      return toAdmin(row);
    },
    findByEmail: async (email) => {
      const [row] = await db.select().from(adminUsers).where(eq(adminUsers.email, email));
      return row ? toAdmin(row) : null;
    },
    findById: async (adminId) => {
      const [row] = await db.select().from(adminUsers).where(eq(adminUsers.id, adminId));
      return row ? toAdmin(row) : null;
    },
    recordSignIn: async (adminId, at) => {
      await db.update(adminUsers).set({ lastSignInAt: toMs(at) }).where(eq(adminUsers.id, adminId));
    },
    // Granting again is a no-op that keeps the first grant's time; ON CONFLICT makes that hold also when two
    // instances grant the same site at once, where a read-then-insert would fail on the primary key.
    grantSite: async (adminId, siteId, at) => {
      await db.insert(adminSiteAccess).values({ adminId, siteId, createdAt: toMs(at) }).onConflictDoNothing();
    },
    setTimeZone: async (adminId, timeZone) => {
      await db.update(adminUsers).set({ timeZone }).where(eq(adminUsers.id, adminId));
    },
    setPasswordHash: async (adminId, passwordHash) => {
      await db.update(adminUsers).set({ passwordHash }).where(eq(adminUsers.id, adminId));
    },
    siteIds: async (adminId) =>
      (
        await db
          .select({ siteId: adminSiteAccess.siteId })
          .from(adminSiteAccess)
          .where(eq(adminSiteAccess.adminId, adminId))
          .orderBy(asc(adminSiteAccess.siteId))
      ).map((row) => row.siteId),
  };
}

export function createAdminSessionRepository(db: PgDb): AdminSessionRepository {
  return {
    create: async (session) => {
      await db
        .insert(adminSessions)
        .values({ ...session, createdAt: toMs(session.createdAt), lastSeenAt: toMs(session.lastSeenAt), expiresAt: toMs(session.expiresAt) });
    },
    findByIdHash: async (idHash) => {
      const [row] = await db.select().from(adminSessions).where(eq(adminSessions.idHash, idHash));
      return row ? toSession(row) : null;
    },
    touch: async (idHash, lastSeenAt, expiresAt) => {
      await db
        .update(adminSessions)
        .set({ lastSeenAt: toMs(lastSeenAt), expiresAt: toMs(expiresAt) })
        .where(eq(adminSessions.idHash, idHash));
    },
    delete: async (idHash) => {
      await db.delete(adminSessions).where(eq(adminSessions.idHash, idHash));
    },
    deleteExpired: async (now) => (await db.delete(adminSessions).where(lte(adminSessions.expiresAt, toMs(now)))).rowCount ?? 0,
    deleteOthers: async (adminId, keepIdHash) =>
      (await db.delete(adminSessions).where(and(eq(adminSessions.adminId, adminId), ne(adminSessions.idHash, keepIdHash)))).rowCount ?? 0,
  };
}
