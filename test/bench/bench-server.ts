/**
 * One server under load, in its own process so the load generator does not share its event loop.
 * `bare`: Express 5 that only parses the JSON body and answers. `intake`: the real service through composeApp
 * on a fresh database (argv[3]: `sqlite`, a new file; `postgres`, the empty database at BENCH_SERVER_DATABASE_URL,
 * created by the parent), with one enabled site whose products are mapped.
 * Talks to the parent over IPC: sends { ready, port, hookPath, ... }, answers { type: 'rss' } and { type: 'stored' }.
 */
import express from 'express';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { composeApp, type ComposedApp } from '../../src/compose';
import { loadConfig } from '../../src/config';
import { BENCH_PRODUCT_IDS } from './kartra-bodies';

export type ServerMode = 'bare' | 'intake';
export type ServerEngine = 'sqlite' | 'postgres';

export type ServerRequest = { type: 'rss' } | { type: 'stored'; eventIds: number[] } | { type: 'stop' };

interface StoredCheck {
  stored: number;
  missing: number;
  applied: number;
}

function send(message: object): void {
  process.send?.(message);
}

function startBare() {
  const app = express();
  app.disable('x-powered-by');
  app.post('/hooks/kartra/:siteKey/:secret', express.json({ limit: 256 * 1024 }), (req, res) => {
    res.status(200).json({ received: true, keys: Object.keys(req.body as object).length });
  });
  return { app, hookPath: '/hooks/kartra/bare/secret', durability: 'none (no database)', stored: async (): Promise<StoredCheck> => ({ stored: 0, missing: 0, applied: 0 }), close: () => undefined };
}

async function startIntake(engine: ServerEngine) {
  const dir = mkdtempSync(join(tmpdir(), 'kartra-access-bench-'));
  const databaseUrl = process.env.BENCH_SERVER_DATABASE_URL;
  if (engine === 'postgres' && !databaseUrl) throw new Error('the intake on PostgreSQL needs BENCH_SERVER_DATABASE_URL');
  const config = loadConfig({
    ...(engine === 'postgres' ? { DATABASE_URL: databaseUrl } : { DATABASE_PATH: join(dir, 'bench.db') }),
    // The service's default pool (10) unless BENCH_DATABASE_POOL_SIZE says otherwise.
    ...(process.env.BENCH_DATABASE_POOL_SIZE ? { DATABASE_POOL_SIZE: process.env.BENCH_DATABASE_POOL_SIZE } : {}),
    LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'silent',
    SWEEP_INTERVAL_SECONDS: '0',
    PUBLIC_URL: 'http://127.0.0.1',
    // The load generator is one source IP standing in for Kartra's servers at full speed. The per-source limiter
    // still runs on every request (its cost is measured), with a bucket far above what the bench can send.
    HOOK_RATE_BURST: String(1_000_000_000),
    HOOK_RATE_PER_SECOND: String(1_000_000_000),
  });
  const composed = await composeApp(config);
  const { sites, mappings } = composed.services;
  const site = await sites.createSite('Bench Academy');
  const foundations = await sites.createLevel(site, 'Foundations');
  const studio = await sites.createLevel(site, 'Studio Members');
  for (const [index, productId] of BENCH_PRODUCT_IDS.entries()) {
    await mappings.save(site, { productId, levelIds: index % 2 === 0 ? [foundations.id] : [foundations.id, studio.id], applyToPast: false });
  }
  const integration = await sites.setEnabled(await sites.requireSite(site.id, 'all'), true);
  if (!integration.webhookUrl) throw new Error('enabling the site issued no webhook URL');
  const engineCheck = engine === 'postgres' ? await postgresChecks(composed) : sqliteChecks(composed);
  return {
    app: composed.app,
    hookPath: new URL(integration.webhookUrl).pathname,
    durability: engineCheck.durability,
    stored: engineCheck.stored,
    close: async () => {
      await composed.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function sqliteChecks(composed: ComposedApp): { durability: string; stored: (eventIds: number[]) => Promise<StoredCheck> } {
  const sqlite = composed.database.sqlite?.sqlite;
  if (!sqlite) throw new Error('the intake bench server was asked for SQLite');
  const pragmas = `SQLite, journal_mode=${String(sqlite.pragma('journal_mode', { simple: true }))}, synchronous=${['OFF', 'NORMAL', 'FULL', 'EXTRA'][Number(sqlite.pragma('synchronous', { simple: true }))]}`;
  const exists = sqlite.prepare('select 1 from webhook_events where id = ?').pluck();
  return {
    durability: pragmas,
    stored: async (eventIds) => {
      const stored = Number(sqlite.prepare('select count(*) from webhook_events').pluck().get());
      const missing = eventIds.filter((id) => exists.get(id) === undefined).length;
      return { stored, missing, applied: Number(sqlite.prepare("select count(*) from webhook_events where status = 'applied'").pluck().get()) };
    },
  };
}

/** What makes a commit durable on the server: fsync, synchronous_commit (and full_page_writes, when off). */
async function postgresChecks(composed: ComposedApp): Promise<{ durability: string; stored: (eventIds: number[]) => Promise<StoredCheck> }> {
  const pool = composed.database.postgres?.pool;
  if (!pool) throw new Error('the intake bench server was asked for PostgreSQL');
  const { rows } = await pool.query<{ version: string; fsync: string; synchronous_commit: string; full_page_writes: string }>(
    "SELECT current_setting('server_version') AS version, current_setting('fsync') AS fsync, current_setting('synchronous_commit') AS synchronous_commit, current_setting('full_page_writes') AS full_page_writes",
  );
  const settings = rows[0];
  if (!settings) throw new Error('no server settings');
  const durability = `PostgreSQL ${settings.version.split(' ')[0]}, fsync ${settings.fsync}, synchronous_commit ${settings.synchronous_commit}${settings.full_page_writes === 'on' ? '' : ', full_page_writes off'}`;
  return {
    durability,
    stored: async (eventIds) => {
      const counts = await pool.query<{ stored: number; applied: number }>("SELECT count(*)::int AS stored, (count(*) FILTER (WHERE status = 'applied'))::int AS applied FROM webhook_events");
      const found = await pool.query<{ found: number }>('SELECT count(*)::int AS found FROM webhook_events WHERE id = ANY($1::bigint[])', [eventIds]);
      const distinct = new Set(eventIds).size;
      return { stored: counts.rows[0]?.stored ?? 0, applied: counts.rows[0]?.applied ?? 0, missing: distinct - (found.rows[0]?.found ?? 0) };
    },
  };
}

/** An async main: setting up the bench site goes through the async domain services. */
async function main(): Promise<void> {
  const mode = (process.argv[2] ?? 'bare') as ServerMode;
  const engine = (process.argv[3] ?? 'sqlite') as ServerEngine;
  const server = mode === 'intake' ? await startIntake(engine) : startBare();
  const listener = server.app.listen(0, '127.0.0.1', () => {
    const { port } = listener.address() as AddressInfo;
    send({ type: 'ready', port, hookPath: server.hookPath, durability: server.durability, rssBytes: process.memoryUsage().rss });
  });
  listener.keepAliveTimeout = 60_000;

  // The parent gone (interrupted, crashed): nothing will drive or stop this server any more.
  process.on('disconnect', () => process.exit(0));
  process.on('message', (message: ServerRequest) => {
    switch (message.type) {
      case 'rss':
        send({ type: 'rss', rssBytes: process.memoryUsage().rss });
        return;
      case 'stored':
        void server.stored(message.eventIds).then((check) => send({ type: 'stored', ...check }));
        return;
      case 'stop':
        listener.close();
        listener.closeAllConnections();
        void Promise.resolve(server.close()).finally(() => process.exit(0));
        return;
    }
  });
}

void main();
