import { and, asc, eq, isNull, lt, ne, sql } from 'drizzle-orm';
import type { RawBodyRetentionRepository } from '../../domain/ports';
import { toMs } from '../time-columns';
import type { PgDb } from './database';
import { webhookEvents } from './schema';

export function createRawBodyRetentionRepository(db: PgDb): RawBodyRetentionRepository {
  return {
    pruneRawBodies: async (siteId, receivedBefore, prunedAt, limit) => {
      // Failed events keep their body until an admin has re-applied them: it is the only copy of what Kartra sent.
      // Oldest first (ties in id order, as SQLite's (site_id, received_at) index holds them), one batch per call.
      const stillDue = and(eq(webhookEvents.siteId, siteId), isNull(webhookEvents.rawBodyPrunedAt), ne(webhookEvents.status, 'failed'));
      const batch = db
        .select({ id: webhookEvents.id })
        .from(webhookEvents)
        .where(and(stillDue, lt(webhookEvents.receivedAt, toMs(receivedBefore))))
        .orderBy(asc(webhookEvents.receivedAt), asc(webhookEvents.id))
        .limit(limit);
      // The batch's ids as an array, so the update looks each one up by primary key (as `id IN (batch)` with the range
      // repeated, the planner scanned every due row of the site to join a batch of them). `stillDue` is checked again on
      // each row: PostgreSQL re-reads a row another run pruned (or a re-apply failed) while this one waited for its
      // lock, and skips it rather than pruning and counting it twice.
      const pruned = await db
        .update(webhookEvents)
        .set({ rawBody: Buffer.alloc(0), rawBodyPrunedAt: toMs(prunedAt) })
        .where(and(stillDue, sql`${webhookEvents.id} = any(array(${batch}))`));
      return pruned.rowCount ?? 0;
    },
  };
}
