import type { AdminSession, Site } from '../../../src/domain/model';
import type { Repositories } from '../../../src/domain/ports';
import { createTestStorage, testEngine, type TestStorage, expectUniqueViolation } from '../../support/storage';

// The ports' contract for sites, webhook secrets, access levels, API tokens, admins and their sessions, as both
// adapters must keep it: the same test runs on SQLite (bare jest) and on PostgreSQL (TEST_ENGINE=postgres).

const at = (iso: string) => new Date(iso);
const T0 = at('2025-07-01T12:00:00.123Z');
const HOUR_MS = 60 * 60 * 1000;
const later = (ms: number, from: Date = T0) => new Date(from.getTime() + ms);

let storage: TestStorage;
let repos: Repositories;

beforeEach(async () => {
  storage = await createTestStorage();
  repos = storage.repos;
});

afterEach(async () => {
  await storage.close();
});

const newSite = (key: string, createdAt: Date = T0): Promise<Site> => repos.sites.create({ key, name: `Site ${key}`, createdAt });

describe(`sites on ${testEngine}`, () => {
  it('creates a site with the default settings and finds it by id and by key', async () => {
    const site = await newSite('acme');
    expect(site).toEqual({
      id: expect.any(Number),
      key: 'acme',
      name: 'Site acme',
      publicUrl: null,
      kartraEnabled: false,
      secretGraceHours: 24,
      ipnSecretHash: null,
      graceDays: 10,
      cancelMode: 'immediate',
      moneyChannels: 'any',
      quietFeedHours: 72,
      rawBodyRetentionDays: 90,
      tagAccess: true,
      membershipAccess: true,
      // Talking back to Kartra is off until the site asks for it.
      verifyWithKartra: false,
      reconcileEveryHours: 0,
      createdAt: T0,
    });
    expect(await repos.sites.findById(site.id)).toEqual(site);
    expect(await repos.sites.findByKey('acme')).toEqual(site);
  });

  it('finds nothing for an unknown id or key, and keys are compared exactly', async () => {
    const site = await newSite('acme');
    expect(await repos.sites.findById(site.id + 1000)).toBeNull();
    expect(await repos.sites.findByKey('nope')).toBeNull();
    expect(await repos.sites.findByKey('ACME')).toBeNull();
  });

  it('refuses a second site with the same key', async () => {
    await newSite('acme');
    await expectUniqueViolation(newSite('acme'));
  });

  it('updates every field, sets booleans and nulls both ways, and leaves other sites alone', async () => {
    const site = await newSite('acme');
    const other = await newSite('other');
    const changes = {
      name: 'Acme Ltd',
      publicUrl: 'https://acme.example/',
      kartraEnabled: true,
      ipnSecretHash: 'f'.repeat(64),
      moneyChannels: 'ipn_with_secret',
      graceDays: 3,
      cancelMode: 'period_end',
      secretGraceHours: 48,
      quietFeedHours: 12,
      rawBodyRetentionDays: 30,
      tagAccess: false,
      membershipAccess: false,
    } as const;
    await repos.sites.update(site.id, changes);
    expect(await repos.sites.findById(site.id)).toEqual({ ...site, ...changes });

    await repos.sites.update(site.id, { publicUrl: null, ipnSecretHash: null, kartraEnabled: false, tagAccess: true });
    expect(await repos.sites.findById(site.id)).toEqual({ ...site, ...changes, publicUrl: null, ipnSecretHash: null, kartraEnabled: false, tagAccess: true });
    expect(await repos.sites.findById(other.id)).toEqual(other);
  });

  it('treats an update with no changes as a no-op', async () => {
    const site = await newSite('acme');
    await repos.sites.update(site.id, {});
    expect(await repos.sites.findById(site.id)).toEqual(site);
  });

  it("lists all sites or the given ones in id order, whatever order the ids are given in; an empty list is empty", async () => {
    const a = await newSite('a');
    const b = await newSite('b');
    const c = await newSite('c');
    expect(await repos.sites.list('all')).toEqual([a, b, c]);
    expect(await repos.sites.list([c.id, a.id])).toEqual([a, c]);
    expect(await repos.sites.list([b.id, c.id + 1000])).toEqual([b]);
    expect(await repos.sites.list([])).toEqual([]);
  });
});

describe(`webhook secrets on ${testEngine}`, () => {
  it('adds a secret that is usable until retired, then only inside its grace period', async () => {
    const site = await newSite('acme');
    const first = await repos.secrets.add({ siteId: site.id, secretHash: 'hash-1', secretHint: 'aaaa', createdAt: T0 });
    expect(first).toEqual({
      id: expect.any(Number),
      siteId: site.id,
      secretHash: 'hash-1',
      secretHint: 'aaaa',
      createdAt: T0,
      retiredAt: null,
      validUntil: null,
      lastUsedAt: null,
    });
    expect(await repos.secrets.listUsable(site.id, later(HOUR_MS))).toEqual([first]);

    const retiredAt = later(HOUR_MS);
    const validUntil = later(25 * HOUR_MS);
    await repos.secrets.retireCurrent(site.id, retiredAt, validUntil);
    const second = await repos.secrets.add({ siteId: site.id, secretHash: 'hash-2', secretHint: 'bbbb', createdAt: retiredAt });
    const retiredFirst = { ...first, retiredAt, validUntil };

    expect(await repos.secrets.listUsable(site.id, later(-1, validUntil))).toEqual([retiredFirst, second]);
    // validUntil is the first instant the old secret no longer works.
    expect(await repos.secrets.listUsable(site.id, validUntil)).toEqual([second]);
    expect(await repos.secrets.listUsable(site.id, later(HOUR_MS, validUntil))).toEqual([second]);
    expect(await repos.secrets.listAll(site.id)).toEqual([retiredFirst, second]);
  });

  it('retires only the current secrets of the one site, keeping an earlier retirement as it was', async () => {
    const site = await newSite('acme');
    const other = await newSite('other');
    const old = await repos.secrets.add({ siteId: site.id, secretHash: 'old', secretHint: 'oooo', createdAt: T0 });
    await repos.secrets.retireCurrent(site.id, later(HOUR_MS), later(2 * HOUR_MS));
    const current = await repos.secrets.add({ siteId: site.id, secretHash: 'current', secretHint: 'cccc', createdAt: later(HOUR_MS) });
    const otherSecret = await repos.secrets.add({ siteId: other.id, secretHash: 'other', secretHint: 'xxxx', createdAt: T0 });

    await repos.secrets.retireCurrent(site.id, later(3 * HOUR_MS), later(4 * HOUR_MS));

    expect(await repos.secrets.listAll(site.id)).toEqual([
      { ...old, retiredAt: later(HOUR_MS), validUntil: later(2 * HOUR_MS) },
      { ...current, retiredAt: later(3 * HOUR_MS), validUntil: later(4 * HOUR_MS) },
    ]);
    expect(await repos.secrets.listUsable(site.id, later(5 * HOUR_MS))).toEqual([]);
    expect(await repos.secrets.listAll(other.id)).toEqual([otherSecret]);
  });

  it('records when a secret was last used', async () => {
    const site = await newSite('acme');
    const secret = await repos.secrets.add({ siteId: site.id, secretHash: 'hash', secretHint: 'hhhh', createdAt: T0 });
    await repos.secrets.markUsed(secret.id, later(5));
    await repos.secrets.markUsed(secret.id, later(10));
    expect(await repos.secrets.listAll(site.id)).toEqual([{ ...secret, lastUsedAt: later(10) }]);
  });
});

describe(`access levels on ${testEngine}`, () => {
  it('lists a site’s levels by name, comparing names byte by byte (capitals first)', async () => {
    const site = await newSite('acme');
    const other = await newSite('other');
    const gold = await repos.levels.create(site.id, 'gold', T0);
    const zeta = await repos.levels.create(site.id, 'Zeta', later(1));
    const alpha = await repos.levels.create(site.id, 'alpha', later(2));
    await repos.levels.create(other.id, 'Bronze', T0);
    expect(gold).toEqual({ id: expect.any(Number), siteId: site.id, name: 'gold', createdAt: T0 });
    expect(await repos.levels.list(site.id)).toEqual([zeta, alpha, gold]);
  });

  it('keeps names unique per site: the same name on another site is fine, twice on one site is an error', async () => {
    const site = await newSite('acme');
    const other = await newSite('other');
    await repos.levels.create(site.id, 'Gold', T0);
    await expect(repos.levels.create(other.id, 'Gold', T0)).resolves.toMatchObject({ siteId: other.id, name: 'Gold' });
    await expectUniqueViolation(repos.levels.create(site.id, 'Gold', T0));
    // Names are compared exactly: another spelling is another level.
    await expect(repos.levels.create(site.id, 'gold', T0)).resolves.toMatchObject({ name: 'gold' });
  });

  it('finds a level by id and by name only within its site', async () => {
    const site = await newSite('acme');
    const other = await newSite('other');
    const level = await repos.levels.create(site.id, 'Gold', T0);
    expect(await repos.levels.findById(site.id, level.id)).toEqual(level);
    expect(await repos.levels.findByName(site.id, 'Gold')).toEqual(level);
    expect(await repos.levels.findById(other.id, level.id)).toBeNull();
    expect(await repos.levels.findByName(other.id, 'Gold')).toBeNull();
    expect(await repos.levels.findByName(site.id, 'GOLD')).toBeNull();
  });

  it('renames and deletes a level only within its site', async () => {
    const site = await newSite('acme');
    const other = await newSite('other');
    const level = await repos.levels.create(site.id, 'Gold', T0);
    const silver = await repos.levels.create(site.id, 'Silver', T0);

    await repos.levels.rename(other.id, level.id, 'Hijacked');
    await repos.levels.delete(other.id, level.id);
    expect(await repos.levels.findById(site.id, level.id)).toEqual(level);

    await repos.levels.rename(site.id, level.id, 'Platinum');
    expect(await repos.levels.findById(site.id, level.id)).toEqual({ ...level, name: 'Platinum' });
    expect(await repos.levels.findByName(site.id, 'Gold')).toBeNull();
    await expectUniqueViolation(repos.levels.rename(site.id, level.id, 'Silver'));

    await repos.levels.delete(site.id, level.id);
    expect(await repos.levels.findById(site.id, level.id)).toBeNull();
    expect(await repos.levels.list(site.id)).toEqual([silver]);
  });
});

describe(`API tokens on ${testEngine}`, () => {
  it('creates operator and site tokens, never returning the hash, and lists them in id order', async () => {
    const site = await newSite('acme');
    const operator = await repos.tokens.create({ name: 'ops', tokenHash: 'hash-ops', tokenPrefix: 'ka_ops', siteId: null, createdAt: T0 });
    const scoped = await repos.tokens.create({ name: 'acme', tokenHash: 'hash-acme', tokenPrefix: 'ka_acm', siteId: site.id, createdAt: later(1) });
    expect(operator).toEqual({ id: expect.any(Number), name: 'ops', tokenPrefix: 'ka_ops', siteId: null, createdAt: T0, lastUsedAt: null, revokedAt: null });
    expect(scoped).toEqual({ id: expect.any(Number), name: 'acme', tokenPrefix: 'ka_acm', siteId: site.id, createdAt: later(1), lastUsedAt: null, revokedAt: null });
    expect(await repos.tokens.list()).toEqual([operator, scoped]);
    expect(await repos.tokens.findActiveByHash('hash-acme')).toEqual(scoped);
    expect(await repos.tokens.findActiveByHash('unknown')).toBeNull();
  });

  it('revokes a token once: true the first time, false after, and a revoked token is no longer found by its hash', async () => {
    const token = await repos.tokens.create({ name: 'ops', tokenHash: 'hash-ops', tokenPrefix: 'ka_ops', siteId: null, createdAt: T0 });
    expect(await repos.tokens.revoke(token.id, later(HOUR_MS))).toBe(true);
    expect(await repos.tokens.revoke(token.id, later(2 * HOUR_MS))).toBe(false);
    expect(await repos.tokens.revoke(token.id + 1000, later(HOUR_MS))).toBe(false);
    expect(await repos.tokens.findActiveByHash('hash-ops')).toBeNull();
    // The first revocation's time stays.
    expect(await repos.tokens.list()).toEqual([{ ...token, revokedAt: later(HOUR_MS) }]);
  });

  it('records a use unless the token was used since the given time, so racing requests write one mark', async () => {
    const token = await repos.tokens.create({ name: 'ops', tokenHash: 'hash-ops', tokenPrefix: 'ka_ops', siteId: null, createdAt: T0 });
    const lastUsedAt = async () => (await repos.tokens.findActiveByHash('hash-ops'))?.lastUsedAt;
    const markAt = (ms: number) => repos.tokens.markUsed(token.id, later(ms), later(ms - 60_000));

    await markAt(1000);
    expect(await lastUsedAt()).toEqual(later(1000));
    await markAt(1000 + 60_000);
    expect(await lastUsedAt()).toEqual(later(1000));
    await markAt(1000 + 60_001);
    expect(await lastUsedAt()).toEqual(later(1000 + 60_001));
  });
});

describe(`admin users on ${testEngine}`, () => {
  const newAdmin = (email: string) => repos.admins.create({ email, passwordHash: `scrypt$${email}`, timeZone: 'Europe/Berlin', createdAt: T0 });

  it('creates an admin and finds it by email and by id; unknown ones are null and emails are unique', async () => {
    const admin = await newAdmin('ann@example.com');
    expect(admin).toEqual({
      id: expect.any(Number),
      email: 'ann@example.com',
      passwordHash: 'scrypt$ann@example.com',
      timeZone: 'Europe/Berlin',
      createdAt: T0,
      lastSignInAt: null,
    });
    expect(await repos.admins.findByEmail('ann@example.com')).toEqual(admin);
    expect(await repos.admins.findById(admin.id)).toEqual(admin);
    expect(await repos.admins.findByEmail('bob@example.com')).toBeNull();
    expect(await repos.admins.findById(admin.id + 1000)).toBeNull();
    await expectUniqueViolation(newAdmin('ann@example.com'));
  });

  it('records sign-ins, time zones and password hashes of one admin only', async () => {
    const ann = await newAdmin('ann@example.com');
    const bob = await newAdmin('bob@example.com');
    await repos.admins.recordSignIn(ann.id, later(HOUR_MS));
    await repos.admins.setTimeZone(ann.id, 'America/New_York');
    await repos.admins.setPasswordHash(ann.id, 'scrypt$new');
    expect(await repos.admins.findById(ann.id)).toEqual({ ...ann, lastSignInAt: later(HOUR_MS), timeZone: 'America/New_York', passwordHash: 'scrypt$new' });
    expect(await repos.admins.findById(bob.id)).toEqual(bob);
  });

  it('grants sites idempotently, keeping the first grant, and lists an admin’s sites in id order', async () => {
    const ann = await newAdmin('ann@example.com');
    const bob = await newAdmin('bob@example.com');
    const a = await newSite('a');
    const b = await newSite('b');
    expect(await repos.admins.siteIds(ann.id)).toEqual([]);

    await repos.admins.grantSite(ann.id, b.id, T0);
    await repos.admins.grantSite(ann.id, a.id, T0);
    await repos.admins.grantSite(ann.id, b.id, later(HOUR_MS));
    await repos.admins.grantSite(bob.id, a.id, T0);

    expect(await repos.admins.siteIds(ann.id)).toEqual([a.id, b.id]);
    expect(await repos.admins.siteIds(bob.id)).toEqual([a.id]);
    const grants = await storage.query<{ created_at: number | string }>('select created_at from admin_site_access where admin_id = ? and site_id = ?', [ann.id, b.id]);
    expect(grants.map((row) => Number(row.created_at))).toEqual([T0.getTime()]);
  });
});

describe(`admin sessions on ${testEngine}`, () => {
  let annId: number;
  let bobId: number;

  beforeEach(async () => {
    annId = (await repos.admins.create({ email: 'ann@example.com', passwordHash: 'scrypt$a', timeZone: 'UTC', createdAt: T0 })).id;
    bobId = (await repos.admins.create({ email: 'bob@example.com', passwordHash: 'scrypt$b', timeZone: 'UTC', createdAt: T0 })).id;
  });

  const newSession = async (idHash: string, adminId: number, expiresAt: Date): Promise<AdminSession> => {
    const session = { idHash, adminId, csrfToken: `csrf-${idHash}`, createdAt: T0, lastSeenAt: T0, expiresAt };
    await repos.adminSessions.create(session);
    return session;
  };

  it('creates a session and finds it by the hash of its id', async () => {
    const session = await newSession('s1', annId, later(HOUR_MS));
    expect(await repos.adminSessions.findByIdHash('s1')).toEqual(session);
    expect(await repos.adminSessions.findByIdHash('S1')).toBeNull();
  });

  it('touches one session, moving its last-seen and expiry times', async () => {
    const session = await newSession('s1', annId, later(HOUR_MS));
    const untouched = await newSession('s2', annId, later(HOUR_MS));
    await repos.adminSessions.touch('s1', later(30 * 60_000), later(2 * HOUR_MS));
    expect(await repos.adminSessions.findByIdHash('s1')).toEqual({ ...session, lastSeenAt: later(30 * 60_000), expiresAt: later(2 * HOUR_MS) });
    expect(await repos.adminSessions.findByIdHash('s2')).toEqual(untouched);
  });

  it('deletes one session', async () => {
    await newSession('s1', annId, later(HOUR_MS));
    const kept = await newSession('s2', annId, later(HOUR_MS));
    await repos.adminSessions.delete('s1');
    expect(await repos.adminSessions.findByIdHash('s1')).toBeNull();
    expect(await repos.adminSessions.findByIdHash('s2')).toEqual(kept);
  });

  it('deletes the sessions expired at or before now and counts them', async () => {
    await newSession('past', annId, later(-1));
    await newSession('now', bobId, T0);
    const live = await newSession('future', annId, later(1));
    expect(await repos.adminSessions.deleteExpired(T0)).toBe(2);
    expect(await repos.adminSessions.deleteExpired(T0)).toBe(0);
    expect(await repos.adminSessions.findByIdHash('past')).toBeNull();
    expect(await repos.adminSessions.findByIdHash('now')).toBeNull();
    expect(await repos.adminSessions.findByIdHash('future')).toEqual(live);
  });

  it('ends every other session of one admin, counting them, and leaves other admins signed in', async () => {
    const keep = await newSession('keep', annId, later(HOUR_MS));
    await newSession('phone', annId, later(HOUR_MS));
    await newSession('laptop', annId, later(HOUR_MS));
    const bobs = await newSession('bob', bobId, later(HOUR_MS));
    expect(await repos.adminSessions.deleteOthers(annId, 'keep')).toBe(2);
    expect(await repos.adminSessions.deleteOthers(annId, 'keep')).toBe(0);
    expect(await repos.adminSessions.findByIdHash('keep')).toEqual(keep);
    expect(await repos.adminSessions.findByIdHash('phone')).toBeNull();
    expect(await repos.adminSessions.findByIdHash('bob')).toEqual(bobs);
  });
});
