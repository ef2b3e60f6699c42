import type { Clock, Repositories, RunInTransaction } from '../ports';

const DAY_MS = 24 * 60 * 60 * 1000;
/** Events pruned per transaction: small enough that intake never waits long for the write lock. */
const BATCH_SIZE = 500;

export type RetentionService = ReturnType<typeof createRetentionService>;

/**
 * Raw bodies hold buyers' personal data (names, addresses, phone numbers), so each site keeps them for its
 * `rawBodyRetentionDays` only. The event row, its parsed fields, outcome and the access history it caused stay: the
 * log still explains every grant, it just cannot show or re-apply the original bytes. A `failed` event keeps its body
 * until it has been re-applied, since it is the only copy of what Kartra sent.
 */
export function createRetentionService({ repos, clock, transaction }: { repos: Repositories; clock: Clock; transaction: RunInTransaction }) {
  async function pruneRawBodies(): Promise<{ sitesChecked: number; bodiesPruned: number }> {
    const now = clock.now();
    let bodiesPruned = 0;
    const sites = await repos.sites.list('all');
    for (const site of sites) {
      const receivedBefore = new Date(now.getTime() - site.rawBodyRetentionDays * DAY_MS);
      for (;;) {
        const pruned = await transaction((tx) => tx.retention.pruneRawBodies(site.id, receivedBefore, now, BATCH_SIZE));
        bodiesPruned += pruned;
        if (pruned < BATCH_SIZE) break;
      }
    }
    return { sitesChecked: sites.length, bodiesPruned };
  }

  /**
   * Forgets notifications delivered or given up more than `retentionDays` ago, with their delivery attempts: the
   * outbox gains a row per endpoint for every access change, so without this it grows with the ledger's history for
   * good. Pending messages are kept whatever their age (they still owe a delivery).
   */
  async function pruneSettledNotifications(retentionDays: number): Promise<number> {
    const settledBefore = new Date(clock.now().getTime() - retentionDays * DAY_MS);
    let pruned = 0;
    for (;;) {
      const batch = await transaction((tx) => tx.outbox.pruneSettled(settledBefore, BATCH_SIZE));
      pruned += batch;
      if (batch < BATCH_SIZE) return pruned;
    }
  }

  return { pruneRawBodies, pruneSettledNotifications };
}
