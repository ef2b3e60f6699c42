import { transactionTypeKind } from './kartra-actions';
import type { KartraEvent, ParseNote, ParseResult } from './kartra-event';
import { readTransaction } from './outbound-parser';
import { FieldReader, type WireRecord } from './kartra-values';

/**
 * Parses an IPN form post: flat transaction_*, product_*, lead_* (legacy buyer_*) fields with "N/A" for empty
 * values (REFERENCE.md §7). `fields` must be a prototype-free record built from the decoded form.
 */
export function parseIpnEvent(fields: WireRecord, timeZone: string): ParseResult {
  const notes: ParseNote[] = [];
  const form = new FieldReader(fields, '', notes);
  const transactionType = form.text('transaction_type')?.toLowerCase();
  const ipnSecret = form.text('secret_key');
  // The current lead_* names first, then the legacy buyer_* ones (REFERENCE.md §7.4), field by field.
  const lead = {
    leadId: form.identifier('lead_id', 'buyer_id'),
    email: form.email('lead_email', 'buyer_email'),
    firstName: form.text('lead_first_name', 'buyer_first_name'),
    lastName: form.text('lead_last_name', 'buyer_last_name'),
  };

  if (!transactionType) {
    return { ok: false, channel: 'ipn', error: 'no transaction_type: this is not a Kartra IPN post', issues: notes };
  }
  const kind = transactionTypeKind(transactionType);
  if (!kind) {
    notes.push({ path: 'transaction_type', message: `transaction type "${transactionType}" is not documented; stored and ignored` });
    const event: KartraEvent = { kind: 'other', channel: 'ipn', action: transactionType, knownAction: false, lead, ipnSecret };
    return { ok: true, event, notes };
  }
  const facts = readTransaction(form, timeZone, notes);
  if (!facts.ok) return { ok: false, channel: 'ipn', error: facts.error, issues: notes };
  if (!lead.leadId && !lead.email) {
    return { ok: false, channel: 'ipn', error: 'no lead id and no usable email: cannot tell who paid', issues: notes };
  }
  const event: KartraEvent = { kind, channel: 'ipn', action: transactionType, lead, transaction: facts.transaction, ipnSecret };
  return { ok: true, event, notes };
}
