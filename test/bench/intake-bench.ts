import autocannon from 'autocannon';
import { fork, type ChildProcess } from 'node:child_process';
import { join, resolve } from 'node:path';
import { createBenchDatabase } from './bench-postgres';
import type { ServerEngine, ServerMode, ServerRequest } from './bench-server';
import { createPurchaseBodies } from './kartra-bodies';

export interface LoadResult {
  requestsPerSecond: number;
  latencyMs: { p50: number; p99: number; max: number };
  acknowledged: number;
  /** Answers other than 200, socket errors and timeouts. */
  notAcknowledged: number;
  durationSeconds: number;
}

export interface IntakePhaseResults {
  mode: ServerMode;
  /** The intake's engine; null for bare Express. */
  engine: ServerEngine | null;
  durability: string;
  saturation: LoadResult;
  steady: LoadResult;
  acknowledged: number;
  notAcknowledged: number;
  stored: number;
  missingAcknowledged: number;
  applied: number;
}

export interface IntakeBenchOptions {
  connections: number;
  warmupSeconds: number;
  saturationSeconds: number;
  steadySeconds: number;
  steadyRate: number;
  sustainSeconds: number;
  rounds: number;
  leadCount: number;
}

interface RunningServer {
  child: ChildProcess;
  port: number;
  hookPath: string;
  durability: string;
  ask<T>(request: ServerRequest, reply: string): Promise<T>;
  stop(): Promise<void>;
}

/** Where the intake's PostgreSQL databases are created: a server and a role that may create databases. */
export interface PostgresTarget {
  adminUrl: string;
}

/**
 * Starts a server process: bare Express, or the intake on a fresh database of `engine` (on PostgreSQL, a new
 * database on the target's server, dropped when the server stops).
 */
async function startServer(mode: ServerMode, engine: ServerEngine = 'sqlite', postgres: PostgresTarget | null = null): Promise<RunningServer> {
  const database = mode === 'intake' && engine === 'postgres' ? await createBenchDatabase(requireTarget(postgres).adminUrl, 'kartra_bench_intake') : null;
  // BENCH_CPU_PROFILE_DIR=dir writes V8 CPU profiles of the server processes to dir/<mode>/ (Chrome DevTools opens them).
  const profileDir = process.env.BENCH_CPU_PROFILE_DIR;
  const label = mode === 'intake' ? `intake-${engine}` : mode;
  const execArgv = ['--import', 'tsx', ...(profileDir ? ['--cpu-prof', `--cpu-prof-dir=${join(profileDir, label)}`] : [])];
  const child = fork(resolve(__dirname, 'bench-server.ts'), [mode, engine], {
    execArgv,
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    // In the environment, not the arguments: a given BENCH_DATABASE_URL may carry a password.
    env: { ...process.env, ...(database ? { BENCH_SERVER_DATABASE_URL: database.url } : {}) },
  });
  const ready = await new Promise<{ port: number; hookPath: string; durability: string }>((done, fail) => {
    child.once('error', fail);
    child.once('exit', (code) => fail(new Error(`${label} server exited with ${code} before it was ready`)));
    child.on('message', function onReady(message: { type: string; port: number; hookPath: string; durability: string }) {
      if (message.type !== 'ready') return;
      child.off('message', onReady);
      child.removeAllListeners('exit');
      done(message);
    });
  });
  const ask = <T>(request: ServerRequest, reply: string) =>
    new Promise<T>((done) => {
      child.on('message', function onReply(message: { type: string }) {
        if (message.type !== reply) return;
        child.off('message', onReply);
        done(message as T);
      });
      child.send(request);
    });
  const stop = async () => {
    await new Promise<void>((done) => {
      child.once('exit', () => done());
      child.send({ type: 'stop' });
    });
    await database?.drop();
  };
  return { child, ...ready, ask, stop };
}

function requireTarget(postgres: PostgresTarget | null): PostgresTarget {
  if (!postgres) throw new Error('the intake on PostgreSQL needs a server (BENCH_DATABASE_URL, or the throwaway cluster run-bench starts)');
  return postgres;
}

/**
 * Drives one server with distinct purchase bodies and keeps the event id of every acknowledged delivery, so the
 * caller can check afterwards that each acknowledged event is in the database.
 */
async function load(
  server: RunningServer,
  bodies: ReturnType<typeof createPurchaseBodies>,
  options: { connections: number; seconds: number; rate?: number; path?: string; expectedStatus?: number },
  eventIds: number[],
): Promise<LoadResult> {
  const expectedStatus = options.expectedStatus ?? 200;
  let answered = 0;
  let failed = 0;
  const result = await autocannon({
    url: `http://127.0.0.1:${server.port}`,
    connections: options.connections,
    duration: options.seconds,
    ...(options.rate ? { overallRate: options.rate } : {}),
    requests: [
      {
        method: 'POST',
        path: options.path ?? server.hookPath,
        headers: { 'content-type': 'application/json', 'user-agent': 'Kartra-bench' },
        setupRequest: (request) => ({ ...request, body: bodies.next() }),
        onResponse: (status, body) => {
          if (status !== expectedStatus) {
            failed++;
            return;
          }
          answered++;
          const match = /"eventId":(\d+)/.exec(body);
          if (match?.[1]) eventIds.push(Number(match[1]));
        },
      },
    ],
  });
  // Throughput counts the expected answers only (200 for deliveries): a 429 or a 5xx is fast and would flatter the server.
  return {
    requestsPerSecond: Math.round(answered / options.seconds),
    latencyMs: { p50: result.latency.p50, p99: result.latency.p99, max: result.latency.max },
    acknowledged: answered,
    notAcknowledged: failed + result.errors + result.timeouts,
    durationSeconds: options.seconds,
  };
}

export async function benchOneServer(
  mode: ServerMode,
  options: IntakeBenchOptions,
  firstTransactionId: number,
  engine: ServerEngine = 'sqlite',
  postgres: PostgresTarget | null = null,
): Promise<IntakePhaseResults> {
  const server = await startServer(mode, engine, postgres);
  try {
    const bodies = createPurchaseBodies({ leadCount: options.leadCount, firstTransactionId });
    const eventIds: number[] = [];
    const warmup = await load(server, bodies, { connections: options.connections, seconds: options.warmupSeconds }, eventIds);
    const saturation = await load(server, bodies, { connections: options.connections, seconds: options.saturationSeconds }, eventIds);
    const steady = await load(server, bodies, { connections: Math.min(options.connections, 20), seconds: options.steadySeconds, rate: options.steadyRate }, eventIds);
    const check = mode === 'intake' ? await server.ask<{ stored: number; missing: number; applied: number }>({ type: 'stored', eventIds }, 'stored') : { stored: 0, missing: 0, applied: 0 };
    return {
      mode,
      engine: mode === 'intake' ? engine : null,
      durability: server.durability,
      saturation,
      steady,
      acknowledged: mode === 'intake' ? eventIds.length : warmup.acknowledged + saturation.acknowledged + steady.acknowledged,
      notAcknowledged: warmup.notAcknowledged + saturation.notAcknowledged + steady.notAcknowledged,
      stored: check.stored,
      missingAcknowledged: check.missing,
      applied: check.applied,
    };
  } finally {
    await server.stop();
  }
}

export interface MemoryResult {
  engine: ServerEngine;
  seconds: number;
  requests: number;
  rssStartMb: number;
  rssEndMb: number;
  rssSamplesMb: number[];
}

/** A sustained saturation run on the intake: resident memory sampled after warm-up and every few seconds. */
export async function benchMemory(options: IntakeBenchOptions, firstTransactionId: number, engine: ServerEngine = 'sqlite', postgres: PostgresTarget | null = null): Promise<MemoryResult> {
  const server = await startServer('intake', engine, postgres);
  const mb = (bytes: number) => Math.round(bytes / 1024 / 1024);
  try {
    const bodies = createPurchaseBodies({ leadCount: options.leadCount, firstTransactionId });
    const eventIds: number[] = [];
    await load(server, bodies, { connections: options.connections, seconds: options.warmupSeconds }, eventIds);
    const samples: number[] = [mb((await server.ask<{ rssBytes: number }>({ type: 'rss' }, 'rss')).rssBytes)];
    const sampleEverySeconds = 5;
    let requests = 0;
    for (let elapsed = 0; elapsed < options.sustainSeconds; elapsed += sampleEverySeconds) {
      const run = await load(server, bodies, { connections: options.connections, seconds: sampleEverySeconds }, []);
      requests += run.acknowledged;
      samples.push(mb((await server.ask<{ rssBytes: number }>({ type: 'rss' }, 'rss')).rssBytes));
    }
    return { engine, seconds: options.sustainSeconds, requests, rssStartMb: samples[0] ?? 0, rssEndMb: samples[samples.length - 1] ?? 0, rssSamplesMb: samples };
  } finally {
    await server.stop();
  }
}

/**
 * The real service posted to at saturation with a wrong secret in the URL: 404 after the same HTTP stack (helmet,
 * request log, rate limit, raw body, router) and the site and secret lookups (on SQLite in a group commit; on
 * PostgreSQL each its own query, after the rate limit's upsert of the source's bucket in the database), with nothing
 * stored. Side by side with bare Express it tells what the stack costs apart from storing and applying.
 */
export async function benchUnknownUrl(options: IntakeBenchOptions, firstTransactionId: number, engine: ServerEngine = 'sqlite', postgres: PostgresTarget | null = null): Promise<LoadResult> {
  const server = await startServer('intake', engine, postgres);
  try {
    const bodies = createPurchaseBodies({ leadCount: options.leadCount, firstTransactionId });
    const path = server.hookPath.replace(/[^/]+$/, 'not-the-secret');
    await load(server, bodies, { connections: options.connections, seconds: options.warmupSeconds, path, expectedStatus: 404 }, []);
    return await load(server, bodies, { connections: options.connections, seconds: options.saturationSeconds, path, expectedStatus: 404 }, []);
  } finally {
    await server.stop();
  }
}

/** One engine's intake in one round, beside that round's bare Express. */
export interface EngineRound {
  intake: IntakePhaseResults;
  unknownUrl: LoadResult;
  /** Intake ÷ bare, requests per second at saturation. */
  ratio: number;
  unknownUrlRatio: number;
}

export interface EngineRatios {
  /** Of the rates summed over the rounds. */
  ratio: number;
  perRound: number[];
  /** The service answering 404 to a wrong secret (nothing stored) ÷ bare: the cost of the HTTP stack alone. */
  unknownUrlRatio: number;
  unknownUrlPerRound: number[];
}

export interface IntakeBenchResults {
  options: IntakeBenchOptions;
  engines: ServerEngine[];
  rounds: { bare: IntakePhaseResults; engines: Partial<Record<ServerEngine, EngineRound>> }[];
  ratios: Partial<Record<ServerEngine, EngineRatios>>;
}

/**
 * Each round: bare Express, then for each engine the intake and the wrong-secret run, one after the other with the
 * same load, so every ratio compares servers that saw the same machine within a few minutes.
 */
export async function benchIntake(options: IntakeBenchOptions, engines: ServerEngine[], postgres: PostgresTarget | null, log: (line: string) => void): Promise<IntakeBenchResults> {
  const rounds: IntakeBenchResults['rounds'] = [];
  for (let round = 0; round < options.rounds; round++) {
    const firstTransactionId = 70_000_000 + round * 10_000_000;
    log(`intake bench round ${round + 1}/${options.rounds}: bare Express`);
    const bare = await benchOneServer('bare', options, firstTransactionId);
    log(`  bare: ${bare.saturation.requestsPerSecond} req/s`);
    const byEngine: Partial<Record<ServerEngine, EngineRound>> = {};
    for (const engine of engines) {
      log(`  now the intake on ${engine}`);
      const intake = await benchOneServer('intake', options, firstTransactionId, engine, postgres);
      const ratio = intake.saturation.requestsPerSecond / bare.saturation.requestsPerSecond;
      log(`  intake on ${engine}: ${intake.saturation.requestsPerSecond} req/s, ratio ${ratio.toFixed(2)}; now the service on ${engine} with a wrong secret`);
      const unknownUrl = await benchUnknownUrl(options, firstTransactionId, engine, postgres);
      const unknownUrlRatio = unknownUrl.requestsPerSecond / bare.saturation.requestsPerSecond;
      log(`  wrong secret on ${engine} (404, nothing stored): ${unknownUrl.requestsPerSecond} req/s, ratio ${unknownUrlRatio.toFixed(2)}`);
      byEngine[engine] = { intake, unknownUrl, ratio, unknownUrlRatio };
    }
    rounds.push({ bare, engines: byEngine });
  }
  const bareTotal = rounds.reduce((total, round) => total + round.bare.saturation.requestsPerSecond, 0);
  const ratios: IntakeBenchResults['ratios'] = {};
  for (const engine of engines) {
    const ofEngine = rounds.map((round) => round.engines[engine]).filter((entry): entry is EngineRound => entry !== undefined);
    ratios[engine] = {
      ratio: ofEngine.reduce((total, entry) => total + entry.intake.saturation.requestsPerSecond, 0) / bareTotal,
      perRound: ofEngine.map((entry) => entry.ratio),
      unknownUrlRatio: ofEngine.reduce((total, entry) => total + entry.unknownUrl.requestsPerSecond, 0) / bareTotal,
      unknownUrlPerRound: ofEngine.map((entry) => entry.unknownUrlRatio),
    };
  }
  return { options, engines, rounds, ratios };
}
