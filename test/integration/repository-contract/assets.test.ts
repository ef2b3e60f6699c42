import Database from 'better-sqlite3';
import { drizzle as drizzleSqlite } from 'drizzle-orm/better-sqlite3';
import { migrate as migrateSqlite } from 'drizzle-orm/better-sqlite3/migrator';
import { drizzle as drizzlePg } from 'drizzle-orm/node-postgres';
import { migrate as migratePg } from 'drizzle-orm/node-postgres/migrator';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Pool } from 'pg';
import { MIGRATIONS_FOLDER, openDatabase } from '../../../src/db/database';
import { openPostgres, PG_MIGRATIONS_FOLDER } from '../../../src/db/postgres/database';
import type { AssetKind, EventStatus, KartraAsset, Member } from '../../../src/domain/model';
import type { NewGrant, NewKartraAsset, Repositories } from '../../../src/domain/ports';
import { createEmptyDatabase, createTestStorage, testEngine, type TestStorage } from '../../support/storage';

// The ports of Kartra tags and membership levels ("assets"), their facts, and what the event log and the grants answer
// about them, as both adapters must keep them: the same test runs on SQLite (bare jest) and on PostgreSQL
// (TEST_ENGINE=postgres).

const at = (iso: string) => new Date(iso);
const T0 = at('2025-07-01T12:00:00.000Z');
const HOUR_MS = 60 * 60 * 1000;
const later = (ms: number) => new Date(T0.getTime() + ms);

let storage: TestStorage;
let repos: Repositories;
let siteId: number;
let otherSiteId: number;
let gold: number;
let silver: number;

beforeEach(async () => {
  storage = await createTestStorage();
  repos = storage.repos;
  siteId = (await repos.sites.create({ key: 'main', name: 'Main', createdAt: T0 })).id;
  otherSiteId = (await repos.sites.create({ key: 'other', name: 'Other', createdAt: T0 })).id;
  gold = (await repos.levels.create(siteId, 'Gold', T0)).id;
  silver = (await repos.levels.create(siteId, 'Silver', T0)).id;
});

afterEach(async () => {
  await storage.close();
});

function tag(key: string, overrides: Partial<NewKartraAsset> = {}): NewKartraAsset {
  return {
    siteId,
    key,
    kind: 'tag',
    kartraId: null,
    name: null,
    membershipId: null,
    membershipName: null,
    matchName: null,
    firstSeenAt: null,
    lastSeenAt: null,
    ...overrides,
  };
}

function level(key: string, overrides: Partial<NewKartraAsset> = {}): NewKartraAsset {
  return tag(key, { kind: 'membership', ...overrides });
}

const keys = (assets: KartraAsset[]) => assets.map((asset) => asset.key);

let leadCounter = 0;
function buildMember(overrides: Partial<Omit<Member, 'id'>> = {}): Promise<Member> {
  leadCounter += 1;
  return repos.members.create({
    siteId,
    kartraLeadId: `lead-${leadCounter}`,
    email: `person${leadCounter}@example.com`,
    firstName: null,
    lastName: null,
    createdAt: T0,
    updatedAt: T0,
    ...overrides,
  });
}

interface Received {
  siteId?: number;
  receivedAt?: Date;
  status?: EventStatus;
  action?: string | null;
  assetKey?: string | null;
  leadId?: string | null;
  email?: string | null;
}

/** An event as the intake leaves it: inserted, then its outcome recorded. */
async function receive(event: Received = {}): Promise<number> {
  const eventSiteId = event.siteId ?? siteId;
  const receivedAt = event.receivedAt ?? T0;
  const id = await repos.events.insert({
    siteId: eventSiteId,
    receivedAt,
    channel: 'outbound',
    sourceIp: '203.0.113.7',
    headers: { 'content-type': 'application/json' },
    rawBody: Buffer.from('{"action":"assign_tag"}'),
  });
  await repos.events.recordOutcome(eventSiteId, id, {
    status: event.status ?? 'applied',
    kind: 'tag',
    action: event.action === undefined ? 'assign_tag' : event.action,
    assetKey: event.assetKey ?? null,
    leadId: event.leadId ?? null,
    email: event.email ?? null,
    processedAt: receivedAt,
  });
  return id;
}

describe(`Kartra assets on ${testEngine}`, () => {
  it('creates an asset once: a second create of the key returns the stored one unchanged', async () => {
    const created = await repos.assets.create(
      level('membership:m1:l1', { kartraId: 'l1', name: 'Pro', membershipId: 'm1', membershipName: 'Academy', matchName: 'academy / pro', firstSeenAt: T0, lastSeenAt: later(HOUR_MS) }),
    );
    expect(created).toEqual({
      siteId,
      key: 'membership:m1:l1',
      kind: 'membership',
      kartraId: 'l1',
      name: 'Pro',
      membershipId: 'm1',
      membershipName: 'Academy',
      matchName: 'academy / pro',
      firstSeenAt: T0,
      lastSeenAt: later(HOUR_MS),
      levelIds: [],
    });
    await repos.assets.setLevels(siteId, 'membership:m1:l1', [gold], T0);

    const again = await repos.assets.create(level('membership:m1:l1', { name: 'Renamed', firstSeenAt: later(-HOUR_MS) }));
    expect(again).toEqual({ ...created, levelIds: [gold] });
    expect(await repos.assets.findByKey(siteId, 'membership:m1:l1')).toEqual(again);

    // Keys are per site.
    expect(await repos.assets.findByKey(otherSiteId, 'membership:m1:l1')).toBeNull();
    expect(await repos.assets.create({ ...tag('membership:m1:l1'), siteId: otherSiteId })).toMatchObject({ siteId: otherSiteId, kind: 'tag', levelIds: [] });
    expect(await repos.assets.findByKey(siteId, 'nope')).toBeNull();
  });

  it('gives two units creating one key at once the same stored asset', async () => {
    const [first, second] = await Promise.all([
      storage.transaction((tx) => tx.assets.create(tag('tag:vip', { name: 'VIP', matchName: 'vip' }))),
      storage.transaction((tx) => tx.assets.create(tag('tag:vip', { name: 'Vip', matchName: 'vip' }))),
    ]);
    expect(second).toEqual(first);
    expect(await repos.assets.listAll(siteId)).toEqual([first]);
  });

  it('updates only the fields it is given, and nothing when given none', async () => {
    await repos.assets.create(tag('tag:vip', { name: 'VIP', matchName: 'vip', firstSeenAt: T0, lastSeenAt: T0 }));
    await repos.assets.update(siteId, 'tag:vip', { kartraId: '17', name: 'V.I.P.', lastSeenAt: later(HOUR_MS) });
    const updated = await repos.assets.findByKey(siteId, 'tag:vip');
    expect(updated).toMatchObject({ kartraId: '17', name: 'V.I.P.', matchName: 'vip', firstSeenAt: T0, lastSeenAt: later(HOUR_MS) });

    await repos.assets.update(siteId, 'tag:vip', {});
    await repos.assets.update(siteId, 'tag:vip', { name: undefined });
    await repos.assets.update(otherSiteId, 'tag:vip', { name: 'Elsewhere' });
    expect(await repos.assets.findByKey(siteId, 'tag:vip')).toEqual(updated);

    await repos.assets.update(siteId, 'tag:vip', { firstSeenAt: null, matchName: null });
    expect(await repos.assets.findByKey(siteId, 'tag:vip')).toMatchObject({ firstSeenAt: null, matchName: null });
  });

  describe('finding', () => {
    it("finds a tag or level by Kartra's id, of its kind and site only, the first by key when several match", async () => {
      await repos.assets.create(tag('tag:b', { kartraId: '5' }));
      await repos.assets.create(tag('tag:a', { kartraId: '5' }));
      await repos.assets.create(level('membership:m1:5', { kartraId: '5', membershipId: 'm1' }));
      await repos.assets.create({ ...tag('tag:elsewhere', { kartraId: '6' }), siteId: otherSiteId });

      expect((await repos.assets.findByKartraId(siteId, 'tag', '5', null))?.key).toBe('tag:a');
      expect((await repos.assets.findByKartraId(siteId, 'membership', '5', null))?.key).toBe('membership:m1:5');
      expect(await repos.assets.findByKartraId(siteId, 'tag', '6', null)).toBeNull();
      expect(await repos.assets.findByKartraId(siteId, 'membership', '7', null)).toBeNull();
    });

    it('finds a level by id within its membership, or stored without one, preferring its own membership', async () => {
      await repos.assets.create(level('membership:m1:9', { kartraId: '9', membershipId: 'm1' }));
      await repos.assets.create(level('membership:m2:9', { kartraId: '9', membershipId: 'm2' }));
      await repos.assets.create(level('membership::8', { kartraId: '8', membershipId: null }));
      await repos.assets.setLevels(siteId, 'membership:m2:9', [silver, gold], T0);

      expect(await repos.assets.findByKartraId(siteId, 'membership', '9', 'm2')).toMatchObject({ key: 'membership:m2:9', levelIds: [gold, silver].sort((a, b) => a - b) });
      expect((await repos.assets.findByKartraId(siteId, 'membership', '9', 'm1'))?.key).toBe('membership:m1:9');
      expect(await repos.assets.findByKartraId(siteId, 'membership', '9', 'm3')).toBeNull();
      // Null matches any membership: the first by key.
      expect((await repos.assets.findByKartraId(siteId, 'membership', '9', null))?.key).toBe('membership:m1:9');
      // A level stored without its membership matches any.
      expect((await repos.assets.findByKartraId(siteId, 'membership', '8', 'm1'))?.key).toBe('membership::8');

      // With both, the level of the asked-for membership comes before the one stored without a membership.
      await repos.assets.create(level('membership::9', { kartraId: '9', membershipId: null }));
      expect((await repos.assets.findByKartraId(siteId, 'membership', '9', 'm2'))?.key).toBe('membership:m2:9');
      expect((await repos.assets.findByKartraId(siteId, 'membership', '9', 'm3'))?.key).toBe('membership::9');
    });

    it('finds the assets of a kind sharing a match name, oldest sighting first, never-seen last, then by key', async () => {
      const name = 'academy / pro';
      await repos.assets.create(level('membership:m1:late', { matchName: name, firstSeenAt: later(2 * HOUR_MS) }));
      await repos.assets.create(level('membership:m1:never-b', { matchName: name }));
      await repos.assets.create(level('membership:m1:early', { matchName: name, firstSeenAt: T0 }));
      await repos.assets.create(level('membership:m1:never-a', { matchName: name }));
      await repos.assets.create(tag('tag:academy / pro', { matchName: name, firstSeenAt: later(-HOUR_MS) }));
      await repos.assets.create({ ...level('membership:x', { matchName: name }), siteId: otherSiteId });
      await repos.assets.setLevels(siteId, 'membership:m1:early', [gold], T0);

      const found = await repos.assets.findByMatchName(siteId, 'membership', name);
      expect(keys(found)).toEqual(['membership:m1:early', 'membership:m1:late', 'membership:m1:never-a', 'membership:m1:never-b']);
      expect(found[0]?.levelIds).toEqual([gold]);
      expect(keys(await repos.assets.findByMatchName(siteId, 'tag', name))).toEqual(['tag:academy / pro']);
      expect(await repos.assets.findByMatchName(siteId, 'membership', 'ACADEMY / PRO')).toEqual([]);
    });
  });

  describe('mappings', () => {
    it('replaces the levels of an asset, ascending, and clears them', async () => {
      await repos.assets.create(tag('tag:vip'));
      await repos.assets.setLevels(siteId, 'tag:vip', [silver, gold], T0);
      expect((await repos.assets.findByKey(siteId, 'tag:vip'))?.levelIds).toEqual([gold, silver].sort((a, b) => a - b));

      await repos.assets.setLevels(siteId, 'tag:vip', [silver], T0);
      expect((await repos.assets.findByKey(siteId, 'tag:vip'))?.levelIds).toEqual([silver]);

      await repos.assets.clearLevels(siteId, 'tag:vip');
      expect((await repos.assets.findByKey(siteId, 'tag:vip'))?.levelIds).toEqual([]);
    });

    it('keeps a level mapped to an asset from being deleted', async () => {
      await repos.assets.create(tag('tag:vip'));
      await repos.assets.setLevels(siteId, 'tag:vip', [gold], T0);
      // ON DELETE RESTRICT: SQLite reports it as a trigger's constraint, PostgreSQL as a foreign key violation.
      await expect(repos.levels.delete(siteId, gold)).rejects.toMatchObject({ code: expect.stringMatching(/^(SQLITE_CONSTRAINT_(TRIGGER|FOREIGNKEY)|23503)$/) });
      await repos.assets.clearLevels(siteId, 'tag:vip');
      await repos.levels.delete(siteId, gold);
      expect(await repos.levels.findById(siteId, gold)).toBeNull();
    });

    it('lists mapped assets and all assets by kind, then membership and name without case, then key', async () => {
      const assets: [string, AssetKind, string | null, string | null][] = [
        ['tag:zeta', 'tag', null, 'zeta'],
        ['tag:Alpha', 'tag', null, 'Alpha'],
        ['tag:beta', 'tag', null, 'beta'],
        ['tag:beta-2', 'tag', null, 'Beta'],
        ['tag:unnamed', 'tag', null, null],
        ['tag:gamma', 'tag', null, 'Gamma'],
        ['tag:Gamma', 'tag', null, 'gamma'],
        ['tag:éclair', 'tag', null, 'Éclair'],
        ['membership:2:a', 'membership', 'academy', 'Zed'],
        ['membership:1:b', 'membership', 'Academy', 'basic'],
        ['membership:3:c', 'membership', 'Bootcamp', 'Advanced'],
        ['membership::d', 'membership', null, 'Loose'],
      ];
      for (const [key, kind, membershipName, name] of assets) await repos.assets.create(tag(key, { kind, membershipName, name }));
      for (const [key] of assets) await repos.assets.setLevels(siteId, key, [gold], T0);
      await repos.assets.setLevels(siteId, 'tag:beta', [gold, silver], T0);
      await repos.assets.create(tag('tag:aaa-unmapped', { name: 'aaa', firstSeenAt: T0 }));
      await repos.assets.create({ ...tag('tag:elsewhere'), siteId: otherSiteId });
      await repos.assets.setLevels(otherSiteId, 'tag:elsewhere', [gold], T0);

      // 'membership' before 'tag'; a level without a membership name first among levels; the key breaks the tie
      // between "beta" and "Beta", bytewise ("tag:Gamma" before "tag:gamma"). Only ASCII letters are folded, as SQLite's
      // lower() does: "Éclair" sorts after every ASCII name, on PostgreSQL too whatever its collation.
      const expected = [
        'membership::d',
        'membership:1:b',
        'membership:2:a',
        'membership:3:c',
        'tag:unnamed',
        'tag:Alpha',
        'tag:beta',
        'tag:beta-2',
        'tag:Gamma',
        'tag:gamma',
        'tag:zeta',
        'tag:éclair',
      ];
      const mapped = await repos.assets.listMapped(siteId);
      expect(keys(mapped)).toEqual(expected);
      expect(mapped.find((asset) => asset.key === 'tag:beta')?.levelIds).toEqual([gold, silver].sort((a, b) => a - b));

      const all = await repos.assets.listAll(siteId);
      expect(keys(all)).toEqual([...expected.slice(0, 5), 'tag:aaa-unmapped', ...expected.slice(5)]);
      expect(all.find((asset) => asset.key === 'tag:aaa-unmapped')?.levelIds).toEqual([]);
    });

    it('lists discovered assets (no levels, seen by an event) latest sighting first, then by key', async () => {
      await repos.assets.create(tag('tag:early', { firstSeenAt: T0, lastSeenAt: T0 }));
      await repos.assets.create(tag('tag:late-b', { firstSeenAt: T0, lastSeenAt: later(2 * HOUR_MS) }));
      await repos.assets.create(level('membership:late-a', { firstSeenAt: T0, lastSeenAt: later(2 * HOUR_MS) }));
      await repos.assets.create(tag('tag:middle', { firstSeenAt: later(-HOUR_MS), lastSeenAt: later(HOUR_MS) }));
      await repos.assets.create(tag('tag:admin-named'));
      await repos.assets.create(tag('tag:mapped', { firstSeenAt: T0, lastSeenAt: later(3 * HOUR_MS) }));
      await repos.assets.setLevels(siteId, 'tag:mapped', [gold], T0);
      await repos.assets.create({ ...tag('tag:elsewhere', { firstSeenAt: T0, lastSeenAt: T0 }), siteId: otherSiteId });

      expect(keys(await repos.assets.listDiscovered(siteId))).toEqual(['membership:late-a', 'tag:late-b', 'tag:middle', 'tag:early']);

      // A cleared mapping makes its asset discovered again.
      await repos.assets.clearLevels(siteId, 'tag:mapped');
      expect(keys(await repos.assets.listDiscovered(siteId))).toEqual(['tag:mapped', 'membership:late-a', 'tag:late-b', 'tag:middle', 'tag:early']);
    });

    it('lists the keys of the assets mapped to a level, on its site', async () => {
      for (const key of ['tag:b', 'membership:a', 'tag:a', 'tag:C']) {
        await repos.assets.create(tag(key));
        await repos.assets.setLevels(siteId, key, [gold], T0);
      }
      await repos.assets.create(tag('tag:silver'));
      await repos.assets.setLevels(siteId, 'tag:silver', [silver], T0);

      // Bytewise, as SQLite compares text: uppercase before lowercase.
      expect(await repos.assets.keysForLevel(siteId, gold)).toEqual(['membership:a', 'tag:C', 'tag:a', 'tag:b']);
      expect(await repos.assets.keysForLevel(siteId, silver)).toEqual(['tag:silver']);
      expect(await repos.assets.keysForLevel(otherSiteId, gold)).toEqual([]);
    });
  });

  describe('facts', () => {
    it('records one fact per event, whatever is recorded again for it, and reads a member’s facts of an asset in receipt order', async () => {
      const member = await buildMember();
      const other = await buildMember();
      const [e1, e2, e3, e4] = [await receive(), await receive(), await receive(), await receive()];
      await repos.assetFacts.record({ siteId, memberId: member.id, assetKey: 'tag:vip', change: 'removed', occurredAt: null, receivedAt: later(HOUR_MS), eventId: e3 });
      await repos.assetFacts.record({ siteId, memberId: member.id, assetKey: 'tag:vip', change: 'assigned', occurredAt: T0, receivedAt: T0, eventId: e1 });
      // The same event again (a re-apply): nothing new, even when it now reads otherwise.
      await repos.assetFacts.record({ siteId, memberId: member.id, assetKey: 'tag:vip', change: 'removed', occurredAt: null, receivedAt: T0, eventId: e1 });
      await repos.assetFacts.record({ siteId, memberId: member.id, assetKey: 'tag:other', change: 'assigned', occurredAt: null, receivedAt: T0, eventId: e2 });
      await repos.assetFacts.record({ siteId, memberId: other.id, assetKey: 'tag:vip', change: 'assigned', occurredAt: null, receivedAt: T0, eventId: e4 });

      const facts = await repos.assetFacts.forMemberAsset(siteId, member.id, 'tag:vip');
      expect(facts).toEqual([
        { id: expect.any(Number), siteId, memberId: member.id, assetKey: 'tag:vip', change: 'assigned', occurredAt: T0, receivedAt: T0, eventId: e1 },
        { id: expect.any(Number), siteId, memberId: member.id, assetKey: 'tag:vip', change: 'removed', occurredAt: null, receivedAt: later(HOUR_MS), eventId: e3 },
      ]);
      expect(await repos.assetFacts.forMemberAsset(otherSiteId, member.id, 'tag:vip')).toEqual([]);
    });

    it('lists the members with any fact of an asset, ascending and once each', async () => {
      const first = await buildMember();
      const second = await buildMember();
      await buildMember();
      const facts = [
        [second.id, 'tag:vip', 'assigned'],
        [first.id, 'tag:vip', 'assigned'],
        [second.id, 'tag:vip', 'removed'],
        [first.id, 'tag:other', 'assigned'],
      ] as const;
      for (const [index, [memberId, assetKey, change]] of facts.entries()) {
        await repos.assetFacts.record({ siteId, memberId, assetKey, change, occurredAt: null, receivedAt: T0, eventId: 1000 + index });
      }

      expect(await repos.assetFacts.membersForAsset(siteId, 'tag:vip')).toEqual([first.id, second.id]);
      expect(await repos.assetFacts.membersForAsset(siteId, 'tag:none')).toEqual([]);
      expect(await repos.assetFacts.membersForAsset(otherSiteId, 'tag:vip')).toEqual([]);
    });
  });

  it('lists the active grants of one source key across members, oldest first', async () => {
    const grant = (memberId: number, overrides: Partial<NewGrant>): NewGrant => ({
      siteId,
      memberId,
      levelId: gold,
      sourceType: 'tag',
      sourceKey: 'tag:vip',
      productId: null,
      transactionId: null,
      subscriptionId: null,
      status: 'active',
      revokedReason: null,
      expiresAt: null,
      createdAt: T0,
      ...overrides,
    });
    const ann = await buildMember();
    const bob = await buildMember();
    const first = await repos.grants.create(grant(bob.id, {}));
    const second = await repos.grants.create(grant(ann.id, {}));
    const third = await repos.grants.create(grant(ann.id, { levelId: silver }));
    await repos.grants.create(grant(bob.id, { levelId: silver, status: 'revoked', revokedReason: 'tag removed' }));
    await repos.grants.create(grant(ann.id, { sourceKey: 'tag:other' }));

    expect((await repos.grants.activeForSource(siteId, 'tag:vip')).map((row) => row.id)).toEqual([first.id, second.id, third.id]);
    expect(await repos.grants.activeForSource(siteId, 'tag:vip')).toContainEqual(second);
    expect(await repos.grants.activeForSource(otherSiteId, 'tag:vip')).toEqual([]);
  });
});

describe(`the event log about assets on ${testEngine}`, () => {
  const ids = (rows: { id: number }[]) => rows.map((row) => row.id);

  it('stores the asset key of an event and gives it back in the record and the log', async () => {
    const id = await receive({ assetKey: 'tag:vip', leadId: 'L1' });
    expect(await repos.events.findById(siteId, id)).toMatchObject({ assetKey: 'tag:vip', productId: null });
    expect(await repos.events.list(siteId, { limit: 10 })).toEqual([expect.objectContaining({ id, assetKey: 'tag:vip' })]);

    // A later outcome that does not name the asset leaves it; one that does changes it.
    await repos.events.recordOutcome(siteId, id, { status: 'failed', processedAt: T0 });
    expect((await repos.events.findById(siteId, id))?.assetKey).toBe('tag:vip');
    await repos.events.recordOutcome(siteId, id, { status: 'applied', assetKey: null, processedAt: T0 });
    expect((await repos.events.findById(siteId, id))?.assetKey).toBeNull();
  });

  it('filters the log by asset, alone and with a status, a time range and paging', async () => {
    const vip1 = await receive({ assetKey: 'tag:vip', receivedAt: later(-2 * HOUR_MS) });
    const other = await receive({ assetKey: 'tag:other' });
    const vip2 = await receive({ assetKey: 'tag:vip', status: 'unmapped' });
    const vip3 = await receive({ assetKey: 'tag:vip', receivedAt: later(HOUR_MS) });
    await receive({ assetKey: 'tag:vip', siteId: otherSiteId });

    const list = async (query: Omit<Parameters<Repositories['events']['list']>[1], 'limit'>, limit = 10) => ids(await repos.events.list(siteId, { ...query, limit }));
    expect(await list({ assetKey: 'tag:vip' })).toEqual([vip3, vip2, vip1]);
    expect(await list({ assetKey: 'tag:other' })).toEqual([other]);
    expect(await list({ assetKey: 'tag:none' })).toEqual([]);
    expect(await list({ assetKey: 'tag:vip', statuses: ['applied'] })).toEqual([vip3, vip1]);
    expect(await list({ assetKey: 'tag:vip', since: later(-HOUR_MS) })).toEqual([vip3, vip2]);
    expect(await list({ assetKey: 'tag:vip', since: later(-HOUR_MS), until: T0 })).toEqual([vip2]);
    expect(await list({ assetKey: 'tag:vip', statuses: ['applied', 'unmapped'], until: T0 })).toEqual([vip2, vip1]);
    expect(await list({ assetKey: 'tag:vip' }, 2)).toEqual([vip3, vip2]);
    expect(await list({ assetKey: 'tag:vip', beforeId: vip2 }, 2)).toEqual([vip1]);
  });

  it('lists the ids to re-apply of one asset, in receipt order, leaving out pruned bodies', async () => {
    const pruned = await receive({ status: 'unmapped', assetKey: 'tag:vip', receivedAt: later(-3 * HOUR_MS) });
    const e1 = await receive({ status: 'unmapped', assetKey: 'tag:vip' });
    await receive({ status: 'unmapped', assetKey: 'tag:other' });
    const e2 = await receive({ status: 'failed', assetKey: 'tag:vip', receivedAt: later(HOUR_MS) });
    await receive({ status: 'applied', assetKey: 'tag:vip' });
    expect(await repos.retention.pruneRawBodies(siteId, later(-2 * HOUR_MS), T0, 10)).toBe(1);

    expect(await repos.events.idsForReapply(siteId, { statuses: ['unmapped', 'failed'], assetKey: 'tag:vip' })).toEqual([e1, e2]);
    expect(await repos.events.idsForReapply(siteId, { statuses: ['unmapped'], assetKey: 'tag:vip' })).toEqual([e1]);
    expect(await repos.events.idsForReapply(siteId, { statuses: ['unmapped', 'failed'], assetKey: 'tag:vip', since: later(30 * 60 * 1000) })).toEqual([e2]);
    expect(await repos.events.idsForReapply(siteId, { statuses: ['unmapped'] })).not.toContain(pruned);
  });

  it('counts events and distinct people (lead id, else email) per asset, leaving duplicates out', async () => {
    await receive({ assetKey: 'tag:vip', leadId: 'L1', email: 'a@example.com' });
    await receive({ assetKey: 'tag:vip', leadId: 'L1', email: 'a@example.com', action: 'unassign_tag' });
    await receive({ assetKey: 'tag:vip', leadId: null, email: 'b@example.com', status: 'unmapped' });
    await receive({ assetKey: 'tag:vip', leadId: 'L2', email: 'b@example.com', status: 'ignored' });
    await receive({ assetKey: 'tag:vip', leadId: 'L3', status: 'duplicate' });
    await receive({ assetKey: 'tag:other', leadId: 'L1' });
    await receive({ assetKey: 'tag:unasked', leadId: 'L1' });
    await receive({ assetKey: 'tag:vip', leadId: 'L9', siteId: otherSiteId });

    const activity = await repos.events.assetActivity(siteId, ['tag:vip', 'tag:other', 'tag:none']);
    expect([...activity].sort((a, b) => a.assetKey.localeCompare(b.assetKey))).toEqual([
      { assetKey: 'tag:other', eventCount: 1, leadCount: 1 },
      { assetKey: 'tag:vip', eventCount: 4, leadCount: 3 },
    ]);
    expect(await repos.events.assetActivity(siteId, [])).toEqual([]);
  });

  it('counts the unmapped events of an asset that can still be re-applied, and their people, apart from products', async () => {
    await receive({ status: 'unmapped', assetKey: 'tag:vip', leadId: 'L1', email: 'a@example.com' });
    await receive({ status: 'unmapped', assetKey: 'tag:vip', leadId: 'L1', email: 'a@example.com' });
    await receive({ status: 'unmapped', assetKey: 'tag:vip', leadId: null, email: 'b@example.com' });
    await receive({ status: 'applied', assetKey: 'tag:vip', leadId: 'L7' });
    await receive({ status: 'unmapped', assetKey: 'tag:other', leadId: 'L8' });
    await receive({ status: 'unmapped', assetKey: 'tag:vip', leadId: 'L-old', receivedAt: later(-3 * HOUR_MS) });
    await repos.retention.pruneRawBodies(siteId, later(-2 * HOUR_MS), T0, 10);

    const counts = await repos.events.countUnmapped(siteId, { assetKey: 'tag:vip' });
    expect(counts).toEqual({ events: 3, people: 2 });
    expect(typeof counts.people).toBe('number');
    expect(await repos.events.countUnmapped(siteId, { assetKey: 'tag:none' })).toEqual({ events: 0, people: 0 });
    // A product id that happens to equal the key counts none of them.
    expect(await repos.events.countUnmapped(siteId, { productId: 'tag:vip' })).toEqual({ events: 0, people: 0 });
  });

  describe('the previous event of a person about an asset', () => {
    it('is the newest before the given id whose outcome says something: applied, unmapped, ignored or rejected', async () => {
      const assigned = await receive({ assetKey: 'tag:vip', leadId: 'L1', action: 'assign_tag', receivedAt: later(-HOUR_MS) });
      const unmapped = await receive({ assetKey: 'tag:vip', leadId: 'L1', status: 'unmapped', action: 'unassign_tag' });
      for (const status of ['duplicate', 'failed', 'invalid', 'received'] as const) await receive({ assetKey: 'tag:vip', leadId: 'L1', status });
      const current = await receive({ assetKey: 'tag:vip', leadId: 'L1' });

      expect(await repos.events.latestAssetEvent(siteId, 'tag:vip', { leadId: 'L1' }, current)).toEqual({ id: unmapped, action: 'unassign_tag', receivedAt: T0 });
      expect(await repos.events.latestAssetEvent(siteId, 'tag:vip', { leadId: 'L1' }, unmapped)).toEqual({ id: assigned, action: 'assign_tag', receivedAt: later(-HOUR_MS) });
      expect(await repos.events.latestAssetEvent(siteId, 'tag:vip', { leadId: 'L1' }, assigned)).toBeNull();

      for (const status of ['ignored', 'rejected'] as const) {
        const id = await receive({ assetKey: 'tag:vip', leadId: 'L1', status });
        expect((await repos.events.latestAssetEvent(siteId, 'tag:vip', { leadId: 'L1' }, id + 1))?.id).toBe(id);
      }
    });

    it('is of that asset and person only: a lead by its id, a person without one by email', async () => {
      const byLead = await receive({ assetKey: 'tag:vip', leadId: 'L1', email: 'ann@example.com' });
      const byEmail = await receive({ assetKey: 'tag:vip', leadId: null, email: 'ann@example.com' });
      await receive({ assetKey: 'tag:other', leadId: 'L1', email: 'ann@example.com' });
      await receive({ assetKey: 'tag:vip', leadId: 'L2', email: 'bob@example.com' });
      await receive({ assetKey: 'tag:vip', leadId: 'L1', siteId: otherSiteId });
      const current = await receive({ assetKey: 'tag:vip', leadId: 'L3' });

      expect((await repos.events.latestAssetEvent(siteId, 'tag:vip', { leadId: 'L1' }, current))?.id).toBe(byLead);
      // The email matches only events without a lead id: the one with L1 is that lead's.
      expect((await repos.events.latestAssetEvent(siteId, 'tag:vip', { email: 'ann@example.com' }, current))?.id).toBe(byEmail);
      expect(await repos.events.latestAssetEvent(siteId, 'tag:vip', { email: 'ann@example.com' }, byEmail)).toBeNull();
      expect(await repos.events.latestAssetEvent(siteId, 'tag:vip', { email: 'bob@example.com' }, current)).toBeNull();
      expect(await repos.events.latestAssetEvent(siteId, 'tag:other', { leadId: 'L2' }, current)).toBeNull();
      expect(await repos.events.latestAssetEvent(otherSiteId, 'tag:vip', { leadId: 'L1' }, current + 1)).not.toBeNull();
    });
  });
});

describe(`databases from before a migration on ${testEngine}`, () => {
  /** The migrations folder as it was before the migration tagged `…_<suffix>`: the files copied, the journal cut there. */
  function migrationsBefore(folder: string, suffix: string): { dir: string; remove(): void } {
    const dir = mkdtempSync(join(tmpdir(), 'kartra-access-migrations-'));
    cpSync(folder, dir, { recursive: true });
    const journalPath = join(dir, 'meta', '_journal.json');
    const journal = JSON.parse(readFileSync(journalPath, 'utf8')) as { entries: { tag: string }[] };
    const cut = journal.entries.findIndex((entry) => entry.tag.endsWith(`_${suffix}`));
    expect(cut).toBeGreaterThan(0);
    writeFileSync(journalPath, JSON.stringify({ ...journal, entries: journal.entries.slice(0, cut) }));
    return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
  }

  it('gives a site that existed before it tag and membership access', async () => {
    const database = await createEmptyDatabase();
    const before = migrationsBefore(testEngine === 'sqlite' ? MIGRATIONS_FOLDER : PG_MIGRATIONS_FOLDER, 'kartra_assets');
    try {
      if (testEngine === 'sqlite') {
        const sqlite = new Database(database.path ?? '');
        migrateSqlite(drizzleSqlite(sqlite), { migrationsFolder: before.dir });
        sqlite.prepare("insert into sites (key, name, created_at) values ('old', 'Old', ?)").run(T0.getTime());
        sqlite.close();
        const opened = openDatabase(database.path ?? '');
        try {
          expect(await opened.repos.sites.findByKey('old')).toMatchObject({ key: 'old', tagAccess: true, membershipAccess: true });
        } finally {
          opened.close();
        }
      } else {
        const pool = new Pool({ connectionString: database.url });
        try {
          await migratePg(drizzlePg(pool), { migrationsFolder: before.dir });
          await pool.query("insert into sites (key, name, created_at) values ('old', 'Old', $1)", [T0.getTime()]);
        } finally {
          await pool.end();
        }
        const opened = await openPostgres(database.url ?? '', { poolSize: 1, statementTimeoutMs: 10_000 });
        try {
          expect(await opened.repos.sites.findByKey('old')).toMatchObject({ key: 'old', tagAccess: true, membershipAccess: true });
        } finally {
          await opened.close();
        }
      }
    } finally {
      before.remove();
      await database.drop();
    }
  });

  it('keeps a shared email on its first member when the per-site unique email index arrives', async () => {
    const database = await createEmptyDatabase();
    const before = migrationsBefore(testEngine === 'sqlite' ? MIGRATIONS_FOLDER : PG_MIGRATIONS_FOLDER, 'unique_member_email');
    // Two members of site 1 on one email (a lead moved to an email another member had), one on site 2.
    const seed = [
      "insert into sites (key, name, created_at) values ('one', 'One', 1), ('two', 'Two', 1)",
      "insert into members (site_id, kartra_lead_id, email, created_at, updated_at) values (1, 'L1', 'shared@example.org', 1, 1), (1, 'L2', 'shared@example.org', 2, 2), (1, 'L3', 'own@example.org', 3, 3), (2, 'L1', 'shared@example.org', 4, 4)",
    ];
    const rows = "select site_id as site, kartra_lead_id as lead, email from members order by id";
    let after: unknown[];
    try {
      if (testEngine === 'sqlite') {
        const sqlite = new Database(database.path ?? '');
        migrateSqlite(drizzleSqlite(sqlite), { migrationsFolder: before.dir });
        for (const statement of seed) sqlite.prepare(statement).run();
        sqlite.close();
        openDatabase(database.path ?? '').close();
        const check = new Database(database.path ?? '');
        after = check.prepare(rows).all();
        check.close();
      } else {
        const pool = new Pool({ connectionString: database.url });
        try {
          await migratePg(drizzlePg(pool), { migrationsFolder: before.dir });
          for (const statement of seed) await pool.query(statement);
          await (await openPostgres(database.url ?? '', { poolSize: 1, statementTimeoutMs: 10_000 })).close();
          after = (await pool.query(rows)).rows;
        } finally {
          await pool.end();
        }
      }
      expect(after).toEqual([
        { site: 1, lead: 'L1', email: 'shared@example.org' },
        { site: 1, lead: 'L2', email: null },
        { site: 1, lead: 'L3', email: 'own@example.org' },
        { site: 2, lead: 'L1', email: 'shared@example.org' },
      ]);
    } finally {
      before.remove();
      await database.drop();
    }
  });
});
