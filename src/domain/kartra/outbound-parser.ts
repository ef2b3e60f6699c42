import { OUTBOUND_ASSET_ACTIONS, OUTBOUND_OTHER_ACTIONS, outboundAssetAction, outboundMoneyKind, transactionTypeKind } from './kartra-actions';
import type { AssetReference, KartraEvent, LeadIdentity, ParseNote, ParseResult, TransactionFacts } from './kartra-event';
import { parseKartraTime } from './kartra-time';
import { FieldReader, isWireRecord } from './kartra-values';

/** Parses an Outbound API body `{lead, action, action_details}` (REFERENCE.md §4–6). */
export function parseOutboundEvent(body: unknown, timeZone: string): ParseResult {
  const notes: ParseNote[] = [];
  if (!isWireRecord(body)) {
    return invalid('the body is JSON but not an object', notes);
  }
  const envelope = new FieldReader(body, '', notes);
  const action = envelope.text('action')?.toLowerCase();
  if (!action) return invalid('no "action": this is not a Kartra outbound event', notes);
  if (!/^[a-z0-9_]{1,64}$/.test(action)) return invalid(`"action" is not an action name`, notes);

  const leadRecord = envelope.record('lead');
  const details = envelope.record('action_details');
  const transaction = details?.record('transaction_details');

  const lead = readLead(leadRecord, transaction);
  const moneyKind = outboundMoneyKind(action);

  if (moneyKind) {
    if (!transaction) return invalid(`"${action}" without action_details.transaction_details`, notes);
    const facts = readTransaction(transaction, timeZone, notes);
    if (!facts.ok) return invalid(facts.error, notes);
    // Kartra documents no outbound rebill; should a rebill arrive as buy_product, its transaction_type says so
    // (variants/HYPOTHETICAL-buy_product.rebill) and it must never count as a new purchase.
    const transactionType = transaction.text('transaction_type')?.toLowerCase();
    const kindFromType = transactionType ? transactionTypeKind(transactionType) : undefined;
    const kind = action === 'buy_product' && kindFromType === 'rebill' ? 'rebill' : moneyKind;
    if (transactionType && !kindFromType) {
      notes.push({ path: 'action_details.transaction_details.transaction_type', message: `unknown transaction type "${transactionType}"` });
    }
    if (!lead.leadId && !lead.email) return invalid('no lead id and no usable email: cannot tell who bought', notes);
    const event: KartraEvent = { kind, channel: 'outbound', action, lead, transaction: facts.transaction };
    return { ok: true, event, notes };
  }

  const assetAction = outboundAssetAction(action);
  if (assetAction) return readAssetEvent(action, assetAction, details, lead, timeZone, notes);

  const knownAction = OUTBOUND_OTHER_ACTIONS.has(action);
  if (!knownAction) notes.push({ path: 'action', message: `action "${action}" is not documented by Kartra; stored and ignored` });
  const asset = details?.firstRecord();
  const event: KartraEvent = {
    kind: 'other',
    channel: 'outbound',
    action,
    knownAction,
    lead,
    asset: asset ? { type: asset.key, id: assetField(asset.reader, '_id'), name: assetField(asset.reader, '_name') } : undefined,
  };
  return { ok: true, event, notes };
}

function assetField(reader: FieldReader, suffix: string): string | undefined {
  const key = reader.keys().find((candidate) => candidate.endsWith(suffix));
  return key ? reader.text(key) : undefined;
}

/** A reader and the path its notes name, for the places an asset event's fields may sit. */
interface Place {
  reader: FieldReader;
  path: string;
}

/**
 * A tag or membership event (REFERENCE.md §6.5, §6.6). Kartra documents the asset as one object named after it,
 * `action_details.tag {tag_id, tag_name}` and `action_details.membership {membership_id, membership_name, level_id,
 * level_name}` (DOC2); the same keys flat on `action_details` are accepted too, field by field (INF: liberal).
 */
function readAssetEvent(
  action: string,
  { asset: assetKind, change }: (typeof OUTBOUND_ASSET_ACTIONS)[string],
  details: FieldReader | undefined,
  lead: LeadIdentity,
  timeZone: string,
  notes: ParseNote[],
): ParseResult {
  const nested = details?.record(assetKind);
  const places: Place[] = [];
  if (nested) places.push({ reader: nested, path: `action_details.${assetKind}.` });
  if (details) places.push({ reader: details, path: 'action_details.' });
  const first = (read: (reader: FieldReader) => string | undefined): string | undefined => {
    for (const { reader } of places) {
      const value = read(reader);
      if (value !== undefined) return value;
    }
    return undefined;
  };

  let asset: AssetReference;
  if (assetKind === 'tag') {
    asset = { kind: 'tag', tagId: first((reader) => reader.identifier('tag_id')), tagName: first((reader) => reader.text('tag_name')) };
    if (!asset.tagId && !asset.tagName) return invalid(`"${action}" names no tag`, notes);
  } else {
    asset = {
      kind: 'membership',
      membershipId: first((reader) => reader.identifier('membership_id')),
      membershipName: first((reader) => reader.text('membership_name')),
      levelId: first((reader) => reader.identifier('level_id')),
      levelName: first((reader) => reader.text('level_name')),
    };
    if (!asset.levelId && !asset.levelName) return invalid(`"${action}" names no membership level`, notes);
  }
  if (!lead.leadId && !lead.email) return invalid(`no lead id and no usable email: cannot tell whose ${assetKind} changed`, notes);

  const time = readAssetTime(places, timeZone, notes);
  const event: KartraEvent = { kind: 'asset', channel: 'outbound', action, change, asset, lead, ...time };
  return { ok: true, event, notes };
}

/** Date keys that name another moment than the change itself (an expiry, a renewal), never its time. */
const NOT_THE_CHANGE = /(?:^|_)(?:expiry|expiration|expires|end|until|next|due|renewal)(?:_|$)/;

/**
 * Kartra documents no time for tag and membership events. Should one carry a date (`date`, `timestamp`, or a key
 * ending in `_date`, in the asset object first), it is read as a Kartra time; one we cannot read is noted and the
 * receipt time stands in, as for transactions.
 */
function readAssetTime(places: Place[], timeZone: string, notes: ParseNote[]): { occurredAtRaw?: string; occurredAt?: Date } {
  for (const { reader, path } of places) {
    for (const key of reader.keys()) {
      if (!(key === 'date' || key === 'timestamp' || key.endsWith('_date')) || NOT_THE_CHANGE.test(key)) continue;
      const raw = reader.text(key);
      // "0000-00-00 00:00:00" is Kartra's "not set".
      if (raw === undefined || /^0000-00-00/.test(raw)) continue;
      const occurredAt = parseKartraTime(raw, timeZone);
      if (occurredAt) return { occurredAtRaw: raw, occurredAt };
      notes.push({ path: `${path}${key}`, message: `"${raw.slice(0, 40)}" is not a Kartra time; receipt time used` });
      return { occurredAtRaw: raw };
    }
  }
  return {};
}

function readLead(lead: FieldReader | undefined, transaction: FieldReader | undefined): LeadIdentity {
  // The top-level lead is the current record. Every transaction event (buy, refund, partial refund, cancel) also
  // carries the values at the time of the order in transaction_details as lead_* keys (REFERENCE.md §6.1–6.3), and
  // one real handler reads the legacy buyer_* keys there (§7.4): each field falls back to them in that order.
  return {
    leadId: lead?.identifier('id') ?? transaction?.identifier('lead_id', 'buyer_id'),
    email: lead?.email('email') ?? transaction?.email('lead_email', 'buyer_email'),
    firstName: lead?.text('first_name') ?? transaction?.text('lead_first_name', 'buyer_first_name'),
    lastName: lead?.text('last_name') ?? transaction?.text('lead_last_name', 'buyer_last_name'),
  };
}

export function readTransaction(
  transaction: FieldReader,
  timeZone: string,
  notes: ParseNote[],
): { ok: true; transaction: TransactionFacts } | { ok: false; error: string } {
  const productId = transaction.identifier('product_id');
  if (!productId) return { ok: false, error: 'no product_id: cannot tell what was bought' };
  const occurredAtRaw = transaction.text('transaction_date');
  const occurredAt = occurredAtRaw ? parseKartraTime(occurredAtRaw, timeZone) : undefined;
  if (occurredAtRaw && !occurredAt) {
    notes.push({ path: 'transaction_date', message: `"${occurredAtRaw.slice(0, 40)}" is not a Kartra time; receipt time used` });
  }
  return {
    ok: true,
    transaction: {
      transactionId: transaction.identifier('transaction_id'),
      parentTransactionId: transaction.identifier('transaction_parent_id'),
      subscriptionId: transaction.identifier('transaction_internal_subscription_id', 'transaction_subscription_id'),
      originalTransactionId: transaction.identifier('original_id'),
      payNumber: transaction.integer('transaction_subscription_pay_number'),
      amountCents: transaction.amountCents('transaction_full_amount'),
      productId,
      productName: transaction.text('product_name'),
      pricePoint: transaction.integer('product_price_point'),
      occurredAtRaw,
      occurredAt,
    },
  };
}

function invalid(error: string, notes: ParseNote[]): ParseResult {
  return { ok: false, channel: 'outbound', error, issues: notes };
}
