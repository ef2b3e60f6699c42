import type { DeliveryAttempt, MessageType, NotificationEndpoint, NotificationType, OutboxMessage, OutboxStatus } from '../domain/notifications/notification-model';
import { toDate, toDateOrNull } from './time-columns';

// Rows of the notification tables as both adapters read them (see site-rows.ts for why one mapping serves both).

export type NotificationEndpointRow = Omit<NotificationEndpoint, 'eventTypes' | 'createdAt' | 'previousSecretValidUntil'> & {
  eventTypes: string;
  createdAt: number;
  previousSecretValidUntil: number | null;
};
export type OutboxRow = Omit<OutboxMessage, 'type' | 'status' | 'nextAttemptAt' | 'lockedUntil' | 'createdAt' | 'deliveredAt'> & {
  type: string;
  status: string;
  nextAttemptAt: number;
  lockedUntil: number | null;
  createdAt: number;
  deliveredAt: number | null;
};
export type DeliveryAttemptRow = Omit<DeliveryAttempt, 'attemptedAt'> & { attemptedAt: number };

export function toEndpoint(row: NotificationEndpointRow): NotificationEndpoint {
  return {
    ...row,
    eventTypes: JSON.parse(row.eventTypes) as NotificationType[],
    createdAt: toDate(row.createdAt),
    previousSecretValidUntil: toDateOrNull(row.previousSecretValidUntil),
  };
}

export function toOutboxMessage(row: OutboxRow): OutboxMessage {
  return {
    ...row,
    type: row.type as MessageType,
    status: row.status as OutboxStatus,
    nextAttemptAt: toDate(row.nextAttemptAt),
    lockedUntil: toDateOrNull(row.lockedUntil),
    createdAt: toDate(row.createdAt),
    deliveredAt: toDateOrNull(row.deliveredAt),
  };
}

export function toDeliveryAttempt(row: DeliveryAttemptRow): DeliveryAttempt {
  return { ...row, attemptedAt: toDate(row.attemptedAt) };
}

/** The columns an endpoint update writes, in storage form. */
export function endpointChangeColumns(changes: Partial<NotificationEndpoint>): Record<string, unknown> {
  const columns: Record<string, unknown> = { ...changes };
  if (changes.eventTypes) columns.eventTypes = JSON.stringify(changes.eventTypes);
  if ('previousSecretValidUntil' in changes) columns.previousSecretValidUntil = changes.previousSecretValidUntil ? changes.previousSecretValidUntil.getTime() : null;
  return columns;
}
