import { Router, type Request, type Response } from 'express';
import { InvalidInputError } from '../../domain/errors';
import type { Site } from '../../domain/model';
import { NOTIFICATION_TYPES, type OutboxMessage } from '../../domain/notifications/notification-model';
import type { AppServices } from '../admin/services';
import { parseInput } from '../parse-input';
import { formatTime, wallTimeToDate } from './format';
import type { FormProblem, PageKit } from './page-kit';
import { EndpointForm, MessageFilterForm, ReplayForm } from './page-schemas';

const idOf = (value: unknown) => (typeof value === 'string' && /^\d{1,12}$/.test(value) ? Number(value) : 0);

const TYPE_LABELS: Record<string, string> = {
  'member.created': 'A member is created',
  'access.granted': 'Access is granted or restored',
  'access.revoked': 'Access is revoked or ends',
  'access.past_due': 'A payment failed (grace period starts)',
  'event.failed': 'A Kartra event could not be applied',
};

const NOTICES: Record<string, string> = {
  saved: 'Endpoint saved.',
  test: 'Test notification queued; it shows below once sent.',
  resent: 'Notification queued again, with the same webhook-id.',
  deleted: 'Endpoint deleted.',
};

interface TypedEndpoint {
  url: string;
  description: string;
  eventTypes: string[];
  enabled: boolean;
}

/** Notifications to the host site: endpoints, their secrets (shown once), messages, delivery log, resend and replay. */
export function createNotificationPages(services: AppServices, kit: PageKit): Router {
  const { notifications } = services;
  const router = Router();

  const typeChoices = (checked: string[]) => NOTIFICATION_TYPES.map((type) => ({ type, label: TYPE_LABELS[type] ?? type, checked: checked.includes(type) }));

  function typedFrom(body: Record<string, unknown>): TypedEndpoint {
    const types = body.eventTypes === undefined ? [] : Array.isArray(body.eventTypes) ? body.eventTypes : [body.eventTypes];
    return { url: String(body.url ?? '').slice(0, 2048), description: String(body.description ?? '').slice(0, 200), eventTypes: types.map(String).slice(0, 10), enabled: body.enabled !== undefined };
  }

  async function renderList(req: Request, res: Response, site: Site, extra: { problem?: FormProblem; typed?: TypedEndpoint; secret?: { endpointId: number; value: string } } = {}) {
    const timeZone = kit.timeZoneOf(res);
    const endpoints = await notifications.listEndpoints(site);
    const typed = extra.typed ?? { url: '', description: '', eventTypes: [...NOTIFICATION_TYPES], enabled: true };
    kit.render(
      res,
      'notifications/index.njk',
      {
        layout: await kit.layout(res, site, 'notifications', 'Notifications'),
        notice: NOTICES[String(req.query.notice ?? '')] ?? null,
        secret: extra.secret ?? null,
        endpoints: endpoints.map((endpoint) => ({
          id: endpoint.id,
          url: endpoint.url,
          description: endpoint.description,
          enabled: endpoint.enabled,
          types: endpoint.eventTypes.join(', '),
          createdAt: formatTime(endpoint.createdAt, timeZone),
          pending: endpoint.counts.pending ?? 0,
          delivered: endpoint.counts.delivered ?? 0,
          dead: endpoint.counts.dead ?? 0,
        })),
        create: { ...typed, types: typeChoices(typed.eventTypes), problem: extra.problem ?? null },
      },
      extra.problem?.status ?? 200,
    );
  }

  function presentMessage(message: OutboxMessage, timeZone: string) {
    return {
      id: message.id,
      webhookId: message.messageId,
      type: message.type,
      status: message.status,
      attempts: message.attempts,
      lastStatusCode: message.lastStatusCode,
      lastError: message.lastError,
      createdAt: formatTime(message.createdAt, timeZone),
      nextAttemptAt: message.status === 'pending' ? formatTime(message.nextAttemptAt, timeZone) : null,
      deliveredAt: message.deliveredAt ? formatTime(message.deliveredAt, timeZone) : null,
    };
  }

  async function renderEndpoint(
    req: Request,
    res: Response,
    site: Site,
    extra: { problem?: FormProblem; typed?: TypedEndpoint; replayProblem?: FormProblem; replaySince?: string; secret?: string; notice?: string } = {},
  ) {
    const timeZone = kit.timeZoneOf(res);
    const endpointId = idOf(req.params.endpointId);
    const endpoint = await notifications.getEndpoint(site, endpointId);
    const { status } = MessageFilterForm.parse(req.query);
    const messages = await notifications.listMessages(site, endpointId, { status, limit: 100 });
    const typed = extra.typed ?? { url: endpoint.url, description: endpoint.description, eventTypes: endpoint.eventTypes, enabled: endpoint.enabled };
    kit.render(
      res,
      'notifications/endpoint.njk',
      {
        layout: await kit.layout(res, site, 'notifications', endpoint.description || endpoint.url),
        notice: extra.notice ?? NOTICES[String(req.query.notice ?? '')] ?? null,
        secret: extra.secret ?? null,
        endpoint: {
          id: endpoint.id,
          url: endpoint.url,
          description: endpoint.description,
          enabled: endpoint.enabled,
          previousSecretValidUntil: endpoint.previousSecretValidUntil ? formatTime(endpoint.previousSecretValidUntil, timeZone) : null,
          pending: endpoint.counts.pending ?? 0,
          delivered: endpoint.counts.delivered ?? 0,
          dead: endpoint.counts.dead ?? 0,
        },
        edit: { ...typed, types: typeChoices(typed.eventTypes), problem: extra.problem ?? null },
        replay: { since: extra.replaySince ?? '', problem: extra.replayProblem ?? null },
        status: status ?? '',
        messages: messages.map((message) => presentMessage(message, timeZone)),
        timeZone,
      },
      extra.problem?.status ?? extra.replayProblem?.status ?? 200,
    );
  }

  router.get('/sites/:siteId/notifications', async (req, res) => {
    await renderList(req, res, await kit.siteOf(req, res));
  });

  router.post('/sites/:siteId/notifications', async (req, res) => {
    const site = await kit.siteOf(req, res);
    const body = (req.body ?? {}) as Record<string, unknown>;
    const typed = typedFrom(body);
    await kit.handleForm(
      async () => {
        const input = parseInput(EndpointForm, body);
        const created = await notifications.createEndpoint(site, { url: input.url, description: input.description, eventTypes: input.eventTypes });
        // The secret exists only in this answer, so it is shown here rather than after a redirect.
        await renderList(req, res, site, { secret: { endpointId: created.endpoint.id, value: created.secret } });
      },
      (problem) => renderList(req, res, site, { problem, typed }),
    );
  });

  router.get('/sites/:siteId/notifications/:endpointId', async (req, res) => {
    await renderEndpoint(req, res, await kit.siteOf(req, res));
  });

  router.post('/sites/:siteId/notifications/:endpointId', async (req, res) => {
    const site = await kit.siteOf(req, res);
    const endpointId = idOf(req.params.endpointId);
    const body = (req.body ?? {}) as Record<string, unknown>;
    const typed = typedFrom(body);
    await kit.handleForm(
      async () => {
        const input = parseInput(EndpointForm, body);
        await notifications.updateEndpoint(site, endpointId, { url: input.url, description: input.description ?? '', eventTypes: input.eventTypes, enabled: input.enabled });
        res.redirect(303, `/admin/sites/${site.id}/notifications/${endpointId}?notice=saved`);
      },
      (problem) => renderEndpoint(req, res, site, { problem, typed }),
    );
  });

  router.post('/sites/:siteId/notifications/:endpointId/test', async (req, res) => {
    const site = await kit.siteOf(req, res);
    const endpointId = idOf(req.params.endpointId);
    await notifications.sendTest(site, endpointId);
    res.redirect(303, `/admin/sites/${site.id}/notifications/${endpointId}?notice=test`);
  });

  router.post('/sites/:siteId/notifications/:endpointId/rotate', async (req, res) => {
    const site = await kit.siteOf(req, res);
    const rotated = await notifications.rotateSecret(site, idOf(req.params.endpointId));
    await renderEndpoint(req, res, site, { secret: rotated.secret, notice: 'New signing secret made. The old one keeps signing beside it for 24 hours.' });
  });

  router.post('/sites/:siteId/notifications/:endpointId/replay', async (req, res) => {
    const site = await kit.siteOf(req, res);
    const endpointId = idOf(req.params.endpointId);
    const body = (req.body ?? {}) as Record<string, unknown>;
    const replaySince = String(body.since ?? '').slice(0, 40);
    await kit.handleForm(
      async () => {
        const input = parseInput(ReplayForm, body);
        const since = wallTimeToDate(input.since, kit.timeZoneOf(res));
        if (!since) throw new InvalidInputError('invalid time', [{ path: 'since', message: 'a date and time' }]);
        const requeued = await notifications.replaySince(site, endpointId, since);
        await renderEndpoint(req, res, site, { notice: `${requeued} notification${requeued === 1 ? '' : 's'} queued again, with their webhook-ids.` });
      },
      (replayProblem) => renderEndpoint(req, res, site, { replayProblem, replaySince }),
    );
  });

  router.post('/sites/:siteId/notifications/:endpointId/delete', async (req, res) => {
    const site = await kit.siteOf(req, res);
    await notifications.deleteEndpoint(site, idOf(req.params.endpointId));
    res.redirect(303, `/admin/sites/${site.id}/notifications?notice=deleted`);
  });

  router.get('/sites/:siteId/notifications/:endpointId/messages/:messageId', async (req, res) => {
    const site = await kit.siteOf(req, res);
    const timeZone = kit.timeZoneOf(res);
    const endpointId = idOf(req.params.endpointId);
    const endpoint = await notifications.getEndpoint(site, endpointId);
    const { message, attempts } = await notifications.getMessage(site, endpointId, idOf(req.params.messageId));
    kit.render(res, 'notifications/message.njk', {
      layout: await kit.layout(res, site, 'notifications', `Notification ${message.messageId}`),
      notice: NOTICES[String(req.query.notice ?? '')] ?? null,
      endpoint: { id: endpoint.id, url: endpoint.url },
      message: { ...presentMessage(message, timeZone), payload: JSON.stringify(JSON.parse(message.payload), null, 2) },
      attempts: attempts.map((attempt) => ({ at: formatTime(attempt.attemptedAt, timeZone), statusCode: attempt.statusCode, durationMs: attempt.durationMs, error: attempt.error })),
    });
  });

  router.post('/sites/:siteId/notifications/:endpointId/messages/:messageId/resend', async (req, res) => {
    const site = await kit.siteOf(req, res);
    const endpointId = idOf(req.params.endpointId);
    const messageId = idOf(req.params.messageId);
    await notifications.resend(site, endpointId, messageId);
    res.redirect(303, `/admin/sites/${site.id}/notifications/${endpointId}/messages/${messageId}?notice=resent`);
  });

  return router;
}
