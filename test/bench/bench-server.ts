/**
 * One server under load, in its own process so the load generator does not share its event loop.
 * `bare`: Express 5 that only parses the JSON body and answers. `intake`: the real service through composeApp
 * on a fresh database file, with one enabled site whose products are mapped.
 * Talks to the parent over IPC: sends { ready, port, hookPath, ... }, answers { type: 'rss' } and { type: 'stored' }.
 */
import express from 'express';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { composeApp } from '../../src/compose';
import { loadConfig } from '../../src/config';
import { BENCH_PRODUCT_IDS } from './kartra-bodies';

export type ServerMode = 'bare' | 'intake';

export type ServerRequest = { type: 'rss' } | { type: 'stored'; eventIds: number[] } | { type: 'stop' };

function send(message: object): void {
  process.send?.(message);
}

function startBare() {
  const app = express();
  app.disable('x-powered-by');
  app.post('/hooks/kartra/:siteKey/:secret', express.json({ limit: 256 * 1024 }), (req, res) => {
    res.status(200).json({ received: true, keys: Object.keys(req.body as object).length });
  });
  return { app, hookPath: '/hooks/kartra/bare/secret', durability: 'none (no database)', stored: () => ({ stored: 0, missing: 0 }), close: () => undefined };
}

async function startIntake() {
  const dir = mkdtempSync(join(tmpdir(), 'kartra-access-bench-'));
  const config = loadConfig({
    DATABASE_PATH: join(dir, 'bench.db'),
    LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'silent',
    SWEEP_INTERVAL_SECONDS: '0',
    PUBLIC_URL: 'http://127.0.0.1',
    // The load generator is one source IP standing in for Kartra's servers at full speed. The per-source limiter
    // still runs on every request (its cost is measured), with a bucket far above what the bench can send.
    HOOK_RATE_BURST: String(1_000_000_000),
    HOOK_RATE_PER_SECOND: String(1_000_000_000),
  });
  const composed = composeApp(config);
  const { sites, mappings } = composed.services;
  const site = await sites.createSite('Bench Academy');
  const foundations = await sites.createLevel(site, 'Foundations');
  const studio = await sites.createLevel(site, 'Studio Members');
  for (const [index, productId] of BENCH_PRODUCT_IDS.entries()) {
    await mappings.save(site, { productId, levelIds: index % 2 === 0 ? [foundations.id] : [foundations.id, studio.id], applyToPast: false });
  }
  const integration = await sites.setEnabled(await sites.requireSite(site.id, 'all'), true);
  if (!integration.webhookUrl) throw new Error('enabling the site issued no webhook URL');
  const { sqlite } = composed.database;
  const pragmas = `journal_mode=${String(sqlite.pragma('journal_mode', { simple: true }))}, synchronous=${['OFF', 'NORMAL', 'FULL', 'EXTRA'][Number(sqlite.pragma('synchronous', { simple: true }))]}`;
  const exists = sqlite.prepare('select 1 from webhook_events where id = ?').pluck();
  return {
    app: composed.app,
    hookPath: new URL(integration.webhookUrl).pathname,
    durability: pragmas,
    stored: (eventIds: number[]) => {
      const stored = Number(sqlite.prepare('select count(*) from webhook_events').pluck().get());
      const missing = eventIds.filter((id) => exists.get(id) === undefined).length;
      return { stored, missing, applied: Number(sqlite.prepare("select count(*) from webhook_events where status = 'applied'").pluck().get()) };
    },
    close: () => {
      composed.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** An async main: setting up the bench site goes through the async domain services. */
async function main(): Promise<void> {
  const mode = (process.argv[2] ?? 'bare') as ServerMode;
  const server = mode === 'intake' ? await startIntake() : startBare();
  const listener = server.app.listen(0, '127.0.0.1', () => {
    const { port } = listener.address() as AddressInfo;
    send({ type: 'ready', port, hookPath: server.hookPath, durability: server.durability, rssBytes: process.memoryUsage().rss });
  });
  listener.keepAliveTimeout = 60_000;

  process.on('message', (message: ServerRequest) => {
    switch (message.type) {
      case 'rss':
        send({ type: 'rss', rssBytes: process.memoryUsage().rss });
        return;
      case 'stored':
        send({ type: 'stored', ...server.stored(message.eventIds) });
        return;
      case 'stop':
        listener.close();
        listener.closeAllConnections();
        server.close();
        process.exit(0);
    }
  });
}

void main();
