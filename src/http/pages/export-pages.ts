import { Router } from 'express';
import type { EventLogFilter } from '../../domain/webhook-events/event-log-service';
import type { AppServices } from '../admin/services';
import { streamCsv } from '../csv';
import { EVENT_CSV_HEADER, eventCsvBatches, EXPORT_BATCH_ROWS, exportFilename, MEMBER_CSV_HEADER, memberCsvBatches } from '../export-rows';
import type { PageKit } from './page-kit';
import { EventFilters, MemberSearchForm, RANGES } from './page-schemas';

const HOUR_MS = 60 * 60 * 1000;

/**
 * The Webhook activity page's filters as an event-log filter, read as that page reads them (event-pages.ts,
 * renderList): a search with an @ is an email, else a product id if it looks like one; a range counts back from now;
 * an asset key the site does not know is dropped, as the page drops it. Keep the two in step: the export promises
 * the rows the admin is looking at.
 */
export function eventFilterOfPage(query: unknown, knownAssetKeys: ReadonlySet<string>, now: Date): Omit<EventLogFilter, 'limit' | 'cursor'> {
  const filters = EventFilters.parse(query);
  const search = filters.search ?? '';
  const isEmail = search.includes('@');
  const isProduct = /^[A-Za-z0-9_-]{1,64}$/.test(search);
  return {
    statuses: filters.outcome ? [filters.outcome] : undefined,
    action: filters.action,
    email: isEmail ? search : undefined,
    productId: !isEmail && isProduct ? search : undefined,
    assetKey: filters.asset !== undefined && knownAssetKeys.has(filters.asset) ? filters.asset : undefined,
    since: filters.range ? new Date(now.getTime() - RANGES[filters.range] * HOUR_MS) : undefined,
  };
}

/** CSV downloads of what the Webhook activity and Members pages show, whole, whatever page the admin was on. */
export function createExportPages(services: AppServices, kit: PageKit, options: { batchRows?: number } = {}): Router {
  const { eventLog, members } = services;
  const batchRows = options.batchRows ?? EXPORT_BATCH_ROWS;
  const router = Router();

  router.get('/sites/:siteId/events.csv', async (req, res) => {
    const site = await kit.siteOf(req, res);
    const now = services.clock.now();
    const knownAssets = await services.assetMappings.known(site);
    const filter = eventFilterOfPage(req.query, new Set(knownAssets.map((asset) => asset.key)), now);
    const labels = new Map(knownAssets.map((asset) => [asset.key, asset.label]));
    await streamCsv(res, { filename: exportFilename(site.id, 'events', now), header: EVENT_CSV_HEADER, batches: eventCsvBatches(eventLog, site, filter, labels, batchRows) });
  });

  router.get('/sites/:siteId/members.csv', async (req, res) => {
    const site = await kit.siteOf(req, res);
    // The list's own `after` is its paging, not a filter: the export is every member the search finds.
    const { q } = MemberSearchForm.parse(req.query);
    await streamCsv(res, {
      filename: exportFilename(site.id, 'members', services.clock.now()),
      header: MEMBER_CSV_HEADER,
      batches: memberCsvBatches(members, site, { query: q || undefined }, batchRows),
    });
  });

  return router;
}
