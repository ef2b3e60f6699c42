import { copyFileSync, existsSync, rmSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import request from 'supertest';
import { composeApp, composeServices } from '../../src/compose';
import { loadConfig } from '../../src/config';
import { createLogger } from '../../src/logger';
import { createAdmin, signIn } from '../support/admin-pages';
import { buildMapping, buildSite, postOutbound, type SiteWithHook } from '../support/factories';
import { FixedClock } from '../support/fixed-clock';
import { outboundFixture } from '../support/kartra-fixtures';
import { createEmptyDatabase, describeSqliteOnly } from '../support/storage';
import { buildTestApp, rawQuery, type TestApp } from '../support/test-app';
import {
  count,
  distinctPurchase,
  freePort,
  integrityCheck,
  integrityOf,
  openReadOnly,
  provisionSite,
  reportFigure,
  runCli,
  ServiceProcess,
  queryDatabase,
  sleep,
  tempDatabasePath,
  type RawQuery,
} from './support';

const DAY_MS = 24 * 3600_000;

/** Services started by a test; whatever way the test ends, none is left running. */
const started: ServiceProcess[] = [];
const track = (service: ServiceProcess) => {
  started.push(service);
  return service;
};
afterEach(async () => {
  for (const service of started.splice(0)) await service.kill('SIGKILL');
});

/**
 * Everything retention must leave alone: event rows (by id) without their raw bytes, facts, grants, history, members
 * (each table's rows sorted by their JSON text: PostgreSQL has no rowid). Ids are numbers on both engines.
 */
async function snapshotWithoutRawBodies(query: RawQuery): Promise<string> {
  const events = await query('select * from webhook_events order by id');
  const kept = events.map(({ raw_body: _rawBody, raw_body_pruned_at: _prunedAt, ...row }) => ({ ...row, id: Number(row.id) }));
  const table = async (name: string) => (await query(`select * from ${name}`)).map((row) => JSON.stringify(row)).sort();
  return JSON.stringify({
    events: kept,
    facts: await table('payment_facts'),
    grants: await table('grants'),
    history: await table('grant_history'),
    members: await table('members'),
    fingerprints: await table('event_fingerprints'),
  });
}

describe('raw-body retention through the real CLI', () => {
  let t: TestApp;
  afterAll(() => t.close());

  it("prunes raw bodies older than each site's retention, keeps rows, outcomes and access history, and refuses to re-apply what it pruned", async () => {
    t = await buildTestApp({ HOOK_RATE_BURST: '100000' });
    // Events arrive 120, 60 and 10 days before the real now, which is the clock the CLI runs on.
    const realNow = Date.now();
    t.clock.set(new Date(realNow - 120 * DAY_MS).toISOString());
    const shortRetention = await buildSite(t, { name: 'Thirty days' });
    const defaultRetention = await buildSite(t, { name: 'Default' });
    await t.api.put(`/sites/${shortRetention.siteId}/kartra`, { rawBodyRetentionDays: 30 }).expect(200);
    for (const site of [shortRetention, defaultRetention]) await buildMapping(t, site, '558475', ['Foundations']);

    const eventAges = new Map<number, { site: SiteWithHook; ageDays: number }>();
    let serial = 0;
    const deliver = async (site: SiteWithHook, ageDays: number, body: string) => {
      const response = await postOutbound(t, site.hookPath, body);
      const eventId = (response.body.eventId ?? response.body.error?.details?.eventId) as number;
      eventAges.set(eventId, { site, ageDays });
      return eventId;
    };
    const unmappedIds: number[] = [];
    for (const ageDays of [120, 60, 10]) {
      t.clock.set(new Date(realNow - ageDays * DAY_MS).toISOString());
      for (const site of [shortRetention, defaultRetention]) {
        const purchase = distinctPurchase(serial++);
        await deliver(site, ageDays, purchase.body);
        const refund = outboundFixture('12-refund_product.sam.json') as { action_details: { transaction_details: Record<string, unknown> } };
        Object.assign(refund.action_details.transaction_details, { transaction_id: `9${purchase.transactionId}`, transaction_parent_id: purchase.transactionId, product_id: '558475' });
        await deliver(site, ageDays, JSON.stringify(refund));
        await deliver(site, ageDays, distinctPurchase(serial++).body);
        unmappedIds.push(await deliver(site, ageDays, distinctPurchase(serial++, '612001').body));
        await deliver(site, ageDays, '{"not": "a kartra event"');
      }
    }
    const kept = await snapshotWithoutRawBodies(t.query);
    const bodiesBefore = new Map((await t.query<{ id: number | string; raw_body: Buffer }>('select id, raw_body from webhook_events')).map((row) => [Number(row.id), row.raw_body]));
    // The test's app stays open, idle, as a running service would while an operator runs the CLI on its database
    // (t.close() in afterAll closes it once: a PostgreSQL pool cannot be ended twice).

    const env = t.databaseEnv;
    const first = await runCli(['prune'], env);
    expect(first.code).toBe(0);
    const expectedPruned = [...eventAges.values()].filter(({ site, ageDays }) => ageDays > (site === shortRetention ? 30 : 90)).length;
    expect(first.stdout).toContain(`${expectedPruned} raw bodies pruned across 2 sites`);
    const second = await runCli(['prune'], env);
    expect(second.stdout).toContain('0 raw bodies pruned');

    // Reopen the database as the service would, on the real clock, and check what is left.
    const config = loadConfig({ ...t.databaseEnv, LOG_LEVEL: 'silent', SWEEP_INTERVAL_SECONDS: '0', HOOK_RATE_BURST: '100000' });
    const clock = new FixedClock(new Date(realNow).toISOString());
    const reopened = await composeApp(config, { clock, logger: createLogger('silent') });
    try {
      const query = rawQuery(reopened);
      expect(await integrityOf(query)).toBe('ok');
      expect(await snapshotWithoutRawBodies(query)).toBe(kept);
      const rows = await query<{ id: number | string; raw_body: Buffer; raw_body_pruned_at: number | string | null }>('select id, raw_body, raw_body_pruned_at from webhook_events');
      const wrong: string[] = [];
      for (const row of rows) {
        const id = Number(row.id);
        const { site, ageDays } = eventAges.get(id) ?? { site: null, ageDays: -1 };
        const shouldPrune = ageDays > (site === shortRetention ? 30 : 90);
        const pruned = row.raw_body.length === 0 && row.raw_body_pruned_at !== null;
        const intact = row.raw_body_pruned_at === null && row.raw_body.equals(bodiesBefore.get(id) ?? Buffer.alloc(1));
        if (shouldPrune ? !pruned : !intact) wrong.push(`event ${id} (${ageDays} days, ${site?.siteKey}): ${pruned ? 'pruned' : 'kept'}`);
      }
      expect(wrong).toEqual([]);

      // The log still explains itself, and pruned events cannot be re-applied from an empty body by any path.
      const { token } = await reopened.services.tokens.create('operator', null);
      const auth = { Authorization: `Bearer ${token}` };
      const prunedUnmapped = unmappedIds.find((id) => eventAges.get(id)?.ageDays === 120 && eventAges.get(id)?.site === shortRetention) ?? 0;
      const site = shortRetention.siteId;
      const detail = await request(reopened.app).get(`/api/v1/sites/${site}/events/${prunedUnmapped}`).set(auth).expect(200);
      expect(detail.body).toMatchObject({ status: 'unmapped', rawBody: null, rawBodyNote: expect.stringContaining('pruned') });
      await request(reopened.app).post(`/api/v1/sites/${site}/events/${prunedUnmapped}/reapply`).set(auth).expect(409);
      await createAdmin({ ...t, app: reopened.app, composed: reopened } as TestApp, 'ann@example.com', [site]);
      const ann = await signIn({ ...t, app: reopened.app } as TestApp, 'ann@example.com');
      await ann.agent.post(`/admin/sites/${site}/events/${prunedUnmapped}/reapply`).type('form').send({ _csrf: ann.csrf }).expect(409);
      await request(reopened.app).post(`/api/v1/sites/${site}/events/reapply`).set(auth).send({ statuses: ['unmapped', 'invalid'] }).expect(200);
      await ann.agent.post(`/admin/sites/${site}/events/reapply-failed`).type('form').send({ _csrf: ann.csrf }).expect(303);
      // Mapping the product "to past purchases" brings in the buyers whose bodies are still there, and only those.
      await request(reopened.app).post(`/api/v1/sites/${site}/mappings`).set(auth).send({ productId: '612001', levelIds: [shortRetention.levels.Foundations], applyToPast: true }).expect(201);
      const statuses = (await query<{ id: number | string; status: string }>('select id, status from webhook_events where raw_body_pruned_at is not null order by id')).map((row) => ({ id: Number(row.id), status: row.status }));
      const statusesBefore = (JSON.parse(kept) as { events: { id: number; status: string; raw_body_pruned_at?: number }[] }).events
        .filter((event) => statuses.some((row) => row.id === event.id))
        .map((event) => ({ id: event.id, status: event.status }));
      expect(statuses).toEqual(statusesBefore);
      const recentUnmapped = unmappedIds.find((id) => eventAges.get(id)?.ageDays === 10 && eventAges.get(id)?.site === shortRetention) ?? 0;
      expect((await query<{ status: string }>('select status from webhook_events where id = ?', [recentUnmapped]))[0]?.status).toBe('applied');

      reportFigure('operability: retention', {
        events: rows.length,
        'raw bodies pruned (30-day site: 120 and 60 days old; 90-day site: 120 days old)': expectedPruned,
        'rows, outcomes, facts, grants, history changed': 0,
        'pruned events re-applied': 0,
      });
    } finally {
      await reopened.close();
    }
  }, 60_000);
});

// SQLite only: the online backup API copies a live file (the CLI refuses `backup` on PostgreSQL, whose dumps are
// pg_dump's), and the restore replaces the file and its WAL.
describeSqliteOnly('restore drill: an online backup taken under load', () => {
  // Big enough to matter: with 100-page backup steps, the service's commits restarted the copy of a 10,000-event
  // database (about 40 MB) forever; the CLI now copies in one step (src/cli.ts).
  const seededEvents = count(10_000, 20_000);

  it('opens, passes integrity_check, holds every event acknowledged before it started, and restores per the README', async () => {
    const databasePath = tempDatabasePath('drill');
    const workDir = dirname(databasePath);
    const site = await provisionSite({ DATABASE_PATH: databasePath }, { '558475': ['Foundations'] });
    // A database with history, so the backup copies thousands of pages while the service writes.
    const seedConfig = loadConfig({ DATABASE_PATH: databasePath, LOG_LEVEL: 'silent' });
    const seeded = await composeServices(seedConfig, { logger: createLogger('silent') });
    const siteKey = site.hookPath.split('/')[3] ?? '';
    // Stored through the intake itself: each one committed (acknowledged) when its promise settled.
    const earlierAcknowledged: string[] = [];
    for (let from = 0; from < seededEvents; from += 500) {
      await Promise.all(
        Array.from({ length: Math.min(500, seededEvents - from) }, async (_, index) => {
          const purchase = distinctPurchase(1_000_000 + from + index);
          const result = await seeded.services.intake.receive({ siteKey, secret: site.webhookSecret, rawBody: Buffer.from(purchase.body), sourceIp: null, headers: { 'content-type': 'application/json' } });
          if (result.outcome === 'applied') earlierAcknowledged.push(purchase.transactionId);
        }),
      );
    }
    await seeded.database.close();
    expect(earlierAcknowledged).toHaveLength(seededEvents);

    const env = { DATABASE_PATH: databasePath, HOOK_RATE_BURST: '1000000' };
    const service = track(new ServiceProcess(await freePort(), env));
    await service.start();
    const acknowledged = new Map<string, number>(); // transaction id -> time it was answered 2xx (performance.now)
    let running = true;
    let serial = 0;
    const failures: string[] = [];
    const sender = async () => {
      while (running) {
        const purchase = distinctPurchase(serial++);
        try {
          const response = await fetch(`${service.baseUrl}${site.hookPath}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: purchase.body });
          if (response.status === 200) acknowledged.set(purchase.transactionId, performance.now());
          else failures.push(`${purchase.transactionId}: ${response.status}`);
          await response.arrayBuffer();
        } catch (error) {
          failures.push(`${purchase.transactionId}: ${String(error)}`);
        }
      }
    };
    const load = Array.from({ length: 4 }, () => sender());
    const backupPath = join(workDir, 'backup.db');
    let ackedBeforeBackup: string[];
    let backupSeconds: number;
    let ackedDuringBackup: number;
    try {
      await sleep(2000);
      const backupStartedAt = performance.now();
      ackedBeforeBackup = [...acknowledged.keys()];
      const backup = await runCli(['backup', backupPath], env, undefined, 120_000);
      backupSeconds = (performance.now() - backupStartedAt) / 1000;
      ackedDuringBackup = [...acknowledged.values()].filter((at) => at >= backupStartedAt).length;
      expect(`${backup.code} ${backup.stderr}`).toBe('0 ');
      await sleep(500);
    } finally {
      running = false;
      await Promise.all(load);
    }
    expect(failures).toEqual([]);
    expect(ackedDuringBackup).toBeGreaterThan(0); // the backup really ran under load

    const backupDb = openReadOnly(backupPath);
    let inBackup: number;
    let eventsInBackup: number;
    try {
      expect(integrityCheck(backupDb)).toBe('ok');
      // Counted in two grouped scans (transaction_id has no index worth adding for this).
      const countsBy = (sql: string) => new Map((backupDb.prepare(sql).raw().all() as [string, number][]).map(([transactionId, n]) => [transactionId, n]));
      const appliedEvents = countsBy("select transaction_id, count(*) from webhook_events where status = 'applied' group by transaction_id");
      const grants = countsBy('select transaction_id, count(*) from grants group by transaction_id');
      const everyAcknowledged = [...earlierAcknowledged, ...ackedBeforeBackup];
      const missing = everyAcknowledged.filter((transactionId) => appliedEvents.get(transactionId) !== 1 || grants.get(transactionId) !== 1);
      inBackup = everyAcknowledged.length - missing.length;
      eventsInBackup = Number(backupDb.prepare('select count(*) from webhook_events').pluck().get());
      expect(missing).toEqual([]);
    } finally {
      backupDb.close();
    }

    // The disaster, then the README's restore: stop the service, remove the database with its -wal and -shm files,
    // copy the backup in place, start.
    await service.kill('SIGKILL');
    expect(existsSync(`${databasePath}-wal`)).toBe(true); // a crash leaves the WAL behind: it must not meet the backup
    for (const file of [databasePath, `${databasePath}-wal`, `${databasePath}-shm`]) rmSync(file, { force: true });
    copyFileSync(backupPath, databasePath);
    const restored = track(new ServiceProcess(await freePort(), env));
    await restored.start();
    try {
      const events = await fetch(`${restored.baseUrl}/api/v1/sites/${site.siteId}/events?status=applied&limit=1`, { headers: { authorization: `Bearer ${site.apiToken}` } });
      expect(events.status).toBe(200);
      // Kartra sending an event again that the backup holds: recognised, applied once.
      const again = distinctPurchase(Number(ackedBeforeBackup[0] ?? 0) - 70_000_000);
      const redelivered = await fetch(`${restored.baseUrl}${site.hookPath}`, { method: 'POST', body: again.body });
      expect(((await redelivered.json()) as { outcome: string }).outcome).toBe('duplicate');
      const fresh = await fetch(`${restored.baseUrl}${site.hookPath}`, { method: 'POST', body: distinctPurchase(5_000_000).body });
      expect(((await fresh.json()) as { outcome: string }).outcome).toBe('applied');
    } finally {
      await restored.kill('SIGTERM');
    }
    const check = openReadOnly(databasePath);
    try {
      expect(integrityCheck(check)).toBe('ok');
    } finally {
      check.close();
    }

    reportFigure('operability: restore drill', {
      'database MB': (statSync(backupPath).size / 1024 / 1024).toFixed(0),
      'backup took s': backupSeconds.toFixed(1),
      'acknowledged before backup started': `${seededEvents + ackedBeforeBackup.length} (${seededEvents} earlier, ${ackedBeforeBackup.length} over HTTP in the 2 s of load before it)`,
      'found in backup, applied once': inBackup,
      'acknowledged while it ran': ackedDuringBackup,
      'events in backup': eventsInBackup,
      'integrity_check': 'ok',
      restored: 'serves, dedupes, accepts',
    });
    rmSync(workDir, { recursive: true, force: true });
  }, 300_000);
});

describe('shutdown', () => {
  it('stops on SIGTERM within its shutdown timeout even when whoever read its log has gone away', async () => {
    const database = await createEmptyDatabase();
    const service = track(new ServiceProcess(await freePort(), { ...database.env, SHUTDOWN_TIMEOUT_SECONDS: '2' }));
    await service.start();
    // The log collector dies; the service's next log lines (its own shutdown messages) meet a broken pipe.
    service.closeOutput();
    await sleep(500); // the pipe's end is closed by then, so the very next write fails
    const startedAt = performance.now();
    const exitedInTime = await service.terminate(8000);
    reportFigure('operability: shutdown with the log reader gone', { 'stopped on SIGTERM': exitedInTime ? 'yes' : 'no', 'took ms': Math.round(performance.now() - startedAt) });
    expect(exitedInTime).toBe(true);
    try {
      expect(await queryDatabase(database.env, (query) => integrityOf(query))).toBe('ok');
    } finally {
      await database.drop();
    }
  }, 30_000);
});
