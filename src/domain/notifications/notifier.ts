import type { Clock, Tx } from '../ports';
import { TEST_NOTIFICATION_TYPE, type MessageType, type NotificationEndpoint, type NotificationType } from './notification-model';
import { newMessageId } from './signature';

/** The body every notification has (Standard Webhooks' recommended shape): what happened, when, and its data. */
export interface NotificationBody {
  type: MessageType;
  timestamp: string;
  data: Record<string, unknown>;
}

export type Notifier = ReturnType<typeof createNotifier>;

/**
 * Puts notifications in the outbox, in the caller's transaction: the row commits with the change it reports or not
 * at all, so no change goes unreported and no notification reports a change that was rolled back. Fanned out at
 * enqueue, one row per subscribed endpoint, so each endpoint's retries and dead letters are its own.
 */
export function createNotifier({ clock }: { clock: Clock }) {
  async function enqueueTo(tx: Pick<Tx, 'outbox'>, endpoint: NotificationEndpoint, type: MessageType, data: Record<string, unknown>): Promise<void> {
    const now = clock.now();
    const body: NotificationBody = { type, timestamp: now.toISOString(), data };
    await tx.outbox.enqueue({ siteId: endpoint.siteId, endpointId: endpoint.id, type, payload: JSON.stringify(body), messageId: newMessageId(), createdAt: now });
  }

  /**
   * `data` may be a function: it is then called only when some endpoint subscribes, so a site without endpoints
   * pays one indexed read per change and nothing more (the intake runs this for every grant it touches).
   */
  async function notify(
    tx: Pick<Tx, 'outbox' | 'notificationEndpoints'>,
    siteId: number,
    type: NotificationType,
    data: Record<string, unknown> | (() => Promise<Record<string, unknown>>),
  ): Promise<number> {
    const endpoints = (await tx.notificationEndpoints.list(siteId)).filter((endpoint) => endpoint.enabled && endpoint.eventTypes.includes(type));
    if (endpoints.length === 0) return 0;
    const resolved = typeof data === 'function' ? await data() : data;
    for (const endpoint of endpoints) await enqueueTo(tx, endpoint, type, { siteId, ...resolved });
    return endpoints.length;
  }

  async function notifyTest(tx: Pick<Tx, 'outbox'>, endpoint: NotificationEndpoint): Promise<void> {
    await enqueueTo(tx, endpoint, TEST_NOTIFICATION_TYPE, { siteId: endpoint.siteId, endpointId: endpoint.id, message: 'a test notification from kartra-access' });
  }

  return { notify, notifyTest };
}
