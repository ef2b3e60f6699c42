import Database from 'better-sqlite3';
import { drizzle, type BetterSQLite3Database } from 'drizzle-orm/better-sqlite3';
import { migrate } from 'drizzle-orm/better-sqlite3/migrator';
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { Repositories, RunInTransaction } from '../domain/ports';
import { createRepositories } from './repositories';
import * as schema from './schema';
import { createSqliteUnitOfWork } from './unit-of-work';

export type Db = BetterSQLite3Database<typeof schema>;

export interface OpenDatabase {
  db: Db;
  sqlite: Database.Database;
  /** The repositories for work outside a transaction; each call commits on its own. */
  repos: Repositories;
  /** Units of work; concurrent ones share one durable commit (see unit-of-work.ts). */
  transaction: RunInTransaction;
  close(): void;
}

export const MIGRATIONS_FOLDER = resolve(__dirname, '../../migrations/sqlite');

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
  // IMMEDIATE (in unit-of-work.ts) takes the write lock at BEGIN, so two processes on one file cannot both
  // read-then-write and deadlock.
  const { repos, transaction } = createSqliteUnitOfWork(sqlite, createRepositories(db));
  return {
    db,
    sqlite,
    repos,
    transaction,
    close: () => {
      if (sqlite.open) sqlite.close();
    },
  };
}
