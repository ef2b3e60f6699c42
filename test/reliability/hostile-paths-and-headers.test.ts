import fc from 'fast-check';
import { createHash } from 'node:crypto';
import { connect } from 'node:net';
import type { Server } from 'node:http';
import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib';
import { createAdmin, PASSWORD, signIn } from '../support/admin-pages';
import { buildMapping, buildSite, type SiteWithHook } from '../support/factories';
import { ipnFixtureFields, outboundFixture } from '../support/kartra-fixtures';
import { buildTestApp, type TestApp } from '../support/test-app';
import { count, listRoutes, listenOnLoopback, reportFigure } from './support';

const IPN_SECRET = 'wc-ipn-3f9a71c2';
const SEED = Number(process.env.FUZZ_SEED ?? 20261202);

/** How the path is spelled; the first four still name the enabled URL (Express matches case-insensitively). */
type PathSpelling = 'canonical' | 'upper-case route' | 'trailing slash' | 'escaped letters' | 'stray %' | 'bad escape' | 'invalid UTF-8 escape' | 'doubled slash' | 'wrong secret' | 'other site secret';
const REACHES: ReadonlySet<PathSpelling> = new Set(['canonical', 'upper-case route', 'trailing slash', 'escaped letters']);

/** How the body is framed; only the first two are honest. */
type Framing = 'content-length' | 'chunked' | 'content-length too short' | 'no length' | 'chunked and content-length' | 'unknown transfer-encoding';
const HONEST: ReadonlySet<Framing> = new Set(['content-length', 'chunked']);

interface HostileRequest {
  path: PathSpelling;
  framing: Framing;
  /** The Content-Encoding header, and whether the body really is so encoded. */
  encoding: { header: string | null; applied: boolean };
  contentType: string | undefined;
  body: 'outbound purchase' | 'ipn sale';
  /** For IPN bodies: how `secret_key` is spelled. */
  keySpelling: string;
  pathCase: number;
}

const escapeChar = (char: string) => `%${char.charCodeAt(0).toString(16).toUpperCase()}`;

/** Percent-escapes some letters of `text`; `mask` picks which, so fast-check shrinks and replays it. */
function escapeSome(text: string, mask: number): string {
  return [...text].map((char, index) => (/[A-Za-z]/.test(char) && (mask >> index % 24) & 1 ? escapeChar(char) : char)).join('');
}

function spellPath(site: SiteWithHook, other: SiteWithHook, spelling: PathSpelling, mask: number): string {
  const [, , , key = '', secret = ''] = site.hookPath.split('/');
  const otherSecret = other.hookPath.split('/').pop() ?? '';
  switch (spelling) {
    case 'canonical':
      return site.hookPath;
    case 'upper-case route':
      return `/${mask & 1 ? 'HOOKS' : 'Hooks'}/${mask & 2 ? 'KARTRA' : 'kArtra'}/${key}/${secret}`;
    case 'trailing slash':
      return `${site.hookPath}/`;
    case 'escaped letters':
      return `/hooks/kartra/${escapeSome(key, mask)}/${escapeSome(secret, mask >> 3)}`;
    case 'stray %':
      return `${site.hookPath.slice(0, site.hookPath.length - (mask % 5))}%${site.hookPath.slice(site.hookPath.length - (mask % 5))}`;
    case 'bad escape':
      return `${site.hookPath}%${['zz', 'G1', '4', ''][mask % 4]}`;
    case 'invalid UTF-8 escape':
      return `/hooks/kartra/${key}/${secret}${['%C3%28', '%FF', '%E0%A4%A', '%ED%A0%80'][mask % 4]}`;
    case 'doubled slash':
      return ['//hooks/kartra', '/hooks//kartra', '/hooks/kartra/'][mask % 3] + `/${key}/${secret}`;
    case 'wrong secret':
      return `/hooks/kartra/${key}/${secret.slice(0, -1)}${secret.endsWith('A') ? 'B' : 'A'}`;
    case 'other site secret':
      return `/hooks/kartra/${key}/${otherSecret}`;
  }
}

const KEY_SPELLINGS = ['secret_key', 'secret%5Fkey', 'secret%5fkey', '%73ecret_key', 'SECRET_KEY', ' secret_key'];

let serial = 0;
function bodyText(request: HostileRequest): string {
  serial++;
  if (request.body === 'outbound purchase') {
    const purchase = outboundFixture('02-buy_product.one-time.dana.json') as { lead: Record<string, unknown>; action_details: { transaction_details: Record<string, unknown> } };
    purchase.lead.email = `fuzz${serial}@example.com`;
    purchase.action_details.transaction_details.transaction_id = String(7_000_000 + serial);
    return JSON.stringify(purchase);
  }
  const fields = ipnFixtureFields('01-sale.one-time.dana.txt').map(([name, value]): [string, string] => {
    if (name === 'transaction_id') return [name, String(8_000_000 + serial)];
    if (name === 'lead_email') return [name, `ipn${serial}@example.com`];
    return [name, value];
  });
  return fields.map(([name, value]) => `${name === 'secret_key' ? request.keySpelling : encodeURIComponent(name)}=${encodeURIComponent(value)}`).join('&');
}

function encodeBody(text: string, encoding: HostileRequest['encoding']): Buffer {
  const plain = Buffer.from(text, 'utf8');
  if (!encoding.applied || encoding.header === null) return plain;
  if (encoding.header.startsWith('gzip')) return gzipSync(plain);
  if (encoding.header === 'deflate') return deflateSync(plain);
  if (encoding.header === 'br') return brotliCompressSync(plain);
  return plain;
}

function frame(path: string, request: HostileRequest, body: Buffer): Buffer {
  const headers = [`POST ${path} HTTP/1.1`, 'Host: 127.0.0.1', 'Connection: close'];
  if (request.contentType !== undefined) headers.push(`Content-Type: ${request.contentType}`);
  if (request.encoding.header !== null) headers.push(`Content-Encoding: ${request.encoding.header}`);
  const chunked = Buffer.concat([Buffer.from(`${body.length.toString(16)}\r\n`), body, Buffer.from('\r\n0\r\n\r\n')]);
  switch (request.framing) {
    case 'content-length':
      return Buffer.concat([Buffer.from(`${[...headers, `Content-Length: ${body.length}`].join('\r\n')}\r\n\r\n`), body]);
    case 'chunked':
      return Buffer.concat([Buffer.from(`${[...headers, 'Transfer-Encoding: chunked'].join('\r\n')}\r\n\r\n`), chunked]);
    case 'content-length too short':
      return Buffer.concat([Buffer.from(`${[...headers, `Content-Length: ${Math.max(0, body.length - 7)}`].join('\r\n')}\r\n\r\n`), body]);
    case 'no length':
      return Buffer.concat([Buffer.from(`${headers.join('\r\n')}\r\n\r\n`), body]);
    case 'chunked and content-length':
      return Buffer.concat([Buffer.from(`${[...headers, 'Transfer-Encoding: chunked', `Content-Length: ${body.length}`].join('\r\n')}\r\n\r\n`), chunked]);
    case 'unknown transfer-encoding':
      return Buffer.concat([Buffer.from(`${[...headers, 'Transfer-Encoding: x-kartra'].join('\r\n')}\r\n\r\n`), body]);
  }
}

/** One request over a raw socket: fetch cannot lie about Content-Length or mix Transfer-Encoding with it. */
function sendRaw(port: number, bytes: Buffer): Promise<{ status: number; body: string }> {
  return new Promise((done) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => socket.destroy(), 10_000);
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      const text = Buffer.concat(chunks).toString('utf8');
      done({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0), body: text.slice(text.indexOf('\r\n\r\n') + 4) });
    });
    // Written without a FIN: on a half-close Node aborts the requests still in flight, which no real client does.
    socket.write(bytes);
  });
}

/** Signs in through the real form over HTTP; returns the session cookie and the session's CSRF token. */
async function signInOverHttp(baseUrl: string, email: string): Promise<{ cookie: string; csrf: string }> {
  const cookiesOf = (response: Response) => response.headers.getSetCookie().map((cookie) => cookie.split(';')[0] ?? '');
  const csrfOf = (html: string) => /name="_csrf" value="([^"]+)"/.exec(html)?.[1] ?? '';
  const form = await fetch(`${baseUrl}/admin/sign-in`);
  const formCookie = cookiesOf(form).join('; ');
  const signedIn = await fetch(`${baseUrl}/admin/sign-in`, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: formCookie },
    body: new URLSearchParams({ _csrf: csrfOf(await form.text()), email, password: PASSWORD }).toString(),
  });
  const cookie = cookiesOf(signedIn).find((pair) => pair.startsWith('ka_session=')) ?? '';
  if (signedIn.status !== 303 || cookie === '') throw new Error(`sign-in failed: ${signedIn.status}`);
  const page = await fetch(`${baseUrl}/admin/account`, { headers: { cookie } });
  return { cookie, csrf: csrfOf(await page.text()) };
}

const hostileRequest: fc.Arbitrary<HostileRequest> = fc.record({
  path: fc.oneof(
    { weight: 6, arbitrary: fc.constantFrom<PathSpelling>('canonical', 'upper-case route', 'trailing slash', 'escaped letters') },
    { weight: 4, arbitrary: fc.constantFrom<PathSpelling>('stray %', 'bad escape', 'invalid UTF-8 escape', 'doubled slash', 'wrong secret', 'other site secret') },
  ),
  framing: fc.oneof({ weight: 6, arbitrary: fc.constantFrom<Framing>('content-length', 'chunked') }, { weight: 2, arbitrary: fc.constantFrom<Framing>('content-length too short', 'no length', 'chunked and content-length', 'unknown transfer-encoding') }),
  encoding: fc.constantFrom(
    { header: null, applied: false },
    { header: 'gzip', applied: true },
    { header: 'gzip', applied: false },
    { header: 'deflate', applied: true },
    { header: 'deflate', applied: false },
    { header: 'br', applied: true },
    { header: 'br', applied: false },
    { header: 'compress', applied: false },
    { header: 'identity', applied: false },
    { header: 'gzip, br', applied: false },
    { header: 'GZIP', applied: true },
  ),
  contentType: fc.constantFrom(undefined, 'application/json', 'application/x-www-form-urlencoded; charset=ISO-8859-1', 'text/plain; charset=utf-16', 'application/json; charset=x-unknown', 'multipart/form-data; boundary=nope'),
  body: fc.constantFrom('outbound purchase' as const, 'ipn sale' as const),
  keySpelling: fc.constantFrom(...KEY_SPELLINGS),
  pathCase: fc.nat({ max: 0xffffff }),
});

describe('hostile paths, headers and IPN key spellings to a real port', () => {
  const runs = count(600, 5000);
  let t: TestApp;
  let site: SiteWithHook;
  let other: SiteWithHook;
  let server: Server;
  let port: number;
  let baseUrl: string;
  const logLines: string[] = [];

  beforeAll(async () => {
    t = await buildTestApp({ HOOK_RATE_BURST: '1000000' }, { logLines });
    site = await buildSite(t);
    other = await buildSite(t, { name: 'Second site' });
    await buildMapping(t, site, '558475', ['Foundations']);
    await t.api.put(`/sites/${site.siteId}/kartra`, { ipnSecret: IPN_SECRET }).expect(200);
    const listening = await listenOnLoopback(t.app);
    server = listening.server;
    baseUrl = listening.baseUrl;
    port = Number(new URL(baseUrl).port);
  });
  afterAll(async () => {
    await new Promise((done) => server.close(done));
    await t.close();
  });

  it(`answers ${runs} generated requests without a 5xx, stores every honest one that reached the URL byte for byte, and shows no secret`, async () => {
    const statuses = new Map<number, number>();
    const digest = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');
    let tried = 0;
    let reached = 0;
    let lost = 0;
    let storedElsewhere = 0;
    const notReachedDigests = new Set<string>();
    const eventIds: number[] = [];
    const storedBody = async (eventId: number): Promise<Buffer | undefined> =>
      (await t.query<{ raw_body: Buffer }>('select raw_body from webhook_events where id = ? and site_id = ?', [eventId, site.siteId]))[0]?.raw_body;

    await fc.assert(
      fc.asyncProperty(hostileRequest, async (request) => {
        tried++;
        const body = encodeBody(bodyText(request), request.encoding);
        const response = await sendRaw(port, frame(spellPath(site, other, request.path, request.pathCase), request, body));
        statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
        if (response.status >= 500 || response.status === 0) return false;
        if (!HONEST.has(request.framing)) return response.status >= 400 || response.status === 200;
        let answer: { eventId?: number; error?: { details?: { eventId?: number } } } = {};
        try {
          answer = JSON.parse(response.body) as typeof answer;
        } catch {
          // Checked below: an honest request always gets a JSON answer.
        }
        const eventId = answer.eventId ?? answer.error?.details?.eventId;
        if (!REACHES.has(request.path)) {
          notReachedDigests.add(digest(body));
          return response.status === 404 && eventId === undefined;
        }
        reached++;
        const stored = eventId === undefined ? undefined : await storedBody(eventId);
        if (!stored || !stored.equals(body)) {
          lost++;
          return false;
        }
        eventIds.push(eventId as number);
        return [200, 400, 403].includes(response.status);
      }),
      { numRuns: runs, seed: SEED },
    );

    // Nothing that missed the enabled URL was stored, on either site.
    for (const { raw_body: row } of await t.query<{ raw_body: Buffer }>('select raw_body from webhook_events')) if (notReachedDigests.has(digest(row))) storedElsewhere++;

    // Every stored event through the API, and a sample through the event page, searched for the IPN secret; the log
    // searched for both sites' webhook secrets and the IPN secret.
    let secretsShown = 0;
    for (const eventId of eventIds) {
      const detail = await t.api.get(`/sites/${site.siteId}/events/${eventId}`).expect(200);
      if (detail.text.includes(IPN_SECRET)) secretsShown++;
    }
    await createAdmin(t, 'owner@example.com', [site.siteId]);
    const { agent } = await signIn(t, 'owner@example.com');
    for (const eventId of eventIds.slice(0, 60)) {
      const page = await agent.get(`/admin/sites/${site.siteId}/events/${eventId}`).expect(200);
      if (page.text.includes(IPN_SECRET)) secretsShown++;
    }
    const log = logLines.join('');
    const webhookSecrets = [site, other].map((each) => each.hookPath.split('/').pop() ?? '');
    const secretsInLog = [...webhookSecrets, ...webhookSecrets.map((secret) => secret.slice(0, 12)), IPN_SECRET].filter((secret) => log.includes(secret)).length;
    const fiveHundreds = [...statuses].filter(([status]) => status >= 500).reduce((sum, [, n]) => sum + n, 0);

    reportFigure('hostile paths and headers', {
      requests: tried,
      '5xx': fiveHundreds,
      reachedUrl: reached,
      bodiesLost: lost,
      storedFromWrongUrl: storedElsewhere,
      secretsInLog,
      secretsInApiOrPages: secretsShown,
      seed: SEED,
      statuses: JSON.stringify(Object.fromEntries(statuses)),
    });
    expect({ fiveHundreds, lost, storedElsewhere, secretsInLog, secretsShown }).toEqual({ fiveHundreds: 0, lost: 0, storedElsewhere: 0, secretsInLog: 0, secretsShown: 0 });
    expect(reached).toBeGreaterThan(runs / 4);
    expect(log.length).toBeGreaterThan(0);
  }, 600_000);

  it('answers every route in the router table without a 5xx, signed in or not, for malformed escapes in any param and bodies that lie about their encoding', async () => {
    await createAdmin(t, 'sweeper@example.com', [site.siteId, other.siteId]);
    const { cookie, csrf } = await signInOverHttp(baseUrl, 'sweeper@example.com');
    const routes = listRoutes(t.app);
    const badParams = ['%', '%zz', '%C3%28', '%E0%A4%A', '%00', '..%2F..%2F', '%25%'];
    const bodies: { header: string | null; body: Buffer; contentType: string }[] = [
      { header: 'gzip', body: Buffer.from('{}'), contentType: 'application/json' },
      { header: 'deflate', body: Buffer.from('_csrf=x&name=y'), contentType: 'application/x-www-form-urlencoded' },
      { header: 'br', body: Buffer.from('{"name":"x"}'), contentType: 'application/json' },
      { header: 'compress', body: Buffer.from('{}'), contentType: 'application/json' },
      { header: 'gzip', body: gzipSync(Buffer.alloc(4 * 1024 * 1024, 0x7b)), contentType: 'application/json' },
      { header: null, body: Buffer.from('{"name":'), contentType: 'application/json' },
      { header: null, body: Buffer.from(`_csrf=${csrf}&name=%`), contentType: 'application/x-www-form-urlencoded; charset=x-unknown' },
    ];
    const credentials: Record<string, string>[] = [{}, { authorization: `Bearer ${t.api.token}` }, { cookie }];
    const statuses = new Map<number, number>();
    const fiveHundreds: string[] = [];
    let requests = 0;
    for (const route of routes) {
      const paths = [route.path.replace(/:(\w+)/g, (_whole, name: string) => (name === 'siteId' ? String(site.siteId) : '1')), ...badParams.map((bad) => route.path.replace(/:(\w+)/g, bad))];
      for (const path of new Set(paths)) {
        for (const headers of credentials) {
          for (const body of route.method === 'GET' ? [null] : bodies) {
            requests++;
            const head = [`${route.method} ${path} HTTP/1.1`, 'Host: 127.0.0.1', 'Connection: close', ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`)];
            if (body) head.push(`Content-Type: ${body.contentType}`, `Content-Length: ${body.body.length}`, ...(body.header ? [`Content-Encoding: ${body.header}`] : []));
            const response = await sendRaw(port, Buffer.concat([Buffer.from(`${head.join('\r\n')}\r\n\r\n`), body?.body ?? Buffer.alloc(0)]));
            statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
            if (response.status >= 500 || response.status === 0) fiveHundreds.push(`${route.method} ${path} ${body?.header ?? 'plain'} ${Object.keys(headers).join(',') || 'anonymous'}: ${response.status}`);
          }
        }
      }
    }
    reportFigure('hostile requests on every route', { routes: routes.length, requests, '5xx': fiveHundreds.length, statuses: JSON.stringify(Object.fromEntries(statuses)) });
    expect(fiveHundreds).toEqual([]);
    expect(routes.length).toBeGreaterThan(40);
  }, 600_000);
});
