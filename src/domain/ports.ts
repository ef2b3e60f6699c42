import type {
  AccessLevel,
  AssetFact,
  AssetKind,
  KartraAsset,
  AdminSession,
  AdminUser,
  ApiToken,
  CancelMode,
  EventStatus,
  Grant,
  GrantChange,
  GrantHistoryEntry,
  GrantSourceType,
  GrantStatus,
  Member,
  MemberEmailChange,
  PaymentFact,
  Product,
  Site,
  WebhookEventRecord,
  WebhookEventSummary,
  WebhookSecret,
} from './model';
import type { KartraCredentialRecord, ReconcileDifference, ReconcileRun, ReconcileTrigger, VerificationJob } from './kartra-account/kartra-account-model';
import type { DeliveryAttempt, MessageType, NotificationEndpoint, NotificationType, OutboxMessage, OutboxStatus } from './notifications/notification-model';

/** Interfaces the domain needs; db/ implements them. Every method that reads site data takes the site id. */

export interface Clock {
  now(): Date;
}

export interface SiteRepository {
  create(input: { key: string; name: string; createdAt: Date }): Promise<Site>;
  findById(siteId: number): Promise<Site | null>;
  findByKey(key: string): Promise<Site | null>;
  list(siteIds: number[] | 'all'): Promise<Site[]>;
  update(
    siteId: number,
    changes: Partial<Pick<Site, 'name' | 'publicUrl' | 'kartraEnabled' | 'ipnSecretHash' | 'moneyChannels' | 'graceDays' | 'cancelMode' | 'secretGraceHours' | 'quietFeedHours' | 'rawBodyRetentionDays' | 'tagAccess' | 'membershipAccess' | 'verifyWithKartra' | 'reconcileEveryHours'>>,
  ): Promise<void>;
}

export interface WebhookSecretRepository {
  add(input: { siteId: number; secretHash: string; secretHint: string; createdAt: Date }): Promise<WebhookSecret>;
  /** The current secret and any retired one still inside its grace period. */
  listUsable(siteId: number, now: Date): Promise<WebhookSecret[]>;
  listAll(siteId: number): Promise<WebhookSecret[]>;
  retireCurrent(siteId: number, retiredAt: Date, validUntil: Date): Promise<void>;
  markUsed(secretId: number, usedAt: Date): Promise<void>;
}

export interface AccessLevelRepository {
  create(siteId: number, name: string, createdAt: Date): Promise<AccessLevel>;
  list(siteId: number): Promise<AccessLevel[]>;
  findById(siteId: number, levelId: number): Promise<AccessLevel | null>;
  findByName(siteId: number, name: string): Promise<AccessLevel | null>;
  rename(siteId: number, levelId: number, name: string): Promise<void>;
  delete(siteId: number, levelId: number): Promise<void>;
}

export interface MemberSearch {
  email?: string;
  query?: string;
  limit: number;
  afterId?: number;
}

export interface MemberRepository {
  findByLeadId(siteId: number, leadId: string): Promise<Member | null>;
  findByEmail(siteId: number, email: string): Promise<Member | null>;
  findById(siteId: number, memberId: number): Promise<Member | null>;
  create(input: Omit<Member, 'id'>): Promise<Member>;
  update(siteId: number, memberId: number, changes: Partial<Omit<Member, 'id' | 'siteId' | 'createdAt'>>): Promise<void>;
  recordEmailChange(input: Omit<MemberEmailChange, 'id'> & { siteId: number }): Promise<void>;
  emailChanges(siteId: number, memberId: number): Promise<MemberEmailChange[]>;
  search(siteId: number, search: MemberSearch): Promise<Member[]>;
}

export interface ProductRepository {
  recordSeen(siteId: number, productId: string, kartraName: string | undefined, seenAt: Date): Promise<void>;
  /** Makes sure a product row exists (an admin may map a product before Kartra ever sent it). */
  ensure(siteId: number, productId: string): Promise<void>;
  find(siteId: number, productId: string): Promise<Product | null>;
  setLevels(siteId: number, productId: string, levelIds: number[], billingPeriodDays: number | null, at: Date): Promise<void>;
  clearLevels(siteId: number, productId: string): Promise<void>;
  listMapped(siteId: number): Promise<Product[]>;
  listDiscovered(siteId: number): Promise<Product[]>;
  productIdsForLevel(siteId: number, levelId: number): Promise<string[]>;
}

export type NewKartraAsset = Omit<KartraAsset, 'levelIds'>;

export interface AssetRepository {
  findByKey(siteId: number, key: string): Promise<KartraAsset | null>;
  /** By Kartra's ids: a tag's `tag_id`; a membership level's `level_id` (and `membership_id`, null matching any). */
  findByKartraId(siteId: number, kind: AssetKind, kartraId: string, membershipId: string | null): Promise<KartraAsset | null>;
  /** Assets of a kind with this match name, oldest first (two Kartra levels may share a name). */
  findByMatchName(siteId: number, kind: AssetKind, matchName: string): Promise<KartraAsset[]>;
  /** Inserts unless the key exists; returns the stored asset either way. */
  create(asset: NewKartraAsset): Promise<KartraAsset>;
  update(
    siteId: number,
    key: string,
    changes: Partial<Pick<KartraAsset, 'kartraId' | 'name' | 'membershipId' | 'membershipName' | 'matchName' | 'firstSeenAt' | 'lastSeenAt'>>,
  ): Promise<void>;
  setLevels(siteId: number, key: string, levelIds: number[], at: Date): Promise<void>;
  clearLevels(siteId: number, key: string): Promise<void>;
  /** Assets with at least one level, by kind then name. */
  listMapped(siteId: number): Promise<KartraAsset[]>;
  /** Assets without levels that an event named (first seen set), newest sighting first. */
  listDiscovered(siteId: number): Promise<KartraAsset[]>;
  /** Every asset of the site, mapped or not, by kind then name (for filters). */
  listAll(siteId: number): Promise<KartraAsset[]>;
  keysForLevel(siteId: number, levelId: number): Promise<string[]>;
}

export interface AssetFactRepository {
  /** Inserts unless this event's fact is already recorded (one fact per event); idempotent. */
  record(fact: Omit<AssetFact, 'id'>): Promise<void>;
  /** The member's facts of one asset, in receipt order (event id). */
  forMemberAsset(siteId: number, memberId: number, assetKey: string): Promise<AssetFact[]>;
  /** Members with any fact of this asset, ascending. */
  membersForAsset(siteId: number, assetKey: string): Promise<number[]>;
}

/** The person an event is about, as the log records it: the lead id when Kartra sent one, else the email. */
export type EventPerson = { leadId: string } | { email: string };

export interface ProductActivity {
  productId: string;
  eventCount: number;
  buyerCount: number;
  /** The count reached the cap: there may be more events (and buyers) than it says. */
  capped: boolean;
}

export interface AssetActivity {
  assetKey: string;
  /** Events naming the asset, duplicates left out. */
  eventCount: number;
  /** Distinct people (lead id, else email) in them. */
  leadCount: number;
}

export interface NewWebhookEvent {
  siteId: number;
  receivedAt: Date;
  channel: string;
  sourceIp: string | null;
  headers: Record<string, string>;
  rawBody: Buffer;
}

export interface EventOutcomeUpdate {
  status: EventStatus;
  channel?: string;
  fingerprint?: string | null;
  duplicateOfEventId?: number | null;
  kind?: string | null;
  action?: string | null;
  productId?: string | null;
  assetKey?: string | null;
  leadId?: string | null;
  email?: string | null;
  transactionId?: string | null;
  memberId?: number | null;
  kartraTimeRaw?: string | null;
  kartraTimeAt?: Date | null;
  parsed?: unknown;
  notes?: { path: string; message: string }[];
  summary?: string | null;
  error?: string | null;
  processedAt: Date;
}

export interface EventQuery {
  statuses?: EventStatus[];
  action?: string;
  productId?: string;
  assetKey?: string;
  email?: string;
  since?: Date;
  until?: Date;
  /** Keyset pagination: events with an id below this one (the log is newest first). */
  beforeId?: number;
  limit: number;
}

export interface WebhookEventRepository {
  insert(event: NewWebhookEvent): Promise<number>;
  recordOutcome(siteId: number, eventId: number, outcome: EventOutcomeUpdate): Promise<void>;
  incrementAttempts(siteId: number, eventId: number): Promise<void>;
  findById(siteId: number, eventId: number): Promise<WebhookEventRecord | null>;
  /** Newest first. */
  list(siteId: number, query: EventQuery): Promise<WebhookEventSummary[]>;
  /** Ids in receipt order, for re-applying; events whose raw body was pruned are left out (nothing to re-apply). */
  idsForReapply(siteId: number, filter: { statuses: EventStatus[]; since?: Date; productId?: string; assetKey?: string }): Promise<number[]>;
  /**
   * Per product with any, its events other than duplicates and their buyers, counted over at most the newest `cap`
   * such events: a figure that stops growing with the log. `capped`: the count reached the cap, so both are lower
   * bounds.
   */
  productActivity(siteId: number, productIds: string[], cap: number): Promise<ProductActivity[]>;
  assetActivity(siteId: number, assetKeys: string[]): Promise<AssetActivity[]>;
  /** Unmapped events of a product (or an asset) that can still be re-applied (raw body not pruned), and their people. */
  countUnmapped(siteId: number, of: { productId: string } | { assetKey: string }): Promise<{ events: number; people: number }>;
  /**
   * The newest event before `beforeId` about this asset and person whose status is applied, unmapped, ignored or
   * rejected (duplicates, failures and invalid bodies left out): what a tag or membership event is compared with to
   * tell a redelivery from a real change.
   */
  latestAssetEvent(siteId: number, assetKey: string, person: EventPerson, beforeId: number): Promise<{ id: number; action: string | null; receivedAt: Date } | null>;
  lastReceived(siteId: number): Promise<{ at: Date; action: string | null } | null>;
  /** Per action (`(unparsed)` for none), when its newest event arrived; one index probe per distinct action. */
  lastReceivedByAction(siteId: number): Promise<{ action: string; at: Date }[]>;
  /** Events with this status, counted no further than `cap`: the answer is min(count, cap), at bounded cost. */
  countWithStatus(siteId: number, status: EventStatus, cap: number): Promise<number>;
  /** Atomically claims a fingerprint; returns the id of the event that owns it (this one, or an earlier one). */
  claimFingerprint(siteId: number, fingerprint: string, eventId: number): Promise<number>;
  /** Events per status received at or after `since`. */
  countByStatusSince(siteId: number, since: Date): Promise<Partial<Record<EventStatus, number>>>;
  /** Received at or before `before`: used to tell a quiet feed from one that never started. */
  countReceivedBefore(siteId: number, before: Date): Promise<number>;
  /**
   * Events counted per status in consecutive periods: period i runs from `starts[i]` to `starts[i + 1]`, the last to
   * `end`. The caller chooses the periods (the chart's calendar days in the admin's time zone), so the database
   * returns a row per period and status, however many events there are.
   */
  countByStatusInPeriods(siteId: number, starts: Date[], end: Date): Promise<{ period: number; status: EventStatus; count: number }[]>;
}

export interface NewPaymentFact extends Omit<PaymentFact, 'id'> {
  /** Identifies the fact within its kind: Kartra's order id, or the event fingerprint when there is none. */
  factKey: string;
}

export interface PaymentFactRepository {
  /** Inserts unless the same fact (kind and key) is already recorded; idempotent. */
  record(fact: NewPaymentFact): Promise<void>;
  forSource(siteId: number, sourceKey: string): Promise<PaymentFact[]>;
  /** The facts of several sources in one read, each source's in the order forSource gives. */
  forSources(siteId: number, sourceKeys: string[]): Promise<Map<string, PaymentFact[]>>;
  findPaymentByTransaction(siteId: number, transactionId: string): Promise<PaymentFact | null>;
  latestPurchaseSource(siteId: number, memberId: number, productId: string): Promise<string | null>;
  sourcesForProduct(siteId: number, productId: string): Promise<{ sourceKey: string; memberId: number }[]>;
  /** Facts of one kind, newest first; with `since`, only those that occurred at or after it. */
  listByKind(siteId: number, kind: PaymentFact['kind'], options: { since?: Date; limit: number }): Promise<PaymentFact[]>;
}

export interface NewGrant {
  siteId: number;
  memberId: number;
  levelId: number;
  sourceType: GrantSourceType;
  sourceKey: string;
  productId: string | null;
  transactionId: string | null;
  subscriptionId: string | null;
  status: GrantStatus;
  revokedReason: string | null;
  expiresAt: Date | null;
  createdAt: Date;
}

export interface GrantRepository {
  create(grant: NewGrant): Promise<Grant>;
  update(siteId: number, grantId: number, changes: Partial<Pick<Grant, 'status' | 'revokedReason' | 'adminLocked' | 'expiresAt'>>, at: Date): Promise<void>;
  findById(siteId: number, grantId: number): Promise<Grant | null>;
  forSource(siteId: number, sourceKey: string): Promise<Grant[]>;
  forMember(siteId: number, memberId: number): Promise<Grant[]>;
  forMembers(siteId: number, memberIds: number[]): Promise<Grant[]>;
  activeForProduct(siteId: number, productId: string): Promise<Grant[]>;
  /** Active grants of one source key across members (an asset's grants). */
  activeForSource(siteId: number, sourceKey: string): Promise<Grant[]>;
  countActiveByLevel(siteId: number): Promise<{ levelId: number; memberCount: number }[]>;
  /** Per product of `productIds` with any, the members holding an active grant from it. */
  countActiveMembersByProduct(siteId: number, productIds: string[]): Promise<{ productId: string; memberCount: number }[]>;
  countAnyForLevel(siteId: number, levelId: number): Promise<number>;
  /** Active grants whose end time has passed, across sites, for the sweep. */
  dueForExpiry(now: Date, limit: number): Promise<Grant[]>;
  addHistory(entry: Omit<GrantHistoryEntry, 'id'>): Promise<void>;
  hasHistory(siteId: number, grantId: number, change: GrantChange, eventId: number): Promise<boolean>;
  historyForMember(siteId: number, memberId: number): Promise<GrantHistoryEntry[]>;
  historyForEvent(siteId: number, eventId: number): Promise<GrantHistoryEntry[]>;
}

export interface ApiTokenRepository {
  create(input: { name: string; tokenHash: string; tokenPrefix: string; siteId: number | null; createdAt: Date }): Promise<ApiToken>;
  findActiveByHash(tokenHash: string): Promise<ApiToken | null>;
  list(): Promise<ApiToken[]>;
  revoke(tokenId: number, at: Date): Promise<boolean>;
  /** Records a use at `at`, unless the token's last recorded use is at or after `unlessUsedSince` (kept to that precision). */
  markUsed(tokenId: number, at: Date, unlessUsedSince: Date): Promise<void>;
}

/** Admin users are not site-scoped: one admin may administer several sites, listed by siteIds(). */
export interface AdminUserRepository {
  create(input: { email: string; passwordHash: string; timeZone: string; createdAt: Date }): Promise<AdminUser>;
  findByEmail(email: string): Promise<AdminUser | null>;
  findById(adminId: number): Promise<AdminUser | null>;
  recordSignIn(adminId: number, at: Date): Promise<void>;
  grantSite(adminId: number, siteId: number, at: Date): Promise<void>;
  siteIds(adminId: number): Promise<number[]>;
  setTimeZone(adminId: number, timeZone: string): Promise<void>;
  setPasswordHash(adminId: number, passwordHash: string): Promise<void>;
}

export interface AdminSessionRepository {
  create(session: AdminSession): Promise<void>;
  findByIdHash(idHash: string): Promise<AdminSession | null>;
  touch(idHash: string, lastSeenAt: Date, expiresAt: Date): Promise<void>;
  delete(idHash: string): Promise<void>;
  deleteExpired(now: Date): Promise<number>;
  /** Ends every session of an admin but the one with `keepIdHash`; returns how many ended. */
  deleteOthers(adminId: number, keepIdHash: string): Promise<number>;
}

export interface RawBodyRetentionRepository {
  /**
   * Empties the raw bodies of up to `limit` events of one site received before `receivedBefore` and not yet pruned,
   * marking them pruned at `prunedAt`; returns how many. Rows, outcomes and access history are untouched.
   */
  pruneRawBodies(siteId: number, receivedBefore: Date, prunedAt: Date, limit: number): Promise<number>;
}

export interface Repositories {
  sites: SiteRepository;
  secrets: WebhookSecretRepository;
  levels: AccessLevelRepository;
  members: MemberRepository;
  products: ProductRepository;
  assets: AssetRepository;
  assetFacts: AssetFactRepository;
  events: WebhookEventRepository;
  facts: PaymentFactRepository;
  grants: GrantRepository;
  tokens: ApiTokenRepository;
  admins: AdminUserRepository;
  adminSessions: AdminSessionRepository;
  retention: RawBodyRetentionRepository;
  notificationEndpoints: NotificationEndpointRepository;
  outbox: OutboxRepository;
  kartraCredentials: KartraCredentialRepository;
  verifications: VerificationQueueRepository;
  reconcileRuns: ReconcileRunRepository;
}

/**
 * The repositories of one unit of work, handed to its callback by `RunInTransaction`: every read and write through
 * them belongs to that transaction, and nothing else does. Domain code threads this handle through explicitly
 * (never a hidden global), so a function that must run inside a transaction says so by taking a `Tx`.
 */
export interface Tx extends Repositories {
  /** Runs `work` in a savepoint of this transaction: when it throws, only its own writes are rolled back. */
  savepoint<T>(work: (tx: Tx) => Promise<T>): Promise<T>;
  /**
   * Holds, until this transaction ends, every other unit of work that asks for the same key: for a read that decides
   * a write (is there a member with this email yet?) when units run concurrently. Keys name what they guard, such as
   * `member:<site>:<email>`; take several in one fixed order.
   */
  lock(key: string): Promise<void>;
}

/**
 * Runs `work` as one transaction and settles after it has committed (durably: the promise resolving means the writes
 * survive a crash). When `work` throws, nothing of it is kept and the promise rejects with its error. Which engine
 * runs it, and how (SQLite serialises units and commits a burst of them with one fsync; another engine may run them
 * concurrently and retry on a serialisation failure, so `work` may run more than once and must not have effects
 * outside the transaction), is the adapter's business.
 */
export type RunInTransaction = <T>(work: (tx: Tx) => Promise<T>) => Promise<T>;

export type { CancelMode };

/** How many requests a token bucket lets through: `burst` at once after being idle, then `perSecond` sustained. */
export interface TokenBucketLimits {
  /** Tokens a full bucket holds: the requests a source may send at once after being idle. */
  burst: number;
  /** Tokens added back per second, up to `burst`. */
  perSecond: number;
}

/**
 * Token buckets by key (a limit's scope and a source, such as `hook:203.0.113.7`). In process memory for one process;
 * a store that several processes share must make `take` one atomic step — refill, check and spend together — or
 * concurrent requests on different instances each spend the same token.
 */
export interface TokenBucketStore {
  /**
   * Refills the key's bucket for the time since its last take (a key never seen has a full bucket), then spends one
   * token if there is one. `retryAfterMs` is 0 when allowed, else how long until one token is back. `nowMs` is
   * epoch milliseconds; a clock that steps back refills nothing rather than draining the bucket.
   */
  take(key: string, limits: TokenBucketLimits, nowMs: number): Promise<{ allowed: boolean; retryAfterMs: number }>;
  /** Forgets buckets that have refilled to full by `nowMs` (a full bucket and no bucket are the same); returns how many. */
  forgetIdle(limits: TokenBucketLimits, nowMs: number): Promise<number>;
}

/** One key counted by an attempt and the attempts its window allows. */
export interface CountedKey {
  key: string;
  limit: number;
}

/** A slot taken in one key's window; giving it back only counts while that window lasts. */
export interface TakenSlot {
  key: string;
  windowStartMs: number;
}

/**
 * Attempt counts per key in fixed windows (the sign-in limiter's). In process memory for one process; a store that
 * several processes share must keep `take` atomic — all keys checked and counted in one transaction — or parallel
 * requests on different instances slip past the limit.
 */
export interface AttemptCountStore {
  /**
   * Counts one attempt on every key when all are below their limits; otherwise counts nothing and names the full keys.
   * The count is made when the promise resolves: a caller awaits it before doing what the attempt guards.
   */
  take(keys: readonly CountedKey[], nowMs: number, windowMs: number): Promise<{ taken: TakenSlot[] } | { full: { key: string; retryAfterMs: number }[] }>;
  giveBack(slots: readonly TakenSlot[]): Promise<void>;
  clear(keys: readonly string[]): Promise<void>;
  /** Forgets windows that have ended by `nowMs`; returns how many. */
  forgetExpired(nowMs: number, windowMs: number): Promise<number>;
}

export interface NewNotificationEndpoint {
  siteId: number;
  url: string;
  description: string;
  eventTypes: NotificationType[];
  secret: string;
  createdAt: Date;
}

export interface NotificationEndpointRepository {
  create(endpoint: NewNotificationEndpoint): Promise<NotificationEndpoint>;
  findById(siteId: number, endpointId: number): Promise<NotificationEndpoint | null>;
  list(siteId: number): Promise<NotificationEndpoint[]>;
  update(
    siteId: number,
    endpointId: number,
    changes: Partial<Pick<NotificationEndpoint, 'url' | 'description' | 'eventTypes' | 'enabled' | 'secret' | 'previousSecret' | 'previousSecretValidUntil'>>,
  ): Promise<void>;
  /** Deletes the endpoint with its messages and their delivery log. */
  delete(siteId: number, endpointId: number): Promise<void>;
}

export interface NewOutboxMessage {
  siteId: number;
  endpointId: number;
  type: MessageType;
  payload: string;
  messageId: string;
  createdAt: Date;
}

export interface OutboxRepository {
  enqueue(message: NewOutboxMessage): Promise<OutboxMessage>;
  /**
   * Claims up to `limit` pending messages due at `now` whose lease has run out (or that none holds), leasing them
   * until `leaseUntil`; across sites, for the worker. Each message is claimed by one caller at a time, also when
   * several service instances claim at once.
   */
  claimDue(now: Date, leaseUntil: Date, limit: number): Promise<OutboxMessage[]>;
  /** Records the outcome of an attempt and releases the lease. */
  settle(outboxId: number, outcome: Pick<OutboxMessage, 'status' | 'attempts' | 'nextAttemptAt' | 'lastError' | 'lastStatusCode' | 'deliveredAt'>): Promise<void>;
  findById(siteId: number, outboxId: number): Promise<OutboxMessage | null>;
  /** Newest first; with `beforeId`, only messages older than that one (the next page). */
  list(siteId: number, query: { endpointId: number; status?: OutboxStatus; limit: number; beforeId?: number }): Promise<OutboxMessage[]>;
  /** Makes messages pending again, due at `now`, with their attempts counted from zero; returns how many. */
  requeue(siteId: number, filter: { outboxId: number } | { endpointId: number; createdSince: Date }, now: Date): Promise<number>;
  countByStatus(siteId: number, endpointId: number): Promise<Partial<Record<OutboxStatus, number>>>;
  /** Dead letters of the site's endpoints created at or after `since`, newest first. */
  listDead(siteId: number, since: Date, limit: number): Promise<OutboxMessage[]>;
  /**
   * Deletes up to `limit` delivered or dead messages settled before `settledBefore` (their attempts go with them),
   * across sites; returns how many. Pending messages are never pruned, however old.
   */
  pruneSettled(settledBefore: Date, limit: number): Promise<number>;
  recordAttempt(attempt: Omit<DeliveryAttempt, 'id'>): Promise<void>;
  /** Oldest first. */
  attemptsFor(siteId: number, outboxId: number): Promise<DeliveryAttempt[]>;
}

/** What became of one POST: the receiver's status code, or why there was none. */
export type SendResult = { statusCode: number } | { error: string };

/** Sends one notification over HTTP; an adapter outside the domain (src/outbound/). */
export interface NotificationSender {
  post(url: string, headers: Record<string, string>, body: string, timeoutMs: number): Promise<SendResult>;
}

/** What the service needs to call a site's Kartra account: the App id and the account's API key and password. */
export interface KartraApiCredentials {
  appId: string;
  apiKey: string;
  apiPassword: string;
}

/** The lead a call is about: Kartra's lead id when we know it (Kartra prefers it), else the email. */
export type KartraLeadRef = { leadId: string } | { email: string };

/**
 * Why a call to Kartra gave no answer we can use. `credentials`: the key, password or App id were refused, or the
 * account is inactive; `permission`: the App may not run this command, or calls from this IP are refused;
 * `rate_limited`: over Kartra's 20 calls per second; `unavailable`: no answer (timeout, refused connection, an HTTP
 * error); `unexpected`: an answer we could not read.
 */
export type KartraApiFailureKind = 'credentials' | 'permission' | 'rate_limited' | 'unavailable' | 'unexpected';

export type KartraApiResult<T> = { ok: true; value: T } | { ok: false; kind: KartraApiFailureKind; message: string };

/** Kartra's kinds of payment transactions, lower-cased; `other` for a value we do not know (kept in `typeRaw`). */
export type KartraTransactionType = 'sale' | 'rebill' | 'refund' | 'partial_refund' | 'chargeback' | 'cancellation' | 'failed' | 'other';

/** One payment transaction of a lead as Kartra's inbound API reports it; fields Kartra did not send are null. */
export interface KartraTransaction {
  transactionId: string | null;
  type: KartraTransactionType;
  typeRaw: string;
  productId: string | null;
  productName: string | null;
  amountCents: number | null;
  /** Kartra's time, read in the account's time zone (KARTRA_TIMEZONE). */
  occurredAt: Date | null;
  /** The subscription's first order, for rebills, cancellations and the like; null when none or "0". */
  originalTransactionId: string | null;
}

export interface KartraLeadMembership {
  membershipId: string | null;
  membershipName: string | null;
  levelId: string | null;
  levelName: string | null;
  active: boolean;
}

/** A lead's profile as `get_lead` reports it. */
export interface KartraLead {
  leadId: string;
  email: string | null;
  firstName: string | null;
  lastName: string | null;
  tags: string[];
  memberships: KartraLeadMembership[];
}

/** Kartra's inbound API (https://app.kartra.com/api); an adapter outside the domain (src/outbound/). */
export interface KartraApi {
  /** An account-wide read (the account's lists) that any valid App may make: tells good credentials from bad. */
  testConnection(credentials: KartraApiCredentials): Promise<KartraApiResult<{ listCount: number }>>;
  /** The lead's profile with its tags and memberships; null when Kartra has no such lead. */
  getLead(credentials: KartraApiCredentials, lead: KartraLeadRef): Promise<KartraApiResult<KartraLead | null>>;
  /** The lead's payment transactions, oldest first; null when Kartra has no such lead. */
  transactionsOfLead(credentials: KartraApiCredentials, lead: KartraLeadRef): Promise<KartraApiResult<KartraTransaction[] | null>>;
}

export interface KartraCredentialRepository {
  find(siteId: number): Promise<KartraCredentialRecord | null>;
  /** Inserts or replaces the site's credentials; a replacement forgets the last check (it was of the old ones). */
  save(record: Pick<KartraCredentialRecord, 'siteId' | 'appId' | 'apiKeyHint' | 'sealed'> & { at: Date }): Promise<void>;
  recordCheck(siteId: number, check: { at: Date; ok: boolean; message: string }): Promise<void>;
  delete(siteId: number): Promise<void>;
}

export interface VerificationQueueRepository {
  /** Queues the event for confirmation, due at `at`; an event queued before (re-applied) starts over, pending. */
  enqueue(siteId: number, eventId: number, at: Date): Promise<void>;
  /**
   * Claims up to `limit` pending jobs due at `now` whose lease has run out (or that none holds), leasing them until
   * `leaseUntil`; across sites. One caller at a time per job, also with several instances (FOR UPDATE SKIP LOCKED).
   */
  claimDue(now: Date, leaseUntil: Date, limit: number): Promise<VerificationJob[]>;
  /** Records an attempt's outcome and releases the lease. */
  settle(jobId: number, outcome: Pick<VerificationJob, 'status' | 'attempts' | 'nextAttemptAt' | 'lastError' | 'settledAt'>): Promise<void>;
  findByEvent(siteId: number, eventId: number): Promise<VerificationJob | null>;
  countPending(siteId: number): Promise<number>;
}

export interface ReconcileRunRepository {
  start(siteId: number, trigger: ReconcileTrigger, at: Date): Promise<number>;
  finish(
    siteId: number,
    runId: number,
    result: { finishedAt: Date; membersChecked: number; differences: ReconcileDifference[]; fixedCount: number; error: string | null },
  ): Promise<void>;
  findById(siteId: number, runId: number): Promise<ReconcileRun | null>;
  /** Newest first. */
  list(siteId: number, limit: number): Promise<ReconcileRun[]>;
  /** Sites with a reconcile schedule (every N hours) whose newest run started N hours or more before `now`, or that never ran. */
  dueSites(now: Date): Promise<number[]>;
}
