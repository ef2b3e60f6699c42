/**
 * `npm run bench`: intake throughput against a bare Express app, the event log at a million events, and memory
 * over a sustained run. Loopback only; prints a table and writes test-output/bench-<time>.json (and bench-latest.json).
 * Sizes and durations come from BENCH_* environment variables (see README, Performance); the defaults finish in
 * well under ten minutes.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { readFileSync } from 'node:fs';
import { benchEventLog, type EventLogBenchResults } from './event-log-bench';
import { benchIntake, benchMemory, type IntakeBenchOptions, type IntakeBenchResults, type MemoryResult } from './intake-bench';

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
  endAt: new Date('2026-11-01T00:00:00Z'),
};
// 500 so that p99 is the sixth-slowest answer, not the second: on a shared machine one preempted request moves it.
const repetitions = numberFrom('BENCH_REPETITIONS', 500);

const log = (line: string) => console.log(line);
const pad = (text: string | number, width: number) => String(text).padEnd(width);
const padLeft = (text: string | number, width: number) => String(text).padStart(width);

function intakeTable(results: IntakeBenchResults): string[] {
  const lines = [
    `| server | round | durability | req/s at saturation (${results.options.connections} conn.) | p50 / p99 / max ms | steady ${results.options.steadyRate}/s: req/s | p50 / p99 / max ms | acknowledged (200) | not 200 | stored | applied | acknowledged but missing |`,
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  ];
  results.rounds.forEach((round, index) => {
    for (const server of [round.bare, round.intake]) {
      const { saturation: sat, steady } = server;
      const intakeOnly = (value: number) => (server.mode === 'intake' ? String(value) : '-');
      lines.push(
        `| ${server.mode === 'bare' ? 'bare Express 5 (JSON parse + answer)' : 'kartra-access intake (store + apply a purchase)'} | ${index + 1} | ${server.durability} | ${sat.requestsPerSecond} | ${sat.latencyMs.p50} / ${sat.latencyMs.p99} / ${sat.latencyMs.max} | ${steady.requestsPerSecond} | ${steady.latencyMs.p50} / ${steady.latencyMs.p99} / ${steady.latencyMs.max} | ${server.acknowledged} | ${server.notAcknowledged} | ${intakeOnly(server.stored)} | ${intakeOnly(server.applied)} | ${intakeOnly(server.missingAcknowledged)} |`,
      );
    }
    const unknown = round.unknownUrl;
    lines.push(
      `| kartra-access, wrong secret (404, nothing stored) | ${index + 1} | - | ${unknown.requestsPerSecond} | ${unknown.latencyMs.p50} / ${unknown.latencyMs.p99} / ${unknown.latencyMs.max} | - | - | ${unknown.acknowledged} (404) | ${unknown.notAcknowledged} | - | - | - |`,
    );
  });
  const missedBy = results.ratio < 0.8 ? `; missed by ${(0.8 - results.ratio).toFixed(2)}, the intake reaching ${Math.round((results.ratio / 0.8) * 100)}% of the target rate` : '; met';
  lines.push(
    '',
    `**Intake ÷ bare throughput: ${results.ratio.toFixed(2)}** (per round: ${results.rounds.map((round) => round.ratio.toFixed(2)).join(', ')}; target ≥ 0.80${missedBy})`,
    '',
    `The service's HTTP stack alone (wrong secret, 404, nothing stored) ÷ bare: ${results.unknownUrlRatio.toFixed(2)} (per round: ${results.rounds.map((round) => round.unknownUrlRatio.toFixed(2)).join(', ')}).`,
  );
  return lines;
}

function logTable(results: EventLogBenchResults): string[] {
  const { counts } = results.seed;
  const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(0)} MB`;
  const lines = [
    `Seeded ${counts.events.toLocaleString('en')} events, ${counts.members.toLocaleString('en')} members, ${counts.products} products, ${results.seed.options.sites} sites (${counts.grants.toLocaleString('en')} grants, ${counts.facts.toLocaleString('en')} payment facts) in ${results.seed.seconds.toFixed(0)} s; raw bodies of ${results.seed.options.rawBodyBytes} bytes, pruned after ${results.seed.options.rawBodyRetentionDays} days (the default retention).`,
    `Database ${mb(results.databaseBytes)}; raw bodies ${mb(results.rawBodyBytes)}; beyond the raw body: ${results.bytesPerEventBeyondRawBody} bytes/event for the whole file, ${results.eventTableBytesPerEventBeyondRawBody ?? 'n/a'} bytes/event for the event table, its indexes and fingerprints.`,
    '',
    `| request (server side, ${results.queries[0]?.requests ?? 0} requests each) | p50 ms | p99 ms | max ms | p99 < 10 ms |`,
    '| --- | --- | --- | --- | --- |',
    ...results.queries.map((query) => `| ${pad(query.name, 34)} | ${padLeft(query.p50Ms, 6)} | ${padLeft(query.p99Ms, 6)} | ${padLeft(query.maxMs, 6)} | ${query.p99Ms < 10 ? 'yes' : 'no'} |`),
  ];
  return lines;
}

function memoryTable(memory: MemoryResult): string[] {
  return [
    `Memory (intake at saturation for ${memory.seconds} s, ${memory.requests.toLocaleString('en')} events): RSS ${memory.rssStartMb} MB after warm-up, ${memory.rssEndMb} MB at the end (samples: ${memory.rssSamplesMb.join(', ')} MB).`,
  ];
}

async function main() {
  const startedAt = Date.now();
  const machine = { nproc: cpus().length, cpuModel: cpuModel(), totalMemoryGb: Math.round(totalmem() / 1024 ** 3), node: process.version, loadAverageAtStart: readFileSync('/proc/loadavg', 'utf8').trim() };
  log(`kartra-access bench on ${machine.nproc} × ${machine.cpuModel}, node ${machine.node}`);
  const intake = parts.has('intake') ? await benchIntake(intakeOptions, log) : null;
  const memory = parts.has('memory') && intakeOptions.sustainSeconds > 0 ? (log(`memory: intake at saturation for ${intakeOptions.sustainSeconds} s`), await benchMemory(intakeOptions, 90_000_000)) : null;
  const eventLog = parts.has('log') ? await benchEventLog(seedOptions, repetitions, log) : null;
  const seconds = Math.round((Date.now() - startedAt) / 1000);

  const table = [
    `Machine: ${machine.nproc} × ${machine.cpuModel}, ${machine.totalMemoryGb} GB, node ${machine.node}; load average at start ${machine.loadAverageAtStart}. Bench took ${seconds} s.`,
    '',
    ...(intake ? ['### Intake', '', ...intakeTable(intake), ''] : []),
    ...(memory ? ['### Memory', '', ...memoryTable(memory), ''] : []),
    ...(eventLog ? ['### Event log at scale', '', ...logTable(eventLog), ''] : []),
  ];
  log('');
  log(table.join('\n'));

  const outputDir = resolve(__dirname, '../../test-output');
  mkdirSync(outputDir, { recursive: true });
  const result = { startedAt: new Date(startedAt).toISOString(), seconds, machine, intake, memory, eventLog, table: table.join('\n') };
  const file = join(outputDir, `bench-${new Date(startedAt).toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, JSON.stringify(result, null, 2));
  writeFileSync(join(outputDir, 'bench-latest.json'), JSON.stringify(result, null, 2));
  log(`\nresults written to ${file}`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
