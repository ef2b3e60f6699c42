import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { composeApp, type ComposedApp } from '../../src/compose';
import { loadConfig } from '../../src/config';
import { createLogger } from '../../src/logger';
import { startFakeKartra, type FakeKartra } from '../support/fake-kartra';
import { assetFixture, outboundFixture } from '../support/kartra-fixtures';
import { NotificationReceiver, verifyNotification } from '../support/notification-receiver';
import { createEmptyDatabase } from '../support/storage';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const SCREENSHOTS = resolve(__dirname, '../../test-output/screenshots');
const XSS_NAME = '<img src=x onerror=alert(1)>';
const EMAIL = 'ann@example.com';
const PASSWORD = 'correct horse battery staple';
const KARTRA_CREDENTIALS = { appId: 'AppWatercolor7', apiKey: 'kartra-api-key-for-the-story-9abcd', apiPassword: 'kartra-api-password-for-the-story' };

/**
 * The whole admin story in a real headless Chromium against the real app on a real port: sign in, enable Kartra,
 * copy the URL, an unmapped purchase arrives, map it with apply-to-past, the buyer gets the level, a refund arrives;
 * then an outside checkout tags a new lead with an unmapped Kartra tag, and mapping the tag gives the lead a level.
 */
describe('App Station in a real browser', () => {
  let server: Server;
  let composed: ComposedApp;
  let baseUrl: string;
  let database: Awaited<ReturnType<typeof createEmptyDatabase>>;
  let profileDir: string;
  let context: BrowserContext;
  let page: Page;
  const dialogs: string[] = [];
  const consoleErrors: string[] = [];
  let siteId: number;
  let kartra: FakeKartra;

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}: install Debian's (apt-get install -y chromium, as the README's test command does) or set CHROMIUM_PATH`);
    profileDir = mkdtempSync(join(tmpdir(), 'kartra-access-chromium-'));
    mkdirSync(SCREENSHOTS, { recursive: true });
    // The app's public URL must name the port, which is known only once the server listens: listen first, then compose.
    const target: { app?: ComposedApp['app'] } = {};
    server = createServer((req, res) => (target.app ? target.app(req, res) : res.end()));
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    database = await createEmptyDatabase();
    // Kartra's inbound API, for the credentials' "Test connection"; SECRETS_KEY so they can be sealed on either engine.
    kartra = await startFakeKartra(KARTRA_CREDENTIALS);
    // The outbox loop runs as in production, on a fast schedule so the notification story's retries take a second.
    const kartraEnv = { KARTRA_API_URL: kartra.url, SECRETS_KEY: 'browser-story-secrets-key-0123456789abcdef' };
    composed = await composeApp(loadConfig({ ...database.env, PUBLIC_URL: baseUrl, LOG_LEVEL: 'silent', SWEEP_INTERVAL_SECONDS: '0', NOTIFY_POLL_INTERVAL_MS: '100', NOTIFY_RETRY_BASE_MS: '200', ...kartraEnv }), {
      logger: createLogger('silent'),
    });
    composed.startOutbox();
    target.app = composed.app;
    const { services } = composed;
    const site = await services.sites.createSite('Watercolor Academy');
    siteId = site.id;
    await services.sites.createLevel(site, 'Foundations');
    await services.sites.createLevel(site, 'Studio Members');
    await services.admins.createAdmin({ email: EMAIL, password: PASSWORD, timeZone: 'America/New_York', siteIds: [site.id] });

    context = await chromium.launchPersistentContext(profileDir, {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
      viewport: { width: 1280, height: 900 },
    });
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: baseUrl });
    page = context.pages()[0] ?? (await context.newPage());
    page.on('dialog', (dialog) => {
      dialogs.push(dialog.message());
      void dialog.dismiss();
    });
    // A CSP violation (an inline style or script slipping in) shows as a console error.
    page.on('console', (message) => {
      if (message.type() === 'error') consoleErrors.push(message.text());
    });
  }, 60_000);

  afterAll(async () => {
    await context?.close();
    // When beforeAll failed before listening there is no server, and a promise waiting for its close would never end.
    if (server) await new Promise((done) => server?.close(done));
    await composed?.close();
    await kartra?.close();
    await database?.drop();
    if (profileDir) rmSync(profileDir, { recursive: true, force: true });
  });

  const shot = (name: string) => page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });
  const postJson = (url: string, body: unknown) => fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });

  it('takes an admin from sign-in to a mapped, refunded purchase, explained on every page', async () => {
    const site = `${baseUrl}/admin/sites/${siteId}`;

    // Sign in (the Kartra page asks for it and comes back afterwards).
    await page.goto(`${site}/kartra`);
    await page.getByLabel('Email').fill(EMAIL);
    await page.getByLabel('Password').fill(PASSWORD);
    await shot('01-sign-in');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(`${site}/kartra`);

    // Enable the integration and copy the URL, shown once.
    await page.getByRole('button', { name: 'Enable Kartra integration' }).first().click();
    const urlField = page.locator('#webhook-url');
    const hookUrl = await urlField.inputValue();
    expect(hookUrl).toMatch(new RegExp(`^${baseUrl}/hooks/kartra/[^/]+/[A-Za-z0-9_-]{40,}$`));
    await page.getByRole('button', { name: 'Copy' }).click();
    // Strings, not functions: they run in the page, whose globals (document, navigator) the Node typings do not have.
    await page.waitForFunction("document.getElementById('copy-status')?.textContent === 'Copied.'");
    expect(await page.evaluate<string>('navigator.clipboard.readText()')).toBe(hookUrl);
    expect(await page.textContent('body')).toContain('not https');
    await shot('02-kartra-enabled');

    // A purchase of a product nobody mapped arrives, and another by a lead whose name is markup.
    const purchase = await postJson(hookUrl, outboundFixture('02-buy_product.one-time.dana.json'));
    expect(await purchase.json()).toMatchObject({ outcome: 'unmapped' });
    await postJson(hookUrl, xssPurchase());

    // It shows up under discovered offers.
    await page.goto(`${site}/mappings`);
    const offer = page.locator('li.offer[data-product-id="558475"]');
    await expect(offer.textContent()).resolves.toContain('Watercolor Foundations');
    expect(await offer.textContent()).toMatch(/2 events · 2 buyers/);
    await shot('03-discovered-offers');

    // Map it with apply-to-past, after the preview says what it touches.
    await offer.getByLabel('Foundations').check();
    await offer.getByRole('button', { name: 'Save mappings' }).click();
    const preview = await page.locator('[data-testid="preview"]').textContent();
    expect(preview).toContain('2 stored events');
    expect(preview).toContain('2 people');
    await shot('04-apply-to-past-preview');
    await page.getByRole('button', { name: 'Save and apply to past purchases' }).click();
    expect(await page.locator('.alert-ok').textContent()).toContain('Applied to the past: 2 events re-applied');
    expect(await page.locator('table').textContent()).toContain('2 members');

    // The buyer's page shows the level and why.
    await page.goto(`${site}/members?q=dana`);
    await page.getByRole('link', { name: 'Dana Whitfield' }).click();
    expect(await page.locator('[data-testid="effective-levels"]').textContent()).toContain('Foundations');
    const why = await page.locator('.level-block[data-level="Foundations"]').textContent();
    expect(why).toContain('Purchase of product 558475, order 9130021');
    expect(why).toContain('Granted');
    await shot('05-member-with-access');

    // A refund arrives; the log and the member page show it.
    const refund = await postJson(hookUrl, danaRefund());
    expect(await refund.json()).toMatchObject({ outcome: 'applied' });
    await page.goto(`${site}/events`);
    const newest = page.locator('table.events tbody tr').first();
    expect(await newest.textContent()).toContain('refund_product');
    expect(await newest.textContent()).toContain('Applied');
    expect(await page.locator('svg.chart desc').textContent()).toMatch(/^3 events over 30 days/);
    await shot('06-webhook-activity');
    await newest.getByRole('link').first().click();
    expect(await page.locator('[data-testid="raw-body"]').textContent()).toContain('"refund_product"');
    expect(await page.textContent('body')).toContain('Revoked');
    await shot('07-event-detail');
    await page.goto(`${site}/members?q=dana`);
    await page.getByRole('link', { name: 'Dana Whitfield' }).click();
    expect(await page.locator('[data-testid="effective-levels"]').textContent()).toContain('No access');
    expect(await page.locator('.level-block[data-level="Foundations"]').textContent()).toContain('Revoked');

    // Filters stay in the URL.
    await page.goto(`${site}/events`);
    await page.locator('select#outcome').selectOption('applied');
    await page.getByLabel('Email or product id').fill('dana.whitfield@example.com');
    await page.getByRole('button', { name: 'Filter' }).click();
    expect(page.url()).toContain('outcome=applied');
    expect(page.url()).toContain('search=dana.whitfield%40example.com');
    expect(await page.locator('table.events tbody tr').count()).toBe(2);

    await page.goto(`${site}/kartra`);
    await shot('08-kartra-health');

    // A CheckoutJoy checkout creates a Kartra lead and tags it with a tag nobody mapped: no buy_product ever comes.
    const tagged = await postJson(hookUrl, assetFixture('01-assign_tag.nested.lee.json'));
    expect(await tagged.json()).toMatchObject({ outcome: 'unmapped' });
    await page.goto(`${site}/mappings`);
    const tag = page.locator('#discovered-tags li.offer').filter({ hasText: 'CheckoutJoy - Pro Course' });
    expect(await tag.textContent()).toMatch(/1 event · 1 lead/);
    await shot('12-discovered-tag');

    // Map the tag with apply-to-past, after the preview says what it touches.
    await tag.getByLabel('Studio Members').check();
    await tag.getByRole('button', { name: 'Save mappings' }).click();
    expect(await page.locator('[data-testid="preview-subject"]').textContent()).toBe('the Kartra tag "CheckoutJoy - Pro Course"');
    const tagPreview = await page.locator('[data-testid="preview"]').textContent();
    expect(tagPreview).toContain('1 stored event');
    expect(tagPreview).toContain('1 person');
    await shot('13-tag-apply-to-past-preview');
    await page.getByRole('button', { name: 'Save and apply to past events' }).click();
    expect(await page.locator('.alert-ok').textContent()).toContain('Mapping of the Kartra tag saved. Applied to the past: 1 event re-applied');
    expect(await page.locator('#mapped-tags table').textContent()).toContain('1 member');
    await expect(page.locator('#discovered-tags li.offer').count()).resolves.toBe(0);

    // The tagged lead is now a member with the level, and the page says which tag gave it.
    await page.goto(`${site}/members?q=lee.park`);
    await page.getByRole('link', { name: 'Lee Park' }).click();
    expect(await page.locator('[data-testid="effective-levels"]').textContent()).toContain('Studio Members');
    const tagWhy = await page.locator('.level-block[data-level="Studio Members"]').textContent();
    expect(tagWhy).toContain('Kartra tag "CheckoutJoy - Pro Course"');
    expect(tagWhy).toContain('Gives access');
    await shot('14-member-with-tag-access');

    // The event log filters by the tag.
    await page.goto(`${site}/events`);
    await page.locator('select#asset').selectOption({ label: 'tag "CheckoutJoy - Pro Course"' });
    await page.getByRole('button', { name: 'Filter' }).click();
    expect(page.url()).toContain('asset=');
    const tagRows = page.locator('table.events tbody tr');
    expect(await tagRows.count()).toBe(1);
    expect(await tagRows.first().textContent()).toContain('assign_tag');
  }, 120_000);

  it('adds a notification endpoint, sends a test notification through a receiver that fails twice, and resends it', async () => {
    const site = `${baseUrl}/admin/sites/${siteId}`;
    const receiver = new NotificationReceiver(2);
    const receiverUrl = await receiver.start();
    try {
      await page.goto(site);
      await page.getByRole('link', { name: 'Notifications' }).click();
      await page.getByLabel('Receiver address').fill(receiverUrl);
      await page.getByLabel('Description (optional)').fill('Members area');
      await page.getByRole('button', { name: 'Add endpoint' }).click();
      // The secret is shown once; copy it as the admin would, into the receiver's configuration.
      const secret = await page.locator('#signing-secret').inputValue();
      expect(secret).toMatch(/^whsec_/);
      await page.getByRole('button', { name: 'Copy' }).click();
      await page.waitForFunction("document.getElementById('copy-status')?.textContent === 'Copied.'");
      expect(await page.evaluate<string>('navigator.clipboard.readText()')).toBe(secret);
      await shot('15-notification-endpoint-added');

      await page.getByRole('link', { name: 'Open the endpoint' }).click();
      await page.getByRole('button', { name: 'Send test notification' }).click();
      expect(await page.locator('.alert-ok').textContent()).toContain('Test notification queued');
      // The loop retries it (500, 500) until the receiver answers 200.
      const deadline = Date.now() + 20_000;
      while (!receiver.received.some((notification) => notification.answered === 200) && Date.now() < deadline) await new Promise((done) => setTimeout(done, 100));
      await page.reload();
      const row = page.locator('[data-testid="messages"] tbody tr').first();
      expect(await row.textContent()).toContain('notification.test');
      expect(await row.textContent()).toContain('delivered');
      await shot('16-notification-endpoint');

      await row.getByRole('link').first().click();
      const answers = await page.locator('[data-testid="delivery-log"] tbody td:nth-child(2)').allTextContents();
      expect(answers).toEqual(['HTTP 500', 'HTTP 500', 'HTTP 200']);
      const webhookId = await page.locator('[data-testid="webhook-id"]').textContent();
      await shot('17-notification-delivery-log');
      const delivered = receiver.received.find((notification) => notification.answered === 200);
      expect(delivered && verifyNotification(secret, delivered)).toMatchObject({ type: 'notification.test' });

      await page.getByRole('button', { name: 'Resend (same webhook-id)' }).click();
      expect(await page.locator('.alert-ok').textContent()).toContain('same webhook-id');
      const resendDeadline = Date.now() + 10_000;
      while (receiver.received.length < 4 && Date.now() < resendDeadline) await new Promise((done) => setTimeout(done, 100));
      expect(receiver.received.map((notification) => notification.headers['webhook-id'])).toEqual([webhookId, webhookId, webhookId, webhookId]);
    } finally {
      await receiver.stop();
    }
  }, 60_000);

  it('saves Kartra API credentials, tests the connection against Kartra, and never shows the key or password again', async () => {
    await page.goto(`${baseUrl}/admin/sites/${siteId}/kartra`);
    const section = page.locator('#kartra-api');
    await section.getByLabel('App ID').fill(KARTRA_CREDENTIALS.appId);
    await section.getByLabel('API key').fill(KARTRA_CREDENTIALS.apiKey);
    await section.getByLabel('API password').fill(KARTRA_CREDENTIALS.apiPassword);
    await section.getByRole('button', { name: 'Save credentials' }).click();
    expect(await page.locator('.alert-ok').first().textContent()).toContain('Kartra API credentials saved');
    expect(await section.locator('[data-testid="saved-credentials"]').textContent()).toContain('••••abcd');
    await section.getByRole('button', { name: 'Test connection' }).click();
    expect(await section.locator('.alert-ok').textContent()).toContain('Connection test passed');
    expect(await section.locator('[data-testid="last-check"]').textContent()).toContain('Connected');
    const html = await page.content();
    expect(html).not.toContain(KARTRA_CREDENTIALS.apiKey);
    expect(html).not.toContain(KARTRA_CREDENTIALS.apiPassword);
    // The password fields come back empty: nothing typed into them is kept in the page.
    expect(await section.getByLabel('API password').inputValue()).toBe('');
    await section.scrollIntoViewIfNeeded();
    await shot('19-kartra-api');
  }, 60_000);

  it('shows a lead named like markup as text everywhere, and no dialog ever opens', async () => {
    const site = `${baseUrl}/admin/sites/${siteId}`;
    await page.goto(`${site}/members`);
    await expect(page.getByText(`${XSS_NAME} Okay`, { exact: true }).count()).resolves.toBe(1);
    await page.getByText(`${XSS_NAME} Okay`, { exact: true }).click();
    expect(await page.locator('[data-testid="member-name"]').textContent()).toBe(`${XSS_NAME} Okay`);
    const pages = [page.url(), `${site}/events`, `${site}/mappings`, `${site}/attention`];
    const events = await composed.services.eventLog.list(await composed.services.sites.requireSite(siteId, 'all'), { limit: 10 });
    const xssEvent = events.events.find((event) => event.email === 'markup@example.com');
    pages.push(`${site}/events/${xssEvent?.id}`);
    for (const url of pages) {
      await page.goto(url);
      expect(await page.locator('img').count()).toBe(0);
    }
    expect(await page.locator('[data-testid="raw-body"]').textContent()).toContain(XSS_NAME);
    expect(dialogs).toEqual([]);
    expect(consoleErrors).toEqual([]);
  }, 60_000);

  it('refuses a form posted from a page of another origin on the same host, even with the session and its CSRF token', async () => {
    const kartraUrl = `${baseUrl}/admin/sites/${siteId}/kartra`;
    await page.goto(kartraUrl);
    const csrf = await page.locator('input[name="_csrf"]').first().inputValue();
    const secretsBefore = (await composed.services.sites.integrationState(await composed.services.sites.requireSite(siteId, 'all'))).secrets.length;
    // Another port of 127.0.0.1 is another origin but the same site, so the SameSite=Lax session cookie still goes
    // with the post: only the Origin check stands between this page and a rotated webhook URL.
    const evil = createServer((_req, res) => {
      res.setHeader('Content-Type', 'text/html');
      res.end(`<form id="f" method="post" action="${kartraUrl}/rotate"><input name="_csrf" value="${csrf}"></form><script>document.getElementById('f').submit()</script>`);
    });
    await new Promise<void>((done) => evil.listen(0, '127.0.0.1', done));
    try {
      const answer = page.waitForResponse((response) => response.url() === `${kartraUrl}/rotate`);
      // The page submits itself as it loads, so its own load is not waited for.
      await page.goto(`http://127.0.0.1:${(evil.address() as AddressInfo).port}/`, { waitUntil: 'commit' });
      expect((await answer).status()).toBe(403);
      await page.waitForURL(`${kartraUrl}/rotate`);
      await expect(page.getByText('this form was sent from another site').count()).resolves.toBe(1);
    } finally {
      // The browser keeps its connection alive; close would wait for it.
      evil.closeAllConnections();
      await new Promise((done) => evil.close(done));
    }
    expect((await composed.services.sites.integrationState(await composed.services.sites.requireSite(siteId, 'all'))).secrets.length).toBe(secretsBefore);
  }, 60_000);

  it('is usable at phone width', async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    for (const [name, path] of [['09-phone-webhook-activity', 'events'], ['10-phone-kartra', 'kartra'], ['11-phone-mappings', 'mappings'], ['18-phone-notifications', 'notifications']] as const) {
      await page.goto(`${baseUrl}/admin/sites/${siteId}/${path}`);
      await shot(name);
      const overflow = await page.evaluate<number>('document.documentElement.scrollWidth - window.innerWidth');
      expect(overflow).toBeLessThanOrEqual(0);
    }
  }, 60_000);
});

function xssPurchase(): Record<string, unknown> {
  const body = outboundFixture('02-buy_product.one-time.dana.json') as { lead: Record<string, unknown>; action_details: { transaction_details: Record<string, unknown> } };
  Object.assign(body.lead, { id: '48299999', first_name: XSS_NAME, last_name: 'Okay', email: 'markup@example.com' });
  Object.assign(body.action_details.transaction_details, {
    transaction_id: '9130999',
    lead_id: '48299999',
    lead_first_name: XSS_NAME,
    lead_last_name: 'Okay',
    lead_email: 'markup@example.com',
    lead_username: 'markup@example.com',
  });
  return body;
}

/** Kartra's refund for Dana's one-time purchase (order 9130021), shaped like the refund fixture. */
function danaRefund(): Record<string, unknown> {
  const refund = outboundFixture('12-refund_product.sam.json') as { lead: unknown; action_details: { transaction_details: Record<string, unknown> } };
  const purchase = outboundFixture('02-buy_product.one-time.dana.json') as { lead: unknown; action_details: { transaction_details: Record<string, unknown> } };
  const bought = purchase.action_details.transaction_details;
  refund.lead = purchase.lead;
  Object.assign(refund.action_details.transaction_details, {
    transaction_id: '9131500',
    transaction_parent_id: bought.transaction_id,
    lead_id: bought.lead_id,
    lead_first_name: bought.lead_first_name,
    lead_last_name: bought.lead_last_name,
    lead_email: bought.lead_email,
    lead_username: bought.lead_username,
    transaction_date: '2025-03-10 15:00:00',
  });
  return refund;
}
