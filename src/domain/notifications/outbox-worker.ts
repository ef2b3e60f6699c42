import type { Clock, NotificationSender, Repositories, RunInTransaction } from '../ports';
import type { NotificationEndpoint, OutboxMessage } from './notification-model';
import type { StoredSecretCodec } from '../secret-box';
import { signedHeaders } from './signature';

export interface RetryPolicy {
  /** Attempts before a message is dead (a dead letter, shown to the admin, resent only by hand). */
  maxAttempts: number;
  /** The wait after the first failed attempt; it doubles with each further one, up to `maxDelayMs`. */
  baseDelayMs: number;
  maxDelayMs: number;
  /** How long a receiver has to answer one POST. */
  timeoutMs: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = { maxAttempts: 10, baseDelayMs: 5_000, maxDelayMs: 60 * 60 * 1000, timeoutMs: 10_000 };

/**
 * The wait before the next attempt after `failedAttempts` failures: `min(cap, base·2^(n−1))`, scaled by a random
 * factor in [0.5, 1) ("equal jitter") so that the messages of an endpoint that was down do not all come back at once.
 */
export function retryDelayMs(policy: RetryPolicy, failedAttempts: number, random: () => number): number {
  const exponential = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.max(0, failedAttempts - 1));
  return Math.round(exponential * (0.5 + random() / 2));
}

/** The secrets an attempt is signed with, as stored: the current one, and the one it replaced while its grace lasts. */
export function signingSecrets(endpoint: NotificationEndpoint, now: Date): string[] {
  const previousValid = endpoint.previousSecret && endpoint.previousSecretValidUntil && endpoint.previousSecretValidUntil.getTime() > now.getTime();
  return previousValid && endpoint.previousSecret ? [endpoint.secret, endpoint.previousSecret] : [endpoint.secret];
}

/** The signing secrets opened, or why they cannot be (sealed with another SECRETS_KEY): an attempt that fails. */
function openedSecrets(secrets: StoredSecretCodec, stored: string[]): { ok: true; secrets: string[] } | { ok: false; error: string } {
  try {
    return { ok: true, secrets: stored.map((secret) => secrets.read(secret)) };
  } catch (error) {
    return { ok: false, error: `the signing secret cannot be opened: ${error instanceof Error ? error.message : String(error)}` };
  }
}

export interface WorkerPass {
  claimed: number;
  delivered: number;
  retrying: number;
  dead: number;
}

export type OutboxWorker = ReturnType<typeof createOutboxWorker>;

/**
 * Works the outbox: claims due messages under a lease, POSTs each one signed, and records the attempt and its outcome.
 * At least once: a message is marked delivered only after its receiver answered 2xx, so a crash between the POST and
 * that mark sends it again (with the same webhook-id) once the lease has run out.
 */
export function createOutboxWorker({
  repos,
  clock,
  transaction,
  sender,
  secrets,
  policy = DEFAULT_RETRY_POLICY,
  random = Math.random,
  batchSize = 20,
}: {
  repos: Repositories;
  clock: Clock;
  transaction: RunInTransaction;
  sender: NotificationSender;
  secrets: StoredSecretCodec;
  policy?: RetryPolicy;
  random?: () => number;
  batchSize?: number;
}) {
  /** The lease outlasts the POST's timeout, so a live worker never has its message claimed by another. */
  const leaseMs = policy.timeoutMs * 2 + 5_000;

  async function attempt(message: OutboxMessage): Promise<'delivered' | 'retrying' | 'dead'> {
    const endpoint = await repos.notificationEndpoints.findById(message.siteId, message.endpointId);
    const startedAt = clock.now();
    let statusCode: number | null = null;
    let error: string | null;
    let durationMs = 0;
    const opened = endpoint ? openedSecrets(secrets, signingSecrets(endpoint, startedAt)) : null;
    if (!endpoint || !endpoint.enabled) {
      error = 'endpoint disabled; not sent';
    } else if (opened && !opened.ok) {
      error = opened.error;
    } else {
      const headers = signedHeaders(opened?.secrets ?? [], message.messageId, startedAt, message.payload);
      const started = performance.now();
      const result = await sender.post(endpoint.url, headers, message.payload, policy.timeoutMs);
      durationMs = Math.round(performance.now() - started);
      if ('statusCode' in result) {
        statusCode = result.statusCode;
        error = statusCode >= 200 && statusCode < 300 ? null : `answered HTTP ${statusCode}`;
      } else {
        error = result.error;
      }
    }
    const attempts = message.attempts + 1;
    const now = clock.now();
    const delivered = error === null;
    // A disabled endpoint is not retried: its messages wait as dead letters for a replay once it is enabled again.
    const dead = !delivered && (attempts >= policy.maxAttempts || !endpoint?.enabled);
    await transaction(async (tx) => {
      await tx.outbox.recordAttempt({ siteId: message.siteId, outboxId: message.id, endpointId: message.endpointId, attemptedAt: startedAt, statusCode, durationMs, error });
      await tx.outbox.settle(message.id, {
        status: delivered ? 'delivered' : dead ? 'dead' : 'pending',
        attempts,
        nextAttemptAt: delivered || dead ? now : new Date(now.getTime() + retryDelayMs(policy, attempts, random)),
        lastError: error,
        lastStatusCode: statusCode,
        deliveredAt: delivered ? now : null,
      });
    });
    return delivered ? 'delivered' : dead ? 'dead' : 'retrying';
  }

  /** One pass: claims a batch of due messages and attempts them all at once (one slow receiver does not hold the rest). */
  async function runOnce(): Promise<WorkerPass> {
    const now = clock.now();
    const claimed = await repos.outbox.claimDue(now, new Date(now.getTime() + leaseMs), batchSize);
    const outcomes = await Promise.all(claimed.map(attempt));
    return {
      claimed: claimed.length,
      delivered: outcomes.filter((outcome) => outcome === 'delivered').length,
      retrying: outcomes.filter((outcome) => outcome === 'retrying').length,
      dead: outcomes.filter((outcome) => outcome === 'dead').length,
    };
  }

  return { runOnce };
}
