import express from 'express';
import { get as httpGet, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import request from 'supertest';
import { createAdminExportRouter } from '../../src/http/admin/export-routes';
import type { AppServices } from '../../src/http/admin/services';
import { csvCell } from '../../src/http/csv';
import { createErrorHandler } from '../../src/http/middleware/error-handler';
import { requireToken } from '../../src/http/middleware/require-token';
import { createLogger } from '../../src/logger';
import { createAdmin, signIn } from '../support/admin-pages';
import { buildSite, buildStorySite, postOutbound, type SiteWithHook } from '../support/factories';
import { assetFixture, outboundFixture } from '../support/kartra-fixtures';
import { buildTestApp, type TestApp } from '../support/test-app';

/**
 * A strict RFC 4180 reader, written apart from the code under test: every record ends in CRLF, a quote may only open
 * a field or be doubled inside a quoted one, and a bare CR, LF or quote is an error. The file starts with a UTF-8 BOM.
 */
function parseCsv(text: string): string[][] {
  if (!text.startsWith('\uFEFF')) throw new Error('no byte order mark');
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  let wasQuoted = false;
  for (let at = 1; at < text.length; at++) {
    const char = text[at];
    if (quoted) {
      if (char !== '"') field += char;
      else if (text[at + 1] === '"') {
        field += '"';
        at++;
      } else quoted = false;
    } else if (char === '"' && field === '' && !wasQuoted) {
      quoted = true;
      wasQuoted = true;
    } else if (char === ',') {
      row.push(field);
      field = '';
      wasQuoted = false;
    } else if (char === '\r' && text[at + 1] === '\n') {
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
      wasQuoted = false;
      at++;
    } else if (char === '"' || char === '\r' || char === '\n' || wasQuoted) {
      throw new Error(`bare ${JSON.stringify(char)} at ${at}: ${JSON.stringify(text.slice(Math.max(0, at - 40), at + 10))}`);
    } else field += char;
  }
  if (quoted || field !== '' || row.length > 0) throw new Error('the last record does not end in CRLF');
  const width = rows[0]?.length ?? 0;
  for (const [index, record] of rows.entries()) if (record.length !== width) throw new Error(`record ${index} has ${record.length} fields, the header ${width}`);
  return rows;
}

/** The records as objects keyed by the header row. */
function records(text: string): Record<string, string>[] {
  const [header, ...rows] = parseCsv(text);
  return rows.map((row) => Object.fromEntries((header ?? []).map((name, index) => [name, row[index] ?? ''])));
}

const EVENTS = 2_500;
const MEMBERS = 1_200;
const MINUTE_MS = 60_000;
const STATUSES = ['applied', 'applied', 'ignored', 'unmapped', 'failed'] as const;
const ACTIONS = ['buy_product', 'assign_tag', 'refund_product'] as const;

/**
 * Rows straight into the tables, many per statement: a log of thousands is set up in a second on either engine.
 * (`returning` because the raw-SQL helper reads rows back, and an insert without it returns none on SQLite.)
 */
async function insertRows(t: TestApp, table: string, columns: string[], rows: unknown[][]): Promise<void> {
  for (let start = 0; start < rows.length; start += 100) {
    const chunk = rows.slice(start, start + 100);
    const placeholders = chunk.map(() => `(${columns.map(() => '?').join(', ')})`).join(', ');
    await t.query(`insert into ${table} (${columns.join(', ')}) values ${placeholders} returning 1 as inserted`, chunk.flat());
  }
}

/** A Kartra purchase by a lead of our choosing: the user-supplied fields are what the export must defuse. */
function purchase(lead: { id: string; email: string; firstName: string; lastName: string }, productId: string, transactionId: string) {
  const body = outboundFixture('02-buy_product.one-time.dana.json') as { lead: Record<string, unknown>; action_details: { transaction_details: Record<string, unknown> } };
  Object.assign(body.lead, { id: lead.id, email: lead.email, first_name: lead.firstName, last_name: lead.lastName });
  Object.assign(body.action_details.transaction_details, {
    lead_id: lead.id,
    lead_email: lead.email,
    lead_username: lead.email,
    lead_first_name: lead.firstName,
    lead_last_name: lead.lastName,
    product_id: productId,
    transaction_id: transactionId,
  });
  return body;
}

const EVIL = { id: '70000001', email: 'mallory@example.com', firstName: '=HYPERLINK("http://evil")', lastName: '@SUM(A1)' };
const QUOTED = { id: '70000002', email: 'o"neil,pat@example.com', firstName: 'Pat', lastName: "O'Neil, Jr." };
const NEWLINE = { id: '70000003', email: 'two.lines@example.com', firstName: 'Line', lastName: 'One\r\nTwo' };

describe('CSV exports of the event log and the members', () => {
  let t: TestApp;
  let site: SiteWithHook;
  let other: SiteWithHook;
  let agent: ReturnType<typeof request.agent>;
  let base: string;

  beforeAll(async () => {
    t = await buildTestApp();
    site = await buildStorySite(t);
    other = await buildSite(t, { name: 'Another Academy', levels: ['Elsewhere'] });
    const now = t.clock.now().getTime();
    // The bulk of the log: a minute apart and half a minute off the hour, ending now, so "last 24 hours" cuts it
    // in two away from any boundary; statuses, actions, products and emails in repeating patterns.
    const events = (siteId: number, count: number) =>
      Array.from({ length: count }, (_, index) => {
        const action = ACTIONS[index % ACTIONS.length] as string;
        return [
          siteId,
          now - (count - index) * MINUTE_MS - 30_000,
          'outbound',
          '{}',
          Buffer.alloc(0),
          STATUSES[index % STATUSES.length],
          action,
          action === 'assign_tag' ? null : ['558475', '612001'][index % 2],
          `buyer${index % 40}@example.com`,
          `seeded event ${index}`,
        ];
      });
    const columns = ['site_id', 'received_at', 'channel', 'headers_json', 'raw_body', 'status', 'action', 'product_id', 'email', 'summary'];
    await insertRows(t, 'webhook_events', columns, events(site.siteId, EVENTS));
    await insertRows(t, 'webhook_events', columns, events(other.siteId, 300));
    const members = Array.from({ length: MEMBERS }, (_, index) => [site.siteId, String(90_000_000 + index), `member-${index}@bulk.example.com`, 'Bulk', `Member ${index}`, now, now]);
    await insertRows(t, 'members', ['site_id', 'kartra_lead_id', 'email', 'first_name', 'last_name', 'created_at', 'updated_at'], members);
    await insertRows(t, 'members', ['site_id', 'kartra_lead_id', 'email', 'first_name', 'last_name', 'created_at', 'updated_at'], [[other.siteId, '1', 'elsewhere@example.com', 'Else', 'Where', now, now]]);

    // Then what Kartra sends, through the hook: leads whose names and emails are hostile to spreadsheets.
    expect((await postOutbound(t, site.hookPath, purchase(EVIL, '558475', '8000001')).expect(200)).body.outcome).toBe('applied');
    expect((await postOutbound(t, site.hookPath, purchase(QUOTED, '612001', '8000002')).expect(200)).body.outcome).toBe('applied');
    expect((await postOutbound(t, site.hookPath, purchase(NEWLINE, '558475', '8000003')).expect(200)).body.outcome).toBe('applied');
    expect((await postOutbound(t, site.hookPath, purchase(NEWLINE, '612001', '8000004')).expect(200)).body.outcome).toBe('applied');
    expect((await postOutbound(t, site.hookPath, assetFixture('01-assign_tag.nested.lee.json')).expect(200)).body.outcome).toBe('unmapped');

    await createAdmin(t, 'ann@example.com', [site.siteId]);
    agent = (await signIn(t, 'ann@example.com')).agent;
    base = `/admin/sites/${site.siteId}`;
  }, 120_000);
  afterAll(() => t.close());

  const ids = (rows: Record<string, string>[]) => rows.map((row) => Number(row.id));
  const sqlIds = async (where: string, params: unknown[], order = 'desc') =>
    (await t.query<{ id: number }>(`select id from webhook_events where site_id = ? ${where} order by id ${order}`, [site.siteId, ...params])).map((row) => Number(row.id));

  describe('the Webhook activity export', () => {
    it('is a UTF-8 CSV attachment named for the site and the day, never cached, with the header row first', async () => {
      const res = await agent.get(`${base}/events.csv`).expect(200);
      expect(res.headers['content-type']).toBe('text/csv; charset=utf-8');
      expect(res.headers['content-disposition']).toBe(`attachment; filename="kartra-access-site-${site.siteId}-events-2025-07-01.csv"`);
      expect(res.headers['cache-control']).toBe('no-store');
      expect(parseCsv(res.text)[0]).toEqual([
        'id', 'received_at', 'channel', 'action', 'kind', 'outcome', 'product_id', 'asset', 'lead_id', 'email', 'transaction_id', 'member_id', 'duplicate_of_event_id', 'attempts', 'summary', 'error',
      ]);
    });

    it('holds every event of the site, newest first, across several keyset pages, and none of another site', async () => {
      const rows = records((await agent.get(`${base}/events.csv`).expect(200)).text);
      expect(rows.length).toBeGreaterThan(EVENTS);
      expect(ids(rows)).toEqual(await sqlIds('', []));
    });

    it('holds exactly the rows the filtered page shows, page after page', async () => {
      const filters = 'outcome=applied&range=24h';
      const shown: number[] = [];
      let next: string | null = `${base}/events?${filters}`;
      while (next) {
        const html: string = (await agent.get(next).expect(200)).text;
        for (const match of html.matchAll(/data-event-id="(\d+)"/g)) shown.push(Number(match[1]));
        const older = /href="([^"]+)" rel="next"/.exec(html)?.[1];
        next = older ? older.replaceAll('&amp;', '&') : null;
      }
      expect(shown.length).toBeGreaterThan(500);
      const page = await agent.get(`${base}/events`).query(filters).expect(200);
      // The page's link carries the filters it applied.
      const link = /href="([^"]*events\.csv[^"]*)"/.exec(page.text)?.[1]?.replaceAll('&amp;', '&');
      expect(link).toBe(`${base}/events.csv?outcome=applied&range=24h`);
      const exported = records((await agent.get(link ?? '').expect(200)).text);
      expect(ids(exported)).toEqual(shown);
      expect(new Set(exported.map((row) => row.outcome))).toEqual(new Set(['applied']));
    });

    it.each([
      ['an email search', { search: 'buyer7@example.com' }, "and email = 'buyer7@example.com'"],
      ['a product search with an action', { search: '612001', action: 'refund_product' }, "and product_id = '612001' and action = 'refund_product'"],
      ['an outcome and the last 7 days', { outcome: 'failed', range: '7d' }, "and status = 'failed'"],
    ])('applies %s as the page does', async (_name, query, where) => {
      const exported = records((await agent.get(`${base}/events.csv`).query(query).expect(200)).text);
      expect(exported.length).toBeGreaterThan(0);
      expect(ids(exported)).toEqual(await sqlIds(where, []));
    });

    it('filters by a tag the site knows, named as people read it, and drops a key it does not know, as the page does', async () => {
      const [asset] = await t.composed.services.assetMappings.known(await t.composed.services.sites.requireSite(site.siteId, 'all'));
      const tagged = records((await agent.get(`${base}/events.csv`).query({ asset: asset?.key ?? '' }).expect(200)).text);
      expect(tagged).toHaveLength(1);
      expect(tagged[0]).toMatchObject({ action: 'assign_tag', outcome: 'unmapped', asset: asset?.label ?? '?' });
      expect(tagged[0]?.asset).toContain('CheckoutJoy - Pro Course');
      const unknown = records((await agent.get(`${base}/events.csv`).query({ asset: 'tag:name:no such tag' }).expect(200)).text);
      expect(unknown.length).toBe((await sqlIds('', [])).length);
    });

    it('writes times as ISO 8601 UTC and user text quoted and defused', async () => {
      const rows = records((await agent.get(`${base}/events.csv`).query({ search: QUOTED.email }).expect(200)).text);
      expect(rows).toHaveLength(1);
      expect(rows[0]).toMatchObject({ email: QUOTED.email, product_id: '612001', transaction_id: '8000002', outcome: 'applied', lead_id: QUOTED.id, channel: 'outbound' });
      expect(rows[0]?.received_at).toBe('2025-07-01T12:00:00.000Z');
      // The summary is ours but names the email: with its comma and quote it still reads back as written.
      expect(rows[0]?.summary).toContain(QUOTED.email);
    });
  });

  describe('the Members export', () => {
    it('lists every member with their levels, across keyset pages, and none of another site', async () => {
      const res = await agent.get(`${base}/members.csv`).expect(200);
      expect(res.headers['content-disposition']).toBe(`attachment; filename="kartra-access-site-${site.siteId}-members-2025-07-01.csv"`);
      expect(res.headers['cache-control']).toBe('no-store');
      const [header] = parseCsv(res.text);
      expect(header).toEqual(['id', 'kartra_lead_id', 'email', 'first_name', 'last_name', 'created_at', 'level_count', 'levels']);
      const rows = records(res.text);
      const expected = (await t.query<{ id: number }>('select id from members where site_id = ? order by id', [site.siteId])).map((row) => Number(row.id));
      expect(expected.length).toBeGreaterThan(MEMBERS);
      expect(ids(rows)).toEqual(expected);
      expect(rows.find((row) => row.email === 'member-7@bulk.example.com')).toMatchObject({ first_name: 'Bulk', last_name: 'Member 7', level_count: '0', levels: '' });
      expect(rows.find((row) => row.email === NEWLINE.email)).toMatchObject({ kartra_lead_id: NEWLINE.id, level_count: '2', levels: 'Foundations; Studio Members', created_at: '2025-07-01T12:00:00.000Z' });
    });

    it('defuses formulas and quotes commas, quotes and line breaks, so a spreadsheet shows the text as typed', async () => {
      const res = await agent.get(`${base}/members.csv`).expect(200);
      const rows = records(res.text);
      const evil = rows.find((row) => row.kartra_lead_id === EVIL.id);
      expect(evil).toMatchObject({ first_name: `'${EVIL.firstName}`, last_name: `'${EVIL.lastName}`, levels: 'Foundations' });
      expect(res.text).toContain(`"'=HYPERLINK(""http://evil"")"`);
      expect(rows.find((row) => row.kartra_lead_id === QUOTED.id)).toMatchObject({ email: QUOTED.email, last_name: QUOTED.lastName, levels: 'Studio Members' });
      expect(res.text).toContain('"o""neil,pat@example.com"');
      const twoLines = rows.find((row) => row.kartra_lead_id === NEWLINE.id);
      // The line break stays inside one quoted cell, so the record is still one row.
      expect(twoLines?.last_name).toBe(NEWLINE.lastName);
      expect(res.text).toContain('"One\r\nTwo"');
    });

    it('applies the search of the Members page, and the page links to it', async () => {
      const page = await agent.get(`${base}/members`).query({ q: 'member-1' }).expect(200);
      expect(page.text).toContain(`href="${base}/members.csv?q=member-1"`);
      const rows = records((await agent.get(`${base}/members.csv`).query({ q: 'member-1' }).expect(200)).text);
      // member-1, -10…-19, -100…-199 and -1000…-1199.
      expect(rows).toHaveLength(1 + 10 + 100 + 200);
      expect(rows.every((row) => row.email?.startsWith('member-1'))).toBe(true);
    });

    it('manually granted levels show up too', async () => {
      const memberId = await t.scalar('select id from members where site_id = ? and email = ?', [site.siteId, 'member-3@bulk.example.com']);
      await t.api.post(`/sites/${site.siteId}/members/${memberId}/grants`, { levelId: site.levels['Studio Members'] }).expect(201);
      const rows = records((await agent.get(`${base}/members.csv`).query({ q: 'member-3@bulk.example.com' }).expect(200)).text);
      expect(rows).toEqual([expect.objectContaining({ id: String(memberId), level_count: '1', levels: 'Studio Members' })]);
    });
  });

  describe('who may export', () => {
    it("answers 404 for a site the admin does not administer, as the other pages do, with no download", async () => {
      for (const path of [`/admin/sites/${other.siteId}/events.csv`, `/admin/sites/${other.siteId}/members.csv`, '/admin/sites/999999/events.csv']) {
        const res = await agent.get(path).expect(404);
        expect(res.headers['content-type']).toMatch(/^text\/html/);
        expect(res.headers['content-disposition']).toBeUndefined();
        expect(res.text).not.toContain('elsewhere@example.com');
      }
    });

    it('sends a visitor without a session to the sign-in page', async () => {
      for (const path of [`${base}/events.csv?outcome=failed`, `${base}/members.csv`]) {
        const res = await request(t.app).get(path).expect(303);
        expect(res.headers.location).toBe(`/admin/sign-in?next=${encodeURIComponent(path)}`);
      }
    });
  });

  describe('the admin API export', () => {
    /** The API router's own token check and error handler, with the export routes mounted as admin-routes.ts would. */
    function apiApp(services: AppServices, batchRows?: number) {
      const app = express();
      app.use('/api/v1', requireToken(services.tokens), createAdminExportRouter(services, { batchRows }));
      app.use(createErrorHandler(createLogger('silent')));
      return app;
    }

    it("exports with the list endpoints' filters and answers 404 for a site the token does not see", async () => {
      const app = apiApp(t.composed.services);
      const auth = { Authorization: `Bearer ${t.token}` };
      const res = await request(app).get(`/api/v1/sites/${site.siteId}/events.csv`).query({ status: 'failed,unmapped', productId: '558475', limit: '5' }).set(auth).expect(200);
      expect(res.headers['content-type']).toBe('text/csv; charset=utf-8');
      expect(ids(records(res.text))).toEqual(await sqlIds("and status in ('failed', 'unmapped') and product_id = '558475'", []));
      const members = records((await request(app).get(`/api/v1/sites/${site.siteId}/members.csv`).query({ email: 'Member-5@bulk.example.com' }).set(auth).expect(200)).text);
      expect(members.map((row) => row.email)).toEqual(['member-5@bulk.example.com']);

      const scoped = (await t.composed.services.tokens.create('other site only', other.siteId)).token;
      const refused = await request(app).get(`/api/v1/sites/${site.siteId}/members.csv`).set({ Authorization: `Bearer ${scoped}` }).expect(404);
      expect(refused.body.error.code).toBe('not_found');
      await request(app).get(`/api/v1/sites/${site.siteId}/events.csv`).expect(401);
      const invalid = await request(app).get(`/api/v1/sites/${site.siteId}/events.csv`).query({ status: 'bogus' }).set(auth).expect(422);
      expect(invalid.headers['content-disposition']).toBeUndefined();
    });
  });

  describe('streaming', () => {
    /**
     * The event log read through the real service, each page 20 ms slower than the database makes it, and counted: a
     * stand-in for a database under load, so the test can tell "sent while reading" from "read everything, then sent".
     */
    function slowEventLog(services: AppServices) {
      const counted = { queries: 0 };
      const eventLog: AppServices['eventLog'] = {
        ...services.eventLog,
        list: async (...args) => {
          counted.queries++;
          await new Promise((resolve) => setTimeout(resolve, 20));
          return services.eventLog.list(...args);
        },
      };
      return { counted, services: { ...services, eventLog } };
    }

    async function listen(app: express.Express) {
      const server = app.listen(0);
      await new Promise((resolve) => server.once('listening', resolve));
      return { server, port: (server.address() as AddressInfo).port };
    }

    const open = (port: number, path: string, token: string) =>
      new Promise<IncomingMessage>((resolve, reject) => httpGet({ port, path, headers: { Authorization: `Bearer ${token}` } }, resolve).on('error', reject));

    function apiApp(services: AppServices) {
      const app = express();
      app.use('/api/v1', requireToken(services.tokens), createAdminExportRouter(services, { batchRows: 500 }));
      return app;
    }

    it('sends the first rows before it reads the last page', async () => {
      const slow = slowEventLog(t.composed.services);
      const { server, port } = await listen(apiApp(slow.services));
      try {
        const res = await open(port, `/api/v1/sites/${site.siteId}/events.csv`, t.token);
        let queriesAtFirstChunk = -1;
        let text = '';
        res.setEncoding('utf8');
        for await (const chunk of res) {
          if (queriesAtFirstChunk < 0) queriesAtFirstChunk = slow.counted.queries;
          text += chunk as string;
        }
        const rows = parseCsv(text).length - 1;
        const pages = Math.ceil(rows / 500);
        expect(pages).toBeGreaterThanOrEqual(5);
        expect(slow.counted.queries).toBe(pages);
        // Built in memory first, the file would start only after all the pages had been read.
        expect(queriesAtFirstChunk).toBeLessThanOrEqual(2);
      } finally {
        server.close();
      }
    });

    it('answers other requests between its pages, even where the database answers synchronously (SQLite)', async () => {
      const finished: string[] = [];
      const app = express();
      app.use(function recordFinish(req, res, next) {
        res.on('finish', () => finished.push(req.originalUrl));
        next();
      });
      app.get('/ping', (_req, res) => {
        res.send('pong');
      });
      app.use('/api/v1', requireToken(t.composed.services.tokens), createAdminExportRouter(t.composed.services, { batchRows: 100 }));
      const { server, port } = await listen(app);
      try {
        const res = await open(port, `/api/v1/sites/${site.siteId}/events.csv`, t.token);
        const exported = new Promise((resolve) => res.once('end', resolve));
        await new Promise((resolve) => res.once('data', resolve));
        const ping = await open(port, '/ping', t.token);
        const pinged = new Promise((resolve) => ping.once('end', resolve));
        ping.resume();
        res.resume();
        await Promise.all([pinged, exported]);
        // 25 pages of 100: the ping, sent once the first rows arrived, is answered long before the last page.
        expect(finished).toEqual(['/ping', `/api/v1/sites/${site.siteId}/events.csv`]);
      } finally {
        server.close();
      }
    });

    it('stops reading pages when the client goes away', async () => {
      const slow = slowEventLog(t.composed.services);
      const { server, port } = await listen(apiApp(slow.services));
      try {
        const res = await open(port, `/api/v1/sites/${site.siteId}/events.csv`, t.token);
        await new Promise((resolve) => res.once('data', resolve));
        res.destroy();
        // Long enough for every remaining page, had the export gone on reading them.
        await new Promise((resolve) => setTimeout(resolve, 400));
        expect(slow.counted.queries).toBeLessThanOrEqual(3);
      } finally {
        server.close();
      }
    });
  });

});

describe('cells', () => {
  it.each<[string | number | Date | null, string]>([
    ['plain', 'plain'],
    ['a, b', '"a, b"'],
    ['say "hi"', '"say ""hi"""'],
    ['one\ntwo', '"one\ntwo"'],
    ['one\r\ntwo', '"one\r\ntwo"'],
    ['=1+1', "'=1+1"],
    ['+1', "'+1"],
    ['-1', "'-1"],
    ['@SUM(A1)', "'@SUM(A1)"],
    ['\t=1', "'\t=1"],
    ['\r=1', `"'\r=1"`],
    ['=HYPERLINK("http://evil")', `"'=HYPERLINK(""http://evil"")"`],
    ['a=b', 'a=b'],
    ['Zoë 東京', 'Zoë 東京'],
    [42, '42'],
    [null, ''],
    [new Date('2025-07-01T12:00:00Z'), '2025-07-01T12:00:00.000Z'],
  ])('writes %j as %j', (value, written) => {
    expect(csvCell(value)).toBe(written);
  });
});
