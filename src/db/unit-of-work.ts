import type Database from 'better-sqlite3';
import type { Repositories, RunInTransaction, Tx } from '../domain/ports';
import type { SyncRepositories } from './sync';

interface QueuedUnit {
  work: (tx: Tx) => Promise<unknown>;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

type Settled = { ok: true; value: unknown } | { ok: false; error: unknown };

export interface SqliteUnitOfWork {
  /** For work outside a transaction: each call runs on its own (autocommit), never inside another unit's transaction. */
  repos: Repositories;
  transaction: RunInTransaction;
}

/**
 * The SQLite adapter's transactions. One connection, one writer: units of work run one after another, and those
 * queued in the same turn of the event loop share one IMMEDIATE transaction, each in its own savepoint, with one
 * COMMIT (and so one fsync, under synchronous=FULL) for the group. The group grows with the load by itself: the
 * longer a group takes, the more units wait for the next one. Every unit's promise settles only after COMMIT has
 * returned, so nothing is answered before it is durable.
 *
 * Why not better-sqlite3's transaction(): it is synchronous, and an async callback would commit at its first await,
 * with the rest of the work outside any transaction and never rolled back. Here the transaction stays open across
 * the unit's awaits, and everything else waits: a call through `repos` (outside any unit) made while a group is open
 * runs once it has committed, because on one connection it would otherwise join that group's transaction.
 *
 * A unit must await only its own `tx`: awaiting an outside call or another transaction from inside a unit would wait
 * for the group it is part of, forever.
 */
export function createSqliteUnitOfWork(sqlite: Database.Database, sync: SyncRepositories): SqliteUnitOfWork {
  let queue: QueuedUnit[] = [];
  let flushScheduled = false;
  let groupOpen = false;
  let waitingForGroup: (() => void)[] = [];
  /** The unit running now; a handle of any other unit is refused. */
  let activeUnit: object | null = null;

  // Prepared once. Savepoints nest under one name: RELEASE and ROLLBACK TO act on the innermost of that name.
  const begin = sqlite.prepare('BEGIN IMMEDIATE');
  const commit = sqlite.prepare('COMMIT');
  const rollback = sqlite.prepare('ROLLBACK');
  const savepoint = sqlite.prepare('SAVEPOINT unit');
  const release = sqlite.prepare('RELEASE unit');
  const rollbackToSavepoint = sqlite.prepare('ROLLBACK TO unit');

  function runNow<T>(call: () => T): Promise<T> {
    try {
      return Promise.resolve(call());
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** The async repositories over the sync ones, every call passing through `gate`. */
  function wrap(gate: <T>(call: () => T) => Promise<T>): Repositories {
    const wrapped: Record<string, Record<string, unknown>> = {};
    for (const [name, repository] of Object.entries(sync) as [string, Record<string, unknown>][]) {
      const methods: Record<string, unknown> = {};
      for (const [method, implementation] of Object.entries(repository)) {
        if (typeof implementation === 'function') methods[method] = (...args: unknown[]) => gate(() => (implementation as (...a: unknown[]) => unknown)(...args));
      }
      wrapped[name] = methods;
    }
    return wrapped as unknown as Repositories;
  }

  const outside = wrap(<T>(call: () => T): Promise<T> => {
    if (!groupOpen) return runNow(call);
    return new Promise<T>((resolve, reject) => waitingForGroup.push(() => runNow(call).then(resolve, reject)));
  });

  async function inSavepoint<T>(tx: Tx, work: (tx: Tx) => Promise<T>): Promise<T> {
    savepoint.run();
    try {
      const value = await work(tx);
      release.run();
      return value;
    } catch (error) {
      // Some errors (disk full, I/O) end the whole transaction; then there is no savepoint left to roll back to.
      if (sqlite.inTransaction) {
        rollbackToSavepoint.run();
        release.run();
      }
      throw error;
    }
  }

  /**
   * The repositories of one unit: usable while it runs, refused after (a stray call would land in another unit's
   * transaction). The methods are wrapped once and shared through prototypes; a unit's handle only adds which unit it
   * is, since building a hundred closures per delivery cost more than some of the statements it runs.
   */
  const lockHeld = () => Promise.resolve();
  const staleHandle = () => Promise.reject(new Error('a transaction handle was used after its unit of work ended'));
  const unitPrototypes = Object.entries(sync).map(([name, repository]) => {
    const prototype: Record<string, unknown> = {};
    for (const [method, implementation] of Object.entries(repository as Record<string, unknown>)) {
      if (typeof implementation !== 'function') continue;
      prototype[method] = function (this: { unit: object }, ...args: unknown[]) {
        return this.unit === activeUnit ? runNow(() => (implementation as (...a: unknown[]) => unknown)(...args)) : staleHandle();
      };
    }
    return [name, prototype] as const;
  });

  function txFor(unit: object): Tx {
    const handle: Record<string, unknown> = {};
    const tx = handle as unknown as Tx;
    handle.savepoint = <T>(work: (tx: Tx) => Promise<T>) => inSavepoint(tx, work);
    // One writer: every unit already runs alone, so a lock has nothing to wait for.
    handle.lock = lockHeld;
    for (const [name, prototype] of unitPrototypes) handle[name] = Object.assign(Object.create(prototype) as object, { unit });
    return tx;
  }

  async function flush(): Promise<void> {
    flushScheduled = false;
    const group = queue;
    queue = [];
    groupOpen = true;
    const settled: Settled[] = [];
    let groupError: { error: unknown } | null = null;
    try {
      begin.run();
      for (const unit of group) {
        activeUnit = unit;
        try {
          settled.push({ ok: true, value: await inSavepoint(txFor(unit), unit.work) });
        } catch (error) {
          settled.push({ ok: false, error });
        } finally {
          activeUnit = null;
        }
        // An error that ended SQLite's transaction would leave the rest of the group (and anything a unit wrote after
        // catching it) outside any transaction: fail the whole group instead.
        if (!sqlite.inTransaction) {
          const last = settled[settled.length - 1];
          throw last && !last.ok ? last.error : new Error('the transaction ended before its last unit of work');
        }
      }
      commit.run();
    } catch (error) {
      groupError = { error };
      if (sqlite.inTransaction) rollback.run();
    } finally {
      groupOpen = false;
    }
    group.forEach((unit, index) => {
      const outcome = settled[index];
      if (groupError) unit.reject(groupError.error);
      else if (outcome?.ok) unit.resolve(outcome.value);
      else unit.reject(outcome?.error);
    });
    const waiting = waitingForGroup;
    waitingForGroup = [];
    for (const run of waiting) run();
    if (queue.length > 0) schedule();
  }

  function schedule(): void {
    if (flushScheduled || groupOpen) return;
    flushScheduled = true;
    setImmediate(() => void flush());
  }

  const transaction: RunInTransaction = <T>(work: (tx: Tx) => Promise<T>) =>
    new Promise<T>((resolve, reject) => {
      queue.push({ work: work as (tx: Tx) => Promise<unknown>, resolve: resolve as (value: unknown) => void, reject });
      schedule();
    });

  return { repos: outside, transaction };
}
