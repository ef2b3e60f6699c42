import { Router, type Request, type Response } from 'express';
import { InvalidInputError } from '../../domain/errors';
import { readableBody } from '../../domain/webhook-events/delivered-body';
import type { Site } from '../../domain/model';
import type { AttentionCounts } from '../../domain/attention/attention-service';
import type { AppServices } from '../admin/services';
import { parseInput } from '../parse-input';
import { buildEventsChart } from './chart';
import { atLeast, formatTime, plural, wallTimeToDate } from './format';
import type { FormProblem, PageKit } from './page-kit';
import { EventFilters, eventFilterOfPage, ReapplyFailedForm } from './page-schemas';
import { actorLabel, changeLabel, eventRow, OUTCOME_LABELS } from './view-models';

const PAGE_SIZE = 50;

const failedCountLabel = ({ failedEvents }: AttentionCounts) => atLeast(failedEvents.count, failedEvents.countIsLowerBound);

/** Pretty-prints a stored body as text: indented JSON, or one form field per line for IPN posts. */
function prettyBody(text: string): string {
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    if (/^[^=&\s]+=[^&]*(&[^=&\s]+=[^&]*)*$/.test(text.trim())) {
      return [...new URLSearchParams(text).entries()].map(([key, value]) => `${key} = ${value}`).join('\n');
    }
    return text;
  }
}

/** Webhook activity: the filtered, keyset-paginated log, its chart, an event's page and re-applying. */
export function createEventPages(services: AppServices, kit: PageKit): Router {
  const { eventLog, intake } = services;
  const router = Router();

  async function renderList(req: Request, res: Response, site: Site, extra: { problem?: FormProblem; typedSince?: string } = {}) {
    const timeZone = kit.timeZoneOf(res);
    const filters = EventFilters.parse(req.query);
    const now = services.clock.now();
    const search = filters.search ?? '';
    const knownAssets = await services.assetMappings.known(site);
    const assetLabels = new Map(knownAssets.map((asset) => [asset.key, asset.label]));
    // A key the select does not offer (hand-edited, or another site's) is dropped, so the filter shown is the one applied.
    if (filters.asset !== undefined && !assetLabels.has(filters.asset)) filters.asset = undefined;
    let page: Awaited<ReturnType<typeof eventLog.list>>;
    try {
      page = await eventLog.list(site, { ...eventFilterOfPage(req.query, new Set(assetLabels.keys()), now), limit: PAGE_SIZE, cursor: filters.cursor });
    } catch (error) {
      // A hand-edited cursor starts the list from the newest event rather than failing the page.
      if (!(error instanceof InvalidInputError)) throw error;
      page = await eventLog.list(site, { limit: PAGE_SIZE });
    }
    // The filters stay in every link, so a filtered view can be bookmarked, shared and paged through.
    const kept = new URLSearchParams();
    for (const key of ['outcome', 'action', 'range', 'search', 'asset'] as const) if (filters[key]) kept.set(key, String(filters[key]));
    const older = page.nextCursor ? new URLSearchParams(kept) : null;
    older?.set('cursor', page.nextCursor ?? '');
    kit.render(
      res,
      'events/list.njk',
      {
        layout: await kit.layout(res, site, 'events', 'Webhook activity'),
        notice: typeof req.query.reapplied === 'string' && /^\d{1,9}$/.test(req.query.reapplied) ? `Re-applied ${plural(Number(req.query.reapplied), 'failed event')}.` : null,
        filters: { outcome: filters.outcome ?? '', action: filters.action ?? '', range: filters.range ?? '', search, asset: filters.asset ?? '' },
        filtered: kept.toString() !== '',
        outcomes: Object.entries(OUTCOME_LABELS).map(([value, label]) => ({ value, label })),
        actions: await eventLog.actionsSeen(site),
        // Labels are Kartra's names (user text): the select and the rows show them escaped, keyed by our asset key.
        assets: knownAssets.map((asset) => ({ key: asset.key, label: asset.label })),
        events: page.events.map((event) => ({ ...eventRow(event, timeZone), assetLabel: event.assetKey ? (assetLabels.get(event.assetKey) ?? null) : null })),
        olderLink: older ? `?${older.toString()}` : null,
        newestLink: filters.cursor ? `?${kept.toString()}` : null,
        chart: buildEventsChart(await eventLog.perDay(site, { days: 30, timeZone, now })),
        timeZone,
        reapply: { since: extra.typedSince ?? '', problem: extra.problem ?? null, failedCount: failedCountLabel(await kit.attentionCounts(res, site)) },
      },
      extra.problem?.status ?? 200,
    );
  }

  router.get('/sites/:siteId/events', async (req, res) => {
    await renderList(req, res, await kit.siteOf(req, res));
  });

  router.post('/sites/:siteId/events/reapply-failed', async (req, res) => {
    const site = await kit.siteOf(req, res);
    const body = (req.body ?? {}) as Record<string, unknown>;
    await kit.handleForm(
      async () => {
        const input = parseInput(ReapplyFailedForm, body);
        let since: Date | undefined;
        if (input.since !== undefined) {
          since = wallTimeToDate(input.since, kit.timeZoneOf(res)) ?? undefined;
          if (!since) throw new InvalidInputError('invalid time', [{ path: 'since', message: 'a date and time, or leave empty for all failed events' }]);
        }
        const result = await intake.reapplyMany(site, { statuses: ['failed'], since }, kit.actorOf(res));
        res.redirect(303, `/admin/sites/${site.id}/events?reapplied=${result.eventCount}`);
      },
      async (problem) => renderList(req, res, site, { problem, typedSince: typeof body.since === 'string' ? body.since.slice(0, 40) : '' }),
    );
  });

  async function renderDetail(req: Request, res: Response, site: Site, eventId: number, notice: string | null) {
    const timeZone = kit.timeZoneOf(res);
    const { event, effects } = await eventLog.detail(site, eventId);
    const readable = event.rawBodyPrunedAt ? null : readableBody(event.rawBody, event.headers);
    const rawText = readable ? prettyBody(readable.text) : null;
    kit.render(res, 'events/detail.njk', {
      layout: await kit.layout(res, site, 'events', `Event #${event.id}`),
      notice,
      event: {
        ...eventRow(event, timeZone),
        error: event.error,
        leadId: event.leadId,
        transactionId: event.transactionId,
        kartraTime: event.kartraTimeAt ? formatTime(event.kartraTimeAt, timeZone) : event.kartraTimeRaw,
        processedAt: formatTime(event.processedAt, timeZone, 'not yet'),
        attempts: event.attempts,
        sourceIp: event.sourceIp,
        duplicateOfEventId: event.duplicateOfEventId,
        notes: event.notes,
        parsed: event.parsed === null ? null : JSON.stringify(event.parsed, null, 2),
        rawBody: rawText,
        rawBodyNote: readable?.note ?? null,
        rawBodyBytes: event.rawBody.length,
        rawBodyPrunedAt: event.rawBodyPrunedAt ? formatTime(event.rawBodyPrunedAt, timeZone) : null,
        canReapply: !event.rawBodyPrunedAt,
      },
      grantChanges: effects.grantChanges.map((change) => ({
        memberId: change.memberId,
        levelName: change.levelName,
        change: changeLabel(change.change),
        reason: change.reason,
        at: formatTime(change.at, timeZone),
      })),
      emailChanges: effects.emailChanges.map((change) => ({ previousEmail: change.previousEmail, newEmail: change.newEmail, at: formatTime(change.changedAt, timeZone) })),
      actorLabel,
    });
  }

  const eventIdOf = (req: Request) => {
    const raw = String(req.params.eventId ?? '');
    return /^\d{1,12}$/.test(raw) ? Number(raw) : 0;
  };

  router.get('/sites/:siteId/events/:eventId', async (req, res) => {
    const site = await kit.siteOf(req, res);
    const outcome = typeof req.query.reapplied === 'string' && req.query.reapplied in OUTCOME_LABELS ? req.query.reapplied : null;
    await renderDetail(req, res, site, eventIdOf(req), outcome ? `Re-applied: the outcome is now “${OUTCOME_LABELS[outcome as keyof typeof OUTCOME_LABELS]}”.` : null);
  });

  router.post('/sites/:siteId/events/:eventId/reapply', async (req, res) => {
    const site = await kit.siteOf(req, res);
    const eventId = eventIdOf(req);
    const result = await intake.reapply(site, eventId, kit.actorOf(res));
    res.redirect(303, `/admin/sites/${site.id}/events/${eventId}?reapplied=${result.outcome}`);
  });

  return router;
}
