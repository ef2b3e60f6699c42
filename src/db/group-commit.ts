import type Database from 'better-sqlite3';
import type { RunInGroupCommit } from '../domain/ports';

interface QueuedWork {
  work: () => unknown;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

type Settled = { ok: true; value: unknown } | { ok: false; error: unknown };

/**
 * With synchronous=FULL every commit waits for an fsync of the WAL, which costs more than all the rest of an event.
 * Work queued while the event loop is busy is committed together on the next `setImmediate`: one IMMEDIATE
 * transaction, a savepoint per unit of work (better-sqlite3 nests transactions as savepoints), one fsync for the
 * group. The group grows with the load by itself: the longer a flush takes, the more requests wait for the next.
 * Promises settle only after COMMIT has returned, so nothing is answered before it is durable.
 */
export function createGroupCommit(sqlite: Database.Database): RunInGroupCommit {
  let queue: QueuedWork[] = [];
  let flushScheduled = false;

  // Both built once: better-sqlite3's transaction() wraps its function four ways on every call.
  const runInSavepoint = sqlite.transaction((work: () => unknown) => work());
  const runGroup = sqlite.transaction((group: QueuedWork[]): Settled[] => {
    const settled: Settled[] = [];
    for (const item of group) {
      try {
        settled.push({ ok: true, value: runInSavepoint(item.work) });
      } catch (error) {
        settled.push({ ok: false, error });
      }
      // Some errors (disk full, I/O) make SQLite roll back the whole transaction; the rest of the group (and anything
      // this unit wrote after catching one) would then run outside it. Fail the whole group instead.
      if (!sqlite.inTransaction) {
        const last = settled[settled.length - 1];
        throw last && !last.ok ? last.error : new Error('the group commit transaction ended before its last unit of work');
      }
    }
    return settled;
  });

  function flush(): void {
    flushScheduled = false;
    const group = queue;
    queue = [];
    let settled: Settled[];
    try {
      settled = runGroup.immediate(group);
    } catch (error) {
      // Nothing of the group was committed (better-sqlite3 rolls back when the function or COMMIT throws).
      for (const item of group) item.reject(error);
      return;
    }
    group.forEach((item, index) => {
      const outcome = settled[index];
      if (outcome?.ok) item.resolve(outcome.value);
      else item.reject(outcome?.error);
    });
  }

  return <T>(work: () => T) =>
    new Promise<T>((resolve, reject) => {
      queue.push({ work, resolve: resolve as (value: unknown) => void, reject });
      if (!flushScheduled) {
        flushScheduled = true;
        setImmediate(flush);
      }
    });
}
