import { createHash } from 'node:crypto';
import type { AssetReference, KartraEvent } from './kartra-event';

const REDELIVERY_WINDOW_MS = 10 * 60 * 1000;

/**
 * Kartra sends no event id, so an event is identified by the parts that make it this event, never by its bytes:
 * the same order reaches us as outbound JSON and as an IPN form, and must count once (REFERENCE.md §2, §8).
 *
 * - Money events with an order id: the kind and Kartra's order id ("all transaction entries have a unique Order
 *   ID", REFERENCE.md §8), plus the product, because an IPN is per product.
 * - Money events without an order id: kind, lead, product, subscription, pay number and amount.
 * - Tag and membership events carry no id and no documented time: the action, the person and the asset (its id
 *   when sent, else its name, trimmed and case-folded) within a ten-minute window of receipt. The same action on
 *   the same asset in the window is a likely redelivery, but a lead can also lose and regain a tag within minutes,
 *   so the intake treats a match as a duplicate only when no opposite change of the same asset came between.
 * - Other events (lists, pages…) carry no id or time at all; a repeat within ten minutes counts as a redelivery.
 *   They change no access, so the window only keeps the log honest.
 */
export function fingerprintEvent(event: KartraEvent, receivedAt: Date): string {
  const person = event.lead.leadId ? `lead:${event.lead.leadId}` : `email:${event.lead.email ?? ''}`;
  const window = String(Math.floor(receivedAt.getTime() / REDELIVERY_WINDOW_MS));
  let identity: string[];
  if (event.kind === 'other') {
    identity = ['other', event.action, person, event.asset?.type ?? '', event.asset?.id ?? '', window];
  } else if (event.kind === 'asset') {
    identity = ['asset', event.action, person, assetIdentity(event.asset), window];
  } else if (event.transaction.transactionId) {
    identity = [event.kind, event.transaction.productId, `order:${event.transaction.transactionId}`];
  } else {
    const { productId, subscriptionId, payNumber, amountCents, parentTransactionId } = event.transaction;
    identity = [event.kind, person, productId, subscriptionId ?? '', String(payNumber ?? ''), String(amountCents ?? ''), parentTransactionId ?? ''];
  }
  return createHash('sha256').update(identity.join('\u0000')).digest('hex');
}

/** A tag by its id, else its name; a membership level by membership and level id, else their names. */
function assetIdentity(asset: AssetReference): string {
  if (asset.kind === 'tag') return asset.tagId ? `tag-id:${asset.tagId}` : `tag:${foldName(asset.tagName)}`;
  if (asset.levelId) return `level-id:${asset.membershipId ?? ''}:${asset.levelId}`;
  return `level:${foldName(asset.membershipName)}/${foldName(asset.levelName)}`;
}

/** Trimmed, inner white space collapsed, lower-cased, as asset matching compares names (domain/assets). */
function foldName(name: string | undefined): string {
  return (name ?? '').trim().replace(/\s+/g, ' ').toLowerCase();
}
