import { EVENT_STATUSES, type EventStatus, type WebhookEventSummary } from '../../domain/model';
import { formatTime, isoTime } from './format';

/** Plain objects for the templates: strings already formatted in the admin's zone, no rows, no secrets. */

export const OUTCOME_LABELS: Record<EventStatus, string> = {
  received: 'Received',
  applied: 'Applied',
  duplicate: 'Duplicate',
  unmapped: 'Unmapped',
  ignored: 'Ignored',
  invalid: 'Invalid',
  rejected: 'Rejected',
  failed: 'Failed',
};

export function outcomeCounts(last24h: Partial<Record<EventStatus, number>>, last7d: Partial<Record<EventStatus, number>>) {
  return EVENT_STATUSES.filter((status) => (last7d[status] ?? 0) > 0 || (last24h[status] ?? 0) > 0).map((status) => ({
    status,
    label: OUTCOME_LABELS[status],
    last24h: last24h[status] ?? 0,
    last7d: last7d[status] ?? 0,
  }));
}

export function eventRow(event: WebhookEventSummary, timeZone: string) {
  return {
    id: event.id,
    receivedAt: formatTime(event.receivedAt, timeZone),
    receivedAtIso: isoTime(event.receivedAt),
    channel: event.channel === 'ipn' ? 'IPN' : event.channel === 'outbound' ? 'Outbound API' : event.channel,
    action: event.action ?? '—',
    email: event.email,
    productId: event.productId,
    memberId: event.memberId,
    status: event.status,
    statusLabel: OUTCOME_LABELS[event.status],
    summary: event.summary ?? event.error ?? '',
  };
}

const CHANGE_LABELS: Record<string, string> = {
  granted: 'Granted',
  confirmed: 'Confirmed',
  revoked: 'Revoked',
  restored: 'Restored',
  expires: 'Ends',
  expired: 'Ended',
};

export const changeLabel = (change: string): string => CHANGE_LABELS[change] ?? change;

/** "admin:dana@example.com" -> "dana@example.com (admin)"; event actors link to the event instead. */
export function actorLabel(actor: string): string {
  if (actor.startsWith('admin:')) return `${actor.slice('admin:'.length)} (admin)`;
  if (actor === 'mapping') return 'a mapping change';
  if (actor === 'system') return 'the schedule';
  if (actor === 'kartra') return 'Kartra';
  return actor;
}
