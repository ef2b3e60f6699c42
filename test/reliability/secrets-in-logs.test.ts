import { startFakeKartra } from '../support/fake-kartra';
import { ipnFixtureBody } from '../support/kartra-fixtures';
import { createEmptyDatabase } from '../support/storage';
import { distinctPurchase, freePort, reportFigure, runCli, ServiceProcess, type CliResult } from './support';

/** A minimal cookie jar for fetch: the admin pages need their sign-in and session cookies back. */
class CookieJar {
  private readonly cookies = new Map<string, string>();
  take(response: Response): void {
    for (const cookie of response.headers.getSetCookie()) {
      const [pair = ''] = cookie.split(';');
      const at = pair.indexOf('=');
      this.cookies.set(pair.slice(0, at), pair.slice(at + 1));
    }
  }
  get(name: string): string {
    return this.cookies.get(name) ?? '';
  }
  header(): string {
    return [...this.cookies].map(([name, value]) => `${name}=${value}`).join('; ');
  }
}

const csrfIn = (html: string) => /name="_csrf" value="([^"]+)"/.exec(html)?.[1] ?? '';
const lastLine = (result: CliResult) => result.stdout.trim().split('\n').pop() ?? '';

/**
 * The real service at LOG_LEVEL=trace, taken through everything that handles a secret: API tokens, enabling and
 * rotating the webhook URL (API and page), IPN secrets (API and page, right and wrong in bodies), admin sign-in with
 * right and wrong passwords, hook posts with the secret in odd spellings of the URL, Kartra API credentials saved and
 * tested against a fake Kartra (API and page, right and wrong password) and SECRETS_KEY itself. Then every byte it
 * wrote is searched for every secret.
 */
describe('no secret or token in any log line', () => {
  it('keeps every secret out of the service log at trace level, and out of the CLI output except where it is shown once', async () => {
    const database = await createEmptyDatabase();
    const secrets: Record<string, string> = {};
    secrets.secretsKey = 'the-secrets-key-of-this-service-5b7d2e9f01';
    secrets.kartraApiKey = 'kartra-api-key-in-no-log-4d8e1a';
    secrets.kartraApiPassword = 'kartra-api-password-in-no-log-92bf';
    secrets.wrongKartraApiPassword = 'wrong-kartra-api-password-6c03';
    const kartra = await startFakeKartra({ appId: 'AppInNoLog', apiKey: secrets.kartraApiKey, apiPassword: secrets.kartraApiPassword });
    const env = { ...database.env, PUBLIC_URL: 'https://members.example.com', LOG_LEVEL: 'trace', SECRETS_KEY: secrets.secretsKey, KARTRA_API_URL: kartra.url };
    const service = new ServiceProcess(await freePort(), { ...env, HOOK_RATE_BURST: '100000' });
    const cliOutputs: CliResult[] = [];
    let requests = 0;
    await service.start();
    try {
      const cli = async (args: string[], stdin?: string) => {
        const result = await runCli(args, env, stdin);
        expect(result.code).toBe(0);
        cliOutputs.push(result);
        return result;
      };
      const call = async (path: string, init: RequestInit = {}) => {
        requests++;
        return fetch(`${service.baseUrl}${path}`, { redirect: 'manual', ...init });
      };

      // An operator token from the CLI, and the site set up through the API with it.
      secrets.operatorToken = lastLine(await cli(['token', 'create', '--name', 'operator']));
      expect(secrets.operatorToken).toMatch(/^ka_/);
      const api = async (method: string, path: string, body?: object, token = secrets.operatorToken) => {
        const response = await call(`/api/v1${path}`, { method, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: body ? JSON.stringify(body) : undefined });
        expect(response.status).toBeLessThan(300);
        return (await response.json()) as Record<string, unknown>;
      };
      const site = await api('POST', '/sites', { name: 'Watercolor Academy' });
      const level = await api('POST', `/sites/${String(site.id)}/levels`, { name: 'Foundations' });
      await api('POST', `/sites/${String(site.id)}/mappings`, { productId: '558475', levelIds: [level.id] });
      await api('POST', `/sites/${String(site.id)}/mappings`, { productId: '612001', levelIds: [level.id] });
      const enabled = await api('PUT', `/sites/${String(site.id)}/kartra`, { enabled: true });
      const firstUrl = new URL(String(enabled.webhookUrl));
      secrets.firstWebhookSecret = firstUrl.pathname.split('/').pop() ?? '';
      secrets.ipnSecretFromApi = 'ipn-secret-set-through-the-api-7f3a';
      await api('PUT', `/sites/${String(site.id)}/kartra`, { ipnSecret: secrets.ipnSecretFromApi });
      secrets.siteToken = lastLine(await cli(['token', 'create', '--name', 'site only', '--site', String(site.id)]));
      const rotated = await api('POST', `/sites/${String(site.id)}/kartra/rotate`, undefined, secrets.siteToken);
      const secondUrl = new URL(String(rotated.webhookUrl));
      secrets.secondWebhookSecret = secondUrl.pathname.split('/').pop() ?? '';
      const siteKey = secondUrl.pathname.split('/')[3] ?? '';

      // Kartra's posts: the old URL (still in its grace period), the new one, IPN with right and wrong secret_key.
      const hook = (path: string, body: string, contentType = 'application/json') => call(path, { method: 'POST', headers: { 'content-type': contentType }, body });
      expect((await hook(firstUrl.pathname, distinctPurchase(1).body)).status).toBe(200);
      expect((await hook(secondUrl.pathname, distinctPurchase(2).body)).status).toBe(200);
      const ipn = (secretKey: string) => ipnFixtureBody('01-sale.one-time.dana.txt', { secret_key: secretKey });
      expect((await hook(secondUrl.pathname, ipn(secrets.ipnSecretFromApi), 'application/x-www-form-urlencoded')).status).toBe(200);
      secrets.wrongIpnSecret = 'not-the-ipn-secret-91c2';
      expect((await hook(secondUrl.pathname, ipn(secrets.wrongIpnSecret), 'application/x-www-form-urlencoded')).status).toBe(403);
      // The same secret in spellings of the URL that Express still routes, or nearly does.
      const secret = secrets.secondWebhookSecret;
      const oddPaths = [
        `/HOOKS/Kartra/${siteKey}/${secret}`,
        `/hooks/kartra/${siteKey}/${secret}/`,
        `/hooks/kartra/${siteKey}/${secret}?secret=${secret}`,
        `//hooks/kartra/${siteKey}/${secret}`,
        `/hooks/kartra//${siteKey}/${secret}`,
        `/hooks/kartra/nosuchsitekey/${secret}`,
        `/hooks/kartra/${siteKey}/${secret}/extra`,
        `/%68ooks/kartra/${siteKey}/${secret}`,
        `/hooks/kartra/${secret}`,
      ];
      for (const [index, path] of oddPaths.entries()) await hook(path, distinctPurchase(10 + index).body);
      // The site token reads the event log, including raw bodies with the IPN secret masked.
      const events = (await api('GET', `/sites/${String(site.id)}/events?limit=50`, undefined, secrets.siteToken)).events as { id: number }[];
      for (const event of events) await api('GET', `/sites/${String(site.id)}/events/${event.id}`, undefined, secrets.siteToken);
      // Kartra API credentials through the API: a wrong password tested (Kartra refuses it), then the right one.
      const credentials = `/sites/${String(site.id)}/kartra/credentials`;
      await api('PUT', credentials, { appId: 'AppInNoLog', apiKey: secrets.kartraApiKey, apiPassword: secrets.wrongKartraApiPassword });
      expect((await api('POST', `${credentials}/test`)).ok).toBe(false);
      await api('PUT', credentials, { appId: 'AppInNoLog', apiKey: secrets.kartraApiKey, apiPassword: secrets.kartraApiPassword });
      expect((await api('POST', `${credentials}/test`)).ok).toBe(true);
      const list = await cli(['token', 'list']);
      expect(list.stdout).not.toContain(secrets.operatorToken);

      // An admin with a piped password signs in through the pages, sets an IPN secret and rotates the URL there.
      secrets.adminPassword = 'a long passphrase nobody logs 4821';
      await cli(['admin', 'create', '--email', 'ann@example.com', '--site', String(site.id)], `${secrets.adminPassword}\n`);
      const jar = new CookieJar();
      const signInPage = await call('/admin/sign-in');
      jar.take(signInPage);
      secrets.signInFormToken = csrfIn(await signInPage.text());
      secrets.signInCookie = jar.get('ka_sign_in');
      const form = (fields: Record<string, string>) => ({ method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: jar.header() }, body: new URLSearchParams(fields).toString() });
      const signedIn = await call('/admin/sign-in', form({ _csrf: secrets.signInFormToken, email: 'ann@example.com', password: secrets.adminPassword }));
      expect(signedIn.status).toBe(303);
      jar.take(signedIn);
      secrets.sessionCookie = jar.get('ka_session');
      expect(secrets.sessionCookie.length).toBeGreaterThan(20);
      const kartraPage = await call(`/admin/sites/${String(site.id)}/kartra`, { headers: { cookie: jar.header() } });
      secrets.sessionCsrfToken = csrfIn(await kartraPage.text());
      secrets.ipnSecretFromPage = 'ipn-secret-set-on-the-page-55d0';
      const saved = await call(`/admin/sites/${String(site.id)}/kartra/settings`, form({ _csrf: secrets.sessionCsrfToken, ipnSecret: secrets.ipnSecretFromPage, graceDays: '10', cancelMode: 'immediate' }));
      expect(saved.status).toBe(303);
      const rotatedPage = await (await call(`/admin/sites/${String(site.id)}/kartra/rotate`, form({ _csrf: secrets.sessionCsrfToken }))).text();
      const thirdUrl = new URL(/id="webhook-url"[^>]*value="([^"]+)"/.exec(rotatedPage)?.[1] ?? 'https://x/missing');
      secrets.thirdWebhookSecret = thirdUrl.pathname.split('/').pop() ?? '';
      expect(secrets.thirdWebhookSecret.length).toBeGreaterThan(30);
      expect((await hook(thirdUrl.pathname, ipn(secrets.ipnSecretFromPage), 'application/x-www-form-urlencoded')).status).toBe(200);
      // The same credentials through the page's form, tested there; a refused form (no password) too.
      const pageCredentials = { _csrf: secrets.sessionCsrfToken, appId: 'AppInNoLog', apiKey: secrets.kartraApiKey };
      expect((await call(`/admin/sites/${String(site.id)}/kartra/credentials`, form({ ...pageCredentials, apiPassword: '' }))).status).toBe(422);
      expect((await call(`/admin/sites/${String(site.id)}/kartra/credentials`, form({ ...pageCredentials, apiPassword: secrets.kartraApiPassword }))).status).toBe(303);
      expect((await call(`/admin/sites/${String(site.id)}/kartra/credentials/test`, form({ _csrf: secrets.sessionCsrfToken }))).status).toBe(303);
      expect((await call('/admin/sign-out', form({ _csrf: secrets.sessionCsrfToken }))).status).toBe(303);
      // A wrong password, typed by someone else.
      secrets.wrongPassword = 'somebody guessing 0451';
      const guessPage = await call('/admin/sign-in');
      const guessJar = new CookieJar();
      guessJar.take(guessPage);
      const guess = await call('/admin/sign-in', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: guessJar.header() }, body: new URLSearchParams({ _csrf: csrfIn(await guessPage.text()), email: 'ann@example.com', password: secrets.wrongPassword }).toString() });
      expect(guess.status).toBe(401);
    } finally {
      await service.kill('SIGTERM');
      await kartra.close();
    }

    const log = service.output.join('');
    const lines = log.split('\n').filter((line) => line.trim() !== '');
    const requestLines = lines.filter((line) => line.includes('"msg":"request"'));
    // The log is there to search: one JSON line per request, at trace level.
    expect(lines.every((line) => line.startsWith('{'))).toBe(true);
    expect(requestLines.length).toBeGreaterThanOrEqual(requests);
    expect(log).toContain('[secret]');
    const leaked = Object.entries(secrets).filter(([, value]) => {
      expect(value.length).toBeGreaterThan(10);
      return log.includes(value) || log.includes(encodeURIComponent(value));
    });
    // The CLI prints a token once, on purpose, as the last line of `token create`; nothing else it writes holds one.
    const cliText = cliOutputs.map((result) => `${result.stderr}\n${result.stdout.trim().split('\n').slice(0, -1).join('\n')}`).join('\n');
    const leakedByCli = Object.entries(secrets).filter(([, value]) => cliText.includes(value));
    reportFigure('abuse: secrets in logs', { 'log lines (trace)': lines.length, 'requests made': requests, 'secrets searched': Object.keys(secrets).length, 'found in the log': leaked.length, 'found in CLI output': leakedByCli.length });
    if (leaked.length) console.log(lines.filter((line) => leaked.some(([, value]) => line.includes(value))).join("\n"));
    expect(leaked.map(([name]) => name)).toEqual([]);
    expect(leakedByCli.map(([name]) => name)).toEqual([]);
    // Not vacuous: the service did ask Kartra, with the credentials, each time they were tested.
    expect(kartra.calls.filter((kartraCall) => kartraCall.cmd === 'retrieve_account_lists')).toHaveLength(3);
    await database.drop();
  }, 120_000);
});
