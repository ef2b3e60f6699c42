import request from 'supertest';
import { buildMapping, buildSite, memberLevels, postOutbound, type SiteWithHook } from '../support/factories';
import { outboundFixture, variantFixture, withTransaction } from '../support/kartra-fixtures';
import { injectInsertFault } from '../support/raw-sql';
import { buildTestApp, type TestApp } from '../support/test-app';

const DANA_BUY = '02-buy_product.one-time.dana.json';
const SAM_BUY = '11-buy_product.one-time.sam.json';
const SAM_REFUND = '12-refund_product.sam.json';
const DANA_SUB = '05-buy_product.subscription-first-payment.dana.json';
const DANA_CANCEL = '08-cancel_subscription.dana.json';

function countRows(t: TestApp, table: string): Promise<number> {
  return t.scalar(`select count(*) as n from ${table}`);
}

describe('webhook intake rules', () => {
  let t: TestApp;
  let site: SiteWithHook;

  beforeEach(async () => {
    t = await buildTestApp();
    site = await buildSite(t);
  });
  afterEach(() => t.close());

  describe('duplicates', () => {
    it('stores identical deliveries sent concurrently and applies them once', async () => {
      await buildMapping(t, site, '558475', ['Foundations']);
      const body = JSON.stringify(outboundFixture(DANA_BUY));
      const responses = await Promise.all(Array.from({ length: 12 }, () => postOutbound(t, site.hookPath, body)));
      expect(responses.map((response) => response.status)).toEqual(Array(12).fill(200));
      const outcomes = responses.map((response) => response.body.outcome).sort();
      expect(outcomes.filter((outcome) => outcome === 'applied')).toHaveLength(1);
      expect(outcomes.filter((outcome) => outcome === 'duplicate')).toHaveLength(11);
      expect(await countRows(t, 'webhook_events')).toBe(12);
      expect(await countRows(t, 'grants')).toBe(1);
      expect(await countRows(t, 'members')).toBe(1);
    });

    it('sees a redelivery with other bytes (reformatted JSON) as the same event', async () => {
      await buildMapping(t, site, '558475', ['Foundations']);
      const first = await postOutbound(t, site.hookPath, JSON.stringify(outboundFixture(DANA_BUY))).expect(200);
      const second = await postOutbound(t, site.hookPath, JSON.stringify(outboundFixture(DANA_BUY), null, 2)).expect(200);
      expect(second.body.outcome).toBe('duplicate');
      const detail = await t.api.get(`/sites/${site.siteId}/events/${second.body.eventId}`).expect(200);
      expect(detail.body.duplicateOfEventId).toBe(first.body.eventId);
    });
  });

  describe('discovered products', () => {
    it("moves a product's last sighting to the minute: a purchase within a minute of the last leaves it, a later one moves it", async () => {
      const lastSeen = async () => {
        const response = await t.api.get(`/sites/${site.siteId}/discovered-products`).expect(200);
        return (response.body as { products: { productId: string; lastSeenAt: string | null; firstSeenAt: string | null }[] }).products.find((product) => product.productId === '558475');
      };
      const buy = (transactionId: string) => postOutbound(t, site.hookPath, withTransaction(outboundFixture(DANA_BUY) as Record<string, unknown>, { transaction_id: transactionId })).expect(200);
      await buy('seen-1');
      const first = await lastSeen();
      expect(first?.lastSeenAt).toBe(first?.firstSeenAt);

      t.clock.advanceMs(59_000);
      await buy('seen-2');
      expect((await lastSeen())?.lastSeenAt).toBe(first?.lastSeenAt);

      t.clock.advanceMs(2_000);
      await buy('seen-3');
      expect((await lastSeen())?.lastSeenAt).toBe(t.clock.now().toISOString());
      expect((await lastSeen())?.firstSeenAt).toBe(first?.firstSeenAt);
    });
  });

  describe('order of arrival', () => {
    it('leaves no access when a full refund arrives before its purchase', async () => {
      await buildMapping(t, site, '558475', ['Foundations']);
      await postOutbound(t, site.hookPath, outboundFixture(SAM_REFUND)).expect(200);
      const purchase = await postOutbound(t, site.hookPath, outboundFixture(SAM_BUY)).expect(200);
      expect(purchase.body.outcome).toBe('applied');
      expect(await memberLevels(t, site, 'sam.okafor@example.net')).toEqual([]);
      const detail = await t.api.get(`/sites/${site.siteId}/members?email=sam.okafor@example.net`).expect(200);
      const member = await t.api.get(`/sites/${site.siteId}/members/${detail.body.members[0].id}`).expect(200);
      expect(member.body.grants[0]).toMatchObject({ status: 'revoked', revokedReason: 'full refund of order 9133410' });
    });

    it('leaves no access when a subscription cancel arrives before its first payment', async () => {
      await buildMapping(t, site, '612001', ['Studio Members']);
      await postOutbound(t, site.hookPath, outboundFixture(DANA_CANCEL)).expect(200);
      await postOutbound(t, site.hookPath, outboundFixture(DANA_SUB)).expect(200);
      expect(await memberLevels(t, site, 'dana.whitfield@example.com')).toEqual([]);
    });
  });

  describe('members', () => {
    it('matches by lead id, follows an email change and records it with the event', async () => {
      await buildMapping(t, site, '558475', ['Foundations']);
      await buildMapping(t, site, '612001', ['Studio Members']);
      await postOutbound(t, site.hookPath, outboundFixture(DANA_BUY)).expect(200);
      const changed = structuredClone(outboundFixture(DANA_SUB)) as { lead: { email: string } };
      changed.lead.email = '  Dana.W@Example.org ';
      const response = await postOutbound(t, site.hookPath, changed).expect(200);

      const found = await t.api.get(`/sites/${site.siteId}/members?email=dana.w@example.org`).expect(200);
      expect(found.body.members).toHaveLength(1);
      expect(found.body.members[0].levels.map((level: { name: string }) => level.name).sort()).toEqual(['Foundations', 'Studio Members']);
      const member = await t.api.get(`/sites/${site.siteId}/members/${found.body.members[0].id}`).expect(200);
      expect(member.body.emailChanges).toEqual([
        expect.objectContaining({ previousEmail: 'dana.whitfield@example.com', newEmail: 'dana.w@example.org', eventId: response.body.eventId }),
      ]);
      expect(await countRows(t, 'members')).toBe(1);
    });

    it("never takes over another member's email: a lead moving to an email someone else has keeps its own, and says so", async () => {
      await buildMapping(t, site, '558475', ['Foundations']);
      await buildMapping(t, site, '612001', ['Studio Members']);
      await postOutbound(t, site.hookPath, outboundFixture(DANA_BUY)).expect(200);
      await postOutbound(t, site.hookPath, outboundFixture(SAM_BUY)).expect(200);
      // Kartra now gives Dana's lead Sam's email (a shared family address, say): two leads, two people.
      const moved = structuredClone(outboundFixture(DANA_SUB)) as { lead: { email: string } };
      moved.lead.email = 'Sam.Okafor@example.net';
      const response = await postOutbound(t, site.hookPath, moved).expect(200);
      expect(response.body.outcome).toBe('applied');

      const dana = await t.api.get(`/sites/${site.siteId}/members?email=dana.whitfield@example.com`).expect(200);
      expect(dana.body.members).toHaveLength(1);
      expect(dana.body.members[0].levels.map((level: { name: string }) => level.name).sort()).toEqual(['Foundations', 'Studio Members']);
      const sam = await t.api.get(`/sites/${site.siteId}/members?email=sam.okafor@example.net`).expect(200);
      expect(sam.body.members).toHaveLength(1);
      expect(sam.body.members[0].kartraLeadId).not.toBe(dana.body.members[0].kartraLeadId);
      const detail = await t.api.get(`/sites/${site.siteId}/members/${dana.body.members[0].id}`).expect(200);
      expect(detail.body.emailChanges).toEqual([]);
      const event = await t.api.get(`/sites/${site.siteId}/events/${response.body.eventId}`).expect(200);
      expect(event.body.summary).toContain(`email sam.okafor@example.net, which member #${sam.body.members[0].id} has: kept dana.whitfield@example.com`);
      // The per-site unique email index holds it in the tables, too.
      expect(await t.scalar("select count(*) from members where email = 'sam.okafor@example.net'")).toBe(1);
    });

    it('matches by email (trimmed, case-insensitive) when the lead id is unknown', async () => {
      await buildMapping(t, site, '558475', ['Foundations']);
      await buildMapping(t, site, '612001', ['Studio Members']);
      const withoutLeadId = structuredClone(outboundFixture(DANA_BUY)) as { lead: Record<string, unknown>; action_details: { transaction_details: Record<string, unknown> } };
      delete withoutLeadId.lead.id;
      delete withoutLeadId.action_details.transaction_details.lead_id;
      await postOutbound(t, site.hookPath, withoutLeadId).expect(200);
      const upper = structuredClone(outboundFixture(DANA_SUB)) as { lead: { email: string } };
      upper.lead.email = 'DANA.WHITFIELD@EXAMPLE.COM ';
      await postOutbound(t, site.hookPath, upper).expect(200);
      expect(await countRows(t, 'members')).toBe(1);
      const found = await t.api.get(`/sites/${site.siteId}/members?email=dana.whitfield@example.com`).expect(200);
      expect(found.body.members[0].kartraLeadId).toBe('48213977');
    });
  });

  describe('ledger', () => {
    it('keeps a level while another product still grants it', async () => {
      await buildMapping(t, site, '558475', ['Foundations']);
      await buildMapping(t, site, '612001', ['Foundations', 'Studio Members']);
      await postOutbound(t, site.hookPath, outboundFixture(DANA_BUY)).expect(200);
      await postOutbound(t, site.hookPath, outboundFixture(DANA_SUB)).expect(200);
      await postOutbound(t, site.hookPath, outboundFixture(DANA_CANCEL)).expect(200);
      // The cancel revokes the subscription's grants; the one-time purchase still gives Foundations.
      expect(await memberLevels(t, site, 'dana.whitfield@example.com')).toEqual(['Foundations']);
      const danaRefund = withTransaction(outboundFixture(SAM_REFUND), {
        transaction_id: '9139999',
        transaction_parent_id: '9130021',
        lead_id: '48213977',
        lead_email: 'dana.whitfield@example.com',
      }) as { lead: unknown };
      danaRefund.lead = (outboundFixture(DANA_BUY) as { lead: unknown }).lead;
      await postOutbound(t, site.hookPath, danaRefund).expect(200);
      expect(await memberLevels(t, site, 'dana.whitfield@example.com')).toEqual([]);
    });

    it('never treats a buy_product whose transaction type says rebill as a new purchase', async () => {
      await buildMapping(t, site, '612001', ['Studio Members']);
      await postOutbound(t, site.hookPath, outboundFixture(DANA_SUB)).expect(200);
      const rebill = await postOutbound(t, site.hookPath, variantFixture('HYPOTHETICAL-buy_product.rebill.dana.json')).expect(200);
      expect(rebill.body.outcome).toBe('applied');
      expect(await countRows(t, 'members')).toBe(1);
      expect(await countRows(t, 'grants')).toBe(1);
      const detail = await t.api.get(`/sites/${site.siteId}/events/${rebill.body.eventId}`).expect(200);
      expect(detail.body.kind).toBe('rebill');
      expect(detail.body.effects.grantChanges.map((change: { change: string }) => change.change)).toEqual(['confirmed']);
    });

    it('grants manually with an expiry, and revokes a manual grant', async () => {
      await postOutbound(t, site.hookPath, outboundFixture(DANA_BUY)).expect(200);
      const found = await t.api.get(`/sites/${site.siteId}/members?q=whitfield`).expect(200);
      const memberId = found.body.members[0].id;
      const expiresAt = new Date(t.clock.now().getTime() + 2 * 86_400_000).toISOString();
      const grant = await t.api.post(`/sites/${site.siteId}/members/${memberId}/grants`, { levelId: site.levels['Studio Members'], expiresAt }).expect(201);
      expect(await memberLevels(t, site, 'dana.whitfield@example.com')).toEqual(['Studio Members']);
      t.clock.advanceDays(3);
      expect(await memberLevels(t, site, 'dana.whitfield@example.com')).toEqual([]);
      t.clock.advanceDays(-3);
      await t.api.delete(`/sites/${site.siteId}/members/${memberId}/grants/${grant.body.id}`).expect(200);
      expect(await memberLevels(t, site, 'dana.whitfield@example.com')).toEqual([]);
      const member = await t.api.get(`/sites/${site.siteId}/members/${memberId}`).expect(200);
      expect(member.body.grants[0].history.map((entry: { change: string; actor: string }) => [entry.change, entry.actor])).toEqual([
        ['granted', 'admin:test operator'],
        ['revoked', 'admin:test operator'],
      ]);
      await t.api.post(`/sites/${site.siteId}/members/${memberId}/grants`, { levelId: site.levels['Studio Members'], expiresAt: '2020-01-01T00:00:00Z' }).expect(422);
    });
  });

  describe('mapping and discovery', () => {
    it('lists an unmapped product as discovered and applies its past purchases when mapped afterwards', async () => {
      const purchase = await postOutbound(t, site.hookPath, outboundFixture(SAM_BUY)).expect(200);
      expect(purchase.body.outcome).toBe('unmapped');
      await postOutbound(t, site.hookPath, outboundFixture(DANA_BUY)).expect(200);
      const discovered = await t.api.get(`/sites/${site.siteId}/discovered-products`).expect(200);
      expect(discovered.body.products).toEqual([
        expect.objectContaining({ productId: '558475', productName: 'Watercolor Foundations', eventCount: 2, buyerCount: 2 }),
      ]);
      expect(await memberLevels(t, site, 'sam.okafor@example.net')).toEqual([]);

      const preview = await t.api.get(`/sites/${site.siteId}/mappings/558475/preview`).expect(200);
      expect(preview.body).toMatchObject({ unmappedEvents: 2, people: 2 });
      const mapped = await buildMapping(t, site, '558475', ['Foundations'], true);
      expect(mapped.body.applied).toMatchObject({ eventCount: 2, outcomes: { applied: 2 } });
      expect(await memberLevels(t, site, 'sam.okafor@example.net')).toEqual(['Foundations']);
      expect(await memberLevels(t, site, 'dana.whitfield@example.com')).toEqual(['Foundations']);
      const event = await t.api.get(`/sites/${site.siteId}/events/${purchase.body.eventId}`).expect(200);
      expect(event.body).toMatchObject({ status: 'applied', attempts: 2 });
      // Why Sam has the level: his purchase, applied by the mapping.
      const sam = await t.api.get(`/sites/${site.siteId}/members/${event.body.memberId}`).expect(200);
      expect(sam.body.grants[0].history).toEqual([expect.objectContaining({ change: 'granted', eventId: purchase.body.eventId, actor: 'mapping' })]);
      expect((await t.api.get(`/sites/${site.siteId}/discovered-products`).expect(200)).body.products).toEqual([]);

      // Applying again changes nothing.
      const again = await buildMapping(t, site, '558475', ['Foundations'], true);
      expect(again.body.applied.eventCount).toBe(0);
      expect(await countRows(t, 'grants')).toBe(2);
      const mappings = await t.api.get(`/sites/${site.siteId}/mappings`).expect(200);
      expect(mappings.body.mappings).toEqual([expect.objectContaining({ productId: '558475', memberCount: 2 })]);
    });

    it('does not apply past purchases unless asked', async () => {
      await postOutbound(t, site.hookPath, outboundFixture(SAM_BUY)).expect(200);
      await buildMapping(t, site, '558475', ['Foundations'], false);
      expect(await memberLevels(t, site, 'sam.okafor@example.net')).toEqual([]);
    });

    it('keeps grants when a mapping is deleted, unless the admin asks to revoke them', async () => {
      await buildMapping(t, site, '558475', ['Foundations']);
      await postOutbound(t, site.hookPath, outboundFixture(DANA_BUY)).expect(200);
      await t.api.delete(`/sites/${site.siteId}/mappings/558475`).expect(200, { revokedGrants: 0 });
      expect(await memberLevels(t, site, 'dana.whitfield@example.com')).toEqual(['Foundations']);
      await buildMapping(t, site, '558475', ['Foundations']);
      await t.api.delete(`/sites/${site.siteId}/mappings/558475?revoke=true`).expect(200, { revokedGrants: 1 });
      expect(await memberLevels(t, site, 'dana.whitfield@example.com')).toEqual([]);
    });

    it('refuses to delete a level that has grants, with a clear message', async () => {
      await buildMapping(t, site, '558475', ['Foundations']);
      await postOutbound(t, site.hookPath, outboundFixture(DANA_BUY)).expect(200);
      await t.api.delete(`/sites/${site.siteId}/mappings/558475`).expect(200);
      const refused = await t.api.delete(`/sites/${site.siteId}/levels/${site.levels.Foundations}`).expect(409);
      expect(refused.body.error.message).toMatch(/still has 1 grant/);
      await t.api.delete(`/sites/${site.siteId}/levels/${site.levels['Studio Members']}`).expect(204);
    });
  });

  describe('bad input', () => {
    it.each([
      ['truncated JSON', '{"lead": {"id": "1"', 'application/json', /not valid JSON/],
      ['not JSON at all', 'hello kartra', 'text/plain', /neither JSON nor a form/],
      ['JSON without an action', '{"lead": {"id": "1"}}', 'application/json', /no "action"/],
      ['a purchase without a product', JSON.stringify({ action: 'buy_product', lead: { id: '1' }, action_details: { transaction_details: { transaction_id: '5' } } }), 'application/json', /no product_id/],
      ['an empty body', '', 'application/json', /empty body/],
    ])('stores %s and answers 400 with a JSON error', async (_name, body, contentType, message) => {
      const response = await postOutbound(t, site.hookPath, body, contentType).expect(400);
      expect(response.body.error).toMatchObject({ code: 'invalid_event', message: expect.stringMatching(message) });
      const detail = await t.api.get(`/sites/${site.siteId}/events/${response.body.error.details.eventId}`).expect(200);
      expect(detail.body).toMatchObject({ status: 'invalid', rawBody: body });
    });

    it('accepts Kartra JSON whatever the Content-Type says', async () => {
      await buildMapping(t, site, '558475', ['Foundations']);
      const response = await postOutbound(t, site.hookPath, JSON.stringify(outboundFixture(DANA_BUY)), 'text/plain').expect(200);
      expect(response.body.outcome).toBe('applied');
      const noType = await request(t.app).post(site.hookPath).send(Buffer.from(JSON.stringify(outboundFixture(SAM_BUY)))).expect(200);
      expect(noType.body.outcome).toBe('applied');
    });

    it('answers 413 for a body over the cap', async () => {
      const huge = JSON.stringify({ action: 'buy_product', padding: 'x'.repeat(300 * 1024) });
      await postOutbound(t, site.hookPath, huge).expect(413);
    });

    it('stores an unknown action as ignored and flags it', async () => {
      const response = await postOutbound(t, site.hookPath, { ...outboundFixture('06-assign_tag.dana.json'), action: 'lead_teleported' }).expect(200);
      expect(response.body.outcome).toBe('ignored');
      const detail = await t.api.get(`/sites/${site.siteId}/events/${response.body.eventId}`).expect(200);
      expect(detail.body.parsed).toMatchObject({ kind: 'other', knownAction: false });
      expect(detail.body.notes).toEqual([expect.objectContaining({ path: 'action', message: expect.stringMatching(/not documented/) })]);
    });
  });

  describe('webhook URL', () => {
    it('answers 404 and stores nothing for an unknown key, a wrong secret or a disabled integration', async () => {
      const body = JSON.stringify(outboundFixture(DANA_BUY));
      const secret = site.hookPath.split('/').pop() ?? '';
      await postOutbound(t, site.hookPath.replace(site.siteKey, 'nosuchsitekey'), body).expect(404);
      await postOutbound(t, site.hookPath.replace(secret, `${secret.slice(0, -1)}x`), body).expect(404);
      await t.api.put(`/sites/${site.siteId}/kartra`, { enabled: false }).expect(200);
      await postOutbound(t, site.hookPath, body).expect(404);
      expect(await countRows(t, 'webhook_events')).toBe(0);
      // Re-enabling keeps the URL Kartra already has.
      const enabled = await t.api.put(`/sites/${site.siteId}/kartra`, { enabled: true }).expect(200);
      expect(enabled.body.webhookUrl).toBeNull();
      await postOutbound(t, site.hookPath, body).expect(200);
    });

    it('keeps a rotated URL working through its grace period, records its last use, and then stops it', async () => {
      const oldPath = site.hookPath;
      const rotated = await t.api.post(`/sites/${site.siteId}/kartra/rotate`).expect(200);
      const newPath = new URL(rotated.body.webhookUrl).pathname;
      expect(newPath).not.toBe(oldPath);
      t.clock.advanceMs(23 * 3600_000);
      await postOutbound(t, oldPath, outboundFixture(DANA_BUY)).expect(200);
      const state = await t.api.get(`/sites/${site.siteId}/kartra`).expect(200);
      const retired = state.body.secrets.find((secret: { current: boolean }) => !secret.current);
      expect(retired.lastUsedAt).toBe(t.clock.now().toISOString());
      expect(JSON.stringify(state.body)).not.toContain(oldPath.split('/').pop());
      t.clock.advanceMs(2 * 3600_000);
      await postOutbound(t, oldPath, outboundFixture(SAM_BUY)).expect(404);
      await postOutbound(t, newPath, outboundFixture(SAM_BUY)).expect(200);
    });

    it('prints the URL on the public base, or on the site custom domain', async () => {
      expect(site.hookUrl).toMatch(new RegExp(`^https://members\\.example\\.com/hooks/kartra/${site.siteKey}/[A-Za-z0-9_-]{43}$`));
      await t.api.put(`/sites/${site.siteId}/kartra`, { publicUrl: 'https://academy.example.org' }).expect(200);
      const rotated = await t.api.post(`/sites/${site.siteId}/kartra/rotate`).expect(200);
      expect(rotated.body.webhookUrl).toMatch(/^https:\/\/academy\.example\.org\/hooks\/kartra\//);
    });
  });

  describe('re-apply', () => {
    it('keeps an event whose applying fails as failed (answered 2xx, nothing half-applied) and re-applies it later', async () => {
      await buildMapping(t, site, '558475', ['Foundations']);
      // A fault injected in the real database: inserting the payment fact raises, halfway through applying.
      const removeFault = await injectInsertFault(t, { table: 'payment_facts', message: 'disk on fire' });
      const failed = await postOutbound(t, site.hookPath, outboundFixture(DANA_BUY)).expect(200);
      const failedToo = await postOutbound(t, site.hookPath, outboundFixture(SAM_BUY)).expect(200);
      expect([failed.body.outcome, failedToo.body.outcome]).toEqual(['failed', 'failed']);
      const detail = await t.api.get(`/sites/${site.siteId}/events/${failed.body.eventId}`).expect(200);
      expect(detail.body).toMatchObject({ status: 'failed', error: expect.stringMatching(/disk on fire/) });
      expect(JSON.parse(detail.body.rawBody)).toEqual(outboundFixture(DANA_BUY));
      // The savepoint rolled the member and the fingerprint claim back with the rest.
      expect(await countRows(t, 'members')).toBe(0);
      expect(await countRows(t, 'event_fingerprints')).toBe(0);

      await removeFault();
      const single = await t.api.post(`/sites/${site.siteId}/events/${failed.body.eventId}/reapply`).expect(200);
      expect(single.body.outcome).toBe('applied');
      const bulk = await t.api.post(`/sites/${site.siteId}/events/reapply`, { statuses: ['failed'], since: '2000-01-01T00:00:00Z' }).expect(200);
      expect(bulk.body).toEqual({ eventCount: 1, outcomes: { applied: 1 } });
      expect(await memberLevels(t, site, 'dana.whitfield@example.com')).toEqual(['Foundations']);
      expect(await memberLevels(t, site, 'sam.okafor@example.net')).toEqual(['Foundations']);
    });

    it('re-applies an event idempotently and records the new outcome', async () => {
      await buildMapping(t, site, '558475', ['Foundations']);
      const purchase = await postOutbound(t, site.hookPath, outboundFixture(DANA_BUY)).expect(200);
      const again = await t.api.post(`/sites/${site.siteId}/events/${purchase.body.eventId}/reapply`).expect(200);
      expect(again.body).toMatchObject({ outcome: 'applied', event: { attempts: 2, status: 'applied' } });
      expect(await countRows(t, 'grants')).toBe(1);
      expect(await countRows(t, 'grant_history')).toBe(1);
    });
  });
});

describe('admin API access', () => {
  let t: TestApp;
  afterEach(() => t.close());

  it('needs a bearer token, and a site token sees only its own site (others are 404)', async () => {
    t = await buildTestApp();
    const siteA = await buildSite(t, { name: 'A' });
    const siteB = await buildSite(t, { name: 'B' });
    await request(t.app).get('/api/v1/sites').expect(401);
    await request(t.app).get('/api/v1/sites').set('Authorization', 'Bearer ka_wrong').expect(401);
    const { token } = await t.composed.services.tokens.create('site A only', siteA.siteId);
    const scoped = t.api.withToken(token);
    expect((await scoped.get('/sites').expect(200)).body.sites.map((site: { id: number }) => site.id)).toEqual([siteA.siteId]);
    await scoped.get(`/sites/${siteB.siteId}/events`).expect(404);
    await scoped.get(`/sites/${siteB.siteId}/members`).expect(404);
    await scoped.post(`/sites/${siteB.siteId}/levels`, { name: 'x' }).expect(404);
    await scoped.post('/sites', { name: 'C' }).expect(403);
    await scoped.get(`/sites/${siteA.siteId}/events`).expect(200);
  });

  it('answers invalid input with 422 and every issue', async () => {
    t = await buildTestApp();
    const site = await buildSite(t);
    const response = await t.api.post(`/sites/${site.siteId}/mappings`, { productId: 'not a product!', levelIds: [] }).expect(422);
    expect(response.body.error.code).toBe('invalid_input');
    expect(response.body.error.details.issues.map((issue: { path: string }) => issue.path).sort()).toEqual(['levelIds', 'productId']);
    const unknownLevel = await t.api.post(`/sites/${site.siteId}/mappings`, { productId: '1', levelIds: [999] }).expect(422);
    expect(unknownLevel.body.error.details.issues[0].message).toMatch(/999/);
  });
});
