import type { Member } from '../../../src/domain/model';
import type { NewGrant, Repositories } from '../../../src/domain/ports';
import { createTestStorage, testEngine, type TestStorage, expectUniqueViolation } from '../../support/storage';

// The member, product and grant ports as the domain sees them, on whichever engine TEST_ENGINE picks: both adapters
// must answer every case here alike.

const at = (iso: string) => new Date(iso);
const CREATED = at('2025-07-01T12:00:00.000Z');

/**
 * Lets `parties` units of work meet before their writes, so on PostgreSQL they really overlap. SQLite runs units one
 * at a time, so there the first gives up waiting after `timeoutMs` and the race becomes a sequence, as it is there.
 */
function meetingPoint(parties: number, timeoutMs = 300): () => Promise<void> {
  let arrived = 0;
  let release: () => void = () => undefined;
  const everyone = new Promise<void>((resolve) => (release = resolve));
  return async () => {
    arrived += 1;
    if (arrived >= parties) release();
    await Promise.race([everyone, new Promise((resolve) => setTimeout(resolve, timeoutMs))]);
  };
}

describe(`members, products and grants through the ports (${testEngine})`, () => {
  let storage: TestStorage;
  let repos: Repositories;
  let siteId: number;
  let otherSiteId: number;
  let gold: number;
  let silver: number;

  beforeEach(async () => {
    storage = await createTestStorage();
    repos = storage.repos;
    siteId = (await repos.sites.create({ key: 'main', name: 'Main', createdAt: CREATED })).id;
    otherSiteId = (await repos.sites.create({ key: 'other', name: 'Other', createdAt: CREATED })).id;
    gold = (await repos.levels.create(siteId, 'Gold', CREATED)).id;
    silver = (await repos.levels.create(siteId, 'Silver', CREATED)).id;
  });

  afterEach(async () => {
    await storage.close();
  });

  let leadCounter = 0;
  function buildMember(overrides: Partial<Omit<Member, 'id'>> = {}): Promise<Member> {
    leadCounter += 1;
    return repos.members.create({
      siteId,
      kartraLeadId: `lead-${leadCounter}`,
      email: `person${leadCounter}@example.com`,
      firstName: null,
      lastName: null,
      createdAt: CREATED,
      updatedAt: CREATED,
      ...overrides,
    });
  }

  function newGrant(memberId: number, overrides: Partial<NewGrant> = {}): NewGrant {
    return {
      siteId,
      memberId,
      levelId: gold,
      sourceType: 'purchase',
      sourceKey: 'txn:1',
      productId: 'course',
      transactionId: '1',
      subscriptionId: null,
      status: 'active',
      revokedReason: null,
      expiresAt: null,
      createdAt: CREATED,
      ...overrides,
    };
  }

  describe('members', () => {
    it('creates a member and finds it by lead id, email and id, on its own site only', async () => {
      const created = await buildMember({ kartraLeadId: 'L1', email: 'ada@example.org', firstName: 'Ada', lastName: 'Lovelace' });
      expect(created).toEqual({
        id: expect.any(Number),
        siteId,
        kartraLeadId: 'L1',
        email: 'ada@example.org',
        firstName: 'Ada',
        lastName: 'Lovelace',
        createdAt: CREATED,
        updatedAt: CREATED,
      });

      expect(await repos.members.findByLeadId(siteId, 'L1')).toEqual(created);
      expect(await repos.members.findByEmail(siteId, 'ada@example.org')).toEqual(created);
      expect(await repos.members.findById(siteId, created.id)).toEqual(created);

      expect(await repos.members.findByLeadId(otherSiteId, 'L1')).toBeNull();
      expect(await repos.members.findByEmail(otherSiteId, 'ada@example.org')).toBeNull();
      expect(await repos.members.findById(otherSiteId, created.id)).toBeNull();
      expect(await repos.members.findByLeadId(siteId, 'L2')).toBeNull();
      expect(await repos.members.findById(siteId, created.id + 1000)).toBeNull();
    });

    it('refuses a second member with the same email on a site, but not on another site, nor two without one', async () => {
      const first = await buildMember({ email: 'shared@example.org' });
      await expectUniqueViolation(buildMember({ email: 'shared@example.org' }));
      await expect(buildMember({ siteId: otherSiteId, email: 'shared@example.org' })).resolves.toMatchObject({ siteId: otherSiteId });
      await buildMember({ email: null, kartraLeadId: 'L7' });
      await buildMember({ email: null, kartraLeadId: 'L8' });
      expect((await repos.members.findByEmail(siteId, 'shared@example.org'))?.id).toBe(first.id);
      // Emails are compared exactly: the domain normalises them (trimmed, lower case) before they reach the port.
      expect(await repos.members.findByEmail(siteId, 'SHARED@example.org')).toBeNull();
    });

    it('refuses a second member with the same lead id on a site, but not on another site', async () => {
      await buildMember({ kartraLeadId: 'L1' });
      await expectUniqueViolation(buildMember({ kartraLeadId: 'L1' }));
      await expect(buildMember({ siteId: otherSiteId, kartraLeadId: 'L1' })).resolves.toMatchObject({ siteId: otherSiteId });
    });

    it('updates only the fields it is given, and nothing when given none', async () => {
      const member = await buildMember({ email: 'old@example.org', firstName: 'Ada', lastName: 'Lovelace' });
      const later = at('2025-07-02T08:00:00.000Z');
      await repos.members.update(siteId, member.id, { email: 'new@example.org', lastName: null, updatedAt: later });
      expect(await repos.members.findById(siteId, member.id)).toEqual({ ...member, email: 'new@example.org', lastName: null, updatedAt: later });

      await repos.members.update(siteId, member.id, {});
      await repos.members.update(siteId, member.id, { firstName: undefined });
      expect(await repos.members.findById(siteId, member.id)).toEqual({ ...member, email: 'new@example.org', lastName: null, updatedAt: later });

      // Scoped by site: the same id on another site changes nothing.
      await repos.members.update(otherSiteId, member.id, { firstName: 'Mallory' });
      expect((await repos.members.findById(siteId, member.id))?.firstName).toBe('Ada');
    });

    it('records email changes and lists them oldest first, per member and site', async () => {
      const member = await buildMember();
      const other = await buildMember();
      await repos.members.recordEmailChange({ siteId, memberId: member.id, previousEmail: null, newEmail: 'a@example.org', eventId: 7, changedAt: at('2025-07-02T00:00:00.000Z') });
      await repos.members.recordEmailChange({ siteId, memberId: member.id, previousEmail: 'a@example.org', newEmail: 'b@example.org', eventId: null, changedAt: at('2025-07-01T00:00:00.000Z') });
      await repos.members.recordEmailChange({ siteId, memberId: other.id, previousEmail: 'x@example.org', newEmail: 'y@example.org', eventId: 8, changedAt: CREATED });

      expect(await repos.members.emailChanges(siteId, member.id)).toEqual([
        { id: expect.any(Number), memberId: member.id, previousEmail: null, newEmail: 'a@example.org', eventId: 7, changedAt: at('2025-07-02T00:00:00.000Z') },
        { id: expect.any(Number), memberId: member.id, previousEmail: 'a@example.org', newEmail: 'b@example.org', eventId: null, changedAt: at('2025-07-01T00:00:00.000Z') },
      ]);
      expect(await repos.members.emailChanges(otherSiteId, member.id)).toEqual([]);
    });

    describe('search', () => {
      const ids = (members: Member[]) => members.map((member) => member.id);

      it('matches emails, first, last and full names in any letter case, on its own site', async () => {
        const ada = await buildMember({ email: 'countess@example.org', firstName: 'Ada', lastName: 'Lovelace' });
        const grace = await buildMember({ email: 'grace@navy.example', firstName: 'Grace', lastName: 'Hopper' });
        await buildMember({ siteId: otherSiteId, email: 'ada@elsewhere.example', firstName: 'Ada', lastName: 'Lovelace' });

        const search = async (query: string) => ids(await repos.members.search(siteId, { query, limit: 10 }));
        expect(await search('ADA')).toEqual([ada.id]);
        expect(await search('lOvElAcE')).toEqual([ada.id]);
        expect(await search('ada love')).toEqual([ada.id]);
        expect(await search('e h')).toEqual([grace.id]);
        expect(await search('EXAMPLE')).toEqual([ada.id, grace.id]);
        expect(await search('  navy.EXAMPLE  ')).toEqual([grace.id]);
        expect(await search('nobody')).toEqual([]);
      });

      it('treats %, _ and \\ in the search text as the characters themselves', async () => {
        const percent = await buildMember({ firstName: '100% Pure' });
        await buildMember({ firstName: '100 Pure' });
        await buildMember({ firstName: '1000 Pure' });
        const underscore = await buildMember({ lastName: 'a_b' });
        await buildMember({ lastName: 'axb' });
        const backslash = await buildMember({ lastName: 'back\\slash' });
        await buildMember({ lastName: 'backslash' });

        const search = async (query: string) => ids(await repos.members.search(siteId, { query, limit: 10 }));
        expect(await search('100%')).toEqual([percent.id]);
        expect(await search('0% P')).toEqual([percent.id]);
        expect(await search('A_B')).toEqual([underscore.id]);
        expect(await search('K\\S')).toEqual([backslash.id]);
      });

      it('matches a full name only when both names are present, and a lead id only exactly', async () => {
        const firstOnly = await buildMember({ kartraLeadId: 'K-42', firstName: 'Grace', lastName: null });
        const both = await buildMember({ kartraLeadId: 'K-43', firstName: 'Grace', lastName: 'Hopper' });

        const search = async (query: string) => ids(await repos.members.search(siteId, { query, limit: 10 }));
        expect(await search('Grace')).toEqual([firstOnly.id, both.id]);
        expect(await search('Grace H')).toEqual([both.id]);
        expect(await search('K-42')).toEqual([firstOnly.id]);
        expect(await search('k-42')).toEqual([]);
        expect(await search('K-4')).toEqual([]);
      });

      it('filters by an exact email, given in any case and with spaces around it', async () => {
        const ada = await buildMember({ email: 'ada@example.org', firstName: 'Ada' });
        await buildMember({ email: 'ada@example.org.uk', firstName: 'Ada' });
        expect(ids(await repos.members.search(siteId, { email: '  ADA@Example.org ', limit: 10 }))).toEqual([ada.id]);
        expect(ids(await repos.members.search(siteId, { email: 'ada@example.org', query: 'nobody', limit: 10 }))).toEqual([]);
        expect(ids(await repos.members.search(otherSiteId, { email: 'ada@example.org', limit: 10 }))).toEqual([]);
      });

      it('pages through the matches in id order with the last id shown', async () => {
        const matching: number[] = [];
        for (let index = 0; index < 5; index++) {
          matching.push((await buildMember({ firstName: `Match ${index}` })).id);
          await buildMember({ firstName: `Other ${index}` });
        }
        const page = async (afterId?: number) => ids(await repos.members.search(siteId, { query: 'match', limit: 2, afterId }));
        expect(await page()).toEqual(matching.slice(0, 2));
        expect(await page(matching[1])).toEqual(matching.slice(2, 4));
        expect(await page(matching[3])).toEqual(matching.slice(4));
        expect(await page(matching[4])).toEqual([]);

        // Without a query every member of the site, still by id.
        const everyone = await repos.members.search(siteId, { limit: 3 });
        expect(everyone.map((member) => member.firstName)).toEqual(['Match 0', 'Other 0', 'Match 1']);
      });
    });
  });

  describe('products', () => {
    it('records a product when first seen and widens its seen times, keeping its name when none is sent', async () => {
      const t1 = at('2025-07-01T00:00:00.000Z');
      const t2 = at('2025-07-02T00:00:00.000Z');
      const t3 = at('2025-07-03T00:00:00.000Z');
      await repos.products.recordSeen(siteId, 'course', 'The Course', t2);
      expect(await repos.products.find(siteId, 'course')).toEqual({
        siteId,
        productId: 'course',
        kartraName: 'The Course',
        firstSeenAt: t2,
        lastSeenAt: t2,
        billingPeriodDays: null,
        levelIds: [],
      });

      await repos.products.recordSeen(siteId, 'course', undefined, t3);
      expect(await repos.products.find(siteId, 'course')).toMatchObject({ kartraName: 'The Course', firstSeenAt: t2, lastSeenAt: t3 });

      // Deliveries arrive out of order: an earlier sighting moves only the first seen time.
      await repos.products.recordSeen(siteId, 'course', undefined, t1);
      expect(await repos.products.find(siteId, 'course')).toMatchObject({ kartraName: 'The Course', firstSeenAt: t1, lastSeenAt: t3 });

      await repos.products.recordSeen(siteId, 'course', 'The Course, renamed', t2);
      expect(await repos.products.find(siteId, 'course')).toMatchObject({ kartraName: 'The Course, renamed', firstSeenAt: t1, lastSeenAt: t3 });

      expect(await repos.products.find(otherSiteId, 'course')).toBeNull();
      expect(await repos.products.find(siteId, 'unknown')).toBeNull();
    });

    it('ensures a bare product exists, and leaves a product it finds alone', async () => {
      await repos.products.ensure(siteId, 'admin-first');
      expect(await repos.products.find(siteId, 'admin-first')).toEqual({
        siteId,
        productId: 'admin-first',
        kartraName: null,
        firstSeenAt: null,
        lastSeenAt: null,
        billingPeriodDays: null,
        levelIds: [],
      });

      await repos.products.recordSeen(siteId, 'seen', 'Seen', CREATED);
      await repos.products.setLevels(siteId, 'seen', [gold], 30, CREATED);
      await repos.products.ensure(siteId, 'seen');
      expect(await repos.products.find(siteId, 'seen')).toMatchObject({ kartraName: 'Seen', firstSeenAt: CREATED, lastSeenAt: CREATED, billingPeriodDays: 30, levelIds: [gold] });
    });

    it('replaces the levels and the billing period of a product, and clears its levels', async () => {
      await repos.products.ensure(siteId, 'course');
      await repos.products.setLevels(siteId, 'course', [silver, gold], 30, CREATED);
      expect(await repos.products.find(siteId, 'course')).toMatchObject({ billingPeriodDays: 30, levelIds: [gold, silver].sort((a, b) => a - b) });

      await repos.products.setLevels(siteId, 'course', [silver], null, CREATED);
      expect(await repos.products.find(siteId, 'course')).toMatchObject({ billingPeriodDays: null, levelIds: [silver] });

      await repos.products.clearLevels(siteId, 'course');
      expect(await repos.products.find(siteId, 'course')).toMatchObject({ billingPeriodDays: null, levelIds: [] });
    });

    it('lists mapped products by product id, bytewise, and discovered ones latest seen first, never-seen last', async () => {
      await repos.products.recordSeen(siteId, 'b-course', 'B', at('2025-07-01T00:00:00.000Z'));
      await repos.products.recordSeen(siteId, 'a-course', 'A', at('2025-07-02T00:00:00.000Z'));
      await repos.products.ensure(siteId, 'C-course');
      for (const productId of ['b-course', 'a-course', 'C-course']) await repos.products.setLevels(siteId, productId, [gold], null, CREATED);
      await repos.products.setLevels(siteId, 'b-course', [gold, silver], 7, CREATED);

      await repos.products.ensure(siteId, 'never-seen');
      await repos.products.recordSeen(siteId, 'seen-early', 'Early', at('2025-06-01T00:00:00.000Z'));
      await repos.products.recordSeen(siteId, 'seen-late', 'Late', at('2025-07-05T00:00:00.000Z'));
      await repos.products.recordSeen(otherSiteId, 'elsewhere', 'Elsewhere', at('2025-07-09T00:00:00.000Z'));

      const mapped = await repos.products.listMapped(siteId);
      // Uppercase sorts before lowercase bytewise, as SQLite orders text.
      expect(mapped.map((product) => [product.productId, product.levelIds])).toEqual([
        ['C-course', [gold]],
        ['a-course', [gold]],
        ['b-course', [gold, silver].sort((a, b) => a - b)],
      ]);
      expect(mapped[2]).toMatchObject({ kartraName: 'B', billingPeriodDays: 7 });

      const discovered = await repos.products.listDiscovered(siteId);
      expect(discovered.map((product) => product.productId)).toEqual(['seen-late', 'seen-early', 'never-seen']);
      expect(discovered[0]).toEqual({
        siteId,
        productId: 'seen-late',
        kartraName: 'Late',
        firstSeenAt: at('2025-07-05T00:00:00.000Z'),
        lastSeenAt: at('2025-07-05T00:00:00.000Z'),
        billingPeriodDays: null,
        levelIds: [],
      });

      // A cleared mapping makes its product discovered again.
      await repos.products.clearLevels(siteId, 'a-course');
      expect((await repos.products.listMapped(siteId)).map((product) => product.productId)).toEqual(['C-course', 'b-course']);
      expect((await repos.products.listDiscovered(siteId)).map((product) => product.productId)).toEqual(['seen-late', 'a-course', 'seen-early', 'never-seen']);
    });

    it('lists the products mapped to a level, on its site', async () => {
      for (const productId of ['b-course', 'a-course']) {
        await repos.products.ensure(siteId, productId);
        await repos.products.setLevels(siteId, productId, [gold], null, CREATED);
      }
      await repos.products.ensure(siteId, 'silver-course');
      await repos.products.setLevels(siteId, 'silver-course', [silver], null, CREATED);

      expect(await repos.products.productIdsForLevel(siteId, gold)).toEqual(['a-course', 'b-course']);
      expect(await repos.products.productIdsForLevel(siteId, silver)).toEqual(['silver-course']);
      expect(await repos.products.productIdsForLevel(otherSiteId, gold)).toEqual([]);
    });

    it('gives two units mapping one product at once the levels of one of them, never a mix', async () => {
      await repos.products.recordSeen(siteId, 'course', 'Course', CREATED);
      await repos.products.setLevels(siteId, 'course', [gold], null, CREATED);
      const bronze = (await repos.levels.create(siteId, 'Bronze', CREATED)).id;
      const meet = meetingPoint(2);
      const map = (levelIds: number[]) =>
        storage.transaction(async (tx) => {
          await tx.products.ensure(siteId, 'course');
          await meet();
          await tx.products.setLevels(siteId, 'course', levelIds, null, CREATED);
        });
      await Promise.all([map([gold, silver]), map([silver, bronze])]);

      const levelIds = (await repos.products.find(siteId, 'course'))?.levelIds;
      expect([[gold, silver], [silver, bronze]].map((ids) => ids.sort((a, b) => a - b))).toContainEqual(levelIds);
    });

    it('lets two units ensure and map a new product at once', async () => {
      const map = (levelIds: number[], billingPeriodDays: number) =>
        storage.transaction(async (tx) => {
          await tx.products.ensure(siteId, 'new-course');
          await tx.products.setLevels(siteId, 'new-course', levelIds, billingPeriodDays, CREATED);
          return tx.products.find(siteId, 'new-course');
        });
      const [first, second] = await Promise.all([map([gold], 30), map([silver], 365)]);
      const stored = await repos.products.find(siteId, 'new-course');
      expect([first, second]).toContainEqual(stored);
      expect([{ levelIds: [gold], billingPeriodDays: 30 }, { levelIds: [silver], billingPeriodDays: 365 }]).toContainEqual({
        levelIds: stored?.levelIds,
        billingPeriodDays: stored?.billingPeriodDays,
      });
    });
  });

  describe('grants', () => {
    it('creates a grant and reads it back by id, source and member, on its own site only', async () => {
      const member = await buildMember();
      const expiresAt = at('2025-08-01T00:00:00.000Z');
      const grant = await repos.grants.create(newGrant(member.id, { subscriptionId: 'sub-1', sourceKey: 'sub:sub-1', expiresAt }));
      expect(grant).toEqual({
        id: expect.any(Number),
        siteId,
        memberId: member.id,
        levelId: gold,
        sourceType: 'purchase',
        sourceKey: 'sub:sub-1',
        productId: 'course',
        transactionId: '1',
        subscriptionId: 'sub-1',
        status: 'active',
        revokedReason: null,
        adminLocked: false,
        expiresAt,
        createdAt: CREATED,
        updatedAt: CREATED,
      });
      const manual = await repos.grants.create(newGrant(member.id, { levelId: silver, sourceType: 'manual', sourceKey: 'manual:1', productId: null, transactionId: null }));

      expect(await repos.grants.findById(siteId, grant.id)).toEqual(grant);
      expect(await repos.grants.findById(otherSiteId, grant.id)).toBeNull();
      expect(await repos.grants.forSource(siteId, 'sub:sub-1')).toEqual([grant]);
      expect(await repos.grants.forSource(otherSiteId, 'sub:sub-1')).toEqual([]);
      expect(await repos.grants.forMember(siteId, member.id)).toEqual([grant, manual]);
      expect(await repos.grants.forMember(otherSiteId, member.id)).toEqual([]);
    });

    it('refuses a second grant for the same member, source and level', async () => {
      const member = await buildMember();
      await repos.grants.create(newGrant(member.id));
      await expectUniqueViolation(repos.grants.create(newGrant(member.id, { status: 'revoked' })));
      await expect(repos.grants.create(newGrant(member.id, { levelId: silver }))).resolves.toMatchObject({ levelId: silver });
      expect(await repos.grants.forSource(siteId, 'txn:1')).toHaveLength(2);
    });

    it('updates status, reason, lock and end time, leaving what it is not given', async () => {
      const member = await buildMember();
      const grant = await repos.grants.create(newGrant(member.id));
      const revokedAt = at('2025-07-02T00:00:00.000Z');
      await repos.grants.update(siteId, grant.id, { status: 'revoked', revokedReason: 'refund', adminLocked: true }, revokedAt);
      expect(await repos.grants.findById(siteId, grant.id)).toEqual({ ...grant, status: 'revoked', revokedReason: 'refund', adminLocked: true, updatedAt: revokedAt });

      const endsAt = at('2025-09-01T00:00:00.000Z');
      const restoredAt = at('2025-07-03T00:00:00.000Z');
      await repos.grants.update(siteId, grant.id, { status: 'active', revokedReason: null, adminLocked: false, expiresAt: endsAt }, restoredAt);
      expect(await repos.grants.findById(siteId, grant.id)).toEqual({ ...grant, expiresAt: endsAt, updatedAt: restoredAt });

      const clearedAt = at('2025-07-04T00:00:00.000Z');
      await repos.grants.update(siteId, grant.id, { expiresAt: null }, clearedAt);
      expect(await repos.grants.findById(siteId, grant.id)).toEqual({ ...grant, expiresAt: null, updatedAt: clearedAt });

      // Scoped by site.
      await repos.grants.update(otherSiteId, grant.id, { status: 'revoked' }, clearedAt);
      expect((await repos.grants.findById(siteId, grant.id))?.status).toBe('active');
    });

    it('lists the grants of several members, each oldest first, and of a product the active ones', async () => {
      const ada = await buildMember();
      const grace = await buildMember();
      const alan = await buildMember();
      const graceGold = await repos.grants.create(newGrant(grace.id));
      const adaGold = await repos.grants.create(newGrant(ada.id));
      const adaSilver = await repos.grants.create(newGrant(ada.id, { levelId: silver, status: 'revoked', revokedReason: 'refund' }));
      const adaOther = await repos.grants.create(newGrant(ada.id, { sourceKey: 'txn:2', productId: 'other-course' }));
      const alanGold = await repos.grants.create(newGrant(alan.id));

      const listed = await repos.grants.forMembers(siteId, [grace.id, ada.id]);
      expect(listed.filter((grant) => grant.memberId === ada.id)).toEqual([adaGold, adaSilver, adaOther]);
      expect(listed.filter((grant) => grant.memberId === grace.id)).toEqual([graceGold]);
      expect(listed).toHaveLength(4);
      expect(await repos.grants.forMembers(siteId, [])).toEqual([]);
      expect(await repos.grants.forMembers(otherSiteId, [ada.id])).toEqual([]);

      const active = await repos.grants.activeForProduct(siteId, 'course');
      expect(active.sort((a, b) => a.id - b.id)).toEqual([graceGold, adaGold, alanGold]);
      expect(await repos.grants.activeForProduct(otherSiteId, 'course')).toEqual([]);
    });

    it('counts the members with active grants per level and every grant of a level, as numbers', async () => {
      const ada = await buildMember();
      const grace = await buildMember();
      const alan = await buildMember();
      await repos.grants.create(newGrant(ada.id));
      // A second active source of the same level: still one member.
      await repos.grants.create(newGrant(ada.id, { sourceKey: 'txn:2' }));
      await repos.grants.create(newGrant(grace.id));
      await repos.grants.create(newGrant(alan.id, { status: 'revoked', revokedReason: 'refund' }));
      await repos.grants.create(newGrant(alan.id, { levelId: silver }));
      const unused = (await repos.levels.create(siteId, 'Unused', CREATED)).id;

      expect(await repos.grants.countActiveByLevel(siteId)).toEqual([
        { levelId: gold, memberCount: 2 },
        { levelId: silver, memberCount: 1 },
      ]);
      expect(await repos.grants.countActiveByLevel(otherSiteId)).toEqual([]);
      expect(await repos.grants.countAnyForLevel(siteId, gold)).toBe(4);
      expect(await repos.grants.countAnyForLevel(siteId, silver)).toBe(1);
      expect(await repos.grants.countAnyForLevel(siteId, unused)).toBe(0);
      expect(await repos.grants.countAnyForLevel(otherSiteId, gold)).toBe(0);
    });

    it('counts the members with active grants per product, each member once', async () => {
      const ada = await buildMember();
      const grace = await buildMember();
      const alan = await buildMember();
      await repos.grants.create(newGrant(ada.id));
      // Two levels and a second order of the same product: still one member.
      await repos.grants.create(newGrant(ada.id, { levelId: silver }));
      await repos.grants.create(newGrant(ada.id, { sourceKey: 'txn:2' }));
      await repos.grants.create(newGrant(grace.id, { productId: 'workshop', sourceKey: 'txn:3' }));
      await repos.grants.create(newGrant(alan.id, { status: 'revoked', revokedReason: 'refund' }));
      await repos.grants.create(newGrant(alan.id, { productId: null, sourceType: 'manual', sourceKey: 'manual:1' }));

      const counts = await repos.grants.countActiveMembersByProduct(siteId, ['workshop', 'course', 'never-sold']);
      expect([...counts].sort((a, b) => a.productId.localeCompare(b.productId))).toEqual([
        { productId: 'course', memberCount: 1 },
        { productId: 'workshop', memberCount: 1 },
      ]);
      expect(await repos.grants.countActiveMembersByProduct(siteId, [])).toEqual([]);
      expect(await repos.grants.countActiveMembersByProduct(otherSiteId, ['course'])).toEqual([]);
    });

    it('finds active grants whose end has passed, across sites, soonest first, up to the limit', async () => {
      const now = at('2025-07-10T00:00:00.000Z');
      const member = await buildMember();
      const elsewhere = await buildMember({ siteId: otherSiteId });
      const otherGold = (await repos.levels.create(otherSiteId, 'Gold', CREATED)).id;
      const grant = (sourceKey: string, overrides: Partial<NewGrant>) => repos.grants.create(newGrant(member.id, { sourceKey, ...overrides }));

      const endedYesterday = await grant('txn:yesterday', { expiresAt: at('2025-07-09T00:00:00.000Z') });
      const endedLastWeek = await repos.grants.create(newGrant(elsewhere.id, { siteId: otherSiteId, levelId: otherGold, expiresAt: at('2025-07-03T00:00:00.000Z') }));
      const endsNow = await grant('txn:now', { expiresAt: now });
      await grant('txn:tomorrow', { expiresAt: at('2025-07-11T00:00:00.000Z') });
      await grant('txn:revoked', { expiresAt: at('2025-07-01T00:00:00.000Z'), status: 'revoked', revokedReason: 'refund' });
      await grant('txn:forever', { expiresAt: null });

      expect((await repos.grants.dueForExpiry(now, 10)).map((due) => due.id)).toEqual([endedLastWeek.id, endedYesterday.id, endsNow.id]);
      expect(await repos.grants.dueForExpiry(now, 2)).toEqual([endedLastWeek, endedYesterday]);
      expect(await repos.grants.dueForExpiry(at('2025-07-01T00:00:00.000Z'), 10)).toEqual([]);

      await repos.grants.update(siteId, endedYesterday.id, { status: 'revoked', revokedReason: 'expired' }, now);
      expect((await repos.grants.dueForExpiry(now, 10)).map((due) => due.id)).toEqual([endedLastWeek.id, endsNow.id]);
    });

    it('keeps the history of grants and answers it per member, per event and per change', async () => {
      const ada = await buildMember();
      const grace = await buildMember();
      const adaGrant = await repos.grants.create(newGrant(ada.id));
      const graceGrant = await repos.grants.create(newGrant(grace.id, { levelId: silver }));
      const entry = (grantId: number, memberId: number, levelId: number, change: 'granted' | 'revoked', eventId: number | null, iso: string) => ({
        siteId,
        grantId,
        memberId,
        levelId,
        change,
        reason: `${change} for the test`,
        eventId,
        actor: eventId === null ? 'admin@example.org' : 'kartra',
        at: at(iso),
      });
      const adaGranted = entry(adaGrant.id, ada.id, gold, 'granted', 101, '2025-07-02T00:00:00.000Z');
      const graceGranted = entry(graceGrant.id, grace.id, silver, 'granted', 101, '2025-07-02T00:00:00.000Z');
      const adaRevoked = entry(adaGrant.id, ada.id, gold, 'revoked', null, '2025-07-01T00:00:00.000Z');
      for (const item of [adaGranted, graceGranted, adaRevoked]) await repos.grants.addHistory(item);

      expect(await repos.grants.historyForMember(siteId, ada.id)).toEqual([
        { id: expect.any(Number), ...adaGranted },
        { id: expect.any(Number), ...adaRevoked },
      ]);
      expect(await repos.grants.historyForEvent(siteId, 101)).toEqual([
        { id: expect.any(Number), ...adaGranted },
        { id: expect.any(Number), ...graceGranted },
      ]);
      expect(await repos.grants.historyForMember(otherSiteId, ada.id)).toEqual([]);
      expect(await repos.grants.historyForEvent(siteId, 999)).toEqual([]);

      expect(await repos.grants.hasHistory(siteId, adaGrant.id, 'granted', 101)).toBe(true);
      expect(await repos.grants.hasHistory(siteId, adaGrant.id, 'revoked', 101)).toBe(false);
      expect(await repos.grants.hasHistory(siteId, adaGrant.id, 'granted', 102)).toBe(false);
      expect(await repos.grants.hasHistory(otherSiteId, adaGrant.id, 'granted', 101)).toBe(false);
    });

    it('gives two units creating the same grant at once one grant, which both return', async () => {
      const member = await buildMember();
      const meet = meetingPoint(2);
      const grantOnce = () =>
        storage.transaction(async (tx) => {
          const [existing] = await tx.grants.forSource(siteId, 'txn:1');
          await meet();
          return existing ?? tx.grants.create(newGrant(member.id));
        });
      const [first, second] = await Promise.all([grantOnce(), grantOnce()]);
      expect(first).toEqual(second);
      expect(await repos.grants.forSource(siteId, 'txn:1')).toEqual([first]);
    });
  });
});
