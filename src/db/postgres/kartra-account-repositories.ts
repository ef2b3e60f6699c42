import { and, asc, desc, eq, isNull, lte, max, or, sql } from 'drizzle-orm';
import type { KartraCredentialRepository, ReconcileRunRepository, VerificationQueueRepository } from '../../domain/ports';
import { toCredentialRecord, toReconcileRun, toVerificationJob } from '../kartra-account-rows';
import { toMs, toMsOrNull } from '../time-columns';
import type { PgDb } from './database';
import { kartraCredentials, kartraVerifications, reconcileRuns, sites } from './schema';

const HOUR_MS = 60 * 60 * 1000;

export function createKartraCredentialRepository(db: PgDb): KartraCredentialRepository {
  const c = kartraCredentials;
  return {
    find: async (siteId) => {
      const [row] = await db.select().from(c).where(eq(c.siteId, siteId));
      return row ? toCredentialRecord(row) : null;
    },
    save: async ({ at, ...record }) => {
      const fresh = { ...record, updatedAt: toMs(at), lastCheckedAt: null, lastCheckOk: null, lastCheckMessage: null };
      await db
        .insert(c)
        .values({ ...fresh, createdAt: toMs(at) })
        .onConflictDoUpdate({ target: c.siteId, set: fresh });
    },
    recordCheck: async (siteId, { at, ok, message }) => {
      await db.update(c).set({ lastCheckedAt: toMs(at), lastCheckOk: ok, lastCheckMessage: message }).where(eq(c.siteId, siteId));
    },
    delete: async (siteId) => {
      await db.delete(c).where(eq(c.siteId, siteId));
    },
  };
}

export function createVerificationQueueRepository(db: PgDb): VerificationQueueRepository {
  const v = kartraVerifications;
  return {
    enqueue: async (siteId, eventId, at) => {
      const pending = { status: 'pending', attempts: 0, nextAttemptAt: toMs(at), lockedUntil: null, lastError: null, settledAt: null };
      await db
        .insert(v)
        .values({ siteId, eventId, ...pending, createdAt: toMs(at) })
        .onConflictDoUpdate({ target: v.eventId, set: pending });
    },
    // As the outbox's claim (notification-repositories.ts): SKIP LOCKED lets instances claim side by side, and the
    // lease written in the same statement keeps the rows taken while the call to Kartra runs outside any transaction.
    claimDue: async (now, leaseUntil, limit) => {
      const due = db
        .select({ id: v.id })
        .from(v)
        .where(and(eq(v.status, 'pending'), lte(v.nextAttemptAt, toMs(now)), or(isNull(v.lockedUntil), lte(v.lockedUntil, toMs(now)))))
        .orderBy(asc(v.nextAttemptAt), asc(v.id))
        .limit(limit)
        .for('update', { skipLocked: true });
      const rows = await db
        .update(v)
        .set({ lockedUntil: toMs(leaseUntil) })
        .where(sql`${v.id} in ${due}`)
        .returning();
      return rows.map(toVerificationJob).sort((a, b) => a.id - b.id);
    },
    settle: async (jobId, outcome) => {
      await db
        .update(v)
        .set({
          status: outcome.status,
          attempts: outcome.attempts,
          nextAttemptAt: toMs(outcome.nextAttemptAt),
          lastError: outcome.lastError,
          settledAt: toMsOrNull(outcome.settledAt),
          lockedUntil: null,
        })
        .where(eq(v.id, jobId));
    },
    findByEvent: async (siteId, eventId) => {
      const [row] = await db.select().from(v).where(and(eq(v.siteId, siteId), eq(v.eventId, eventId)));
      return row ? toVerificationJob(row) : null;
    },
    countPending: async (siteId) => {
      const [row] = await db
        .select({ count: sql<number>`count(*)` })
        .from(v)
        .where(and(eq(v.siteId, siteId), eq(v.status, 'pending')));
      return Number(row?.count ?? 0);
    },
  };
}

export function createReconcileRunRepository(db: PgDb): ReconcileRunRepository {
  const r = reconcileRuns;
  return {
    start: async (siteId, trigger, at) => {
      const [row] = await db.insert(r).values({ siteId, trigger, startedAt: toMs(at) }).returning({ id: r.id });
      if (!row) throw new Error('INSERT … RETURNING answered with no row');
      return row.id;
    },
    finish: async (siteId, runId, { finishedAt, membersChecked, differences, fixedCount, error }) => {
      await db
        .update(r)
        .set({ finishedAt: toMs(finishedAt), membersChecked, differenceCount: differences.length, fixedCount, error, differences: JSON.stringify(differences) })
        .where(and(eq(r.siteId, siteId), eq(r.id, runId)));
    },
    findById: async (siteId, runId) => {
      const [row] = await db.select().from(r).where(and(eq(r.siteId, siteId), eq(r.id, runId)));
      return row ? toReconcileRun(row) : null;
    },
    list: async (siteId, limit) => (await db.select().from(r).where(eq(r.siteId, siteId)).orderBy(desc(r.id)).limit(limit)).map(toReconcileRun),
    dueSites: async (now) => {
      const lastStart = db.select({ siteId: r.siteId, at: max(r.startedAt).as('last_started_at') }).from(r).groupBy(r.siteId).as('last_run');
      const rows = await db
        .select({ id: sites.id, every: sites.reconcileEveryHours, lastStartedAt: lastStart.at })
        .from(sites)
        .leftJoin(lastStart, eq(lastStart.siteId, sites.id))
        .where(sql`${sites.reconcileEveryHours} > 0`);
      return rows.filter((row) => row.lastStartedAt === null || toMs(now) - Number(row.lastStartedAt) >= row.every * HOUR_MS).map((row) => row.id);
    },
  };
}
