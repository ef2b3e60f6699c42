import { and, asc, eq, lte, ne } from 'drizzle-orm';
import type { AdminSessionRepository, AdminUserRepository } from '../domain/ports';
import type { Sync } from './sync';
import type { Db } from './database';
import { adminSessions, adminSiteAccess, adminUsers } from './schema';
import { toAdmin, toSession } from './admin-rows';
import { toMs } from './time-columns';

export function createAdminUserRepository(db: Db): Sync<AdminUserRepository> {
  return {
    create: ({ email, passwordHash, timeZone, createdAt }) =>
      toAdmin(db.insert(adminUsers).values({ email, passwordHash, timeZone, createdAt: toMs(createdAt) }).returning().get()),
    findByEmail: (email) => {
      const row = db.select().from(adminUsers).where(eq(adminUsers.email, email)).get();
      return row ? toAdmin(row) : null;
    },
    findById: (adminId) => {
      const row = db.select().from(adminUsers).where(eq(adminUsers.id, adminId)).get();
      return row ? toAdmin(row) : null;
    },
    recordSignIn: (adminId, at) => {
      db.update(adminUsers).set({ lastSignInAt: toMs(at) }).where(eq(adminUsers.id, adminId)).run();
    },
    grantSite: (adminId, siteId, at) => {
      db.insert(adminSiteAccess).values({ adminId, siteId, createdAt: toMs(at) }).onConflictDoNothing().run();
    },
    setTimeZone: (adminId, timeZone) => {
      db.update(adminUsers).set({ timeZone }).where(eq(adminUsers.id, adminId)).run();
    },
    setPasswordHash: (adminId, passwordHash) => {
      db.update(adminUsers).set({ passwordHash }).where(eq(adminUsers.id, adminId)).run();
    },
    siteIds: (adminId) =>
      db
        .select({ siteId: adminSiteAccess.siteId })
        .from(adminSiteAccess)
        .where(eq(adminSiteAccess.adminId, adminId))
        .orderBy(asc(adminSiteAccess.siteId))
        .all()
        .map((row) => row.siteId),
  };
}

export function createAdminSessionRepository(db: Db): Sync<AdminSessionRepository> {
  return {
    create: (session) => {
      db.insert(adminSessions)
        .values({ ...session, createdAt: toMs(session.createdAt), lastSeenAt: toMs(session.lastSeenAt), expiresAt: toMs(session.expiresAt) })
        .run();
    },
    findByIdHash: (idHash) => {
      const row = db.select().from(adminSessions).where(eq(adminSessions.idHash, idHash)).get();
      return row ? toSession(row) : null;
    },
    touch: (idHash, lastSeenAt, expiresAt) => {
      db.update(adminSessions).set({ lastSeenAt: toMs(lastSeenAt), expiresAt: toMs(expiresAt) }).where(eq(adminSessions.idHash, idHash)).run();
    },
    delete: (idHash) => {
      db.delete(adminSessions).where(eq(adminSessions.idHash, idHash)).run();
    },
    deleteExpired: (now) => db.delete(adminSessions).where(lte(adminSessions.expiresAt, toMs(now))).run().changes,
    deleteOthers: (adminId, keepIdHash) =>
      db.delete(adminSessions).where(and(eq(adminSessions.adminId, adminId), ne(adminSessions.idHash, keepIdHash))).run().changes,
  };
}
