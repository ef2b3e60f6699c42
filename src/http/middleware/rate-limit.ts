import type { RequestHandler } from 'express';
import type { TokenBucketLimits, TokenBucketStore } from '../../domain/ports';

export interface TokenBucketOptions extends TokenBucketLimits {
  /** Where the buckets live: this process's memory unless given (see createMemoryTokenBucketStore). */
  store?: TokenBucketStore;
  /** Names this limit in the store's keys (`hook:203.0.113.7`), so limits sharing a store never share buckets. */
  scope?: string;
  /**
   * Epoch milliseconds; injected so tests can move time. Wall-clock rather than monotonic: a store shared by several
   * instances compares times taken on different machines, and performance.now() means nothing outside its process.
   */
  nowMs?: () => number;
}

interface Bucket {
  tokens: number;
  updatedAtMs: number;
}

/**
 * Token buckets in process memory: what a single process (the SQLite deployment, which owns its file) needs. `take`
 * runs to completion before its promise settles, so two requests never spend one token.
 */
export function createMemoryTokenBucketStore(options: { maxTrackedSources?: number } = {}): TokenBucketStore {
  /** Above this many tracked sources, full (idle) buckets are forgotten on the next new source. */
  const maxTrackedSources = options.maxTrackedSources ?? 10_000;
  const buckets = new Map<string, Bucket>();

  function refill(bucket: Bucket, { burst, perSecond }: TokenBucketLimits, nowMs: number): void {
    // A clock that stepped back refills nothing (and keeps the later time), rather than taking tokens away.
    const elapsedMs = Math.max(0, nowMs - bucket.updatedAtMs);
    bucket.tokens = Math.min(burst, bucket.tokens + (elapsedMs / 1000) * perSecond);
    bucket.updatedAtMs = Math.max(bucket.updatedAtMs, nowMs);
  }

  function forget(limits: TokenBucketLimits, nowMs: number): number {
    let forgotten = 0;
    for (const [key, bucket] of buckets) {
      refill(bucket, limits, nowMs);
      if (bucket.tokens >= limits.burst) {
        buckets.delete(key);
        forgotten += 1;
      }
    }
    return forgotten;
  }

  return {
    async take(key, limits, nowMs) {
      let bucket = buckets.get(key);
      if (!bucket) {
        if (buckets.size >= maxTrackedSources) forget(limits, nowMs);
        bucket = { tokens: limits.burst, updatedAtMs: nowMs };
        buckets.set(key, bucket);
      } else {
        refill(bucket, limits, nowMs);
      }
      if (bucket.tokens >= 1) {
        bucket.tokens -= 1;
        return { allowed: true, retryAfterMs: 0 };
      }
      return { allowed: false, retryAfterMs: ((1 - bucket.tokens) / limits.perSecond) * 1000 };
    },
    forgetIdle: async (limits, nowMs) => forget(limits, nowMs),
  };
}

/**
 * A token bucket per source IP. It only sheds floods: Kartra retries nothing it does not document, so a 429 to a real
 * delivery would lose it, and the defaults (config.ts) sit far above any launch-day burst from Kartra's servers.
 */
export function tokenBucketRateLimit(options: TokenBucketOptions): RequestHandler {
  const limits: TokenBucketLimits = { burst: options.burst, perSecond: options.perSecond };
  const store = options.store ?? createMemoryTokenBucketStore();
  const scope = options.scope ?? 'hook';
  const nowMs = options.nowMs ?? Date.now;

  return async function rateLimitBySource(req, res, next) {
    const source = req.ip ?? req.socket.remoteAddress ?? 'unknown';
    const { allowed, retryAfterMs } = await store.take(`${scope}:${source}`, limits, nowMs());
    if (allowed) {
      next();
      return;
    }
    // RFC 6585 §4: 429 with Retry-After (RFC 9110 §10.2.3, in whole seconds) for when one token is back.
    const retryAfterSeconds = Math.max(1, Math.ceil(retryAfterMs / 1000));
    res.setHeader('Retry-After', String(retryAfterSeconds));
    res.status(429).json({ error: { code: 'rate_limited', message: `too many requests from this source; retry in ${retryAfterSeconds}s` } });
  };
}
