import { Router } from 'express';
import { siteFromPath } from '../middleware/require-token';
import { parseInput } from '../parse-input';
import { streamCsv } from '../csv';
import { EVENT_CSV_HEADER, eventCsvBatches, EXPORT_BATCH_ROWS, exportFilename, MEMBER_CSV_HEADER, memberCsvBatches } from '../export-rows';
import { EventQuery, MemberQuery } from './admin-schemas';
import type { AppServices } from './services';

// The list endpoints' filters without their paging: an export is the whole filtered list, read in its own pages.
// Exported for openapi.ts, which writes the query parameters from them.
export const EventExportQuery = EventQuery.pick({ status: true, action: true, productId: true, assetKey: true, email: true, since: true, until: true });
export const MemberExportQuery = MemberQuery.pick({ email: true, q: true });

/**
 * CSV exports for the admin API: GET /sites/:siteId/events.csv and /members.csv, with the filters of GET …/events and
 * GET …/members. Mounted inside the admin API router, after its token check, so a token sees only its sites.
 */
export function createAdminExportRouter(services: AppServices, options: { batchRows?: number } = {}): Router {
  const { sites, eventLog, members } = services;
  const batchRows = options.batchRows ?? EXPORT_BATCH_ROWS;
  const router = Router();

  router.get('/sites/:siteId/events.csv', async (req, res) => {
    const site = await siteFromPath(sites, req, res);
    const query = parseInput(EventExportQuery, req.query);
    const labels = new Map((await services.assetMappings.known(site)).map((asset) => [asset.key, asset.label]));
    const filter = { statuses: query.status, action: query.action, productId: query.productId, assetKey: query.assetKey, email: query.email, since: query.since, until: query.until };
    await streamCsv(res, {
      filename: exportFilename(site.id, 'events', services.clock.now()),
      header: EVENT_CSV_HEADER,
      batches: eventCsvBatches(eventLog, site, filter, labels, batchRows),
    });
  });

  router.get('/sites/:siteId/members.csv', async (req, res) => {
    const site = await siteFromPath(sites, req, res);
    const query = parseInput(MemberExportQuery, req.query);
    await streamCsv(res, {
      filename: exportFilename(site.id, 'members', services.clock.now()),
      header: MEMBER_CSV_HEADER,
      batches: memberCsvBatches(members, site, { email: query.email, query: query.q }, batchRows),
    });
  });

  return router;
}
