import { composeServices } from '../../src/compose';
import { loadConfig } from '../../src/config';
import { createLogger } from '../../src/logger';
import { NotificationReceiver, verifyNotification } from '../support/notification-receiver';
import { createEmptyDatabase } from '../support/storage';
import { count, distinctPurchase, freePort, provisionSite, queryDatabase, reportFigure, ServiceProcess, sleep } from './support';

/** Adds a notification endpoint to the provisioned site, as the admin API would, and returns its signing secret. */
async function addEndpoint(databaseEnv: Record<string, string>, siteId: number, url: string): Promise<string> {
  const { services, database } = await composeServices(loadConfig({ ...databaseEnv, LOG_LEVEL: 'silent' }), { logger: createLogger('silent') });
  try {
    const site = await services.sites.requireSite(siteId, 'all');
    return (await services.notifications.createEndpoint(site, { url, eventTypes: ['member.created', 'access.granted'] })).secret;
  } finally {
    await database.close();
  }
}

/**
 * The service as a child process, SIGKILLed again and again while purchases stream in and their notifications are
 * queued and in flight to a slow receiver. At least once: every notification the outbox holds reaches the receiver,
 * however many kills it went through, and a notification received twice (sent, then killed before it was marked
 * delivered) carries the same webhook-id and body both times.
 */
describe('crash safety of notifications: SIGKILL while they are pending and in flight', () => {
  const kills = count(6, 20);

  it(`delivers every notification at least once across ${kills} kills, duplicates with the same webhook-id`, async () => {
    const database = await createEmptyDatabase();
    const site = await provisionSite(database.env, { '558475': ['Foundations'] });
    // Each answer takes 150 ms, so at any moment a batch of POSTs is in flight, and kills land between POST and mark.
    const receiver = new NotificationReceiver(0, 150);
    const secret = await addEndpoint(database.env, site.siteId, await receiver.start());
    const service = new ServiceProcess(await freePort(), {
      ...database.env,
      PUBLIC_URL: 'https://members.example.com',
      HOOK_RATE_BURST: '1000000',
      NOTIFY_POLL_INTERVAL_MS: '50',
      // The lease is twice the timeout plus 5 s: a restarted service takes over a killed one's claims after 7 s.
      NOTIFY_TIMEOUT_SECONDS: '1',
      NOTIFY_RETRY_BASE_MS: '100',
    });

    let acknowledged = 0;
    let nextSerial = 0;
    let running = true;
    async function sender(): Promise<void> {
      while (running) {
        const purchase = distinctPurchase(nextSerial++);
        try {
          const response = await fetch(`${service.baseUrl}${site.hookPath}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: purchase.body, signal: AbortSignal.timeout(5000) });
          if (response.status === 200) acknowledged++;
          await response.body?.cancel();
        } catch {
          // Down or killed mid-request; this purchase may or may not be stored, and its notifications with it.
          await sleep(100);
        }
        await sleep(20);
      }
    }

    await service.start();
    const load = [sender(), sender()];
    try {
      for (let kill = 0; kill < kills; kill++) {
        await sleep(500 + Math.random() * 1000);
        await service.kill('SIGKILL');
        await service.start();
      }
    } finally {
      running = false;
      await Promise.all(load);
    }

    // The last incarnation drains the outbox (claims of killed ones become free when their lease ends).
    const outboxRows = async () =>
      queryDatabase(database.env, (query) => query<{ message_id: string; status: string; payload: string }>('select message_id, status, payload from notification_outbox'));
    const drainDeadline = Date.now() + 60_000;
    let rows = await outboxRows();
    while (rows.some((row) => row.status !== 'delivered') && Date.now() < drainDeadline) {
      await sleep(500);
      rows = await outboxRows();
    }
    await service.kill('SIGTERM');
    await receiver.stop();

    const received = new Map<string, string[]>();
    for (const notification of receiver.received) {
      verifyNotification(secret, notification);
      const id = String(notification.headers['webhook-id']);
      received.set(id, [...(received.get(id) ?? []), notification.body]);
    }
    const notReceived = rows.filter((row) => !received.has(row.message_id));
    const unknown = [...received.keys()].filter((id) => !rows.some((row) => row.message_id === id));
    const duplicates = [...received.values()].filter((bodies) => bodies.length > 1);
    const appliedPurchases = await queryDatabase(database.env, async (query) => Number(Object.values((await query("select count(*) as n from webhook_events where status = 'applied'"))[0] ?? {})[0]));

    reportFigure('notification crash safety', {
      kills,
      'purchases acknowledged': acknowledged,
      'purchases applied': appliedPurchases,
      'notifications in the outbox': rows.length,
      'not delivered': rows.filter((row) => row.status !== 'delivered').length,
      'never received': notReceived.length,
      'received more than once (same webhook-id)': duplicates.length,
      'POSTs received': receiver.received.length,
    });
    // Every applied purchase queued member.created and access.granted, in its own transaction.
    expect(rows.length).toBe(appliedPurchases * 2);
    expect(acknowledged).toBeGreaterThan(kills * 5);
    expect(notReceived).toEqual([]);
    expect(unknown).toEqual([]);
    expect(rows.filter((row) => row.status !== 'delivered')).toEqual([]);
    // A duplicate is the same message: same webhook-id, same body as the outbox holds.
    for (const bodies of received.values()) expect(new Set(bodies).size).toBe(1);
    for (const row of rows) expect(received.get(row.message_id)?.[0]).toBe(row.payload);
    await database.drop();
  }, 300_000);
});
