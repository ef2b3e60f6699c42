import { and, asc, desc, eq, isNull, lte, max, or, sql } from 'drizzle-orm';
import type { KartraCredentialRepository, ReconcileRunRepository, VerificationQueueRepository } from '../domain/ports';
import type { Db } from './database';
import { toCredentialRecord, toReconcileRun, toVerificationJob } from './kartra-account-rows';
import { kartraCredentials, kartraVerifications, reconcileRuns, sites } from './schema';
import type { Sync } from './sync';
import { toMs, toMsOrNull } from './time-columns';

const HOUR_MS = 60 * 60 * 1000;

export function createKartraCredentialRepository(db: Db): Sync<KartraCredentialRepository> {
  const c = kartraCredentials;
  return {
    find: (siteId) => {
      const row = db.select().from(c).where(eq(c.siteId, siteId)).get();
      return row ? toCredentialRecord(row) : null;
    },
    save: ({ at, ...record }) => {
      const fresh = { ...record, updatedAt: toMs(at), lastCheckedAt: null, lastCheckOk: null, lastCheckMessage: null };
      db.insert(c)
        .values({ ...fresh, createdAt: toMs(at) })
        .onConflictDoUpdate({ target: c.siteId, set: fresh })
        .run();
    },
    recordCheck: (siteId, { at, ok, message }) => {
      db.update(c).set({ lastCheckedAt: toMs(at), lastCheckOk: ok, lastCheckMessage: message }).where(eq(c.siteId, siteId)).run();
    },
    delete: (siteId) => {
      db.delete(c).where(eq(c.siteId, siteId)).run();
    },
  };
}

export function createVerificationQueueRepository(db: Db): Sync<VerificationQueueRepository> {
  const v = kartraVerifications;
  return {
    enqueue: (siteId, eventId, at) => {
      const pending = { status: 'pending', attempts: 0, nextAttemptAt: toMs(at), lockedUntil: null, lastError: null, settledAt: null };
      db.insert(v)
        .values({ siteId, eventId, ...pending, createdAt: toMs(at) })
        .onConflictDoUpdate({ target: v.eventId, set: pending })
        .run();
    },
    // SQLite has one writer, so one UPDATE … RETURNING claims atomically; the lease lets a restarted process take over
    // the jobs a killed one had claimed.
    claimDue: (now, leaseUntil, limit) => {
      const due = db
        .select({ id: v.id })
        .from(v)
        .where(and(eq(v.status, 'pending'), lte(v.nextAttemptAt, toMs(now)), or(isNull(v.lockedUntil), lte(v.lockedUntil, toMs(now)))))
        .orderBy(asc(v.nextAttemptAt), asc(v.id))
        .limit(limit);
      return db
        .update(v)
        .set({ lockedUntil: toMs(leaseUntil) })
        .where(sql`${v.id} in ${due}`)
        .returning()
        .all()
        .map(toVerificationJob)
        .sort((a, b) => a.id - b.id);
    },
    settle: (jobId, outcome) => {
      db.update(v)
        .set({
          status: outcome.status,
          attempts: outcome.attempts,
          nextAttemptAt: toMs(outcome.nextAttemptAt),
          lastError: outcome.lastError,
          settledAt: toMsOrNull(outcome.settledAt),
          lockedUntil: null,
        })
        .where(eq(v.id, jobId))
        .run();
    },
    findByEvent: (siteId, eventId) => {
      const row = db.select().from(v).where(and(eq(v.siteId, siteId), eq(v.eventId, eventId))).get();
      return row ? toVerificationJob(row) : null;
    },
    countPending: (siteId) =>
      Number(
        db
          .select({ count: sql<number>`count(*)` })
          .from(v)
          .where(and(eq(v.siteId, siteId), eq(v.status, 'pending')))
          .get()?.count ?? 0,
      ),
  };
}

export function createReconcileRunRepository(db: Db): Sync<ReconcileRunRepository> {
  const r = reconcileRuns;
  return {
    start: (siteId, trigger, at) => db.insert(r).values({ siteId, trigger, startedAt: toMs(at) }).returning({ id: r.id }).get().id,
    finish: (siteId, runId, { finishedAt, membersChecked, differences, fixedCount, error }) => {
      db.update(r)
        .set({ finishedAt: toMs(finishedAt), membersChecked, differenceCount: differences.length, fixedCount, error, differences: JSON.stringify(differences) })
        .where(and(eq(r.siteId, siteId), eq(r.id, runId)))
        .run();
    },
    findById: (siteId, runId) => {
      const row = db.select().from(r).where(and(eq(r.siteId, siteId), eq(r.id, runId))).get();
      return row ? toReconcileRun(row) : null;
    },
    list: (siteId, limit) => db.select().from(r).where(eq(r.siteId, siteId)).orderBy(desc(r.id)).limit(limit).all().map(toReconcileRun),
    dueSites: (now) => {
      const lastStart = db.select({ siteId: r.siteId, at: max(r.startedAt).as('last_started_at') }).from(r).groupBy(r.siteId).as('last_run');
      return db
        .select({ id: sites.id, every: sites.reconcileEveryHours, lastStartedAt: lastStart.at })
        .from(sites)
        .leftJoin(lastStart, eq(lastStart.siteId, sites.id))
        .where(sql`${sites.reconcileEveryHours} > 0`)
        .all()
        .filter((row) => row.lastStartedAt === null || toMs(now) - Number(row.lastStartedAt) >= row.every * HOUR_MS)
        .map((row) => row.id);
    },
  };
}
