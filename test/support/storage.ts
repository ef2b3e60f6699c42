import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { openDatabase } from '../../src/db/database';
import { openPostgres } from '../../src/db/postgres/database';
import type { Repositories, RunInTransaction } from '../../src/domain/ports';

export type Engine = 'sqlite' | 'postgres';

/**
 * The engine this jest run tests. `npm test` runs the whole suite once per engine (test/run-suites.ts sets
 * TEST_ENGINE and TEST_DATABASE_URL, the superuser URL of a throwaway cluster); a bare `jest` tests SQLite.
 */
export const testEngine: Engine = process.env.TEST_ENGINE === 'postgres' ? 'postgres' : 'sqlite';

export interface TestStorage {
  engine: Engine;
  repos: Repositories;
  transaction: RunInTransaction;
  /** Environment for composing the service on this same database (DATABASE_PATH or DATABASE_URL). */
  env: Record<string, string>;
  /** Raw SQL for what a test checks beneath the ports; `?` placeholders on both engines. */
  query<Row = Record<string, unknown>>(text: string, params?: unknown[]): Promise<Row[]>;
  close(): Promise<void>;
}

function adminUrl(): string {
  const url = process.env.TEST_DATABASE_URL;
  if (!url) throw new Error('TEST_ENGINE=postgres needs TEST_DATABASE_URL (the superuser URL of a cluster); npm test sets both');
  return url;
}

/** `?` → `$1, $2, …` outside quoted strings, so one test query reads on both engines. */
export function toPgPlaceholders(text: string): string {
  let index = 0;
  let quoted = false;
  let out = '';
  for (const char of text) {
    if (char === "'") quoted = !quoted;
    out += char === '?' && !quoted ? `$${++index}` : char;
  }
  return out;
}

/** A new, empty database on the engine under test (a fresh database on the cluster, or a SQLite file). */
export async function createEmptyDatabase(engine: Engine = testEngine): Promise<{ env: Record<string, string>; url?: string; path?: string; drop(): Promise<void> }> {
  if (engine === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'kartra-access-test-'));
    const path = join(dir, 'test.db');
    return { env: { DATABASE_PATH: path }, path, drop: async () => rmSync(dir, { recursive: true, force: true }) };
  }
  const admin = new URL(adminUrl());
  const name = `test_${randomBytes(6).toString('hex')}`;
  const client = new Client({ connectionString: admin.toString() });
  await client.connect();
  try {
    await client.query(`CREATE DATABASE ${name}`);
  } finally {
    await client.end();
  }
  const url = new URL(admin.toString());
  url.pathname = `/${name}`;
  return {
    env: { DATABASE_URL: url.toString() },
    url: url.toString(),
    drop: async () => {
      const dropper = new Client({ connectionString: admin.toString() });
      await dropper.connect();
      try {
        await dropper.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await dropper.end();
      }
    },
  };
}

/** The repositories on a fresh, migrated database of the engine under test. */
export async function createTestStorage(engine: Engine = testEngine): Promise<TestStorage> {
  const database = await createEmptyDatabase(engine);
  if (engine === 'sqlite') {
    const opened = openDatabase(database.path ?? '');
    return {
      engine,
      repos: opened.repos,
      transaction: opened.transaction,
      env: database.env,
      query: async <Row>(text: string, params: unknown[] = []) => opened.sqlite.prepare(text).all(...params) as Row[],
      close: async () => {
        opened.close();
        await database.drop();
      },
    };
  }
  const opened = await openPostgres(database.url ?? '', { poolSize: 5, statementTimeoutMs: 10_000 });
  return {
    engine,
    repos: opened.repos,
    transaction: opened.transaction,
    env: database.env,
    query: async <Row>(text: string, params: unknown[] = []) => (await opened.pool.query(toPgPlaceholders(text), params)).rows as Row[],
    close: async () => {
      await opened.close();
      await database.drop();
    },
  };
}

/**
 * For tests of what only the SQLite adapter does (its file, WAL, online backup, serialised unit of work): they run
 * in the SQLite pass of `npm test` and show as skipped in the PostgreSQL pass, which has its own tests for the same
 * promises where they apply.
 */
export const describeSqliteOnly: jest.Describe = describeFor('sqlite');
/** For tests of what only the PostgreSQL adapter does (several instances on one database). */
export const describePostgresOnly: jest.Describe = describeFor('postgres');

/** Outside jest (the bench and scripts import this module too) there is no `describe`; nothing asks for one there. */
function describeFor(engine: Engine): jest.Describe {
  if (typeof describe !== 'function') return (() => undefined) as unknown as jest.Describe;
  return testEngine === engine ? describe : describe.skip;
}

/**
 * Expects `promise` to fail on a unique constraint, on either engine. Checked by the error's code, not with
 * `rejects.toThrow()`: better-sqlite3's native addon builds its errors with the SqliteError class of the first test
 * file that loaded it, so in later files of the same jest worker they are not `instanceof Error` and toThrow says
 * "did not throw".
 */
export async function expectUniqueViolation(promise: Promise<unknown>): Promise<void> {
  const outcome = await promise.then(
    () => ({ failed: false, code: '' }),
    (error: unknown) => ({ failed: true, code: String((error as { code?: unknown } | null)?.code) }),
  );
  expect(outcome.failed).toBe(true);
  expect(outcome.code).toMatch(/^(SQLITE_CONSTRAINT_(UNIQUE|PRIMARYKEY)|23505)$/);
}
