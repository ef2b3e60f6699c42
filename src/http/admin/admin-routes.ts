import express, { Router } from 'express';
import { ForbiddenError, NotFoundError } from '../../domain/errors';
import { actorName, currentToken, requireToken, siteFromPath, visibleSiteIds } from '../middleware/require-token';
import { parseInput } from '../parse-input';
import {
  AssetKeyParam,
  CreateAssetMapping,
  CreateGrant,
  CreateLevel,
  CreateMapping,
  CreateSite,
  DeleteMappingQuery,
  EventQuery,
  IdParam,
  MemberQuery,
  ProductIdParam,
  ReapplyMany,
  RenameLevel,
  UpdateIntegration,
} from './admin-schemas';
import { decodeMemberCursor } from './member-cursor';
import {
  presentAssetMapping,
  presentEventDetail,
  presentEventSummary,
  presentIntegration,
  presentLevel,
  presentMapping,
  presentMemberPage,
  presentSite,
} from './presenters';
import type * as Wire from './response-schemas';
import type { Presented } from './response-schemas';
import { createAdminExportRouter } from './export-routes';
import { addKartraAccountRoutes } from './kartra-account-routes';
import { addNotificationRoutes } from './notification-routes';
import type { AppServices } from './services';

/** The admin JSON API under /api/v1. Handlers parse, call one service, present. */
export function createAdminApiRouter(services: AppServices): Router {
  const { sites, mappings, assetMappings, members, access, intake, eventLog } = services;
  const router = Router();
  router.use(function noStore(_req, res, next) {
    // Answers carry member data and, once, a webhook URL with its secret: no cache, shared or private, may keep them.
    res.setHeader('Cache-Control', 'no-store');
    next();
  });
  // The token is checked before the body is read: a client without one learns nothing from 400 or 413 about what
  // the API accepts, and costs no parsing.
  router.use(requireToken(services.tokens));
  router.use(express.json({ limit: '100kb' }));

  const pathId = (value: unknown, entity: string) => {
    const parsed = IdParam.safeParse(value);
    if (!parsed.success) throw new NotFoundError(entity, String(value).slice(0, 40));
    return parsed.data;
  };

  // Sites
  router.post('/sites', async (req, res) => {
    if (currentToken(res).siteId !== null) throw new ForbiddenError('a site-scoped token cannot create sites');
    const input = parseInput(CreateSite, req.body);
    res.status(201).json(presentSite(await sites.createSite(input.name)));
  });
  router.get('/sites', async (_req, res) => {
    res.json({ sites: (await services.sites.listSites(visibleSiteIds(res))).map(presentSite) } satisfies Presented<typeof Wire.SiteList>);
  });
  router.get('/sites/:siteId', async (req, res) => {
    res.json(presentSite(await siteFromPath(sites, req, res)));
  });

  // Access levels
  router.post('/sites/:siteId/levels', async (req, res) => {
    const site = await siteFromPath(sites, req, res);
    res.status(201).json(presentLevel(await sites.createLevel(site, parseInput(CreateLevel, req.body).name)));
  });
  router.get('/sites/:siteId/levels', async (req, res) => {
    const site = await siteFromPath(sites, req, res);
    res.json({ levels: (await sites.listLevels(site)).map(presentLevel) } satisfies Presented<typeof Wire.LevelList>);
  });
  router.patch('/sites/:siteId/levels/:levelId', async (req, res) => {
    const site = await siteFromPath(sites, req, res);
    res.json(presentLevel(await sites.renameLevel(site, pathId(req.params.levelId, 'level'), parseInput(RenameLevel, req.body).name)));
  });
  router.delete('/sites/:siteId/levels/:levelId', async (req, res) => {
    const site = await siteFromPath(sites, req, res);
    await sites.deleteLevel(site, pathId(req.params.levelId, 'level'));
    res.status(204).end();
  });

  // Kartra integration
  router.get('/sites/:siteId/kartra', async (req, res) => {
    const site = await siteFromPath(sites, req, res);
    res.json({ ...presentIntegration(await sites.integrationState(site)), health: await eventLog.health(site, services.clock.now()) } satisfies Presented<typeof Wire.IntegrationWithHealth>);
  });
  router.put('/sites/:siteId/kartra', async (req, res) => {
    const site = await siteFromPath(sites, req, res);
    const input = parseInput(UpdateIntegration, req.body);
    const { enabled, ...settings } = input;
    let state = Object.keys(settings).length > 0 ? await sites.updateSettings(site, settings) : await sites.integrationState(site);
    if (enabled !== undefined) state = await sites.setEnabled(await sites.requireSite(site.id, 'all'), enabled);
    res.json(presentIntegration(state));
  });
  router.post('/sites/:siteId/kartra/rotate', async (req, res) => {
    res.json(presentIntegration(await sites.rotateSecret(await siteFromPath(sites, req, res))));
  });
  addKartraAccountRoutes(router, services);

  // Mappings and discovery
  router.post('/sites/:siteId/mappings', async (req, res) => {
    const site = await siteFromPath(sites, req, res);
    const result = await mappings.save(site, parseInput(CreateMapping, req.body));
    res.status(201).json({ mapping: presentMapping(result.mapping), preview: result.preview, applied: result.applied } satisfies Presented<typeof Wire.MappingSaved>);
  });
  router.get('/sites/:siteId/mappings', async (req, res) => {
    res.json({ mappings: (await mappings.list(await siteFromPath(sites, req, res))).map(presentMapping) } satisfies Presented<typeof Wire.MappingList>);
  });
  router.get('/sites/:siteId/mappings/:productId', async (req, res) => {
    const site = await siteFromPath(sites, req, res);
    res.json(presentMapping(await mappings.get(site, parseInput(ProductIdParam, req.params).productId)));
  });
  router.get('/sites/:siteId/mappings/:productId/preview', async (req, res) => {
    const site = await siteFromPath(sites, req, res);
    res.json((await mappings.preview(site, parseInput(ProductIdParam, req.params).productId)) satisfies Presented<typeof Wire.MappingPreview>);
  });
  router.delete('/sites/:siteId/mappings/:productId', async (req, res) => {
    const site = await siteFromPath(sites, req, res);
    const { revoke } = parseInput(DeleteMappingQuery, req.query);
    res.json((await mappings.remove(site, parseInput(ProductIdParam, req.params).productId, revoke, actorName(res))) satisfies Presented<typeof Wire.RevokedGrants>);
  });
  router.get('/sites/:siteId/discovered-products', async (req, res) => {
    res.json({ products: await mappings.discovered(await siteFromPath(sites, req, res)) } satisfies Presented<typeof Wire.DiscoveredProductList>);
  });

  // Tag and membership-level mappings, and discovered tags and levels
  router.post('/sites/:siteId/asset-mappings', async (req, res) => {
    const site = await siteFromPath(sites, req, res);
    const input = parseInput(CreateAssetMapping, req.body);
    const asset =
      'key' in input
        ? { key: input.key }
        : input.kind === 'tag'
          ? { reference: { kind: 'tag' as const, tagId: input.tagId, tagName: input.tagName } }
          : { reference: { kind: 'membership' as const, membershipId: input.membershipId, membershipName: input.membershipName, levelId: input.levelId, levelName: input.levelName } };
    const result = await assetMappings.save(site, { asset, levelIds: input.levelIds, applyToPast: input.applyToPast });
    res.status(201).json({ assetMapping: presentAssetMapping(result.mapping), preview: result.preview, applied: result.applied } satisfies Presented<typeof Wire.AssetMappingSaved>);
  });
  router.get('/sites/:siteId/asset-mappings', async (req, res) => {
    res.json({ assetMappings: (await assetMappings.list(await siteFromPath(sites, req, res))).map(presentAssetMapping) } satisfies Presented<typeof Wire.AssetMappingList>);
  });
  router.get('/sites/:siteId/asset-mappings/:key', async (req, res) => {
    const site = await siteFromPath(sites, req, res);
    res.json(presentAssetMapping(await assetMappings.get(site, parseInput(AssetKeyParam, req.params).key)));
  });
  router.get('/sites/:siteId/asset-mappings/:key/preview', async (req, res) => {
    const site = await siteFromPath(sites, req, res);
    res.json((await assetMappings.preview(site, { key: parseInput(AssetKeyParam, req.params).key })) satisfies Presented<typeof Wire.AssetMappingPreview>);
  });
  router.delete('/sites/:siteId/asset-mappings/:key', async (req, res) => {
    const site = await siteFromPath(sites, req, res);
    const { revoke } = parseInput(DeleteMappingQuery, req.query);
    res.json((await assetMappings.remove(site, parseInput(AssetKeyParam, req.params).key, revoke, actorName(res))) satisfies Presented<typeof Wire.RevokedGrants>);
  });
  router.get('/sites/:siteId/discovered-assets', async (req, res) => {
    const found = await assetMappings.discovered(await siteFromPath(sites, req, res));
    res.json({ tags: found.filter((asset) => asset.kind === 'tag'), memberships: found.filter((asset) => asset.kind === 'membership') } satisfies Presented<typeof Wire.DiscoveredAssetList>);
  });

  // Members and manual grants
  router.get('/sites/:siteId/members', async (req, res) => {
    const site = await siteFromPath(sites, req, res);
    const query = parseInput(MemberQuery, req.query);
    // `after` is the deprecated spelling of the same position; a cursor wins when both are sent.
    const afterId = query.cursor !== undefined ? decodeMemberCursor(query.cursor) : query.after;
    // One more than a page, so that the last page says it is the last rather than leading to an empty one.
    const found = await members.search(site, { email: query.email, query: query.q, limit: query.limit + 1, afterId });
    res.json(presentMemberPage(found, query.limit));
  });
  router.get('/sites/:siteId/members/:memberId', async (req, res) => {
    const site = await siteFromPath(sites, req, res);
    res.json((await members.detail(site, pathId(req.params.memberId, 'member'))) satisfies Presented<typeof Wire.MemberDetail>);
  });
  router.post('/sites/:siteId/members/:memberId/grants', async (req, res) => {
    const site = await siteFromPath(sites, req, res);
    const input = parseInput(CreateGrant, req.body);
    const grant = await access.grantManually(site, pathId(req.params.memberId, 'member'), input.levelId, input.expiresAt ?? null, actorName(res));
    res.status(201).json(grant satisfies Presented<typeof Wire.Grant>);
  });
  router.delete('/sites/:siteId/members/:memberId/grants/:grantId', async (req, res) => {
    const site = await siteFromPath(sites, req, res);
    const grant = await access.revokeManualGrant(site, pathId(req.params.memberId, 'member'), pathId(req.params.grantId, 'grant'), actorName(res));
    res.json(grant satisfies Presented<typeof Wire.Grant>);
  });

  router.get('/sites/:siteId/attention', async (req, res) => {
    res.json((await services.attention.report(await siteFromPath(sites, req, res))) satisfies Presented<typeof Wire.Attention>);
  });

  // Event log and re-apply
  router.get('/sites/:siteId/events', async (req, res) => {
    const site = await siteFromPath(sites, req, res);
    const query = parseInput(EventQuery, req.query);
    const page = await eventLog.list(site, { ...query, statuses: query.status });
    res.json({ events: page.events.map(presentEventSummary), nextCursor: page.nextCursor } satisfies Presented<typeof Wire.EventPage>);
  });
  router.post('/sites/:siteId/events/reapply', async (req, res) => {
    const site = await siteFromPath(sites, req, res);
    res.json((await intake.reapplyMany(site, parseInput(ReapplyMany, req.body), actorName(res))) satisfies Presented<typeof Wire.ReapplyResult>);
  });
  router.get('/sites/:siteId/events/:eventId', async (req, res) => {
    const site = await siteFromPath(sites, req, res);
    const { event, effects } = await eventLog.detail(site, pathId(req.params.eventId, 'event'));
    res.json(presentEventDetail(event, effects));
  });
  router.post('/sites/:siteId/events/:eventId/reapply', async (req, res) => {
    const site = await siteFromPath(sites, req, res);
    const eventId = pathId(req.params.eventId, 'event');
    const result = await intake.reapply(site, eventId, actorName(res));
    // reapply throws for an unknown event; the outcome union still allows 'not_found', so it is answered as one.
    if (result.outcome === 'not_found') throw new NotFoundError('event', eventId);
    const { event, effects } = await eventLog.detail(site, eventId);
    res.json({ outcome: result.outcome, event: presentEventDetail(event, effects) } satisfies Presented<typeof Wire.EventReapplied>);
  });

  addNotificationRoutes(router, services, pathId);

  // CSV exports of the event log and the members, streamed; the filters of GET …/events and GET …/members.
  router.use(createAdminExportRouter(services));

  return router;
}
