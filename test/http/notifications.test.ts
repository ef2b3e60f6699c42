import { buildStorySite, postOutbound, type SiteWithHook } from '../support/factories';
import { parseKartraTime } from '../../src/domain/kartra/kartra-time';
import { postIpn } from '../support/factories';
import { ipnFixtureBody, outboundFixture } from '../support/kartra-fixtures';
import { NotificationReceiver, verifyNotification } from '../support/notification-receiver';
import { injectInsertFault } from '../support/raw-sql';
import { createAdmin, signIn } from '../support/admin-pages';
import { buildTestApp, type TestApp } from '../support/test-app';

const ALL_TYPES = ['member.created', 'access.granted', 'access.revoked', 'access.past_due', 'event.failed'];

describe('signed notifications to the host site, through the outbox', () => {
  let t: TestApp;
  let site: SiteWithHook;
  let receiver: NotificationReceiver;
  let receiverUrl: string;

  beforeEach(async () => {
    // A fast retry schedule (1 s doubling, no jitter spread in the assertions below) and three attempts before a dead letter.
    t = await buildTestApp({ NOTIFY_RETRY_BASE_MS: '1000', NOTIFY_RETRY_CAP_MS: '60000', NOTIFY_MAX_ATTEMPTS: '4', NOTIFY_TIMEOUT_SECONDS: '2' });
    // standardwebhooks checks webhook-timestamp against the real clock (5 minutes' tolerance): start the test clock now.
    t.clock.set(new Date().toISOString());
    site = await buildStorySite(t);
    receiver = new NotificationReceiver();
    receiverUrl = await receiver.start();
  });
  afterEach(async () => {
    await receiver.stop();
    await t.close();
  });

  /** Runs worker passes, moving the clock past each retry's wait, until nothing is due or `rounds` are spent. */
  async function deliverAll(rounds = 10): Promise<void> {
    for (let round = 0; round < rounds; round += 1) {
      await t.composed.outboxWorker.runOnce();
      const pending = await t.scalar("select count(*) from notification_outbox where status = 'pending'");
      if (pending === 0) return;
      t.clock.advanceMs(60_000);
    }
  }

  /** The n-th notification the receiver got (0-based); fails the test when there is none. */
  function receivedAt(index: number) {
    const notification = receiver.received[index];
    if (!notification) throw new Error(`the receiver got ${receiver.received.length} notifications, not ${index + 1}`);
    return notification;
  }

  async function createEndpoint(eventTypes = ALL_TYPES) {
    const created = await t.api.post(`/sites/${site.siteId}/notification-endpoints`, { url: receiverUrl, description: 'host site', eventTypes }).expect(201);
    return created.body as { id: number; secret: string };
  }

  it('shows the signing secret once, at creation, and never again', async () => {
    const endpoint = await createEndpoint();
    expect(endpoint.secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    const listed = await t.api.get(`/sites/${site.siteId}/notification-endpoints`).expect(200);
    expect(JSON.stringify(listed.body)).not.toContain(endpoint.secret.slice(6));
    const one = await t.api.get(`/sites/${site.siteId}/notification-endpoints/${endpoint.id}`).expect(200);
    expect(one.body).toMatchObject({ id: endpoint.id, url: receiverUrl, eventTypes: ALL_TYPES, enabled: true, messages: { pending: 0, delivered: 0, dead: 0 } });
    expect(one.body).not.toHaveProperty('secret');
  });

  it('refuses endpoint URLs in the clear, with credentials, or at private addresses', async () => {
    for (const url of ['http://hooks.example.com/in', 'https://user:pw@hooks.example.com/in', 'https://10.0.0.5/in', 'https://169.254.169.254/latest', 'https://[fd00::1]/in', 'https://192.168.1.1/in']) {
      const response = await t.api.post(`/sites/${site.siteId}/notification-endpoints`, { url, eventTypes: ['access.granted'] }).expect(422);
      expect({ url, code: response.body.error.code }).toEqual({ url, code: 'invalid_input' });
    }
    await t.api.post(`/sites/${site.siteId}/notification-endpoints`, { url: 'https://hooks.example.com/in', eventTypes: ['access.granted'] }).expect(201);
    await t.api.post(`/sites/${site.siteId}/notification-endpoints`, { url: 'https://hooks.example.com/in', eventTypes: ['no.such.type'] }).expect(422);
  });

  it('writes access.granted with the purchase, retries it through a receiver that fails twice, and logs every attempt', async () => {
    const endpoint = await createEndpoint(['access.granted']);
    receiver.failNext(2);
    await postOutbound(t, site.hookPath, outboundFixture('02-buy_product.one-time.dana.json')).expect(200);
    // The outbox row committed with the purchase; nothing has been sent yet.
    expect(await t.scalar("select count(*) from notification_outbox where status = 'pending'")).toBe(1);
    expect(receiver.received).toHaveLength(0);

    await deliverAll();
    expect(receiver.received.map((notification) => notification.answered)).toEqual([500, 500, 200]);
    // Every attempt carries the message's one webhook-id, and each is signed afresh (verified by the reference library).
    expect(new Set(receiver.received.map((notification) => notification.headers['webhook-id'])).size).toBe(1);
    const granted = verifyNotification(endpoint.secret, receivedAt(2));
    expect(granted).toMatchObject({ type: 'access.granted', data: { siteId: site.siteId, email: 'dana.whitfield@example.com', levelId: site.levels.Foundations, productId: '558475', status: 'active' } });

    const [message] = (await t.api.get(`/sites/${site.siteId}/notification-endpoints/${endpoint.id}/messages`).expect(200)).body.messages;
    expect(message).toMatchObject({ status: 'delivered', attempts: 3, lastStatusCode: 200, webhookId: receiver.received[0]?.headers['webhook-id'] });
    const detail = await t.api.get(`/sites/${site.siteId}/notification-endpoints/${endpoint.id}/messages/${message.id}`).expect(200);
    expect(detail.body.deliveries.map((attempt: { statusCode: number }) => attempt.statusCode)).toEqual([500, 500, 200]);
    expect(detail.body.deliveries.map((attempt: { error: string | null }) => attempt.error)).toEqual(['answered HTTP 500', 'answered HTTP 500', null]);
  });

  it('resends one message and replays since a time with the same webhook-ids, and sends a test notification', async () => {
    const endpoint = await createEndpoint();
    await postOutbound(t, site.hookPath, outboundFixture('02-buy_product.one-time.dana.json')).expect(200);
    await deliverAll();
    expect(receiver.received.map((notification) => verifyNotification(endpoint.secret, notification).type).sort()).toEqual(['access.granted', 'member.created']);
    const firstIds = receiver.received.map((notification) => notification.headers['webhook-id']);

    const [newest] = (await t.api.get(`/sites/${site.siteId}/notification-endpoints/${endpoint.id}/messages`).expect(200)).body.messages;
    const resent = await t.api.post(`/sites/${site.siteId}/notification-endpoints/${endpoint.id}/messages/${newest.id}/resend`).expect(202);
    expect(resent.body).toMatchObject({ status: 'pending', attempts: 0, webhookId: newest.webhookId });
    await deliverAll();
    expect(receiver.received).toHaveLength(3);
    expect(receiver.received[2]?.headers['webhook-id']).toBe(newest.webhookId);
    expect(verifyNotification(endpoint.secret, receivedAt(2)).type).toBe(newest.type);

    const replay = await t.api.post(`/sites/${site.siteId}/notification-endpoints/${endpoint.id}/replay`, { since: new Date(t.clock.now().getTime() - 3_600_000).toISOString() }).expect(202);
    expect(replay.body).toEqual({ requeued: 2 });
    await deliverAll();
    expect(receiver.received.slice(3).map((notification) => notification.headers['webhook-id']).sort()).toEqual([...firstIds].sort());

    const test = await t.api.post(`/sites/${site.siteId}/notification-endpoints/${endpoint.id}/test`).expect(202);
    expect(test.body).toMatchObject({ type: 'notification.test', status: 'pending' });
    await deliverAll();
    expect(verifyNotification(endpoint.secret, receivedAt(5))).toMatchObject({ type: 'notification.test', data: { endpointId: endpoint.id } });
  });

  it('signs with the old and the new secret during a rotation grace period, then with the new one alone', async () => {
    const endpoint = await createEndpoint();
    const rotated = await t.api.post(`/sites/${site.siteId}/notification-endpoints/${endpoint.id}/rotate-secret`, { graceHours: 1 }).expect(200);
    expect(rotated.body.secret).not.toBe(endpoint.secret);
    expect(rotated.body.previousSecretValidUntil).toBe(new Date(t.clock.now().getTime() + 3_600_000).toISOString());
    await t.api.post(`/sites/${site.siteId}/notification-endpoints/${endpoint.id}/test`).expect(202);
    await deliverAll();
    const during = receivedAt(0);
    expect(String(during.headers['webhook-signature']).split(' ')).toHaveLength(2);
    expect(verifyNotification(endpoint.secret, during).type).toBe('notification.test');
    expect(verifyNotification(rotated.body.secret, during).type).toBe('notification.test');

    t.clock.advanceMs(3_600_001);
    await t.api.post(`/sites/${site.siteId}/notification-endpoints/${endpoint.id}/test`).expect(202);
    // The library checks the timestamp against the real clock: verify this one within its tolerance by stepping back.
    t.clock.set(new Date().toISOString());
    t.clock.advanceMs(3_600_001);
    await deliverAll();
    const after = receivedAt(1);
    expect(String(after.headers['webhook-signature']).split(' ')).toHaveLength(1);
    expect(() => verifyNotification(endpoint.secret, after)).toThrow();
  });

  it('makes a message a dead letter after the last attempt, lists it, and resends it on request', async () => {
    const endpoint = await createEndpoint(['access.revoked', 'access.granted']);
    receiver.failNext(100);
    await postOutbound(t, site.hookPath, outboundFixture('11-buy_product.one-time.sam.json')).expect(200);
    await deliverAll();
    const dead = (await t.api.get(`/sites/${site.siteId}/notification-endpoints/${endpoint.id}/messages?status=dead`).expect(200)).body.messages;
    expect(dead).toHaveLength(1);
    expect(dead[0]).toMatchObject({ type: 'access.granted', attempts: 4, lastStatusCode: 500, lastError: 'answered HTTP 500' });
    expect((await t.api.get(`/sites/${site.siteId}/notification-endpoints/${endpoint.id}`).expect(200)).body.messages).toEqual({ pending: 0, delivered: 0, dead: 1 });

    receiver.failNext(0);
    await t.api.post(`/sites/${site.siteId}/notification-endpoints/${endpoint.id}/messages/${dead[0].id}/resend`).expect(202);
    await deliverAll();
    expect(receiver.received.at(-1)).toMatchObject({ answered: 200 });
    expect(receiver.received.at(-1)?.headers['webhook-id']).toBe(dead[0].webhookId);
  });

  it('lists a dead letter under Needs attention, on the badge and the page, until it is resent and delivered', async () => {
    const endpoint = await createEndpoint(['access.granted']);
    receiver.failNext(100);
    await postOutbound(t, site.hookPath, outboundFixture('11-buy_product.one-time.sam.json')).expect(200);
    await deliverAll();
    const report = (await t.api.get(`/sites/${site.siteId}/attention`).expect(200)).body;
    expect(report.deadNotifications).toMatchObject({ count: 1, countIsLowerBound: false, windowDays: 30 });
    expect(report.deadNotifications.latest[0]).toMatchObject({ endpointId: endpoint.id, endpointUrl: receiverUrl, type: 'access.granted', lastError: 'answered HTTP 500' });
    expect(report.total).toBe(1);

    await createAdmin(t, 'owner@example.com', [site.siteId]);
    const { agent } = await signIn(t, 'owner@example.com');
    const page = (await agent.get(`/admin/sites/${site.siteId}/attention`).expect(200)).text;
    expect(page).toContain('Notifications that gave up (1)');
    expect(page).toContain(`href="/admin/sites/${site.siteId}/notifications/${endpoint.id}"`);

    receiver.failNext(0);
    const [dead] = (await t.api.get(`/sites/${site.siteId}/notification-endpoints/${endpoint.id}/messages?status=dead`).expect(200)).body.messages;
    await t.api.post(`/sites/${site.siteId}/notification-endpoints/${endpoint.id}/messages/${dead.id}/resend`).expect(202);
    await deliverAll();
    expect((await t.api.get(`/sites/${site.siteId}/attention`).expect(200)).body.deadNotifications.count).toBe(0);
  });

  it('prunes delivered and dead messages with their attempts after NOTIFY_RETENTION_DAYS, and keeps pending ones', async () => {
    const endpoint = await createEndpoint(['access.granted', 'access.revoked', 'member.created']);
    await postOutbound(t, site.hookPath, outboundFixture('11-buy_product.one-time.sam.json')).expect(200);
    await deliverAll();
    const settled = await t.scalar("select count(*) from notification_outbox where status = 'delivered'");
    expect(settled).toBeGreaterThan(0);
    // 29 days on, a refund's notification waits (the receiver is down); the delivered ones are not old enough yet.
    t.clock.advanceMs(29 * 24 * 60 * 60 * 1000);
    receiver.failNext(100);
    await postOutbound(t, site.hookPath, outboundFixture('12-refund_product.sam.json')).expect(200);
    await t.composed.outboxWorker.runOnce();
    expect(await t.composed.retention.pruneSettledNotifications(30)).toBe(0);

    t.clock.advanceMs(2 * 24 * 60 * 60 * 1000);
    expect(await t.composed.retention.pruneSettledNotifications(30)).toBe(settled);
    expect(await t.scalar("select count(*) from notification_outbox where status = 'delivered'")).toBe(0);
    expect(await t.scalar('select count(*) from notification_attempts where outbox_id not in (select id from notification_outbox)')).toBe(0);
    const pending = (await t.api.get(`/sites/${site.siteId}/notification-endpoints/${endpoint.id}/messages?status=pending`).expect(200)).body.messages;
    expect(pending).toHaveLength(1);
    expect(pending[0]).toMatchObject({ type: 'access.revoked' });
  });

  it('keeps signing secrets sealed at rest, still signs with one stored in clear before sealing, and seals it on rotation', async () => {
    const endpoint = await createEndpoint(['access.granted']);
    const [row] = await t.query<{ secret: string }>('select secret from notification_endpoints where id = ?', [endpoint.id]);
    expect(row?.secret).toMatch(/^v1\./);
    expect(row?.secret).not.toContain(endpoint.secret.slice(6));

    // An endpoint created before secrets were sealed: its secret is in the table as issued.
    const legacySecret = `whsec_${Buffer.alloc(32, 7).toString('base64')}`;
    await t.query('update notification_endpoints set secret = ? where id = ? returning id', [legacySecret, endpoint.id]);
    await postOutbound(t, site.hookPath, outboundFixture('11-buy_product.one-time.sam.json')).expect(200);
    await deliverAll();
    expect(verifyNotification(legacySecret, receivedAt(0)).type).toBe('access.granted');

    const rotated = (await t.api.post(`/sites/${site.siteId}/notification-endpoints/${endpoint.id}/rotate-secret`, {}).expect(200)).body as { secret: string };
    const [after] = await t.query<{ secret: string; previous_secret: string }>('select secret, previous_secret from notification_endpoints where id = ?', [endpoint.id]);
    expect(after?.secret).toMatch(/^v1\./);
    expect(after?.previous_secret).toMatch(/^v1\./);
    await t.api.post(`/sites/${site.siteId}/notification-endpoints/${endpoint.id}/test`, {}).expect(202);
    await deliverAll();
    // Both signatures verify: the new secret's and, during the grace period, the old one's.
    expect(verifyNotification(rotated.secret, receivedAt(1)).type).toBe('notification.test');
    expect(verifyNotification(legacySecret, receivedAt(1)).type).toBe('notification.test');
  });

  it('reports a refund as access.revoked, only to endpoints subscribed to it, in the same transaction as the revoke', async () => {
    const revokedOnly = await createEndpoint(['access.revoked']);
    await postOutbound(t, site.hookPath, outboundFixture('11-buy_product.one-time.sam.json')).expect(200);
    await postOutbound(t, site.hookPath, outboundFixture('12-refund_product.sam.json')).expect(200);
    await deliverAll();
    expect(receiver.received).toHaveLength(1);
    const revoked = verifyNotification(revokedOnly.secret, receivedAt(0));
    expect(revoked).toMatchObject({ type: 'access.revoked', data: { email: 'sam.okafor@example.net', status: 'revoked' } });
    expect(String(revoked.data.reason)).toMatch(/refund/);
  });

  it('keeps a disabled endpoint from receiving anything new and deletes an endpoint with its messages', async () => {
    const endpoint = await createEndpoint();
    await t.api.patch(`/sites/${site.siteId}/notification-endpoints/${endpoint.id}`, { enabled: false }).expect(200);
    await postOutbound(t, site.hookPath, outboundFixture('11-buy_product.one-time.sam.json')).expect(200);
    expect(await t.scalar('select count(*) from notification_outbox')).toBe(0);
    await t.api.patch(`/sites/${site.siteId}/notification-endpoints/${endpoint.id}`, { enabled: true }).expect(200);
    await t.api.post(`/sites/${site.siteId}/notification-endpoints/${endpoint.id}/test`).expect(202);
    await t.api.delete(`/sites/${site.siteId}/notification-endpoints/${endpoint.id}`).expect(204);
    expect(await t.scalar('select count(*) from notification_outbox')).toBe(0);
    await t.api.get(`/sites/${site.siteId}/notification-endpoints/${endpoint.id}`).expect(404);
  });

  it('reports a failed payment once as access.past_due with its grace end, and the grace running out as access.revoked', async () => {
    await createEndpoint(['access.past_due', 'access.revoked']);
    const arrive = (kartraTime: string) => t.clock.set(new Date((parseKartraTime(kartraTime, 'America/New_York')?.getTime() ?? 0) + 30_000).toISOString());
    arrive('2025-05-12 14:06:03');
    await postIpn(t, site.hookPath, ipnFixtureBody('03-sale.subscription-first-payment.dana.txt', { transaction_date: '2025-05-12 14:06:03' })).expect(200);
    arrive('2025-06-10 14:06:03');
    await postIpn(t, site.hookPath, ipnFixtureBody('06-failed.rebill-payment-4.dana.txt', { transaction_date: '2025-06-10 14:06:03' })).expect(200);
    // A second failure in the same cycle does not extend the grace, so it is not news.
    arrive('2025-06-13 14:06:03');
    await postIpn(t, site.hookPath, ipnFixtureBody('06-failed.rebill-payment-4.dana.txt', { transaction_id: '9161111', transaction_date: '2025-06-13 14:06:03' })).expect(200);
    const payloads = async () => (await t.query<{ payload: string }>('select payload from notification_outbox order by id')).map((row) => JSON.parse(row.payload) as { type: string; data: Record<string, unknown> });
    const pastDue = await payloads();
    expect(pastDue.map((body) => body.type)).toEqual(['access.past_due']);
    expect(pastDue[0]?.data).toMatchObject({ email: 'dana.whitfield@example.com', levelId: site.levels['Studio Members'], graceEndsAt: pastDue[0]?.data.expiresAt });

    t.clock.advanceDays(11);
    await t.composed.services.access.sweepExpired();
    const after = await payloads();
    expect(after.map((body) => body.type)).toEqual(['access.past_due', 'access.revoked']);
    expect(String(after[1]?.data.reason)).toMatch(/grace ran out/);
  });

  it('reports an event whose applying failed as event.failed, and nothing of what the failure rolled back', async () => {
    const endpoint = await createEndpoint();
    // A fault injected in the real database: inserting the payment fact raises, halfway through applying.
    const removeFault = await injectInsertFault(t, { table: 'payment_facts', message: 'disk on fire' });
    const failed = await postOutbound(t, site.hookPath, outboundFixture('02-buy_product.one-time.dana.json')).expect(200);
    await removeFault();
    expect(failed.body.outcome).toBe('failed');
    await deliverAll();
    // The member was created inside the savepoint that rolled back, so member.created went with it.
    expect(receiver.received.map((notification) => verifyNotification(endpoint.secret, notification))).toEqual([
      expect.objectContaining({ type: 'event.failed', data: expect.objectContaining({ eventId: failed.body.eventId, error: expect.stringMatching(/disk on fire/) }) }),
    ]);
  });
});
