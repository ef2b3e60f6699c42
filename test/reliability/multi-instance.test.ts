import { Client } from 'pg';
import { createEmptyDatabase, describePostgresOnly } from '../support/storage';
import { count, distinctPurchase, freePort, provisionSite, reportFigure, ServiceProcess, sleep } from './support';

/**
 * Two service processes on one PostgreSQL, as behind a load balancer: nothing but the database is shared, so every
 * rule that SQLite's single writer used to make true by itself (a fingerprint claimed once, one member per buyer, one
 * grant per purchase) must hold through constraints, locks and retries.
 */
describePostgresOnly('several service instances on one PostgreSQL', () => {
  let database: Awaited<ReturnType<typeof createEmptyDatabase>>;
  let instances: ServiceProcess[] = [];
  let db: Client;

  async function startInstances(env: Record<string, string>, how = 2): Promise<ServiceProcess[]> {
    instances = [];
    for (let index = 0; index < how; index++) instances.push(new ServiceProcess(await freePort(), { ...database.env, PUBLIC_URL: 'https://members.example.com', HOOK_RATE_BURST: '1000000', ...env }));
    await Promise.all(instances.map((instance) => instance.start()));
    return instances;
  }

  const post = (instance: ServiceProcess, path: string, body: string) =>
    fetch(`${instance.baseUrl}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body, signal: AbortSignal.timeout(10_000) }).then(
      async (response) => ({ status: response.status, answer: (await response.json()) as { eventId?: number; outcome?: string } }),
    );

  const rows = async <Row>(text: string, params: unknown[] = []) => (await db.query(text, params)).rows as Row[];

  beforeEach(async () => {
    database = await createEmptyDatabase('postgres');
    db = new Client({ connectionString: database.url });
  });

  afterEach(async () => {
    await Promise.all(instances.map((instance) => instance.kill('SIGKILL')));
    await db.end().catch(() => undefined);
    await database.drop();
  });

  it(`applies identical deliveries racing on two instances once, over ${count(1000, 3000)} rounds`, async () => {
    const rounds = count(1000, 3000);
    const site = await provisionSite(database.env, { '558475': ['Foundations'], '558476': ['Studio'] });
    const [first, second] = await startInstances({});
    if (!first || !second) throw new Error('two instances expected');
    await db.connect();
    const outcomes = new Map<string, number>();
    const unexpected: string[] = [];
    const startedAt = Date.now();
    for (let round = 0; round < rounds; round++) {
      // Four copies of one purchase, two to each instance, all at once: Kartra (or a proxy) resending while the first
      // copy is still being applied.
      const { body } = distinctPurchase(round);
      const copies = [first, second, first, second].map((instance) => post(instance, site.hookPath, body));
      for (const { status, answer } of await Promise.all(copies)) {
        if (status !== 200) unexpected.push(`round ${round}: HTTP ${status}`);
        outcomes.set(answer.outcome ?? '?', (outcomes.get(answer.outcome ?? '?') ?? 0) + 1);
      }
    }
    const seconds = (Date.now() - startedAt) / 1000;
    const [applied] = await rows<{ purchases: number; appliedTwice: number; members: number; facts: number; grants: number }>(`
      select
        (select count(distinct transaction_id)::int from webhook_events where status = 'applied') as purchases,
        (select count(*)::int from (select transaction_id from webhook_events where status = 'applied' group by transaction_id having count(*) > 1) twice) as "appliedTwice",
        (select count(*)::int from members) as members,
        (select count(*)::int from payment_facts) as facts,
        (select count(*)::int from grants) as grants`);
    reportFigure('multi-instance race', { rounds, 'copies per round': 4, instances: 2, seconds: seconds.toFixed(1), ...Object.fromEntries(outcomes), ...applied });
    expect(unexpected).toEqual([]);
    expect(outcomes.get('applied')).toBe(rounds);
    expect(outcomes.get('duplicate')).toBe(rounds * 3);
    expect(applied).toEqual({ purchases: rounds, appliedTwice: 0, members: rounds, facts: rounds, grants: rounds });
  }, 600_000);

  it('creates one member when two different purchases of a new buyer reach two instances at once', async () => {
    const rounds = count(200, 1000);
    const site = await provisionSite(database.env, { '558475': ['Foundations'], '558476': ['Studio'] });
    const [first, second] = await startInstances({});
    if (!first || !second) throw new Error('two instances expected');
    await db.connect();
    for (let round = 0; round < rounds; round++) {
      // The same lead buys two products in one checkout (an order bump): two events, one new member.
      const main = distinctPurchase(round, '558475');
      const bump = JSON.parse(distinctPurchase(round, '558476').body) as { action_details: { transaction_details: Record<string, unknown> } };
      bump.action_details.transaction_details.transaction_id = `bump-${round}`;
      const results = await Promise.all([post(first, site.hookPath, main.body), post(second, site.hookPath, JSON.stringify(bump))]);
      expect(results.map((result) => [result.status, result.answer.outcome])).toEqual([
        [200, 'applied'],
        [200, 'applied'],
      ]);
    }
    const [counts] = await rows<{ members: number; doubledEmails: number; grants: number }>(`
      select (select count(*)::int from members) as members,
             (select count(*)::int from (select email from members group by site_id, email having count(*) > 1) d) as "doubledEmails",
             (select count(*)::int from grants where status = 'active') as grants`);
    reportFigure('multi-instance member race', { rounds, ...counts });
    expect(counts).toEqual({ members: rounds, doubledEmails: 0, grants: rounds * 2 });
  }, 600_000);

  it('loses no acknowledged event and applies none twice while one of two instances is SIGKILLed at random', async () => {
    const kills = count(10, 40);
    const site = await provisionSite(database.env, { '558475': ['Foundations'] });
    const [victim, survivor] = await startInstances({});
    if (!victim || !survivor) throw new Error('two instances expected');
    const acknowledged = new Map<string, number>();
    const pending: number[] = [];
    const unexpected: string[] = [];
    let nextSerial = 0;
    let deliveries = 0;
    let failedDeliveries = 0;
    let running = true;
    let turn = 0;

    // A round-robin client: each delivery goes to the next instance; one that fails (the instance died under it) is
    // sent again, to whichever instance comes next, as a load balancer's retry would.
    async function sender(): Promise<void> {
      while (running) {
        const serial = pending.shift() ?? nextSerial++;
        const purchase = distinctPurchase(serial);
        const instance = instances[turn++ % instances.length];
        if (!instance) return;
        deliveries++;
        try {
          const { status, answer } = await post(instance, site.hookPath, purchase.body);
          if (status !== 200 || (answer.outcome !== 'applied' && answer.outcome !== 'duplicate')) unexpected.push(`${purchase.transactionId}: ${status} ${String(answer.outcome)}`);
          else if (answer.eventId !== undefined && !acknowledged.has(purchase.transactionId)) acknowledged.set(purchase.transactionId, answer.eventId);
        } catch {
          failedDeliveries++;
          pending.push(serial);
          await sleep(20);
        }
      }
    }

    const load = Array.from({ length: 6 }, () => sender());
    try {
      for (let kill = 0; kill < kills; kill++) {
        await sleep(150 + Math.random() * 500);
        await victim.kill('SIGKILL');
        await sleep(Math.random() * 300);
        await victim.start();
      }
      const drainDeadline = Date.now() + 20_000;
      while (pending.length > 0 && Date.now() < drainDeadline) await sleep(50);
      await sleep(200);
    } finally {
      running = false;
      await Promise.all(load);
    }

    await db.connect();
    const counted = async (text: string) => new Map((await rows<{ key: string; n: number }>(text)).map((row) => [row.key, row.n]));
    const applied = await counted("select transaction_id as key, count(*)::int as n from webhook_events where status = 'applied' group by transaction_id");
    const facts = await counted('select transaction_id as key, count(*)::int as n from payment_facts group by transaction_id');
    const grants = await counted('select transaction_id as key, count(*)::int as n from grants group by transaction_id');
    const lost = [...acknowledged.keys()].filter((transactionId) => [applied, facts, grants].some((map) => map.get(transactionId) !== 1));
    const [left] = await rows<{ stuck: number; doubled: number; unanswered: number }>(`
      select (select count(*)::int from webhook_events where status in ('received', 'failed')) as stuck,
             (select count(*)::int from (select transaction_id from payment_facts group by transaction_id having count(*) > 1) d) as doubled,
             (select count(*)::int from webhook_events where status = 'duplicate') as unanswered`);
    reportFigure('multi-instance crash', {
      kills,
      'events acknowledged': acknowledged.size,
      lost: lost.length,
      'applied twice': left?.doubled ?? -1,
      'committed but unanswered at a kill, resent, applied once': left?.unanswered ?? -1,
      deliveries,
      'failed at a kill, sent again': failedDeliveries,
    });
    expect(pending).toEqual([]);
    expect(unexpected).toEqual([]);
    expect(lost).toEqual([]);
    expect({ stuck: left?.stuck, doubled: left?.doubled }).toEqual({ stuck: 0, doubled: 0 });
    expect(acknowledged.size).toBeGreaterThan(kills * 5);
    // The log of every incarnation of both instances: no webhook secret, no token.
    const log = instances.map((instance) => instance.output.join('')).join('');
    for (const secret of [site.webhookSecret, site.apiToken, site.ipnSecret]) expect(log.includes(secret)).toBe(false);
  }, 600_000);

  it('holds one source to one hook allowance across both processes', async () => {
    const site = await provisionSite(database.env, { '558475': ['Foundations'] });
    // A burst of 20 and next to no refill: what one source may send is fixed, whichever instance it reaches.
    const [first, second] = await startInstances({ HOOK_RATE_BURST: '20', HOOK_RATE_PER_SECOND: '0.01' });
    if (!first || !second) throw new Error('two instances expected');
    const statuses: number[] = [];
    for (let serial = 0; serial < 40; serial++) {
      const instance = serial % 2 === 0 ? first : second;
      const response = await fetch(`${instance.baseUrl}${site.hookPath}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: distinctPurchase(serial).body });
      await response.text();
      statuses.push(response.status);
    }
    await db.connect();
    const [stored] = await rows<{ n: number }>('select count(*)::int as n from webhook_events');
    reportFigure('multi-instance rate limit', { sent: 40, accepted: statuses.filter((status) => status === 200).length, refused: statuses.filter((status) => status === 429).length, stored: stored?.n ?? -1 });
    // Each process alone would have let all 40 through (20 each).
    expect(statuses.filter((status) => status === 200)).toHaveLength(20);
    expect(statuses.filter((status) => status === 429)).toHaveLength(20);
    expect(stored?.n).toBe(20);
  }, 120_000);

  it('answers /healthz 503 when the database stops answering, and 200 again when it is back', async () => {
    const [instance] = await startInstances({}, 1);
    if (!instance) throw new Error('one instance expected');
    expect((await fetch(`${instance.baseUrl}/healthz`)).status).toBe(200);
    const admin = new Client({ connectionString: process.env.TEST_DATABASE_URL });
    await admin.connect();
    const name = new URL(database.url ?? '').pathname.slice(1);
    try {
      // Refuse new connections and end the open ones: the instance's pool then has nothing to ask.
      await admin.query(`ALTER DATABASE ${name} WITH ALLOW_CONNECTIONS false`);
      await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [name]);
      const down = await fetch(`${instance.baseUrl}/healthz`);
      expect([down.status, await down.json()]).toEqual([503, { status: 'unavailable' }]);
      await admin.query(`ALTER DATABASE ${name} WITH ALLOW_CONNECTIONS true`);
      const up = await fetch(`${instance.baseUrl}/healthz`);
      expect(up.status).toBe(200);
    } finally {
      await admin.query(`ALTER DATABASE ${name} WITH ALLOW_CONNECTIONS true`).catch(() => undefined);
      await admin.end();
    }
  }, 60_000);
});

