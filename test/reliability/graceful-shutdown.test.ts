import { existsSync } from 'node:fs';
import { request } from 'node:http';
import { createEmptyDatabase } from '../support/storage';
import { distinctPurchase, freePort, integrityOf, provisionSite, queryDatabase, reportFigure, ServiceProcess, sleep } from './support';

/** SIGTERM (a deploy, `docker stop`): a delivery already in flight is finished, stored and answered before the exit. */
describe('graceful shutdown of the real service', () => {
  it('stops taking connections, finishes the delivery in flight, then closes the database', async () => {
    const database = await createEmptyDatabase();
    const site = await provisionSite(database.env, { '558475': ['Foundations'] });
    const port = await freePort();
    const service = new ServiceProcess(port, database.env);
    await service.start();

    const purchase = distinctPurchase(1);
    const body = Buffer.from(purchase.body, 'utf8');
    let sendRest: () => void = () => undefined;
    const answered = new Promise<{ status: number; body: string }>((resolve, reject) => {
      const delivery = request(
        { host: '127.0.0.1', port, path: site.hookPath, method: 'POST', headers: { 'content-type': 'application/json', 'content-length': body.length } },
        (response) => {
          let text = '';
          response.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
          response.on('end', () => resolve({ status: response.statusCode ?? 0, body: text }));
        },
      );
      delivery.on('error', reject);
      // Half the body now, the rest once the service has been told to stop.
      delivery.write(body.subarray(0, 200));
      sendRest = () => delivery.end(body.subarray(200));
    });
    await sleep(300);

    const stopped = service.kill('SIGTERM');
    await sleep(500);
    // No new connections while it drains.
    await expect(fetch(`${service.baseUrl}/healthz`, { signal: AbortSignal.timeout(2000) })).rejects.toThrow();

    sendRest();
    const answer = await answered;
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body)).toMatchObject({ received: true, outcome: 'applied' });
    await stopped;
    const log = service.output.join('');
    expect(log).toContain('shutting down: finishing in-flight requests');
    expect(log).toContain('"msg":"stopped"');

    // The database was closed cleanly: on SQLite, the last connection's close checkpoints the WAL and removes it.
    if (database.path) expect(existsSync(`${database.path}-wal`)).toBe(false);
    try {
      await queryDatabase(database.env, async (query) => {
        const [row] = await query<{ status: string }>('select status from webhook_events where transaction_id = ?', [purchase.transactionId]);
        expect(row?.status).toBe('applied');
        expect(await integrityOf(query)).toBe('ok');
        reportFigure('operability: graceful shutdown', {
          'delivery in flight at SIGTERM': `answered ${answer.status}, stored ${row?.status}`,
          'new connections while draining': 'refused',
          'WAL left': database.path ? 'none' : 'n/a (PostgreSQL)',
          integrity_check: 'ok',
        });
      });
    } finally {
      await database.drop();
    }
  });
});
