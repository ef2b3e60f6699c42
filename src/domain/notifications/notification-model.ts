/** The notifications kartra-access sends to a site's own endpoints: our shapes, documented in the OpenAPI document. */

export const NOTIFICATION_TYPES = ['member.created', 'access.granted', 'access.revoked', 'access.past_due', 'event.failed'] as const;
export type NotificationType = (typeof NOTIFICATION_TYPES)[number];
/** Sent only by "send test notification", to one endpoint, whatever types it subscribes to. */
export const TEST_NOTIFICATION_TYPE = 'notification.test';
export type MessageType = NotificationType | typeof TEST_NOTIFICATION_TYPE;

export interface NotificationEndpoint {
  id: number;
  siteId: number;
  url: string;
  description: string;
  eventTypes: NotificationType[];
  enabled: boolean;
  /** `whsec_` + base64 of 32 random bytes; the signing key. Never presented after the answer that created it. */
  secret: string;
  /** The secret before the last rotation, still signing until `previousSecretValidUntil`. */
  previousSecret: string | null;
  previousSecretValidUntil: Date | null;
  createdAt: Date;
}

export type OutboxStatus = 'pending' | 'delivered' | 'dead';

/** One message to one endpoint: a row of the outbox, written in the transaction of the change it reports. */
export interface OutboxMessage {
  id: number;
  siteId: number;
  endpointId: number;
  type: MessageType;
  /** The JSON body exactly as it is sent, every attempt and every resend alike. */
  payload: string;
  /** The `webhook-id`: the same across retries and resends, so a receiver can drop what it has already seen. */
  messageId: string;
  status: OutboxStatus;
  attempts: number;
  nextAttemptAt: Date;
  /** A worker that claimed the row owns it until then; after that (it crashed), any worker may claim it again. */
  lockedUntil: Date | null;
  lastError: string | null;
  lastStatusCode: number | null;
  createdAt: Date;
  deliveredAt: Date | null;
}

/** One POST of a message, as the delivery log shows it. */
export interface DeliveryAttempt {
  id: number;
  siteId: number;
  outboxId: number;
  endpointId: number;
  attemptedAt: Date;
  /** null: no answer (timeout, refused connection). */
  statusCode: number | null;
  durationMs: number;
  error: string | null;
}
