import { buildSite, memberLevels, postOutbound, type SiteWithHook } from '../support/factories';
import { assetFixture } from '../support/kartra-fixtures';
import { buildTestApp, type TestApp } from '../support/test-app';

/**
 * CheckoutJoy sells Kartra products through its own checkout: it creates the Kartra lead and assigns a tag, and a
 * Kartra automation grants a membership level. No buy_product ever reaches us (fixtures README, "The story").
 */
const LEE = 'lee.park@example.com';
const TAG = 'CheckoutJoy - Pro Course';

/** A deep copy of an asset fixture with `changes` merged into its asset object (action_details.tag / .membership). */
function withAsset(name: string, changes: Record<string, unknown>): Record<string, unknown> {
  const body = assetFixture(name);
  const details = body.action_details as Record<string, Record<string, unknown>>;
  const key = 'tag' in details ? 'tag' : 'membership';
  details[key] = { ...details[key], ...changes };
  return body;
}

async function leeDetail(t: TestApp, site: SiteWithHook) {
  const found = await t.api.get(`/sites/${site.siteId}/members?email=${encodeURIComponent(LEE)}`).expect(200);
  const member = found.body.members[0] as { id: number } | undefined;
  if (!member) return null;
  return (await t.api.get(`/sites/${site.siteId}/members/${member.id}`).expect(200)).body as {
    kartraLeadId: string;
    firstName: string;
    grants: { levelName: string; sourceType: string; status: string; assetLabel: string | null; revokedReason: string | null }[];
  };
}

describe('the CheckoutJoy story: access from a Kartra tag and a membership level', () => {
  let t: TestApp;
  let site: SiteWithHook;

  beforeEach(async () => {
    t = await buildTestApp();
    site = await buildSite(t, { levels: ['Pro Course', 'Academy Pro'] });
  });
  afterEach(() => t.close());

  const mapTag = (levelNames: string[]) =>
    t.api.post(`/sites/${site.siteId}/asset-mappings`, { kind: 'tag', tagName: TAG, levelIds: levelNames.map((name) => site.levels[name]) }).expect(201);
  const mapMembershipLevel = (levelNames: string[]) =>
    t.api
      .post(`/sites/${site.siteId}/asset-mappings`, { kind: 'membership', membershipId: '4402', levelId: '8812', levelIds: levelNames.map((name) => site.levels[name]) })
      .expect(201);

  it('creates the lead on the tag, grants and revokes with the tag, then with the membership level', async () => {
    await mapTag(['Pro Course']);
    await mapMembershipLevel(['Academy Pro']);

    const assigned = await postOutbound(t, site.hookPath, assetFixture('01-assign_tag.nested.lee.json')).expect(200);
    expect(assigned.body.outcome).toBe('applied');
    expect(await memberLevels(t, site, LEE)).toEqual(['Pro Course']);
    const created = await leeDetail(t, site);
    expect(created).toMatchObject({ kartraLeadId: '48230001', firstName: 'Lee' });
    expect(created?.grants).toEqual([expect.objectContaining({ levelName: 'Pro Course', sourceType: 'tag', status: 'active', assetLabel: `tag "${TAG}"` })]);

    t.clock.advanceMs(60 * 60_000);
    expect((await postOutbound(t, site.hookPath, assetFixture('02-unassign_tag.nested.lee.json')).expect(200)).body.outcome).toBe('applied');
    expect(await memberLevels(t, site, LEE)).toEqual([]);

    t.clock.advanceMs(60 * 60_000);
    expect((await postOutbound(t, site.hookPath, assetFixture('03-membership_granted.nested.lee.json')).expect(200)).body.outcome).toBe('applied');
    expect(await memberLevels(t, site, LEE)).toEqual(['Academy Pro']);
    const granted = await leeDetail(t, site);
    expect(granted?.grants.find((grant) => grant.levelName === 'Academy Pro')).toMatchObject({ sourceType: 'membership', status: 'active' });
    expect(granted?.grants.find((grant) => grant.levelName === 'Academy Pro')?.assetLabel).toContain('Pro Members');

    t.clock.advanceMs(60 * 60_000);
    expect((await postOutbound(t, site.hookPath, assetFixture('04-membership_revoked.nested.lee.json')).expect(200)).body.outcome).toBe('applied');
    expect(await memberLevels(t, site, LEE)).toEqual([]);
    // One member all along, matched by lead id; the grants are kept as history, each revoked.
    expect(await t.scalar('select count(*) from members')).toBe(1);
    const after = await leeDetail(t, site);
    expect(after?.grants.map((grant) => [grant.levelName, grant.status]).sort()).toEqual([
      ['Academy Pro', 'revoked'],
      ['Pro Course', 'revoked'],
    ]);
  });

  it('keeps a level given by both the tag and the membership while either still gives it', async () => {
    await mapTag(['Pro Course']);
    await mapMembershipLevel(['Pro Course']);
    await postOutbound(t, site.hookPath, assetFixture('01-assign_tag.nested.lee.json')).expect(200);
    t.clock.advanceMs(60_000);
    await postOutbound(t, site.hookPath, assetFixture('03-membership_granted.nested.lee.json')).expect(200);
    t.clock.advanceMs(60_000);
    await postOutbound(t, site.hookPath, assetFixture('02-unassign_tag.nested.lee.json')).expect(200);
    expect(await memberLevels(t, site, LEE)).toEqual(['Pro Course']);
    t.clock.advanceMs(60_000);
    await postOutbound(t, site.hookPath, assetFixture('04-membership_revoked.nested.lee.json')).expect(200);
    expect(await memberLevels(t, site, LEE)).toEqual([]);
  });

  it('reads the membership level flat and by names only, trimmed and in any case', async () => {
    await mapMembershipLevel(['Academy Pro']);
    expect((await postOutbound(t, site.hookPath, assetFixture('05-membership_granted.flat.lee.json')).expect(200)).body.outcome).toBe('applied');
    expect(await memberLevels(t, site, LEE)).toEqual(['Academy Pro']);

    // A second site maps the level by name only; Kartra sends the names in other case and white space.
    const byName = await buildSite(t, { name: 'By name', levels: ['Academy Pro'] });
    await t.api
      .post(`/sites/${byName.siteId}/asset-mappings`, { kind: 'membership', membershipName: 'Watercolor Academy', levelName: 'Pro Members', levelIds: [byName.levels['Academy Pro']] })
      .expect(201);
    expect((await postOutbound(t, byName.hookPath, assetFixture('06-membership_granted.names-only.lee.json')).expect(200)).body.outcome).toBe('applied');
    expect(await memberLevels(t, byName, LEE)).toEqual(['Academy Pro']);
  });

  it('matches a tag event with no lead id by email and a tag with no id by name', async () => {
    await mapTag(['Pro Course']);
    expect((await postOutbound(t, site.hookPath, assetFixture('07-assign_tag.email-only.json')).expect(200)).body.outcome).toBe('applied');
    expect(await memberLevels(t, site, LEE)).toEqual(['Pro Course']);
    // The same person later with a lead id: the same member, now with the id.
    t.clock.advanceMs(60 * 60_000);
    await postOutbound(t, site.hookPath, assetFixture('02-unassign_tag.nested.lee.json')).expect(200);
    expect(await memberLevels(t, site, LEE)).toEqual([]);
    expect(await t.scalar('select count(*) from members')).toBe(1);
  });

  describe('assign (A), unassign (U) and the same assign again (A′) within the ten-minute duplicate window', () => {
    // A and A′ are byte-identical, so A′ has A's fingerprint; U is the removal. Each order is one minute apart.
    const bodies = { A: '01-assign_tag.nested.lee.json', U: '02-unassign_tag.nested.lee.json' } as const;
    const orders: { order: ('A' | 'U')[]; outcomes: string[]; levels: string[] }[] = [
      // The second assign comes after a removal: a real re-assignment, not a redelivery.
      { order: ['A', 'U', 'A'], outcomes: ['applied', 'applied', 'applied'], levels: ['Pro Course'] },
      // Two assigns with nothing between are one delivery; the removal then ends the access.
      { order: ['A', 'A', 'U'], outcomes: ['applied', 'duplicate', 'applied'], levels: [] },
      // A removal before anything was given revokes nothing; both assigns after it are one assignment.
      { order: ['U', 'A', 'A'], outcomes: ['applied', 'applied', 'duplicate'], levels: ['Pro Course'] },
    ];
    it.each(orders)('$order.0 $order.1 $order.2 → $outcomes, levels $levels', async ({ order, outcomes, levels }) => {
      await mapTag(['Pro Course']);
      const seen: string[] = [];
      for (const step of order) {
        seen.push((await postOutbound(t, site.hookPath, assetFixture(bodies[step])).expect(200)).body.outcome as string);
        t.clock.advanceMs(60_000);
      }
      expect(seen).toEqual(outcomes);
      expect(await memberLevels(t, site, LEE)).toEqual(levels);
    });
  });

  describe('a revoke that arrives before its grant', () => {
    beforeEach(async () => {
      await mapMembershipLevel(['Academy Pro']);
    });

    it('leaves no access when the Kartra times say the revoke came after', async () => {
      const revoked = withAsset('04-membership_revoked.nested.lee.json', { date: '2026-12-02 10:05:00' });
      const granted = withAsset('03-membership_granted.nested.lee.json', { date: '2026-12-02 10:00:00' });
      await postOutbound(t, site.hookPath, revoked).expect(200);
      t.clock.advanceMs(60_000);
      expect((await postOutbound(t, site.hookPath, granted).expect(200)).body.outcome).toBe('applied');
      expect(await memberLevels(t, site, LEE)).toEqual([]);
    });

    it('gives access when the events carry no times: arrival order decides', async () => {
      await postOutbound(t, site.hookPath, assetFixture('04-membership_revoked.nested.lee.json')).expect(200);
      t.clock.advanceMs(60_000);
      await postOutbound(t, site.hookPath, assetFixture('03-membership_granted.nested.lee.json')).expect(200);
      expect(await memberLevels(t, site, LEE)).toEqual(['Academy Pro']);
    });
  });

  it('discovers an unmapped tag and membership level, and mapping each with apply-to-past gives the earlier buyer access', async () => {
    expect((await postOutbound(t, site.hookPath, assetFixture('01-assign_tag.nested.lee.json')).expect(200)).body.outcome).toBe('unmapped');
    t.clock.advanceMs(60_000);
    expect((await postOutbound(t, site.hookPath, assetFixture('03-membership_granted.nested.lee.json')).expect(200)).body.outcome).toBe('unmapped');
    expect(await memberLevels(t, site, LEE)).toEqual([]);

    const discovered = await t.api.get(`/sites/${site.siteId}/discovered-assets`).expect(200);
    const tag = discovered.body.tags.find((row: { name: string }) => row.name === TAG);
    const level = discovered.body.memberships.find((row: { kartraId: string }) => row.kartraId === '8812');
    expect(tag).toMatchObject({ kind: 'tag', eventCount: 1, leadCount: 1 });
    expect(level).toMatchObject({ kind: 'membership', membershipId: '4402', name: 'Pro Members', eventCount: 1, leadCount: 1 });

    const preview = await t.api.get(`/sites/${site.siteId}/asset-mappings/${encodeURIComponent(tag.key as string)}/preview`).expect(200);
    expect(preview.body).toMatchObject({ unmappedEvents: 1, people: 1 });
    const savedTag = await t.api.post(`/sites/${site.siteId}/asset-mappings`, { key: tag.key, levelIds: [site.levels['Pro Course']], applyToPast: true }).expect(201);
    expect(savedTag.body.applied).toMatchObject({ eventCount: 1 });
    expect(await memberLevels(t, site, LEE)).toEqual(['Pro Course']);

    await t.api.post(`/sites/${site.siteId}/asset-mappings`, { key: level.key, levelIds: [site.levels['Academy Pro']], applyToPast: true }).expect(201);
    expect(await memberLevels(t, site, LEE)).toEqual(['Academy Pro', 'Pro Course']);
    // Neither is discovered any more; both are mapped, each with its member.
    const after = await t.api.get(`/sites/${site.siteId}/discovered-assets`).expect(200);
    expect([...after.body.tags, ...after.body.memberships]).toEqual([]);
    const mapped = await t.api.get(`/sites/${site.siteId}/asset-mappings`).expect(200);
    expect(mapped.body.assetMappings.map((row: { kind: string; memberCount: number }) => [row.kind, row.memberCount]).sort()).toEqual([
      ['membership', 1],
      ['tag', 1],
    ]);
  });

  it('ignores tag events on a site that switched tags off, and still stores them', async () => {
    await mapTag(['Pro Course']);
    await t.api.put(`/sites/${site.siteId}/kartra`, { tagAccess: false }).expect(200);
    const answer = await postOutbound(t, site.hookPath, assetFixture('01-assign_tag.nested.lee.json')).expect(200);
    expect(answer.body.outcome).toBe('ignored');
    expect(await memberLevels(t, site, LEE)).toEqual([]);
    expect(await t.scalar("select count(*) from webhook_events where status = 'ignored'")).toBe(1);
    // Memberships are their own switch: still on.
    await mapMembershipLevel(['Academy Pro']);
    expect((await postOutbound(t, site.hookPath, assetFixture('03-membership_granted.nested.lee.json')).expect(200)).body.outcome).toBe('applied');
  });

  it('answers bad asset mappings with clear errors, and deletes keeping or revoking grants', async () => {
    const levelIds = [site.levels['Pro Course']];
    const problems = async (body: object) => (await t.api.post(`/sites/${site.siteId}/asset-mappings`, body).expect(422)).body.error;
    expect(await problems({ kind: 'tag', tagName: TAG, levelIds: [] })).toMatchObject({ code: 'invalid_input' });
    expect((await problems({ kind: 'tag', levelIds })).details.issues).toEqual([expect.objectContaining({ path: 'tagName' })]);
    expect((await problems({ kind: 'membership', membershipName: 'Watercolor Academy', levelIds })).details.issues).toEqual([expect.objectContaining({ path: 'levelName' })]);
    expect(await problems({ kind: 'playlist', tagName: TAG, levelIds })).toMatchObject({ code: 'invalid_input' });
    expect((await problems({ kind: 'tag', tagName: TAG, levelIds: [999_999] })).details.issues).toEqual([expect.objectContaining({ path: 'levelIds', message: 'level(s) 999999 do not exist on this site' })]);
    await t.api.post(`/sites/${site.siteId}/asset-mappings`, { key: 'tag:no such tag', levelIds }).expect(404);
    await t.api.get(`/sites/${site.siteId}/asset-mappings/${encodeURIComponent('tag:no such tag')}`).expect(404);

    const saved = await mapTag(['Pro Course']);
    const key = saved.body.assetMapping.key as string;
    expect(saved.body.assetMapping).toMatchObject({ kind: 'tag', name: TAG, label: `tag "${TAG}"`, memberCount: 0 });
    await postOutbound(t, site.hookPath, assetFixture('01-assign_tag.nested.lee.json')).expect(200);
    expect((await t.api.get(`/sites/${site.siteId}/asset-mappings/${encodeURIComponent(key)}`).expect(200)).body.memberCount).toBe(1);
    const events = await t.api.get(`/sites/${site.siteId}/events?assetKey=${encodeURIComponent(key)}`).expect(200);
    expect(events.body.events.map((event: { assetKey: string; action: string }) => [event.assetKey, event.action])).toEqual([[key, 'assign_tag']]);
    expect((await t.api.get(`/sites/${site.siteId}/events?assetKey=${encodeURIComponent('tag:other')}`).expect(200)).body.events).toEqual([]);

    // Deleting keeps the grants by default; mapped again and deleted with revoke, they end.
    expect((await t.api.delete(`/sites/${site.siteId}/asset-mappings/${encodeURIComponent(key)}`).expect(200)).body).toEqual({ revokedGrants: 0 });
    expect(await memberLevels(t, site, LEE)).toEqual(['Pro Course']);
    await mapTag(['Pro Course']);
    expect((await t.api.delete(`/sites/${site.siteId}/asset-mappings/${encodeURIComponent(key)}?revoke=true`).expect(200)).body).toEqual({ revokedGrants: 1 });
    expect(await memberLevels(t, site, LEE)).toEqual([]);
    await t.api.delete(`/sites/${site.siteId}/asset-mappings/${encodeURIComponent(key)}`).expect(404);
  });
});
