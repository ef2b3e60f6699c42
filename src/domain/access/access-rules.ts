import type { AssetFact, AssetKind, CancelMode, Grant, PaymentFact } from '../model';

const DAY_MS = 24 * 60 * 60 * 1000;
export const DEFAULT_BILLING_PERIOD_DAYS = 30;

export interface SourcePolicy {
  graceDays: number;
  cancelMode: CancelMode;
  /** From the product mapping; used when the subscription has fewer than two payments to measure its period. */
  billingPeriodDays: number | null;
}

/** What the money facts of one purchase (a one-time order or a subscription) say about access. */
export type SourceState =
  | { state: 'no_payment' }
  | { state: 'active'; endsAt: Date | null; note: string; pastDue: { failedAt: Date; graceEndsAt: Date } | null }
  | { state: 'revoked'; reason: string };

const isPayment = (fact: PaymentFact) => fact.kind === 'purchase' || fact.kind === 'rebill';
const isReversal = (fact: PaymentFact) => fact.kind === 'refund' || fact.kind === 'chargeback';

function latest(facts: PaymentFact[]): PaymentFact | undefined {
  return facts.reduce<PaymentFact | undefined>((best, fact) => {
    if (!best) return fact;
    const byTime = fact.occurredAt.getTime() - best.occurredAt.getTime();
    if (byTime !== 0) return byTime > 0 ? fact : best;
    return (fact.payNumber ?? 0) > (best.payNumber ?? 0) ? fact : best;
  }, undefined);
}

function describeReversal(fact: PaymentFact): string {
  const order = fact.parentTransactionId ?? fact.transactionId ?? 'unknown order';
  return fact.kind === 'chargeback' ? `chargeback on order ${order}` : `full refund of order ${order}`;
}

/**
 * Access is derived from the whole set of facts, never from the order they arrived in, so a refund or cancel that
 * reaches us before its purchase still ends in the state the rules give.
 *
 * - No payment seen: nothing to grant (a refund or cancel alone grants nothing).
 * - A full refund or chargeback at or after the latest payment revokes; a later rebill restores.
 * - A subscription cancel revokes, at once or at the end of the paid period (site setting).
 * - A failed payment after the latest payment starts a grace period from the first failure of that cycle;
 *   later failures of the same cycle do not extend it, a rebill ends it.
 * A partial refund changes nothing.
 */
export function deriveSourceState(facts: PaymentFact[], policy: SourcePolicy, now: Date): SourceState {
  const payments = facts.filter(isPayment);
  const lastPayment = latest(payments);
  if (!lastPayment) return { state: 'no_payment' };

  const lastReversal = latest(facts.filter(isReversal));
  if (lastReversal && lastReversal.occurredAt.getTime() >= lastPayment.occurredAt.getTime()) {
    return { state: 'revoked', reason: describeReversal(lastReversal) };
  }

  const cancel = facts.find((fact) => fact.kind === 'subscription_cancel');
  if (cancel) {
    if (policy.cancelMode === 'immediate') return { state: 'revoked', reason: 'subscription cancelled' };
    const paidUntil = new Date(lastPayment.occurredAt.getTime() + billingPeriodMs(payments, policy));
    if (paidUntil.getTime() <= now.getTime()) {
      return { state: 'revoked', reason: 'subscription cancelled; the paid period has ended' };
    }
    return { state: 'active', endsAt: paidUntil, note: 'subscription cancelled; access runs to the end of the paid period', pastDue: null };
  }

  const failuresSincePayment = facts
    .filter((fact) => fact.kind === 'payment_failed' && fact.occurredAt.getTime() > lastPayment.occurredAt.getTime())
    .sort((a, b) => a.occurredAt.getTime() - b.occurredAt.getTime());
  const firstFailure = failuresSincePayment[0];
  if (firstFailure) {
    const graceEndsAt = new Date(firstFailure.occurredAt.getTime() + policy.graceDays * DAY_MS);
    if (graceEndsAt.getTime() <= now.getTime()) {
      return { state: 'revoked', reason: `payment failed on ${firstFailure.occurredAt.toISOString()} and the ${policy.graceDays}-day grace ran out` };
    }
    return {
      state: 'active',
      endsAt: graceEndsAt,
      note: 'payment failed; access kept through the grace period',
      pastDue: { failedAt: firstFailure.occurredAt, graceEndsAt },
    };
  }

  return { state: 'active', endsAt: null, note: lastPayment.kind === 'rebill' ? `rebill #${lastPayment.payNumber ?? '?'} paid` : 'paid', pastDue: null };
}

/**
 * Whether a fact about an asset happened after another. Kartra's times decide when both facts carry one; otherwise
 * (tag and membership events carry no time) the order they reached us in does, by event id.
 */
function happenedAfter(fact: AssetFact, other: AssetFact): boolean {
  if (fact.occurredAt && other.occurredAt && fact.occurredAt.getTime() !== other.occurredAt.getTime()) {
    return fact.occurredAt.getTime() > other.occurredAt.getTime();
  }
  return fact.eventId > other.eventId;
}

/**
 * What a member's assignments and removals of one tag or membership level say about access: the latest decides.
 * A removal that reached us before its assignment leaves no access only when Kartra's times put the removal later.
 */
export function deriveAssetState(facts: AssetFact[], kind: AssetKind, described: string): SourceState {
  const last = facts.reduce<AssetFact | undefined>((best, fact) => (!best || happenedAfter(fact, best) ? fact : best), undefined);
  if (!last) return { state: 'no_payment' };
  if (last.change === 'removed') return { state: 'revoked', reason: `${described} ${kind === 'tag' ? 'removed' : 'revoked'} in Kartra` };
  return { state: 'active', endsAt: null, note: `${described} ${kind === 'tag' ? 'assigned' : 'granted'} in Kartra`, pastDue: null };
}

/** The subscription's own period when it has two payments to measure; else the mapping's, else a month. */
function billingPeriodMs(payments: PaymentFact[], policy: SourcePolicy): number {
  const times = [...new Set(payments.map((payment) => payment.occurredAt.getTime()))].sort((a, b) => b - a);
  const [newest, previous] = times;
  if (newest !== undefined && previous !== undefined && newest > previous) return newest - previous;
  return (policy.billingPeriodDays ?? DEFAULT_BILLING_PERIOD_DAYS) * DAY_MS;
}

export function isGrantEffective(grant: Pick<Grant, 'status' | 'expiresAt'>, now: Date): boolean {
  return grant.status === 'active' && (grant.expiresAt === null || grant.expiresAt.getTime() > now.getTime());
}

/** A member has a level while any effective grant gives it. */
export function effectiveLevelIds(grants: Pick<Grant, 'levelId' | 'status' | 'expiresAt'>[], now: Date): number[] {
  return [...new Set(grants.filter((grant) => isGrantEffective(grant, now)).map((grant) => grant.levelId))].sort((a, b) => a - b);
}
