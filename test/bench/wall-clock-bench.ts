/**
 * `npx tsx test/bench/wall-clock-bench.ts` (about a minute): the cost of reading wall-clock times, 100,000
 * conversions a row, for src/domain/wall-clock.ts (offset spans in front of Temporal), temporal-polyfill alone, and
 * the two hand-written readings it replaced (kartra-time.ts and pages/format.ts as of commit 7d33f7c, taken from git
 * when it is there; the uncached admin ones over 2,000). "differ from Temporal" counts answers unlike Temporal's.
 * Kartra times are read on every webhook, so the "one week" rows (times near now, as a live feed sends them) are
 * the hot path; "ten years" spreads the times to defeat every cache. Each row is the best of three rounds.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Temporal } from 'temporal-polyfill';
import { parseKartraTime } from '../../src/domain/kartra/kartra-time';
import { dateToWallTime, wallTimeToDate } from '../../src/http/pages/format';

const CONVERSIONS = 100_000;
const ROUNDS = 3;
const ZONE = 'America/New_York';
const LEGACY_COMMIT = '7d33f7c';

interface Legacy {
  parseKartraTime(raw: string, timeZone: string): Date | undefined;
  wallTimeToDate(value: string, timeZone: string): Date | null;
  dateToWallTime(date: Date, timeZone: string): string;
}

/** The replaced code, from git; undefined outside a checkout holding the commit. */
function loadLegacy(): Legacy | undefined {
  const folder = mkdtempSync(join(tmpdir(), 'wall-clock-bench-'));
  try {
    const files = { kartra: 'src/domain/kartra/kartra-time.ts', format: 'src/http/pages/format.ts' };
    for (const [name, path] of Object.entries(files)) {
      writeFileSync(join(folder, `${name}.ts`), execFileSync('git', ['show', `${LEGACY_COMMIT}:${path}`], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }));
    }
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- tsx compiles these copies on require
    const kartra = require(join(folder, 'kartra.ts')) as Pick<Legacy, 'parseKartraTime'>;
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const format = require(join(folder, 'format.ts')) as Omit<Legacy, 'parseKartraTime'>;
    return { parseKartraTime: kartra.parseKartraTime, wallTimeToDate: format.wallTimeToDate, dateToWallTime: format.dateToWallTime };
  } catch {
    return undefined;
  } finally {
    // Once required, the copies live in memory.
    rmSync(folder, { recursive: true, force: true });
  }
}

const pad = (value: number) => String(value).padStart(2, '0');

/** `CONVERSIONS` instants spread evenly at random over `spreadMs` before 2025-06-01 (a fixed seed: same every run). */
function instants(spreadMs: number): number[] {
  let seed = 42;
  const endMs = Date.UTC(2025, 5, 1);
  return Array.from({ length: CONVERSIONS }, () => {
    seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
    return Math.floor(endMs - (seed / 2 ** 31) * spreadMs);
  });
}

/** The wall clock at `ms` in UTC fields, written as Kartra ("2025-03-04 09:12:05") or datetime-local does. */
function wallText(ms: number, separator: ' ' | 'T', withSeconds: boolean): string {
  const at = new Date(ms);
  const date = `${at.getUTCFullYear()}-${pad(at.getUTCMonth() + 1)}-${pad(at.getUTCDate())}`;
  return `${date}${separator}${pad(at.getUTCHours())}:${pad(at.getUTCMinutes())}${withSeconds ? `:${pad(at.getUTCSeconds())}` : ''}`;
}

/** Best of `ROUNDS` over the first `count` inputs, in µs per conversion. */
function measure(convertOne: (index: number) => unknown, count: number): number {
  const convertAll = () => {
    for (let index = 0; index < count; index++) convertOne(index);
  };
  convertAll(); // warm up: JIT and caches, as a running server has them
  let bestMs = Infinity;
  for (let round = 0; round < ROUNDS; round++) {
    const started = process.hrtime.bigint();
    convertAll();
    bestMs = Math.min(bestMs, Number(process.hrtime.bigint() - started) / 1e6);
  }
  return (bestMs * 1000) / count;
}

const temporalReading = (text: string) => Temporal.PlainDateTime.from(text).toZonedDateTime(ZONE, { disambiguation: 'compatible' }).epochMilliseconds;
const temporalShown = (ms: number) => Temporal.Instant.fromEpochMilliseconds(ms).toZonedDateTimeISO(ZONE).toPlainDateTime().toString().slice(0, 16);

interface Row {
  case: string;
  code: string;
  conversions: number;
  'µs each': number;
  'differ from Temporal': number;
}

function main(): void {
  const legacy = loadLegacy();
  const rows: Row[] = [];
  for (const [name, spreadMs] of [
    ['one week', 7 * 86_400_000],
    ['ten years', 3_650 * 86_400_000],
  ] as const) {
    const times = instants(spreadMs);
    const kartraTexts = times.map((ms) => wallText(ms, ' ', true));
    const adminTexts = times.map((ms) => wallText(ms, 'T', false));
    const dates = times.map((ms) => new Date(ms));
    const expected = {
      kartra: kartraTexts.map((text) => temporalReading(text.replace(' ', 'T'))),
      admin: adminTexts.map(temporalReading),
      shown: times.map(temporalShown),
    };
    /** `convertOne(index)` turns input `index` into what `expected[kind][index]` holds. */
    const add = (kind: keyof typeof expected, code: string, convertOne: (index: number) => number | string | undefined, count = CONVERSIONS) => {
      const differing = expected[kind].filter((value, index) => index < count && convertOne(index) !== value).length;
      rows.push({ case: `${name}: ${kind === 'kartra' ? 'Kartra time -> instant' : kind === 'admin' ? 'admin input -> instant' : 'instant -> admin input'}`, code, conversions: count, 'µs each': Number(measure(convertOne, count).toFixed(2)), 'differ from Temporal': differing });
    };
    // The uncached hand-written admin readings cost about 100x more; fewer conversions keep the run short.
    const slowCount = CONVERSIONS / 50;

    add('kartra', 'wall-clock.ts (spans, then Temporal)', (index) => parseKartraTime(kartraTexts[index] as string, ZONE)?.getTime());
    add('kartra', 'temporal-polyfill alone', (index) => temporalReading((kartraTexts[index] as string).replace(' ', 'T')));
    if (legacy) add('kartra', `hand-written at ${LEGACY_COMMIT} (hour cache)`, (index) => legacy.parseKartraTime(kartraTexts[index] as string, ZONE)?.getTime());

    add('admin', 'wall-clock.ts (spans, then Temporal)', (index) => wallTimeToDate(adminTexts[index] as string, ZONE)?.getTime());
    add('admin', 'temporal-polyfill alone', (index) => temporalReading(adminTexts[index] as string));
    if (legacy) add('admin', `hand-written at ${LEGACY_COMMIT} (no cache)`, (index) => legacy.wallTimeToDate(adminTexts[index] as string, ZONE)?.getTime(), slowCount);

    add('shown', 'wall-clock.ts (spans, then Temporal)', (index) => dateToWallTime(dates[index] as Date, ZONE));
    add('shown', 'temporal-polyfill alone', (index) => temporalShown(times[index] as number));
    if (legacy) add('shown', `hand-written at ${LEGACY_COMMIT} (no cache)`, (index) => legacy.dateToWallTime(dates[index] as Date, ZONE), slowCount);
  }
  console.log(`Wall-clock conversions in ${ZONE}, best of ${ROUNDS} rounds after a warm-up; Node ${process.version}`);
  console.table(rows);
  if (!legacy) console.log(`(commit ${LEGACY_COMMIT} not found: no rows for the hand-written code)`);
}

main();
