import { Router } from 'express';
import type { AppServices } from '../admin/services';
import { streamCsv } from '../csv';
import { EVENT_CSV_HEADER, eventCsvBatches, EXPORT_BATCH_ROWS, exportFilename, MEMBER_CSV_HEADER, memberCsvBatches } from '../export-rows';
import type { PageKit } from './page-kit';
import { eventFilterOfPage, MemberSearchForm } from './page-schemas';

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
