import { OUTBOUND_OTHER_ACTIONS, outboundMoneyKind, transactionTypeKind } from './kartra-actions';
import type { KartraEvent, LeadIdentity, ParseNote, ParseResult, TransactionFacts } from './kartra-event';
import { parseKartraTime } from './kartra-time';
import { FieldReader, isWireRecord, normaliseEmail } from './kartra-values';

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

  const lead = readLead(leadRecord, transaction, notes);
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

  const knownAction = OUTBOUND_OTHER_ACTIONS.has(action);
  if (!knownAction) notes.push({ path: 'action', message: `action "${action}" is not documented by Kartra; stored and ignored` });
  const asset = details?.firstRecord();
  const event: KartraEvent = {
    kind: 'other',
    channel: 'outbound',
    action,
    knownAction,
    lead,
    asset: asset
      ? {
          type: asset.key,
          id: assetField(asset.reader, '_id', action === 'membership_granted' || action === 'membership_revoked' ? 'level_id' : undefined),
          name: assetField(asset.reader, '_name', action.startsWith('membership_') ? 'level_name' : undefined),
        }
      : undefined,
  };
  return { ok: true, event, notes };
}

function assetField(reader: FieldReader, suffix: string, preferred: string | undefined): string | undefined {
  if (preferred) {
    const value = reader.text(preferred);
    if (value) return value;
  }
  const key = reader.keys().find((candidate) => candidate.endsWith(suffix));
  return key ? reader.text(key) : undefined;
}

function readLead(lead: FieldReader | undefined, transaction: FieldReader | undefined, notes: ParseNote[]): LeadIdentity {
  // The top-level lead is the current record; transaction_details keeps the values at the time of purchase
  // (REFERENCE.md §6.1), and one real handler reads legacy buyer_* keys there.
  const leadId = lead?.identifier('id') ?? transaction?.identifier('lead_id', 'buyer_id');
  const rawEmail = lead?.text('email') ?? transaction?.text('lead_email', 'buyer_email');
  const email = normaliseEmail(rawEmail);
  if (rawEmail && !email) notes.push({ path: 'lead.email', message: 'not an email address; ignored' });
  return {
    leadId,
    email,
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
