import { blob, index, integer, primaryKey, sqliteTable, text, uniqueIndex } from 'drizzle-orm/sqlite-core';

// Times are stored as integer milliseconds since the epoch (UTC); names end in `At`.

export const apiTokens = sqliteTable('api_tokens', {
  id: integer('id').primaryKey({ autoIncrement: true }),
  name: text('name').notNull(),
  // SHA-256 of the token: tokens carry 256 random bits, so a fast hash is enough and lookups stay O(1).
  tokenHash: text('token_hash').notNull().unique(),
  tokenPrefix: text('token_prefix').notNull(),
  // null: an operator token that sees every site; otherwise the one site this token may see.
  siteId: integer('site_id').references(() => sites.id, { onDelete: 'cascade' }),
  createdAt: integer('created_at').notNull(),
  lastUsedAt: integer('last_used_at'),
  revokedAt: integer('revoked_at'),
});

export const sites = sqliteTable('sites', {
  id: integer('id').primaryKey({ autoIncrement: true }),
  key: text('key').notNull().unique(),
  name: text('name').notNull(),
  publicUrl: text('public_url'),
  kartraEnabled: integer('kartra_enabled', { mode: 'boolean' }).notNull().default(false),
  secretGraceHours: integer('secret_grace_hours').notNull().default(24),
  // SHA-256 of the IPN secret_key the admin configured in Kartra; null: IPN posts are not checked.
  ipnSecretHash: text('ipn_secret_hash'),
  // 'any' or 'ipn_with_secret': see MoneyChannels in domain/model.ts.
  moneyChannels: text('money_channels').notNull().default('any'),
  graceDays: integer('grace_days').notNull().default(10),
  cancelMode: text('cancel_mode').notNull().default('immediate'),
  // The feed counts as quiet when no event arrived for this long after events used to arrive.
  quietFeedHours: integer('quiet_feed_hours').notNull().default(72),
  // Raw bodies older than this are pruned; the event rows, outcomes and access history stay.
  rawBodyRetentionDays: integer('raw_body_retention_days').notNull().default(90),
  // Whether Kartra tag and membership events move access here; on by default, so a mapped tag or level grants.
  tagAccess: integer('tag_access', { mode: 'boolean' }).notNull().default(true),
  membershipAccess: integer('membership_access', { mode: 'boolean' }).notNull().default(true),
  // Whether purchases and rebills not authenticated by an IPN secret wait for Kartra's API to confirm them.
  verifyWithKartra: integer('verify_with_kartra', { mode: 'boolean' }).notNull().default(false),
  // How often the site's members are reconciled with Kartra on a schedule; 0: never (by hand only).
  reconcileEveryHours: integer('reconcile_every_hours').notNull().default(0),
  createdAt: integer('created_at').notNull(),
});

export const webhookSecrets = sqliteTable(
  'webhook_secrets',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    siteId: integer('site_id')
      .notNull()
      .references(() => sites.id, { onDelete: 'cascade' }),
    secretHash: text('secret_hash').notNull(),
    // Last four characters, so an admin can tell which URL Kartra is using without seeing the secret.
    secretHint: text('secret_hint').notNull(),
    createdAt: integer('created_at').notNull(),
    retiredAt: integer('retired_at'),
    validUntil: integer('valid_until'),
    lastUsedAt: integer('last_used_at'),
  },
  (t) => [index('webhook_secrets_site_idx').on(t.siteId)],
);

export const accessLevels = sqliteTable(
  'access_levels',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    siteId: integer('site_id')
      .notNull()
      .references(() => sites.id, { onDelete: 'cascade' }),
    name: text('name').notNull(),
    createdAt: integer('created_at').notNull(),
  },
  (t) => [uniqueIndex('access_levels_site_name_idx').on(t.siteId, t.name)],
);

export const members = sqliteTable(
  'members',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    siteId: integer('site_id')
      .notNull()
      .references(() => sites.id, { onDelete: 'cascade' }),
    kartraLeadId: text('kartra_lead_id'),
    email: text('email'),
    firstName: text('first_name'),
    lastName: text('last_name'),
    createdAt: integer('created_at').notNull(),
    updatedAt: integer('updated_at').notNull(),
  },
  (t) => [
    uniqueIndex('members_site_lead_idx').on(t.siteId, t.kartraLeadId),
    // One member per email in a site: matching by email (a lead without an id) must find one person, never pick one.
    uniqueIndex('members_site_email_idx').on(t.siteId, t.email),
  ],
);

export const memberEmailChanges = sqliteTable(
  'member_email_changes',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    siteId: integer('site_id').notNull(),
    memberId: integer('member_id')
      .notNull()
      .references(() => members.id, { onDelete: 'cascade' }),
    previousEmail: text('previous_email'),
    newEmail: text('new_email').notNull(),
    eventId: integer('event_id'),
    changedAt: integer('changed_at').notNull(),
  },
  (t) => [index('member_email_changes_member_idx').on(t.siteId, t.memberId)],
);

export const products = sqliteTable(
  'products',
  {
    siteId: integer('site_id')
      .notNull()
      .references(() => sites.id, { onDelete: 'cascade' }),
    productId: text('product_id').notNull(),
    kartraName: text('kartra_name'),
    firstSeenAt: integer('first_seen_at'),
    lastSeenAt: integer('last_seen_at'),
    billingPeriodDays: integer('billing_period_days'),
  },
  (t) => [primaryKey({ columns: [t.siteId, t.productId] })],
);

export const productLevels = sqliteTable(
  'product_levels',
  {
    siteId: integer('site_id')
      .notNull()
      .references(() => sites.id, { onDelete: 'cascade' }),
    productId: text('product_id').notNull(),
    levelId: integer('level_id')
      .notNull()
      .references(() => accessLevels.id, { onDelete: 'restrict' }),
    createdAt: integer('created_at').notNull(),
  },
  (t) => [primaryKey({ columns: [t.siteId, t.productId, t.levelId] }), index('product_levels_level_idx').on(t.levelId)],
);

// Kartra tags and membership levels ("assets") an event named or an admin mapped, under our own stable key (the
// source key of the grants they give; see domain/assets/asset-identity.ts). Events without ids find theirs by kind and
// match name, those with ids by kind and Kartra's id.
export const kartraAssets = sqliteTable(
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
    firstSeenAt: integer('first_seen_at'),
    lastSeenAt: integer('last_seen_at'),
  },
  (t) => [
    primaryKey({ columns: [t.siteId, t.key] }),
    index('kartra_assets_site_kind_match_idx').on(t.siteId, t.kind, t.matchName),
    index('kartra_assets_site_kind_kartra_idx').on(t.siteId, t.kind, t.kartraId),
  ],
);

// An asset's levels, as product_levels are a product's: a level in use by a mapping cannot be deleted.
export const assetLevels = sqliteTable(
  'asset_levels',
  {
    siteId: integer('site_id')
      .notNull()
      .references(() => sites.id, { onDelete: 'cascade' }),
    assetKey: text('asset_key').notNull(),
    levelId: integer('level_id')
      .notNull()
      .references(() => accessLevels.id, { onDelete: 'restrict' }),
    createdAt: integer('created_at').notNull(),
  },
  (t) => [primaryKey({ columns: [t.siteId, t.assetKey, t.levelId] }), index('asset_levels_level_idx').on(t.levelId)],
);

export const webhookEvents = sqliteTable(
  'webhook_events',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    siteId: integer('site_id')
      .notNull()
      .references(() => sites.id, { onDelete: 'cascade' }),
    receivedAt: integer('received_at').notNull(),
    channel: text('channel').notNull(),
    sourceIp: text('source_ip'),
    headersJson: text('headers_json').notNull(),
    // Bytes as received: a body that is not valid UTF-8 is kept exactly, so nothing is lost.
    rawBody: blob('raw_body', { mode: 'buffer' }).notNull(),
    // Set when retention pruned the raw body (rawBody is then empty); the row, outcome and effects stay.
    rawBodyPrunedAt: integer('raw_body_pruned_at'),
    status: text('status').notNull(),
    fingerprint: text('fingerprint'),
    duplicateOfEventId: integer('duplicate_of_event_id'),
    kind: text('kind'),
    action: text('action'),
    productId: text('product_id'),
    // The tag or membership level the event is about (kartra_assets.key), once resolved.
    assetKey: text('asset_key'),
    leadId: text('lead_id'),
    email: text('email'),
    transactionId: text('transaction_id'),
    memberId: integer('member_id'),
    kartraTimeRaw: text('kartra_time_raw'),
    kartraTimeAt: integer('kartra_time_at'),
    parsedJson: text('parsed_json'),
    notesJson: text('notes_json'),
    summary: text('summary'),
    error: text('error'),
    attempts: integer('attempts').notNull().default(1),
    processedAt: integer('processed_at'),
  },
  (t) => [
    index('webhook_events_site_id_idx').on(t.siteId, t.id),
    index('webhook_events_site_status_idx').on(t.siteId, t.status, t.id),
    index('webhook_events_site_product_idx').on(t.siteId, t.productId, t.id),
    index('webhook_events_site_asset_idx').on(t.siteId, t.assetKey, t.id),
    // A tag or membership event is compared with the person's previous event of the asset (latestAssetEvent).
    index('webhook_events_site_asset_lead_idx').on(t.siteId, t.assetKey, t.leadId, t.id),
    index('webhook_events_site_email_idx').on(t.siteId, t.email, t.id),
    index('webhook_events_site_action_idx').on(t.siteId, t.action, t.id),
    index('webhook_events_site_received_idx').on(t.siteId, t.receivedAt),
    // Counts by outcome over a window (health's 24 h and 7 days, the 30-day chart) read this index alone: a row's
    // status sits behind its raw body, and reading it from the table costs an overflow chain per recent event.
    index('webhook_events_site_received_status_idx').on(t.siteId, t.receivedAt, t.status),
  ],
);

// Kartra sends no event id, so each event claims its fingerprint here; the primary key makes the claim atomic.
export const eventFingerprints = sqliteTable(
  'event_fingerprints',
  {
    siteId: integer('site_id')
      .notNull()
      .references(() => sites.id, { onDelete: 'cascade' }),
    fingerprint: text('fingerprint').notNull(),
    eventId: integer('event_id').notNull(),
  },
  (t) => [primaryKey({ columns: [t.siteId, t.fingerprint] })],
);

// Money facts from Kartra (sales, rebills, refunds, chargebacks, cancellations, failed payments).
// Access is derived from the set of facts, so the order in which Kartra delivers them does not matter.
export const paymentFacts = sqliteTable(
  'payment_facts',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
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
    amountCents: integer('amount_cents'),
    occurredAt: integer('occurred_at').notNull(),
    eventId: integer('event_id').notNull(),
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

// Assignments and removals of tags and membership levels, one per event (Kartra sends no event id, so the event row
// is the fact's identity). Asset grants are derived from a member's facts of the asset, as money grants are from
// payment facts.
export const assetFacts = sqliteTable(
  'asset_facts',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    siteId: integer('site_id')
      .notNull()
      .references(() => sites.id, { onDelete: 'cascade' }),
    memberId: integer('member_id')
      .notNull()
      .references(() => members.id, { onDelete: 'cascade' }),
    assetKey: text('asset_key').notNull(),
    // 'assigned' or 'removed'.
    change: text('change').notNull(),
    occurredAt: integer('occurred_at'),
    receivedAt: integer('received_at').notNull(),
    eventId: integer('event_id').notNull(),
  },
  (t) => [
    uniqueIndex('asset_facts_site_event_idx').on(t.siteId, t.eventId),
    index('asset_facts_site_member_asset_idx').on(t.siteId, t.memberId, t.assetKey, t.eventId),
    index('asset_facts_site_asset_member_idx').on(t.siteId, t.assetKey, t.memberId),
  ],
);

export const grants = sqliteTable(
  'grants',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
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
    // An admin's revoke (or a mapping deleted with revoke) sticks: later Kartra events do not undo it.
    adminLocked: integer('admin_locked', { mode: 'boolean' }).notNull().default(false),
    expiresAt: integer('expires_at'),
    createdAt: integer('created_at').notNull(),
    updatedAt: integer('updated_at').notNull(),
  },
  (t) => [
    uniqueIndex('grants_source_level_idx').on(t.siteId, t.memberId, t.sourceKey, t.levelId),
    index('grants_site_member_idx').on(t.siteId, t.memberId),
    index('grants_site_level_idx').on(t.siteId, t.levelId, t.status),
    // Members with access per mapped product (the Mappings page), counted from the index alone.
    index('grants_site_product_status_idx').on(t.siteId, t.productId, t.status, t.memberId),
    index('grants_site_source_idx').on(t.siteId, t.sourceKey),
  ],
);

// Append-only: every change to a grant with the event or admin that caused it.
export const grantHistory = sqliteTable(
  'grant_history',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    siteId: integer('site_id').notNull(),
    grantId: integer('grant_id')
      .notNull()
      .references(() => grants.id, { onDelete: 'cascade' }),
    memberId: integer('member_id').notNull(),
    levelId: integer('level_id').notNull(),
    change: text('change').notNull(),
    reason: text('reason').notNull(),
    eventId: integer('event_id'),
    actor: text('actor').notNull(),
    at: integer('at').notNull(),
  },
  (t) => [
    index('grant_history_site_member_idx').on(t.siteId, t.memberId, t.id),
    index('grant_history_site_event_idx').on(t.siteId, t.eventId),
  ],
);


// Site admins who sign in to the App Station pages (the JSON API uses bearer tokens instead).
export const adminUsers = sqliteTable('admin_users', {
  id: integer('id').primaryKey({ autoIncrement: true }),
  email: text('email').notNull().unique(),
  // scrypt, with its parameters and salt: `scrypt$N$r$p$salt$hash`.
  passwordHash: text('password_hash').notNull(),
  timeZone: text('time_zone').notNull().default('UTC'),
  createdAt: integer('created_at').notNull(),
  lastSignInAt: integer('last_sign_in_at'),
});

export const adminSiteAccess = sqliteTable(
  'admin_site_access',
  {
    adminId: integer('admin_id')
      .notNull()
      .references(() => adminUsers.id, { onDelete: 'cascade' }),
    siteId: integer('site_id')
      .notNull()
      .references(() => sites.id, { onDelete: 'cascade' }),
    createdAt: integer('created_at').notNull(),
  },
  (t) => [primaryKey({ columns: [t.adminId, t.siteId] })],
);

export const adminSessions = sqliteTable(
  'admin_sessions',
  {
    // SHA-256 of the session cookie's value: a stolen database does not hold usable sessions.
    idHash: text('id_hash').primaryKey(),
    adminId: integer('admin_id')
      .notNull()
      .references(() => adminUsers.id, { onDelete: 'cascade' }),
    csrfToken: text('csrf_token').notNull(),
    createdAt: integer('created_at').notNull(),
    lastSeenAt: integer('last_seen_at').notNull(),
    expiresAt: integer('expires_at').notNull(),
  },
  (t) => [index('admin_sessions_admin_idx').on(t.adminId)],
);

// Notifications to the site's own endpoints (Standard Webhooks). The secret is kept as issued: it is the HMAC key
// every attempt is signed with, so a hash would not do; it is never logged or returned after the answer that made it.
export const notificationEndpoints = sqliteTable(
  'notification_endpoints',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    siteId: integer('site_id')
      .notNull()
      .references(() => sites.id, { onDelete: 'cascade' }),
    url: text('url').notNull(),
    description: text('description').notNull().default(''),
    // JSON array of notification types.
    eventTypes: text('event_types').notNull(),
    enabled: integer('enabled', { mode: 'boolean' }).notNull().default(true),
    secret: text('secret').notNull(),
    previousSecret: text('previous_secret'),
    previousSecretValidUntil: integer('previous_secret_valid_until'),
    createdAt: integer('created_at').notNull(),
  },
  (t) => [index('notification_endpoints_site_idx').on(t.siteId)],
);

// The outbox: one row per message and endpoint, inserted in the transaction of the change it reports.
export const notificationOutbox = sqliteTable(
  'notification_outbox',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    siteId: integer('site_id')
      .notNull()
      .references(() => sites.id, { onDelete: 'cascade' }),
    endpointId: integer('endpoint_id')
      .notNull()
      .references(() => notificationEndpoints.id, { onDelete: 'cascade' }),
    type: text('type').notNull(),
    payload: text('payload').notNull(),
    messageId: text('message_id').notNull().unique(),
    // pending, delivered or dead
    status: text('status').notNull().default('pending'),
    attempts: integer('attempts').notNull().default(0),
    nextAttemptAt: integer('next_attempt_at').notNull(),
    lockedUntil: integer('locked_until'),
    lastError: text('last_error'),
    lastStatusCode: integer('last_status_code'),
    createdAt: integer('created_at').notNull(),
    deliveredAt: integer('delivered_at'),
  },
  (t) => [
    index('notification_outbox_due_idx').on(t.status, t.nextAttemptAt),
    index('notification_outbox_endpoint_idx').on(t.siteId, t.endpointId, t.id),
    // The site's dead letters for Needs attention, newest first, without reading its delivered messages.
    index('notification_outbox_site_status_idx').on(t.siteId, t.status, t.createdAt),
  ],
);

export const notificationAttempts = sqliteTable(
  'notification_attempts',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    siteId: integer('site_id').notNull(),
    outboxId: integer('outbox_id')
      .notNull()
      .references(() => notificationOutbox.id, { onDelete: 'cascade' }),
    endpointId: integer('endpoint_id').notNull(),
    attemptedAt: integer('attempted_at').notNull(),
    statusCode: integer('status_code'),
    durationMs: integer('duration_ms').notNull(),
    error: text('error'),
  },
  (t) => [index('notification_attempts_outbox_idx').on(t.outboxId)],
);

// The site's Kartra API credentials. The key and password are sealed together (AES-256-GCM with the service's
// SECRETS_KEY, see domain/secret-box.ts): the service must send them to Kartra, so a hash would not do; they are
// never logged or shown again after the answer that saved them (the key's last four characters are, as a hint).
export const kartraCredentials = sqliteTable('kartra_credentials', {
  siteId: integer('site_id')
    .primaryKey()
    .references(() => sites.id, { onDelete: 'cascade' }),
  appId: text('app_id').notNull(),
  apiKeyHint: text('api_key_hint').notNull(),
  sealed: text('sealed').notNull(),
  createdAt: integer('created_at').notNull(),
  updatedAt: integer('updated_at').notNull(),
  lastCheckedAt: integer('last_checked_at'),
  lastCheckOk: integer('last_check_ok', { mode: 'boolean' }),
  lastCheckMessage: text('last_check_message'),
});

// Money events waiting for Kartra's API to confirm them (verify-by-callback): one row per event, written in the
// transaction that stores the event, worked by a loop in the service like the notification outbox.
export const kartraVerifications = sqliteTable(
  'kartra_verifications',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    siteId: integer('site_id')
      .notNull()
      .references(() => sites.id, { onDelete: 'cascade' }),
    eventId: integer('event_id')
      .notNull()
      .references(() => webhookEvents.id, { onDelete: 'cascade' }),
    // pending, confirmed or unconfirmed
    status: text('status').notNull().default('pending'),
    attempts: integer('attempts').notNull().default(0),
    nextAttemptAt: integer('next_attempt_at').notNull(),
    lockedUntil: integer('locked_until'),
    lastError: text('last_error'),
    createdAt: integer('created_at').notNull(),
    settledAt: integer('settled_at'),
  },
  (t) => [uniqueIndex('kartra_verifications_event_idx').on(t.eventId), index('kartra_verifications_due_idx').on(t.status, t.nextAttemptAt), index('kartra_verifications_site_idx').on(t.siteId, t.status)],
);

// Reconciles of a whole site with Kartra (scheduled or from the CLI): what each found, for the admin to review.
export const reconcileRuns = sqliteTable(
  'reconcile_runs',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    siteId: integer('site_id')
      .notNull()
      .references(() => sites.id, { onDelete: 'cascade' }),
    // schedule, cli or admin
    trigger: text('trigger').notNull(),
    startedAt: integer('started_at').notNull(),
    finishedAt: integer('finished_at'),
    membersChecked: integer('members_checked').notNull().default(0),
    differenceCount: integer('difference_count').notNull().default(0),
    fixedCount: integer('fixed_count').notNull().default(0),
    error: text('error'),
    // JSON array of the differences found (domain/reconcile).
    differences: text('differences').notNull().default('[]'),
  },
  (t) => [index('reconcile_runs_site_idx').on(t.siteId, t.id)],
);
