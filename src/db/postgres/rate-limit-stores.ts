import { eq, inArray, sql } from 'drizzle-orm';
import type { AttemptCountStore, CountedKey, TakenSlot, TokenBucketStore } from '../../domain/ports';
import { retryLostRaces, type PgDb } from './database';
import { attemptWindows, rateLimitBuckets } from './schema';

/*
 * The request limits' stores on PostgreSQL, for several service instances behind one load balancer: each instance
 * keeping its own counts would give every source a full allowance per instance. The counts live in the shared database
 * and every check-and-spend is one atomic step there, so concurrent requests on any number of instances never spend
 * more than the limit allows.
 */

/** JavaScript's string order: any fixed total order will do, as long as every take locks its keys in it. */
const byKey = (a: CountedKey, b: CountedKey) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0);

/**
 * Token buckets in `rate_limit_buckets`. A take is ONE statement — an upsert whose update refills the bucket for the
 * time since its last take (capped at the burst), spends a token if there is one and returns whether it did — so the
 * row lock PostgreSQL takes for the upsert orders concurrent takes on one key, across all instances: each sees the
 * tokens the previous one left. Times are the instances' wall clocks (epoch ms); `updated_at` only moves forward and a
 * negative elapsed time refills nothing, so an instance whose clock lags cannot drain a bucket, and one whose clock
 * leads adds at most its lead's worth of tokens, once.
 *
 * A refusal is remembered in this process until its Retry-After has passed: other instances can only spend tokens, so
 * the database would refuse the key until then too, and a flood from one source then costs one statement per instance
 * per returning token instead of one per request (and none of the pool the deliveries need).
 */
export function createPgTokenBucketStore(db: PgDb, options: { maxRememberedRefusals?: number } = {}): TokenBucketStore {
  const b = rateLimitBuckets;
  const maxRememberedRefusals = options.maxRememberedRefusals ?? 10_000;
  /** Key -> epoch ms before which the bucket cannot hold a whole token. */
  const refusedUntil = new Map<string, number>();

  function forgetPastRefusals(nowMs: number): void {
    for (const [key, until] of refusedUntil) if (until <= nowMs) refusedUntil.delete(key);
  }

  return {
    async take(key, { burst, perSecond }, nowMs) {
      const until = refusedUntil.get(key);
      if (until !== undefined) {
        if (nowMs < until) return { allowed: false, retryAfterMs: until - nowMs };
        refusedUntil.delete(key);
      }
      const now = Math.floor(nowMs);
      // Evaluated against the row as it was before this update (PostgreSQL's UPDATE semantics), in every SET below.
      const refilled = sql`least(${burst}::double precision, ${b.tokens} + greatest(0, ${now}::bigint - ${b.updatedAt}) / 1000.0 * ${perSecond}::double precision)`;
      const [row] = await db
        .insert(b)
        // A key never seen has a full bucket, less the token this take spends.
        .values({ key, tokens: burst >= 1 ? burst - 1 : burst, updatedAt: now, allowed: burst >= 1 })
        .onConflictDoUpdate({
          target: b.key,
          set: {
            tokens: sql`case when ${refilled} >= 1 then ${refilled} - 1 else ${refilled} end`,
            updatedAt: sql`greatest(${b.updatedAt}, excluded.updated_at)`,
            allowed: sql`${refilled} >= 1`,
          },
        })
        .returning({ allowed: b.allowed, tokens: b.tokens });
      if (!row) throw new Error('the token bucket upsert returned no row');
      if (row.allowed) return { allowed: true, retryAfterMs: 0 };
      const retryAfterMs = ((1 - row.tokens) / perSecond) * 1000;
      if (refusedUntil.size >= maxRememberedRefusals) forgetPastRefusals(nowMs);
      if (refusedUntil.size < maxRememberedRefusals) refusedUntil.set(key, nowMs + retryAfterMs);
      return { allowed: false, retryAfterMs };
    },

    async forgetIdle({ burst, perSecond }, nowMs) {
      forgetPastRefusals(nowMs);
      // SKIP LOCKED: a bucket a take holds right now is not idle, and the sweep never waits for (or deadlocks with) one.
      const idle = db
        .select({ key: b.key })
        .from(b)
        .where(sql`${b.tokens} + greatest(0, ${Math.floor(nowMs)}::bigint - ${b.updatedAt}) / 1000.0 * ${perSecond}::double precision >= ${burst}::double precision`)
        .for('update', { skipLocked: true });
      const forgotten = await db.delete(b).where(inArray(b.key, idle));
      return forgotten.rowCount ?? 0;
    },
  };
}

/**
 * Fixed attempt windows in `attempt_windows`. A take is one transaction that locks every key's row in sorted key
 * order (inserting a missing one first, then SELECT … FOR UPDATE), so two takes sharing keys never deadlock and a take
 * sees the counts as the last committed take left them; it then counts on every key or on none. The password is
 * hashed only after the take has committed, so a burst of parallel guesses spread over any number of instances gets
 * exactly the limit's checks.
 */
export function createPgAttemptCountStore(db: PgDb): AttemptCountStore {
  const w = attemptWindows;
  type Scope = Parameters<Parameters<PgDb['transaction']>[0]>[0];

  /** The key's row, locked until the transaction ends; a missing key gets an ended window (the same as no row). */
  async function lockWindow(tx: Scope, key: string, nowMs: number, windowMs: number) {
    for (let tries = 0; tries < 3; tries++) {
      // An ended window rather than one starting now: a refused take commits these rows, and they must count nothing.
      await tx.insert(w).values({ key, windowStart: nowMs - windowMs, count: 0 }).onConflictDoNothing();
      const [row] = await tx.select().from(w).where(eq(w.key, key)).for('update');
      if (row) return row;
      // The sweep deleted an ended window between the two statements; the next insert creates it again.
    }
    throw new Error(`could not lock the attempt window of ${key}`);
  }

  return {
    take: (keys, nowMs, windowMs) =>
      retryLostRaces(() =>
        db.transaction(async (tx) => {
          const now = Math.floor(nowMs);
          const rows = [];
          for (const { key, limit } of [...keys].sort(byKey)) rows.push({ limit, row: await lockWindow(tx, key, now, windowMs) });
          const live = (windowStart: number) => now - windowStart < windowMs;
          const full = rows.flatMap(({ limit, row }) => (live(row.windowStart) && row.count >= limit ? [{ key: row.key, retryAfterMs: row.windowStart + windowMs - now }] : []));
          if (full.length > 0) return { full };
          // All rows are ours until commit, so one statement counts them all; an ended window restarts at 1.
          const stillLive = sql`${now}::bigint - ${w.windowStart} < ${windowMs}::bigint`;
          const counted = await tx
            .update(w)
            .set({
              count: sql`case when ${stillLive} then ${w.count} + 1 else 1 end`,
              windowStart: sql`case when ${stillLive} then ${w.windowStart} else ${now}::bigint end`,
            })
            .where(inArray(w.key, rows.map(({ row }) => row.key)))
            .returning({ key: w.key, windowStartMs: w.windowStart });
          const startOf = new Map(counted.map((slot) => [slot.key, slot.windowStartMs]));
          // In the caller's key order, as the memory store answers.
          return { taken: keys.map(({ key }): TakenSlot => ({ key, windowStartMs: startOf.get(key) ?? now })) };
        }),
      ),

    async giveBack(slots) {
      // One key per statement (each its own transaction): holding one row lock at a time cannot deadlock with a take.
      for (const { key, windowStartMs } of slots) {
        await db
          .update(w)
          .set({ count: sql`${w.count} - 1` })
          .where(sql`${w.key} = ${key} and ${w.windowStart} = ${windowStartMs}::bigint and ${w.count} > 0`);
      }
    },

    async clear(keys) {
      for (const key of keys) await db.delete(w).where(eq(w.key, key));
    },

    async forgetExpired(nowMs, windowMs) {
      const ended = db
        .select({ key: w.key })
        .from(w)
        .where(sql`${w.windowStart} <= ${Math.floor(nowMs) - windowMs}::bigint`)
        .for('update', { skipLocked: true });
      const forgotten = await db.delete(w).where(inArray(w.key, ended));
      return forgotten.rowCount ?? 0;
    },
  };
}
