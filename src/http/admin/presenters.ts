import type { KartraCredentialsView } from '../../domain/kartra-account/kartra-account-service';
import type { EndpointView } from '../../domain/notifications/notification-service';
import type { DeliveryAttempt, OutboxMessage } from '../../domain/notifications/notification-model';
import { readableBody } from '../../domain/webhook-events/delivered-body';
import type { IntegrationState } from '../../domain/sites/site-service';
import type { AssetMappingView } from '../../domain/mapping/asset-mapping-service';
import type { MappingView } from '../../domain/mapping/product-mapping-service';
import type { MemberSummary } from '../../domain/members/member-service';
import type { EventEffects } from '../../domain/webhook-events/event-log-service';
import type { AccessLevel, ApiToken, Site, WebhookEventRecord, WebhookEventSummary } from '../../domain/model';
import { encodeMemberCursor } from './member-cursor';
import { encodeNotificationCursor } from './notification-cursor';
import type * as Wire from './response-schemas';
import type { Presented } from './response-schemas';

/**
 * Wire shapes of the admin API: explicit, so no internal field (a secret's hash, say) ever leaks by accident. Each is
 * typed by its schema in response-schemas.ts, so a field the schema does not declare, or one it requires and the
 * presenter forgets, fails the type check.
 */

export const presentSite = (site: Site): Presented<typeof Wire.Site> => ({
  id: site.id,
  key: site.key,
  name: site.name,
  publicUrl: site.publicUrl,
  kartraEnabled: site.kartraEnabled,
  createdAt: site.createdAt,
});

export const presentLevel = (level: AccessLevel): Presented<typeof Wire.Level> => ({ id: level.id, name: level.name, createdAt: level.createdAt });

export const presentIntegration = (state: IntegrationState): Presented<typeof Wire.Integration> => ({
  enabled: state.enabled,
  webhookUrl: state.webhookUrl,
  webhookUrlMasked: state.webhookUrlMasked,
  webhookUrlNote: state.webhookUrl
    ? 'Copy this URL now: it contains a secret and is shown only once. Rotate to get a new one.'
    : 'The webhook URL was shown when it was created; rotate to get a new one (the old one keeps working for the grace period).',
  secrets: state.secrets,
  lastEventAt: state.lastEventAt,
  lastEventAction: state.lastEventAction,
  ipnSecretSet: state.ipnSecretSet,
  settings: {
    moneyChannels: state.moneyChannels,
    publicUrl: state.publicUrl,
    graceDays: state.graceDays,
    cancelMode: state.cancelMode,
    quietFeedHours: state.quietFeedHours,
    rawBodyRetentionDays: state.rawBodyRetentionDays,
    secretGraceHours: state.secretGraceHours,
    tagAccess: state.tagAccess,
    membershipAccess: state.membershipAccess,
    verifyWithKartra: state.verifyWithKartra,
    reconcileEveryHours: state.reconcileEveryHours,
  },
});

export const presentKartraCredentials = (view: KartraCredentialsView): Presented<typeof Wire.KartraCredentials> => ({
  appId: view.appId,
  apiKeyHint: view.apiKeyHint,
  savedAt: view.savedAt,
  lastCheckedAt: view.lastCheckedAt,
  lastCheckOk: view.lastCheckOk,
  lastCheckMessage: view.lastCheckMessage,
  problem: view.problem,
  problemMessage: view.problemMessage,
});

export const presentToken = (token: ApiToken) => ({
  id: token.id,
  name: token.name,
  prefix: token.tokenPrefix,
  siteId: token.siteId,
  createdAt: token.createdAt,
  lastUsedAt: token.lastUsedAt,
  revokedAt: token.revokedAt,
});

export function presentEventSummary(event: WebhookEventSummary): Presented<typeof Wire.EventSummary> {
  return {
    id: event.id,
    receivedAt: event.receivedAt,
    channel: event.channel,
    status: event.status,
    kind: event.kind,
    action: event.action,
    productId: event.productId,
    assetKey: event.assetKey,
    leadId: event.leadId,
    email: event.email,
    transactionId: event.transactionId,
    memberId: event.memberId,
    duplicateOfEventId: event.duplicateOfEventId,
    summary: event.summary,
    attempts: event.attempts,
  };
}

export function presentEventDetail(event: WebhookEventRecord, effects: EventEffects): Presented<typeof Wire.EventDetail> {
  const readable = event.rawBodyPrunedAt ? null : readableBody(event.rawBody, event.headers);
  return {
    ...presentEventSummary(event),
    sourceIp: event.sourceIp,
    headers: event.headers,
    kartraTimeRaw: event.kartraTimeRaw,
    kartraTimeAt: event.kartraTimeAt,
    fingerprint: event.fingerprint,
    parsed: event.parsed,
    notes: event.notes,
    error: event.error,
    processedAt: event.processedAt,
    // The body as received, as text (see readableBody). After retention pruned it, null and a note saying so, rather
    // than an empty body that looks like what Kartra sent.
    rawBody: readable?.text ?? null,
    rawBodyBytes: event.rawBody.length,
    rawBodyPrunedAt: event.rawBodyPrunedAt,
    ...(event.rawBodyPrunedAt
      ? { rawBodyNote: `raw body pruned on ${event.rawBodyPrunedAt.toISOString()} under the site's retention setting; the outcome and effects above are kept` }
      : readable?.note
        ? { rawBodyNote: readable.note }
        : {}),
    effects,
  };
}

export const presentAssetMapping = (mapping: AssetMappingView): Presented<typeof Wire.AssetMapping> => ({
  key: mapping.key,
  kind: mapping.kind,
  label: mapping.label,
  name: mapping.name,
  kartraId: mapping.kartraId,
  membershipId: mapping.membershipId,
  membershipName: mapping.membershipName,
  levels: mapping.levels.map(presentLevel),
  memberCount: mapping.memberCount,
});

export const presentMapping = (mapping: MappingView): Presented<typeof Wire.Mapping> => ({
  productId: mapping.productId,
  productName: mapping.productName,
  levels: mapping.levels.map(presentLevel),
  billingPeriodDays: mapping.billingPeriodDays,
  memberCount: mapping.memberCount,
});

/** A page of members from a search asked for one more than `limit`: that extra one only says another page exists. */
export function presentMemberPage(found: MemberSummary[], limit: number): Presented<typeof Wire.MemberPage> {
  const members = found.slice(0, limit);
  const last = members[members.length - 1];
  const hasMore = found.length > limit && last !== undefined;
  return {
    members,
    nextCursor: hasMore ? encodeMemberCursor(last.id) : null,
    // Deprecated with the `after` parameter; kept for clients written before the cursor.
    nextAfter: hasMore ? last.id : null,
  };
}

export const presentEndpoint = (endpoint: EndpointView): Presented<typeof Wire.NotificationEndpoint> => ({
  id: endpoint.id,
  url: endpoint.url,
  description: endpoint.description,
  eventTypes: endpoint.eventTypes,
  enabled: endpoint.enabled,
  createdAt: endpoint.createdAt,
  previousSecretValidUntil: endpoint.previousSecretValidUntil,
  messages: { pending: endpoint.counts.pending ?? 0, delivered: endpoint.counts.delivered ?? 0, dead: endpoint.counts.dead ?? 0 },
});

export const presentEndpointWithSecret = ({ endpoint, secret }: { endpoint: EndpointView; secret: string }): Presented<typeof Wire.NotificationEndpointWithSecret> => ({
  ...presentEndpoint(endpoint),
  secret,
  secretNote: 'Copy this signing secret now: it is shown only once. Rotate to get a new one.',
});

export const presentNotification = (message: OutboxMessage): Presented<typeof Wire.Notification> => ({
  id: message.id,
  webhookId: message.messageId,
  type: message.type,
  status: message.status,
  attempts: message.attempts,
  nextAttemptAt: message.status === 'pending' ? message.nextAttemptAt : null,
  lastStatusCode: message.lastStatusCode,
  lastError: message.lastError,
  createdAt: message.createdAt,
  deliveredAt: message.deliveredAt,
  // The body exactly as it is sent (notifier.ts writes it), so its shape is the document's NotificationBody.
  payload: JSON.parse(message.payload) as Presented<typeof Wire.NotificationBody>,
});

/** A page of messages asked for one more than `limit`: that extra one only says another page exists. */
export function presentNotificationPage(found: OutboxMessage[], limit: number): Presented<typeof Wire.NotificationPage> {
  const messages = found.slice(0, limit);
  const last = messages[messages.length - 1];
  return { messages: messages.map(presentNotification), nextCursor: found.length > limit && last !== undefined ? encodeNotificationCursor(last.id) : null };
}

export const presentDeliveryAttempt = (attempt: DeliveryAttempt): Presented<typeof Wire.DeliveryAttempt> => ({
  attemptedAt: attempt.attemptedAt,
  statusCode: attempt.statusCode,
  durationMs: attempt.durationMs,
  error: attempt.error,
});
