import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createApp, type LimitStores } from './app';
import type { Config } from './config';
import { createPgAttemptCountStore, createPgTokenBucketStore } from './db/postgres/rate-limit-stores';
import { openStorage, type Storage } from './db/storage';
import { createAdminAuthService } from './domain/admins/admin-auth-service';
import { createAccessService } from './domain/access/access-service';
import { createAttentionService } from './domain/attention/attention-service';
import { createAssetMappingService } from './domain/mapping/asset-mapping-service';
import { createProductMappingService } from './domain/mapping/product-mapping-service';
import { createMemberService } from './domain/members/member-service';
import type { Clock, KartraApi, NotificationSender } from './domain/ports';
import { createSiteService } from './domain/sites/site-service';
import { createSecretBox, storedSecretCodec, type SecretBox } from './domain/secret-box';
import { createTokenService } from './domain/tokens/token-service';
import { createEventLogService } from './domain/webhook-events/event-log-service';
import { createIntakeService } from './domain/webhook-events/intake-service';
import { createRetentionService } from './domain/webhook-events/retention-service';
import type { AppServices } from './http/admin/services';
import { createMemoryTokenBucketStore } from './http/middleware/rate-limit';
import { createMemoryAttemptCountStore, DEFAULT_SIGN_IN_LIMITS } from './http/pages/sign-in-limiter';
import { createLogger, describeError, type Logger } from './logger';
import { createNotificationService } from './domain/notifications/notification-service';
import { createNotifier } from './domain/notifications/notifier';
import { createOutboxWorker } from './domain/notifications/outbox-worker';
import { createFetchSender } from './outbound/fetch-sender';
import { createKartraApiClient } from './outbound/kartra-api-client';
import { createKartraAccountService } from './domain/kartra-account/kartra-account-service';

/**
 * The box that seals the sites' Kartra credentials: SECRETS_KEY when set. Without it, a SQLite install (one process
 * owning one file) generates a key once into `secrets.key` beside the database, readable by the service's user only,
 * as n8n does for its credentials; kept apart from the database file, a copy of the database alone opens nothing.
 * PostgreSQL instances must share one key, so there is none to generate: saving credentials is refused until it is set.
 */
function resolveSecretBox(config: Config, engine: 'sqlite' | 'postgres', logger: Logger): SecretBox | null {
  if (config.secretsKey) return createSecretBox(config.secretsKey);
  if (engine !== 'sqlite') return null;
  if (config.databasePath === ':memory:') return createSecretBox(randomBytes(32).toString('base64'));
  const keyPath = join(dirname(config.databasePath), 'secrets.key');
  if (!existsSync(keyPath)) {
    try {
      writeFileSync(keyPath, `${randomBytes(32).toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
      logger.warn({ keyPath }, 'SECRETS_KEY is not set: generated a key for the Kartra credentials; back it up with the database, or set SECRETS_KEY');
    } catch (error) {
      // Another process wrote it first ('wx' refuses to overwrite): read theirs.
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
  }
  return createSecretBox(readFileSync(keyPath, 'utf8').trim());
}

export const systemClock: Clock = { now: () => new Date() };

export interface ComposeOptions {
  clock?: Clock;
  logger?: Logger;
  /** How notifications are POSTed; Node's fetch unless a test brings another. */
  sender?: NotificationSender;
  /** Kartra's inbound API; the client over fetch at KARTRA_API_URL unless a test brings another. */
  kartraApi?: KartraApi;
}

/** The composition root: the one place that wires db, domain and http together. */
export async function composeServices(config: Config, options: ComposeOptions = {}) {
  const clock = options.clock ?? systemClock;
  const logger = options.logger ?? createLogger(config.logLevel);
  const database = await openStorage(config);
  const { repos, transaction } = database;
  const secretBox = resolveSecretBox(config, database.engine, logger);
  const kartraApi = options.kartraApi ?? createKartraApiClient({ url: config.kartraApiUrl, timeoutMs: config.kartraApiTimeoutMs, timeZone: config.kartraTimeZone });
  const kartraAccount = createKartraAccountService({ repos, clock, secretBox, kartraApi });
  const notifier = createNotifier({ clock });
  const access = createAccessService({ repos, clock, transaction, notifier });
  const intake = createIntakeService({ repos, clock, transaction, access, notifier, kartraTimeZone: config.kartraTimeZone, maxContentBytes: config.webhookBodyLimitBytes });
  const mappings = createProductMappingService({ repos, clock, transaction, access, intake });
  const assetMappings = createAssetMappingService({ repos, clock, transaction, access, intake });
  const services: AppServices = {
    clock,
    sites: createSiteService({ repos, clock, transaction, publicUrl: config.publicUrl }),
    tokens: createTokenService({ repos, clock }),
    intake,
    mappings,
    assetMappings,
    attention: createAttentionService({ repos, clock, mappings }),
    members: createMemberService({ repos, clock }),
    access,
    eventLog: createEventLogService({ repos }),
    admins: createAdminAuthService({ repos, clock }),
    notifications: createNotificationService({ repos, clock, transaction, notifier, secrets: storedSecretCodec(secretBox) }),
    kartraAccount,
  };
  const retention = createRetentionService({ repos, clock, transaction });
  const outboxWorker = createOutboxWorker({ repos, clock, transaction, sender: options.sender ?? createFetchSender(), secrets: storedSecretCodec(secretBox), policy: config.notifyRetryPolicy });
  return { services, database, logger, retention, outboxWorker };
}

/** Retention is a daily-scale rule; checking it hourly keeps the sweep cheap. */
const PRUNE_INTERVAL_MS = 60 * 60 * 1000;

/**
 * The request limits' stores. On PostgreSQL, which several instances may share behind one load balancer, the counts
 * live in the database: counts kept per process would give every source a full allowance per instance. On SQLite one
 * process owns the file, so process memory holds and costs no round trip.
 */
function limitStoresFor(database: Storage): LimitStores {
  if (database.postgres) {
    return { hookBuckets: createPgTokenBucketStore(database.postgres.db), signInAttempts: createPgAttemptCountStore(database.postgres.db) };
  }
  return { hookBuckets: createMemoryTokenBucketStore(), signInAttempts: createMemoryAttemptCountStore() };
}

export async function composeApp(config: Config, options: ComposeOptions = {}) {
  const { services, database, logger, retention, outboxWorker } = await composeServices(config, options);
  const limitStores = limitStoresFor(database);
  const signInLimits = DEFAULT_SIGN_IN_LIMITS;
  const app = createApp({
    services,
    logger,
    webhookBodyLimitBytes: config.webhookBodyLimitBytes,
    trustProxyHops: config.trustProxyHops,
    hookRateLimit: config.hookRateLimit,
    signInLimits,
    limitStores,
    isHealthy: async () => {
      try {
        await database.ping();
        return true;
      } catch {
        return false;
      }
    },
  });

  let sweepTimer: NodeJS.Timeout | undefined;
  let lastPruneAtMs: number | null = null;
  /**
   * Records grants whose time has come (grace, paid period, manual expiry) even when no event arrives, forgets limit
   * counts that no longer limit anything, and prunes raw bodies past their site's retention.
   */
  async function sweepOnce(): Promise<void> {
    try {
      const swept = await services.access.sweepExpired();
      if (swept > 0) logger.info({ swept }, 'expired grants recorded');
    } catch (error) {
      logger.error({ err: describeError(error) }, 'sweep failed');
    }
    try {
      // Full buckets and ended windows are the same as none; on PostgreSQL, forgetting them keeps the tables as small
      // as the sources active in the last few minutes. Date.now(): the hook limiter's clock (rate-limit.ts).
      await limitStores.hookBuckets.forgetIdle(config.hookRateLimit, Date.now());
      await limitStores.signInAttempts.forgetExpired(services.clock.now().getTime(), signInLimits.windowMs);
    } catch (error) {
      logger.error({ err: describeError(error) }, 'forgetting idle limit counts failed');
    }
    const nowMs = services.clock.now().getTime();
    if (lastPruneAtMs !== null && nowMs - lastPruneAtMs < PRUNE_INTERVAL_MS) return;
    lastPruneAtMs = nowMs;
    try {
      const { bodiesPruned } = await retention.pruneRawBodies();
      if (bodiesPruned > 0) logger.info({ bodiesPruned }, 'raw bodies past retention pruned');
    } catch (error) {
      logger.error({ err: describeError(error) }, 'raw body pruning failed');
    }
    try {
      const notificationsPruned = await retention.pruneSettledNotifications(config.notifyRetentionDays);
      if (notificationsPruned > 0) logger.info({ notificationsPruned }, 'settled notifications past retention pruned');
    } catch (error) {
      logger.error({ err: describeError(error) }, 'notification pruning failed');
    }
  }

  /** A sweep still running when the next tick comes (a large backlog) is not started twice. */
  let sweeping = false;

  function startSweep(): void {
    if (config.sweepIntervalSeconds <= 0 || sweepTimer) return;
    sweepTimer = setInterval(() => {
      if (sweeping) return;
      sweeping = true;
      void sweepOnce().finally(() => {
        sweeping = false;
      });
    }, config.sweepIntervalSeconds * 1000);
    sweepTimer.unref();
  }

  let outboxTimer: NodeJS.Timeout | undefined;
  let outboxPass: Promise<void> | null = null;
  /**
   * Works the notification outbox every NOTIFY_POLL_INTERVAL_MS: one pass at a time, passes that find work followed at
   * once by the next (a backlog drains at the receivers' pace, not one batch per tick).
   */
  function startOutbox(): void {
    if (config.notifyPollIntervalMs <= 0 || outboxTimer) return;
    const drain = async () => {
      try {
        while (outboxTimer && (await outboxWorker.runOnce()).claimed > 0);
      } catch (error) {
        logger.error({ err: describeError(error) }, 'outbox pass failed');
      }
    };
    outboxTimer = setInterval(() => {
      if (outboxPass) return;
      outboxPass = drain().finally(() => {
        outboxPass = null;
      });
    }, config.notifyPollIntervalMs);
    outboxTimer.unref();
  }

  return {
    app,
    services,
    retention,
    logger,
    database,
    outboxWorker,
    startSweep,
    startOutbox,
    close: async () => {
      if (sweepTimer) clearInterval(sweepTimer);
      if (outboxTimer) clearInterval(outboxTimer);
      outboxTimer = undefined;
      // A pass in flight finishes its POSTs and records them before the database closes (each is bounded by the
      // receiver timeout); what it has not claimed stays pending for the next start.
      await outboxPass;
      await database.close();
    },
  };
}

export type ComposedApp = Awaited<ReturnType<typeof composeApp>>;
