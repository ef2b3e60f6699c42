import type Database from 'better-sqlite3';
import type { RunInGroupCommit } from '../domain/ports';

interface QueuedWork {
  work: () => unknown;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

type Settled = { ok: true; value: unknown } | { ok: false; error: unknown };

/**
 * With synchronous=FULL every commit waits for an fsync of the WAL, and on a cloud disk that costs more than all
 * the rest of an event. Work queued while the event loop is busy is committed together on the next `setImmediate`:
 * one outer IMMEDIATE transaction, a savepoint per unit of work (better-sqlite3 nests transactions as savepoints),
 * one fsync for the group. The group grows with the load by itself: the longer a flush takes, the more requests are
 * waiting when the next one starts.
 */
export function createGroupCommit(sqlite: Database.Database): RunInGroupCommit {
  let queue: QueuedWork[] = [];
  let flushScheduled = false;

  function flush(): void {
    flushScheduled = false;
    const group = queue;
    queue = [];
    const settled: Settled[] = [];
    try {
      sqlite
        .transaction(() => {
          for (const item of group) {
            try {
              settled.push({ ok: true, value: sqlite.transaction(item.work)() });
            } catch (error) {
              // An error that ended the outer transaction itself (SQLite rolls back on some I/O errors) would leave the
              // rest of the group in autocommit: fail the whole group instead.
              if (!sqlite.inTransaction) throw error;
              settled.push({ ok: false, error });
            }
          }
        })
        .immediate();
    } catch (error) {
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
