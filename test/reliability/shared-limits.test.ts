import type { Server } from 'node:http';
import { composeApp, type ComposedApp } from '../../src/compose';
import { loadConfig } from '../../src/config';
import { DEFAULT_SIGN_IN_LIMITS } from '../../src/http/pages/sign-in-limiter';
import { createLogger } from '../../src/logger';
import { csrfFrom, PASSWORD } from '../support/admin-pages';
import { FixedClock } from '../support/fixed-clock';
import { createEmptyDatabase, describePostgresOnly, toPgPlaceholders } from '../support/storage';
import { distinctPurchase, listenOnLoopback, reportFigure, sendRequest, type PlainResponse } from './support';

const JSON_HEADERS = { 'content-type': 'application/json' };
const FORM = { 'content-type': 'application/x-www-form-urlencoded' };
const BURST = 20;

/** One service instance: its own composition (pool, limiter, memory) on the shared database, listening on its own port. */
interface Instance {
  name: string;
  composed: ComposedApp;
  server: Server;
  baseUrl: string;
}

/**
 * Two instances of the service behind one load balancer, on ONE PostgreSQL database: two composeApp calls, as two
 * processes would make, each with its own pool. The load balancer is one trusted proxy (TRUST_PROXY=1), so the source
 * each instance sees is the address in X-Forwarded-For. The hook limit is 20 at once with a refill so slow (0.01/s)
 * that none comes back during a test; both instances read one clock, as machines kept in step by NTP do.
 */
describePostgresOnly('limits shared by two instances on one PostgreSQL database', () => {
  let database: Awaited<ReturnType<typeof createEmptyDatabase>>;
  let hookPath: string;
  let instances: [Instance, Instance];
  const clock = new FixedClock();

  async function startInstance(name: string): Promise<Instance> {
    const config = loadConfig({
      ...database.env,
      PUBLIC_URL: 'https://members.example.com',
      LOG_LEVEL: 'silent',
      SWEEP_INTERVAL_SECONDS: '0',
      TRUST_PROXY: '1',
      HOOK_RATE_BURST: String(BURST),
      HOOK_RATE_PER_SECOND: '0.01',
    });
    const composed = await composeApp(config, { clock, logger: createLogger('silent') });
    const { server, baseUrl } = await listenOnLoopback(composed.app);
    return { name, composed, server, baseUrl };
  }

  /** Raw SQL on the shared database, through instance A's pool. */
  async function query<Row>(text: string, params: unknown[] = []): Promise<Row[]> {
    const pool = instances[0].composed.database.postgres?.pool;
    if (!pool) throw new Error('instance A is not on PostgreSQL');
    return (await pool.query(toPgPlaceholders(text), params)).rows as Row[];
  }
  const storedEvents = async () => Number((await query<{ count: string }>('select count(*) as count from webhook_events'))[0]?.count);

  beforeEach(async () => {
    database = await createEmptyDatabase();
    instances = [await startInstance('A'), await startInstance('B')];
    // A site with an enabled integration (its events are stored as unmapped: the limit is what is under test).
    const { sites, admins } = instances[0].composed.services;
    const site = await sites.createSite('Watercolor Academy');
    const { webhookUrl } = await sites.setEnabled(site, true);
    hookPath = new URL(webhookUrl ?? '').pathname;
    await admins.createAdmin({ email: 'ann@example.com', password: PASSWORD, timeZone: 'UTC', siteIds: [site.id] });
  });
  afterEach(async () => {
    for (const instance of instances) {
      await new Promise((done) => instance.server.close(done));
      await instance.composed.close();
    }
    await database.drop();
  });

  function postHook(instance: Instance, serial: number, source: string): Promise<PlainResponse> {
    return sendRequest(`${instance.baseUrl}${hookPath}`, { body: distinctPurchase(serial).body, headers: { ...JSON_HEADERS, 'x-forwarded-for': source } });
  }

  it(`accepts ${BURST} of 40 hook posts from one source alternating between the instances, not ${2 * BURST}, and answers the rest 429 with Retry-After`, async () => {
    const source = '203.0.113.7';
    const answers: { instance: string; answer: PlainResponse }[] = [];
    for (let serial = 0; serial < 40; serial++) {
      const instance = instances[serial % 2] as Instance;
      answers.push({ instance: instance.name, answer: await postHook(instance, serial, source) });
    }

    const statuses = answers.map(({ answer }) => answer.status);
    expect(statuses.slice(0, BURST)).toEqual(Array(BURST).fill(200));
    expect(statuses.slice(BURST)).toEqual(Array(40 - BURST).fill(429));
    const acceptedBy = (name: string) => answers.filter(({ instance, answer }) => instance === name && answer.status === 200).length;
    expect([acceptedBy('A'), acceptedBy('B')]).toEqual([BURST / 2, BURST / 2]);
    const retryAfterSeconds = answers.slice(BURST).map(({ answer }) => Number(answer.headers['retry-after']));
    // One token is back after 1 / 0.01 = 100 s; the bucket is shared, so both instances say so.
    for (const seconds of retryAfterSeconds) expect(seconds).toBeGreaterThanOrEqual(99);
    for (const seconds of retryAfterSeconds) expect(seconds).toBeLessThanOrEqual(100);
    for (const { answer } of answers.slice(BURST)) expect(JSON.parse(answer.text)).toMatchObject({ error: { code: 'rate_limited' } });
    expect(await storedEvents()).toBe(BURST);

    // Another source behind the same load balancer has its own bucket, on either instance.
    expect((await postHook(instances[1], 100, '198.51.100.9')).status).toBe(200);
    expect((await postHook(instances[0], 101, '198.51.100.9')).status).toBe(200);

    reportFigure('shared limits: hook posts alternating over two instances', {
      sent: 40,
      burst: BURST,
      accepted: statuses.filter((status) => status === 200).length,
      'accepted by A': acceptedBy('A'),
      'accepted by B': acceptedBy('B'),
      'answered 429': statuses.filter((status) => status === 429).length,
      'retry-after s': `${Math.min(...retryAfterSeconds)}-${Math.max(...retryAfterSeconds)}`,
    });
  });

  it(`never accepts more than the burst of ${BURST} when 200 hook posts from one source arrive at once, split over both instances`, async () => {
    const source = '203.0.113.8';
    const answers = await Promise.all(Array.from({ length: 200 }, (_, serial) => postHook(instances[serial % 2] as Instance, serial, source)));

    const accepted = answers.filter((answer) => answer.status === 200).length;
    const limited = answers.filter((answer) => answer.status === 429).length;
    expect(accepted + limited).toBe(200);
    expect(accepted).toBeLessThanOrEqual(BURST);
    // No token is lost either: every one of the burst's was spent on a delivery, and each is stored.
    expect(accepted).toBe(BURST);
    expect(await storedEvents()).toBe(accepted);
    const [bucket] = await query<{ tokens: number }>('select tokens from rate_limit_buckets where key = ?', [`hook:${source}`]);
    expect(bucket?.tokens).toBeLessThan(1);

    reportFigure('shared limits: 200 parallel hook posts over two instances', {
      sent: 200,
      burst: BURST,
      accepted,
      'accepted by A': answers.filter((answer, serial) => serial % 2 === 0 && answer.status === 200).length,
      'accepted by B': answers.filter((answer, serial) => serial % 2 === 1 && answer.status === 200).length,
      'answered 429': limited,
    });
  });

  /** A browser at one address: the sign-in form's double-submit cookie and token work on either instance. */
  async function signInForm(address: string): Promise<{ cookie: string; csrf: string }> {
    const page = await sendRequest(`${instances[0].baseUrl}/admin/sign-in`, { method: 'GET', headers: { 'x-forwarded-for': address } });
    const cookie = ([] as string[])
      .concat(page.headers['set-cookie'] ?? [])
      .map((line) => line.split(';')[0])
      .join('; ');
    return { cookie, csrf: csrfFrom(page.text) };
  }

  function postSignIn(instance: Instance, form: { cookie: string; csrf: string }, address: string, password: string): Promise<PlainResponse> {
    return sendRequest(`${instance.baseUrl}/admin/sign-in`, {
      body: new URLSearchParams({ _csrf: form.csrf, email: 'ann@example.com', password }).toString(),
      headers: { ...FORM, cookie: form.cookie, 'x-forwarded-for': address },
    });
  }

  const limit = DEFAULT_SIGN_IN_LIMITS.perEmailAndAddress;

  it(`locks the email and address after ${limit} wrong passwords in total when the guesses alternate between the instances, not ${2 * limit}`, async () => {
    const guesser = '203.0.113.9';
    const form = await signInForm(guesser);
    const statuses: number[] = [];
    for (let attempt = 0; attempt < 2 * limit; attempt++) statuses.push((await postSignIn(instances[attempt % 2] as Instance, form, guesser, `wrong guess ${attempt} xxxx`)).status);

    expect(statuses).toEqual([...Array(limit).fill(401), ...Array(limit).fill(429)]);
    // The right password from the locked address is refused by both instances; from another address either signs in.
    for (const instance of instances) expect((await postSignIn(instance, form, guesser, PASSWORD)).status).toBe(429);
    const elsewhere = '198.51.100.20';
    expect((await postSignIn(instances[1], await signInForm(elsewhere), elsewhere, PASSWORD)).status).toBe(303);
    const [pair] = await query<{ count: number }>('select count from attempt_windows where key = ?', [`email-and-address:ann@example.com ${guesser}`]);
    expect(pair?.count).toBe(limit);

    // The window is shared too: once it ends (15 minutes on the instances' clock), either instance checks again.
    clock.advanceMs(DEFAULT_SIGN_IN_LIMITS.windowMs);
    expect((await postSignIn(instances[1], form, guesser, PASSWORD)).status).toBe(303);

    reportFigure('shared limits: sign-in guesses alternating over two instances', {
      sent: 2 * limit,
      'checked (401)': statuses.filter((status) => status === 401).length,
      'refused (429)': statuses.filter((status) => status === 429).length,
    });
  });

  it(`checks exactly ${limit} of 100 wrong passwords sent at once, split over both instances`, async () => {
    const guesser = '203.0.113.10';
    const form = await signInForm(guesser);
    const answers = await Promise.all(Array.from({ length: 100 }, (_, attempt) => postSignIn(instances[attempt % 2] as Instance, form, guesser, `wrong guess ${attempt} xxxx`)));

    const checked = answers.filter((answer) => answer.status === 401).length;
    expect(checked).toBe(limit);
    expect(answers.filter((answer) => answer.status === 429)).toHaveLength(100 - limit);
    reportFigure('shared limits: parallel sign-in guesses over two instances', { sent: 100, 'checked (401)': checked, 'refused (429)': 100 - checked });
  });
});
