import { and, asc, eq, isNull, lt, ne } from 'drizzle-orm';
import type { RawBodyRetentionRepository } from '../domain/ports';
import type { Sync } from './sync';
import type { Db } from './database';
import { webhookEvents } from './schema';
import { toMs } from './time-columns';

export function createRawBodyRetentionRepository(db: Db): Sync<RawBodyRetentionRepository> {
  return {
    pruneRawBodies: (siteId, receivedBefore, prunedAt, limit) => {
      // Failed events keep their body until an admin has re-applied them: it is the only copy of what Kartra sent.
      // Oldest first through the (site_id, received_at) index, in batches, so one run never holds the write lock long.
      const due = db
        .select({ id: webhookEvents.id })
        .from(webhookEvents)
        .where(and(eq(webhookEvents.siteId, siteId), lt(webhookEvents.receivedAt, toMs(receivedBefore)), isNull(webhookEvents.rawBodyPrunedAt), ne(webhookEvents.status, 'failed')))
        .orderBy(asc(webhookEvents.receivedAt))
        .limit(limit)
        .all();
      let pruned = 0;
      for (const { id } of due) {
        pruned += db
          .update(webhookEvents)
          .set({ rawBody: Buffer.alloc(0), rawBodyPrunedAt: toMs(prunedAt) })
          .where(and(eq(webhookEvents.siteId, siteId), eq(webhookEvents.id, id)))
          .run().changes;
      }
      return pruned;
    },
  };
}
