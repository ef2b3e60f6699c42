import { fingerprintEvent } from '../../src/domain/kartra/fingerprint';
import type { KartraEvent } from '../../src/domain/kartra/kartra-event';
import { parseKartraBody } from '../../src/domain/kartra/parse-kartra-body';
import { assetFixture, assetFixtureText, ipnFixtureBody, outboundFixture, outboundFixtureText, variantFixture, withTransaction } from '../support/kartra-fixtures';

const ZONE = 'America/New_York';
const receivedAt = new Date('2025-06-11T12:30:21Z');

function eventFrom(body: string): KartraEvent {
  const result = parseKartraBody(Buffer.from(body), undefined, ZONE);
  if (!result.ok) throw new Error(result.error);
  return result.event;
}

const outbound = (name: string) => eventFrom(outboundFixtureText(name));
const ipn = (name: string, overrides: Record<string, string> = {}) => eventFrom(ipnFixtureBody(name, overrides));
const fingerprint = (event: KartraEvent, at = receivedAt) => fingerprintEvent(event, at);

describe('fingerprintEvent', () => {
  it('is a sha-256 hex digest', () => {
    expect(fingerprint(outbound('02-buy_product.one-time.dana.json'))).toMatch(/^[0-9a-f]{64}$/);
  });

  it.each([
    ['outbound buy_product 02 and IPN sale 01 (order 9130021)', '02-buy_product.one-time.dana.json', '01-sale.one-time.dana.txt'],
    ['outbound partial refund 04 and IPN partial refund 02 (order 9130544)', '04-partial_refund_product.dana.json', '02-partial_refund.one-time.dana.txt'],
    ['outbound first payment 05 and IPN sale 03 (order 9131507)', '05-buy_product.subscription-first-payment.dana.json', '03-sale.subscription-first-payment.dana.txt'],
    ['outbound cancel 08 and IPN cancellation 07 (order 9159004)', '08-cancel_subscription.dana.json', '07-cancellation.dana.txt'],
    ['outbound buy_product 11 and IPN sale 08 (order 9133410)', '11-buy_product.one-time.sam.json', '08-sale.one-time.sam.txt'],
    ['outbound refund 12 and IPN refund 09 (order 9135876)', '12-refund_product.sam.json', '09-refund.one-time.sam.txt'],
  ])('gives one fingerprint to %s, whenever each arrives', (_label, outboundName, ipnName) => {
    const later = new Date(receivedAt.getTime() + 3 * 60 * 60 * 1000);
    expect(fingerprint(ipn(ipnName), later)).toBe(fingerprint(outbound(outboundName), receivedAt));
  });

  it('gives the HYPOTHETICAL outbound rebill and the IPN rebill of order 9140288 one fingerprint', () => {
    expect(fingerprint(eventFrom(JSON.stringify(variantFixture('HYPOTHETICAL-buy_product.rebill.dana.json'))))).toBe(fingerprint(ipn('04-rebill.payment-2.dana.txt')));
  });

  it('ignores what does not identify the event: names, email spelling, the IPN secret, unknown fields', () => {
    const base = fingerprint(outbound('02-buy_product.one-time.dana.json'));
    const body = outboundFixture('02-buy_product.one-time.dana.json');
    Object.assign(body.lead as Record<string, unknown>, { first_name: 'Danielle', email: 'DANA.WHITFIELD@EXAMPLE.COM', extra: 1 });
    expect(fingerprint(eventFrom(JSON.stringify(body)))).toBe(base);
    expect(fingerprint(ipn('01-sale.one-time.dana.txt', { secret_key: 'another-secret' }))).toBe(base);
  });

  it('differs between different orders', () => {
    const prints = [
      fingerprint(outbound('02-buy_product.one-time.dana.json')),
      fingerprint(outbound('11-buy_product.one-time.sam.json')),
      fingerprint(outbound('05-buy_product.subscription-first-payment.dana.json')),
      fingerprint(ipn('04-rebill.payment-2.dana.txt')),
      fingerprint(ipn('05-rebill.payment-3.dana.txt')),
      fingerprint(ipn('06-failed.rebill-payment-4.dana.txt')),
      fingerprint(outbound('04-partial_refund_product.dana.json')),
      fingerprint(outbound('12-refund_product.sam.json')),
      fingerprint(outbound('08-cancel_subscription.dana.json')),
    ];
    expect(new Set(prints).size).toBe(prints.length);
  });

  it('differs between kinds of the same order, and between products of the same order', () => {
    const sale = ipn('08-sale.one-time.sam.txt');
    expect(fingerprint(ipn('08-sale.one-time.sam.txt', { transaction_type: 'chargeback' }))).not.toBe(fingerprint(sale));
    expect(fingerprint(ipn('08-sale.one-time.sam.txt', { product_id: '558476' }))).not.toBe(fingerprint(sale));
  });

  it('without an order id, identifies a money event by lead, product, subscription, pay number and amount', () => {
    const withoutOrder = (changes: Record<string, unknown>) =>
      eventFrom(JSON.stringify(withTransaction(outboundFixture('05-buy_product.subscription-first-payment.dana.json'), { transaction_id: '', ...changes })));
    const base = fingerprint(withoutOrder({}));
    expect(fingerprint(withoutOrder({}), new Date('2026-01-01T00:00:00Z'))).toBe(base);
    expect(fingerprint(withoutOrder({ transaction_subscription_pay_number: '2' }))).not.toBe(base);
    expect(fingerprint(withoutOrder({ transaction_full_amount: '30.00' }))).not.toBe(base);
    expect(fingerprint(withoutOrder({ transaction_internal_subscription_id: '77311' }))).not.toBe(base);
  });

  it('treats a repeated tag or list event within ten minutes as the same delivery, and a later one as new', () => {
    const tag = outbound('06-assign_tag.dana.json');
    const first = new Date('2025-03-10T18:00:00Z');
    expect(fingerprint(tag, new Date(first.getTime() + 60_000))).toBe(fingerprint(tag, first));
    expect(fingerprint(tag, new Date(first.getTime() + 10 * 60_000))).not.toBe(fingerprint(tag, first));
    expect(fingerprint(outbound('10-unassign_tag.dana.json'), first)).not.toBe(fingerprint(tag, first));
  });
});

describe('fingerprintEvent for tag and membership events', () => {
  const asset = (name: string) => eventFrom(assetFixtureText(name));
  const withDetails = (name: string, details: unknown, lead?: unknown) => {
    const body = assetFixture(name);
    body.action_details = details;
    if (lead !== undefined) body.lead = lead;
    return eventFrom(JSON.stringify(body));
  };
  const at = new Date('2025-07-01T13:30:00Z');
  const inWindow = new Date(at.getTime() + 5 * 60_000);
  const nextWindow = new Date(at.getTime() + 10 * 60_000);

  it('gives the same tag assign twice within the window one fingerprint', () => {
    expect(fingerprint(asset('01-assign_tag.nested.lee.json'), inWindow)).toBe(fingerprint(asset('01-assign_tag.nested.lee.json'), at));
    expect(fingerprint(asset('08-assign_tag.numbers.lee.json'), inWindow)).toBe(fingerprint(asset('01-assign_tag.nested.lee.json'), at));
  });

  it('tells an assign from an unassign, and a grant from a revoke, of the same asset', () => {
    expect(fingerprint(asset('02-unassign_tag.nested.lee.json'), at)).not.toBe(fingerprint(asset('01-assign_tag.nested.lee.json'), at));
    expect(fingerprint(asset('04-membership_revoked.nested.lee.json'), at)).not.toBe(fingerprint(asset('03-membership_granted.nested.lee.json'), at));
  });

  it('counts the same change in a later window as a new event', () => {
    expect(fingerprint(asset('01-assign_tag.nested.lee.json'), nextWindow)).not.toBe(fingerprint(asset('01-assign_tag.nested.lee.json'), at));
    expect(fingerprint(asset('03-membership_granted.nested.lee.json'), nextWindow)).not.toBe(fingerprint(asset('03-membership_granted.nested.lee.json'), at));
  });

  it('identifies a tag named by name alone by its name, ignoring case and white space', () => {
    const byName = fingerprint(asset('07-assign_tag.email-only.json'), at);
    const lead = { email: 'lee.park@example.com' };
    expect(fingerprint(withDetails('07-assign_tag.email-only.json', { tag: { tag_name: '  checkoutjoy -  PRO course ' } }, lead), at)).toBe(byName);
    expect(fingerprint(withDetails('07-assign_tag.email-only.json', { tag: { tag_name: 'CheckoutJoy - Basic Course' } }, lead), at)).not.toBe(byName);
  });

  it('identifies a tag by its id when it has one, whatever its name says', () => {
    const byId = fingerprint(asset('01-assign_tag.nested.lee.json'), at);
    expect(fingerprint(withDetails('01-assign_tag.nested.lee.json', { tag: { tag_id: '70200', tag_name: 'Renamed in Kartra' } }), at)).toBe(byId);
    expect(fingerprint(withDetails('01-assign_tag.nested.lee.json', { tag: { tag_id: '70201', tag_name: 'CheckoutJoy - Pro Course' } }), at)).not.toBe(byId);
  });

  it('identifies a level by membership and level id, else by the two names in any case and white space', () => {
    const byId = fingerprint(asset('03-membership_granted.nested.lee.json'), at);
    expect(fingerprint(asset('05-membership_granted.flat.lee.json'), at)).toBe(byId);
    expect(fingerprint(withDetails('03-membership_granted.nested.lee.json', { membership: { membership_id: '4402', level_id: '8813' } }), at)).not.toBe(byId);
    const byName = fingerprint(asset('06-membership_granted.names-only.lee.json'), at);
    expect(fingerprint(withDetails('06-membership_granted.names-only.lee.json', { membership: { membership_name: 'Watercolor Academy', level_name: 'Pro Members' } }), at)).toBe(byName);
    expect(fingerprint(withDetails('06-membership_granted.names-only.lee.json', { membership: { membership_name: 'Watercolor Academy', level_name: 'Studio Members' } }), at)).not.toBe(byName);
    expect(byName).not.toBe(byId);
  });

  it('differs between people', () => {
    const base = fingerprint(asset('01-assign_tag.nested.lee.json'), at);
    expect(fingerprint(withDetails('01-assign_tag.nested.lee.json', { tag: { tag_id: '70200' } }, { id: '48230002' }), at)).not.toBe(base);
    expect(fingerprint(withDetails('07-assign_tag.email-only.json', { tag: { tag_name: 'CheckoutJoy - Pro Course' } }, { email: 'kim.lee@example.com' }), at)).not.toBe(
      fingerprint(asset('07-assign_tag.email-only.json'), at),
    );
  });
});
