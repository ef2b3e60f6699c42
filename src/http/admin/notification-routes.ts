import type { Router } from 'express';
import { siteFromPath } from '../middleware/require-token';
import { parseInput } from '../parse-input';
import { CreateNotificationEndpoint, NotificationMessageQuery, ReplayNotifications, RotateEndpointSecret, UpdateNotificationEndpoint } from './admin-schemas';
import { decodeNotificationCursor } from './notification-cursor';
import { presentDeliveryAttempt, presentEndpoint, presentEndpointWithSecret, presentNotification, presentNotificationPage } from './presenters';
import type * as Wire from './response-schemas';
import type { Presented } from './response-schemas';
import type { AppServices } from './services';

/**
 * The notification endpoints of a site, their messages and delivery log. Registered on the admin router itself (not
 * a sub-router) so the route table stays one flat list, as the OpenAPI test reads it.
 */
export function addNotificationRoutes(router: Router, services: AppServices, pathId: (value: unknown, entity: string) => number): void {
  const { sites, notifications } = services;
  const base = '/sites/:siteId/notification-endpoints';

  router.post(base, async (req, res) => {
    const site = await siteFromPath(sites, req, res);
    res.status(201).json(presentEndpointWithSecret(await notifications.createEndpoint(site, parseInput(CreateNotificationEndpoint, req.body))));
  });
  router.get(base, async (req, res) => {
    const site = await siteFromPath(sites, req, res);
    res.json({ endpoints: (await notifications.listEndpoints(site)).map(presentEndpoint) } satisfies Presented<typeof Wire.NotificationEndpointList>);
  });
  router.get(`${base}/:endpointId`, async (req, res) => {
    const site = await siteFromPath(sites, req, res);
    res.json(presentEndpoint(await notifications.getEndpoint(site, pathId(req.params.endpointId, 'notification endpoint'))));
  });
  router.patch(`${base}/:endpointId`, async (req, res) => {
    const site = await siteFromPath(sites, req, res);
    const endpointId = pathId(req.params.endpointId, 'notification endpoint');
    res.json(presentEndpoint(await notifications.updateEndpoint(site, endpointId, parseInput(UpdateNotificationEndpoint, req.body))));
  });
  router.delete(`${base}/:endpointId`, async (req, res) => {
    const site = await siteFromPath(sites, req, res);
    await notifications.deleteEndpoint(site, pathId(req.params.endpointId, 'notification endpoint'));
    res.status(204).end();
  });
  router.post(`${base}/:endpointId/rotate-secret`, async (req, res) => {
    const site = await siteFromPath(sites, req, res);
    const endpointId = pathId(req.params.endpointId, 'notification endpoint');
    res.json(presentEndpointWithSecret(await notifications.rotateSecret(site, endpointId, parseInput(RotateEndpointSecret, req.body ?? {}).graceHours)));
  });
  router.post(`${base}/:endpointId/test`, async (req, res) => {
    const site = await siteFromPath(sites, req, res);
    res.status(202).json(presentNotification(await notifications.sendTest(site, pathId(req.params.endpointId, 'notification endpoint'))));
  });
  router.post(`${base}/:endpointId/replay`, async (req, res) => {
    const site = await siteFromPath(sites, req, res);
    const endpointId = pathId(req.params.endpointId, 'notification endpoint');
    res.status(202).json({ requeued: await notifications.replaySince(site, endpointId, parseInput(ReplayNotifications, req.body).since) } satisfies Presented<typeof Wire.NotificationsRequeued>);
  });
  router.get(`${base}/:endpointId/messages`, async (req, res) => {
    const site = await siteFromPath(sites, req, res);
    const endpointId = pathId(req.params.endpointId, 'notification endpoint');
    const { status, limit, cursor } = parseInput(NotificationMessageQuery, req.query);
    const beforeId = cursor === undefined ? undefined : decodeNotificationCursor(cursor);
    // One more than asked for: it only says whether another page exists.
    const found = await notifications.listMessages(site, endpointId, { status, limit: limit + 1, beforeId });
    res.json(presentNotificationPage(found, limit));
  });
  router.get(`${base}/:endpointId/messages/:messageId`, async (req, res) => {
    const site = await siteFromPath(sites, req, res);
    const endpointId = pathId(req.params.endpointId, 'notification endpoint');
    const { message, attempts } = await notifications.getMessage(site, endpointId, pathId(req.params.messageId, 'notification'));
    res.json({ ...presentNotification(message), deliveries: attempts.map(presentDeliveryAttempt) } satisfies Presented<typeof Wire.NotificationDetail>);
  });
  router.post(`${base}/:endpointId/messages/:messageId/resend`, async (req, res) => {
    const site = await siteFromPath(sites, req, res);
    const endpointId = pathId(req.params.endpointId, 'notification endpoint');
    res.status(202).json(presentNotification(await notifications.resend(site, endpointId, pathId(req.params.messageId, 'notification'))));
  });
}
