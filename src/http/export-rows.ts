import type { MemberSummary } from '../domain/members/member-service';
import type { MemberService } from '../domain/members/member-service';
import type { Site, WebhookEventSummary } from '../domain/model';
import type { EventLogFilter, EventLogService } from '../domain/webhook-events/event-log-service';
import type { CsvValue } from './csv';

/**
 * The rows of the CSV exports and how they are read: keyset pages through the same domain list functions the pages
 * and the API use, so an export holds exactly what the filtered list shows, and one page at a time is in memory.
 */

/** Rows read per query: large enough that a million-row export is a thousand queries, small enough to stay flat. */
export const EXPORT_BATCH_ROWS = 1000;

export const EVENT_CSV_HEADER = [
  'id',
  'received_at',
  'channel',
  'action',
  'kind',
  'outcome',
  'product_id',
  'asset',
  'lead_id',
  'email',
  'transaction_id',
  'member_id',
  'duplicate_of_event_id',
  'attempts',
  'summary',
  'error',
] as const;

/** One event as a row; `assetLabels` names a tag or membership level as people read it (`tag "VIP"`). */
export function eventCsvRow(event: WebhookEventSummary, assetLabels: ReadonlyMap<string, string>): CsvValue[] {
  return [
    event.id,
    event.receivedAt,
    event.channel,
    event.action,
    event.kind,
    event.status,
    event.productId,
    event.assetKey ? (assetLabels.get(event.assetKey) ?? event.assetKey) : null,
    event.leadId,
    event.email,
    event.transactionId,
    event.memberId,
    event.duplicateOfEventId,
    event.attempts,
    event.summary,
    event.error,
  ];
}

export const MEMBER_CSV_HEADER = ['id', 'kartra_lead_id', 'email', 'first_name', 'last_name', 'created_at', 'level_count', 'levels'] as const;

/** Levels are joined with "; ", the separator WP Fusion's and Stripe's exports use for a list in one cell. */
export function memberCsvRow(member: MemberSummary): CsvValue[] {
  return [
    member.id,
    member.kartraLeadId,
    member.email,
    member.firstName,
    member.lastName,
    member.createdAt,
    member.levels.length,
    member.levels.map((level) => level.name).join('; '),
  ];
}

/** The event log newest first, as the Webhook activity page and GET …/events page it, one keyset page per batch. */
export async function* eventCsvBatches(
  eventLog: EventLogService,
  site: Site,
  filter: Omit<EventLogFilter, 'limit' | 'cursor'>,
  assetLabels: ReadonlyMap<string, string>,
  batchRows = EXPORT_BATCH_ROWS,
): AsyncGenerator<CsvValue[][]> {
  let cursor: string | undefined;
  do {
    const page = await eventLog.list(site, { ...filter, limit: batchRows, cursor });
    yield page.events.map((event) => eventCsvRow(event, assetLabels));
    cursor = page.nextCursor ?? undefined;
  } while (cursor !== undefined);
}

/** Members by id, as the Members page and GET …/members page them, with the levels they have now. */
export async function* memberCsvBatches(
  members: MemberService,
  site: Site,
  filter: { query?: string; email?: string },
  batchRows = EXPORT_BATCH_ROWS,
): AsyncGenerator<CsvValue[][]> {
  let afterId: number | undefined;
  for (;;) {
    const found = await members.search(site, { ...filter, limit: batchRows, afterId });
    yield found.map(memberCsvRow);
    const last = found[found.length - 1];
    // A short page is the last one: the next query would come back empty.
    if (found.length < batchRows || !last) return;
    afterId = last.id;
  }
}

/** `kartra-access-site-3-events-2026-12-03.csv`: which site, what, and the day (UTC) it was taken. */
export function exportFilename(siteId: number, what: 'events' | 'members', now: Date): string {
  return `kartra-access-site-${siteId}-${what}-${now.toISOString().slice(0, 10)}.csv`;
}
