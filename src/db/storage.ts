import type { Repositories, RunInTransaction } from '../domain/ports';
import { openDatabase, type OpenDatabase } from './database';
import { openPostgres, type PostgresDatabase } from './postgres/database';

export type StorageEngine = 'sqlite' | 'postgres';

export interface StorageConfig {
  databasePath: string;
  /** postgres://… selects PostgreSQL; otherwise the SQLite file at databasePath. */
  databaseUrl: string | null;
  databasePoolSize: number;
  databaseStatementTimeoutMs: number;
}

/** The one storage the service runs on, whichever engine: the domain sees only `repos` and `transaction`. */
export interface Storage {
  engine: StorageEngine;
  /** Where the data is, for logs and the CLI: the file, or the URL without its password. */
  location: string;
  repos: Repositories;
  transaction: RunInTransaction;
  /** Resolves while the engine answers a query (for /healthz). */
  ping(): Promise<void>;
  close(): Promise<void>;
  /** The engine's own handle, for what only that engine does (SQLite's online backup, raw checks in tests). */
  sqlite: OpenDatabase | null;
  postgres: PostgresDatabase | null;
}

/** A connection URL as it may be shown: the password replaced. */
export function displayUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(unparsable database URL)';
  }
}

export async function openStorage(config: StorageConfig, options: { migrate?: boolean } = {}): Promise<Storage> {
  if (config.databaseUrl) {
    const postgres = await openPostgres(config.databaseUrl, {
      poolSize: config.databasePoolSize,
      statementTimeoutMs: config.databaseStatementTimeoutMs,
      migrate: options.migrate,
    });
    return {
      engine: 'postgres',
      location: displayUrl(config.databaseUrl),
      repos: postgres.repos,
      transaction: postgres.transaction,
      ping: postgres.ping,
      close: postgres.close,
      sqlite: null,
      postgres,
    };
  }
  const sqlite = openDatabase(config.databasePath, options);
  return {
    engine: 'sqlite',
    location: config.databasePath,
    repos: sqlite.repos,
    transaction: sqlite.transaction,
    ping: async () => {
      sqlite.sqlite.prepare('select 1').get();
    },
    close: async () => sqlite.close(),
    sqlite,
    postgres: null,
  };
}
