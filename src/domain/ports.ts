import type {
  AccessLevel,
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

/** Interfaces the domain needs; db/ implements them. Every method that reads site data takes the site id. */

export interface Clock {
  now(): Date;
}

export interface SiteRepository {
  create(input: { key: string; name: string; createdAt: Date }): Site;
  findById(siteId: number): Site | null;
  findByKey(key: string): Site | null;
  list(siteIds: number[] | 'all'): Site[];
  update(
    siteId: number,
    changes: Partial<Pick<Site, 'name' | 'publicUrl' | 'kartraEnabled' | 'ipnSecretHash' | 'moneyChannels' | 'graceDays' | 'cancelMode' | 'secretGraceHours' | 'quietFeedHours' | 'rawBodyRetentionDays'>>,
  ): void;
}

export interface WebhookSecretRepository {
  add(input: { siteId: number; secretHash: string; secretHint: string; createdAt: Date }): WebhookSecret;
  /** The current secret and any retired one still inside its grace period. */
  listUsable(siteId: number, now: Date): WebhookSecret[];
  listAll(siteId: number): WebhookSecret[];
  retireCurrent(siteId: number, retiredAt: Date, validUntil: Date): void;
  markUsed(secretId: number, usedAt: Date): void;
}

export interface AccessLevelRepository {
  create(siteId: number, name: string, createdAt: Date): AccessLevel;
  list(siteId: number): AccessLevel[];
  findById(siteId: number, levelId: number): AccessLevel | null;
  findByName(siteId: number, name: string): AccessLevel | null;
  rename(siteId: number, levelId: number, name: string): void;
  delete(siteId: number, levelId: number): void;
}

export interface MemberSearch {
  email?: string;
  query?: string;
  limit: number;
  afterId?: number;
}

export interface MemberRepository {
  findByLeadId(siteId: number, leadId: string): Member | null;
  findByEmail(siteId: number, email: string): Member | null;
  findById(siteId: number, memberId: number): Member | null;
  create(input: Omit<Member, 'id'>): Member;
  update(siteId: number, memberId: number, changes: Partial<Omit<Member, 'id' | 'siteId' | 'createdAt'>>): void;
  recordEmailChange(input: Omit<MemberEmailChange, 'id'> & { siteId: number }): void;
  emailChanges(siteId: number, memberId: number): MemberEmailChange[];
  search(siteId: number, search: MemberSearch): Member[];
}

export interface ProductRepository {
  recordSeen(siteId: number, productId: string, kartraName: string | undefined, seenAt: Date): void;
  /** Makes sure a product row exists (an admin may map a product before Kartra ever sent it). */
  ensure(siteId: number, productId: string): void;
  find(siteId: number, productId: string): Product | null;
  setLevels(siteId: number, productId: string, levelIds: number[], billingPeriodDays: number | null, at: Date): void;
  clearLevels(siteId: number, productId: string): void;
  listMapped(siteId: number): Product[];
  listDiscovered(siteId: number): Product[];
  productIdsForLevel(siteId: number, levelId: number): string[];
}

export interface ProductActivity {
  productId: string;
  eventCount: number;
  buyerCount: number;
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
  email?: string;
  since?: Date;
  until?: Date;
  /** Keyset pagination: events with an id below this one (the log is newest first). */
  beforeId?: number;
  limit: number;
}

export interface WebhookEventRepository {
  insert(event: NewWebhookEvent): number;
  recordOutcome(siteId: number, eventId: number, outcome: EventOutcomeUpdate): void;
  incrementAttempts(siteId: number, eventId: number): void;
  findById(siteId: number, eventId: number): WebhookEventRecord | null;
  /** Newest first. */
  list(siteId: number, query: EventQuery): WebhookEventSummary[];
  /** Ids in receipt order, for re-applying; events whose raw body was pruned are left out (nothing to re-apply). */
  idsForReapply(siteId: number, filter: { statuses: EventStatus[]; since?: Date; productId?: string }): number[];
  productActivity(siteId: number, productIds: string[]): ProductActivity[];
  /** Unmapped events of a product that can still be re-applied (raw body not pruned), and their people. */
  countUnmapped(siteId: number, productId: string): { events: number; people: number };
  lastReceived(siteId: number): { at: Date; action: string | null } | null;
  lastReceivedByAction(siteId: number): { action: string; at: Date }[];
  /** Atomically claims a fingerprint; returns the id of the event that owns it (this one, or an earlier one). */
  claimFingerprint(siteId: number, fingerprint: string, eventId: number): number;
  /** Events per status received at or after `since`. */
  countByStatusSince(siteId: number, since: Date): Partial<Record<EventStatus, number>>;
  /** Received at or before `before`: used to tell a quiet feed from one that never started. */
  countReceivedBefore(siteId: number, before: Date): number;
  /**
   * Events received at or after `since`, counted per status in 15-minute buckets (bucket start times). Quarter hours
   * rather than days so the caller can group by day in any time zone, whose offsets are all multiples of 15 minutes.
   */
  countByQuarterHourAndStatus(siteId: number, since: Date): { bucketStart: Date; status: EventStatus; count: number }[];
}

export interface NewPaymentFact extends Omit<PaymentFact, 'id'> {
  /** Identifies the fact within its kind: Kartra's order id, or the event fingerprint when there is none. */
  factKey: string;
}

export interface PaymentFactRepository {
  /** Inserts unless the same fact (kind and key) is already recorded; idempotent. */
  record(fact: NewPaymentFact): void;
  forSource(siteId: number, sourceKey: string): PaymentFact[];
  findPaymentByTransaction(siteId: number, transactionId: string): PaymentFact | null;
  latestPurchaseSource(siteId: number, memberId: number, productId: string): string | null;
  sourcesForProduct(siteId: number, productId: string): { sourceKey: string; memberId: number }[];
  /** Facts of one kind, newest first. */
  listByKind(siteId: number, kind: PaymentFact['kind'], limit: number): PaymentFact[];
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
  create(grant: NewGrant): Grant;
  update(siteId: number, grantId: number, changes: Partial<Pick<Grant, 'status' | 'revokedReason' | 'adminLocked' | 'expiresAt'>>, at: Date): void;
  findById(siteId: number, grantId: number): Grant | null;
  forSource(siteId: number, sourceKey: string): Grant[];
  forMember(siteId: number, memberId: number): Grant[];
  forMembers(siteId: number, memberIds: number[]): Grant[];
  activeForProduct(siteId: number, productId: string): Grant[];
  countActiveByLevel(siteId: number): { levelId: number; memberCount: number }[];
  countAnyForLevel(siteId: number, levelId: number): number;
  /** Active grants whose end time has passed, across sites, for the sweep. */
  dueForExpiry(now: Date, limit: number): Grant[];
  addHistory(entry: Omit<GrantHistoryEntry, 'id'>): void;
  hasHistory(siteId: number, grantId: number, change: GrantChange, eventId: number): boolean;
  historyForMember(siteId: number, memberId: number): GrantHistoryEntry[];
  historyForEvent(siteId: number, eventId: number): GrantHistoryEntry[];
}

export interface ApiTokenRepository {
  create(input: { name: string; tokenHash: string; tokenPrefix: string; siteId: number | null; createdAt: Date }): ApiToken;
  findActiveByHash(tokenHash: string): ApiToken | null;
  list(): ApiToken[];
  revoke(tokenId: number, at: Date): boolean;
  markUsed(tokenId: number, at: Date): void;
}

/** Admin users are not site-scoped: one admin may administer several sites, listed by siteIds(). */
export interface AdminUserRepository {
  create(input: { email: string; passwordHash: string; timeZone: string; createdAt: Date }): AdminUser;
  findByEmail(email: string): AdminUser | null;
  findById(adminId: number): AdminUser | null;
  recordSignIn(adminId: number, at: Date): void;
  grantSite(adminId: number, siteId: number, at: Date): void;
  siteIds(adminId: number): number[];
  setTimeZone(adminId: number, timeZone: string): void;
  setPasswordHash(adminId: number, passwordHash: string): void;
}

export interface AdminSessionRepository {
  create(session: AdminSession): void;
  findByIdHash(idHash: string): AdminSession | null;
  touch(idHash: string, lastSeenAt: Date, expiresAt: Date): void;
  delete(idHash: string): void;
  deleteExpired(now: Date): number;
  /** Ends every session of an admin but the one with `keepIdHash`; returns how many ended. */
  deleteOthers(adminId: number, keepIdHash: string): number;
}

export interface RawBodyRetentionRepository {
  /**
   * Empties the raw bodies of up to `limit` events of one site received before `receivedBefore` and not yet pruned,
   * marking them pruned at `prunedAt`; returns how many. Rows, outcomes and access history are untouched.
   */
  pruneRawBodies(siteId: number, receivedBefore: Date, prunedAt: Date, limit: number): number;
}

export interface Repositories {
  sites: SiteRepository;
  secrets: WebhookSecretRepository;
  levels: AccessLevelRepository;
  members: MemberRepository;
  products: ProductRepository;
  events: WebhookEventRepository;
  facts: PaymentFactRepository;
  grants: GrantRepository;
  tokens: ApiTokenRepository;
  admins: AdminUserRepository;
  adminSessions: AdminSessionRepository;
  retention: RawBodyRetentionRepository;
}

/**
 * Runs `work` in one SQLite transaction. better-sqlite3 is synchronous, so `work` must be too: an async callback
 * would commit before its awaits ran. Nested calls become savepoints, rolled back on their own when they throw.
 */
export type RunInTransaction = <T>(work: () => T) => T;

/**
 * Group commit: runs `work` in its own savepoint inside one transaction shared with the other work queued in the same
 * turn of the event loop, and settles only after that transaction has committed, so one durable sync covers a whole
 * burst of deliveries. `work` must be synchronous, as for RunInTransaction. When `work` throws, only its savepoint
 * rolls back and only its promise rejects; the rest of the group still commits. When the commit fails, every promise
 * of the group rejects and nothing of the group is kept.
 */
export type RunInGroupCommit = <T>(work: () => T) => Promise<T>;

export type { CancelMode };
