import { and, asc, desc, eq, gte, inArray, isNull, lt, lte, or, sql } from 'drizzle-orm';
import type { NotificationEndpointRepository, OutboxRepository } from '../../domain/ports';
import { endpointChangeColumns, toDeliveryAttempt, toEndpoint, toOutboxMessage } from '../notification-rows';
import { toMs, toMsOrNull } from '../time-columns';
import type { PgDb } from './database';
import { notificationAttempts, notificationEndpoints, notificationOutbox } from './schema';

function insertedRow<Row>(rows: Row[]): Row {
  const [row] = rows;
  if (row === undefined) throw new Error('INSERT … RETURNING answered with no row');
  return row;
}

export function createNotificationEndpointRepository(db: PgDb): NotificationEndpointRepository {
  const e = notificationEndpoints;
  return {
    create: async ({ eventTypes, createdAt, ...rest }) =>
      toEndpoint(insertedRow(await db.insert(e).values({ ...rest, eventTypes: JSON.stringify(eventTypes), createdAt: toMs(createdAt) }).returning())),
    findById: async (siteId, endpointId) => {
      const [row] = await db.select().from(e).where(and(eq(e.siteId, siteId), eq(e.id, endpointId)));
      return row ? toEndpoint(row) : null;
    },
    list: async (siteId) => (await db.select().from(e).where(eq(e.siteId, siteId)).orderBy(asc(e.id))).map(toEndpoint),
    update: async (siteId, endpointId, changes) => {
      if (Object.keys(changes).length === 0) return;
      await db
        .update(e)
        .set(endpointChangeColumns(changes))
        .where(and(eq(e.siteId, siteId), eq(e.id, endpointId)));
    },
    delete: async (siteId, endpointId) => {
      await db.delete(e).where(and(eq(e.siteId, siteId), eq(e.id, endpointId)));
    },
  };
}

export function createOutboxRepository(db: PgDb): OutboxRepository {
  const o = notificationOutbox;
  return {
    enqueue: async ({ createdAt, ...rest }) =>
      toOutboxMessage(insertedRow(await db.insert(o).values({ ...rest, status: 'pending', attempts: 0, nextAttemptAt: toMs(createdAt), createdAt: toMs(createdAt) }).returning())),
    // Several instances claim at once: FOR UPDATE SKIP LOCKED lets each take rows no other claim holds without waiting
    // for it, and the lease written in the same statement keeps them taken after it commits (the claim is its own
    // short transaction; the POST happens outside any transaction, so no connection is held while a receiver is slow).
    claimDue: async (now, leaseUntil, limit) => {
      const due = db
        .select({ id: o.id })
        .from(o)
        .where(and(eq(o.status, 'pending'), lte(o.nextAttemptAt, toMs(now)), or(isNull(o.lockedUntil), lte(o.lockedUntil, toMs(now)))))
        .orderBy(asc(o.nextAttemptAt), asc(o.id))
        .limit(limit)
        .for('update', { skipLocked: true });
      const rows = await db
        .update(o)
        .set({ lockedUntil: toMs(leaseUntil) })
        .where(sql`${o.id} in ${due}`)
        .returning();
      return rows.map(toOutboxMessage).sort((a, b) => a.id - b.id);
    },
    settle: async (outboxId, outcome) => {
      await db
        .update(o)
        .set({
          status: outcome.status,
          attempts: outcome.attempts,
          nextAttemptAt: toMs(outcome.nextAttemptAt),
          lastError: outcome.lastError,
          lastStatusCode: outcome.lastStatusCode,
          deliveredAt: toMsOrNull(outcome.deliveredAt),
          lockedUntil: null,
        })
        .where(eq(o.id, outboxId));
    },
    findById: async (siteId, outboxId) => {
      const [row] = await db.select().from(o).where(and(eq(o.siteId, siteId), eq(o.id, outboxId)));
      return row ? toOutboxMessage(row) : null;
    },
    list: async (siteId, { endpointId, status, limit, beforeId }) =>
      (
        await db
          .select()
          .from(o)
          .where(and(eq(o.siteId, siteId), eq(o.endpointId, endpointId), status ? eq(o.status, status) : undefined, beforeId !== undefined ? lt(o.id, beforeId) : undefined))
          .orderBy(desc(o.id))
          .limit(limit)
      ).map(toOutboxMessage),
    requeue: async (siteId, filter, now) => {
      const which = 'outboxId' in filter ? eq(o.id, filter.outboxId) : and(eq(o.endpointId, filter.endpointId), gte(o.createdAt, toMs(filter.createdSince)));
      const rows = await db
        .update(o)
        .set({ status: 'pending', attempts: 0, nextAttemptAt: toMs(now), deliveredAt: null, lockedUntil: null })
        .where(and(eq(o.siteId, siteId), which))
        .returning({ id: o.id });
      return rows.length;
    },
    countByStatus: async (siteId, endpointId) => {
      const rows = await db
        .select({ status: o.status, count: sql<number>`count(*)` })
        .from(o)
        .where(and(eq(o.siteId, siteId), eq(o.endpointId, endpointId)))
        .groupBy(o.status);
      return Object.fromEntries(rows.map((row) => [row.status, Number(row.count)]));
    },
    listDead: async (siteId, since, limit) =>
      (
        await db
          .select()
          .from(o)
          .where(and(eq(o.siteId, siteId), eq(o.status, 'dead'), gte(o.createdAt, toMs(since))))
          .orderBy(desc(o.createdAt), desc(o.id))
          .limit(limit)
      ).map(toOutboxMessage),
    // As on SQLite: a settled message's next_attempt_at is when it settled, so the due index finds the old ones.
    pruneSettled: async (settledBefore, limit) => {
      const old = db
        .select({ id: o.id })
        .from(o)
        .where(and(inArray(o.status, ['delivered', 'dead']), lt(o.nextAttemptAt, toMs(settledBefore))))
        .limit(limit);
      const deleted = await db.delete(o).where(sql`${o.id} in ${old}`).returning({ id: o.id });
      return deleted.length;
    },
    recordAttempt: async ({ attemptedAt, ...rest }) => {
      await db.insert(notificationAttempts).values({ ...rest, attemptedAt: toMs(attemptedAt) });
    },
    attemptsFor: async (siteId, outboxId) =>
      (
        await db
          .select()
          .from(notificationAttempts)
          .where(and(eq(notificationAttempts.siteId, siteId), eq(notificationAttempts.outboxId, outboxId)))
          .orderBy(asc(notificationAttempts.id))
      ).map(toDeliveryAttempt),
  };
}
