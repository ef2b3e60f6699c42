import { composeApp, type ComposedApp } from '../../src/compose';
import { loadConfig } from '../../src/config';
import { createLogger } from '../../src/logger';
import { createAdmin, signIn } from '../support/admin-pages';
import { buildSite, type SiteWithHook } from '../support/factories';
import { startFakeKartra, type FakeKartra } from '../support/fake-kartra';
import { ApiClient, buildTestApp, type TestApp } from '../support/test-app';

const CREDENTIALS = { appId: 'AppWatercolor7', apiKey: 'kartra-api-key-3f9c1d7a2b5e9abcd', apiPassword: 'kartra-api-password-8e2f4c6a1d3b' };
const WRONG_PASSWORD = 'not-the-kartra-password-7c1e';

/** Every text an answer or page could carry a secret in, to search: never the key or either password. */
function expectNoSecrets(text: string): void {
  for (const secret of [CREDENTIALS.apiKey, CREDENTIALS.apiPassword, WRONG_PASSWORD]) expect(text).not.toContain(secret);
}

/** Another instance on the same database, with its own SECRETS_KEY (or none), as after a changed environment. */
async function composeOnSameDatabase(t: TestApp, fake: FakeKartra, secretsKey: string | null): Promise<ComposedApp> {
  const env: Record<string, string> = { ...t.databaseEnv, PUBLIC_URL: 'https://members.example.com', LOG_LEVEL: 'silent', SWEEP_INTERVAL_SECONDS: '0', KARTRA_API_URL: fake.url };
  if (secretsKey) env.SECRETS_KEY = secretsKey;
  return await composeApp(loadConfig(env), { clock: t.clock, logger: createLogger('silent') });
}

describe('Kartra API credentials through the admin API, against a fake Kartra', () => {
  let fake: FakeKartra;
  let t: TestApp;
  let site: SiteWithHook;
  let path: string;
  const logLines: string[] = [];

  beforeAll(async () => {
    fake = await startFakeKartra(CREDENTIALS);
  });
  afterAll(() => fake.close());
  beforeEach(async () => {
    logLines.length = 0;
    t = await buildTestApp({ KARTRA_API_URL: fake.url }, { logLines });
    site = await buildSite(t);
    path = `/sites/${site.siteId}/kartra/credentials`;
  });
  afterEach(() => t.close());

  it('saves them sealed and answers only the App ID and the key’s last four characters, never the key or password', async () => {
    expect((await t.api.get(path).expect(200)).body).toEqual({ credentials: null, canStoreCredentials: true });
    const saved = await t.api.put(path, CREDENTIALS).expect(200);
    expect(saved.body).toMatchObject({ appId: CREDENTIALS.appId, apiKeyHint: 'abcd', lastCheckedAt: null, lastCheckOk: null, problem: null });
    const read = await t.api.get(path).expect(200);
    expect(read.body.credentials).toEqual(saved.body);
    const integration = await t.api.get(`/sites/${site.siteId}/kartra`).expect(200);
    for (const answer of [saved, read, integration]) expectNoSecrets(answer.text);
    // Sealed in the table too: a copy of the database without SECRETS_KEY opens nothing.
    expectNoSecrets(JSON.stringify(await t.query('select * from kartra_credentials')));
  });

  it('refuses incomplete credentials field by field, and keeps nothing', async () => {
    const refused = await t.api.put(path, { appId: '  ', apiKey: 'abc', apiPassword: '' }).expect(422);
    expect(refused.body.error.details.issues).toEqual([
      { path: 'appId', message: 'the App ID is required' },
      { path: 'apiKey', message: 'this is too short for a Kartra API key' },
      { path: 'apiPassword', message: 'the API password is required' },
    ]);
    expect((await t.api.get(path).expect(200)).body.credentials).toBeNull();
  });

  it('tests the connection: Kartra answers the account’s lists, and the result is kept as the last test', async () => {
    await t.api.put(path, CREDENTIALS).expect(200);
    const tested = await t.api.post(`${path}/test`).expect(200);
    expect(tested.body).toEqual({ ok: true, message: "connected: Kartra answered with the account's 2 lists", checkedAt: t.clock.now().toISOString() });
    expect(fake.calls.map((call) => call.cmd)).toContain('retrieve_account_lists');
    expect((await t.api.get(path).expect(200)).body.credentials).toMatchObject({ lastCheckOk: true, lastCheckedAt: t.clock.now().toISOString(), lastCheckMessage: tested.body.message });
  });

  it('a wrong password is an answer, not an error: ok false with Kartra’s own message, kept as the last test', async () => {
    await t.api.put(path, { ...CREDENTIALS, apiPassword: WRONG_PASSWORD }).expect(200);
    const tested = await t.api.post(`${path}/test`).expect(200);
    expect(tested.body.ok).toBe(false);
    expect(tested.body.message).toMatch(/^Kartra refused the API credentials: .*API password not valid/);
    const read = await t.api.get(path).expect(200);
    expect(read.body.credentials).toMatchObject({ lastCheckOk: false, lastCheckMessage: tested.body.message });
    expectNoSecrets(tested.text + read.text);
  });

  it('replacing the credentials forgets the last test, which was of the old ones', async () => {
    await t.api.put(path, { ...CREDENTIALS, apiPassword: WRONG_PASSWORD }).expect(200);
    await t.api.post(`${path}/test`).expect(200);
    t.clock.advanceMs(5 * 60 * 1000);
    const replaced = await t.api.put(path, CREDENTIALS).expect(200);
    expect(replaced.body).toMatchObject({ lastCheckedAt: null, lastCheckOk: null, lastCheckMessage: null, savedAt: t.clock.now().toISOString() });
    expect((await t.api.post(`${path}/test`).expect(200)).body.ok).toBe(true);
  });

  it('removes them; a test without credentials says so and asks Kartra nothing', async () => {
    await t.api.put(path, CREDENTIALS).expect(200);
    await t.api.delete(path).expect(204);
    expect((await t.api.get(path).expect(200)).body.credentials).toBeNull();
    const callsBefore = fake.calls.length;
    expect((await t.api.post(`${path}/test`).expect(200)).body).toMatchObject({ ok: false, message: 'no Kartra API credentials are saved for this site' });
    expect(fake.calls.length).toBe(callsBefore);
  });

  it('verify-by-callback is switched on only with credentials saved, and they cannot be removed while it is on', async () => {
    const kartra = `/sites/${site.siteId}/kartra`;
    const refused = await t.api.put(kartra, { verifyWithKartra: true }).expect(409);
    expect(refused.body.error.message).toContain('needs the site’s Kartra API credentials');
    expect((await t.api.get(kartra).expect(200)).body.settings).toMatchObject({ verifyWithKartra: false, reconcileEveryHours: 0 });
    await t.api.put(path, CREDENTIALS).expect(200);
    expect((await t.api.put(kartra, { verifyWithKartra: true, reconcileEveryHours: 12 }).expect(200)).body.settings).toMatchObject({ verifyWithKartra: true, reconcileEveryHours: 12 });
    expect((await t.api.delete(path).expect(409)).body.error.message).toContain('switch it off before removing them');
    await t.api.put(kartra, { verifyWithKartra: false }).expect(200);
    await t.api.delete(path).expect(204);
    // Off and out of range.
    await t.api.put(kartra, { reconcileEveryHours: 0 }).expect(200);
    await t.api.put(kartra, { reconcileEveryHours: 721 }).expect(422);
    await t.api.put(kartra, { reconcileEveryHours: 1.5 }).expect(422);
  });

  it('writes neither the key nor the password to the log, at trace level, through save, test and a refused test', async () => {
    await t.api.put(path, CREDENTIALS).expect(200);
    await t.api.post(`${path}/test`).expect(200);
    await t.api.put(path, { ...CREDENTIALS, apiPassword: WRONG_PASSWORD }).expect(200);
    await t.api.post(`${path}/test`).expect(200);
    expect(logLines.length).toBeGreaterThan(3);
    expectNoSecrets(logLines.join('\n'));
  });

  it('credentials sealed with another SECRETS_KEY are answered as "enter them again", not a 500', async () => {
    await t.api.put(path, CREDENTIALS).expect(200);
    const other = await composeOnSameDatabase(t, fake, 'another-secrets-key-after-a-move-0123456789');
    try {
      const { token } = await other.services.tokens.create('after the move', null);
      const api = new ApiClient(other.app, token);
      const read = await api.get(path).expect(200);
      expect(read.body.credentials).toMatchObject({ appId: CREDENTIALS.appId, apiKeyHint: 'abcd', problem: 'sealed_with_other_key', problemMessage: expect.stringContaining('enter them again') });
      const callsBefore = fake.calls.length;
      const tested = await api.post(`${path}/test`).expect(200);
      expect(tested.body).toMatchObject({ ok: false, message: expect.stringContaining('enter them again') });
      expect(fake.calls.length).toBe(callsBefore);
      // Entering them again under the new key makes them usable.
      await api.put(path, CREDENTIALS).expect(200);
      expect((await api.post(`${path}/test`).expect(200)).body.ok).toBe(true);
    } finally {
      await other.close();
    }
  });
});

describe('Kartra API on the Kartra page', () => {
  let fake: FakeKartra;
  let t: TestApp;
  let site: SiteWithHook;
  let session: Awaited<ReturnType<typeof signIn>>;
  let base: string;
  const post = (path: string, body: Record<string, unknown> = {}) => session.agent.post(`${base}${path}`).type('form').send({ _csrf: session.csrf, ...body });
  const page = async () => (await session.agent.get(`${base}/kartra`).expect(200)).text;
  /** The Kartra API card of the page. */
  const section = (html: string) => html.slice(html.indexOf('id="kartra-api"'), html.indexOf('</section>', html.indexOf('id="kartra-api"')));

  beforeAll(async () => {
    fake = await startFakeKartra(CREDENTIALS);
  });
  afterAll(() => fake.close());
  beforeEach(async () => {
    t = await buildTestApp({ KARTRA_API_URL: fake.url });
    site = await buildSite(t);
    await createAdmin(t, 'ann@example.com', [site.siteId]);
    session = await signIn(t, 'ann@example.com');
    base = `/admin/sites/${site.siteId}`;
  });
  afterEach(() => t.close());

  it('saves credentials from the form, shows the App ID and key hint only, and tests the connection', async () => {
    const empty = section(await page());
    expect(empty).toContain('Save your credentials');
    expect(empty).toMatch(/<input type="password" id="kartraApiKey" name="apiKey" autocomplete="off"/);
    expect(empty).toMatch(/<input type="password" id="kartraApiPassword" name="apiPassword" autocomplete="off"/);
    expect(empty).not.toContain('Test connection');

    const saved = await post('/kartra/credentials', CREDENTIALS).expect(303);
    expect(saved.headers.location).toContain('notice=credentials-saved');
    const shown = await page();
    expect(section(shown)).toContain(CREDENTIALS.appId);
    expect(section(shown)).toContain('••••abcd');
    expect(section(shown)).toContain('not tested yet');
    expectNoSecrets(shown);

    const tested = await post('/kartra/credentials/test').expect(303);
    expect(tested.headers.location).toContain('tested=1');
    const result = section((await session.agent.get(tested.headers.location as string).expect(200)).text);
    expect(result).toContain('Connection test passed: connected: Kartra answered with the account&#39;s 2 lists');
    expect(result).toContain('Connected');
  });

  it('shows a refused test with Kartra’s message, and keeps it as the last test', async () => {
    await post('/kartra/credentials', { ...CREDENTIALS, apiPassword: WRONG_PASSWORD }).expect(303);
    const tested = await post('/kartra/credentials/test').expect(303);
    const result = (await session.agent.get(tested.headers.location as string).expect(200)).text;
    expect(section(result)).toContain('Connection test failed: Kartra refused the API credentials');
    expect(section(result)).toContain('API password not valid');
    expect(section(await page())).toMatch(/Failed<\/span>[^<]*API password not valid/);
    expectNoSecrets(result);
  });

  it('re-renders the form with field errors and the typed App ID, never the typed key or password', async () => {
    const refused = await post('/kartra/credentials', { appId: 'TypedApp', apiKey: CREDENTIALS.apiKey, apiPassword: '' }).expect(422);
    expect(section(refused.text)).toContain('the API password is required');
    expect(section(refused.text)).toContain('value="TypedApp"');
    expectNoSecrets(refused.text);
    expect((await t.api.get(`/sites/${site.siteId}/kartra/credentials`).expect(200)).body.credentials).toBeNull();
  });

  it('removes the credentials', async () => {
    await post('/kartra/credentials', CREDENTIALS).expect(303);
    const removed = await post('/kartra/credentials/remove').expect(303);
    expect(removed.headers.location).toContain('notice=credentials-removed');
    expect(section(await page())).not.toContain('••••abcd');
    expect((await t.api.get(`/sites/${site.siteId}/kartra/credentials`).expect(200)).body.credentials).toBeNull();
  });

  it('switches verify-by-callback on only with credentials, and sets the reconcile schedule', async () => {
    expect(section(await page())).toContain('refunds and cancels apply at once');
    const refused = await post('/kartra/api-settings', { verifyWithKartra: 'on', reconcileEveryHours: '6' }).expect(409);
    expect(section(refused.text)).toContain('verify-by-callback needs the site’s Kartra API credentials');
    const settings = () => t.api.get(`/sites/${site.siteId}/kartra`).expect(200).then((res) => res.body.settings as Record<string, unknown>);
    expect(await settings()).toMatchObject({ verifyWithKartra: false, reconcileEveryHours: 0 });

    const badHours = await post('/kartra/api-settings', { reconcileEveryHours: '1000' }).expect(422);
    expect(section(badHours.text)).toContain('0 (off) or 1 to 720 hours');
    expect(section(badHours.text)).toContain('value="1000"');

    await post('/kartra/credentials', CREDENTIALS).expect(303);
    await post('/kartra/api-settings', { verifyWithKartra: 'on', reconcileEveryHours: '6' }).expect(303);
    expect(await settings()).toMatchObject({ verifyWithKartra: true, reconcileEveryHours: 6 });
    expect(section(await page())).toMatch(/name="verifyWithKartra" value="on" checked/);
    // Removing them now would leave every purchase waiting: refused, with the reason on the page.
    const removeRefused = await post('/kartra/credentials/remove').expect(409);
    expect(section(removeRefused.text)).toContain('switch it off before removing them');
    // An unticked box is "off"; an empty schedule is 0.
    await post('/kartra/api-settings', { reconcileEveryHours: '' }).expect(303);
    expect(await settings()).toMatchObject({ verifyWithKartra: false, reconcileEveryHours: 0 });
  });

  it('asks for the credentials again when another SECRETS_KEY sealed them, and says so when there is no key at all', async () => {
    await post('/kartra/credentials', CREDENTIALS).expect(303);
    const moved = await composeOnSameDatabase(t, fake, 'another-secrets-key-after-a-move-0123456789');
    try {
      const ann = await signIn({ ...t, app: moved.app, composed: moved }, 'ann@example.com');
      const html = (await ann.agent.get(`${base}/kartra`).expect(200)).text;
      expect(section(html)).toContain('The saved credentials cannot be used: the saved Kartra API credentials were sealed with another SECRETS_KEY; enter them again.');
      expect(section(html)).toContain('Replace the credentials');
    } finally {
      await moved.close();
    }
    // Without SECRETS_KEY, SQLite generates a key file beside the database; PostgreSQL has none to generate.
    const keyless = await composeOnSameDatabase(t, fake, null);
    try {
      const ann = await signIn({ ...t, app: keyless.app, composed: keyless }, 'ann@example.com');
      const html = section((await ann.agent.get(`${base}/kartra`).expect(200)).text);
      if (t.engine === 'postgres') {
        expect(html).toContain('this service runs on PostgreSQL without <code>SECRETS_KEY</code>');
        expect(html).not.toContain('name="apiKey"');
        expect(html).toContain('SECRETS_KEY is not set, so Kartra API credentials cannot be stored or read');
        const refused = await ann.agent.post(`${base}/kartra/credentials`).type('form').send({ _csrf: ann.csrf, ...CREDENTIALS }).expect(409);
        expect(section(refused.text)).toContain('SECRETS_KEY is not set');
      } else {
        expect(html).toContain('name="apiKey"');
        expect(html).toContain('sealed with another SECRETS_KEY; enter them again');
      }
    } finally {
      await keyless.close();
    }
  });
});
