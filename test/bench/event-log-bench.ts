import Database from 'better-sqlite3';
import express from 'express';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Pool } from 'pg';
import { composeApp, type ComposedApp } from '../../src/compose';
import { loadConfig } from '../../src/config';
import { SESSION_COOKIE } from '../../src/http/pages/admin-session';
import { databaseUrl, withClient } from './bench-postgres';
import { seedEventLog, type SeedOptions, type SeededLog } from './seed-event-log';
import { seedEventLogPostgres, type PostgresSeedTimes } from './seed-event-log-postgres';

export type BenchEngine = 'sqlite' | 'postgres';

export interface QueryTiming {
  name: string;
  /** The admin JSON API or an HTML page of the App Station. */
  surface: 'api' | 'page';
  requests: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

/** EXPLAIN (ANALYZE, BUFFERS) of the SELECTs one request ran, for a query that missed p99 < 10 ms on PostgreSQL. */
export interface QueryExplain {
  name: string;
  /** The request's full path, /api/v1/… or /admin/…. */
  path: string;
  statements: { sql: string; params: unknown[]; plan: string }[];
}

export interface EventLogBenchResults {
  engine: BenchEngine;
  /** The engine and what matters for reads: PostgreSQL's version and shared_buffers. */
  engineDescription: string;
  seed: Omit<SeededLog, 'sites'> & { options: SeedOptions; postgres?: PostgresSeedTimes; reused: boolean };
  databaseBytes: number;
  /** The raw bodies' own bytes. */
  rawBodyBytes: number;
  /** What the raw bodies take on disk (PostgreSQL compresses values over 2 kB; SQLite stores them as they are). */
  rawBodyStoredBytes: number;
  bytesPerEventBeyondRawBody: number;
  eventTableBytesPerEventBeyondRawBody: number | null;
  queries: QueryTiming[];
  explains: QueryExplain[];
}

function percentile(sorted: number[], fraction: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.ceil(fraction * sorted.length) - 1)] as number;
}

const round2 = (value: number) => Math.round(value * 100) / 100;

/** Bytes the webhook_events table and its indexes take, when this SQLite build has the dbstat table. */
function eventTableBytes(file: string): number | null {
  const sqlite = new Database(file, { readonly: true });
  try {
    const row = sqlite
      .prepare("select sum(pgsize) as bytes from dbstat where name = 'webhook_events' or name like 'webhook_events_%' or name = 'event_fingerprints' or name like 'sqlite_autoindex_event_fingerprints%'")
      .get() as { bytes: number | null };
    return row.bytes;
  } catch {
    return null;
  } finally {
    sqlite.close();
  }
}

const QUERY_SLOW_MS = 10;

/**
 * Seeds a large log on the engine, then times the admin API's event-log and member reads through real HTTP. Times
 * are taken server side: from the moment the request reaches Express to the moment the response is handed to the
 * socket. On PostgreSQL the log goes into a new database on the server of `postgresAdminUrl` (a role that may create
 * databases), dropped afterwards unless BENCH_LOG_PG_DATABASE names one to keep and reuse.
 */
export async function benchEventLog(
  engine: BenchEngine,
  seedOptions: SeedOptions,
  repetitions: number,
  log: (line: string) => void,
  postgresAdminUrl: string | null = null,
): Promise<EventLogBenchResults> {
  if (engine === 'postgres') {
    if (!postgresAdminUrl) throw new Error('the event log bench on PostgreSQL needs a server');
    return benchEventLogPostgres(postgresAdminUrl, seedOptions, repetitions, log);
  }
  const dir = mkdtempSync(join(tmpdir(), 'kartra-access-log-bench-'));
  // BENCH_LOG_DATABASE=file keeps the seeded log there and reuses it on the next run (for iterating on queries).
  const kept = process.env.BENCH_LOG_DATABASE ? resolve(process.env.BENCH_LOG_DATABASE) : null;
  const file = kept ?? join(dir, 'log.db');
  try {
    let seeded: SeededLog;
    let reused = false;
    if (kept && existsSync(kept) && existsSync(`${kept}.seed.json`)) {
      seeded = JSON.parse(readFileSync(`${kept}.seed.json`, 'utf8')) as SeededLog;
      reused = true;
      log(`  sqlite: reusing the log seeded in ${kept}`);
    } else {
      log(`  sqlite: seeding ${seedOptions.events.toLocaleString('en')} events over ${seedOptions.members.toLocaleString('en')} members, ${seedOptions.products} products, ${seedOptions.sites} sites`);
      seeded = seedEventLog(file, seedOptions);
      if (kept) writeFileSync(`${kept}.seed.json`, JSON.stringify(seeded));
      log(`  sqlite: seeded in ${seeded.seconds.toFixed(1)} s`);
    }
    // The seed leaves gigabytes of dirty pages for the kernel to write back; timing queries while that runs would
    // measure the seed's disk traffic, which a live log does not have.
    const descriptor = openSync(file, 'r+');
    fsyncSync(descriptor);
    closeSync(descriptor);
    const databaseBytes = statSync(file).size;
    const reader = new Database(file, { readonly: true });
    const rawBodyBytes = Number(reader.prepare('select sum(length(raw_body)) from webhook_events').pluck().get());
    reader.close();
    const eventBytes = eventTableBytes(file);

    const composed = await composeApp(loadConfig({ DATABASE_PATH: file, LOG_LEVEL: 'silent', SWEEP_INTERVAL_SECONDS: '0', PUBLIC_URL: 'http://127.0.0.1' }));
    try {
      const { queries } = await timeQueries(composed, seeded, seedOptions, repetitions, (line) => log(`  sqlite: ${line}`));
      return {
        engine,
        engineDescription: `SQLite ${String(composed.database.sqlite?.sqlite.prepare('select sqlite_version()').pluck().get())}, WAL`,
        seed: { siteIds: seeded.siteIds, counts: seeded.counts, statusMix: seeded.statusMix, seconds: seeded.seconds, options: seedOptions, reused },
        databaseBytes,
        rawBodyBytes,
        rawBodyStoredBytes: rawBodyBytes,
        bytesPerEventBeyondRawBody: Math.round((databaseBytes - rawBodyBytes) / seeded.counts.events),
        eventTableBytesPerEventBeyondRawBody: eventBytes === null ? null : Math.round((eventBytes - rawBodyBytes) / seeded.counts.events),
        queries,
        explains: [],
      };
    } finally {
      await composed.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function benchEventLogPostgres(adminUrl: string, seedOptions: SeedOptions, repetitions: number, log: (line: string) => void): Promise<EventLogBenchResults> {
  const say = (line: string) => log(`  postgres: ${line}`);
  // BENCH_LOG_PG_DATABASE=name keeps the seeded log in that database of the server and reuses it on the next run.
  const kept = process.env.BENCH_LOG_PG_DATABASE || null;
  if (kept && !/^[a-z_][a-z0-9_]*$/.test(kept)) throw new Error('BENCH_LOG_PG_DATABASE must be a plain lower-case name');
  const name = kept ?? `kartra_bench_log_${randomBytes(4).toString('hex')}`;
  const url = databaseUrl(adminUrl, name);
  const exists = await withClient(adminUrl, async (admin) => (await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [name])).rowCount === 1);
  let seeded: SeededLog & { postgres?: PostgresSeedTimes };
  let reused = false;
  // A kept database holds its seed's description in bench_seed, written once the seed is complete.
  const previous = exists ? await withClient(url, async (client) => (await client.query<{ seed: string }>('SELECT seed FROM bench_seed').catch(() => ({ rows: [] }))).rows[0]) : undefined;
  if (previous) {
    seeded = JSON.parse(previous.seed) as SeededLog;
    reused = true;
    say(`reusing the log seeded in database ${name}`);
  } else {
    await withClient(adminUrl, async (admin) => {
      await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await admin.query(`CREATE DATABASE ${name}`);
    });
    say(`seeding ${seedOptions.events.toLocaleString('en')} events over ${seedOptions.members.toLocaleString('en')} members, ${seedOptions.products} products, ${seedOptions.sites} sites (COPY)`);
    seeded = await seedEventLogPostgres(url, seedOptions, say);
    say(`seeded in ${seeded.seconds.toFixed(1)} s (COPY ${seeded.postgres?.copySeconds.toFixed(1)} s, VACUUM ANALYZE and CHECKPOINT ${seeded.postgres?.vacuumAnalyzeSeconds.toFixed(1)} s)`);
    if (kept) {
      await withClient(url, async (client) => {
        await client.query('CREATE TABLE bench_seed (seed text NOT NULL)');
        await client.query('INSERT INTO bench_seed (seed) VALUES ($1)', [JSON.stringify(seeded)]);
      });
    }
  }
  try {
    const sizes = await withClient(url, async (client) => {
      const { rows } = await client.query<{ database: string; raw: string; raw_stored: string; events: string; version: string; shared_buffers: string }>(`SELECT
          pg_database_size(current_database())::text AS database,
          (SELECT coalesce(sum(octet_length(raw_body)), 0) FROM webhook_events)::text AS raw,
          (SELECT coalesce(sum(pg_column_size(raw_body)), 0) FROM webhook_events)::text AS raw_stored,
          (pg_total_relation_size('webhook_events') + pg_total_relation_size('event_fingerprints'))::text AS events,
          current_setting('server_version') AS version,
          current_setting('shared_buffers') AS shared_buffers`);
      const row = rows[0];
      if (!row) throw new Error('no sizes');
      return row;
    });
    const composed = await composeApp(loadConfig({ DATABASE_URL: url, LOG_LEVEL: 'silent', SWEEP_INTERVAL_SECONDS: '0', PUBLIC_URL: 'http://127.0.0.1' }));
    try {
      const { queries, explains } = await timeQueries(composed, seeded, seedOptions, repetitions, say);
      const databaseBytes = Number(sizes.database);
      const rawBodyBytes = Number(sizes.raw);
      const rawBodyStoredBytes = Number(sizes.raw_stored);
      return {
        engine: 'postgres',
        engineDescription: `PostgreSQL ${sizes.version.split(' ')[0]}, shared_buffers ${sizes.shared_buffers}`,
        seed: { siteIds: seeded.siteIds, counts: seeded.counts, statusMix: seeded.statusMix, seconds: seeded.seconds, options: seedOptions, postgres: seeded.postgres, reused },
        databaseBytes,
        rawBodyBytes,
        rawBodyStoredBytes,
        bytesPerEventBeyondRawBody: Math.round((databaseBytes - rawBodyStoredBytes) / seeded.counts.events),
        eventTableBytesPerEventBeyondRawBody: Math.round((Number(sizes.events) - rawBodyStoredBytes) / seeded.counts.events),
        queries,
        explains,
      };
    } finally {
      await composed.close();
    }
  } finally {
    if (!kept) await withClient(adminUrl, (admin) => admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
  }
}

/** The statements the service sends through its pool while `work` runs (drizzle calls pool.query(config, params)). */
async function captureStatements(pool: Pool, work: () => Promise<void>): Promise<{ sql: string; params: unknown[] }[]> {
  const captured: { sql: string; params: unknown[] }[] = [];
  const original = pool.query.bind(pool) as (...args: unknown[]) => unknown;
  const patched = pool as unknown as { query: (...args: unknown[]) => unknown };
  patched.query = (...args: unknown[]) => {
    const [config, params] = args;
    const text = typeof config === 'string' ? config : (config as { text?: string }).text;
    if (text) captured.push({ sql: text, params: Array.isArray(params) ? params : [] });
    return original(...args);
  };
  try {
    await work();
  } finally {
    patched.query = original;
  }
  return captured;
}

/** The admin API's reads, each timed `repetitions` times after a warm-up, on whichever engine `composed` runs. */
async function timeQueries(
  composed: ComposedApp,
  seeded: SeededLog,
  seedOptions: SeedOptions,
  repetitions: number,
  log: (line: string) => void,
): Promise<{ queries: QueryTiming[]; explains: QueryExplain[] }> {
  const { token } = await composed.services.tokens.create('bench', null);
  // Pages are timed as a signed-in admin of every seeded site sees them, through the session cookie.
  // A new admin per run: a kept, reused log (BENCH_LOG_DATABASE) already holds the admins of earlier runs.
  const password = 'bench-password-long-enough';
  const email = `bench-admin-${Date.now()}@example.com`;
  await composed.services.admins.createAdmin({ email, password, timeZone: 'Europe/Berlin', siteIds: seeded.siteIds });
  const signedIn = await composed.services.admins.signIn(email, password);
  if (!signedIn) throw new Error('the bench admin could not sign in');
  let timings: { ms: number; path: string }[] = [];
  const timed = express();
  timed.use(function timeRequest(req, res, next) {
    const startedAt = process.hrtime.bigint();
    res.on('finish', () => timings.push({ ms: Number(process.hrtime.bigint() - startedAt) / 1e6, path: req.originalUrl }));
    next();
  });
  timed.use(composed.app);
  const server = timed.listen(0, '127.0.0.1');
  await new Promise((done) => server.once('listening', done));
  try {
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const apiHeaders = { authorization: `Bearer ${token}` };
    const pageHeaders = { cookie: `${SESSION_COOKIE}=${signedIn.sessionToken}` };
    let seed = 1;
    const random = () => {
      seed = (seed * 48271) % 2147483647;
      return seed / 2147483647;
    };
    const pick = <T>(items: T[]): T => items[Math.floor(random() * items.length)] as T;
    const site = () => pick(seeded.sites);
    const cursorFor = (eventId: number) => Buffer.from(`e:${eventId}`).toString('base64url');
    const spanMs = seedOptions.days * 86_400_000;
    const startMs = seedOptions.endAt.getTime() - spanMs;
    const iso = (ms: number) => new Date(ms).toISOString();

    const queries: { name: string; surface?: 'page'; path: () => string }[] = [
      { name: 'events: first page (50)', path: () => `/sites/${site().siteId}/events` },
      {
        name: 'events: deep page via cursor',
        // A cursor from deep in the log (the back half of the site's events), as a client that paged that far holds.
        path: () => {
          const s = site();
          return `/sites/${s.siteId}/events?cursor=${cursorFor(s.minEventId + Math.floor(random() * (s.maxEventId - s.minEventId) * 0.5))}`;
        },
      },
      { name: 'events: status=failed (rare)', path: () => `/sites/${site().siteId}/events?status=failed` },
      { name: 'events: status=unmapped,invalid', path: () => `/sites/${site().siteId}/events?status=unmapped,invalid` },
      {
        name: 'events: by email',
        path: () => {
          const s = site();
          return `/sites/${s.siteId}/events?email=${encodeURIComponent(pick(s.emails))}`;
        },
      },
      {
        name: 'events: by product',
        path: () => {
          const s = site();
          return `/sites/${s.siteId}/events?productId=${pick(s.productIds)}`;
        },
      },
      {
        name: 'events: 1-day time range',
        path: () => {
          const from = startMs + Math.floor(random() * (spanMs - 86_400_000));
          return `/sites/${site().siteId}/events?since=${iso(from)}&until=${iso(from + 86_400_000)}`;
        },
      },
      {
        name: 'events: 30-day time range',
        path: () => {
          const from = startMs + Math.floor(random() * (spanMs - 30 * 86_400_000));
          return `/sites/${site().siteId}/events?since=${iso(from)}&until=${iso(from + 30 * 86_400_000)}`;
        },
      },
      {
        name: 'events: whole-year time range',
        path: () => `/sites/${site().siteId}/events?since=${iso(startMs)}&until=${iso(startMs + spanMs)}`,
      },
      {
        name: 'events: status=failed, 30 days',
        path: () => {
          const from = startMs + Math.floor(random() * (spanMs - 30 * 86_400_000));
          return `/sites/${site().siteId}/events?status=failed&since=${iso(from)}&until=${iso(from + 30 * 86_400_000)}`;
        },
      },
      {
        name: 'event detail',
        path: () => {
          const s = site();
          return `/sites/${s.siteId}/events/${s.minEventId + Math.floor(random() * (s.maxEventId - s.minEventId))}`;
        },
      },
      {
        name: 'member page (grants + history)',
        path: () => {
          const s = site();
          return `/sites/${s.siteId}/members/${pick(s.memberIds)}`;
        },
      },
      { name: 'Kartra page', surface: 'page', path: () => `/sites/${site().siteId}/kartra` },
      { name: 'Mappings', surface: 'page', path: () => `/sites/${site().siteId}/mappings` },
      { name: 'Webhook activity: first page', surface: 'page', path: () => `/sites/${site().siteId}/events` },
      { name: 'Webhook activity: failed, 7 days', surface: 'page', path: () => `/sites/${site().siteId}/events?outcome=failed&range=7d` },
      {
        name: 'Webhook activity: by email',
        surface: 'page',
        path: () => {
          const s = site();
          return `/sites/${s.siteId}/events?search=${encodeURIComponent(pick(s.emails))}`;
        },
      },
      {
        name: 'Webhook activity: deep page',
        surface: 'page',
        path: () => {
          const s = site();
          return `/sites/${s.siteId}/events?cursor=${cursorFor(s.minEventId + Math.floor(random() * (s.maxEventId - s.minEventId) * 0.5))}`;
        },
      },
      {
        name: 'event page',
        surface: 'page',
        path: () => {
          const s = site();
          return `/sites/${s.siteId}/events/${s.minEventId + Math.floor(random() * (s.maxEventId - s.minEventId))}`;
        },
      },
      {
        name: 'Members: search',
        surface: 'page',
        path: () => {
          const s = site();
          return `/sites/${s.siteId}/members?q=${encodeURIComponent(pick(s.emails).slice(0, 12))}`;
        },
      },
      {
        name: 'member page',
        surface: 'page',
        path: () => {
          const s = site();
          return `/sites/${s.siteId}/members/${pick(s.memberIds)}`;
        },
      },
      { name: 'Levels', surface: 'page', path: () => `/sites/${site().siteId}/levels` },
      { name: 'Needs attention', surface: 'page', path: () => `/sites/${site().siteId}/attention` },
    ];

    const get = async (path: string, surface: 'api' | 'page' = 'api') => {
      const response = await fetch(surface === 'page' ? `${base}/admin${path}` : `${base}/api/v1${path}`, { headers: surface === 'page' ? pageHeaders : apiHeaders, redirect: 'manual' });
      await response.arrayBuffer();
      return response.status;
    };
    const results: QueryTiming[] = [];
    const explains: QueryExplain[] = [];
    // BENCH_EXPLAIN=all explains every query on PostgreSQL, not only those missing p99 < 10 ms.
    const explainAll = process.env.BENCH_EXPLAIN === 'all';
    for (const query of queries) {
      const warmup = Math.max(5, Math.floor(repetitions / 10));
      const surface = query.surface ?? 'api';
      for (let i = 0; i < warmup; i++) await get(query.path(), surface);
      timings = [];
      for (let i = 0; i < repetitions; i++) {
        const status = await get(query.path(), surface);
        // An event id between sites' ranges can belong to another site: a 404 is a real, timed answer too.
        if (status !== 200 && status !== 404) throw new Error(`${query.name}: ${status}`);
      }
      const sorted = [...timings].sort((a, b) => a.ms - b.ms);
      const ms = sorted.map((timing) => timing.ms);
      const result: QueryTiming = { name: query.name, surface, requests: sorted.length, p50Ms: round2(percentile(ms, 0.5)), p99Ms: round2(percentile(ms, 0.99)), maxMs: round2(ms[ms.length - 1] ?? 0) };
      results.push(result);
      log(`${query.name}: p50 ${result.p50Ms} ms, p99 ${result.p99Ms} ms, max ${result.maxMs} ms`);
      const pool = composed.database.postgres?.pool;
      if (pool && (explainAll || result.p99Ms >= QUERY_SLOW_MS)) {
        // The request at p99 once more, its statements captured, then each SELECT explained on its own connection.
        const slow = sorted[Math.min(sorted.length - 1, Math.ceil(0.99 * sorted.length) - 1)];
        const path = (slow?.path ?? '').replace(/^\/(api\/v1|admin)/, '');
        const statements = await captureStatements(pool, async () => void (await get(path, surface)));
        const explained: QueryExplain['statements'] = [];
        for (const statement of statements.filter((entry) => /^\s*select/i.test(entry.sql))) {
          const plan = await pool.query<{ 'QUERY PLAN': string }>(`EXPLAIN (ANALYZE, BUFFERS) ${statement.sql}`, statement.params);
          explained.push({ ...statement, plan: plan.rows.map((row) => row['QUERY PLAN']).join('\n') });
        }
        explains.push({ name: query.name, path: slow?.path ?? path, statements: explained });
      }
    }
    return { queries: results, explains };
  } finally {
    server.close();
    server.closeAllConnections();
  }
}
