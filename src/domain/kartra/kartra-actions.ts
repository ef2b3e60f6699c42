import type { AssetEvent, AssetReference, MoneyEventKind } from './kartra-event';

/**
 * Every outbound `action` string Kartra documents (REFERENCE.md §6.8: 24 pages, 25 strings). The ones that move
 * money map to a money event, the tag and membership ones to an asset event; the rest are recognised and logged as
 * changing no access.
 */
export const OUTBOUND_MONEY_ACTIONS: Readonly<Record<string, MoneyEventKind>> = {
  buy_product: 'purchase',
  refund_product: 'refund',
  partial_refund_product: 'partial_refund',
  cancel_subscription: 'subscription_cancel',
};

/** The tag and membership actions (REFERENCE.md §6.5, §6.6): which asset each names and which way it changes. */
export const OUTBOUND_ASSET_ACTIONS: Readonly<Record<string, { asset: AssetReference['kind']; change: AssetEvent['change'] }>> = {
  assign_tag: { asset: 'tag', change: 'assigned' },
  unassign_tag: { asset: 'tag', change: 'removed' },
  membership_granted: { asset: 'membership', change: 'assigned' },
  membership_revoked: { asset: 'membership', change: 'removed' },
};

export const OUTBOUND_OTHER_ACTIONS: ReadonlySet<string> = new Set([
  'list_subscription',
  'list_unsubscription',
  'affiliate_signup',
  'jv_signup',
  'calendar_subscribe',
  'calendar_cancel',
  'calendar_complete',
  'click_page_split_test_link',
  'filled_form',
  'kartra_page_visit',
  'reaches_score',
  'sequence_subscription',
  'sequence_unsubscription',
  'sequence_completion',
  'survey_complete',
  'video_play',
  'video_complete',
]);

/** IPN `transaction_type` values (REFERENCE.md §7.3), and the transaction types seen inside outbound details. */
export const TRANSACTION_TYPES: Readonly<Record<string, MoneyEventKind>> = {
  sale: 'purchase',
  rebill: 'rebill',
  failed: 'payment_failed',
  refund: 'refund',
  partial_refund: 'partial_refund',
  chargeback: 'chargeback',
  cancellation: 'subscription_cancel',
  cancelation: 'subscription_cancel',
  cancel: 'subscription_cancel',
};

/**
 * Own keys only: the action and transaction type come from the body, and a plain lookup would answer
 * "constructor" or "__proto__" with Object.prototype's members instead of "not a money event".
 */
export function outboundMoneyKind(action: string): MoneyEventKind | undefined {
  return Object.hasOwn(OUTBOUND_MONEY_ACTIONS, action) ? OUTBOUND_MONEY_ACTIONS[action] : undefined;
}

export function outboundAssetAction(action: string): (typeof OUTBOUND_ASSET_ACTIONS)[string] | undefined {
  return Object.hasOwn(OUTBOUND_ASSET_ACTIONS, action) ? OUTBOUND_ASSET_ACTIONS[action] : undefined;
}

export function transactionTypeKind(transactionType: string): MoneyEventKind | undefined {
  return Object.hasOwn(TRANSACTION_TYPES, transactionType) ? TRANSACTION_TYPES[transactionType] : undefined;
}
