import { retryDelayMs, signingSecrets, type RetryPolicy } from '../../src/domain/notifications/outbox-worker';
import type { NotificationEndpoint } from '../../src/domain/notifications/notification-model';

const policy: RetryPolicy = { maxAttempts: 10, baseDelayMs: 5_000, maxDelayMs: 3_600_000, timeoutMs: 10_000 };

describe('the retry schedule', () => {
  it('doubles the wait from the base with each failure, up to the cap', () => {
    const noJitter = () => 0.999999;
    expect([1, 2, 3, 4, 5].map((failures) => Math.round(retryDelayMs(policy, failures, noJitter) / 1000))).toEqual([5, 10, 20, 40, 80]);
    expect(retryDelayMs(policy, 30, noJitter)).toBeLessThanOrEqual(3_600_000);
    expect(retryDelayMs(policy, 30, noJitter)).toBeGreaterThan(3_599_000);
  });

  it('spreads the wait over its upper half at random, so retries of one outage do not come back together', () => {
    expect(retryDelayMs(policy, 3, () => 0)).toBe(10_000);
    expect(retryDelayMs(policy, 3, () => 0.5)).toBe(15_000);
  });
});

describe('the signing secrets of an attempt', () => {
  const endpoint = { secret: 'whsec_new', previousSecret: 'whsec_old', previousSecretValidUntil: new Date('2025-07-02T00:00:00Z') } as NotificationEndpoint;

  it('are the new and the old secret while the grace lasts, then the new one alone', () => {
    expect(signingSecrets(endpoint, new Date('2025-07-01T23:59:59Z'))).toEqual(['whsec_new', 'whsec_old']);
    expect(signingSecrets(endpoint, new Date('2025-07-02T00:00:00Z'))).toEqual(['whsec_new']);
  });
});
