import Database from 'better-sqlite3';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { appendFileSync, mkdtempSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { composeServices } from '../../src/compose';
import { loadConfig } from '../../src/config';
import { createLogger } from '../../src/logger';
import { outboundFixture } from '../support/kartra-fixtures';

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
 * Creates a site with an enabled integration, a token and an IPN secret in the database file, through the same
 * services an admin's API calls use, then closes it so a separate service process can own the file.
 */
export function provisionSite(databasePath: string, mappings: Record<string, string[]>, name = 'Watercolor Academy'): ProvisionedSite {
  const config = loadConfig({ DATABASE_PATH: databasePath, PUBLIC_URL: 'https://members.example.com', LOG_LEVEL: 'silent' });
  const { services, database } = composeServices(config, { logger: createLogger('silent') });
  try {
    const site = services.sites.createSite(name);
    const levelIds = new Map<string, number>();
    for (const levelName of new Set(Object.values(mappings).flat())) levelIds.set(levelName, services.sites.createLevel(site, levelName).id);
    for (const [productId, levelNames] of Object.entries(mappings)) {
      services.mappings.save(site, { productId, levelIds: levelNames.map((levelName) => levelIds.get(levelName) ?? 0), applyToPast: false });
    }
    const ipnSecret = `ipn-${site.key}-secret-value`;
    services.sites.updateSettings(site, { ipnSecret });
    const state = services.sites.setEnabled(site, true);
    if (!state.webhookUrl) throw new Error('enabling the integration did not reveal a webhook URL');
    const hookPath = new URL(state.webhookUrl).pathname;
    const webhookSecret = decodeURIComponent(hookPath.split('/').pop() ?? '');
    const { token } = services.tokens.create(`${name} operator`, site.id);
    return { siteId: site.id, hookPath, webhookSecret, apiToken: token, ipnSecret };
  } finally {
    database.close();
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

export async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolvePort(port));
    });
  });
}

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
  if (file) appendFileSync(file, `${line}\n`);
}
