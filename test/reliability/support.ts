import Database from 'better-sqlite3';
import type { Express } from 'express';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { appendFileSync, existsSync, mkdtempSync } from 'node:fs';
import { request as httpRequest, type Agent, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { composeServices } from '../../src/compose';
import { loadConfig } from '../../src/config';
import { openStorage } from '../../src/db/storage';
import { createLogger } from '../../src/logger';
import { outboundFixture } from '../support/kartra-fixtures';
import { testEngine, toPgPlaceholders, type Engine } from '../support/storage';

/** RELIABILITY_FULL=1 runs the long variants whose figures the README quotes; the default suite runs smaller counts. */
export const FULL = process.env.RELIABILITY_FULL === '1';
export const count = (quick: number, full: number): number => (FULL ? full : quick);

export const REPO_ROOT = resolve(__dirname, '../..');

export function tempDatabasePath(label: string): string {
  return join(mkdtempSync(join(tmpdir(), `kartra-access-${label}-`)), 'service.db');
}

export interface ProvisionedSite {
  siteId: number;
  hookPath: string;
  webhookSecret: string;
  apiToken: string;
  ipnSecret: string;
}

/**
 * Creates a site with an enabled integration, a token and an IPN secret in the database that `databaseEnv` names
 * (DATABASE_PATH or DATABASE_URL), through the same services an admin's API calls use, then closes it so a separate
 * service process can own the database.
 */
export async function provisionSite(databaseEnv: Record<string, string>, mappings: Record<string, string[]>, name = 'Watercolor Academy'): Promise<ProvisionedSite> {
  const config = loadConfig({ ...databaseEnv, PUBLIC_URL: 'https://members.example.com', LOG_LEVEL: 'silent' });
  const { services, database } = await composeServices(config, { logger: createLogger('silent') });
  try {
    const site = await services.sites.createSite(name);
    const levelIds = new Map<string, number>();
    for (const levelName of new Set(Object.values(mappings).flat())) levelIds.set(levelName, (await services.sites.createLevel(site, levelName)).id);
    for (const [productId, levelNames] of Object.entries(mappings)) {
      await services.mappings.save(site, { productId, levelIds: levelNames.map((levelName) => levelIds.get(levelName) ?? 0), applyToPast: false });
    }
    const ipnSecret = `ipn-${site.key}-secret-value`;
    await services.sites.updateSettings(site, { ipnSecret });
    const state = await services.sites.setEnabled(site, true);
    if (!state.webhookUrl) throw new Error('enabling the integration did not reveal a webhook URL');
    const hookPath = new URL(state.webhookUrl).pathname;
    const webhookSecret = decodeURIComponent(hookPath.split('/').pop() ?? '');
    const { token } = await services.tokens.create(`${name} operator`, site.id);
    return { siteId: site.id, hookPath, webhookSecret, apiToken: token, ipnSecret };
  } finally {
    await database.close();
  }
}

/** A distinct one-time purchase: Kartra's buy_product fixture with its own order, lead and email. */
export function distinctPurchase(serial: number, productId = '558475'): { transactionId: string; email: string; body: string } {
  const body = outboundFixture('02-buy_product.one-time.dana.json') as {
    lead: Record<string, unknown>;
    action_details: { transaction_details: Record<string, unknown> };
  };
  const transactionId = String(70_000_000 + serial);
  const email = `buyer-${serial}@example.com`;
  body.lead.id = String(90_000_000 + serial);
  body.lead.email = email;
  Object.assign(body.action_details.transaction_details, { transaction_id: transactionId, product_id: productId });
  return { transactionId, email, body: JSON.stringify(body) };
}

/** The service's own helper (src/db/postgres/local-cluster.ts), which the throwaway clusters use too. */
export { freePort } from '../../src/db/postgres/local-cluster';

export const sleep = (ms: number) => new Promise<void>((done) => setTimeout(done, ms));

/** The real service (`tsx src/main.ts`) as a child process, with its stdout (the pino log) captured. */
export class ServiceProcess {
  readonly baseUrl: string;
  private child: ChildProcessWithoutNullStreams | null = null;
  private exited: Promise<void> = Promise.resolve();
  /** Every byte the service wrote, across restarts. */
  readonly output: string[] = [];

  constructor(
    readonly port: number,
    private readonly env: Record<string, string>,
  ) {
    this.baseUrl = `http://127.0.0.1:${port}`;
  }

  async start(timeoutMs = 30_000): Promise<void> {
    const child = spawn(join(REPO_ROOT, 'node_modules/.bin/tsx'), ['src/main.ts'], {
      cwd: REPO_ROOT,
      env: { PATH: process.env.PATH ?? '', HOST: '127.0.0.1', PORT: String(this.port), LOG_LEVEL: 'info', SWEEP_INTERVAL_SECONDS: '0', ...this.env },
      stdio: 'pipe',
      // Its own process group: tsx runs the service in a grandchild, and a kill must reach it too.
      detached: true,
    });
    this.child = child;
    child.stdout.on('data', (chunk: Buffer) => this.output.push(chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => this.output.push(chunk.toString('utf8')));
    this.exited = new Promise((done) => child.once('exit', () => done()));
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (child.exitCode !== null) throw new Error(`service exited during start-up:\n${this.output.join('').slice(-2000)}`);
      try {
        const response = await fetch(`${this.baseUrl}/healthz`, { signal: AbortSignal.timeout(1000) });
        if (response.status === 200) return;
      } catch {
        // Not listening yet.
      }
      await sleep(25);
    }
    throw new Error(`service did not answer /healthz within ${timeoutMs} ms`);
  }

  /** Stops reading the service's output, as when the process that collected its log dies. */
  closeOutput(): void {
    this.child?.stdout.destroy();
    this.child?.stderr.destroy();
  }

  /** SIGTERM, then waits up to `timeoutMs` for the exit; false if the service is still running (it is then SIGKILLed). */
  async terminate(timeoutMs: number): Promise<boolean> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return true;
    child.kill('SIGTERM');
    const exitedInTime = await Promise.race([this.exited.then(() => true), sleep(timeoutMs).then(() => false)]);
    if (!exitedInTime) await this.kill('SIGKILL');
    this.child = null;
    return exitedInTime;
  }

  /** SIGKILL: no shutdown hook runs, as when the machine loses power or the OOM killer strikes. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const child = this.child;
    if (child?.pid !== undefined && child.exitCode === null && child.signalCode === null) {
      if (signal === 'SIGKILL') process.kill(-child.pid, 'SIGKILL');
      else child.kill(signal);
    }
    await this.exited;
    if (signal === 'SIGKILL' && child?.pid !== undefined) await waitForGroupGone(child.pid);
    this.child = null;
  }
}

/** Waits until no process of the group is left, so the port and the database file are free. */
async function waitForGroupGone(groupId: number): Promise<void> {
  for (let tries = 0; tries < 200; tries++) {
    try {
      process.kill(-groupId, 0);
    } catch {
      return;
    }
    await sleep(10);
  }
}

export function openReadOnly(databasePath: string): Database.Database {
  return new Database(databasePath, { readonly: true, fileMustExist: true });
}

export function integrityCheck(db: Database.Database): string {
  return (db.prepare('PRAGMA integrity_check').pluck().all() as string[]).join('; ');
}

/** Appends a figure line to the file named by RELIABILITY_FIGURES (the README's numbers) and to the console. */
export function reportFigure(name: string, figures: Record<string, number | string>): void {
  const line = `${name}: ${Object.entries(figures)
    .map(([key, value]) => `${key}=${value}`)
    .join(' ')}`;
  console.log(`[reliability] ${line}`);
  const file = process.env.RELIABILITY_FIGURES;
  if (!file) return;
  // The first figure of a run names the machine, so a figures file says where its numbers came from.
  if (!existsSync(file)) appendFileSync(file, `# ${new Date().toISOString()} ${cpus().length} cores, node ${process.version}, load ${loadavg().map((n) => n.toFixed(2)).join(' ')}, RELIABILITY_FULL=${FULL ? 1 : 0}\n`);
  appendFileSync(file, `${line}\n`);
}

/** Listens on a real port (0: any free one) on the loopback, as a deployed server would. */
export async function listenOnLoopback(app: Express): Promise<{ server: Server; baseUrl: string }> {
  const server = app.listen(0, '127.0.0.1');
  await new Promise((done) => server.once('listening', done));
  return { server, baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

export interface PlainResponse {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
}

/**
 * One HTTP request with node:http, for what fetch cannot do: send from a chosen local address (each 127.x.y.z is a
 * distinct source for the per-source rate limit) and share a keep-alive agent.
 */
export function sendRequest(
  url: string,
  options: { method?: string; body?: string | Buffer; headers?: Record<string, string>; localAddress?: string; agent?: Agent } = {},
): Promise<PlainResponse> {
  return new Promise((resolveResponse, reject) => {
    const req = httpRequest(url, { method: options.method ?? 'POST', headers: options.headers, localAddress: options.localAddress, agent: options.agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolveResponse({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

/** Runs `work` over `items` with at most `concurrency` in flight, keeping results in order. */
export async function inParallel<T, R>(items: T[], concurrency: number, work: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  async function lane(): Promise<void> {
    while (next < items.length) {
      const index = next++;
      results[index] = await work(items[index] as T, index);
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, () => lane()));
  return results;
}

export function median(values: number[]): number {
  return percentile(values, 50);
}

export function percentile(values: number[], pct: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((pct / 100) * sorted.length))] ?? Number.NaN;
}

export interface RouteEntry {
  method: string;
  /** The full path pattern, e.g. /api/v1/sites/:siteId/levels. */
  path: string;
}

interface RouterLayer {
  rawPath?: string;
  route?: { path: string; methods: Record<string, boolean> };
  handle?: { stack?: RouterLayer[] };
}

/**
 * Every route the Express app serves, read from its router table, so a route added later is covered by the
 * isolation tests without anyone remembering to list it. Express internals: if they move, this fails loudly.
 */
export function listRoutes(app: Express): RouteEntry[] {
  const root = (app as unknown as { router?: { stack?: RouterLayer[] } }).router?.stack;
  if (!root) throw new Error('cannot read the Express router table (app.router.stack)');
  const routes: RouteEntry[] = [];
  const walk = (stack: RouterLayer[], prefix: string) => {
    for (const layer of stack) {
      if (layer.route) {
        for (const method of Object.keys(layer.route.methods)) routes.push({ method: method.toUpperCase(), path: `${prefix}${layer.route.path}`.replace(/(.)\/$/, '$1') });
      } else if (layer.handle?.stack) {
        walk(layer.handle.stack, `${prefix}${layer.rawPath === '/' || layer.rawPath === undefined ? '' : layer.rawPath}`);
      }
    }
  };
  walk(root, '');
  return routes;
}

/** Fills a route pattern's :params from `values`; a param without a value is an error, so no route is skipped. */
export function fillPath(pattern: string, values: object): string {
  return pattern.replace(/:(\w+)/g, (_whole, name: string) => {
    const value = (values as Record<string, unknown>)[name];
    if (value === undefined) throw new Error(`no value for :${name} in ${pattern}`);
    return encodeURIComponent(String(value));
  });
}

/** Columns that record use (a token's last use, a session's last request) rather than data; reading sets them. */
const USAGE_COLUMNS = new Set(['last_used_at', 'last_seen_at']);
/** The request limits' counts (PostgreSQL keeps them in the database): every request moves them, refused or not. */
const USAGE_TABLES = new Set(['rate_limit_buckets', 'attempt_windows']);

/** Raw SQL on the database under test, `?` placeholders (TestApp.query, TestStorage.query, rawQuery). */
export type RawQuery = <Row = Record<string, unknown>>(text: string, params?: unknown[]) => Promise<Row[]>;

/**
 * Opens the database that `databaseEnv` names for raw reads beneath the ports, as another process would once a service
 * process has stopped, and closes it when `work` settles: the SQLite file read-only (nothing is migrated, checkpointed
 * or changed), or a connection to DATABASE_URL.
 */
export async function queryDatabase<T>(databaseEnv: Record<string, string>, work: (query: RawQuery) => Promise<T>): Promise<T> {
  if (databaseEnv.DATABASE_URL) {
    const storage = await openStorage(loadConfig({ ...databaseEnv, LOG_LEVEL: 'silent' }), { migrate: false });
    try {
      const pool = storage.postgres?.pool;
      if (!pool) throw new Error('DATABASE_URL did not open PostgreSQL');
      return await work(async <Row>(text: string, params: unknown[] = []) => (await pool.query(toPgPlaceholders(text), params)).rows as Row[]);
    } finally {
      await storage.close();
    }
  }
  const db = openReadOnly(databaseEnv.DATABASE_PATH ?? '');
  try {
    return await work(async <Row>(text: string, params: unknown[] = []) => db.prepare(text).all(...params) as Row[]);
  } finally {
    db.close();
  }
}

/** SQLite's integrity_check of the file ('ok'); PostgreSQL has no such statement (the server checks its own pages). */
export async function integrityOf(query: RawQuery, engine: Engine = testEngine): Promise<string> {
  if (engine !== 'sqlite') return 'ok';
  return (await query<{ integrity_check: string }>('PRAGMA integrity_check')).map((row) => row.integrity_check).join('; ');
}

/** One value as text that is the same for the same data on one engine (bytes as base64; PostgreSQL's bigints are strings). */
function normalised(value: unknown): unknown {
  if (Buffer.isBuffer(value)) return value.toString('base64');
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Date) return value.toISOString();
  return value;
}

/**
 * Every row of every table (usage columns left out), to prove that a refused request changed nothing: compare two
 * snapshots of the same database. Rows are sorted by their JSON text (no rowid on PostgreSQL), so the order in which
 * the engine returns them does not matter.
 */
export async function snapshotData(query: RawQuery, engine: Engine = testEngine): Promise<string> {
  const tables =
    engine === 'sqlite'
      ? await query<{ name: string }>("select name from sqlite_master where type = 'table' and name not like 'sqlite_%' and name not like '__drizzle%' order by name")
      : await query<{ name: string }>(
          "select table_name as name from information_schema.tables where table_schema = 'public' and table_type = 'BASE TABLE' and table_name not like '__drizzle%' order by table_name",
        );
  const snapshot: Record<string, string[]> = {};
  for (const { name: table } of tables) {
    if (USAGE_TABLES.has(table)) continue;
    const rows = await query(`select * from "${table}"`);
    snapshot[table] = rows
      .map((row) => JSON.stringify(Object.fromEntries(Object.entries(row).filter(([column]) => !USAGE_COLUMNS.has(column)).map(([column, value]) => [column, normalised(value)]))))
      .sort();
  }
  return JSON.stringify(snapshot);
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The real command line (`npm run cli -- …` is `tsx src/cli.ts …`) as a child process. */
export function runCli(args: string[], env: Record<string, string>, stdin?: string, timeoutMs = 120_000): Promise<CliResult> {
  return new Promise((resolveResult, reject) => {
    const child = spawn(join(REPO_ROOT, 'node_modules/.bin/tsx'), ['src/cli.ts', ...args], {
      cwd: REPO_ROOT,
      env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'info', ...env },
      stdio: 'pipe',
      detached: true,
    });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
    child.on('error', reject);
    // A command that hangs fails the test instead of outliving it: its process group (tsx and the CLI) is killed.
    const timer = setTimeout(() => {
      if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
    }, timeoutMs);
    child.on('close', () => clearTimeout(timer));
    child.on('close', (code) => resolveResult({ code, stdout: Buffer.concat(stdout).toString('utf8'), stderr: Buffer.concat(stderr).toString('utf8') }));
    child.stdin.end(stdin ?? '');
  });
}
