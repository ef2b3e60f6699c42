import { openPostgres } from '../../../src/db/postgres/database';
import type { Repositories } from '../../../src/domain/ports';
import { createTestStorage, testEngine, type TestStorage } from '../../support/storage';

// The outbox ports' contract on both engines. The claim is the part that must hold across service instances: on
// PostgreSQL two pools (two instances) claim at once and no message is handed to both.

const T0 = new Date('2025-07-01T12:00:00.000Z');
const later = (ms: number) => new Date(T0.getTime() + ms);

let storage: TestStorage;
let repos: Repositories;

beforeEach(async () => {
  storage = await createTestStorage();
  repos = storage.repos;
});
afterEach(() => storage.close());

async function siteWithEndpoint(key: string) {
  const site = await repos.sites.create({ key, name: key, createdAt: T0 });
  const endpoint = await repos.notificationEndpoints.create({ siteId: site.id, url: 'https://hooks.example.com/in', description: '', eventTypes: ['access.granted'], secret: 'whsec_c2VjcmV0', createdAt: T0 });
  return { site, endpoint };
}

async function enqueue(siteId: number, endpointId: number, count: number, createdAt = T0) {
  for (let index = 0; index < count; index += 1) {
    await repos.outbox.enqueue({ siteId, endpointId, type: 'access.granted', payload: `{"n":${index}}`, messageId: `msg_${siteId}_${endpointId}_${createdAt.getTime()}_${index}`, createdAt });
  }
}

describe(`the notification outbox on ${testEngine}`, () => {
  it('hands every due message to exactly one of many concurrent claims, also from a second instance', async () => {
    const { site, endpoint } = await siteWithEndpoint('a');
    await enqueue(site.id, endpoint.id, 60);
    const second = testEngine === 'postgres' ? await openPostgres(storage.env.DATABASE_URL ?? '', { poolSize: 5, statementTimeoutMs: 10_000, migrate: false }) : null;
    try {
      const claimers = [repos, second?.repos ?? repos];
      const claims = await Promise.all(Array.from({ length: 16 }, (_, index) => claimers[index % 2]?.outbox.claimDue(later(0), later(30_000), 5) ?? Promise.resolve([])));
      const ids = claims.flat().map((message) => message.id);
      expect(ids).toHaveLength(60);
      expect(new Set(ids).size).toBe(60);
    } finally {
      await second?.close();
    }
  });

  it('keeps a claimed message from other claims until its lease runs out, and settling releases it', async () => {
    const { site, endpoint } = await siteWithEndpoint('a');
    await enqueue(site.id, endpoint.id, 1);
    const [claimed] = await repos.outbox.claimDue(T0, later(30_000), 10);
    expect(claimed).toMatchObject({ status: 'pending', attempts: 0, lockedUntil: later(30_000) });
    expect(await repos.outbox.claimDue(later(29_999), later(60_000), 10)).toEqual([]);
    // The worker that claimed it died: once the lease is over, another takes it.
    const [reclaimed] = await repos.outbox.claimDue(later(30_000), later(60_000), 10);
    expect(reclaimed?.id).toBe(claimed?.id);

    await repos.outbox.settle(claimed?.id ?? 0, { status: 'pending', attempts: 1, nextAttemptAt: later(45_000), lastError: 'answered HTTP 500', lastStatusCode: 500, deliveredAt: null });
    expect(await repos.outbox.claimDue(later(44_999), later(90_000), 10)).toEqual([]);
    expect(await repos.outbox.claimDue(later(45_000), later(90_000), 10)).toMatchObject([{ id: claimed?.id, attempts: 1, lastStatusCode: 500 }]);
  });

  it('never claims delivered or dead messages, requeues them with their webhook-id, and counts them per status', async () => {
    const { site, endpoint } = await siteWithEndpoint('a');
    await enqueue(site.id, endpoint.id, 3);
    const claimed = await repos.outbox.claimDue(T0, later(30_000), 10);
    const [first, second] = claimed;
    await repos.outbox.settle(first?.id ?? 0, { status: 'delivered', attempts: 1, nextAttemptAt: T0, lastError: null, lastStatusCode: 204, deliveredAt: later(1) });
    await repos.outbox.settle(second?.id ?? 0, { status: 'dead', attempts: 10, nextAttemptAt: T0, lastError: 'answered HTTP 410', lastStatusCode: 410, deliveredAt: null });
    expect(await repos.outbox.countByStatus(site.id, endpoint.id)).toEqual({ delivered: 1, dead: 1, pending: 1 });
    expect((await repos.outbox.claimDue(later(60_000), later(90_000), 10)).map((message) => message.id)).toEqual([claimed[2]?.id]);

    expect(await repos.outbox.requeue(site.id, { outboxId: second?.id ?? 0 }, later(100_000))).toBe(1);
    expect(await repos.outbox.findById(site.id, second?.id ?? 0)).toMatchObject({ status: 'pending', attempts: 0, nextAttemptAt: later(100_000), messageId: second?.messageId, lockedUntil: null });
  });

  it('scopes messages, requeues and the delivery log by site', async () => {
    const mine = await siteWithEndpoint('mine');
    const theirs = await siteWithEndpoint('theirs');
    await enqueue(mine.site.id, mine.endpoint.id, 2);
    await enqueue(theirs.site.id, theirs.endpoint.id, 2, later(10));
    const [theirMessage] = await repos.outbox.list(theirs.site.id, { endpointId: theirs.endpoint.id, limit: 10 });
    expect(await repos.outbox.findById(mine.site.id, theirMessage?.id ?? 0)).toBeNull();
    expect(await repos.outbox.requeue(mine.site.id, { outboxId: theirMessage?.id ?? 0 }, T0)).toBe(0);
    expect(await repos.outbox.requeue(mine.site.id, { endpointId: theirs.endpoint.id, createdSince: T0 }, T0)).toBe(0);
    expect(await repos.outbox.requeue(theirs.site.id, { endpointId: theirs.endpoint.id, createdSince: later(10) }, T0)).toBe(2);
    expect(await repos.outbox.requeue(theirs.site.id, { endpointId: theirs.endpoint.id, createdSince: later(11) }, T0)).toBe(0);

    await repos.outbox.recordAttempt({ siteId: theirs.site.id, outboxId: theirMessage?.id ?? 0, endpointId: theirs.endpoint.id, attemptedAt: T0, statusCode: 500, durationMs: 12, error: 'answered HTTP 500' });
    await repos.outbox.recordAttempt({ siteId: theirs.site.id, outboxId: theirMessage?.id ?? 0, endpointId: theirs.endpoint.id, attemptedAt: later(1000), statusCode: null, durationMs: 2000, error: 'no answer within 2000 ms' });
    expect(await repos.outbox.attemptsFor(mine.site.id, theirMessage?.id ?? 0)).toEqual([]);
    expect((await repos.outbox.attemptsFor(theirs.site.id, theirMessage?.id ?? 0)).map((attempt) => attempt.statusCode)).toEqual([500, null]);
    expect(await repos.notificationEndpoints.findById(mine.site.id, theirs.endpoint.id)).toBeNull();
  });
});
