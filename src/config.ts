import { z } from 'zod';
import { isValidTimeZone } from './domain/kartra/kartra-time';
import { checkPublicUrl } from './domain/sites/public-url';

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

const ConfigSchema = z
  .object({
    PORT: z.coerce.number().int().min(0).max(65535).default(3000),
    HOST: z.string().min(1).default('0.0.0.0'),
    DATABASE_PATH: z.string().min(1).default('./data/kartra-access.db'),
    // postgres://user:password@host:port/database selects PostgreSQL (several service instances may share it);
    // unset, the service runs on the SQLite file at DATABASE_PATH.
    DATABASE_URL: z
      .string()
      .regex(/^postgres(ql)?:\/\/\S+$/, 'a postgres:// URL (unset for SQLite)')
      .optional(),
    // Connections per service instance; the server's max_connections must cover every instance's pool.
    DATABASE_POOL_SIZE: z.coerce.number().int().min(1).max(200).default(10),
    // A statement running longer is cancelled by PostgreSQL, so one slow query cannot hold a connection for good.
    DATABASE_STATEMENT_TIMEOUT_MS: z.coerce.number().int().min(0).default(15_000),
    // The same rule as a site's own public URL (domain/sites/public-url.ts): a bad default would be printed into
    // every site's webhook URL, so start-up stops on it instead.
    PUBLIC_URL: z
      .string()
      .transform((value, ctx) => {
        const checked = checkPublicUrl(value);
        if (checked.ok) return checked.url;
        ctx.addIssue({ code: 'custom', message: checked.rule });
        return z.NEVER;
      })
      .optional(),
    LOG_LEVEL: z.enum(LOG_LEVELS).default('info'),
    KARTRA_TIMEZONE: z.string().refine(isValidTimeZone, 'not an IANA time zone').default('America/New_York'),
    WEBHOOK_BODY_LIMIT_BYTES: z.coerce.number().int().min(1024).max(10 * 1024 * 1024).default(256 * 1024),
    SWEEP_INTERVAL_SECONDS: z.coerce.number().int().min(0).default(60),
    SHUTDOWN_TIMEOUT_SECONDS: z.coerce.number().int().min(1).default(10),
    // How many reverse proxies stand in front of the service. `true` means one. Express's own `true` would take the
    // left-most X-Forwarded-For entry, which the client writes itself: anyone could then pose as a new source and
    // walk around the per-source limits (hook rate limit, sign-in attempts). With a hop count, the address is the
    // one the nearest trusted proxy saw.
    TRUST_PROXY: z
      .string()
      .regex(/^(true|false|\d{1,2})$/, 'true, false, or the number of proxies in front of the service')
      .default('false')
      .transform((value) => (value === 'true' ? 1 : value === 'false' ? 0 : Number(value))),
    // A client must finish its whole request (headers and body) within this, and its headers within the second;
    // slow-loris clients then cannot hold sockets open. Kartra's posts are small and arrive in milliseconds.
    REQUEST_TIMEOUT_SECONDS: z.coerce.number().int().min(1).max(600).default(30),
    HEADERS_TIMEOUT_SECONDS: z.coerce.number().int().min(1).max(600).default(15),
    // Token bucket per source IP on the hook route. Kartra sends every site's events from a few shared servers, so
    // one IP legitimately carries a launch-day burst: 1,200 at once, then 20 per second (72,000 an hour) sustained.
    HOOK_RATE_BURST: z.coerce.number().int().min(1).default(1200),
    HOOK_RATE_PER_SECOND: z.coerce.number().min(0.01).default(20),
    // The notification outbox: how often it is polled (0: never, for a CLI or an instance that only serves requests),
    // how long a receiver has to answer, and the retry schedule (base doubling per failure up to the cap, jittered).
    NOTIFY_POLL_INTERVAL_MS: z.coerce.number().int().min(0).default(1000),
    NOTIFY_TIMEOUT_SECONDS: z.coerce.number().int().min(1).max(120).default(10),
    NOTIFY_MAX_ATTEMPTS: z.coerce.number().int().min(1).max(100).default(10),
    NOTIFY_RETRY_BASE_MS: z.coerce.number().int().min(1).default(5000),
    NOTIFY_RETRY_CAP_MS: z.coerce.number().int().min(1).default(60 * 60 * 1000),
    // Delivered and dead notifications (and their delivery logs) are deleted this many days after they settled.
    NOTIFY_RETENTION_DAYS: z.coerce.number().int().min(1).max(3650).default(30),
    // Kartra's inbound API, called to test a site's credentials, confirm purchases (verify) and reconcile.
    KARTRA_API_URL: z.url({ protocol: /^https?$/ }).default('https://app.kartra.com/api'),
    KARTRA_API_TIMEOUT_SECONDS: z.coerce.number().int().min(1).max(120).default(15),
    // Verify-by-callback: attempts to get Kartra's confirmation of a purchase before it is rejected as unconfirmed,
    // and the wait after the first failed attempt (doubling, jittered).
    VERIFY_MAX_ATTEMPTS: z.coerce.number().int().min(1).max(50).default(6),
    VERIFY_RETRY_BASE_MS: z.coerce.number().int().min(1).default(30_000),
    // Seals the sites' Kartra API credentials (domain/secret-box.ts). Unset on SQLite: a key generated once into
    // secrets.key beside the database file; unset on PostgreSQL (several instances): credentials cannot be saved.
    SECRETS_KEY: z.string().min(32, 'at least 32 characters (e.g. openssl rand -base64 32)').optional(),
  })
  .refine((env) => env.HEADERS_TIMEOUT_SECONDS <= env.REQUEST_TIMEOUT_SECONDS, {
    message: 'HEADERS_TIMEOUT_SECONDS must not exceed REQUEST_TIMEOUT_SECONDS',
    path: ['HEADERS_TIMEOUT_SECONDS'],
  })
  .transform((env) => ({
    port: env.PORT,
    host: env.HOST,
    databasePath: env.DATABASE_PATH,
    databaseUrl: env.DATABASE_URL ?? null,
    databasePoolSize: env.DATABASE_POOL_SIZE,
    databaseStatementTimeoutMs: env.DATABASE_STATEMENT_TIMEOUT_MS,
    // Webhook URLs are printed with this base; a site may override it with its own custom domain.
    publicUrl: env.PUBLIC_URL ?? `http://localhost:${env.PORT}`,
    logLevel: env.LOG_LEVEL,
    kartraTimeZone: env.KARTRA_TIMEZONE,
    webhookBodyLimitBytes: env.WEBHOOK_BODY_LIMIT_BYTES,
    sweepIntervalSeconds: env.SWEEP_INTERVAL_SECONDS,
    shutdownTimeoutSeconds: env.SHUTDOWN_TIMEOUT_SECONDS,
    trustProxyHops: env.TRUST_PROXY,
    requestTimeoutSeconds: env.REQUEST_TIMEOUT_SECONDS,
    headersTimeoutSeconds: env.HEADERS_TIMEOUT_SECONDS,
    hookRateLimit: { burst: env.HOOK_RATE_BURST, perSecond: env.HOOK_RATE_PER_SECOND },
    notifyPollIntervalMs: env.NOTIFY_POLL_INTERVAL_MS,
    notifyRetentionDays: env.NOTIFY_RETENTION_DAYS,
    notifyRetryPolicy: {
      maxAttempts: env.NOTIFY_MAX_ATTEMPTS,
      baseDelayMs: env.NOTIFY_RETRY_BASE_MS,
      maxDelayMs: env.NOTIFY_RETRY_CAP_MS,
      timeoutMs: env.NOTIFY_TIMEOUT_SECONDS * 1000,
    },
    kartraApiUrl: env.KARTRA_API_URL,
    kartraApiTimeoutMs: env.KARTRA_API_TIMEOUT_SECONDS * 1000,
    verifyRetryPolicy: { maxAttempts: env.VERIFY_MAX_ATTEMPTS, baseDelayMs: env.VERIFY_RETRY_BASE_MS, maxDelayMs: 60 * 60 * 1000 },
    secretsKey: env.SECRETS_KEY ?? null,
  }));

export type Config = Readonly<z.output<typeof ConfigSchema>>;

/** Parses the environment once; a bad value stops start-up with a message naming the variable. */
export function loadConfig(env: Record<string, string | undefined>): Config {
  const parsed = ConfigSchema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; ');
    throw new Error(`invalid configuration: ${problems}`);
  }
  return Object.freeze(parsed.data);
}
