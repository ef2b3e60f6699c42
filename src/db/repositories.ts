import type { SyncRepositories } from './sync';
import { createAdminSessionRepository, createAdminUserRepository } from './admin-repositories';
import { createAssetFactRepository, createAssetRepository } from './asset-repositories';
import type { Db } from './database';
import { createPaymentFactRepository, createWebhookEventRepository } from './event-repositories';
import { createKartraCredentialRepository, createReconcileRunRepository, createVerificationQueueRepository } from './kartra-account-repositories';
import { createGrantRepository } from './grant-repository';
import { createNotificationEndpointRepository, createOutboxRepository } from './notification-repositories';
import { createRawBodyRetentionRepository } from './retention-repository';
import { createMemberRepository, createProductRepository } from './member-repositories';
import { createAccessLevelRepository, createApiTokenRepository, createSiteRepository, createWebhookSecretRepository } from './site-repositories';

export function createRepositories(db: Db): SyncRepositories {
  return {
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
}
