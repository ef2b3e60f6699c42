import Database from 'better-sqlite3';
import { drizzle, type BetterSQLite3Database } from 'drizzle-orm/better-sqlite3';
import { migrate } from 'drizzle-orm/better-sqlite3/migrator';
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { RunInGroupCommit, RunInTransaction } from '../domain/ports';
import { createGroupCommit } from './group-commit';
import * as schema from './schema';

export type Db = BetterSQLite3Database<typeof schema>;

export interface OpenDatabase {
  db: Db;
  sqlite: Database.Database;
  transaction: RunInTransaction;
  /** Groups the commits of concurrent webhook deliveries into one durable transaction. */
  groupCommit: RunInGroupCommit;
  close(): void;
}

export const MIGRATIONS_FOLDER = resolve(__dirname, '../../migrations');

/** Opens (creating if needed) and migrates the SQLite file. */
export function openDatabase(file: string, options: { migrate?: boolean } = {}): OpenDatabase {
  if (file !== ':memory:') mkdirSync(dirname(resolve(file)), { recursive: true });
  const sqlite = new Database(file);
  // WAL lets readers (the admin pages) run beside the writer; synchronous=FULL makes each commit durable before
  // we answer Kartra, which is the promise the intake makes.
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('synchronous = FULL');
  sqlite.pragma('foreign_keys = ON');
  sqlite.pragma('busy_timeout = 5000');
  // Each delivery runs in a savepoint of a group commit, and SQLite copies every page a savepoint first touches to a
  // statement journal: in memory that is a memcpy, in a temp file (the default past 64 KiB) a write() per page.
  sqlite.pragma('temp_store = MEMORY');
  const db = drizzle(sqlite, { schema });
  if (options.migrate !== false) migrate(db, { migrationsFolder: MIGRATIONS_FOLDER });
  // IMMEDIATE takes the write lock at BEGIN, so two processes on one file cannot both read-then-write and deadlock.
  // Nested calls become savepoints (better-sqlite3), which roll back on their own when their callback throws.
  // Built once: better-sqlite3's transaction() wraps its function four ways (deferred, immediate…) on every call.
  const runInTransaction = sqlite.transaction((work: () => unknown) => work());
  const transaction: RunInTransaction = <T>(work: () => T) => runInTransaction.immediate(work) as T;
  return {
    db,
    sqlite,
    transaction,
    groupCommit: createGroupCommit(sqlite),
    close: () => {
      if (sqlite.open) sqlite.close();
    },
  };
}
