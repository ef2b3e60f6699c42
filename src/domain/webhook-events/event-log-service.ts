import { InvalidInputError, NotFoundError } from '../errors';
import type { EventStatus, GrantHistoryEntry, MemberEmailChange, Site, WebhookEventRecord, WebhookEventSummary } from '../model';
import type { Repositories } from '../ports';
import { wallClockToInstant } from '../wall-clock';

export interface EventLogFilter {
  statuses?: EventStatus[];
  action?: string;
  productId?: string;
  /** A Kartra tag or membership level, by its key (repos.assets). */
  assetKey?: string;
  email?: string;
  since?: Date;
  until?: Date;
  limit: number;
  cursor?: string;
}

export interface EventEffects {
  grantChanges: (GrantHistoryEntry & { levelName: string })[];
  emailChanges: MemberEmailChange[];
}

export type EventLogService = ReturnType<typeof createEventLogService>;

/** Read side of the webhook log: newest first, keyset-paginated so deep pages cost the same as the first. */
export function createEventLogService({ repos }: { repos: Repositories }) {
  function encodeCursor(eventId: number): string {
    return Buffer.from(`e:${eventId}`).toString('base64url');
  }

  function decodeCursor(cursor: string): number {
    const match = /^e:(\d{1,15})$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (!match?.[1]) throw new InvalidInputError('invalid cursor', [{ path: 'cursor', message: 'use the nextCursor of a previous page' }]);
    return Number(match[1]);
  }

  async function list(site: Site, filter: EventLogFilter): Promise<{ events: WebhookEventSummary[]; nextCursor: string | null }> {
    const events = await repos.events.list(site.id, {
      statuses: filter.statuses,
      action: filter.action,
      productId: filter.productId,
      assetKey: filter.assetKey,
      email: filter.email,
      since: filter.since,
      until: filter.until,
      beforeId: filter.cursor ? decodeCursor(filter.cursor) : undefined,
      limit: filter.limit + 1,
    });
    const page = events.slice(0, filter.limit);
    const last = page[page.length - 1];
    return { events: page, nextCursor: events.length > filter.limit && last ? encodeCursor(last.id) : null };
  }

  async function detail(site: Site, eventId: number): Promise<{ event: WebhookEventRecord; effects: EventEffects }> {
    const event = await repos.events.findById(site.id, eventId);
    if (!event) throw new NotFoundError('event', eventId);
    const names = new Map((await repos.levels.list(site.id)).map((level) => [level.id, level.name]));
    const grantChanges = (await repos.grants.historyForEvent(site.id, eventId)).map((entry) => ({ ...entry, levelName: names.get(entry.levelId) ?? `level ${entry.levelId}` }));
    const emailChanges = event.memberId ? (await repos.members.emailChanges(site.id, event.memberId)).filter((change) => change.eventId === eventId) : [];
    return { event, effects: { grantChanges, emailChanges } };
  }

  /** Health at a glance: the last event overall and per action, and counts by outcome over 24 hours and 7 days. */
  async function health(site: Site, now: Date) {
    const day = 24 * 60 * 60 * 1000;
    return {
      lastEvent: await repos.events.lastReceived(site.id),
      lastByAction: (await repos.events.lastReceivedByAction(site.id)).sort((a, b) => b.at.getTime() - a.at.getTime()),
      countsLast24h: await repos.events.countByStatusSince(site.id, new Date(now.getTime() - day)),
      countsLast7d: await repos.events.countByStatusSince(site.id, new Date(now.getTime() - 7 * day)),
    };
  }

  /** The actions the site's log holds (`(unparsed)` for none), by name: the Webhook activity page's action filter. */
  async function actionsSeen(site: Site): Promise<string[]> {
    return (await repos.events.lastReceivedByAction(site.id)).map((row) => row.action).sort();
  }

  /**
   * Events per calendar day (in `timeZone`) by outcome, oldest day first, for the last `days` days including today.
   * Days without events are present with no counts, so a chart shows gaps as gaps.
   */
  async function perDay(site: Site, options: { days: number; timeZone: string; now: Date }): Promise<{ day: string; counts: Partial<Record<EventStatus, number>> }[]> {
    const dayOf = new Intl.DateTimeFormat('en-CA', { timeZone: options.timeZone, year: 'numeric', month: '2-digit', day: '2-digit' });
    const dayMs = 24 * 60 * 60 * 1000;
    const days: string[] = [];
    // Walk back in 12-hour steps so days that are 23 or 25 hours long (daylight saving) are neither skipped nor doubled.
    for (let at = options.now.getTime(); days.length < options.days; at -= dayMs / 2) {
      const day = dayOf.format(new Date(at));
      if (days[days.length - 1] !== day) days.push(day);
    }
    days.reverse();
    // Each day's first instant in the zone: the database counts per day and status, a row each, instead of returning
    // quarter-hour buckets (thousands in a busy month) for this process to place in days.
    const starts = days.map((day) => {
      const [year, month, date] = day.split('-').map(Number) as [number, number, number];
      const start = wallClockToInstant({ year, month, day: date, hour: 0, minute: 0, second: 0 }, options.timeZone);
      if (!start) throw new Error(`no start of day ${day} in ${options.timeZone}`);
      return start;
    });
    const counts = days.map(() => ({}) as Partial<Record<EventStatus, number>>);
    for (const row of await repos.events.countByStatusInPeriods(site.id, starts, options.now)) {
      const dayCounts = counts[row.period];
      if (dayCounts) dayCounts[row.status] = (dayCounts[row.status] ?? 0) + row.count;
    }
    return days.map((day, index) => ({ day, counts: counts[index] ?? {} }));
  }

  return { list, detail, health, actionsSeen, perDay };
}
