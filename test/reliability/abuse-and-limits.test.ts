import { Agent, request as httpRequest, type Server } from 'node:http';
import { connect, type Socket } from 'node:net';
import { buildMapping, buildSite, type SiteWithHook } from '../support/factories';
import { outboundFixture } from '../support/kartra-fixtures';
import { createEmptyDatabase } from '../support/storage';
import { buildTestApp, type TestApp } from '../support/test-app';
import { createAdmin, signIn } from '../support/admin-pages';
import {
  count,
  distinctPurchase,
  freePort,
  inParallel,
  listenOnLoopback,
  median,
  percentile,
  provisionSite,
  reportFigure,
  sendRequest,
  ServiceProcess,
  sleep,
  snapshotData,
  queryDatabase,
  type PlainResponse,
} from './support';

const JSON_HEADERS = { 'content-type': 'application/json' };

function countEvents(t: TestApp): Promise<number> {
  return t.scalar('select count(*) from webhook_events');
}

/** Sends `totalBytes` of body, declared with Content-Length or chunked, and reports the status (or the reset). */
function uploadLargeBody(url: string, totalBytes: number, framing: 'content-length' | 'chunked'): Promise<{ status: number | 'reset' }> {
  return new Promise((done) => {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (framing === 'content-length') headers['content-length'] = String(totalBytes);
    const req = httpRequest(url, { method: 'POST', headers }, (res) => {
      res.resume();
      res.on('end', () => done({ status: res.statusCode ?? 0 }));
    });
    // The server may answer 413 and close before the whole body is written; that is the point.
    req.on('error', () => done({ status: 'reset' }));
    const chunk = Buffer.alloc(64 * 1024, 'x');
    let sent = 0;
    const pump = () => {
      while (sent < totalBytes) {
        const size = Math.min(chunk.length, totalBytes - sent);
        sent += size;
        if (!req.write(size === chunk.length ? chunk : chunk.subarray(0, size))) {
          req.once('drain', pump);
          return;
        }
      }
      req.end();
    };
    pump();
  });
}

describe('body size cap', () => {
  let t: TestApp;
  let site: SiteWithHook;
  let server: Server;
  let baseUrl: string;
  const capBytes = 256 * 1024; // WEBHOOK_BODY_LIMIT_BYTES's default, which this app runs with

  beforeAll(async () => {
    t = await buildTestApp();
    expect(t.composed.services).toBeDefined();
    site = await buildSite(t);
    await buildMapping(t, site, '558475', ['Foundations']);
    ({ server, baseUrl } = await listenOnLoopback(t.app));
  });
  afterAll(async () => {
    await new Promise((done) => server.close(done));
    await t.close();
  });

  /** A real purchase padded with an unknown field to exactly `size` bytes. */
  function purchaseOfSize(serial: number, size: number): string {
    const base = JSON.parse(distinctPurchase(serial).body) as Record<string, unknown>;
    const empty = JSON.stringify({ ...base, padding: '' });
    return JSON.stringify({ ...base, padding: 'x'.repeat(size - Buffer.byteLength(empty)) });
  }

  it('stores a body of exactly the cap, answers 413 one byte over it and stores nothing', async () => {
    const atCap = purchaseOfSize(1, capBytes);
    expect(Buffer.byteLength(atCap)).toBe(capBytes);
    const accepted = await fetch(`${baseUrl}${site.hookPath}`, { method: 'POST', headers: JSON_HEADERS, body: atCap });
    expect(accepted.status).toBe(200);
    expect(((await accepted.json()) as { outcome: string }).outcome).toBe('applied');

    const before = await countEvents(t);
    const over = await fetch(`${baseUrl}${site.hookPath}`, { method: 'POST', headers: JSON_HEADERS, body: purchaseOfSize(2, capBytes + 1) });
    expect(over.status).toBe(413);
    expect(await over.json()).toEqual({ error: { code: 'payload_too_large', message: 'request body is larger than the limit' } });
    expect(await countEvents(t)).toBe(before);
  });

  it('keeps serving and storing while oversized uploads (declared or chunked, 8 MB each) arrive at the same time', async () => {
    const before = await countEvents(t);
    const oversized = [...Array(4).fill('content-length'), ...Array(4).fill('chunked')].map((framing: 'content-length' | 'chunked') =>
      uploadLargeBody(`${baseUrl}${site.hookPath}`, 8 * 1024 * 1024, framing),
    );
    const legitimate = Array.from({ length: 40 }, (_, index) => distinctPurchase(100 + index)).map(async (purchase) => {
      const response = await fetch(`${baseUrl}${site.hookPath}`, { method: 'POST', headers: JSON_HEADERS, body: purchase.body });
      return response.status;
    });
    const [bigAnswers, smallAnswers] = await Promise.all([Promise.all(oversized), Promise.all(legitimate)]);
    // Each oversized upload is refused with a 413; a client still writing when the server closes may see a reset instead.
    for (const answer of bigAnswers) expect([413, 'reset']).toContain(answer.status);
    expect(bigAnswers.filter((answer) => answer.status === 413).length).toBeGreaterThan(0);
    expect(smallAnswers).toEqual(Array(40).fill(200));
    expect(await countEvents(t)).toBe(before + 40);
    expect((await fetch(`${baseUrl}/healthz`)).status).toBe(200);
    reportFigure('abuse: body cap', { 'cap bytes': capBytes, 'at cap': 'stored', 'cap + 1': 413, 'oversized uploads': bigAnswers.length, 'answered 413': bigAnswers.filter((answer) => answer.status === 413).length, 'deliveries stored meanwhile': `${smallAnswers.length}/${smallAnswers.length}` });
  });
});

interface StalledClient {
  kind: string;
  socket: Socket;
  openedAtMs: number;
  closedAfterMs: number | null;
  answer: string;
}

/** A raw TCP client that sends `opening`, then (optionally) one more byte every `trickleMs`, and never finishes. */
function stalledClient(port: number, kind: string, opening: string, trickleMs?: number): StalledClient {
  const socket = connect(port, '127.0.0.1');
  const client: StalledClient = { kind, socket, openedAtMs: performance.now(), closedAfterMs: null, answer: '' };
  socket.setEncoding('utf8');
  socket.on('data', (text: string) => {
    client.answer += text;
  });
  socket.on('error', () => undefined);
  socket.on('close', () => {
    client.closedAfterMs = performance.now() - client.openedAtMs;
  });
  socket.write(opening);
  if (trickleMs !== undefined) {
    const timer = setInterval(() => {
      if (socket.destroyed) clearInterval(timer);
      else socket.write('x');
    }, trickleMs);
    socket.on('close', () => clearInterval(timer));
  }
  return client;
}

describe('request timeouts in the real service', () => {
  // Short timeouts so the test is quick; the defaults (30 s whole request, 15 s headers) are the same mechanism.
  const requestTimeoutSeconds = 2;
  const headersTimeoutSeconds = 1;
  const clientsPerKind = count(10, 50);

  it('cuts off clients that never finish their headers or body, while serving everyone else', async () => {
    const database = await createEmptyDatabase();
    const site = await provisionSite(database.env, { '558475': ['Foundations'] });
    const port = await freePort();
    const service = new ServiceProcess(port, {
      ...database.env,
      REQUEST_TIMEOUT_SECONDS: String(requestTimeoutSeconds),
      HEADERS_TIMEOUT_SECONDS: String(headersTimeoutSeconds),
    });
    await service.start();
    try {
      const requestLine = `POST ${site.hookPath} HTTP/1.1\r\nHost: 127.0.0.1\r\n`;
      const clients: StalledClient[] = [];
      for (let index = 0; index < clientsPerKind; index++) {
        clients.push(stalledClient(port, 'headers never end', `${requestLine}Content-Type: appli`));
        clients.push(stalledClient(port, 'body never ends', `${requestLine}Content-Type: application/json\r\nContent-Length: 4000\r\n\r\n{"action":"buy_product",`));
        clients.push(stalledClient(port, 'body trickles', `${requestLine}Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n{`, 200));
      }

      // Kartra's deliveries keep flowing while the stalled sockets are open.
      const latenciesMs: number[] = [];
      const statuses: number[] = [];
      const cutOffBy = performance.now() + (requestTimeoutSeconds + 4) * 1000;
      let serial = 0;
      while (clients.some((client) => client.closedAfterMs === null) && performance.now() < cutOffBy) {
        const startedAt = performance.now();
        const response = await fetch(`${service.baseUrl}${site.hookPath}`, { method: 'POST', headers: JSON_HEADERS, body: distinctPurchase(serial++).body });
        statuses.push(response.status);
        latenciesMs.push(performance.now() - startedAt);
        await sleep(100);
      }

      const stillOpen = clients.filter((client) => client.closedAfterMs === null);
      for (const client of stillOpen) client.socket.destroy();
      const closedAfterMs = clients.map((client) => client.closedAfterMs ?? Number.POSITIVE_INFINITY);
      const byKind = (kind: string) => clients.filter((client) => client.kind === kind).map((client) => client.closedAfterMs ?? Number.POSITIVE_INFINITY);
      reportFigure('abuse: request timeouts', {
        'stalled clients': clients.length,
        'request timeout s': requestTimeoutSeconds,
        'headers timeout s': headersTimeoutSeconds,
        'headers never end: cut off after max ms': Math.round(Math.max(...byKind('headers never end'))),
        'body never ends: max ms': Math.round(Math.max(...byKind('body never ends'))),
        'body trickles: max ms': Math.round(Math.max(...byKind('body trickles'))),
        'deliveries meanwhile': statuses.length,
        'their median ms': Math.round(median(latenciesMs)),
      });

      expect(stillOpen.map((client) => client.kind)).toEqual([]);
      // Node checks the timeouts once a second (connectionsCheckingInterval), so a cut-off lands up to 1 s late.
      for (const ms of byKind('headers never end')) expect(ms).toBeLessThan((headersTimeoutSeconds + 1.5) * 1000);
      for (const ms of closedAfterMs) expect(ms).toBeLessThan((requestTimeoutSeconds + 1.5) * 1000);
      // A trickling body is cut at the whole-request deadline, not kept alive by each new byte.
      for (const ms of byKind('body trickles')) expect(ms).toBeGreaterThanOrEqual(requestTimeoutSeconds * 1000 - 100);
      for (const client of clients) expect(client.answer === '' || client.answer.startsWith('HTTP/1.1 408')).toBe(true);
      expect(statuses.length).toBeGreaterThan(5);
      expect(new Set(statuses)).toEqual(new Set([200]));
      expect(Math.max(...latenciesMs)).toBeLessThan(1000);
      expect((await fetch(`${service.baseUrl}/healthz`)).status).toBe(200);
    } finally {
      await service.kill('SIGTERM');
    }
    // Only the deliveries that finished were stored; the stalled bodies left nothing behind.
    try {
      const notApplied = await queryDatabase(database.env, (query) => query<{ n: unknown }>("select count(*) as n from webhook_events where status != 'applied'"));
      expect(Number(notApplied[0]?.n)).toBe(0);
    } finally {
      await database.drop();
    }
  }, 60_000);
});

/** Sends `howMany` distinct purchases to `hookUrl` from one local address (a source), `concurrency` at a time. */
async function deliverPurchases(hookUrl: string, localAddress: string, firstSerial: number, howMany: number, concurrency: number): Promise<PlainResponse[]> {
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  try {
    return await inParallel(
      Array.from({ length: howMany }, (_, index) => firstSerial + index),
      concurrency,
      (serial) => sendRequest(hookUrl, { body: distinctPurchase(serial).body, headers: JSON_HEADERS, localAddress, agent }),
    );
  } finally {
    agent.destroy();
  }
}

describe('per-source rate limit on the hook route', () => {
  let t: TestApp;
  let site: SiteWithHook;
  let server: Server;
  let baseUrl: string;
  // The defaults (config.ts): what a launch-day burst from one of Kartra's servers needs.
  const burst = 1200;

  beforeAll(async () => {
    t = await buildTestApp();
    site = await buildSite(t);
    await buildMapping(t, site, '558475', ['Foundations']);
    ({ server, baseUrl } = await listenOnLoopback(t.app));
  });
  afterAll(async () => {
    await new Promise((done) => server.close(done));
    await t.close();
  });

  const deliverFrom = (localAddress: string, firstSerial: number, howMany: number, concurrency: number) =>
    deliverPurchases(`${baseUrl}${site.hookPath}`, localAddress, firstSerial, howMany, concurrency);

  it(`accepts and stores a launch-day burst of ${burst} from one source at the default limits, while another source delivers meanwhile`, async () => {
    const kartra = '127.0.0.2';
    const startedAt = performance.now();
    const [burstAnswers, otherAnswers] = await Promise.all([deliverFrom(kartra, 0, burst, 50), deliverFrom('127.0.0.3', 10_000, 100, 10)]);
    const burstSeconds = (performance.now() - startedAt) / 1000;
    expect(burstAnswers.map((answer) => answer.status)).toEqual(Array(burst).fill(200));
    expect(otherAnswers.map((answer) => answer.status)).toEqual(Array(100).fill(200));
    expect(await countEvents(t)).toBe(burst + 100);
    reportFigure('abuse: rate limit, defaults', {
      burst: `${burst}/${burst} accepted and stored in ${burstSeconds.toFixed(1)} s (${Math.round(burst / burstSeconds)}/s)`,
      'other source meanwhile': '100/100',
    });
  }, 120_000);

  // The flood is sent at a slower refill than the default: whether a flood outruns a refill of 20/s depends on how
  // fast this machine stores deliveries (a busy two-core CI machine on PostgreSQL can store fewer than 40/s, and then
  // the refill alone lets every delivery through). At 5/s any machine that can run the suite outruns it, so the test
  // checks the limiter, not the machine.
  it('answers a flood beyond the burst 429 with Retry-After, stores none of it, keeps other sources flowing and lets the sustained rate through after', async () => {
    const floodBurst = 200;
    const floodPerSecond = 5;
    const limitedApp = await buildTestApp({ HOOK_RATE_BURST: String(floodBurst), HOOK_RATE_PER_SECOND: String(floodPerSecond) });
    const limitedSite = await buildSite(limitedApp);
    const { server: limitedServer, baseUrl: limitedUrl } = await listenOnLoopback(limitedApp.app);
    const send = (localAddress: string, firstSerial: number, howMany: number, concurrency: number) =>
      deliverPurchases(`${limitedUrl}${limitedSite.hookPath}`, localAddress, firstSerial, howMany, concurrency);
    try {
      const kartra = '127.0.0.4';
      const startedAt = performance.now();
      const burstAnswers = await send(kartra, 0, floodBurst, 50);
      expect(burstAnswers.map((answer) => answer.status)).toEqual(Array(floodBurst).fill(200));

      const flood = 400;
      const [floodAnswers, otherAnswers] = await Promise.all([send(kartra, floodBurst, flood, 50), send('127.0.0.5', 10_000, 50, 5)]);
      const elapsedSeconds = (performance.now() - startedAt) / 1000;
      const floodAccepted = floodAnswers.filter((answer) => answer.status === 200).length;
      const limited = floodAnswers.filter((answer) => answer.status === 429);
      expect(floodAccepted + limited.length).toBe(flood);
      // Tokens come back at floodPerSecond while the burst and flood are sent: nothing beyond that gets through.
      expect(floodAccepted).toBeLessThanOrEqual(Math.ceil(elapsedSeconds * floodPerSecond) + 1);
      expect(limited.length).toBeGreaterThan(0);
      for (const answer of limited) {
        expect(Number(answer.headers['retry-after'])).toBeGreaterThanOrEqual(1);
        expect(JSON.parse(answer.text)).toMatchObject({ error: { code: 'rate_limited' } });
      }
      // Another source has its own allowance.
      expect(otherAnswers.map((answer) => answer.status)).toEqual(Array(50).fill(200));
      // A 429 stores nothing: the rows are exactly the accepted deliveries.
      expect(await limitedApp.scalar('select count(*) from webhook_events')).toBe(floodBurst + floodAccepted + 50);

      // After the flood the source is back to its sustained rate: one delivery every 250 ms (4/s, under 5/s) all pass.
      const steadyStatuses: number[] = [];
      for (let index = 0; index < 20; index++) {
        await sleep(250);
        steadyStatuses.push((await send(kartra, 20_000 + index, 1, 1))[0]?.status ?? 0);
      }
      expect(steadyStatuses).toEqual(Array(20).fill(200));

      reportFigure('abuse: rate limit, flood', {
        limits: `burst ${floodBurst}, ${floodPerSecond}/s`,
        'flood right after the burst': flood,
        'flood answered 429': limited.length,
        'flood accepted (refill)': floodAccepted,
        'other source meanwhile': '50/50',
        'steady 4/s after': '20/20',
      });
    } finally {
      await new Promise((done) => limitedServer.close(done));
      await limitedApp.close();
    }
  }, 120_000);

  it('behind a proxy (TRUST_PROXY=true), a client cannot dodge the limit by forging X-Forwarded-For', async () => {
    const proxied = await buildTestApp({ TRUST_PROXY: 'true', HOOK_RATE_BURST: '20', HOOK_RATE_PER_SECOND: '0.01' });
    try {
      const proxiedSite = await buildSite(proxied);
      const { server: proxiedServer, baseUrl: proxiedUrl } = await listenOnLoopback(proxied.app);
      try {
        // The proxy appends the address it saw; what the client wrote before that is the client's own claim.
        const send = (serial: number, forwardedFor: string) =>
          sendRequest(`${proxiedUrl}${proxiedSite.hookPath}`, { body: distinctPurchase(serial).body, headers: { ...JSON_HEADERS, 'x-forwarded-for': forwardedFor } });
        const forged: number[] = [];
        for (let serial = 0; serial < 40; serial++) forged.push((await send(serial, `10.0.${serial}.1, 203.0.113.7`)).status);
        expect(forged.filter((status) => status === 200)).toHaveLength(20);
        expect(forged.slice(20).every((status) => status === 429)).toBe(true);
        // Another real client behind the same proxy is its own source.
        expect((await send(100, '198.51.100.9')).status).toBe(200);
      } finally {
        await new Promise((done) => proxiedServer.close(done));
      }
    } finally {
      await proxied.close();
    }
  });
});

describe('unknown site keys and wrong secrets', () => {
  const rounds = count(400, 3000);

  it(`answer 404, store nothing and take the same time (medians of ${rounds} requests each)`, async () => {
    // The rate limit would answer a guesser 429 long before this many tries; lifted here to time the 404 itself.
    const t = await buildTestApp({ HOOK_RATE_BURST: '1000000' });
    const { server, baseUrl } = await listenOnLoopback(t.app);
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const site = await buildSite(t, { name: 'Enabled' });
      const disabled = await buildSite(t, { name: 'Disabled' });
      await t.api.put(`/sites/${disabled.siteId}/kartra`, { enabled: false }).expect(200);
      const retiredPath = site.hookPath;
      const rotated = await t.api.post(`/sites/${site.siteId}/kartra/rotate`).expect(200);
      t.clock.advanceMs(25 * 3600_000); // past the 24-hour grace: the old URL is retired
      const currentPath = new URL(rotated.body.webhookUrl as string).pathname;
      const secret = currentPath.split('/').pop() ?? '';
      const flip = (char: string) => (char === 'A' ? 'B' : 'A');
      const unknownKey = site.siteKey.replace(/./g, (char) => (char === 'z' ? 'y' : 'z'));
      const cases: Record<string, string> = {
        'unknown site key': `/hooks/kartra/${unknownKey}/${secret}`,
        'wrong secret, first character': `/hooks/kartra/${site.siteKey}/${flip(secret[0] ?? '')}${secret.slice(1)}`,
        'wrong secret, last character': `/hooks/kartra/${site.siteKey}/${secret.slice(0, -1)}${flip(secret.slice(-1))}`,
        'retired secret (rotated, past grace)': retiredPath,
        'right URL, integration disabled': disabled.hookPath,
      };
      const body = distinctPurchase(1).body;
      const before = await snapshotData(t.query);
      const timesMs: Record<string, number[]> = Object.fromEntries(Object.keys(cases).map((name) => [name, []]));
      const answers = new Set<string>();
      const statuses = new Set<number>();
      const send = (path: string) => sendRequest(`${baseUrl}${path}`, { body, headers: JSON_HEADERS, agent });
      for (let warmUp = 0; warmUp < 50; warmUp++) await send(cases['unknown site key'] ?? '');
      for (let round = 0; round < rounds; round++) {
        // Interleaved, so drift in the machine's load falls on every case alike.
        for (const [name, path] of Object.entries(cases)) {
          const startedAt = performance.now();
          const answer = await send(path);
          timesMs[name]?.push(performance.now() - startedAt);
          statuses.add(answer.status);
          answers.add(answer.text);
        }
      }
      expect([...statuses]).toEqual([404]);
      // Byte for byte the same answer: nothing tells which part of the URL was wrong.
      expect([...answers]).toEqual([JSON.stringify({ error: { code: 'not_found', message: 'no enabled Kartra webhook at this URL' } })]);
      expect(await snapshotData(t.query)).toBe(before);
      expect(await countEvents(t)).toBe(0);

      const medians = Object.fromEntries(Object.entries(timesMs).map(([name, times]) => [name, median(times)]));
      const values = Object.values(medians);
      const spreadMs = Math.max(...values) - Math.min(...values);
      const us = (ms: number) => `${Math.round(ms * 1000)}µs`;
      reportFigure('abuse: 404 timing', {
        'requests per case': rounds,
        ...Object.fromEntries(Object.entries(timesMs).map(([name, times]) => [name, `median ${us(median(times))} p90 ${us(percentile(times, 90))}`])),
        'spread of medians': us(spreadMs),
      });
      // A generous bound: the cases differ by a hash and a lookup (microseconds); HTTP itself costs far more, and a
      // busy machine adds noise. A real leak (reading the body, a database write) would show as milliseconds.
      expect(spreadMs).toBeLessThan(Math.max(0.5, 0.5 * Math.min(...values)));
    } finally {
      agent.destroy();
      await new Promise((done) => server.close(done));
      await t.close();
    }
  }, 120_000);
});

describe('security headers from helmet', () => {
  it('are on pages, the API, the hook route and its refusals (404, 413, 429), health and unknown routes', async () => {
    const t = await buildTestApp({ HOOK_RATE_BURST: '3', HOOK_RATE_PER_SECOND: '0.01' });
    const { server, baseUrl } = await listenOnLoopback(t.app);
    try {
      const site = await buildSite(t);
      const hook = `${baseUrl}${site.hookPath}`;
      const auth = { authorization: `Bearer ${t.token}` };
      const responses: Record<string, Response> = {
        'sign-in page': await fetch(`${baseUrl}/admin/sign-in`),
        'page behind sign-in (redirect)': await fetch(`${baseUrl}/admin/sites/1`, { redirect: 'manual' }),
        'API 200': await fetch(`${baseUrl}/api/v1/sites`, { headers: auth }),
        'API 401': await fetch(`${baseUrl}/api/v1/sites`),
        'API 404': await fetch(`${baseUrl}/api/v1/sites/999`, { headers: auth }),
        'OpenAPI document': await fetch(`${baseUrl}/api/v1/openapi.json`),
        'hook 200': await fetch(hook, { method: 'POST', headers: JSON_HEADERS, body: JSON.stringify(outboundFixture('06-assign_tag.dana.json')) }),
        'hook 413': await fetch(hook, { method: 'POST', headers: JSON_HEADERS, body: 'x'.repeat(300 * 1024) }),
        'hook 404': await fetch(`${baseUrl}/hooks/kartra/nosuchkey/nosuchsecret`, { method: 'POST', body: '{}' }),
        'hook 429': await fetch(hook, { method: 'POST', body: '{}' }),
        health: await fetch(`${baseUrl}/healthz`),
        'unknown route': await fetch(`${baseUrl}/no/such/route`),
        stylesheet: await fetch(`${baseUrl}/assets/app.css`),
      };
      expect(responses['hook 429']?.status).toBe(429);
      const missing: string[] = [];
      const seen: Record<string, { status: number; header: (key: string) => string }> = {};
      for (const [name, response] of Object.entries(responses)) {
        seen[name] = { status: response.status, header: (key) => response.headers.get(key) ?? '' };
        await response.arrayBuffer();
      }
      // A signed-in admin's page, through the real sign-in form.
      await createAdmin(t, 'ann@example.com', [site.siteId]);
      const { agent } = await signIn(t, 'ann@example.com');
      const page = await agent.get(`/admin/sites/${site.siteId}/kartra`).expect(200);
      seen['admin page, signed in'] = { status: page.status, header: (key) => String(page.headers[key] ?? '') };
      for (const [name, response] of Object.entries(seen)) {
        const { header } = response;
        const expectations: [string, boolean][] = [
          ["content-security-policy default-src 'none'", header('content-security-policy').includes("default-src 'none'")],
          ["content-security-policy frame-ancestors 'none'", header('content-security-policy').includes("frame-ancestors 'none'")],
          ['x-content-type-options nosniff', header('x-content-type-options') === 'nosniff'],
          ['x-frame-options', /^(DENY|SAMEORIGIN)$/.test(header('x-frame-options'))],
          ['strict-transport-security', header('strict-transport-security').includes('max-age=')],
          ['referrer-policy same-origin', header('referrer-policy') === 'same-origin'],
          ['cross-origin-opener-policy', header('cross-origin-opener-policy') === 'same-origin'],
          ['cross-origin-resource-policy', header('cross-origin-resource-policy') === 'same-origin'],
          ['x-permitted-cross-domain-policies', header('x-permitted-cross-domain-policies') === 'none'],
          ['no x-powered-by', header('x-powered-by') === ''],
        ];
        for (const [what, present] of expectations) if (!present) missing.push(`${name} (${response.status}): ${what}`);
      }
      expect(missing).toEqual([]);
      reportFigure('abuse: security headers', { 'responses checked': Object.keys(seen).length, headers: 10, missing: missing.length });
    } finally {
      await new Promise((done) => server.close(done));
      await t.close();
    }
  });
});
