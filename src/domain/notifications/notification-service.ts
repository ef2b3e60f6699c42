import { InvalidInputError, NotFoundError } from '../errors';
import type { Site } from '../model';
import type { Clock, Repositories, RunInTransaction } from '../ports';
import type { StoredSecretCodec } from '../secret-box';
import { checkEndpointUrl } from './endpoint-url';
import type { DeliveryAttempt, NotificationEndpoint, NotificationType, OutboxMessage, OutboxStatus } from './notification-model';
import type { Notifier } from './notifier';
import { generateSigningSecret } from './signature';

const HOUR_MS = 60 * 60 * 1000;
export const DEFAULT_ROTATION_GRACE_HOURS = 24;

/** An endpoint as the admin sees it: never its secrets, but whether an old one still signs and until when. */
export interface EndpointView {
  id: number;
  url: string;
  description: string;
  eventTypes: NotificationType[];
  enabled: boolean;
  createdAt: Date;
  previousSecretValidUntil: Date | null;
  counts: Partial<Record<OutboxStatus, number>>;
}

export type NotificationService = ReturnType<typeof createNotificationService>;

export function createNotificationService({
  repos,
  clock,
  transaction,
  notifier,
  secrets,
}: {
  repos: Repositories;
  clock: Clock;
  transaction: RunInTransaction;
  notifier: Notifier;
  /** Seals the signing secrets at rest (SECRETS_KEY); they are shown once, in the answer that made them. */
  secrets: StoredSecretCodec;
}) {
  function requireUrl(url: string): string {
    const checked = checkEndpointUrl(url);
    if (!checked.ok) throw new InvalidInputError('the endpoint URL breaks a rule', [{ path: 'url', message: checked.rule }]);
    return checked.url;
  }

  async function requireEndpoint(site: Site, endpointId: number): Promise<NotificationEndpoint> {
    const endpoint = await repos.notificationEndpoints.findById(site.id, endpointId);
    if (!endpoint) throw new NotFoundError('notification endpoint', endpointId);
    return endpoint;
  }

  async function view(endpoint: NotificationEndpoint): Promise<EndpointView> {
    const { id, url, description, eventTypes, enabled, createdAt } = endpoint;
    const graceLasts = endpoint.previousSecretValidUntil && endpoint.previousSecretValidUntil.getTime() > clock.now().getTime();
    return { id, url, description, eventTypes, enabled, createdAt, previousSecretValidUntil: graceLasts ? endpoint.previousSecretValidUntil : null, counts: await repos.outbox.countByStatus(endpoint.siteId, id) };
  }

  /** Creates an endpoint; the answer carries its signing secret, the only time it is shown. */
  async function createEndpoint(site: Site, input: { url: string; description?: string; eventTypes: NotificationType[] }): Promise<{ endpoint: EndpointView; secret: string }> {
    const secret = generateSigningSecret();
    const endpoint = await repos.notificationEndpoints.create({
      siteId: site.id,
      url: requireUrl(input.url),
      description: input.description ?? '',
      eventTypes: [...new Set(input.eventTypes)],
      secret: secrets.store(secret),
      createdAt: clock.now(),
    });
    return { endpoint: await view(endpoint), secret };
  }

  async function listEndpoints(site: Site): Promise<EndpointView[]> {
    return Promise.all((await repos.notificationEndpoints.list(site.id)).map(view));
  }

  async function getEndpoint(site: Site, endpointId: number): Promise<EndpointView> {
    return view(await requireEndpoint(site, endpointId));
  }

  async function updateEndpoint(site: Site, endpointId: number, changes: { url?: string; description?: string; eventTypes?: NotificationType[]; enabled?: boolean }): Promise<EndpointView> {
    await requireEndpoint(site, endpointId);
    await repos.notificationEndpoints.update(site.id, endpointId, {
      ...(changes.url !== undefined ? { url: requireUrl(changes.url) } : {}),
      ...(changes.description !== undefined ? { description: changes.description } : {}),
      ...(changes.eventTypes !== undefined ? { eventTypes: [...new Set(changes.eventTypes)] } : {}),
      ...(changes.enabled !== undefined ? { enabled: changes.enabled } : {}),
    });
    return getEndpoint(site, endpointId);
  }

  async function deleteEndpoint(site: Site, endpointId: number): Promise<void> {
    await requireEndpoint(site, endpointId);
    await repos.notificationEndpoints.delete(site.id, endpointId);
  }

  /**
   * A new signing secret, shown once; the old one keeps signing beside it (two signatures in `webhook-signature`) for
   * `graceHours`, so the host site can switch its receiver to the new secret without refusing a single message.
   */
  async function rotateSecret(site: Site, endpointId: number, graceHours = DEFAULT_ROTATION_GRACE_HOURS): Promise<{ endpoint: EndpointView; secret: string }> {
    const endpoint = await requireEndpoint(site, endpointId);
    const secret = generateSigningSecret();
    await repos.notificationEndpoints.update(site.id, endpointId, {
      secret: secrets.store(secret),
      // Kept in its stored form: sealed, or (stored before sealing existed) sealed now.
      previousSecret: graceHours > 0 ? secrets.store(secrets.read(endpoint.secret)) : null,
      previousSecretValidUntil: graceHours > 0 ? new Date(clock.now().getTime() + graceHours * HOUR_MS) : null,
    });
    return { endpoint: await getEndpoint(site, endpointId), secret };
  }

  async function sendTest(site: Site, endpointId: number): Promise<OutboxMessage> {
    const endpoint = await requireEndpoint(site, endpointId);
    return transaction(async (tx) => {
      await notifier.notifyTest(tx, endpoint);
      const [message] = await tx.outbox.list(site.id, { endpointId, limit: 1 });
      if (!message) throw new Error('the test notification was not stored');
      return message;
    });
  }

  async function listMessages(site: Site, endpointId: number, query: { status?: OutboxStatus; limit: number; beforeId?: number }): Promise<OutboxMessage[]> {
    await requireEndpoint(site, endpointId);
    return repos.outbox.list(site.id, { endpointId, ...query });
  }

  async function requireMessage(site: Site, endpointId: number, outboxId: number): Promise<OutboxMessage> {
    const message = await repos.outbox.findById(site.id, outboxId);
    if (!message || message.endpointId !== endpointId) throw new NotFoundError('notification', outboxId);
    return message;
  }

  /** A message with its delivery log, oldest attempt first. */
  async function getMessage(site: Site, endpointId: number, outboxId: number): Promise<{ message: OutboxMessage; attempts: DeliveryAttempt[] }> {
    const message = await requireMessage(site, endpointId, outboxId);
    return { message, attempts: await repos.outbox.attemptsFor(site.id, outboxId) };
  }

  /** Sends a message again, delivered or dead, with the same webhook-id and body (a receiver may drop it as seen). */
  async function resend(site: Site, endpointId: number, outboxId: number): Promise<OutboxMessage> {
    await requireMessage(site, endpointId, outboxId);
    await repos.outbox.requeue(site.id, { outboxId }, clock.now());
    return requireMessage(site, endpointId, outboxId);
  }

  /** Sends again every message to the endpoint created at or after `since`; returns how many. */
  async function replaySince(site: Site, endpointId: number, since: Date): Promise<number> {
    await requireEndpoint(site, endpointId);
    return repos.outbox.requeue(site.id, { endpointId, createdSince: since }, clock.now());
  }

  return { createEndpoint, listEndpoints, getEndpoint, updateEndpoint, deleteEndpoint, rotateSecret, sendTest, listMessages, getMessage, resend, replaySince };
}
