import Database from 'better-sqlite3';
import express from 'express';
import { closeSync, existsSync, fsyncSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { composeApp } from '../../src/compose';
import { loadConfig } from '../../src/config';
import { seedEventLog, type SeedOptions, type SeededLog } from './seed-event-log';

export interface QueryTiming {
  name: string;
  requests: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

export interface EventLogBenchResults {
  seed: Omit<SeededLog, 'sites'> & { options: SeedOptions };
  databaseBytes: number;
  rawBodyBytes: number;
  bytesPerEventBeyondRawBody: number;
  eventTableBytesPerEventBeyondRawBody: number | null;
  queries: QueryTiming[];
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

/**
 * Seeds a large log, then times the admin API's event-log and member reads through real HTTP. Times are taken
 * server side: from the moment the request reaches Express to the moment the response is handed to the socket.
 */
export async function benchEventLog(seedOptions: SeedOptions, repetitions: number, log: (line: string) => void): Promise<EventLogBenchResults> {
  const dir = mkdtempSync(join(tmpdir(), 'kartra-access-log-bench-'));
  // BENCH_LOG_DATABASE=file keeps the seeded log there and reuses it on the next run (for iterating on queries).
  const kept = process.env.BENCH_LOG_DATABASE ? resolve(process.env.BENCH_LOG_DATABASE) : null;
  const file = kept ?? join(dir, 'log.db');
  try {
    let seeded: SeededLog;
    if (kept && existsSync(kept) && existsSync(`${kept}.seed.json`)) {
      seeded = JSON.parse(readFileSync(`${kept}.seed.json`, 'utf8')) as SeededLog;
      log(`reusing the log seeded in ${kept}`);
    } else {
      log(`seeding ${seedOptions.events.toLocaleString('en')} events over ${seedOptions.members.toLocaleString('en')} members, ${seedOptions.products} products, ${seedOptions.sites} sites`);
      seeded = seedEventLog(file, seedOptions);
      if (kept) writeFileSync(`${kept}.seed.json`, JSON.stringify(seeded));
      log(`  seeded in ${seeded.seconds.toFixed(1)} s`);
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

    const config = loadConfig({ DATABASE_PATH: file, LOG_LEVEL: 'silent', SWEEP_INTERVAL_SECONDS: '0', PUBLIC_URL: 'http://127.0.0.1' });
    const composed = composeApp(config);
    const { token } = await composed.services.tokens.create('bench', null);
    let timings: number[] = [];
    const timed = express();
    timed.use(function timeRequest(_req, res, next) {
      const startedAt = process.hrtime.bigint();
      res.on('finish', () => timings.push(Number(process.hrtime.bigint() - startedAt) / 1e6));
      next();
    });
    timed.use(composed.app);
    const server = timed.listen(0, '127.0.0.1');
    await new Promise((done) => server.once('listening', done));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/v1`;
    const headers = { authorization: `Bearer ${token}` };
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

    const queries: { name: string; path: () => string }[] = [
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
    ];

    const results: QueryTiming[] = [];
    for (const query of queries) {
      const warmup = Math.max(5, Math.floor(repetitions / 10));
      for (let i = 0; i < warmup; i++) await fetch(base + query.path(), { headers }).then((response) => response.arrayBuffer());
      timings = [];
      for (let i = 0; i < repetitions; i++) {
        const response = await fetch(base + query.path(), { headers });
        await response.arrayBuffer();
        // An event id between sites' ranges can belong to another site: a 404 is a real, timed answer too.
        if (response.status !== 200 && response.status !== 404) throw new Error(`${query.name}: ${response.status}`);
      }
      const sorted = [...timings].sort((a, b) => a - b);
      results.push({ name: query.name, requests: sorted.length, p50Ms: round2(percentile(sorted, 0.5)), p99Ms: round2(percentile(sorted, 0.99)), maxMs: round2(sorted[sorted.length - 1] ?? 0) });
      log(`  ${query.name}: p50 ${results[results.length - 1]?.p50Ms} ms, p99 ${results[results.length - 1]?.p99Ms} ms`);
    }
    server.close();
    server.closeAllConnections();
    composed.close();
    return {
      seed: { siteIds: seeded.siteIds, counts: seeded.counts, statusMix: seeded.statusMix, seconds: seeded.seconds, options: seedOptions },
      databaseBytes,
      rawBodyBytes,
      bytesPerEventBeyondRawBody: Math.round((databaseBytes - rawBodyBytes) / seeded.counts.events),
      eventTableBytesPerEventBeyondRawBody: eventBytes === null ? null : Math.round((eventBytes - rawBodyBytes) / seeded.counts.events),
      queries: results,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
