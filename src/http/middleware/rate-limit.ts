import type { RequestHandler } from 'express';

export interface TokenBucketOptions {
  /** Requests a source may send at once after being idle. */
  burst: number;
  /** Tokens added back per second, up to `burst`. */
  perSecond: number;
  /** Milliseconds on a monotonic clock; injected so tests can move time. */
  nowMs?: () => number;
  /** Above this many tracked sources, full (idle) buckets are forgotten; a full bucket and no bucket are the same. */
  maxTrackedSources?: number;
}

interface Bucket {
  tokens: number;
  updatedAtMs: number;
}

/**
 * A token bucket per source IP. It only sheds floods: Kartra retries nothing it does not document, so a 429 to a real
 * delivery would lose it, and the defaults (config.ts) sit far above any launch-day burst from Kartra's servers.
 */
export function tokenBucketRateLimit(options: TokenBucketOptions): RequestHandler {
  const { burst, perSecond } = options;
  const nowMs = options.nowMs ?? (() => performance.now());
  const maxTrackedSources = options.maxTrackedSources ?? 10_000;
  const buckets = new Map<string, Bucket>();

  function refill(bucket: Bucket, at: number): void {
    bucket.tokens = Math.min(burst, bucket.tokens + ((at - bucket.updatedAtMs) / 1000) * perSecond);
    bucket.updatedAtMs = at;
  }

  function forgetIdleSources(at: number): void {
    for (const [source, bucket] of buckets) {
      refill(bucket, at);
      if (bucket.tokens >= burst) buckets.delete(source);
    }
  }

  return function rateLimitBySource(req, res, next) {
    const at = nowMs();
    const source = req.ip ?? req.socket.remoteAddress ?? 'unknown';
    let bucket = buckets.get(source);
    if (!bucket) {
      if (buckets.size >= maxTrackedSources) forgetIdleSources(at);
      bucket = { tokens: burst, updatedAtMs: at };
      buckets.set(source, bucket);
    } else {
      refill(bucket, at);
    }
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      next();
      return;
    }
    // RFC 6585 §4: 429 with Retry-After (RFC 9110 §10.2.3, in whole seconds) for when one token is back.
    const retryAfterSeconds = Math.max(1, Math.ceil((1 - bucket.tokens) / perSecond));
    res.setHeader('Retry-After', String(retryAfterSeconds));
    res.status(429).json({ error: { code: 'rate_limited', message: `too many requests from this source; retry in ${retryAfterSeconds}s` } });
  };
}
