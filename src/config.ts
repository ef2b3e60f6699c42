import { z } from 'zod';
import { isValidTimeZone } from './domain/kartra/kartra-time';

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

const ConfigSchema = z
  .object({
    PORT: z.coerce.number().int().min(0).max(65535).default(3000),
    HOST: z.string().min(1).default('0.0.0.0'),
    DATABASE_PATH: z.string().min(1).default('./data/kartra-access.db'),
    PUBLIC_URL: z.url({ protocol: /^https?$/ }).optional(),
    LOG_LEVEL: z.enum(LOG_LEVELS).default('info'),
    KARTRA_TIMEZONE: z.string().refine(isValidTimeZone, 'not an IANA time zone').default('America/New_York'),
    WEBHOOK_BODY_LIMIT_BYTES: z.coerce.number().int().min(1024).max(10 * 1024 * 1024).default(256 * 1024),
    SWEEP_INTERVAL_SECONDS: z.coerce.number().int().min(0).default(60),
    SHUTDOWN_TIMEOUT_SECONDS: z.coerce.number().int().min(1).default(10),
    TRUST_PROXY: z.enum(['true', 'false']).default('false'),
  })
  .transform((env) => ({
    port: env.PORT,
    host: env.HOST,
    databasePath: env.DATABASE_PATH,
    // Webhook URLs are printed with this base; a site may override it with its own custom domain.
    publicUrl: (env.PUBLIC_URL ?? `http://localhost:${env.PORT}`).replace(/\/+$/, ''),
    logLevel: env.LOG_LEVEL,
    kartraTimeZone: env.KARTRA_TIMEZONE,
    webhookBodyLimitBytes: env.WEBHOOK_BODY_LIMIT_BYTES,
    sweepIntervalSeconds: env.SWEEP_INTERVAL_SECONDS,
    shutdownTimeoutSeconds: env.SHUTDOWN_TIMEOUT_SECONDS,
    trustProxy: env.TRUST_PROXY === 'true',
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
