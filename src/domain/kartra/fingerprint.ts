import { createHash } from 'node:crypto';
import type { KartraEvent } from './kartra-event';

const OTHER_EVENT_WINDOW_MS = 10 * 60 * 1000;

/**
 * Kartra sends no event id, so an event is identified by the parts that make it this event, never by its bytes:
 * the same order reaches us as outbound JSON and as an IPN form, and must count once (REFERENCE.md §2, §8).
 *
 * - Money events with an order id: the kind and Kartra's order id ("all transaction entries have a unique Order
 *   ID", REFERENCE.md §8), plus the product, because an IPN is per product.
 * - Money events without an order id: kind, lead, product, subscription, pay number and amount.
 * - Other events (tags, lists…) carry no id or time at all; a repeat within ten minutes counts as a redelivery.
 *   They change no access, so the window only keeps the log honest.
 */
export function fingerprintEvent(event: KartraEvent, receivedAt: Date): string {
  const person = event.lead.leadId ? `lead:${event.lead.leadId}` : `email:${event.lead.email ?? ''}`;
  let identity: string[];
  if (event.kind === 'other') {
    const window = Math.floor(receivedAt.getTime() / OTHER_EVENT_WINDOW_MS);
    identity = ['other', event.action, person, event.asset?.type ?? '', event.asset?.id ?? '', String(window)];
  } else if (event.transaction.transactionId) {
    identity = [event.kind, event.transaction.productId, `order:${event.transaction.transactionId}`];
  } else {
    const { productId, subscriptionId, payNumber, amountCents, parentTransactionId } = event.transaction;
    identity = [event.kind, person, productId, subscriptionId ?? '', String(payNumber ?? ''), String(amountCents ?? ''), parentTransactionId ?? ''];
  }
  return createHash('sha256').update(identity.join('\u0000')).digest('hex');
}
