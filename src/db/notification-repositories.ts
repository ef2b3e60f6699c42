import { and, asc, desc, eq, gte, inArray, isNull, lt, lte, or, sql } from 'drizzle-orm';
import type { NotificationEndpointRepository, OutboxRepository } from '../domain/ports';
import type { Db } from './database';
import { endpointChangeColumns, toDeliveryAttempt, toEndpoint, toOutboxMessage } from './notification-rows';
import { notificationAttempts, notificationEndpoints, notificationOutbox } from './schema';
import type { Sync } from './sync';
import { toMs, toMsOrNull } from './time-columns';

export function createNotificationEndpointRepository(db: Db): Sync<NotificationEndpointRepository> {
  return {
    create: ({ eventTypes, createdAt, ...rest }) =>
      toEndpoint(db.insert(notificationEndpoints).values({ ...rest, eventTypes: JSON.stringify(eventTypes), createdAt: toMs(createdAt) }).returning().get()),
    findById: (siteId, endpointId) => {
      const row = db.select().from(notificationEndpoints).where(and(eq(notificationEndpoints.siteId, siteId), eq(notificationEndpoints.id, endpointId))).get();
      return row ? toEndpoint(row) : null;
    },
    list: (siteId) => db.select().from(notificationEndpoints).where(eq(notificationEndpoints.siteId, siteId)).orderBy(asc(notificationEndpoints.id)).all().map(toEndpoint),
    update: (siteId, endpointId, changes) => {
      if (Object.keys(changes).length === 0) return;
      db.update(notificationEndpoints)
        .set(endpointChangeColumns(changes))
        .where(and(eq(notificationEndpoints.siteId, siteId), eq(notificationEndpoints.id, endpointId)))
        .run();
    },
    delete: (siteId, endpointId) => {
      db.delete(notificationEndpoints).where(and(eq(notificationEndpoints.siteId, siteId), eq(notificationEndpoints.id, endpointId))).run();
    },
  };
}

export function createOutboxRepository(db: Db): Sync<OutboxRepository> {
  const o = notificationOutbox;
  return {
    enqueue: ({ createdAt, ...rest }) =>
      toOutboxMessage(db.insert(o).values({ ...rest, status: 'pending', attempts: 0, nextAttemptAt: toMs(createdAt), createdAt: toMs(createdAt) }).returning().get()),
    // SQLite has one writer (this process, on its one connection), so one UPDATE … RETURNING claims atomically; the
    // lease still matters: it is what lets a restarted process take over the rows a killed one had claimed.
    claimDue: (now, leaseUntil, limit) => {
      const due = db
        .select({ id: o.id })
        .from(o)
        .where(and(eq(o.status, 'pending'), lte(o.nextAttemptAt, toMs(now)), or(isNull(o.lockedUntil), lte(o.lockedUntil, toMs(now)))))
        .orderBy(asc(o.nextAttemptAt), asc(o.id))
        .limit(limit);
      return db
        .update(o)
        .set({ lockedUntil: toMs(leaseUntil) })
        .where(sql`${o.id} in ${due}`)
        .returning()
        .all()
        .map(toOutboxMessage)
        .sort((a, b) => a.id - b.id);
    },
    settle: (outboxId, outcome) => {
      db.update(o)
        .set({
          status: outcome.status,
          attempts: outcome.attempts,
          nextAttemptAt: toMs(outcome.nextAttemptAt),
          lastError: outcome.lastError,
          lastStatusCode: outcome.lastStatusCode,
          deliveredAt: toMsOrNull(outcome.deliveredAt),
          lockedUntil: null,
        })
        .where(eq(o.id, outboxId))
        .run();
    },
    findById: (siteId, outboxId) => {
      const row = db.select().from(o).where(and(eq(o.siteId, siteId), eq(o.id, outboxId))).get();
      return row ? toOutboxMessage(row) : null;
    },
    list: (siteId, { endpointId, status, limit, beforeId }) =>
      db
        .select()
        .from(o)
        .where(and(eq(o.siteId, siteId), eq(o.endpointId, endpointId), status ? eq(o.status, status) : undefined, beforeId !== undefined ? lt(o.id, beforeId) : undefined))
        .orderBy(desc(o.id))
        .limit(limit)
        .all()
        .map(toOutboxMessage),
    requeue: (siteId, filter, now) => {
      const which = 'outboxId' in filter ? eq(o.id, filter.outboxId) : and(eq(o.endpointId, filter.endpointId), gte(o.createdAt, toMs(filter.createdSince)));
      return db
        .update(o)
        .set({ status: 'pending', attempts: 0, nextAttemptAt: toMs(now), deliveredAt: null, lockedUntil: null })
        .where(and(eq(o.siteId, siteId), which))
        .run().changes;
    },
    countByStatus: (siteId, endpointId) => {
      const rows = db
        .select({ status: o.status, count: sql<number>`count(*)` })
        .from(o)
        .where(and(eq(o.siteId, siteId), eq(o.endpointId, endpointId)))
        .groupBy(o.status)
        .all();
      return Object.fromEntries(rows.map((row) => [row.status, Number(row.count)]));
    },
    listDead: (siteId, since, limit) =>
      db
        .select()
        .from(o)
        .where(and(eq(o.siteId, siteId), eq(o.status, 'dead'), gte(o.createdAt, toMs(since))))
        .orderBy(desc(o.createdAt), desc(o.id))
        .limit(limit)
        .all()
        .map(toOutboxMessage),
    // A settled message's next_attempt_at is when it settled (settle() sets it to the moment of delivery or death),
    // so the due index (status, next_attempt_at) finds the old ones without reading the rest.
    pruneSettled: (settledBefore, limit) => {
      const old = db
        .select({ id: o.id })
        .from(o)
        .where(and(inArray(o.status, ['delivered', 'dead']), lt(o.nextAttemptAt, toMs(settledBefore))))
        .limit(limit);
      return db.delete(o).where(sql`${o.id} in ${old}`).run().changes;
    },
    recordAttempt: ({ attemptedAt, ...rest }) => {
      db.insert(notificationAttempts)
        .values({ ...rest, attemptedAt: toMs(attemptedAt) })
        .run();
    },
    attemptsFor: (siteId, outboxId) =>
      db
        .select()
        .from(notificationAttempts)
        .where(and(eq(notificationAttempts.siteId, siteId), eq(notificationAttempts.outboxId, outboxId)))
        .orderBy(asc(notificationAttempts.id))
        .all()
        .map(toDeliveryAttempt),
  };
}
