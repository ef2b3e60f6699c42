import { drizzle, type NodePgDatabase } from 'drizzle-orm/node-postgres';
import { migrate } from 'drizzle-orm/node-postgres/migrator';
import { resolve } from 'node:path';
import { Client, Pool, type PoolClient } from 'pg';
import { ConcurrentUpdateError } from '../../domain/errors';
import type { Repositories, RunInTransaction, Tx } from '../../domain/ports';
import { createPgRepositories } from './repositories';
import * as schema from './schema';

export type PgDb = NodePgDatabase<typeof schema>;

export const PG_MIGRATIONS_FOLDER = resolve(__dirname, '../../../migrations/postgres');

export interface PostgresOptions {
  /** Connections this instance keeps open; every instance on the database has its own pool. */
  poolSize: number;
  /** A statement running longer than this is cancelled by the server (0: no limit). */
  statementTimeoutMs: number;
  /** How many times a unit of work is retried after a serialisation failure or a deadlock. */
  maxRetries?: number;
  migrate?: boolean;
}

/**
 * SQLSTATEs after which the whole unit of work is run again: serialisation failure, deadlock detected, and a unique
 * violation (another instance created the same member, product or grant between our read and our insert: the retry
 * reads theirs). Each retry starts a fresh transaction, so nothing of the failed attempt is kept.
 */
const RETRYABLE = new Set(['40001', '40P01', '23505']);

function sqlState(error: unknown): string | undefined {
  for (let current: unknown = error; current && typeof current === 'object'; current = (current as { cause?: unknown }).cause) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)) return code;
  }
  return undefined;
}

export function isRetryable(error: unknown): boolean {
  if (error instanceof ConcurrentUpdateError) return true;
  const state = sqlState(error);
  return state !== undefined && RETRYABLE.has(state);
}

function asConcurrentUpdate(error: unknown): unknown {
  if (error instanceof ConcurrentUpdateError || !isRetryable(error)) return error;
  return new ConcurrentUpdateError(`another instance changed the same data at once (SQLSTATE ${sqlState(error) ?? '?'})`, { cause: error });
}

const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms));

/**
 * Runs `work` again after it lost a race (isRetryable), up to `maxRetries` times, with jittered backoff so two units
 * that collided do not collide again in step. `work` must start a fresh transaction each time.
 */
export async function retryLostRaces<T>(work: () => Promise<T>, maxRetries = 8): Promise<T> {
  for (let tries = 0; ; tries++) {
    try {
      return await work();
    } catch (error) {
      if (tries >= maxRetries || !isRetryable(error)) throw error;
      await sleep(Math.random() * Math.min(100, 2 ** tries * 5));
    }
  }
}

export interface PostgresDatabase {
  pool: Pool;
  db: PgDb;
  repos: Repositories;
  transaction: RunInTransaction;
  /** One round trip to the server, for /healthz. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/**
 * PostgreSQL's text cannot hold U+0000, and a string parameter with one fails the whole statement (SQLSTATE 22021):
 * a hook URL with `%00` in it, or a Kartra name with a NUL, would be a 500 or a failed event here and fine on SQLite.
 * Every string parameter has its NULs replaced with U+FFFD (the replacement character) on its way to the server: a
 * lookup with one finds nothing, as no stored key has one; a name keeps every other character. Raw bodies are bytea
 * (Buffers pass untouched), so the bytes as received are still stored exactly.
 */
class NulSafeClient extends Client {}
const passQuery = Client.prototype.query as (this: Client, ...args: unknown[]) => unknown;
const withoutNul = (value: unknown): unknown =>
  typeof value === 'string' ? (value.includes('\u0000') ? value.replaceAll('\u0000', '\uFFFD') : value) : Array.isArray(value) ? value.map(withoutNul) : value;
Object.defineProperty(NulSafeClient.prototype, 'query', {
  value: function query(this: Client, ...args: unknown[]): unknown {
    const [config, values, ...rest] = args;
    const safeConfig =
      // Only a plain config object is copied: a submittable (a Query or a cursor) keeps its prototype.
      config && typeof config === 'object' && Object.getPrototypeOf(config) === Object.prototype && Array.isArray((config as { values?: unknown }).values)
        ? { ...config, values: (config as { values: unknown[] }).values.map(withoutNul) }
        : config;
    return passQuery.call(this, safeConfig, Array.isArray(values) ? values.map(withoutNul) : values, ...rest);
  },
});

/**
 * The PostgreSQL adapter's transactions: each unit of work runs on its own pooled connection, concurrently with
 * others (also those of other service instances), at READ COMMITTED. Where a read decides a write, the domain asks for
 * `tx.lock(key)`, a transaction-scoped advisory lock, and unique constraints with ON CONFLICT settle the rest; a unit
 * that still loses a race (serialisation failure, deadlock, unique violation) is rolled back and run again, which the
 * port allows (RunInTransaction in domain/ports.ts).
 */
export async function openPostgres(url: string, options: PostgresOptions): Promise<PostgresDatabase> {
  const pool = new Pool({
    Client: NulSafeClient,
    connectionString: url,
    max: options.poolSize,
    ...(options.statementTimeoutMs > 0 ? { statement_timeout: options.statementTimeoutMs } : {}),
  });
  // An idle connection the server dropped (restart, failover) must not crash the process; the pool replaces it.
  pool.on('error', () => undefined);
  const db: PgDb = drizzle(pool, { schema });
  if (options.migrate !== false) await migrateWithLock(pool);
  const maxRetries = options.maxRetries ?? 8;

  /**
   * One unit's handle: its repositories are built once per unit (savepoints share them: same connection) and refuse
   * to run once the unit has ended, since the connection has gone back to the pool and may carry another unit by then.
   */
  function txFor(scope: PgDb, client: PoolClient, unit: { open: boolean }): Tx {
    const repositories = createPgRepositories(scope, () => {
      if (!unit.open) throw new Error('a transaction handle was used after its unit of work ended');
    });
    // Keys this transaction holds: asking again is a no-op, so it costs no round trip.
    let locked = new Set<string>();
    const tx: Tx = {
      ...repositories,
      savepoint: async <T>(work: (tx: Tx) => Promise<T>): Promise<T> => {
        await client.query('SAVEPOINT unit');
        const lockedBefore = new Set(locked);
        try {
          const value = await work(tx);
          await client.query('RELEASE SAVEPOINT unit');
          return value;
        } catch (error) {
          await client.query('ROLLBACK TO SAVEPOINT unit');
          await client.query('RELEASE SAVEPOINT unit');
          // Rolling back to a savepoint releases the locks taken after it.
          locked = lockedBefore;
          // The domain catches errors of a savepoint (the intake records them as a failed event); a lost race must
          // reach the runner instead, as the one error type the domain knows for it.
          throw asConcurrentUpdate(error);
        }
      },
      lock: async (key: string) => {
        if (!unit.open) throw new Error('a transaction handle was used after its unit of work ended');
        if (locked.has(key)) return;
        // hashtextextended: 64 bits of the key, so unrelated keys rarely share a lock.
        await client.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [key]);
        locked.add(key);
      },
    };
    return tx;
  }

  async function attempt<T>(work: (tx: Tx) => Promise<T>): Promise<T> {
    const client = await pool.connect();
    const unit = { open: true };
    let broken = false;
    try {
      await client.query('BEGIN');
      // Without the schema: the repositories use no relational queries, and building their map per unit costs.
      const scope = drizzle(client) as unknown as PgDb;
      const value = await work(txFor(scope, client, unit));
      await client.query('COMMIT');
      return value;
    } catch (error) {
      try {
        await client.query('ROLLBACK');
      } catch {
        broken = true;
      }
      throw error;
    } finally {
      unit.open = false;
      client.release(broken);
    }
  }

  const transaction: RunInTransaction = <T>(work: (tx: Tx) => Promise<T>): Promise<T> =>
    retryLostRaces(() => attempt(work), maxRetries).catch((error: unknown) => {
      throw asConcurrentUpdate(error);
    });

  return {
    pool,
    db,
    repos: createPgRepositories(db),
    transaction,
    ping: async () => {
      await pool.query('SELECT 1');
    },
    close: () => pool.end(),
  };
}

/** Several instances may start at once: one migrates, the others wait on the same advisory lock and find it done. */
async function migrateWithLock(pool: Pool): Promise<void> {
  const client = await pool.connect();
  try {
    await client.query('SELECT pg_advisory_lock(hashtextextended($1, 0))', ['kartra-access migrations']);
    try {
      await migrate(drizzle(client, { schema }), { migrationsFolder: PG_MIGRATIONS_FOLDER });
    } finally {
      await client.query('SELECT pg_advisory_unlock(hashtextextended($1, 0))', ['kartra-access migrations']);
    }
  } finally {
    client.release();
  }
}
