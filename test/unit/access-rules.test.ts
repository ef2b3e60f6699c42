import { DEFAULT_BILLING_PERIOD_DAYS, deriveAssetState, deriveSourceState, effectiveLevelIds, type SourcePolicy } from '../../src/domain/access/access-rules';
import type { AssetChange, AssetFact, Grant, PaymentFact, PaymentFactKind } from '../../src/domain/model';

const DAY_MS = 24 * 60 * 60 * 1000;
const at = (iso: string) => new Date(iso);
const plusDays = (date: Date, days: number) => new Date(date.getTime() + days * DAY_MS);

let nextId = 1;
function fact(kind: PaymentFactKind, occurredAt: string, overrides: Partial<PaymentFact> = {}): PaymentFact {
  const id = nextId++;
  return {
    id,
    siteId: 1,
    kind,
    memberId: 1,
    productId: '612001',
    sourceKey: 'sub:77310',
    transactionId: `91${id}`,
    parentTransactionId: null,
    subscriptionId: '77310',
    payNumber: null,
    amountCents: 2900,
    occurredAt: at(occurredAt),
    eventId: id,
    ...overrides,
  };
}

const immediate: SourcePolicy = { graceDays: 10, cancelMode: 'immediate', billingPeriodDays: null };
const periodEnd: SourcePolicy = { graceDays: 10, cancelMode: 'period_end', billingPeriodDays: null };

/** Dana's Studio subscription: first payment and two rebills a month apart (fixtures 03–05). */
const firstPayment = () => fact('purchase', '2025-03-10T18:00:00Z', { transactionId: '9131507', payNumber: 1 });
const rebill2 = () => fact('rebill', '2025-04-10T18:00:00Z', { transactionId: '9140288', payNumber: 2 });
const rebill3 = () => fact('rebill', '2025-05-10T18:00:00Z', { transactionId: '9149930', payNumber: 3 });
const paidSubscription = () => [firstPayment(), rebill2(), rebill3()];

const active = (overrides: object = {}) => expect.objectContaining({ state: 'active', pastDue: null, ...overrides });
const revoked = (reason: RegExp) => ({ state: 'revoked', reason: expect.stringMatching(reason) });

describe('deriveSourceState: payments', () => {
  const now = at('2025-05-20T00:00:00Z');

  it('grants nothing without a payment, whatever else arrived', () => {
    expect(deriveSourceState([], immediate, now)).toEqual({ state: 'no_payment' });
    expect(deriveSourceState([fact('refund', '2025-03-19T15:00:00Z')], immediate, now)).toEqual({ state: 'no_payment' });
    expect(deriveSourceState([fact('subscription_cancel', '2025-03-19T15:00:00Z')], immediate, now)).toEqual({ state: 'no_payment' });
    expect(deriveSourceState([fact('payment_failed', '2025-03-19T15:00:00Z')], immediate, now)).toEqual({ state: 'no_payment' });
  });

  it('grants open-ended access for a paid purchase', () => {
    expect(deriveSourceState([firstPayment()], immediate, now)).toEqual({ state: 'active', endsAt: null, note: 'paid', pastDue: null });
  });

  it('names the latest rebill in the note', () => {
    expect(deriveSourceState(paidSubscription(), immediate, now)).toEqual(active({ endsAt: null, note: 'rebill #3 paid' }));
  });

  it('changes nothing for a partial refund', () => {
    const purchase = fact('purchase', '2025-03-04T14:12:05Z', { sourceKey: 'txn:9130021', transactionId: '9130021' });
    const partial = fact('partial_refund', '2025-03-06T20:40:10Z', { transactionId: '9130544', parentTransactionId: '9130021', amountCents: 4700 });
    expect(deriveSourceState([purchase, partial], immediate, now)).toEqual(deriveSourceState([purchase], immediate, now));
  });
});

describe('deriveSourceState: refunds and chargebacks', () => {
  const now = at('2025-06-01T00:00:00Z');
  const samPurchase = () => fact('purchase', '2025-03-12T20:20:31Z', { sourceKey: 'txn:9133410', transactionId: '9133410', subscriptionId: null });
  const samRefund = () => fact('refund', '2025-03-19T15:02:15Z', { transactionId: '9135876', parentTransactionId: '9133410', subscriptionId: null });

  it('revokes on a full refund after the last payment, naming the refunded order', () => {
    expect(deriveSourceState([samPurchase(), samRefund()], immediate, now)).toEqual(revoked(/^full refund of order 9133410$/));
  });

  it('revokes on a full refund at the very instant of the last payment', () => {
    const purchase = samPurchase();
    const refund = fact('refund', purchase.occurredAt.toISOString(), { parentTransactionId: '9133410' });
    expect(deriveSourceState([purchase, refund], immediate, now)).toEqual(revoked(/full refund/));
  });

  it('ends the same whatever order the facts arrived in', () => {
    expect(deriveSourceState([samRefund(), samPurchase()], immediate, now)).toEqual(deriveSourceState([samPurchase(), samRefund()], immediate, now));
  });

  it('revokes on a chargeback, naming the charged-back order', () => {
    const chargeback = fact('chargeback', '2025-05-15T00:00:00Z', { parentTransactionId: '9149930' });
    expect(deriveSourceState([...paidSubscription(), chargeback], immediate, now)).toEqual(revoked(/^chargeback on order 9149930$/));
  });

  it('restores access when a rebill is paid after the refund', () => {
    const refund = fact('refund', '2025-04-15T00:00:00Z', { parentTransactionId: '9140288' });
    expect(deriveSourceState([firstPayment(), rebill2(), refund], immediate, now)).toEqual(revoked(/full refund of order 9140288/));
    expect(deriveSourceState([firstPayment(), rebill2(), refund, rebill3()], immediate, now)).toEqual(active({ endsAt: null }));
  });

  it('keeps access when the refund is of an earlier payment than the latest', () => {
    const oldRefund = fact('refund', '2025-04-01T00:00:00Z', { parentTransactionId: '9131507' });
    expect(deriveSourceState([...paidSubscription(), oldRefund], immediate, now)).toEqual(active());
  });
});

describe('deriveSourceState: cancellation', () => {
  const cancel = () => fact('subscription_cancel', '2025-05-20T12:00:00Z', { transactionId: '9159004' });

  it('revokes at once in immediate mode', () => {
    expect(deriveSourceState([...paidSubscription(), cancel()], immediate, at('2025-05-20T12:00:01Z'))).toEqual(revoked(/^subscription cancelled$/));
  });

  it('in period_end mode keeps access to the end of the period measured from the last two payments', () => {
    // 10 April -> 10 May is 30 days, so the period paid on 10 May ends on 9 June.
    const paidUntil = at('2025-06-09T18:00:00Z');
    const facts = [...paidSubscription(), cancel()];
    expect(deriveSourceState(facts, { ...periodEnd, billingPeriodDays: 7 }, at('2025-06-01T00:00:00Z'))).toEqual(active({ endsAt: paidUntil }));
    expect(deriveSourceState(facts, periodEnd, new Date(paidUntil.getTime() - 1))).toEqual(active({ endsAt: paidUntil }));
    expect(deriveSourceState(facts, periodEnd, paidUntil)).toEqual(revoked(/paid period has ended/));
  });

  it('measures the period from the payments whatever order they arrived in', () => {
    const shuffled = [rebill3(), cancel(), firstPayment(), rebill2()];
    expect(deriveSourceState(shuffled, periodEnd, at('2025-06-01T00:00:00Z'))).toEqual(active({ endsAt: at('2025-06-09T18:00:00Z') }));
  });

  it("in period_end mode with one payment uses the mapping's billing period", () => {
    const facts = [firstPayment(), fact('subscription_cancel', '2025-03-12T00:00:00Z')];
    const paidUntil = plusDays(firstPayment().occurredAt, 7);
    expect(deriveSourceState(facts, { ...periodEnd, billingPeriodDays: 7 }, at('2025-03-15T00:00:00Z'))).toEqual(active({ endsAt: paidUntil }));
    expect(deriveSourceState(facts, { ...periodEnd, billingPeriodDays: 7 }, paidUntil)).toEqual(revoked(/paid period has ended/));
  });

  it('in period_end mode with one payment and no billing period on the mapping uses 30 days', () => {
    expect(DEFAULT_BILLING_PERIOD_DAYS).toBe(30);
    const facts = [firstPayment(), fact('subscription_cancel', '2025-03-12T00:00:00Z')];
    expect(deriveSourceState(facts, periodEnd, at('2025-03-15T00:00:00Z'))).toEqual(active({ endsAt: plusDays(firstPayment().occurredAt, 30) }));
  });

  it('two payments at the same instant (a redelivery) do not make a zero-length period', () => {
    const facts = [firstPayment(), fact('purchase', '2025-03-10T18:00:00Z'), fact('subscription_cancel', '2025-03-12T00:00:00Z')];
    expect(deriveSourceState(facts, { ...periodEnd, billingPeriodDays: 14 }, at('2025-03-15T00:00:00Z'))).toEqual(
      active({ endsAt: plusDays(firstPayment().occurredAt, 14) }),
    );
  });

  it('a cancellation that reaches us before its payments still revokes once they arrive', () => {
    expect(deriveSourceState([cancel(), ...paidSubscription()], immediate, at('2025-06-01T00:00:00Z'))).toEqual(revoked(/subscription cancelled/));
  });
});

describe('deriveSourceState: failed payments and grace', () => {
  const failed = (iso: string) => fact('payment_failed', iso, { payNumber: 4 });
  const firstFailure = '2025-06-10T18:00:00Z';
  const graceEndsAt = plusDays(at(firstFailure), 10);

  it('keeps access through the grace period from the first failure, and shows the subscription past due', () => {
    expect(deriveSourceState([...paidSubscription(), failed(firstFailure)], immediate, at('2025-06-12T00:00:00Z'))).toEqual({
      state: 'active',
      endsAt: graceEndsAt,
      note: expect.stringContaining('grace'),
      pastDue: { failedAt: at(firstFailure), graceEndsAt },
    });
  });

  it('does not extend the grace for later failures of the same cycle', () => {
    const facts = [...paidSubscription(), failed('2025-06-13T18:00:00Z'), failed(firstFailure), failed('2025-06-19T18:00:00Z')];
    expect(deriveSourceState(facts, immediate, at('2025-06-19T19:00:00Z'))).toMatchObject({ state: 'active', pastDue: { failedAt: at(firstFailure), graceEndsAt } });
  });

  it('revokes when the grace runs out, with the reason', () => {
    const facts = [...paidSubscription(), failed(firstFailure), failed('2025-06-19T18:00:00Z')];
    expect(deriveSourceState(facts, immediate, new Date(graceEndsAt.getTime() - 1))).toMatchObject({ state: 'active' });
    expect(deriveSourceState(facts, immediate, graceEndsAt)).toEqual(revoked(/payment failed on 2025-06-10T18:00:00.000Z and the 10-day grace ran out/));
  });

  it('follows the site grace setting, zero days included', () => {
    const facts = [...paidSubscription(), failed(firstFailure)];
    expect(deriveSourceState(facts, { ...immediate, graceDays: 3 }, at('2025-06-12T00:00:00Z'))).toMatchObject({ pastDue: { graceEndsAt: plusDays(at(firstFailure), 3) } });
    expect(deriveSourceState(facts, { ...immediate, graceDays: 0 }, at(firstFailure))).toEqual(revoked(/0-day grace ran out/));
  });

  it('ends the grace when a rebill is paid, even after the grace ran out', () => {
    const recovered = fact('rebill', '2025-06-25T18:00:00Z', { payNumber: 4 });
    expect(deriveSourceState([...paidSubscription(), failed(firstFailure), recovered], immediate, at('2025-07-01T00:00:00Z'))).toEqual(
      active({ endsAt: null, note: 'rebill #4 paid' }),
    );
  });

  it('ignores failures of an earlier cycle that a rebill already paid', () => {
    const oldFailure = fact('payment_failed', '2025-04-10T18:00:00Z', { payNumber: 2 });
    expect(deriveSourceState([...paidSubscription(), oldFailure], immediate, at('2025-07-01T00:00:00Z'))).toEqual(active({ endsAt: null }));
  });

  it('starts a fresh grace for a failure in a later cycle', () => {
    const facts = [firstPayment(), failed('2025-04-10T18:00:00Z'), rebill2(), rebill3(), failed(firstFailure)];
    expect(deriveSourceState(facts, immediate, at('2025-06-12T00:00:00Z'))).toMatchObject({ state: 'active', pastDue: { failedAt: at(firstFailure) } });
  });

  it('lets a cancellation end a subscription that is past due', () => {
    const facts = [...paidSubscription(), failed(firstFailure), fact('subscription_cancel', '2025-06-11T12:30:19Z')];
    expect(deriveSourceState(facts, immediate, at('2025-06-12T00:00:00Z'))).toEqual(revoked(/subscription cancelled/));
  });
});

describe('effectiveLevelIds', () => {
  const now = at('2025-06-01T00:00:00Z');
  const grant = (levelId: number, status: Grant['status'], expiresAt: Date | null = null) => ({ levelId, status, expiresAt });

  it('keeps a level while another grant still gives it', () => {
    expect(effectiveLevelIds([grant(8811, 'revoked'), grant(8811, 'active')], now)).toEqual([8811]);
    expect(effectiveLevelIds([grant(8811, 'active'), grant(8811, 'revoked')], now)).toEqual([8811]);
  });

  it('drops a level when every grant that gave it is revoked', () => {
    expect(effectiveLevelIds([grant(8811, 'revoked'), grant(8810, 'active'), grant(8811, 'revoked')], now)).toEqual([8810]);
  });

  it('drops a manual grant at its expiry and keeps it before', () => {
    expect(effectiveLevelIds([grant(8812, 'active', new Date(now.getTime() + 1))], now)).toEqual([8812]);
    expect(effectiveLevelIds([grant(8812, 'active', now)], now)).toEqual([]);
    expect(effectiveLevelIds([grant(8812, 'active', now), grant(8812, 'active', null)], now)).toEqual([8812]);
  });

  it('lists each level once, sorted', () => {
    expect(effectiveLevelIds([grant(3, 'active'), grant(1, 'active'), grant(3, 'active'), grant(2, 'active')], now)).toEqual([1, 2, 3]);
    expect(effectiveLevelIds([], now)).toEqual([]);
  });
});

describe('deriveAssetState: the latest assignment or removal of a tag or membership level decides', () => {
  /** A fact of event `eventId` (arrival order), with Kartra's time when the event carried one. */
  const assetFact = (change: AssetChange, eventId: number, occurredAt: string | null = null): AssetFact => ({
    id: eventId,
    siteId: 1,
    memberId: 1,
    assetKey: 'tag:checkoutjoy - pro course',
    change,
    occurredAt: occurredAt ? at(occurredAt) : null,
    receivedAt: at('2026-12-02T10:00:00Z'),
    eventId,
  });
  const state = (facts: AssetFact[]) => deriveAssetState(facts, 'tag', 'tag "VIP"').state;

  it('gives nothing without facts, access after an assignment, none after a removal', () => {
    expect(state([])).toBe('no_payment');
    expect(deriveAssetState([assetFact('assigned', 1)], 'tag', 'tag "VIP"')).toEqual({ state: 'active', endsAt: null, note: 'tag "VIP" assigned in Kartra', pastDue: null });
    expect(deriveAssetState([assetFact('assigned', 1), assetFact('removed', 2)], 'membership', 'membership "A" level "Pro"')).toEqual({
      state: 'revoked',
      reason: 'membership "A" level "Pro" revoked in Kartra',
    });
  });

  it('without Kartra times, arrival order decides: a removal that arrived first is undone by a later assignment', () => {
    expect(state([assetFact('removed', 1), assetFact('assigned', 2)])).toBe('active');
    expect(state([assetFact('assigned', 1), assetFact('removed', 2), assetFact('assigned', 3)])).toBe('active');
  });

  it("with Kartra times on both, the times decide whatever the arrival order", () => {
    expect(state([assetFact('removed', 1, '2026-12-02T10:05:00Z'), assetFact('assigned', 2, '2026-12-02T10:00:00Z')])).toBe('revoked');
    expect(state([assetFact('assigned', 1, '2026-12-02T10:05:00Z'), assetFact('removed', 2, '2026-12-02T10:00:00Z')])).toBe('active');
    // The same second is no order at all: arrival breaks the tie.
    expect(state([assetFact('assigned', 1, '2026-12-02T10:00:00Z'), assetFact('removed', 2, '2026-12-02T10:00:00Z')])).toBe('revoked');
  });

  it('falls back to arrival order when only one of the two carries a time', () => {
    expect(state([assetFact('removed', 1, '2026-12-02T10:05:00Z'), assetFact('assigned', 2)])).toBe('active');
  });
});
