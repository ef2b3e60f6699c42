import { sql } from 'drizzle-orm';
import { bigint, boolean, customType, doublePrecision, index, integer, pgTable, primaryKey, text, uniqueIndex } from 'drizzle-orm/pg-core';

// The PostgreSQL twin of ../schema.ts: the same tables, columns and meaning, in PostgreSQL's own types. Times are
// bigint milliseconds since the epoch (UTC), as in SQLite, so both adapters share one conversion (../time-columns.ts)
// and an instant round-trips exactly; names end in `At`. Booleans are real booleans, raw bodies `bytea`.

/** Times: bigint ms, read back as JavaScript numbers (exact up to the year 287,396). */
const ms = (name: string) => bigint(name, { mode: 'number' });
/** Ids of the tables that grow with the traffic (events, facts, history): bigint, read as numbers. */
const bigId = (name: string) => bigint(name, { mode: 'number' });

const bytea = customType<{ data: Buffer; driverData: Buffer }>({
  dataType: () => 'bytea',
});

export const sites = pgTable('sites', {
  id: integer('id').primaryKey().generatedByDefaultAsIdentity(),
  key: text('key').notNull().unique(),
  name: text('name').notNull(),
  publicUrl: text('public_url'),
  kartraEnabled: boolean('kartra_enabled').notNull().default(false),
  secretGraceHours: integer('secret_grace_hours').notNull().default(24),
  ipnSecretHash: text('ipn_secret_hash'),
  moneyChannels: text('money_channels').notNull().default('any'),
  graceDays: integer('grace_days').notNull().default(10),
  cancelMode: text('cancel_mode').notNull().default('immediate'),
  quietFeedHours: integer('quiet_feed_hours').notNull().default(72),
  rawBodyRetentionDays: integer('raw_body_retention_days').notNull().default(90),
  tagAccess: boolean('tag_access').notNull().default(true),
  membershipAccess: boolean('membership_access').notNull().default(true),
  verifyWithKartra: boolean('verify_with_kartra').notNull().default(false),
  reconcileEveryHours: integer('reconcile_every_hours').notNull().default(0),
  createdAt: ms('created_at').notNull(),
});

export const apiTokens = pgTable('api_tokens', {
  id: integer('id').primaryKey().generatedByDefaultAsIdentity(),
  name: text('name').notNull(),
  tokenHash: text('token_hash').notNull().unique(),
  tokenPrefix: text('token_prefix').notNull(),
  siteId: integer('site_id').references(() => sites.id, { onDelete: 'cascade' }),
  createdAt: ms('created_at').notNull(),
  lastUsedAt: ms('last_used_at'),
  revokedAt: ms('revoked_at'),
});

export const webhookSecrets = pgTable(
  'webhook_secrets',
  {
    id: integer('id').primaryKey().generatedByDefaultAsIdentity(),
    siteId: integer('site_id')
      .notNull()
      .references(() => sites.id, { onDelete: 'cascade' }),
    secretHash: text('secret_hash').notNull(),
    secretHint: text('secret_hint').notNull(),
    createdAt: ms('created_at').notNull(),
    retiredAt: ms('retired_at'),
    validUntil: ms('valid_until'),
    lastUsedAt: ms('last_used_at'),
  },
  (t) => [index('webhook_secrets_site_idx').on(t.siteId)],
);

export const accessLevels = pgTable(
  'access_levels',
  {
    id: integer('id').primaryKey().generatedByDefaultAsIdentity(),
    siteId: integer('site_id')
      .notNull()
      .references(() => sites.id, { onDelete: 'cascade' }),
    name: text('name').notNull(),
    createdAt: ms('created_at').notNull(),
  },
  (t) => [uniqueIndex('access_levels_site_name_idx').on(t.siteId, t.name)],
);

export const members = pgTable(
  'members',
  {
    id: integer('id').primaryKey().generatedByDefaultAsIdentity(),
    siteId: integer('site_id')
      .notNull()
      .references(() => sites.id, { onDelete: 'cascade' }),
    kartraLeadId: text('kartra_lead_id'),
    email: text('email'),
    firstName: text('first_name'),
    lastName: text('last_name'),
    createdAt: ms('created_at').notNull(),
    updatedAt: ms('updated_at').notNull(),
  },
  (t) => [
    uniqueIndex('members_site_lead_idx').on(t.siteId, t.kartraLeadId),
    // One member per email in a site: matching by email (a lead without an id) must find one person, never pick one.
    uniqueIndex('members_site_email_idx').on(t.siteId, t.email),
  ],
);

export const memberEmailChanges = pgTable(
  'member_email_changes',
  {
    id: integer('id').primaryKey().generatedByDefaultAsIdentity(),
    siteId: integer('site_id').notNull(),
    memberId: integer('member_id')
      .notNull()
      .references(() => members.id, { onDelete: 'cascade' }),
    previousEmail: text('previous_email'),
    newEmail: text('new_email').notNull(),
    eventId: bigId('event_id'),
    changedAt: ms('changed_at').notNull(),
  },
  (t) => [index('member_email_changes_member_idx').on(t.siteId, t.memberId)],
);

export const products = pgTable(
  'products',
  {
    siteId: integer('site_id')
      .notNull()
      .references(() => sites.id, { onDelete: 'cascade' }),
    productId: text('product_id').notNull(),
    kartraName: text('kartra_name'),
    firstSeenAt: ms('first_seen_at'),
    lastSeenAt: ms('last_seen_at'),
    billingPeriodDays: integer('billing_period_days'),
  },
  (t) => [primaryKey({ columns: [t.siteId, t.productId] })],
);

export const productLevels = pgTable(
  'product_levels',
  {
    siteId: integer('site_id')
      .notNull()
      .references(() => sites.id, { onDelete: 'cascade' }),
    productId: text('product_id').notNull(),
    levelId: integer('level_id')
      .notNull()
      .references(() => accessLevels.id, { onDelete: 'restrict' }),
    createdAt: ms('created_at').notNull(),
  },
  (t) => [primaryKey({ columns: [t.siteId, t.productId, t.levelId] }), index('product_levels_level_idx').on(t.levelId)],
);

export const kartraAssets = pgTable(
  'kartra_assets',
  {
    siteId: integer('site_id')
      .notNull()
      .references(() => sites.id, { onDelete: 'cascade' }),
    key: text('key').notNull(),
    kind: text('kind').notNull(),
    kartraId: text('kartra_id'),
    name: text('name'),
    membershipId: text('membership_id'),
    membershipName: text('membership_name'),
    matchName: text('match_name'),
    firstSeenAt: ms('first_seen_at'),
    lastSeenAt: ms('last_seen_at'),
  },
  (t) => [
    primaryKey({ columns: [t.siteId, t.key] }),
    index('kartra_assets_site_kind_match_idx').on(t.siteId, t.kind, t.matchName),
    index('kartra_assets_site_kind_kartra_idx').on(t.siteId, t.kind, t.kartraId),
  ],
);

export const assetLevels = pgTable(
  'asset_levels',
  {
    siteId: integer('site_id')
      .notNull()
      .references(() => sites.id, { onDelete: 'cascade' }),
    assetKey: text('asset_key').notNull(),
    levelId: integer('level_id')
      .notNull()
      .references(() => accessLevels.id, { onDelete: 'restrict' }),
    createdAt: ms('created_at').notNull(),
  },
  (t) => [primaryKey({ columns: [t.siteId, t.assetKey, t.levelId] }), index('asset_levels_level_idx').on(t.levelId)],
);

export const webhookEvents = pgTable(
  'webhook_events',
  {
    id: bigId('id').primaryKey().generatedByDefaultAsIdentity(),
    siteId: integer('site_id')
      .notNull()
      .references(() => sites.id, { onDelete: 'cascade' }),
    receivedAt: ms('received_at').notNull(),
    channel: text('channel').notNull(),
    sourceIp: text('source_ip'),
    headersJson: text('headers_json').notNull(),
    rawBody: bytea('raw_body').notNull(),
    rawBodyPrunedAt: ms('raw_body_pruned_at'),
    status: text('status').notNull(),
    fingerprint: text('fingerprint'),
    duplicateOfEventId: bigId('duplicate_of_event_id'),
    kind: text('kind'),
    action: text('action'),
    productId: text('product_id'),
    assetKey: text('asset_key'),
    leadId: text('lead_id'),
    email: text('email'),
    transactionId: text('transaction_id'),
    memberId: integer('member_id'),
    kartraTimeRaw: text('kartra_time_raw'),
    kartraTimeAt: ms('kartra_time_at'),
    parsedJson: text('parsed_json'),
    notesJson: text('notes_json'),
    summary: text('summary'),
    error: text('error'),
    attempts: integer('attempts').notNull().default(1),
    processedAt: ms('processed_at'),
  },
  (t) => [
    // Newest first within a site, optionally narrowed by one column: each filter of the event log has an index that
    // both finds and orders its rows, so a page reads only the rows it shows.
    index('webhook_events_site_id_idx').on(t.siteId, t.id),
    index('webhook_events_site_status_idx').on(t.siteId, t.status, t.id),
    index('webhook_events_site_product_idx').on(t.siteId, t.productId, t.id),
    index('webhook_events_site_asset_idx').on(t.siteId, t.assetKey, t.id),
    // A tag or membership event is compared with the person's previous event of the asset (latestAssetEvent).
    index('webhook_events_site_asset_lead_idx').on(t.siteId, t.assetKey, t.leadId, t.id),
    index('webhook_events_site_email_idx').on(t.siteId, t.email, t.id),
    index('webhook_events_site_action_idx').on(t.siteId, t.action, t.id),
    // With the id, a time range yields its ids from the index alone, newest first within each instant.
    index('webhook_events_site_received_idx').on(t.siteId, t.receivedAt, t.id),
    // Counts by outcome over a window (health's 24 h and 7 days, the 30-day chart) read this index alone: a row's
    // status sits behind its raw body, and reading it from the table costs an overflow chain per recent event.
    index('webhook_events_site_received_status_idx').on(t.siteId, t.receivedAt, t.status),
  ],
);

// Kartra sends no event id, so each event claims its fingerprint here; the primary key makes the claim atomic, also
// between service instances: a second claim waits for the first transaction and then finds its row.
export const eventFingerprints = pgTable(
  'event_fingerprints',
  {
    siteId: integer('site_id')
      .notNull()
      .references(() => sites.id, { onDelete: 'cascade' }),
    fingerprint: text('fingerprint').notNull(),
    eventId: bigId('event_id').notNull(),
  },
  (t) => [primaryKey({ columns: [t.siteId, t.fingerprint] })],
);

export const paymentFacts = pgTable(
  'payment_facts',
  {
    id: bigId('id').primaryKey().generatedByDefaultAsIdentity(),
    siteId: integer('site_id')
      .notNull()
      .references(() => sites.id, { onDelete: 'cascade' }),
    kind: text('kind').notNull(),
    factKey: text('fact_key').notNull(),
    memberId: integer('member_id')
      .notNull()
      .references(() => members.id, { onDelete: 'cascade' }),
    productId: text('product_id').notNull(),
    sourceKey: text('source_key').notNull(),
    transactionId: text('transaction_id'),
    parentTransactionId: text('parent_transaction_id'),
    subscriptionId: text('subscription_id'),
    payNumber: integer('pay_number'),
    amountCents: bigint('amount_cents', { mode: 'number' }),
    occurredAt: ms('occurred_at').notNull(),
    eventId: bigId('event_id').notNull(),
  },
  (t) => [
    uniqueIndex('payment_facts_site_kind_key_idx').on(t.siteId, t.kind, t.factKey),
    index('payment_facts_site_source_idx').on(t.siteId, t.sourceKey),
    index('payment_facts_site_txn_idx').on(t.siteId, t.transactionId),
    index('payment_facts_site_product_idx').on(t.siteId, t.productId),
    // Recent facts of a kind (failed payments within the grace period, recent chargebacks): the needs-attention
    // report reads a window of these, not every fact the site ever had.
    index('payment_facts_site_kind_time_idx').on(t.siteId, t.kind, t.occurredAt),
  ],
);

export const assetFacts = pgTable(
  'asset_facts',
  {
    id: bigId('id').primaryKey().generatedByDefaultAsIdentity(),
    siteId: integer('site_id')
      .notNull()
      .references(() => sites.id, { onDelete: 'cascade' }),
    memberId: integer('member_id')
      .notNull()
      .references(() => members.id, { onDelete: 'cascade' }),
    assetKey: text('asset_key').notNull(),
    change: text('change').notNull(),
    occurredAt: ms('occurred_at'),
    receivedAt: ms('received_at').notNull(),
    eventId: bigId('event_id').notNull(),
  },
  (t) => [
    uniqueIndex('asset_facts_site_event_idx').on(t.siteId, t.eventId),
    index('asset_facts_site_member_asset_idx').on(t.siteId, t.memberId, t.assetKey, t.eventId),
    index('asset_facts_site_asset_member_idx').on(t.siteId, t.assetKey, t.memberId),
  ],
);

export const grants = pgTable(
  'grants',
  {
    id: integer('id').primaryKey().generatedByDefaultAsIdentity(),
    siteId: integer('site_id')
      .notNull()
      .references(() => sites.id, { onDelete: 'cascade' }),
    memberId: integer('member_id')
      .notNull()
      .references(() => members.id, { onDelete: 'cascade' }),
    levelId: integer('level_id')
      .notNull()
      .references(() => accessLevels.id, { onDelete: 'restrict' }),
    sourceType: text('source_type').notNull(),
    sourceKey: text('source_key').notNull(),
    productId: text('product_id'),
    transactionId: text('transaction_id'),
    subscriptionId: text('subscription_id'),
    status: text('status').notNull(),
    revokedReason: text('revoked_reason'),
    adminLocked: boolean('admin_locked').notNull().default(false),
    expiresAt: ms('expires_at'),
    createdAt: ms('created_at').notNull(),
    updatedAt: ms('updated_at').notNull(),
  },
  (t) => [
    uniqueIndex('grants_source_level_idx').on(t.siteId, t.memberId, t.sourceKey, t.levelId),
    index('grants_site_member_idx').on(t.siteId, t.memberId),
    index('grants_site_level_idx').on(t.siteId, t.levelId, t.status),
    // Members with access per mapped product (the Mappings page), counted from the index alone.
    index('grants_site_product_status_idx').on(t.siteId, t.productId, t.status, t.memberId),
    index('grants_site_source_idx').on(t.siteId, t.sourceKey),
    // The sweep looks for active grants whose end has passed, across sites.
    index('grants_due_idx').on(t.expiresAt).where(sql`${t.status} = 'active' and ${t.expiresAt} is not null`),
  ],
);

export const grantHistory = pgTable(
  'grant_history',
  {
    id: bigId('id').primaryKey().generatedByDefaultAsIdentity(),
    siteId: integer('site_id').notNull(),
    grantId: integer('grant_id')
      .notNull()
      .references(() => grants.id, { onDelete: 'cascade' }),
    memberId: integer('member_id').notNull(),
    levelId: integer('level_id').notNull(),
    change: text('change').notNull(),
    reason: text('reason').notNull(),
    eventId: bigId('event_id'),
    actor: text('actor').notNull(),
    at: ms('at').notNull(),
  },
  (t) => [
    index('grant_history_site_member_idx').on(t.siteId, t.memberId, t.id),
    index('grant_history_site_event_idx').on(t.siteId, t.eventId),
  ],
);

export const adminUsers = pgTable('admin_users', {
  id: integer('id').primaryKey().generatedByDefaultAsIdentity(),
  email: text('email').notNull().unique(),
  passwordHash: text('password_hash').notNull(),
  timeZone: text('time_zone').notNull().default('UTC'),
  createdAt: ms('created_at').notNull(),
  lastSignInAt: ms('last_sign_in_at'),
});

export const adminSiteAccess = pgTable(
  'admin_site_access',
  {
    adminId: integer('admin_id')
      .notNull()
      .references(() => adminUsers.id, { onDelete: 'cascade' }),
    siteId: integer('site_id')
      .notNull()
      .references(() => sites.id, { onDelete: 'cascade' }),
    createdAt: ms('created_at').notNull(),
  },
  (t) => [primaryKey({ columns: [t.adminId, t.siteId] })],
);

export const adminSessions = pgTable(
  'admin_sessions',
  {
    idHash: text('id_hash').primaryKey(),
    adminId: integer('admin_id')
      .notNull()
      .references(() => adminUsers.id, { onDelete: 'cascade' }),
    csrfToken: text('csrf_token').notNull(),
    createdAt: ms('created_at').notNull(),
    lastSeenAt: ms('last_seen_at').notNull(),
    expiresAt: ms('expires_at').notNull(),
  },
  (t) => [index('admin_sessions_admin_idx').on(t.adminId)],
);

// The request limits' counts, shared by every service instance on this database (in memory on SQLite, where one
// process owns the file). Keys name the limit and its subject (`hook:203.0.113.7`, `email:ann@example.com`); rows are
// forgotten by the sweep once they carry nothing (a full bucket, an ended window), so the tables stay small.
// Both are UNLOGGED (edited into migration 0001 by hand: drizzle-kit cannot say it): a take then commits without
// waiting for a WAL flush, which would otherwise hold a hot source's row lock for a disk write per request. The cost:
// a server crash or a failover empties them, which forgets counts as a restart of the in-memory stores does.

/** One token bucket per key: its tokens as of `updatedAt` (ms), and whether the last take was allowed. */
export const rateLimitBuckets = pgTable('rate_limit_buckets', {
  key: text('key').primaryKey(),
  tokens: doublePrecision('tokens').notNull(),
  updatedAt: ms('updated_at').notNull(),
  allowed: boolean('allowed').notNull(),
});

/** One fixed window of sign-in attempts per key: when it started (ms) and the attempts counted in it. */
export const attemptWindows = pgTable('attempt_windows', {
  key: text('key').primaryKey(),
  windowStart: ms('window_start').notNull(),
  count: integer('count').notNull(),
});

export const notificationEndpoints = pgTable(
  'notification_endpoints',
  {
    id: integer('id').primaryKey().generatedByDefaultAsIdentity(),
    siteId: integer('site_id')
      .notNull()
      .references(() => sites.id, { onDelete: 'cascade' }),
    url: text('url').notNull(),
    description: text('description').notNull().default(''),
    eventTypes: text('event_types').notNull(),
    enabled: boolean('enabled').notNull().default(true),
    secret: text('secret').notNull(),
    previousSecret: text('previous_secret'),
    previousSecretValidUntil: ms('previous_secret_valid_until'),
    createdAt: ms('created_at').notNull(),
  },
  (t) => [index('notification_endpoints_site_idx').on(t.siteId)],
);

export const notificationOutbox = pgTable(
  'notification_outbox',
  {
    id: bigId('id').primaryKey().generatedByDefaultAsIdentity(),
    siteId: integer('site_id')
      .notNull()
      .references(() => sites.id, { onDelete: 'cascade' }),
    endpointId: integer('endpoint_id')
      .notNull()
      .references(() => notificationEndpoints.id, { onDelete: 'cascade' }),
    type: text('type').notNull(),
    payload: text('payload').notNull(),
    messageId: text('message_id').notNull().unique(),
    status: text('status').notNull().default('pending'),
    attempts: integer('attempts').notNull().default(0),
    nextAttemptAt: ms('next_attempt_at').notNull(),
    lockedUntil: ms('locked_until'),
    lastError: text('last_error'),
    lastStatusCode: integer('last_status_code'),
    createdAt: ms('created_at').notNull(),
    deliveredAt: ms('delivered_at'),
  },
  (t) => [
    index('notification_outbox_due_idx').on(t.status, t.nextAttemptAt),
    index('notification_outbox_endpoint_idx').on(t.siteId, t.endpointId, t.id),
    // The site's dead letters for Needs attention, newest first, without reading its delivered messages.
    index('notification_outbox_site_status_idx').on(t.siteId, t.status, t.createdAt),
  ],
);

export const notificationAttempts = pgTable(
  'notification_attempts',
  {
    id: bigId('id').primaryKey().generatedByDefaultAsIdentity(),
    siteId: integer('site_id').notNull(),
    outboxId: bigId('outbox_id')
      .notNull()
      .references(() => notificationOutbox.id, { onDelete: 'cascade' }),
    endpointId: integer('endpoint_id').notNull(),
    attemptedAt: ms('attempted_at').notNull(),
    statusCode: integer('status_code'),
    durationMs: integer('duration_ms').notNull(),
    error: text('error'),
  },
  (t) => [index('notification_attempts_outbox_idx').on(t.outboxId)],
);

export const kartraCredentials = pgTable('kartra_credentials', {
  siteId: integer('site_id')
    .primaryKey()
    .references(() => sites.id, { onDelete: 'cascade' }),
  appId: text('app_id').notNull(),
  apiKeyHint: text('api_key_hint').notNull(),
  sealed: text('sealed').notNull(),
  createdAt: ms('created_at').notNull(),
  updatedAt: ms('updated_at').notNull(),
  lastCheckedAt: ms('last_checked_at'),
  lastCheckOk: boolean('last_check_ok'),
  lastCheckMessage: text('last_check_message'),
});

export const kartraVerifications = pgTable(
  'kartra_verifications',
  {
    id: bigId('id').primaryKey().generatedByDefaultAsIdentity(),
    siteId: integer('site_id')
      .notNull()
      .references(() => sites.id, { onDelete: 'cascade' }),
    eventId: bigId('event_id')
      .notNull()
      .references(() => webhookEvents.id, { onDelete: 'cascade' }),
    status: text('status').notNull().default('pending'),
    attempts: integer('attempts').notNull().default(0),
    nextAttemptAt: ms('next_attempt_at').notNull(),
    lockedUntil: ms('locked_until'),
    lastError: text('last_error'),
    createdAt: ms('created_at').notNull(),
    settledAt: ms('settled_at'),
  },
  (t) => [uniqueIndex('kartra_verifications_event_idx').on(t.eventId), index('kartra_verifications_due_idx').on(t.status, t.nextAttemptAt), index('kartra_verifications_site_idx').on(t.siteId, t.status)],
);

export const reconcileRuns = pgTable(
  'reconcile_runs',
  {
    id: integer('id').primaryKey().generatedByDefaultAsIdentity(),
    siteId: integer('site_id')
      .notNull()
      .references(() => sites.id, { onDelete: 'cascade' }),
    trigger: text('trigger').notNull(),
    startedAt: ms('started_at').notNull(),
    finishedAt: ms('finished_at'),
    membersChecked: integer('members_checked').notNull().default(0),
    differenceCount: integer('difference_count').notNull().default(0),
    fixedCount: integer('fixed_count').notNull().default(0),
    error: text('error'),
    differences: text('differences').notNull().default('[]'),
  },
  (t) => [index('reconcile_runs_site_idx').on(t.siteId, t.id)],
);
