import { openPostgres, type PostgresDatabase } from '../../src/db/postgres/database';
import { createPgAttemptCountStore, createPgTokenBucketStore } from '../../src/db/postgres/rate-limit-stores';
import type { AttemptCountStore, TokenBucketStore } from '../../src/domain/ports';
import { createMemoryTokenBucketStore } from '../../src/http/middleware/rate-limit';
import { createMemoryAttemptCountStore } from '../../src/http/pages/sign-in-limiter';
import { createEmptyDatabase, testEngine } from '../support/storage';

interface Stores {
  buckets: TokenBucketStore;
  attempts: AttemptCountStore;
  close(): Promise<void>;
}

/**
 * The limit stores' promises (domain/ports.ts), for each implementation: the memory ones (what SQLite runs with) in
 * every run, the PostgreSQL ones (shared by instances) in the PostgreSQL run, on a fresh database per test.
 */
const implementations: [string, () => Promise<Stores>][] = [
  ['in memory', async () => ({ buckets: createMemoryTokenBucketStore(), attempts: createMemoryAttemptCountStore(), close: async () => undefined })],
];
if (testEngine === 'postgres') {
  implementations.push([
    'on PostgreSQL',
    async () => {
      const database = await createEmptyDatabase('postgres');
      const postgres: PostgresDatabase = await openPostgres(database.url ?? '', { poolSize: 10, statementTimeoutMs: 10_000 });
      return {
        buckets: createPgTokenBucketStore(postgres.db),
        attempts: createPgAttemptCountStore(postgres.db),
        close: async () => {
          await postgres.close();
          await database.drop();
        },
      };
    },
  ]);
}

const T0 = Date.parse('2025-07-01T12:00:00.000Z');

describe.each(implementations)('limit stores %s', (_name, open) => {
  let stores: Stores;
  beforeEach(async () => {
    stores = await open();
  });
  afterEach(() => stores.close());

  describe('token buckets', () => {
    const limits = { burst: 3, perSecond: 2 };
    const takes = async (key: string, times: number, nowMs: number) => {
      const answers = [];
      for (let index = 0; index < times; index++) answers.push(await stores.buckets.take(key, limits, nowMs));
      return answers;
    };

    it('let a new source spend its burst at once, then say when the next token is back', async () => {
      const answers = await takes('hook:a', 4, T0);
      expect(answers.map((answer) => answer.allowed)).toEqual([true, true, true, false]);
      expect(answers.slice(0, 3).map((answer) => answer.retryAfterMs)).toEqual([0, 0, 0]);
      expect(answers[3]?.retryAfterMs).toBeCloseTo(500, 6);
      expect((await stores.buckets.take('hook:a', limits, T0 + 400)).retryAfterMs).toBeCloseTo(100, 6);
      expect((await stores.buckets.take('hook:a', limits, T0 + 500)).allowed).toBe(true);
    });

    it('refill at the sustained rate, never beyond the burst, and keep each source apart', async () => {
      await takes('hook:a', 3, T0);
      expect((await takes('hook:b', 1, T0))[0]?.allowed).toBe(true);
      // A minute idle refills 120 tokens' worth, capped at 3.
      expect((await takes('hook:a', 4, T0 + 60_000)).map((answer) => answer.allowed)).toEqual([true, true, true, false]);
      expect((await takes('hook:b', 3, T0)).map((answer) => answer.allowed)).toEqual([true, true, false]);
    });

    it('neither refill nor drain a bucket when a clock steps back', async () => {
      await takes('hook:a', 2, T0 + 10_000);
      // An instance whose clock lags 10 s: the one token left is still there, and no more.
      expect((await takes('hook:a', 2, T0)).map((answer) => answer.allowed)).toEqual([true, false]);
      // The bucket kept the later time: 500 ms after it, one token is back.
      expect((await stores.buckets.take('hook:a', limits, T0 + 10_500)).allowed).toBe(true);
    });

    it('forget only buckets that have refilled to full, and a forgotten source starts full', async () => {
      await takes('hook:idle', 3, T0);
      await takes('hook:busy', 3, T0 + 1_000);
      expect(await stores.buckets.forgetIdle(limits, T0 + 1_500)).toBe(1);
      expect(await stores.buckets.forgetIdle(limits, T0 + 1_500)).toBe(0);
      expect((await takes('hook:busy', 1, T0 + 1_500))[0]?.allowed).toBe(true);
      expect((await takes('hook:busy', 1, T0 + 1_500))[0]?.allowed).toBe(false);
      expect((await takes('hook:idle', 4, T0 + 1_500)).map((answer) => answer.allowed)).toEqual([true, true, true, false]);
    });

    it('let exactly the burst through when 100 takes of one source run at once', async () => {
      const answers = await Promise.all(Array.from({ length: 100 }, () => stores.buckets.take('hook:flood', { burst: 10, perSecond: 0.01 }, T0)));
      expect(answers.filter((answer) => answer.allowed)).toHaveLength(10);
    });
  });

  describe('attempt windows', () => {
    const windowMs = 15 * 60 * 1000;
    const pair = [
      { key: 'email-and-address:ann 203.0.113.7', limit: 2 },
      { key: 'email:ann', limit: 5 },
    ];

    it('count on every key or on none, naming the full keys and when they reopen', async () => {
      expect(await stores.attempts.take(pair, T0, windowMs)).toEqual({ taken: pair.map(({ key }) => ({ key, windowStartMs: T0 })) });
      expect('taken' in (await stores.attempts.take(pair, T0 + 1_000, windowMs))).toBe(true);
      expect(await stores.attempts.take(pair, T0 + 60_000, windowMs)).toEqual({ full: [{ key: 'email-and-address:ann 203.0.113.7', retryAfterMs: windowMs - 60_000 }] });
      // The refused take counted nothing on the email: it has 2 of its 5, so 3 more pass.
      const emailOnly = [{ key: 'email:ann', limit: 5 }];
      const answers = [];
      for (let index = 0; index < 4; index++) answers.push('taken' in (await stores.attempts.take(emailOnly, T0 + 60_000, windowMs)));
      expect(answers).toEqual([true, true, true, false]);
    });

    it('start a new window once one has ended, and give a slot back only in the window it was taken in', async () => {
      const first = await stores.attempts.take(pair, T0, windowMs);
      await stores.attempts.take(pair, T0, windowMs);
      expect('full' in (await stores.attempts.take(pair, T0 + windowMs - 1, windowMs))).toBe(true);
      const later = await stores.attempts.take(pair, T0 + windowMs, windowMs);
      expect(later).toEqual({ taken: pair.map(({ key }) => ({ key, windowStartMs: T0 + windowMs })) });
      // The slot from the ended window is not given back into the new one (1 of 2 used there)...
      if ('taken' in first) await stores.attempts.giveBack(first.taken);
      expect('taken' in (await stores.attempts.take(pair, T0 + windowMs, windowMs))).toBe(true);
      expect('full' in (await stores.attempts.take(pair, T0 + windowMs, windowMs))).toBe(true);
      // ...while one from the current window is.
      if ('taken' in later) await stores.attempts.giveBack(later.taken);
      expect('taken' in (await stores.attempts.take(pair, T0 + windowMs, windowMs))).toBe(true);
    });

    it('forget cleared keys at once and ended windows when told to', async () => {
      await stores.attempts.take(pair, T0, windowMs);
      await stores.attempts.take(pair, T0, windowMs);
      await stores.attempts.clear(['email-and-address:ann 203.0.113.7']);
      expect('taken' in (await stores.attempts.take(pair, T0, windowMs))).toBe(true);
      await stores.attempts.take([{ key: 'address:198.51.100.1', limit: 5 }], T0 + 60_000, windowMs);
      expect(await stores.attempts.forgetExpired(T0 + windowMs, windowMs)).toBe(2);
      expect(await stores.attempts.forgetExpired(T0 + windowMs, windowMs)).toBe(0);
      expect(await stores.attempts.forgetExpired(T0 + 60_000 + windowMs, windowMs)).toBe(1);
    });

    it('count exactly the limit when 100 takes sharing keys run at once, listing the keys in either order', async () => {
      const keys = [
        { key: 'email-and-address:ann 203.0.113.7', limit: 5 },
        { key: 'email:ann', limit: 20 },
        { key: 'address:203.0.113.7', limit: 20 },
      ];
      const answers = await Promise.all(Array.from({ length: 100 }, (_, index) => stores.attempts.take(index % 2 === 0 ? keys : [...keys].reverse(), T0, windowMs)));
      expect(answers.filter((answer) => 'taken' in answer)).toHaveLength(5);
      for (const answer of answers) if ('full' in answer) expect(answer.full.map(({ key }) => key)).toEqual(['email-and-address:ann 203.0.113.7']);
    });
  });
});

/** What only the shared stores promise: two instances (two stores, two pools) on one database see one set of counts. */
(testEngine === 'postgres' ? describe : describe.skip)('limit stores of two instances on one PostgreSQL database', () => {
  let database: Awaited<ReturnType<typeof createEmptyDatabase>>;
  let pools: [PostgresDatabase, PostgresDatabase];
  beforeEach(async () => {
    database = await createEmptyDatabase('postgres');
    pools = [await openPostgres(database.url ?? '', { poolSize: 5, statementTimeoutMs: 10_000 }), await openPostgres(database.url ?? '', { poolSize: 5, statementTimeoutMs: 10_000 })];
  });
  afterEach(async () => {
    for (const pool of pools) await pool.close();
    await database.drop();
  });

  it('spend one bucket, and an instance that was refused answers from memory until the token is back', async () => {
    const [a, b] = pools.map((pool) => createPgTokenBucketStore(pool.db)) as [TokenBucketStore, TokenBucketStore];
    const limits = { burst: 2, perSecond: 1 };
    expect((await a.take('hook:x', limits, T0)).allowed).toBe(true);
    expect((await b.take('hook:x', limits, T0)).allowed).toBe(true);
    expect(await a.take('hook:x', limits, T0 + 100)).toEqual({ allowed: false, retryAfterMs: 900 });
    const updatedAt = async () => (await pools[0].pool.query<{ updated_at: string }>("select updated_at from rate_limit_buckets where key = 'hook:x'")).rows[0]?.updated_at;
    expect(await updatedAt()).toBe(String(T0 + 100));
    // Refused again without a statement (the row is untouched), with the wait that is left.
    expect(await a.take('hook:x', limits, T0 + 600)).toEqual({ allowed: false, retryAfterMs: 400 });
    expect(await updatedAt()).toBe(String(T0 + 100));
    // Once the token is back either instance may spend it, and only one does.
    expect((await b.take('hook:x', limits, T0 + 1_000)).allowed).toBe(true);
    expect((await a.take('hook:x', limits, T0 + 1_000)).allowed).toBe(false);
  });

  it('count attempts once for both instances, and a slot given back on one is free on the other', async () => {
    const [a, b] = pools.map((pool) => createPgAttemptCountStore(pool.db)) as [AttemptCountStore, AttemptCountStore];
    const keys = [{ key: 'email-and-address:ann 203.0.113.7', limit: 2 }];
    const first = await a.take(keys, T0, 60_000);
    expect('taken' in (await b.take(keys, T0, 60_000))).toBe(true);
    expect('full' in (await a.take(keys, T0, 60_000))).toBe(true);
    if ('taken' in first) await a.giveBack(first.taken);
    expect('taken' in (await b.take(keys, T0, 60_000))).toBe(true);
    expect('full' in (await b.take(keys, T0, 60_000))).toBe(true);
  });
});
