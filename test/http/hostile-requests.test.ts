import request from 'supertest';
import { brotliCompressSync, deflateRawSync, gzipSync } from 'node:zlib';
import { createAdmin, signIn } from '../support/admin-pages';
import { buildStorySite, memberLevels, postIpn, postOutbound, type SiteWithHook } from '../support/factories';
import { ipnFixtureBody, outboundFixture, outboundFixtureText } from '../support/kartra-fixtures';
import { buildTestApp, type TestApp } from '../support/test-app';

const DANA = 'dana.whitfield@example.com';
const IPN_SECRET = 'wc-ipn-3f9a71c2';

async function storedBody(t: TestApp, eventId: number): Promise<Buffer> {
  const [row] = await t.query<{ raw_body: Buffer }>('select raw_body from webhook_events where id = ?', [eventId]);
  if (!row) throw new Error(`no stored event ${eventId}`);
  return row.raw_body;
}

/** Exactly these bytes: superagent would serialise a Buffer as JSON under a JSON Content-Type. */
function sendBytes(t: TestApp, path: string, bytes: Buffer, headers: Record<string, string>) {
  const call = request(t.app).post(path);
  for (const [name, value] of Object.entries(headers)) call.set(name, value);
  return call.serialize((body: unknown) => body as string).send(bytes);
}

function storedCount(t: TestApp, site: SiteWithHook): Promise<number> {
  return t.scalar('select count(*) from webhook_events where site_id = ?', [site.siteId]);
}

describe('URLs with malformed percent-escapes', () => {
  let t: TestApp;
  let site: SiteWithHook;
  const logLines: string[] = [];

  beforeEach(async () => {
    logLines.length = 0;
    t = await buildTestApp({}, { logLines });
    site = await buildStorySite(t);
  });
  afterEach(() => t.close());

  it('answers 404 for a hook URL whose secret ends in a stray %, stores nothing and logs no part of the secret', async () => {
    const secret = site.hookPath.split('/').pop() ?? '';
    for (const path of [`${site.hookPath}%`, `${site.hookPath}%zz`, `${site.hookPath}%C3%28`, `/hooks/kartra/x/%`, `/HOOKS/Kartra/${site.siteKey}/${secret}%E0%A4%A`]) {
      const response = await request(t.app).post(path).set('Content-Type', 'application/json').send('{}');
      expect({ path, status: response.status, body: response.body }).toEqual({ path, status: 404, body: { error: { code: 'not_found', message: 'no enabled Kartra webhook at this URL' } } });
    }
    expect(await storedCount(t, site)).toBe(0);
    const log = logLines.join('');
    expect(log).toContain('"status":404');
    expect(log).not.toContain(secret);
    expect(log).not.toContain(secret.slice(0, 16));
  });

  it('answers 400 with the usual error shape on the API and on a signed-in admin page', async () => {
    const api = await t.api.get('/sites/%');
    expect(api.status).toBe(400);
    expect(api.body).toEqual({ error: { code: 'malformed_path', message: 'the request path has a malformed percent-escape' } });

    await createAdmin(t, 'owner@example.com', [site.siteId]);
    const { agent } = await signIn(t, 'owner@example.com');
    const page = await agent.get('/admin/sites/%E0%A4%A/kartra');
    expect(page.status).toBe(400);
    expect(page.text).toContain('malformed percent-escape');
    expect(logLines.join('')).not.toContain('Failed to decode param');
  });
});

describe('bodies that do not match their Content-Encoding', () => {
  let t: TestApp;
  let site: SiteWithHook;

  beforeEach(async () => {
    t = await buildTestApp();
    site = await buildStorySite(t);
  });
  afterEach(() => t.close());

  it.each(['gzip', 'deflate', 'br', 'compress', 'zstd', 'gzip, identity', 'x-unknown'])('stores a plain body sent as Content-Encoding %s byte for byte, as an invalid event naming the reason', async (encoding) => {
    const response = await request(t.app).post(site.hookPath).set('Content-Type', 'application/json').set('Content-Encoding', encoding).send('{}');
    expect(response.status).toBe(400);
    expect(response.body.error.code).toBe('invalid_event');
    expect(response.body.error.message).toMatch(/Content-Encoding/);
    const eventId = response.body.error.details.eventId as number;
    expect((await storedBody(t, eventId)).toString('utf8')).toBe('{}');
    const detail = await t.api.get(`/sites/${site.siteId}/events/${eventId}`).expect(200);
    expect(detail.body.status).toBe('invalid');
    expect(detail.body.headers['content-encoding']).toBe(encoding);
  });

  it.each([
    ['gzip', gzipSync],
    ['deflate (raw, as some clients send it)', deflateRawSync],
    ['br', brotliCompressSync],
  ] as const)('stores a %s-encoded purchase as received and applies what it decodes to', async (label, encode) => {
    const compressed = encode(Buffer.from(outboundFixtureText('02-buy_product.one-time.dana.json')));
    const response = await sendBytes(t, site.hookPath, compressed, { 'content-type': 'application/json', 'content-encoding': label.split(' ')[0] ?? label });
    expect(response.status).toBe(200);
    expect(response.body.outcome).toBe('applied');
    expect((await storedBody(t, response.body.eventId as number)).equals(compressed)).toBe(true);
    expect(await memberLevels(t, site, DANA)).toEqual(['Foundations']);
    // Shown decoded: compressed bytes can carry the text in clear, and an admin wants to read it.
    const detail = await t.api.get(`/sites/${site.siteId}/events/${response.body.eventId}`).expect(200);
    expect(JSON.parse(detail.body.rawBody as string)).toEqual(outboundFixture('02-buy_product.one-time.dana.json'));
    expect(detail.body.rawBodyNote).toMatch(/shown decoded/);
  });

  it('refuses a decompression bomb as invalid without expanding it past the body limit', async () => {
    const bomb = gzipSync(Buffer.alloc(64 * 1024 * 1024, 0x20));
    expect(bomb.length).toBeLessThan(128 * 1024);
    const response = await request(t.app).post(site.hookPath).set('Content-Encoding', 'gzip').send(bomb);
    expect(response.status).toBe(400);
    expect(response.body.error.message).toMatch(/larger than the \d+-byte limit/);
    expect((await storedBody(t, response.body.error.details.eventId as number)).equals(bomb)).toBe(true);
  });

  it('re-applies a stored gzip event through the same decoding', async () => {
    const compressed = gzipSync(Buffer.from(outboundFixtureText('02-buy_product.one-time.dana.json')));
    const first = await request(t.app).post(site.hookPath).set('Content-Encoding', 'gzip').send(compressed).expect(200);
    const again = await t.api.post(`/sites/${site.siteId}/events/${first.body.eventId}/reapply`).expect(200);
    expect(again.body.outcome).toBe('applied');
  });

  it('answers a client error, never a 5xx, for an undecodable body on the API and on the sign-in form', async () => {
    const withToken = await t.api.post('/sites').set('Content-Type', 'application/json').set('Content-Encoding', 'gzip').send('{}');
    expect(withToken.status).toBe(400);
    expect(withToken.body.error.code).toBe('undecodable_body');
    const noToken = await request(t.app).post('/api/v1/sites').set('Content-Type', 'application/json').set('Content-Encoding', 'gzip').send('{}');
    expect(noToken.status).toBeLessThan(500);
    expect(noToken.status).toBeGreaterThanOrEqual(400);
    const signInForm = await request(t.app).post('/admin/sign-in').type('form').set('Content-Encoding', 'deflate').send('email=a%40b.c&password=x');
    expect(signInForm.status).toBe(400);
    const unknownCoding = await request(t.app).post('/admin/sign-in').type('form').set('Content-Encoding', 'compress').send('email=a%40b.c');
    expect(unknownCoding.status).toBe(415);
  });
});

describe('the IPN secret_key in every spelling the parser reads', () => {
  let t: TestApp;
  let site: SiteWithHook;

  beforeEach(async () => {
    t = await buildTestApp();
    site = await buildStorySite(t);
    await t.api.put(`/sites/${site.siteId}/kartra`, { ipnSecret: IPN_SECRET }).expect(200);
  });
  afterEach(() => t.close());

  const sale = ipnFixtureBody('01-sale.one-time.dana.txt');
  const multipart = (nameHeader: string, boundary = 'KartraBoundary7') =>
    `--${boundary}\r\n${nameHeader}\r\n\r\n${IPN_SECRET}\r\n` +
    [...new URLSearchParams(sale)].filter(([key]) => key !== 'secret_key').map(([key, value]) => `--${boundary}\r\nContent-Disposition: form-data; name="${key}"\r\n\r\n${value}\r\n`).join('') +
    `--${boundary}--\r\n`;

  it.each([
    ['a percent-escaped name', sale.replace('secret_key=', 'secret%5Fkey='), 'application/x-www-form-urlencoded'],
    ['escapes in name and value', sale.replace(`secret_key=${IPN_SECRET}`, `%73ecret%5fkey=${encodeURIComponent(IPN_SECRET).replace(/-/g, '%2D')}`), 'application/x-www-form-urlencoded'],
    ['a leading space before the first field', ` secret_key=${IPN_SECRET}&${sale.replace(/(^|&)secret_key=[^&]*/, '')}`, 'application/x-www-form-urlencoded'],
    ['a multipart part named in capitals', multipart('CONTENT-DISPOSITION: form-data; NAME="secret_key"'), 'multipart/form-data; boundary=KartraBoundary7'],
    ['a multipart body without its header', multipart('Content-Disposition: form-data; name="secret_key"'), 'text/plain'],
  ])('applies with %s and never shows the secret in the API or on the event page', async (_label, body, contentType) => {
    const response = await postIpn(t, site.hookPath, body, contentType);
    expect(response.body.outcome).toBe('applied');
    const detail = await t.api.get(`/sites/${site.siteId}/events/${response.body.eventId}`).expect(200);
    expect(detail.text).not.toContain(IPN_SECRET);
    expect(detail.text).not.toContain(IPN_SECRET.slice(3));
    expect(detail.body.rawBody).toContain('[redacted]');

    await createAdmin(t, 'owner@example.com', [site.siteId]);
    const { agent } = await signIn(t, 'owner@example.com');
    const page = await agent.get(`/admin/sites/${site.siteId}/events/${response.body.eventId}`).expect(200);
    expect(page.text).toContain('[redacted]');
    expect(page.text).not.toContain(IPN_SECRET.slice(3));
  });
});

describe('money events from IPN only', () => {
  let t: TestApp;
  let site: SiteWithHook;

  beforeEach(async () => {
    t = await buildTestApp();
    site = await buildStorySite(t);
  });
  afterEach(() => t.close());

  it('is refused without an IPN secret to check, naming the rule', async () => {
    const response = await t.api.put(`/sites/${site.siteId}/kartra`, { moneyChannels: 'ipn_with_secret' });
    expect(response.status).toBe(422);
    expect(response.body.error.details.issues).toEqual([{ path: 'moneyChannels', message: expect.stringMatching(/set the IPN secret_key first/) }]);
    const clearing = await t.api.put(`/sites/${site.siteId}/kartra`, { ipnSecret: IPN_SECRET, moneyChannels: 'ipn_with_secret' }).expect(200);
    expect(clearing.body.settings.moneyChannels).toBe('ipn_with_secret');
    expect((await t.api.put(`/sites/${site.siteId}/kartra`, { ipnSecret: null })).status).toBe(422);
  });

  it('stores an Outbound purchase as rejected and grants nothing, and an unsigned tag assignment as rejected, while IPN posts with the secret still count', async () => {
    await t.api.put(`/sites/${site.siteId}/kartra`, { ipnSecret: IPN_SECRET, moneyChannels: 'ipn_with_secret' }).expect(200);

    const outbound = await postOutbound(t, site.hookPath, outboundFixture('02-buy_product.one-time.dana.json'));
    expect(outbound.status).toBe(403);
    expect(outbound.body.error.message).toMatch(/only from IPN posts carrying the secret_key/);
    expect(await memberLevels(t, site, DANA)).toEqual([]);
    const rejected = await t.api.get(`/sites/${site.siteId}/events/${outbound.body.error.details.eventId}`).expect(200);
    expect(rejected.body.status).toBe('rejected');

    const tag = await postOutbound(t, site.hookPath, outboundFixture('06-assign_tag.dana.json'));
    expect(tag.status).toBe(403);
    expect(tag.body.error.message).toMatch(/signs nothing/);

    const withoutSecret = await postIpn(t, site.hookPath, ipnFixtureBody('01-sale.one-time.dana.txt', { secret_key: '' }));
    expect(withoutSecret.status).toBe(403);
    const withSecret = await postIpn(t, site.hookPath, ipnFixtureBody('01-sale.one-time.dana.txt'));
    expect(withSecret.body.outcome).toBe('applied');
    expect(await memberLevels(t, site, DANA)).toEqual(['Foundations']);
  });

  it('takes the same Outbound purchase on the default setting', async () => {
    await t.api.put(`/sites/${site.siteId}/kartra`, { ipnSecret: IPN_SECRET }).expect(200);
    const outbound = await postOutbound(t, site.hookPath, outboundFixture('02-buy_product.one-time.dana.json'));
    expect(outbound.body.outcome).toBe('applied');
  });

  it('is a choice on the Kartra page', async () => {
    await createAdmin(t, 'owner@example.com', [site.siteId]);
    const { agent, csrf } = await signIn(t, 'owner@example.com');
    const page = await agent.get(`/admin/sites/${site.siteId}/kartra`).expect(200);
    expect(page.text).toContain('name="moneyChannels" value="ipn_with_secret"');
    const form = { _csrf: csrf, graceDays: '10', cancelMode: 'immediate', moneyChannels: 'ipn_with_secret' };
    const refused = await agent.post(`/admin/sites/${site.siteId}/kartra/settings`).type('form').send(form);
    expect(refused.status).toBe(422);
    expect(refused.text).toContain('set the IPN secret_key first');
    await agent.post(`/admin/sites/${site.siteId}/kartra/settings`).type('form').send({ ...form, ipnSecret: IPN_SECRET }).expect(303);
    const integration = await t.api.get(`/sites/${site.siteId}/kartra`).expect(200);
    expect(integration.body.settings.moneyChannels).toBe('ipn_with_secret');
  });
});
