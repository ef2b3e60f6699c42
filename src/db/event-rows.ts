import type { EventStatus, PaymentFact, PaymentFactKind, WebhookEventRecord, WebhookEventSummary } from '../domain/model';
import type { EventOutcomeUpdate, NewPaymentFact } from '../domain/ports';
import { sql, type SQL } from 'drizzle-orm';
import { toDate, toDateOrNull, toMs, toMsOrNull } from './time-columns';

// Rows of webhook_events and payment_facts as both adapters read and write them: the SQLite and PostgreSQL schemas
// store the same columns in the same shapes (times as ms numbers, the raw body as a Buffer, JSON as text), so the
// conversions to and from the domain live here once and cannot drift apart between engines.

/** A webhook_events row, structurally: what `select()` returns from either engine's table. */
export interface WebhookEventRow {
  id: number;
  siteId: number;
  receivedAt: number;
  channel: string;
  sourceIp: string | null;
  headersJson: string;
  rawBody: Buffer;
  rawBodyPrunedAt: number | null;
  status: string;
  fingerprint: string | null;
  duplicateOfEventId: number | null;
  kind: string | null;
  action: string | null;
  productId: string | null;
  assetKey: string | null;
  leadId: string | null;
  email: string | null;
  transactionId: string | null;
  memberId: number | null;
  kartraTimeRaw: string | null;
  kartraTimeAt: number | null;
  parsedJson: string | null;
  notesJson: string | null;
  summary: string | null;
  error: string | null;
  attempts: number;
  processedAt: number | null;
}

/** The columns the event log lists (each adapter selects them from its own table). */
export type WebhookEventSummaryRow = Pick<WebhookEventRow, keyof WebhookEventSummary>;

export interface PaymentFactRow {
  id: number;
  siteId: number;
  kind: string;
  memberId: number;
  productId: string;
  sourceKey: string;
  transactionId: string | null;
  parentTransactionId: string | null;
  subscriptionId: string | null;
  payNumber: number | null;
  amountCents: number | null;
  occurredAt: number;
  eventId: number;
}

/**
 * The outcomes a tag or membership event is compared with to tell a redelivery from a real change: duplicates,
 * failures and invalid bodies say nothing about what Kartra last told us of the person and the asset.
 */
export const COMPARABLE_ASSET_EVENT_STATUSES: EventStatus[] = ['applied', 'unmapped', 'ignored', 'rejected'];

/** Stored JSON that no longer parses reads as the fallback: one damaged row must not break the log page. */
function parseJson<T>(text: string | null, fallback: T): T {
  if (text === null) return fallback;
  try {
    return JSON.parse(text) as T;
  } catch {
    return fallback;
  }
}

export function toEventRecord(row: WebhookEventRow): WebhookEventRecord {
  return {
    ...row,
    receivedAt: toDate(row.receivedAt),
    rawBodyPrunedAt: toDateOrNull(row.rawBodyPrunedAt),
    status: row.status as EventStatus,
    headers: parseJson<Record<string, string>>(row.headersJson, {}),
    kartraTimeAt: toDateOrNull(row.kartraTimeAt),
    parsed: parseJson<unknown>(row.parsedJson, null),
    notes: parseJson<{ path: string; message: string }[]>(row.notesJson, []),
    processedAt: toDateOrNull(row.processedAt),
  };
}

export function toEventSummary(row: WebhookEventSummaryRow): WebhookEventSummary {
  return { ...row, receivedAt: toDate(row.receivedAt), status: row.status as EventStatus };
}

const undefinedIfMissing = <T, R>(value: T | undefined, map: (value: T) => R): R | undefined => (value === undefined ? undefined : map(value));

/** The columns an outcome changes; a field the caller left undefined stays undefined, so the update leaves it alone. */
export function outcomeColumns(outcome: EventOutcomeUpdate) {
  return {
    status: outcome.status,
    channel: outcome.channel,
    fingerprint: outcome.fingerprint,
    duplicateOfEventId: outcome.duplicateOfEventId,
    kind: outcome.kind,
    action: outcome.action,
    productId: outcome.productId,
    assetKey: outcome.assetKey,
    leadId: outcome.leadId,
    email: outcome.email,
    transactionId: outcome.transactionId,
    memberId: outcome.memberId,
    kartraTimeRaw: outcome.kartraTimeRaw,
    kartraTimeAt: undefinedIfMissing(outcome.kartraTimeAt, toMsOrNull),
    parsedJson: undefinedIfMissing(outcome.parsed, (parsed) => JSON.stringify(parsed)),
    notesJson: undefinedIfMissing(outcome.notes, (notes) => JSON.stringify(notes)),
    summary: outcome.summary,
    error: outcome.error,
    processedAt: toMs(outcome.processedAt),
  };
}

export function paymentFactColumns(fact: NewPaymentFact) {
  return {
    siteId: fact.siteId,
    kind: fact.kind,
    factKey: fact.factKey,
    memberId: fact.memberId,
    productId: fact.productId,
    sourceKey: fact.sourceKey,
    transactionId: fact.transactionId,
    parentTransactionId: fact.parentTransactionId,
    subscriptionId: fact.subscriptionId,
    payNumber: fact.payNumber,
    amountCents: fact.amountCents,
    occurredAt: toMs(fact.occurredAt),
    eventId: fact.eventId,
  };
}

export function toPaymentFact(row: PaymentFactRow): PaymentFact {
  return {
    id: row.id,
    siteId: row.siteId,
    kind: row.kind as PaymentFactKind,
    memberId: row.memberId,
    productId: row.productId,
    sourceKey: row.sourceKey,
    transactionId: row.transactionId,
    parentTransactionId: row.parentTransactionId,
    subscriptionId: row.subscriptionId,
    payNumber: row.payNumber,
    amountCents: row.amountCents,
    occurredAt: toDate(row.occurredAt),
    eventId: row.eventId,
  };
}

/**
 * The index of the period a time falls in, for periods starting at `starts` (ascending; each runs to the next):
 * `case when t >= s[n-1] then n-1 … when t >= s[0] then 0 end`. The bounds are inlined as integer literals, checked
 * to be integers, so GROUP BY can repeat the expression exactly on PostgreSQL and SQLite compares integers.
 */
export function periodIndex(column: SQL | { getSQL(): SQL }, starts: Date[]): SQL<number> {
  const bounds = starts.map((start) => {
    const ms = start.getTime();
    if (!Number.isSafeInteger(ms)) throw new Error('a period must start at a valid time');
    return ms;
  });
  const branches = bounds.map((ms, index) => sql`when ${column} >= ${sql.raw(String(ms))} then ${sql.raw(String(index))}`).reverse();
  return sql<number>`case ${sql.join(branches, sql` `)} end`;
}

/** Facts grouped by source, keeping the order they were read in (occurred at, then id). */
export function groupBySource(facts: PaymentFact[]): Map<string, PaymentFact[]> {
  const grouped = new Map<string, PaymentFact[]>();
  for (const fact of facts) {
    const list = grouped.get(fact.sourceKey);
    if (list) list.push(fact);
    else grouped.set(fact.sourceKey, [fact]);
  }
  return grouped;
}
