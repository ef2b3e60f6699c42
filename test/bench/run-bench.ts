/**
 * `npm run bench`: intake throughput on SQLite and on PostgreSQL against a bare Express app in the same run, the
 * event log at a million events on both engines, and memory over a sustained run. Loopback only; prints a table and
 * writes test-output/bench-<time>.json (and bench-latest.json). PostgreSQL is BENCH_DATABASE_URL's server when given
 * (a role that may create databases: the bench creates and drops its own), else a throwaway cluster started here from
 * Debian's binaries with fsync on, removed at the end. Sizes and durations come from BENCH_* environment variables
 * (see README, Performance).
 */
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { findPostgresBin, removeCluster, startLocalCluster, type LocalCluster } from '../../src/db/postgres/local-cluster';
import { displayUrl } from '../../src/db/storage';
import type { ServerEngine } from './bench-server';
import { benchEventLog, type EventLogBenchResults } from './event-log-bench';
import { benchIntake, benchMemory, type IntakeBenchOptions, type IntakeBenchResults, type MemoryResult, type PostgresTarget } from './intake-bench';

function numberFrom(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < 0) throw new Error(`${name} must be a non-negative number, got ${raw}`);
  return value;
}

function cpuModel(): string {
  try {
    const line = readFileSync('/proc/cpuinfo', 'utf8')
      .split('\n')
      .find((entry) => entry.startsWith('model name'));
    return line?.split(':')[1]?.trim() ?? cpus()[0]?.model ?? 'unknown';
  } catch {
    return cpus()[0]?.model ?? 'unknown';
  }
}

const parts = new Set((process.env.BENCH_PARTS ?? 'intake,log,memory').split(',').map((part) => part.trim()));
const ENGINES: ServerEngine[] = ['sqlite', 'postgres'];
const wantedEngines = (process.env.BENCH_ENGINES ?? 'sqlite,postgres').split(',').map((name) => name.trim());
for (const name of wantedEngines) if (!ENGINES.includes(name as ServerEngine)) throw new Error(`BENCH_ENGINES: unknown engine ${name} (sqlite, postgres)`);
const intakeOptions: IntakeBenchOptions = {
  connections: numberFrom('BENCH_CONNECTIONS', 50),
  warmupSeconds: numberFrom('BENCH_WARMUP_SECONDS', 3),
  saturationSeconds: numberFrom('BENCH_SATURATION_SECONDS', 15),
  steadySeconds: numberFrom('BENCH_STEADY_SECONDS', 10),
  steadyRate: numberFrom('BENCH_STEADY_RATE', 200),
  sustainSeconds: numberFrom('BENCH_SUSTAIN_SECONDS', 60),
  rounds: numberFrom('BENCH_ROUNDS', 2),
  leadCount: numberFrom('BENCH_LEADS', 1000),
};
const seedOptions = {
  events: numberFrom('BENCH_EVENTS', 1_000_000),
  members: numberFrom('BENCH_MEMBERS', 100_000),
  products: numberFrom('BENCH_PRODUCTS', 200),
  sites: numberFrom('BENCH_SITES', 10),
  rawBodyBytes: numberFrom('BENCH_RAW_BODY_BYTES', 2859),
  rawBodyRetentionDays: numberFrom('BENCH_RAW_BODY_RETENTION_DAYS', 90),
  days: 365,
  // The log ends at this hour, so the pages' windows (24 hours, 7 days, the 30-day chart, the grace period) hold
  // what a live site's hold. A log kept with BENCH_LOG_DATABASE ends when it was seeded.
  endAt: new Date(Math.floor(Date.now() / 3_600_000) * 3_600_000),
};
// 500 so that p99 is the sixth-slowest answer, not the second: on a shared machine one preempted request moves it.
const repetitions = numberFrom('BENCH_REPETITIONS', 500);

const log = (line: string) => console.log(line);
const pad = (text: string | number, width: number) => String(text).padEnd(width);
const padLeft = (text: string | number, width: number) => String(text).padStart(width);

const ENGINE_NAMES: Record<ServerEngine, string> = { sqlite: 'SQLite', postgres: 'PostgreSQL' };

function intakeTable(results: IntakeBenchResults): string[] {
  const lines = [
    `| server | round | durability | req/s at saturation (${results.options.connections} conn.) | p50 / p99 / max ms | steady ${results.options.steadyRate}/s: req/s | p50 / p99 / max ms | acknowledged (200) | not 200 | stored | applied | acknowledged but missing |`,
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  ];
  results.rounds.forEach((round, index) => {
    const row = (name: string, server: IntakeBenchResults['rounds'][number]['bare']) => {
      const { saturation: sat, steady } = server;
      const intakeOnly = (value: number) => (server.mode === 'intake' ? String(value) : '-');
      return `| ${name} | ${index + 1} | ${server.durability} | ${sat.requestsPerSecond} | ${sat.latencyMs.p50} / ${sat.latencyMs.p99} / ${sat.latencyMs.max} | ${steady.requestsPerSecond} | ${steady.latencyMs.p50} / ${steady.latencyMs.p99} / ${steady.latencyMs.max} | ${server.acknowledged} | ${server.notAcknowledged} | ${intakeOnly(server.stored)} | ${intakeOnly(server.applied)} | ${intakeOnly(server.missingAcknowledged)} |`;
    };
    lines.push(row('bare Express 5 (JSON parse + answer)', round.bare));
    for (const engine of results.engines) {
      const entry = round.engines[engine];
      if (!entry) continue;
      lines.push(row(`kartra-access intake on ${ENGINE_NAMES[engine]} (store + apply a purchase)`, entry.intake));
      const unknown = entry.unknownUrl;
      lines.push(
        `| kartra-access on ${ENGINE_NAMES[engine]}, wrong secret (404, nothing stored) | ${index + 1} | - | ${unknown.requestsPerSecond} | ${unknown.latencyMs.p50} / ${unknown.latencyMs.p99} / ${unknown.latencyMs.max} | - | - | ${unknown.acknowledged} (404) | ${unknown.notAcknowledged} | - | - | - |`,
      );
    }
  });
  lines.push('');
  for (const engine of results.engines) {
    const ratios = results.ratios[engine];
    if (!ratios) continue;
    const missedBy = ratios.ratio < 0.8 ? `; missed by ${(0.8 - ratios.ratio).toFixed(2)}, the intake reaching ${Math.round((ratios.ratio / 0.8) * 100)}% of the target rate` : '; met';
    lines.push(
      `**Intake on ${ENGINE_NAMES[engine]} ÷ bare throughput: ${ratios.ratio.toFixed(2)}** (per round: ${ratios.perRound.map((ratio) => ratio.toFixed(2)).join(', ')}; target ≥ 0.80${missedBy})`,
      '',
    );
  }
  for (const engine of results.engines) {
    const ratios = results.ratios[engine];
    if (!ratios) continue;
    lines.push(
      `The service's HTTP stack alone on ${ENGINE_NAMES[engine]} (wrong secret, 404, nothing stored) ÷ bare: ${ratios.unknownUrlRatio.toFixed(2)} (per round: ${ratios.unknownUrlPerRound.map((ratio) => ratio.toFixed(2)).join(', ')}).`,
      '',
    );
  }
  lines.pop();
  return lines;
}

function seedLine(results: EventLogBenchResults): string {
  const { counts } = results.seed;
  const how = results.seed.reused
    ? `reused from an earlier seed (took ${results.seed.seconds.toFixed(0)} s)`
    : results.seed.postgres
      ? `in ${results.seed.seconds.toFixed(0)} s (COPY ${results.seed.postgres.copySeconds.toFixed(0)} s, then VACUUM (ANALYZE) and CHECKPOINT ${results.seed.postgres.vacuumAnalyzeSeconds.toFixed(0)} s)`
      : `in ${results.seed.seconds.toFixed(0)} s`;
  return `Seeded ${counts.events.toLocaleString('en')} events, ${counts.members.toLocaleString('en')} members, ${counts.products} products, ${results.seed.options.sites} sites (${counts.grants.toLocaleString('en')} grants, ${counts.facts.toLocaleString('en')} payment facts) ${how}; raw bodies of ${results.seed.options.rawBodyBytes} bytes, pruned after ${results.seed.options.rawBodyRetentionDays} days (the default retention).`;
}

function logTable(logs: EventLogBenchResults[]): string[] {
  const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(0)} MB`;
  const lines: string[] = [];
  for (const results of logs) {
    const stored = results.rawBodyStoredBytes === results.rawBodyBytes ? '' : ` (${mb(results.rawBodyStoredBytes)} as stored, compressed)`;
    lines.push(
      `**${ENGINE_NAMES[results.engine]}** (${results.engineDescription}). ${seedLine(results)}`,
      `Database ${mb(results.databaseBytes)}; raw bodies ${mb(results.rawBodyBytes)}${stored}; beyond the raw body: ${results.bytesPerEventBeyondRawBody} bytes/event for the whole database, ${results.eventTableBytesPerEventBeyondRawBody ?? 'n/a'} bytes/event for the event table, its indexes and fingerprints.`,
      '',
    );
  }
  const requests = logs[0]?.queries[0]?.requests ?? 0;
  const header = logs.map((results) => `${ENGINE_NAMES[results.engine]} p50 / p99 / max ms | p99 < 10 ms`).join(' | ');
  for (const [surface, title] of [['api', 'admin API request'], ['page', 'App Station page (HTML)']] as const) {
    const names = logs[0]?.queries.filter((query) => query.surface === surface).map((query) => query.name) ?? [];
    if (names.length === 0) continue;
    if (surface === 'page') lines.push('');
    lines.push(`| ${title} (server side, ${requests} requests each) | ${header} |`, `| --- |${' --- | --- |'.repeat(logs.length)}`);
    for (const name of names) {
      const cells = logs.map((results) => {
        const query = results.queries.find((entry) => entry.name === name);
        return query ? `${padLeft(query.p50Ms, 5)} / ${padLeft(query.p99Ms, 6)} / ${padLeft(query.maxMs, 6)} | ${query.p99Ms < 10 ? 'yes' : 'no'}` : '- | -';
      });
      lines.push(`| ${pad(name, 34)} | ${cells.join(' | ')} |`);
    }
  }
  return lines;
}

function memoryTable(memory: MemoryResult): string[] {
  return [
    `Memory (intake on ${ENGINE_NAMES[memory.engine]} at saturation for ${memory.seconds} s, ${memory.requests.toLocaleString('en')} events): RSS ${memory.rssStartMb} MB after warm-up, ${memory.rssEndMb} MB at the end (samples: ${memory.rssSamplesMb.join(', ')} MB).`,
  ];
}

function executionMs(plan: string): number {
  const match = /Execution Time: ([\d.]+) ms/.exec(plan);
  return match ? Number(match[1]) : 0;
}

function slowestStatements<T extends { plan: string }>(statements: T[], count: number): T[] {
  return [...statements].sort((a, b) => executionMs(b.plan) - executionMs(a.plan)).slice(0, count);
}

/** PostgreSQL for the run: BENCH_DATABASE_URL's server, else a throwaway cluster (fsync on), else none. */
async function postgresFor(log: (line: string) => void): Promise<{ target: PostgresTarget | null; cluster: LocalCluster | null; note: string }> {
  const given = process.env.BENCH_DATABASE_URL;
  if (given) return { target: { adminUrl: given }, cluster: null, note: `PostgreSQL at ${displayUrl(given)} (BENCH_DATABASE_URL)` };
  const bin = findPostgresBin(process.env);
  if (!bin) return { target: null, cluster: null, note: 'PostgreSQL: NOT RUN — no PostgreSQL found (apt-get install postgresql, or set BENCH_DATABASE_URL); this run measured SQLite only' };
  const dir = mkdtempSync(join(tmpdir(), 'kartra-access-bench-pg-'));
  // fsync on (fast: false): the intake answers after its COMMIT, and the point of that answer is durability.
  const cluster = await startLocalCluster({ bin, dataDir: join(dir, 'data'), fast: false });
  const stop = () => {
    // Interrupted: the bench's connections break as the server shuts down; nothing they report matters any more.
    process.on('uncaughtException', () => undefined);
    process.on('unhandledRejection', () => undefined);
    void cluster.stop().finally(() => {
      removeCluster(dir);
      process.exit(130);
    });
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  log(`throwaway PostgreSQL cluster on port ${cluster.port} (${cluster.dataDir}), fsync on`);
  return { target: { adminUrl: cluster.adminUrl }, cluster, note: `PostgreSQL: a throwaway cluster from ${bin} in ${tmpdir()} (same disk), default settings but max_connections=300, fsync on` };
}

async function main() {
  const startedAt = Date.now();
  const machine = { nproc: cpus().length, cpuModel: cpuModel(), totalMemoryGb: Math.round(totalmem() / 1024 ** 3), node: process.version, loadAverageAtStart: readFileSync('/proc/loadavg', 'utf8').trim() };
  log(`kartra-access bench on ${machine.nproc} × ${machine.cpuModel}, node ${machine.node}`);
  const needsPostgres = wantedEngines.includes('postgres') && (parts.has('intake') || parts.has('log') || parts.has('memory'));
  const postgres = needsPostgres ? await postgresFor(log) : { target: null, cluster: null, note: 'PostgreSQL: not asked for (BENCH_ENGINES)' };
  const engines = ENGINES.filter((engine) => wantedEngines.includes(engine) && (engine === 'sqlite' || postgres.target !== null));
  if (needsPostgres && !postgres.target) log(postgres.note);
  try {
    const intake = parts.has('intake') && engines.length > 0 ? await benchIntake(intakeOptions, engines, postgres.target, log) : null;
    // Memory of one engine's intake: SQLite when it is measured, else PostgreSQL.
    const memoryEngine = engines[0];
    const memory =
      parts.has('memory') && memoryEngine && intakeOptions.sustainSeconds > 0
        ? (log(`memory: intake on ${memoryEngine} at saturation for ${intakeOptions.sustainSeconds} s`), await benchMemory(intakeOptions, 90_000_000, memoryEngine, postgres.target))
        : null;
    const eventLogs: EventLogBenchResults[] = [];
    if (parts.has('log')) {
      for (const engine of engines) {
        log(`event log on ${engine}`);
        eventLogs.push(await benchEventLog(engine, seedOptions, repetitions, log, postgres.target?.adminUrl ?? null));
      }
    }
    const seconds = Math.round((Date.now() - startedAt) / 1000);

    const table = [
      `Machine: ${machine.nproc} × ${machine.cpuModel}, ${machine.totalMemoryGb} GB, node ${machine.node}; load average at start ${machine.loadAverageAtStart}. Bench took ${seconds} s.`,
      `Engines: ${engines.map((engine) => ENGINE_NAMES[engine]).join(', ') || 'none'}. ${postgres.note}${engines.includes('postgres') ? `; the service's pool: ${process.env.BENCH_DATABASE_POOL_SIZE ?? '10 (the DATABASE_POOL_SIZE default)'} connections` : ''}.`,
      '',
      ...(intake ? ['### Intake', '', ...intakeTable(intake), ''] : []),
      ...(memory ? ['### Memory', '', ...memoryTable(memory), ''] : []),
      ...(eventLogs.length > 0 ? ['### Event log at scale', '', ...logTable(eventLogs), ''] : []),
      ...eventLogs.flatMap((results) =>
        results.explains.length === 0
          ? []
          : [
              `### ${ENGINE_NAMES[results.engine]}: EXPLAIN (ANALYZE, BUFFERS) of the requests at p99${process.env.BENCH_EXPLAIN === 'all' ? '' : ' (queries missing p99 < 10 ms)'}`,
              '',
              ...results.explains.flatMap((explain) => [
                `#### ${explain.name}: GET ${explain.path}`,
                '',
                // The request's slowest SELECT by the server's own Execution Time; the JSON has every statement's plan.
                ...slowestStatements(explain.statements, 1).flatMap((statement) => ['```', `${statement.sql}  -- ${JSON.stringify(statement.params)}`, statement.plan, '```', '']),
              ]),
            ],
      ),
    ];
    log('');
    log(table.join('\n'));

    const outputDir = resolve(__dirname, '../../test-output');
    mkdirSync(outputDir, { recursive: true });
    const result = { startedAt: new Date(startedAt).toISOString(), seconds, machine, engines, postgres: postgres.note, intake, memory, eventLogs, table: table.join('\n') };
    const file = join(outputDir, `bench-${new Date(startedAt).toISOString().replace(/[:.]/g, '-')}.json`);
    writeFileSync(file, JSON.stringify(result, null, 2));
    writeFileSync(join(outputDir, 'bench-latest.json'), JSON.stringify(result, null, 2));
    log(`\nresults written to ${file}`);
  } finally {
    if (postgres.cluster) {
      await postgres.cluster.stop();
      removeCluster(resolve(postgres.cluster.dataDir, '..'));
    }
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
