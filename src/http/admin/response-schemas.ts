import { z } from 'zod';
import { EVENT_STATUSES, MONEY_CHANNELS } from '../../domain/model';
import { NOTIFICATION_TYPES } from '../../domain/notifications/notification-model';

/**
 * What the admin API sends, one schema per shape. The OpenAPI document is generated from these (openapi.ts), the
 * presenters are typed by them (`z.output`, with times as Dates), and test/http/api-responses.test.ts checks real
 * answers of every route against the generated document. Objects are strict: a field sent but not declared here, or
 * declared but not sent, fails that test.
 */

/** On the wire an ISO 8601 string in UTC (what JSON.stringify makes of a Date); to presenters a Date. */
const dateTime = z.codec(z.iso.datetime(), z.date(), {
  decode: (text) => new Date(text),
  encode: (date) => date.toISOString(),
});
const integer = z.number().int();
const countsByStatus = z.record(z.string(), integer);

export const ErrorBody = z
  .strictObject({
    error: z.strictObject({
      code: z.string().meta({ description: 'Stable machine-readable code.', example: 'not_found' }),
      message: z.string().describe('Human-readable explanation.'),
      details: z
        .strictObject({
          issues: z.array(z.strictObject({ path: z.string(), message: z.string() })).optional().describe('For invalid_input: each field problem.'),
          eventId: integer.optional().describe('For webhook refusals: the stored event.'),
        })
        .optional(),
    }),
  })
  .describe('The one error shape of the API.');

export const Site = z.strictObject({
  id: integer,
  key: z.string().describe('Public key used in the webhook URL.'),
  name: z.string(),
  publicUrl: z.string().nullable().describe('Base URL override for this site, normalised (no trailing slash); null uses the server default.'),
  kartraEnabled: z.boolean(),
  createdAt: dateTime,
});
export const SiteList = z.strictObject({ sites: z.array(Site) });

export const Level = z.strictObject({ id: integer, name: z.string(), createdAt: dateTime });
export const LevelList = z.strictObject({ levels: z.array(Level) });

const IntegrationSecret = z.strictObject({
  id: integer,
  hint: z.string().describe('Last characters of the secret, to tell URLs apart.'),
  current: z.boolean(),
  createdAt: dateTime,
  validUntil: dateTime.nullable().describe('For a rotated-out secret, the end of its grace period.'),
  lastUsedAt: dateTime.nullable(),
});

const IntegrationSettings = z.strictObject({
  moneyChannels: z.enum(MONEY_CHANNELS),
  publicUrl: z.string().nullable(),
  graceDays: integer,
  cancelMode: z.enum(['immediate', 'period_end']),
  quietFeedHours: integer,
  rawBodyRetentionDays: integer,
  secretGraceHours: integer,
  tagAccess: z.boolean().describe('Whether mapped Kartra tags grant and revoke access (on by default).'),
  membershipAccess: z.boolean().describe('Whether mapped Kartra membership levels grant and revoke access (on by default).'),
  verifyWithKartra: z.boolean().describe('Verify-by-callback: money events that could be forged wait for Kartra to confirm them (off by default).'),
  reconcileEveryHours: integer.describe("How often the site's members are compared with Kartra's records, in hours; 0: no schedule."),
});

const integrationFields = {
  enabled: z.boolean(),
  webhookUrl: z.string().nullable().describe('The full URL with its secret: only in the answer that created the secret.'),
  webhookUrlMasked: z.string().nullable(),
  webhookUrlNote: z.string(),
  secrets: z.array(IntegrationSecret),
  lastEventAt: dateTime.nullable(),
  lastEventAction: z.string().nullable(),
  ipnSecretSet: z.boolean().describe('Whether an IPN secret_key is configured; the secret itself is never returned.'),
  settings: IntegrationSettings,
};
export const Integration = z.strictObject(integrationFields);

const IntegrationHealth = z.strictObject({
  lastEvent: z.strictObject({ at: dateTime, action: z.string().nullable() }).nullable(),
  lastByAction: z.array(z.strictObject({ action: z.string(), at: dateTime })),
  countsLast24h: countsByStatus.describe('Events per status.'),
  countsLast7d: countsByStatus.describe('Events per status.'),
});
export const IntegrationWithHealth = z.strictObject({ ...integrationFields, health: IntegrationHealth });

const ReapplyCounts = {
  eventCount: integer,
  outcomes: countsByStatus.describe('Events per resulting outcome.'),
};
export const ReapplyResult = z.strictObject(ReapplyCounts);
const AppliedToPast = z
  .strictObject({ ...ReapplyCounts, membersReconciled: integer })
  .nullable()
  .describe('What applyToPast did; null without it.');

export const Mapping = z.strictObject({
  productId: z.string(),
  productName: z.string().nullable(),
  levels: z.array(Level),
  billingPeriodDays: integer.nullable(),
  memberCount: integer.describe('Members holding an active grant from this product.'),
});
export const MappingList = z.strictObject({ mappings: z.array(Mapping) });
export const MappingPreview = z.strictObject({
  productId: z.string(),
  unmappedEvents: integer.describe("Stored unmapped events of the product that applyToPast re-applies."),
  people: integer.describe('Distinct people (lead id, else email) in them.'),
  recordedPurchases: integer.describe('Purchases on record whose grants would follow the mapping.'),
});
export const MappingSaved = z.strictObject({ mapping: Mapping, preview: MappingPreview.describe('Measured before saving.'), applied: AppliedToPast });
export const RevokedGrants = z.strictObject({ revokedGrants: integer });

export const DiscoveredProduct = z.strictObject({
  productId: z.string(),
  productName: z.string().nullable(),
  firstSeenAt: dateTime.nullable(),
  lastSeenAt: dateTime.nullable(),
  eventCount: integer,
  buyerCount: integer,
  countsCapped: z.boolean().describe('The counts are of the newest 500 events only: lower bounds ("500+").'),
});
export const DiscoveredProductList = z.strictObject({ products: z.array(DiscoveredProduct) });

const assetKind = z.enum(['tag', 'membership']);
const assetSummaryFields = {
  key: z.string().describe('Opaque key of the tag or membership level on this site.'),
  kind: assetKind,
  label: z.string().describe('As people read it: `tag "VIP"`, `membership "Academy" level "Pro"`.'),
  name: z.string().nullable().describe('The tag name, or the level name.'),
  kartraId: z.string().nullable().describe("Kartra's tag id, or level id."),
  membershipId: z.string().nullable(),
  membershipName: z.string().nullable(),
};
export const AssetMapping = z.strictObject({
  ...assetSummaryFields,
  levels: z.array(Level),
  memberCount: integer.describe('Members holding an active grant from it.'),
});
export const AssetMappingList = z.strictObject({ assetMappings: z.array(AssetMapping) });
export const AssetMappingPreview = z.strictObject({
  assetKey: z.string(),
  unmappedEvents: integer.describe('Stored unmapped events of it that applyToPast re-applies.'),
  people: integer.describe('Distinct people (lead id, else email) in them.'),
  recordedMembers: integer.describe('Members with assignments on record, brought in line with the mapping.'),
});
export const AssetMappingSaved = z.strictObject({ assetMapping: AssetMapping, preview: AssetMappingPreview.describe('Measured before saving.'), applied: AppliedToPast });
export const DiscoveredAsset = z.strictObject({
  ...assetSummaryFields,
  firstSeenAt: dateTime.nullable(),
  lastSeenAt: dateTime.nullable(),
  eventCount: integer,
  leadCount: integer,
});
export const DiscoveredAssetList = z.strictObject({ tags: z.array(DiscoveredAsset), memberships: z.array(DiscoveredAsset) });

const memberFields = {
  id: integer,
  siteId: integer,
  kartraLeadId: z.string().nullable(),
  email: z.string().nullable(),
  firstName: z.string().nullable(),
  lastName: z.string().nullable(),
  createdAt: dateTime,
  updatedAt: dateTime,
  levels: z
    .array(
      z.strictObject({
        id: integer,
        name: z.string(),
        accessEndsAt: dateTime.nullable().describe('When access to this level ends unless something changes; null while a grant gives it without an end.'),
      }),
    )
    .describe('Effective levels now.'),
};
export const Member = z.strictObject(memberFields);
export const MemberPage = z.strictObject({
  members: z.array(Member),
  nextCursor: z.string().nullable().describe('Pass as `cursor` for the next page; null on the last page.'),
  nextAfter: integer.nullable().meta({ deprecated: true, description: 'Deprecated: use `nextCursor`. Pass as `after` for the next page; null on the last page.' }),
});

const grantFields = {
  id: integer,
  siteId: integer,
  memberId: integer,
  levelId: integer,
  sourceType: z.enum(['purchase', 'manual', 'tag', 'membership']),
  sourceKey: z.string(),
  productId: z.string().nullable(),
  transactionId: z.string().nullable(),
  subscriptionId: z.string().nullable(),
  status: z.enum(['active', 'revoked']),
  revokedReason: z.string().nullable(),
  adminLocked: z.boolean(),
  expiresAt: dateTime.nullable().describe('When access from this grant ends by itself (expiry, grace, paid period).'),
  createdAt: dateTime,
  updatedAt: dateTime,
};
export const Grant = z.strictObject(grantFields);

const grantHistoryFields = {
  id: integer,
  siteId: integer,
  grantId: integer,
  memberId: integer,
  levelId: integer,
  change: z.enum(['granted', 'confirmed', 'revoked', 'restored', 'expires', 'expired']),
  reason: z.string(),
  eventId: integer.nullable(),
  actor: z.string(),
  at: dateTime,
};
export const GrantHistoryEntry = z.strictObject(grantHistoryFields);
export const EmailChange = z.strictObject({
  id: integer,
  memberId: integer,
  previousEmail: z.string().nullable(),
  newEmail: z.string(),
  eventId: integer.nullable(),
  changedAt: dateTime,
});

export const MemberDetail = z.strictObject({
  ...memberFields,
  grants: z.array(
    z.strictObject({
      ...grantFields,
      levelName: z.string(),
      assetLabel: z.string().nullable().describe('For a grant from a Kartra tag or membership level, which one (`tag "VIP"`).'),
      effective: z.boolean(),
      history: z.array(GrantHistoryEntry),
    }),
  ),
  emailChanges: z.array(EmailChange),
});

export const EventStatus = z.enum(EVENT_STATUSES);

const eventSummaryFields = {
  id: integer,
  receivedAt: dateTime,
  channel: z.string().describe('`outbound`, `ipn` or `unknown`.'),
  status: EventStatus,
  kind: z.string().nullable(),
  action: z.string().nullable(),
  productId: z.string().nullable(),
  assetKey: z.string().nullable().describe('The Kartra tag or membership level of a tag or membership event.'),
  leadId: z.string().nullable(),
  email: z.string().nullable(),
  transactionId: z.string().nullable(),
  memberId: integer.nullable(),
  duplicateOfEventId: integer.nullable(),
  summary: z.string().nullable(),
  attempts: integer,
};
export const EventSummary = z.strictObject(eventSummaryFields);
export const EventPage = z.strictObject({
  events: z.array(EventSummary),
  nextCursor: z.string().nullable().describe('Pass as `cursor` for the next page; null on the last page.'),
});

export const EventDetail = z.strictObject({
  ...eventSummaryFields,
  sourceIp: z.string().nullable(),
  headers: z.record(z.string(), z.string()),
  kartraTimeRaw: z.string().nullable(),
  kartraTimeAt: dateTime.nullable(),
  fingerprint: z.string().nullable(),
  parsed: z.unknown().describe('The typed event the body parsed to, or null.'),
  notes: z.array(z.strictObject({ path: z.string(), message: z.string() })),
  error: z.string().nullable(),
  processedAt: dateTime.nullable(),
  rawBody: z
    .string()
    .nullable()
    .describe('The body as received, as text, its Content-Encoding undone, with the IPN secret_key masked in every spelling the parser reads; null once retention pruned it.'),
  rawBodyBytes: integer.describe('Bytes stored: 0 once pruned.'),
  rawBodyPrunedAt: dateTime.nullable().describe("When retention pruned the raw body under the site's setting; null while it is kept."),
  rawBodyNote: z.string().optional().describe('Present when the body was pruned, was shown decoded, or did not match its Content-Encoding.'),
  effects: z.strictObject({
    grantChanges: z.array(z.strictObject({ ...grantHistoryFields, levelName: z.string() })),
    emailChanges: z.array(EmailChange),
  }),
});
export const EventReapplied = z.strictObject({ outcome: EventStatus, event: EventDetail });

// Written from AttentionReport (domain/attention/attention-service.ts).
const EventAttention = z.strictObject({
  count: integer.describe('Counted up to a cap (1,000).'),
  countIsLowerBound: z.boolean().describe('The count reached its cap: there are at least `count` ("1000+").'),
  latest: z.array(z.strictObject({ id: integer, receivedAt: dateTime, summary: z.string().nullable(), error: z.string().nullable() })),
});
export const Attention = z.strictObject({
  pastDue: z.array(
    z.strictObject({
      memberId: integer,
      email: z.string().nullable(),
      productId: z.string(),
      sourceKey: z.string(),
      subscriptionId: z.string().nullable(),
      failedAt: dateTime,
      graceEndsAt: dateTime,
    }),
  ),
  chargebacks: z.array(
    z.strictObject({
      memberId: integer,
      email: z.string().nullable(),
      productId: z.string(),
      transactionId: z.string().nullable(),
      chargedBackOrderId: z.string().nullable(),
      occurredAt: dateTime,
      eventId: integer,
    }),
  ),
  chargebackWindowDays: integer.describe('Chargebacks of this many days are listed, newest first.'),
  failedEvents: EventAttention,
  rejectedEvents: EventAttention,
  deadNotifications: z.strictObject({
    count: integer.describe('Listed, at most 50.'),
    countIsLowerBound: z.boolean().describe('There are more than `count`.'),
    windowDays: integer.describe('Dead letters created in this many days are listed, newest first.'),
    latest: z.array(
      z.strictObject({
        outboxId: integer,
        endpointId: integer,
        endpointUrl: z.string(),
        type: z.string(),
        createdAt: dateTime,
        lastError: z.string().nullable(),
      }),
    ),
  }).describe('Notifications to the site\'s endpoints that gave up after their attempts (dead letters); replay them from the endpoint.'),
  unmappedProducts: z.array(DiscoveredProduct),
  quietFeed: z.strictObject({ quiet: z.boolean(), lastEventAt: dateTime.nullable(), thresholdHours: integer }),
  total: integer.describe('How many things are listed: what a badge shows.'),
  totalIsLowerBound: z.boolean().describe('A count reached its cap: there are at least `total` things to look at.'),
});

export const WebhookAccepted = z.strictObject({
  received: z.literal(true),
  eventId: integer,
  outcome: z.enum(['applied', 'duplicate', 'unmapped', 'ignored', 'failed']),
});

// Notifications to the host site's endpoints (domain/notifications/*).
const NotificationType = z.enum(NOTIFICATION_TYPES);
const endpointFields = {
  id: integer,
  url: z.string().describe('https (http only for localhost, 127.0.0.1 or [::1]); no private IP addresses, user:pass@, query or fragment.'),
  description: z.string(),
  eventTypes: z.array(NotificationType),
  enabled: z.boolean(),
  createdAt: dateTime,
  previousSecretValidUntil: dateTime.nullable().describe('After a rotation: the old secret signs beside the new one until then.'),
  messages: z.strictObject({ pending: integer, delivered: integer, dead: integer }).describe('Messages to this endpoint per state.'),
};
export const NotificationEndpoint = z.strictObject(endpointFields);
export const NotificationEndpointList = z.strictObject({ endpoints: z.array(NotificationEndpoint) });
export const NotificationEndpointWithSecret = z.strictObject({
  ...endpointFields,
  secret: z.string().regex(/^whsec_/).describe('The Standard Webhooks signing secret, shown only in this answer.'),
  secretNote: z.string(),
});
export const NotificationBody = z
  .strictObject({
    type: z.string().describe('A notification type, or `notification.test`.'),
    timestamp: z.iso.datetime(),
    data: z
      .record(z.string(), z.unknown())
      .describe(
        'Always `siteId`. member.created: memberId, email, kartraLeadId, firstName, lastName, createdAt, eventId. access.granted / access.revoked / access.past_due: memberId, email, kartraLeadId, grantId, levelId, sourceType, productId, status, expiresAt, reason, eventId (null for admin and system changes); access.past_due also failedAt and graceEndsAt. event.failed: eventId, error, receivedAt. notification.test: endpointId, message.',
      ),
  })
  .describe(
    'What kartra-access POSTs to an endpoint, as JSON, signed as Standard Webhooks: `webhook-id` (the same across retries and resends), `webhook-timestamp` (seconds, of the attempt), `webhook-signature` (`v1,<base64 HMAC-SHA256>`, two during a rotation grace period).',
  );
const notificationFields = {
  id: integer,
  webhookId: z.string().describe('The `webhook-id` header: the same across retries and resends.'),
  type: z.string(),
  status: z.enum(['pending', 'delivered', 'dead']),
  attempts: integer,
  nextAttemptAt: dateTime.nullable().describe('While pending: when the next attempt is due.'),
  lastStatusCode: integer.nullable(),
  lastError: z.string().nullable(),
  createdAt: dateTime,
  deliveredAt: dateTime.nullable(),
  payload: NotificationBody,
};
export const Notification = z.strictObject(notificationFields);
export const NotificationPage = z.strictObject({
  messages: z.array(Notification),
  nextCursor: z.string().nullable().describe('Pass as `cursor` for the next page; null on the last page.'),
});
export const DeliveryAttempt = z.strictObject({
  attemptedAt: dateTime,
  statusCode: integer.nullable().describe('null: no answer (timeout, refused connection).'),
  durationMs: integer,
  error: z.string().nullable(),
});
export const NotificationDetail = z.strictObject({ ...notificationFields, deliveries: z.array(DeliveryAttempt).describe('Every attempt, oldest first.') });
export const NotificationsRequeued = z.strictObject({ requeued: integer.describe('How many messages were queued again.') });

// A site's Kartra API credentials (domain/kartra-account/kartra-account-service.ts): never the key or password.
export const KartraCredentials = z.strictObject({
  appId: z.string(),
  apiKeyHint: z.string().describe('The last 4 characters of the API key, to tell which key is saved.'),
  savedAt: dateTime,
  lastCheckedAt: dateTime.nullable().describe('The last connection test (or a call Kartra refused them on); null after saving.'),
  lastCheckOk: z.boolean().nullable(),
  lastCheckMessage: z.string().nullable(),
  problem: z
    .enum(['sealed_with_other_key', 'no_secrets_key'])
    .nullable()
    .describe('Why they cannot be used now: sealed with another SECRETS_KEY (enter them again), or SECRETS_KEY is not set. null when usable.'),
  problemMessage: z.string().nullable(),
});
export const KartraCredentialsState = z.strictObject({
  credentials: KartraCredentials.nullable().describe('null when none are saved.'),
  canStoreCredentials: z.boolean().describe('false on PostgreSQL without SECRETS_KEY: saving is refused with 409 until it is set.'),
});
export const KartraConnectionTest = z.strictObject({
  ok: z.boolean(),
  message: z.string().describe("What Kartra said (its own error message on a refusal), or why it was not asked."),
  checkedAt: dateTime,
});

/** What presenters and handlers hand to res.json: times as Dates, which JSON writes as the ISO strings above. */
export type Presented<S extends z.ZodType> = z.output<S>;
