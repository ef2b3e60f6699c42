import { DrizzleQueryError } from 'drizzle-orm/errors';
import type { Repositories } from '../../domain/ports';
import { createAdminSessionRepository, createAdminUserRepository } from './admin-repositories';
import { createAssetFactRepository, createAssetRepository } from './asset-repositories';
import type { PgDb } from './database';
import { createPaymentFactRepository, createWebhookEventRepository } from './event-repositories';
import { createKartraCredentialRepository, createReconcileRunRepository, createVerificationQueueRepository } from './kartra-account-repositories';
import { createGrantRepository } from './grant-repository';
import { createMemberRepository, createProductRepository } from './member-repositories';
import { createNotificationEndpointRepository, createOutboxRepository } from './notification-repositories';
import { createRawBodyRetentionRepository } from './retention-repository';
import { createAccessLevelRepository, createApiTokenRepository, createSiteRepository, createWebhookSecretRepository } from './site-repositories';

/**
 * drizzle wraps a failed statement as "Failed query: <sql> params: <values>". That text must not leave the adapter:
 * the intake stores an error's message with the event (shown in the API and the pages), and the values are buyers'
 * emails and names. The driver's own error beneath says what went wrong (and carries the SQLSTATE) without them.
 */
function driverError(error: unknown): unknown {
  return error instanceof DrizzleQueryError && error.cause ? error.cause : error;
}

function withDriverErrors<Repository extends object>(repository: Repository, beforeCall: () => void): Repository {
  const wrapped: Record<string, unknown> = {};
  for (const [name, method] of Object.entries(repository)) {
    wrapped[name] =
      typeof method === 'function'
        ? async (...args: unknown[]) => {
            beforeCall();
            try {
              return await (method as (...a: unknown[]) => Promise<unknown>)(...args);
            } catch (error) {
              throw driverError(error);
            }
          }
        : method;
  }
  return wrapped as Repository;
}

/**
 * The repositories over one connection scope: the pool (each call on its own) or one transaction's client.
 * `beforeCall` runs before every call (a unit's handle refuses calls after the unit ended).
 */
export function createPgRepositories(db: PgDb, beforeCall: () => void = () => undefined): Repositories {
  const repositories: Repositories = {
    sites: createSiteRepository(db),
    secrets: createWebhookSecretRepository(db),
    levels: createAccessLevelRepository(db),
    members: createMemberRepository(db),
    products: createProductRepository(db),
    assets: createAssetRepository(db),
    assetFacts: createAssetFactRepository(db),
    events: createWebhookEventRepository(db),
    facts: createPaymentFactRepository(db),
    grants: createGrantRepository(db),
    tokens: createApiTokenRepository(db),
    admins: createAdminUserRepository(db),
    adminSessions: createAdminSessionRepository(db),
    retention: createRawBodyRetentionRepository(db),
    notificationEndpoints: createNotificationEndpointRepository(db),
    outbox: createOutboxRepository(db),
    kartraCredentials: createKartraCredentialRepository(db),
    verifications: createVerificationQueueRepository(db),
    reconcileRuns: createReconcileRunRepository(db),
  };
  return Object.fromEntries(Object.entries(repositories).map(([name, repository]) => [name, withDriverErrors(repository as object, beforeCall)])) as unknown as Repositories;
}
