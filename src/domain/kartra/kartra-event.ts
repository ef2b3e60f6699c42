/**
 * The channel-neutral event that the rest of kartra-access sees. Only `domain/kartra/` knows how Kartra spells
 * things on the wire; everything downstream works with these types.
 */

export type KartraChannel = 'outbound' | 'ipn';

export interface LeadIdentity {
  leadId?: string;
  email?: string;
  firstName?: string;
  lastName?: string;
}

export interface TransactionFacts {
  transactionId?: string;
  /** The order a refund, partial refund or chargeback applies to. */
  parentTransactionId?: string;
  /** Kartra's internal subscription id when known, else the gateway's subscription id. */
  subscriptionId?: string;
  /** The first order of a subscription. */
  originalTransactionId?: string;
  payNumber?: number;
  amountCents?: number;
  productId: string;
  productName?: string;
  pricePoint?: number;
  /** Kartra's naive "EST" timestamp as sent, and the instant it denotes in the configured zone. */
  occurredAtRaw?: string;
  occurredAt?: Date;
}

export const MONEY_EVENT_KINDS = [
  'purchase',
  'rebill',
  'refund',
  'partial_refund',
  'chargeback',
  'subscription_cancel',
  'payment_failed',
] as const;
export type MoneyEventKind = (typeof MONEY_EVENT_KINDS)[number];

export interface MoneyEvent {
  kind: MoneyEventKind;
  channel: KartraChannel;
  /** Kartra's own name for what happened: the outbound `action` or the IPN `transaction_type`. */
  action: string;
  lead: LeadIdentity;
  transaction: TransactionFacts;
  /** The IPN `secret_key` as sent; checked by the intake, never stored in the parsed event. */
  ipnSecret?: string;
}

/** The tag or membership level a tag or membership event names, as sent (ids and names trimmed, not lower-cased). */
export type AssetReference =
  | { kind: 'tag'; tagId?: string; tagName?: string }
  | { kind: 'membership'; membershipId?: string; membershipName?: string; levelId?: string; levelName?: string };

/**
 * A lead assigned or removed a Kartra tag (`assign_tag`, `unassign_tag`), or granted or revoked a membership level
 * (`membership_granted`, `membership_revoked`): access signals when the site maps the asset to levels.
 */
export interface AssetEvent {
  kind: 'asset';
  channel: KartraChannel;
  action: string;
  change: 'assigned' | 'removed';
  asset: AssetReference;
  lead: LeadIdentity;
  /** Kartra's time of the change, when the event carries one (none is documented for these events). */
  occurredAtRaw?: string;
  occurredAt?: Date;
  ipnSecret?: string;
}

/** An event that changes no access here (lists, pages, forms…), kept for the log. */
export interface OtherEvent {
  kind: 'other';
  channel: KartraChannel;
  action: string;
  /** false for an action Kartra does not document (or one we have never seen). */
  knownAction: boolean;
  lead: LeadIdentity;
  /** The asset the action is about (tag, list, membership level…), when there is one. */
  asset?: { type: string; id?: string; name?: string };
  occurredAtRaw?: string;
  occurredAt?: Date;
  ipnSecret?: string;
}

export type KartraEvent = MoneyEvent | AssetEvent | OtherEvent;

export function isMoneyEvent(event: KartraEvent): event is MoneyEvent {
  return event.kind !== 'other' && event.kind !== 'asset';
}

/** Something in the body we did not understand or had to normalise; logged with the event. */
export interface ParseNote {
  path: string;
  message: string;
}

export type ParseResult =
  | { ok: true; event: KartraEvent; notes: ParseNote[] }
  | { ok: false; channel: KartraChannel | 'unknown'; error: string; issues: ParseNote[] };
