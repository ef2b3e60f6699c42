import request from 'supertest';
import { buildMapping, buildSite, postOutbound, type SiteWithHook } from '../support/factories';
import { assetFixture, outboundFixture } from '../support/kartra-fixtures';
import { buildTestApp, type TestApp } from '../support/test-app';
import { createAdmin, signIn } from '../support/admin-pages';

/** Each form re-renders with its field errors and what was typed, and changes nothing. */
describe('App Station forms with invalid input', () => {
  let t: TestApp;
  let site: SiteWithHook;
  let session: Awaited<ReturnType<typeof signIn>>;
  let base: string;
  const post = (path: string, body: Record<string, unknown>) => session.agent.post(`${base}${path}`).type('form').send({ _csrf: session.csrf, ...body });

  beforeEach(async () => {
    t = await buildTestApp();
    site = await buildSite(t);
    await createAdmin(t, 'ann@example.com', [site.siteId]);
    session = await signIn(t, 'ann@example.com');
    base = `/admin/sites/${site.siteId}`;
  });
  afterEach(() => t.close());

  it('sign-in: empty fields are named', async () => {
    const agent = request.agent(t.app);
    const form = await agent.get('/admin/sign-in').expect(200);
    const token = /name="_csrf" value="([^"]+)"/.exec(form.text)?.[1];
    const res = await agent.post('/admin/sign-in').type('form').send({ _csrf: token, email: 'typed@example.com', password: '' }).expect(422);
    expect(res.text).toContain('enter your password');
    expect(res.text).toContain('value="typed@example.com"');
  });

  it('levels: an empty name and a duplicate name are refused with the typed name kept', async () => {
    const empty = await post('/levels', { name: '   ' }).expect(422);
    expect(empty.text).toContain('give the level a name');
    const duplicate = await post('/levels', { name: 'Foundations' }).expect(422);
    expect(duplicate.text).toContain('already exists on this site');
    expect(duplicate.text).toContain('value="Foundations"');
    const rename = await post(`/levels/${site.levels.Foundations}/rename`, { name: 'Studio Members' }).expect(422);
    expect(rename.text).toContain('already exists on this site');
  });

  it('levels: deleting a level that still has grants is refused with a clear message', async () => {
    await buildMapping(t, site, '558475', ['Foundations']);
    await postOutbound(t, site.hookPath, outboundFixture('02-buy_product.one-time.dana.json')).expect(200);
    const mappingRemoved = await post('/mappings/558475/delete', { grants: 'keep' }).expect(303);
    expect(mappingRemoved.headers.location).toContain('notice=deleted');
    const refused = await post(`/levels/${site.levels.Foundations}/delete`, {}).expect(409);
    expect(refused.text).toContain('still has 1 grant and their history');
    const levels = await session.agent.get(`${base}/levels`).expect(200);
    expect(levels.text).toContain('Foundations');
  });

  it('mappings: a bad product id and no levels are both reported, keeping what was typed', async () => {
    const res = await post('/mappings', { productId: 'not a product!' }).expect(422);
    expect(res.text).toContain('the product id from Kartra');
    expect(res.text).toContain('pick at least one level');
    expect(res.text).toContain('value="not a product!"');
    const mapped = await t.api.get(`/sites/${site.siteId}/mappings`).expect(200);
    expect(mapped.body.mappings).toEqual([]);
  });

  it('mappings: apply-to-past shows a preview first and maps nothing until confirmed', async () => {
    await postOutbound(t, site.hookPath, outboundFixture('02-buy_product.one-time.dana.json')).expect(200);
    const preview = await post('/mappings', { productId: '558475', levelIds: [String(site.levels.Foundations)], applyToPast: 'on' }).expect(200);
    expect(preview.text).toContain('1 stored event');
    expect(preview.text).toContain('1 person');
    expect((await t.api.get(`/sites/${site.siteId}/mappings`).expect(200)).body.mappings).toEqual([]);
    const saved = await post('/mappings', { productId: '558475', levelIds: String(site.levels.Foundations), applyToPast: 'on', confirm: 'yes' }).expect(303);
    const page = await session.agent.get(saved.headers.location as string).expect(200);
    expect(page.text).toContain('Mapping for product 558475 saved. Applied to the past: 1 event re-applied');
  });

  describe('tag and membership level mappings', () => {
    /** The part of the page from `marker` to the next `end`: one form with its messages, or one discovered row. */
    const part = (html: string, marker: string, end = '</form>') => {
      const start = html.indexOf(marker);
      if (start < 0) throw new Error(`no ${marker} on the page`);
      return html.slice(start, html.indexOf(end, start));
    };
    const mappedAssets = async () => (await t.api.get(`/sites/${site.siteId}/asset-mappings`).expect(200)).body.assetMappings as unknown[];

    it('a tag with no name and no levels is reported on the tag form, keeping what was typed', async () => {
      const res = await post('/asset-mappings', { kind: 'tag', tagName: '   ', applyToPast: 'on' }).expect(422);
      const tagForm = part(res.text, 'id="add-tag"');
      expect(tagForm).toContain('Please correct the fields marked below.');
      expect(tagForm).toContain('the tag’s name in Kartra');
      expect(tagForm).toContain('pick at least one level');
      expect(tagForm).toMatch(/name="applyToPast" value="on" checked/);
      // The other forms on the page carry no error.
      expect(part(res.text, 'id="add-membership"')).not.toContain('field-error');
      expect(part(res.text, 'id="add"')).not.toContain('field-error');
      expect(await mappedAssets()).toEqual([]);
    });

    it('a membership level with neither name nor id, or an id that is not one, is reported on the membership form', async () => {
      const noLevel = await post('/asset-mappings', { kind: 'membership', membershipName: 'Watercolor Academy', levelIds: String(site.levels.Foundations) }).expect(422);
      const form = part(noLevel.text, 'id="add-membership"');
      expect(form).toContain('the membership level’s name or id in Kartra');
      expect(form).toContain('value="Watercolor Academy"');
      expect(form).toMatch(new RegExp(`value="${site.levels.Foundations}" id="add-membership-${site.levels.Foundations}" checked`));
      expect(part(noLevel.text, 'id="add-tag"')).not.toContain('field-error');
      const badId = await post('/asset-mappings', { kind: 'membership', levelId: 'level 8812', levelIds: String(site.levels.Foundations) }).expect(422);
      expect(part(badId.text, 'id="add-membership"')).toContain('the id from Kartra');
      expect(part(badId.text, 'id="add-membership"')).toContain('value="level 8812"');
      // A level of another site, or none at all, is refused as for products.
      const unknownLevel = await post('/asset-mappings', { kind: 'membership', levelId: '8812', levelIds: '999999' }).expect(422);
      expect(part(unknownLevel.text, 'id="add-membership"')).toContain('do not exist on this site');
      expect(await mappedAssets()).toEqual([]);
    });

    it('a discovered tag saved without levels shows the error on its own row', async () => {
      await postOutbound(t, site.hookPath, assetFixture('01-assign_tag.nested.lee.json')).expect(200);
      const page = await session.agent.get(`${base}/mappings`).expect(200);
      const key = /data-asset-key="([^"]+)"/.exec(page.text)?.[1]?.replace(/&quot;/g, '"').replace(/&amp;/g, '&');
      const res = await post('/asset-mappings', { kind: 'discovered', key }).expect(422);
      const row = part(res.text, 'data-asset-key=', '</li>');
      expect(row).toContain('pick at least one level');
      expect(row).toMatch(/name="applyToPast" value="on" >/);
      expect(part(res.text, 'id="add-tag"')).not.toContain('field-error');
      expect(await mappedAssets()).toEqual([]);
      // A key that names nothing on this site is a missing page.
      await post('/asset-mappings', { kind: 'discovered', key: 'tag:no such tag', levelIds: String(site.levels.Foundations) }).expect(404);
      // A form of no kind this page has is an error at the top of the page.
      const unknownKind = await post('/asset-mappings', { kind: 'list', levelIds: String(site.levels.Foundations) }).expect(422);
      expect(unknownKind.text).toContain('Please correct the fields marked below.');
    });
  });

  it('Kartra settings: a bad URL and grace days are reported, keeping what was typed', async () => {
    const res = await post('/kartra/settings', { publicUrl: 'members dot example', graceDays: 'ten', cancelMode: 'immediate' }).expect(422);
    expect(res.text).toContain('a full address such as https://members.example.com');
    expect(res.text).toContain('a whole number of days');
    expect(res.text).toContain('value="members dot example"');
    expect(res.text).toContain('value="ten"');
    const state = await t.api.get(`/sites/${site.siteId}/kartra`).expect(200);
    expect(state.body.settings.graceDays).toBe(10);
  });

  it('manual grant: no level and an expiry in the past are refused', async () => {
    await buildMapping(t, site, '558475', ['Foundations']);
    await postOutbound(t, site.hookPath, outboundFixture('02-buy_product.one-time.dana.json')).expect(200);
    const members = await t.api.get(`/sites/${site.siteId}/members`).expect(200);
    const memberId = members.body.members[0].id as number;
    const noLevel = await post(`/members/${memberId}/grants`, { levelId: '', expiresAt: '' }).expect(422);
    expect(noLevel.text).toContain('pick a level');
    const past = await post(`/members/${memberId}/grants`, { levelId: String(site.levels['Studio Members']), expiresAt: '2000-01-01T10:00' }).expect(422);
    expect(past.text).toContain('must be in the future');
    expect(past.text).toContain('value="2000-01-01T10:00"');
    const garbled = await post(`/members/${memberId}/grants`, { levelId: String(site.levels['Studio Members']), expiresAt: 'soon' }).expect(422);
    expect(garbled.text).toContain('a date and time');
  });

  it('re-apply failed since: a time that is not a time is refused', async () => {
    const res = await post('/events/reapply-failed', { since: 'yesterday' }).expect(422);
    expect(res.text).toContain('a date and time, or leave empty');
    expect(res.text).toContain('value="yesterday"');
  });
});
