/** Domain objects as repositories return them. Times are Dates; ids of Kartra objects are strings. */

export type CancelMode = 'immediate' | 'period_end';
/**
 * Which deliveries may move money-driven access. `any`: a money event from either channel. `ipn_with_secret`: only
 * an IPN post carrying the site's IPN secret_key; Outbound API posts are unsigned and anyone who learnt the URL could
 * send one, so their money events are then stored as rejected (tags, lists and other events are still taken).
 */
export const MONEY_CHANNELS = ['any', 'ipn_with_secret'] as const;
export type MoneyChannels = (typeof MONEY_CHANNELS)[number];

export interface Site {
  id: number;
  key: string;
  name: string;
  publicUrl: string | null;
  kartraEnabled: boolean;
  secretGraceHours: number;
  ipnSecretHash: string | null;
  graceDays: number;
  cancelMode: CancelMode;
  moneyChannels: MoneyChannels;
  quietFeedHours: number;
  rawBodyRetentionDays: number;
  /** Whether Kartra tag events move access on this site (mapped tags only). */
  tagAccess: boolean;
  /** Whether Kartra membership events move access on this site (mapped membership levels only). */
  membershipAccess: boolean;
  /** Whether purchases and rebills not authenticated by an IPN secret wait for Kartra's API to confirm them. */
  verifyWithKartra: boolean;
  /** How often the site's members are reconciled with Kartra on a schedule; 0: never. */
  reconcileEveryHours: number;
  createdAt: Date;
}

export interface WebhookSecret {
  id: number;
  siteId: number;
  secretHash: string;
  secretHint: string;
  createdAt: Date;
  retiredAt: Date | null;
  validUntil: Date | null;
  lastUsedAt: Date | null;
}

export interface AccessLevel {
  id: number;
  siteId: number;
  name: string;
  createdAt: Date;
}

export interface Member {
  id: number;
  siteId: number;
  kartraLeadId: string | null;
  email: string | null;
  firstName: string | null;
  lastName: string | null;
  createdAt: Date;
  updatedAt: Date;
}

export interface Product {
  siteId: number;
  productId: string;
  kartraName: string | null;
  firstSeenAt: Date | null;
  lastSeenAt: Date | null;
  billingPeriodDays: number | null;
  levelIds: number[];
}

/**
 * A Kartra asset whose assignment to a lead can grant access: a tag, or a level of a Kartra membership. Discovered
 * when an event names it, mapped to levels by an admin, like a product.
 */
export const ASSET_KINDS = ['tag', 'membership'] as const;
export type AssetKind = (typeof ASSET_KINDS)[number];

export interface KartraAsset {
  siteId: number;
  /** Ours, stable: what grants from this asset carry as their source key (see asset-identity.ts). */
  key: string;
  kind: AssetKind;
  /** The tag's `tag_id`, or the membership level's `level_id`, when Kartra sent one. */
  kartraId: string | null;
  /** The tag's name, or the membership level's name, as last sent. */
  name: string | null;
  /** Memberships only: Kartra's `membership_id` and `membership_name`. */
  membershipId: string | null;
  membershipName: string | null;
  /** The names trimmed and lower-cased (`tag` or `membership / level`), which events without ids are matched by. */
  matchName: string | null;
  firstSeenAt: Date | null;
  lastSeenAt: Date | null;
  levelIds: number[];
}

export type AssetChange = 'assigned' | 'removed';

/** One assignment or removal of an asset to a member, as Kartra reported it: the ledger's facts for asset grants. */
export interface AssetFact {
  id: number;
  siteId: number;
  memberId: number;
  assetKey: string;
  change: AssetChange;
  /** Kartra's time of the change when the event carried one; tag and membership events carry none today. */
  occurredAt: Date | null;
  receivedAt: Date;
  eventId: number;
}

export type PaymentFactKind =
  | 'purchase'
  | 'rebill'
  | 'refund'
  | 'partial_refund'
  | 'chargeback'
  | 'subscription_cancel'
  | 'payment_failed';

export interface PaymentFact {
  id: number;
  siteId: number;
  kind: PaymentFactKind;
  memberId: number;
  productId: string;
  /** The purchase this fact belongs to: `sub:<subscription id>` or `txn:<order id>`. */
  sourceKey: string;
  transactionId: string | null;
  parentTransactionId: string | null;
  subscriptionId: string | null;
  payNumber: number | null;
  amountCents: number | null;
  occurredAt: Date;
  eventId: number;
}

export type GrantStatus = 'active' | 'revoked';
export type GrantSourceType = 'purchase' | 'manual' | AssetKind;

export interface Grant {
  id: number;
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
  adminLocked: boolean;
  /** When access from this grant ends by itself (manual expiry, payment grace, paid period); null: no end. */
  expiresAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
}

export type GrantChange = 'granted' | 'confirmed' | 'revoked' | 'restored' | 'expires' | 'expired';

export interface GrantHistoryEntry {
  id: number;
  siteId: number;
  grantId: number;
  memberId: number;
  levelId: number;
  change: GrantChange;
  reason: string;
  eventId: number | null;
  actor: string;
  at: Date;
}

export interface MemberEmailChange {
  id: number;
  memberId: number;
  previousEmail: string | null;
  newEmail: string;
  eventId: number | null;
  changedAt: Date;
}

export const EVENT_STATUSES = ['received', 'applied', 'duplicate', 'unmapped', 'ignored', 'invalid', 'rejected', 'failed'] as const;
export type EventStatus = (typeof EVENT_STATUSES)[number];

export interface WebhookEventRecord {
  id: number;
  siteId: number;
  receivedAt: Date;
  channel: string;
  sourceIp: string | null;
  headers: Record<string, string>;
  rawBody: Buffer;
  /** When retention pruned the raw body (then empty); null while it is kept. */
  rawBodyPrunedAt: Date | null;
  status: EventStatus;
  fingerprint: string | null;
  duplicateOfEventId: number | null;
  kind: string | null;
  action: string | null;
  productId: string | null;
  /** The tag or membership level the event is about (KartraAsset.key), once resolved. */
  assetKey: string | null;
  leadId: string | null;
  email: string | null;
  transactionId: string | null;
  memberId: number | null;
  kartraTimeRaw: string | null;
  kartraTimeAt: Date | null;
  parsed: unknown;
  notes: { path: string; message: string }[];
  summary: string | null;
  error: string | null;
  attempts: number;
  processedAt: Date | null;
}

/** An event as the log lists it: without its raw body, headers and parsed form, which only its detail shows. */
export type WebhookEventSummary = Pick<
  WebhookEventRecord,
  | 'id'
  | 'siteId'
  | 'receivedAt'
  | 'channel'
  | 'status'
  | 'kind'
  | 'action'
  | 'productId'
  | 'assetKey'
  | 'leadId'
  | 'email'
  | 'transactionId'
  | 'memberId'
  | 'duplicateOfEventId'
  | 'summary'
  | 'error'
  | 'attempts'
>;

export interface ApiToken {
  id: number;
  name: string;
  tokenPrefix: string;
  siteId: number | null;
  createdAt: Date;
  lastUsedAt: Date | null;
  revokedAt: Date | null;
}

/** Someone who signs in to the App Station pages. Admins span sites; admin_site_access says which they may see. */
export interface AdminUser {
  id: number;
  email: string;
  /** `scrypt$N$r$p$salt$hash`, never the password. */
  passwordHash: string;
  /** IANA zone the pages show times in. */
  timeZone: string;
  createdAt: Date;
  lastSignInAt: Date | null;
}

export interface AdminSession {
  /** SHA-256 of the cookie value; the value itself is never stored. */
  idHash: string;
  adminId: number;
  csrfToken: string;
  createdAt: Date;
  lastSeenAt: Date;
  expiresAt: Date;
}
