import type {
  KartraApiCredentials,
  KartraApiFailureKind,
  KartraApiResult,
  KartraLead,
  KartraLeadMembership,
  KartraLeadRef,
  KartraTransaction,
  KartraTransactionType,
} from '../ports';
import type { ParseNote } from './kartra-event';
import { parseKartraTime } from './kartra-time';
import { FieldReader, isWireRecord, type WireRecord } from './kartra-values';

/**
 * Kartra's inbound API (POST https://app.kartra.com/api), without I/O: the form fields of each request we make and
 * the reading of each answer into a KartraApiResult (shared/kartra/inbound-api/README.md). The adapter in
 * src/outbound/kartra-api-client.ts only moves these over HTTP.
 *
 * Kartra answers JSON served as text/html, always with HTTP 200, errors as `{"status":"Error","message","type"}` with
 * a string `type`; a top-level "Success" may still hold a failed action; transaction commands come in two wrappers,
 * and the values documented as "JSON encoded string" may be strings or already objects (README §3, §4.3, §8).
 */

/** Form fields in order, credentials first; PHP bracket keys (`lead[email]`, `actions[0][cmd]`) as Kartra reads them. */
export type KartraFormFields = [string, string][];

export type KartraTransactionListCommand = 'retrieve_transactions_from_lead' | 'get_transactions_from_lead';

/** A failure as read from Kartra's answer, with Kartra's own `type` when it gave one (to tell errors apart). */
export type KartraAnswer<T> = { ok: true; value: T } | { ok: false; kind: KartraApiFailureKind; message: string; kartraType: string | null };

const NOT_FOUND_TYPES = new Set(['234', '243']);
const TRANSACTION_NOT_FOUND_TYPE = '247';
const CREDENTIAL_TYPES = new Set(['201', '202', '203', '204', '233', '238', '239', '240']);
const PERMISSION_TYPES = new Set(['242', '262']);
const MESSAGE_LIMIT = 200;

const TRANSACTION_TYPES: ReadonlySet<KartraTransactionType> = new Set(['sale', 'rebill', 'refund', 'partial_refund', 'chargeback', 'cancellation', 'failed']);

// ---------------------------------------------------------------------------------------------------------------
// Requests

function credentialFields(credentials: KartraApiCredentials): KartraFormFields {
  return [
    ['app_id', credentials.appId],
    ['api_key', credentials.apiKey],
    ['api_password', credentials.apiPassword],
  ];
}

/** `lead[id]` when we know Kartra's id ("If both are provided, the system will prioritize the ID"), else `lead[email]`. */
function leadFields(prefix: 'lead' | 'get_lead', lead: KartraLeadRef): KartraFormFields {
  return 'leadId' in lead ? [[`${prefix}[id]`, lead.leadId]] : [[`${prefix}[email]`, lead.email]];
}

/** An account-wide read any App may make (README §2 shape C): tells good credentials from bad. */
export function testConnectionRequest(credentials: KartraApiCredentials): KartraFormFields {
  return [...credentialFields(credentials), ['actions[0][cmd]', 'retrieve_account_lists']];
}

/** `get_lead` is a top-level key, not an `actions[]` cmd (README §2 shape B, §4.2). */
export function getLeadRequest(credentials: KartraApiCredentials, lead: KartraLeadRef): KartraFormFields {
  return [...credentialFields(credentials), ...leadFields('get_lead', lead)];
}

/** The documented `retrieve_transactions_from_lead` or the undocumented `get_transactions_from_lead` (README §4.3). */
export function transactionsRequest(credentials: KartraApiCredentials, lead: KartraLeadRef, command: KartraTransactionListCommand): KartraFormFields {
  return [...credentialFields(credentials), ...leadFields('lead', lead), ['actions[0][cmd]', command]];
}

/** `get_transaction_details` names the transaction, not a lead (README §4.4). */
export function transactionDetailsRequest(credentials: KartraApiCredentials, transactionId: string): KartraFormFields {
  return [...credentialFields(credentials), ['actions[0][cmd]', 'get_transaction_details'], ['actions[0][transaction_id]', transactionId]];
}

// ---------------------------------------------------------------------------------------------------------------
// Answers

/** The lists of the account: their count is all testConnection reports. */
export function parseTestConnectionAnswer(text: string): KartraAnswer<{ listCount: number }> {
  const read = readAnswer(text, 'retrieve_account_lists', { notFoundIsNull: false });
  if (!read.ok) return read;
  const lists = decodeJsonString(read.value.body.account_lists);
  if (Array.isArray(lists)) return ok({ listCount: lists.length });
  // An account with no lists may come back as a bare Success (INF): the credentials were accepted either way.
  if ((lists === undefined || lists === null || lists === '') && read.value.succeeded) return ok({ listCount: 0 });
  return unexpected('account_lists is not a list');
}

/** `lead_details` at the top level (README §3, verified by au-website), an object or a JSON-encoded string. */
export function parseGetLeadAnswer(text: string): KartraAnswer<KartraLead | null> {
  const read = readAnswer(text, 'get_lead', { notFoundIsNull: true });
  if (!read.ok) return read;
  if (read.value.notFound) return ok(null);
  const details = decodeJsonString(read.value.body.lead_details);
  if (!isWireRecord(details)) return unexpected('no lead_details in the answer');
  const fields = reader(details);
  const leadId = fields.identifier('id');
  if (!leadId) return unexpected('lead_details without an id');
  return ok({
    leadId,
    email: fields.email('email') ?? null,
    firstName: fields.text('first_name') ?? null,
    lastName: fields.text('last_name') ?? null,
    tags: readTags(details.tags),
    memberships: readMemberships(details.memberships),
  });
}

/**
 * A lead's transactions, oldest first as Kartra lists them. `retrieve_transactions_from_lead` rows carry only
 * `transaction_id` and the type; `get_transactions_from_lead` rows carry the product, amount, date and original order
 * but no transaction id (README §4.3). Null when Kartra has no such lead.
 */
export function parseTransactionsAnswer(text: string, command: KartraTransactionListCommand, timeZone: string): KartraAnswer<KartraTransaction[] | null> {
  const read = readAnswer(text, command, { notFoundIsNull: true });
  if (!read.ok) return read;
  if (read.value.notFound) return ok(null);
  const list = decodeJsonString(read.value.body.transaction_list);
  // "empty array if no transactions"; an absent or empty value is read the same way.
  if (list === undefined || list === null || list === '') return ok([]);
  if (!Array.isArray(list)) return unexpected('transaction_list is not a list');
  const rows: KartraTransaction[] = [];
  for (const row of list) {
    const decoded = decodeJsonString(row);
    if (!isWireRecord(decoded)) return unexpected('a transaction_list row is not an object');
    rows.push(readTransactionRow(decoded, timeZone));
  }
  return ok(rows);
}

/** One transaction's details (`transaction_details`, documented as a JSON-encoded string); null for 247 "Transaction doesn't exist". */
export function parseTransactionDetailsAnswer(text: string, timeZone: string): KartraAnswer<KartraTransaction | null> {
  const read = readAnswer(text, 'get_transaction_details', { notFoundIsNull: false, notFoundTypes: new Set([TRANSACTION_NOT_FOUND_TYPE]) });
  if (!read.ok) return read;
  if (read.value.notFound) return ok(null);
  const details = decodeJsonString(read.value.body.transaction_details);
  if (!isWireRecord(details)) return unexpected('no transaction_details in the answer');
  return ok(readTransactionRow(details, timeZone));
}

/** A list row completed from its details: what the row already says stands; the details fill what it lacks. */
export function withTransactionDetails(row: KartraTransaction, details: KartraTransaction): KartraTransaction {
  const rowKnowsType = row.typeRaw !== '';
  return {
    transactionId: row.transactionId ?? details.transactionId,
    type: rowKnowsType ? row.type : details.type,
    typeRaw: rowKnowsType ? row.typeRaw : details.typeRaw,
    productId: row.productId ?? details.productId,
    productName: row.productName ?? details.productName,
    amountCents: row.amountCents ?? details.amountCents,
    occurredAt: row.occurredAt ?? details.occurredAt,
    originalTransactionId: row.originalTransactionId ?? details.originalTransactionId,
  };
}

/**
 * Whether a failure says Kartra does not know the command (so that the undocumented one may be tried). Kartra
 * documents no error for an unknown `cmd`; we recognise one by its message.
 */
export function isUnknownCommandFailure(answer: KartraAnswer<unknown>): boolean {
  if (answer.ok || answer.kind !== 'unexpected') return false;
  return /\b(cmd|command)\b/i.test(answer.message) && /unknown|invalid|not (valid|found|exist|recogni[sz]ed|supported|allowed)|does ?n[o']t exist/i.test(answer.message);
}

/** Kartra's "Too many requests" (README §1) as a body: a short answer that says so (a lead's data could say anything). */
export function saysTooManyRequests(text: string): boolean {
  return text.length <= 500 && /too many requests/i.test(text);
}

/** A normalised transaction type: lower-case, spaces and dashes as underscores ("Partial Refund" → partial_refund). */
export function transactionTypeOf(raw: string): KartraTransactionType {
  const normalised = raw.trim().toLowerCase().replace(/[\s-]+/g, '_') as KartraTransactionType;
  return TRANSACTION_TYPES.has(normalised) ? normalised : 'other';
}

// ---------------------------------------------------------------------------------------------------------------
// Reading

interface AnswerBody {
  /** The object that holds the command's result: the per-action object, the bare `{"<cmd>": …}` one, or the top level. */
  body: WireRecord;
  notFound: boolean;
  /** The top level said "Success". */
  succeeded: boolean;
}

interface ReadOptions {
  /** 234/243 "No lead found" is an answer (null), not a failure. */
  notFoundIsNull: boolean;
  /** Other `type`s that mean "no such thing" for this command. */
  notFoundTypes?: ReadonlySet<string>;
}

function readAnswer(text: string, command: string, options: ReadOptions): KartraAnswer<AnswerBody> {
  let parsed: unknown;
  try {
    // Served as text/html whatever it holds (README §1): the text is parsed, the content type ignored.
    parsed = JSON.parse(text);
  } catch {
    if (saysTooManyRequests(text)) return failure('rate_limited', 'Kartra answered "Too many requests"', null);
    return unexpected(text.trim() === '' ? 'Kartra answered with an empty body' : 'Kartra answered with something that is not JSON');
  }
  if (!isWireRecord(parsed)) return unexpected('Kartra answered JSON that is not an object');

  const topLevelError = errorOf(parsed, options);
  if (topLevelError) return topLevelError;

  const succeeded = typeof parsed.status === 'string' && parsed.status.trim().toLowerCase() === 'success';
  const inner = commandObject(parsed, command);
  if (inner) {
    // A top-level Success does not mean every action succeeded (README §3).
    const actionError = errorOf(inner, options);
    if (actionError) return actionError;
    return ok({ body: inner, notFound: false, succeeded });
  }
  return ok({ body: parsed, notFound: false, succeeded });
}

/** The result object of `command`: `actions[i].<cmd>` (what clients see), or the documented bare `{"<cmd>": …}`. */
function commandObject(body: WireRecord, command: string): WireRecord | undefined {
  const actions = decodeJsonString(ownValue(body, 'actions'));
  if (Array.isArray(actions)) {
    for (const action of actions) {
      const decoded = decodeJsonString(action);
      if (!isWireRecord(decoded)) continue;
      const inner = decodeJsonString(ownValue(decoded, command));
      if (isWireRecord(inner)) return inner;
    }
  }
  const bare = decodeJsonString(ownValue(body, command));
  return isWireRecord(bare) ? bare : undefined;
}

function errorOf(body: WireRecord, options: ReadOptions): KartraAnswer<never> | { ok: true; value: AnswerBody } | undefined {
  const status = typeof body.status === 'string' ? body.status.trim().toLowerCase() : undefined;
  if (status !== 'error') return undefined;
  const fields = reader(body);
  const type = fields.text('type') ?? null;
  const message = (fields.text('message') ?? 'no message').slice(0, MESSAGE_LIMIT);
  const isLeadNotFound = (type !== null && NOT_FOUND_TYPES.has(type)) || /^no lead found$/i.test(message);
  if (options.notFoundIsNull && isLeadNotFound) return notFound();
  if (type !== null && options.notFoundTypes?.has(type)) return notFound();
  if (type !== null && CREDENTIAL_TYPES.has(type)) return failure('credentials', `Kartra refused the credentials: ${message} (type ${type})`, type);
  if (type !== null && PERMISSION_TYPES.has(type)) return failure('permission', `Kartra refused the call: ${message} (type ${type})`, type);
  if (type === '429' || saysTooManyRequests(message)) return failure('rate_limited', `Kartra answered "${message}"`, type);
  return failure('unexpected', `Kartra answered an error: ${message}${type === null ? '' : ` (type ${type})`}`, type);
}

function notFound(): { ok: true; value: AnswerBody } {
  return { ok: true, value: { body: {}, notFound: true, succeeded: false } };
}

function readTransactionRow(row: WireRecord, timeZone: string): KartraTransaction {
  const fields = reader(row);
  const typeRaw = fields.text('transaction_type') ?? '';
  const dateRaw = fields.text('transaction_date');
  return {
    transactionId: fields.identifier('transaction_id') ?? null,
    type: transactionTypeOf(typeRaw),
    typeRaw,
    productId: fields.identifier('product_id') ?? null,
    productName: fields.text('product_name') ?? null,
    amountCents: fields.amountCents('transaction_full_amount') ?? null,
    occurredAt: (dateRaw ? parseKartraTime(dateRaw, timeZone) : undefined) ?? null,
    // "0" is Kartra's "no original order"; FieldReader.identifier reads it as missing.
    originalTransactionId: fields.identifier('original_id') ?? null,
  };
}

/** `tags: [{tag_name}]` as au-website saw them; plain strings are accepted too. */
function readTags(raw: unknown): string[] {
  const list = decodeJsonString(raw);
  if (!Array.isArray(list)) return [];
  const tags: string[] = [];
  for (const item of list) {
    const name = typeof item === 'string' ? item.trim() : isWireRecord(item) ? reader(item).text('tag_name') : undefined;
    if (name) tags.push(name);
  }
  return tags;
}

function readMemberships(raw: unknown): KartraLeadMembership[] {
  const list = decodeJsonString(raw);
  if (!Array.isArray(list)) return [];
  return list.filter(isWireRecord).map((item) => {
    const fields = reader(item);
    return {
      membershipId: fields.identifier('membership_id') ?? null,
      membershipName: fields.text('membership_name') ?? null,
      levelId: fields.identifier('level_id') ?? null,
      levelName: fields.text('level_name') ?? null,
      active: isActive(ownValue(item, 'active')),
    };
  });
}

/** `active` comes as "1"/"0" (dementia-caregiver-app) or true/"true" (au-website accepts all three). */
function isActive(value: unknown): boolean {
  if (value === true || value === 1) return true;
  return typeof value === 'string' && ['1', 'true', 'yes', 'active'].includes(value.trim().toLowerCase());
}

/** A value documented as a "JSON encoded string" may come encoded or not: a string holding an object or array is decoded. */
function decodeJsonString(value: unknown): unknown {
  if (typeof value !== 'string') return value;
  const trimmed = value.trim();
  if (!(trimmed.startsWith('{') || trimmed.startsWith('['))) return value;
  try {
    return JSON.parse(trimmed) as unknown;
  } catch {
    return value;
  }
}

function ownValue(record: WireRecord, key: string): unknown {
  return Object.hasOwn(record, key) ? record[key] : undefined;
}

/** The inbound reads keep no notes: a value we cannot read is simply missing (null in the result). */
function reader(record: WireRecord): FieldReader {
  const notes: ParseNote[] = [];
  return new FieldReader(record, '', notes);
}

function ok<T>(value: T): { ok: true; value: T } {
  return { ok: true, value };
}

function failure(kind: KartraApiFailureKind, message: string, kartraType: string | null): { ok: false; kind: KartraApiFailureKind; message: string; kartraType: string | null } {
  return { ok: false, kind, message, kartraType };
}

function unexpected(message: string): { ok: false; kind: KartraApiFailureKind; message: string; kartraType: string | null } {
  return failure('unexpected', message, null);
}

/** The port's shape, without the Kartra `type` we keep for ourselves. */
export function toApiResult<T>(answer: KartraAnswer<T>): KartraApiResult<T> {
  return answer.ok ? answer : { ok: false, kind: answer.kind, message: answer.message };
}
