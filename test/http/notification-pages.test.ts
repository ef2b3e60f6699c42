import { buildStorySite, postOutbound, type SiteWithHook } from '../support/factories';
import { createAdmin, signIn } from '../support/admin-pages';
import { outboundFixture } from '../support/kartra-fixtures';
import { NotificationReceiver, verifyNotification } from '../support/notification-receiver';
import { buildTestApp, type TestApp } from '../support/test-app';

describe('the Notifications pages', () => {
  let t: TestApp;
  let site: SiteWithHook;
  let session: Awaited<ReturnType<typeof signIn>>;
  let base: string;
  let receiver: NotificationReceiver;
  let receiverUrl: string;
  const post = (path: string, body: Record<string, unknown>) => session.agent.post(`${base}${path}`).type('form').send({ _csrf: session.csrf, ...body });

  beforeEach(async () => {
    t = await buildTestApp({ NOTIFY_RETRY_BASE_MS: '1000' });
    t.clock.set(new Date().toISOString());
    site = await buildStorySite(t);
    await createAdmin(t, 'ann@example.com', [site.siteId]);
    session = await signIn(t, 'ann@example.com');
    base = `/admin/sites/${site.siteId}/notifications`;
    receiver = new NotificationReceiver();
    receiverUrl = await receiver.start();
  });
  afterEach(async () => {
    await receiver.stop();
    await t.close();
  });

  const secretIn = (html: string) => /value="(whsec_[^"]+)"/.exec(html)?.[1];

  it('adds an endpoint, shows its secret once, sends a test notification and shows its delivery log', async () => {
    const empty = await session.agent.get(base).expect(200);
    expect(empty.text).toContain('No endpoints yet');

    const created = await post('', { url: receiverUrl, description: 'Members area', eventTypes: ['access.granted', 'member.created'], enabled: 'on' }).expect(200);
    const secret = secretIn(created.text);
    expect(secret).toMatch(/^whsec_/);
    const listed = await session.agent.get(base).expect(200);
    expect(listed.text).toContain(receiverUrl);
    expect(listed.text).not.toContain(secret ?? 'none');
    const endpointId = await t.scalar('select id from notification_endpoints');

    receiver.failNext(1);
    await post(`/${endpointId}/test`, {}).expect(303);
    await t.composed.outboxWorker.runOnce();
    t.clock.advanceMs(60_000);
    await t.composed.outboxWorker.runOnce();
    expect(verifyNotification(secret ?? '', receiver.received[1] ?? { headers: {}, body: '', answered: 0 }).type).toBe('notification.test');

    const page = await session.agent.get(`${base}/${endpointId}`).expect(200);
    expect(page.text).toContain('notification.test');
    expect(page.text).toContain('Pending 0 · delivered 1 · dead letters 0');
    const messageId = await t.scalar('select id from notification_outbox');
    const detail = await session.agent.get(`${base}/${endpointId}/messages/${messageId}`).expect(200);
    expect(detail.text).toContain('HTTP 500');
    expect(detail.text).toContain('HTTP 200');
    expect(detail.text).toContain('answered HTTP 500');

    await post(`/${endpointId}/messages/${messageId}/resend`, {}).expect(303);
    await t.composed.outboxWorker.runOnce();
    expect(receiver.received[2]?.headers['webhook-id']).toBe(receiver.received[1]?.headers['webhook-id']);
  });

  it('refuses a private address and no types with the typed values kept, and edits, rotates, replays and deletes', async () => {
    const noTypes = await post('', { url: receiverUrl, description: 'typed' }).expect(422);
    expect(noTypes.text).toContain('pick at least one notification type');
    expect(noTypes.text).toContain('value="typed"');
    const refused = await post('', { url: 'https://10.1.2.3/in', eventTypes: 'access.granted' }).expect(422);
    expect(refused.text).toContain('no private, link-local or unspecified IP address');
    expect(refused.text).toContain('value="https://10.1.2.3/in"');
    expect(await t.scalar('select count(*) from notification_endpoints')).toBe(0);

    await post('', { url: receiverUrl, eventTypes: 'access.granted', enabled: 'on' }).expect(200);
    const endpointId = await t.scalar('select id from notification_endpoints');
    await post(`/${endpointId}`, { url: receiverUrl, description: 'renamed', eventTypes: ['access.granted', 'access.revoked'], enabled: 'on' }).expect(303);
    const saved = await session.agent.get(`${base}/${endpointId}?notice=saved`).expect(200);
    expect(saved.text).toContain('Endpoint saved.');
    expect(saved.text).toContain('value="renamed"');

    const rotated = await post(`/${endpointId}/rotate`, {}).expect(200);
    expect(secretIn(rotated.text)).toMatch(/^whsec_/);
    expect(rotated.text).toContain('keeps signing beside the new one until');

    await postOutbound(t, site.hookPath, outboundFixture('11-buy_product.one-time.sam.json')).expect(200);
    await t.composed.outboxWorker.runOnce();
    const replayed = await post(`/${endpointId}/replay`, { since: '2000-01-01T00:00' }).expect(200);
    expect(replayed.text).toContain('1 notification queued again');
    const badReplay = await post(`/${endpointId}/replay`, { since: '' }).expect(422);
    expect(badReplay.text).toContain('a date and time');

    await post(`/${endpointId}/delete`, {}).expect(303);
    await session.agent.get(`${base}/${endpointId}`).expect(404);
  });
});
