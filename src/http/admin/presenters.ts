import { readableBody } from '../../domain/webhook-events/delivered-body';
import type { IntegrationState } from '../../domain/sites/site-service';
import type { AssetMappingView } from '../../domain/mapping/asset-mapping-service';
import type { AccessLevel, ApiToken, Site, WebhookEventRecord, WebhookEventSummary } from '../../domain/model';

/** Wire shapes of the admin API: explicit, so no internal field (a secret's hash, say) ever leaks by accident. */

export const presentSite = (site: Site) => ({
  id: site.id,
  key: site.key,
  name: site.name,
  publicUrl: site.publicUrl,
  kartraEnabled: site.kartraEnabled,
  createdAt: site.createdAt,
});

export const presentLevel = (level: AccessLevel) => ({ id: level.id, name: level.name, createdAt: level.createdAt });

export const presentIntegration = (state: IntegrationState) => ({
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
  },
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

export function presentEventSummary(event: WebhookEventSummary) {
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

export function presentEventDetail(event: WebhookEventRecord, effects: unknown) {
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

export const presentAssetMapping = (mapping: AssetMappingView) => ({
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
