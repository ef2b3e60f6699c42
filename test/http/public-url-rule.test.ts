import { loadConfig } from '../../src/config';
import { createAdmin, signIn } from '../support/admin-pages';
import { buildSite, type SiteWithHook } from '../support/factories';
import { buildTestApp, type TestApp } from '../support/test-app';

const HTTPS_ONLY = 'https only (http only for localhost, 127.0.0.1 or [::1])';
const NO_QUERY = 'no query (?) or fragment (#)';
const NO_USERINFO = 'no user name or password (user:pass@)';
const NO_BACKSLASH = 'no backslashes';
const TOO_LONG = 'at most 2048 characters';
const HOST_TOO_LONG = 'a host name of at most 253 characters';
const LABEL_TOO_LONG = 'a host name whose parts between dots are 1 to 63 characters';

/** Each address that would move the secret out of the path, hide another host or go out in the clear, and the rule named. */
const REFUSED: [label: string, url: string, rule: string][] = [
  ['a query ending', 'https://members.example.com/?y=', NO_QUERY],
  ['a bare ? ending', 'https://members.example.com?', NO_QUERY],
  ['a fragment ending', 'https://members.example.com/#', NO_QUERY],
  ['a fragment with text', 'https://members.example.com/base#x', NO_QUERY],
  ['user:pass@', 'https://user:pass@members.example.com', NO_USERINFO],
  ['an empty userinfo @', 'https://@members.example.com', NO_USERINFO],
  ['a \\@ host', 'https://evil.example\\@members.example.com', NO_BACKSLASH],
  ['plain http to a public host', 'http://members.example.com', HTTPS_ONLY],
  ['another scheme', 'ftp://members.example.com', HTTPS_ONLY],
  ['a 5,000-character host', `https://${'a'.repeat(5000)}.example.com`, TOO_LONG],
  ['a 300-character host', `https://${Array.from({ length: 60 }, () => 'abcd').join('.')}`, HOST_TOO_LONG],
  ['a 64-character label', `https://${'a'.repeat(64)}.example.com`, LABEL_TOO_LONG],
  ['a 3,000-character path', `https://members.example.com/${'p'.repeat(3000)}`, TOO_LONG],
  ['no address at all', 'members dot example', 'a full address such as https://members.example.com'],
];

const ACCEPTED: [typed: string, stored: string][] = [
  ['https://members.example.com', 'https://members.example.com'],
  ['https://example.com/base/path', 'https://example.com/base/path'],
  ['http://localhost:3000', 'http://localhost:3000'],
  ['https://example.com/base/path/', 'https://example.com/base/path'],
];

describe("a site's public URL, set through the API or the Kartra settings form", () => {
  let t: TestApp;
  let site: SiteWithHook;
  let session: Awaited<ReturnType<typeof signIn>>;

  const integration = async () => (await t.api.get(`/sites/${site.siteId}/kartra`).expect(200)).body as { settings: { publicUrl: string | null } };
  const postSettings = (publicUrl: string) =>
    session.agent.post(`/admin/sites/${site.siteId}/kartra/settings`).type('form').send({ _csrf: session.csrf, publicUrl, graceDays: '10', cancelMode: 'immediate' });

  beforeAll(async () => {
    t = await buildTestApp();
    site = await buildSite(t);
    await createAdmin(t, 'ann@example.com', [site.siteId]);
    session = await signIn(t, 'ann@example.com');
  });
  afterAll(() => t.close());

  it.each(REFUSED)('the API refuses %s with 422 invalid_input naming the rule, and keeps the old value', async (_label, url, rule) => {
    await t.api.put(`/sites/${site.siteId}/kartra`, { publicUrl: 'https://before.example.com' }).expect(200);
    const refused = await t.api.put(`/sites/${site.siteId}/kartra`, { publicUrl: url }).expect(422);
    expect(refused.body.error.code).toBe('invalid_input');
    expect(refused.body.error.details.issues).toEqual([{ path: 'publicUrl', message: expect.stringContaining(rule) }]);
    expect((await integration()).settings.publicUrl).toBe('https://before.example.com');
  });

  it.each(REFUSED)('the settings form refuses %s with 422 and the rule beside the field, and keeps the old value', async (_label, url, rule) => {
    await t.api.put(`/sites/${site.siteId}/kartra`, { publicUrl: 'https://before.example.com' }).expect(200);
    const refused = await postSettings(url).expect(422);
    const fieldError = /<p class="field-error" id="publicUrl-error">([^<]*)<\/p>/.exec(refused.text)?.[1] ?? '';
    expect(fieldError).toContain(rule.replace(/'/g, '&#39;'));
    expect((await integration()).settings.publicUrl).toBe('https://before.example.com');
  });

  it('the API refuses a 100,000-character path naming the length rule (the form refuses it earlier, as a body over its limit)', async () => {
    const huge = `https://members.example.com/${'p'.repeat(100_000)}`;
    const refused = await t.api.put(`/sites/${site.siteId}/kartra`, { publicUrl: huge }).expect(422);
    expect(refused.body.error.details.issues).toEqual([{ path: 'publicUrl', message: TOO_LONG }]);
    await postSettings(huge).expect(413);
    expect((await integration()).settings.publicUrl).not.toBe(huge);
  });

  it.each(ACCEPTED)('the API and the form accept %s and store it without a trailing slash', async (typed, stored) => {
    const saved = await t.api.put(`/sites/${site.siteId}/kartra`, { publicUrl: typed }).expect(200);
    expect(saved.body.settings.publicUrl).toBe(stored);
    await t.api.put(`/sites/${site.siteId}/kartra`, { publicUrl: null }).expect(200);
    await postSettings(typed).expect(303);
    expect((await integration()).settings.publicUrl).toBe(stored);
  });

  it('a rotated webhook URL is built on the stored address, with the secret as the last path segment', async () => {
    await t.api.put(`/sites/${site.siteId}/kartra`, { publicUrl: 'https://example.com/base/path/' }).expect(200);
    const rotated = await t.api.post(`/sites/${site.siteId}/kartra/rotate`).expect(200);
    expect(rotated.body.webhookUrl).toMatch(new RegExp(`^https://example\\.com/base/path/hooks/kartra/${site.siteKey}/[A-Za-z0-9_-]{43}$`));
  });

  it('the site service itself refuses a bad address, so an entry point without the edge schemas (the CLI, a script) cannot store one', async () => {
    const sites = t.composed.services.sites;
    const record = await sites.requireSite(site.siteId, 'all');
    await expect(sites.updateSettings(record, { publicUrl: 'https://members.example.com/?y=' })).rejects.toThrow(expect.objectContaining({ code: 'invalid_input', issues: [{ path: 'publicUrl', message: expect.stringContaining(NO_QUERY) }] }));
    expect((await sites.updateSettings(record, { publicUrl: 'https://Members.Example.com/' })).publicUrl).toBe('https://members.example.com');
  });

  it('null through the API, or a blank field on the form, goes back to the service default', async () => {
    await t.api.put(`/sites/${site.siteId}/kartra`, { publicUrl: 'https://members.example.com' }).expect(200);
    await postSettings('').expect(303);
    expect((await integration()).settings.publicUrl).toBeNull();
  });
});

describe('PUBLIC_URL at start-up', () => {
  const load = (PUBLIC_URL: string) => () => loadConfig({ PUBLIC_URL });

  it('stops start-up with a message naming the variable and the rule it breaks', () => {
    expect(load('https://members.example.com/?y=')).toThrow(`invalid configuration: PUBLIC_URL: ${NO_QUERY}`);
    expect(load('https://user:pass@members.example.com')).toThrow(`PUBLIC_URL: ${NO_USERINFO}`);
    expect(load('http://members.example.com')).toThrow(`PUBLIC_URL: ${HTTPS_ONLY}`);
    expect(load('https://evil.example\\@members.example.com')).toThrow(`PUBLIC_URL: ${NO_BACKSLASH}`);
  });

  it('accepts an https address or plain http on this machine, normalised without a trailing slash', () => {
    expect(loadConfig({ PUBLIC_URL: 'https://Members.Example.com/' }).publicUrl).toBe('https://members.example.com');
    expect(loadConfig({ PUBLIC_URL: 'http://127.0.0.1:8080' }).publicUrl).toBe('http://127.0.0.1:8080');
    expect(loadConfig({ PORT: '4000' }).publicUrl).toBe('http://localhost:4000');
  });
});
