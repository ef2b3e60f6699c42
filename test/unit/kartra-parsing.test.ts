import { OUTBOUND_ASSET_ACTIONS, OUTBOUND_MONEY_ACTIONS, OUTBOUND_OTHER_ACTIONS } from '../../src/domain/kartra/kartra-actions';
import { isMoneyEvent, type AssetEvent, type AssetReference, type KartraEvent, type LeadIdentity, type ParseResult, type TransactionFacts } from '../../src/domain/kartra/kartra-event';
import { parseKartraBody } from '../../src/domain/kartra/parse-kartra-body';
import {
  assetFixture,
  assetFixtureText,
  ipnFixtureBody,
  ipnFixtureFields,
  listAssetFixtures,
  listFixtures,
  outboundFixture,
  outboundFixtureText,
  variantFixture,
} from '../support/kartra-fixtures';

const ZONE = 'America/New_York';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

function parseJson(body: unknown, contentType = 'application/json'): ParseResult {
  return parseKartraBody(Buffer.from(typeof body === 'string' ? body : JSON.stringify(body)), contentType, ZONE);
}

function parseForm(body: string, contentType = 'application/x-www-form-urlencoded'): ParseResult {
  return parseKartraBody(Buffer.from(body), contentType, ZONE);
}

function eventOf(result: ParseResult): KartraEvent {
  if (!result.ok) throw new Error(`expected a parsed event, got: ${result.error}`);
  return result.event;
}

function errorOf(result: ParseResult): string {
  if (result.ok) throw new Error(`expected a parse failure, got a ${result.event.kind} event`);
  return result.error;
}

function outboundJson(name: string): JsonObject {
  return outboundFixture(name) as JsonObject;
}

function transactionDetails(body: JsonObject): JsonObject {
  return (body.action_details as JsonObject).transaction_details as JsonObject;
}

function ipnForm(fields: [string, string][]): string {
  return new URLSearchParams(fields).toString();
}

function multipartBody(fields: [string, string][], boundary: string): string {
  const parts = fields.map(([name, value]) => `--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`);
  return `${parts.join('')}--${boundary}--\r\n`;
}

/** Applies `change` to every string value of a JSON tree, keeping the shape. */
function mapStrings(value: Json, change: (text: string) => Json): Json {
  if (typeof value === 'string') return change(value);
  if (Array.isArray(value)) return value.map((item) => mapStrings(item, change));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, mapStrings(item, change)]));
  }
  return value;
}

const dana: LeadIdentity = { leadId: '48213977', email: 'dana.whitfield@example.com', firstName: 'Dana', lastName: 'Whitfield' };
const sam: LeadIdentity = { leadId: '48215530', email: 'sam.okafor@example.net', firstName: 'Sam', lastName: 'Okafor' };

const foundations = { productId: '558475', productName: 'Watercolor Foundations', pricePoint: 1 };
const studio = { productId: '612001', productName: 'Studio Membership', pricePoint: 2 };
const studioSubscription = { ...studio, subscriptionId: '77310', originalTransactionId: '9131507' };

/**
 * The transaction facts of every order in the two stories, by order id. Kartra's "EST" times are read in
 * America/New_York: before 9 March 2025 that is UTC-5, from then until 2 November UTC-4.
 */
const orders: Record<string, TransactionFacts> = {
  '9130021': { ...foundations, transactionId: '9130021', amountCents: 19700, occurredAtRaw: '2025-03-04 09:12:05', occurredAt: new Date('2025-03-04T14:12:05Z') },
  '9130544': {
    ...foundations,
    transactionId: '9130544',
    parentTransactionId: '9130021',
    amountCents: 4700,
    occurredAtRaw: '2025-03-06 15:40:10',
    occurredAt: new Date('2025-03-06T20:40:10Z'),
  },
  '9131507': {
    ...studioSubscription,
    transactionId: '9131507',
    payNumber: 1,
    amountCents: 2900,
    occurredAtRaw: '2025-03-10 14:03:40',
    occurredAt: new Date('2025-03-10T18:03:40Z'),
  },
  '9140288': {
    ...studioSubscription,
    transactionId: '9140288',
    payNumber: 2,
    amountCents: 2900,
    occurredAtRaw: '2025-04-10 14:05:11',
    occurredAt: new Date('2025-04-10T18:05:11Z'),
  },
  '9149930': {
    ...studioSubscription,
    transactionId: '9149930',
    payNumber: 3,
    amountCents: 2900,
    occurredAtRaw: '2025-05-10 14:04:57',
    occurredAt: new Date('2025-05-10T18:04:57Z'),
  },
  '9158812': {
    ...studioSubscription,
    transactionId: '9158812',
    payNumber: 4,
    amountCents: 2900,
    occurredAtRaw: '2025-06-10 14:06:03',
    occurredAt: new Date('2025-06-10T18:06:03Z'),
  },
  '9159004': { ...studioSubscription, transactionId: '9159004', occurredAtRaw: '2025-06-11 08:30:19', occurredAt: new Date('2025-06-11T12:30:19Z') },
  '9133410': { ...foundations, transactionId: '9133410', amountCents: 19700, occurredAtRaw: '2025-03-12 16:20:31', occurredAt: new Date('2025-03-12T20:20:31Z') },
  '9135876': {
    ...foundations,
    transactionId: '9135876',
    parentTransactionId: '9133410',
    amountCents: 19700,
    occurredAtRaw: '2025-03-19 11:02:15',
    occurredAt: new Date('2025-03-19T15:02:15Z'),
  },
};

function money(kind: KartraEvent['kind'], channel: 'outbound' | 'ipn', action: string, lead: LeadIdentity, order: string, extra: object = {}): KartraEvent {
  const transaction = orders[order];
  if (!transaction) throw new Error(`no expected facts for order ${order}`);
  return { kind, channel, action, lead, transaction, ...extra } as KartraEvent;
}

function other(action: string, asset: { type: string; id: string; name: string }): KartraEvent {
  return { kind: 'other', channel: 'outbound', action, knownAction: true, lead: dana, asset };
}

function assetEvent(action: string, change: AssetEvent['change'], asset: AssetReference, lead: LeadIdentity = dana): KartraEvent {
  return { kind: 'asset', channel: 'outbound', action, change, asset, lead };
}

const foundationsLevel: AssetReference = { kind: 'membership', membershipId: '4402', membershipName: 'Watercolor Academy', levelId: '8810', levelName: 'Foundations' };
const studioLevel: AssetReference = { kind: 'membership', membershipId: '4402', membershipName: 'Watercolor Academy', levelId: '8811', levelName: 'Studio Members' };
const studioTag: AssetReference = { kind: 'tag', tagId: '70113', tagName: 'Studio Member - Active' };

const expectedOutbound: Record<string, KartraEvent> = {
  '01-list_subscription.dana.json': other('list_subscription', { type: 'list', id: '3301', name: 'Watercolor Tips Newsletter' }),
  '02-buy_product.one-time.dana.json': money('purchase', 'outbound', 'buy_product', dana, '9130021'),
  '03-membership_granted.dana.foundations.json': assetEvent('membership_granted', 'assigned', foundationsLevel),
  '04-partial_refund_product.dana.json': money('partial_refund', 'outbound', 'partial_refund_product', dana, '9130544'),
  '05-buy_product.subscription-first-payment.dana.json': money('purchase', 'outbound', 'buy_product', dana, '9131507'),
  '06-assign_tag.dana.json': assetEvent('assign_tag', 'assigned', studioTag),
  '07-membership_granted.dana.studio.json': assetEvent('membership_granted', 'assigned', studioLevel),
  '08-cancel_subscription.dana.json': money('subscription_cancel', 'outbound', 'cancel_subscription', dana, '9159004'),
  '09-membership_revoked.dana.studio.json': assetEvent('membership_revoked', 'removed', studioLevel),
  '10-unassign_tag.dana.json': assetEvent('unassign_tag', 'removed', studioTag),
  '11-buy_product.one-time.sam.json': money('purchase', 'outbound', 'buy_product', sam, '9133410'),
  '12-refund_product.sam.json': money('refund', 'outbound', 'refund_product', sam, '9135876'),
};

const IPN_SECRET = 'wc-ipn-3f9a71c2';
const ipn = (kind: KartraEvent['kind'], action: string, lead: LeadIdentity, order: string) => money(kind, 'ipn', action, lead, order, { ipnSecret: IPN_SECRET });

const expectedIpn: Record<string, KartraEvent> = {
  '01-sale.one-time.dana.txt': ipn('purchase', 'sale', dana, '9130021'),
  '02-partial_refund.one-time.dana.txt': ipn('partial_refund', 'partial_refund', dana, '9130544'),
  '03-sale.subscription-first-payment.dana.txt': ipn('purchase', 'sale', dana, '9131507'),
  '04-rebill.payment-2.dana.txt': ipn('rebill', 'rebill', dana, '9140288'),
  '05-rebill.payment-3.dana.txt': ipn('rebill', 'rebill', dana, '9149930'),
  '06-failed.rebill-payment-4.dana.txt': ipn('payment_failed', 'failed', dana, '9158812'),
  '07-cancellation.dana.txt': ipn('subscription_cancel', 'cancellation', dana, '9159004'),
  '08-sale.one-time.sam.txt': ipn('purchase', 'sale', sam, '9133410'),
  '09-refund.one-time.sam.txt': ipn('refund', 'refund', sam, '9135876'),
};

describe('outbound fixtures', () => {
  it('has an expectation for every outbound fixture on disk', () => {
    expect(listFixtures('outbound')).toEqual(Object.keys(expectedOutbound));
  });

  it.each(Object.entries(expectedOutbound))('parses %s to the expected typed event with no notes', (name, expected) => {
    const result = parseJson(outboundFixtureText(name));
    expect(result).toEqual({ ok: true, event: expected, notes: [] });
  });

  it('parses the HYPOTHETICAL buy_product rebill as a rebill of subscription 77310, never a purchase', () => {
    const event = eventOf(parseJson(variantFixture('HYPOTHETICAL-buy_product.rebill.dana.json')));
    expect(event).toEqual(money('rebill', 'outbound', 'buy_product', dana, '9140288'));
  });
});

describe('IPN fixtures', () => {
  it('has an expectation for every IPN fixture on disk', () => {
    expect(listFixtures('ipn')).toEqual(Object.keys(expectedIpn));
  });

  it.each(Object.entries(expectedIpn))('parses %s (urlencoded) to the expected typed event with no notes', (name, expected) => {
    const result = parseForm(ipnFixtureBody(name));
    expect(result).toEqual({ ok: true, event: expected, notes: [] });
  });

  it.each(listFixtures('ipn'))('parses %s sent as multipart/form-data exactly as the urlencoded form', (name) => {
    const boundary = '----KartraBoundary7MA4YWxkTrZu0gW';
    const multipart = parseForm(multipartBody(ipnFixtureFields(name), boundary), `multipart/form-data; boundary=${boundary}`);
    expect(multipart).toEqual(parseForm(ipnFixtureBody(name)));
  });

  it('reads the same transaction facts from both channels for the orders they share', () => {
    const pairs: [string, string][] = [
      ['02-buy_product.one-time.dana.json', '01-sale.one-time.dana.txt'],
      ['04-partial_refund_product.dana.json', '02-partial_refund.one-time.dana.txt'],
      ['05-buy_product.subscription-first-payment.dana.json', '03-sale.subscription-first-payment.dana.txt'],
      ['08-cancel_subscription.dana.json', '07-cancellation.dana.txt'],
      ['11-buy_product.one-time.sam.json', '08-sale.one-time.sam.txt'],
      ['12-refund_product.sam.json', '09-refund.one-time.sam.txt'],
    ];
    for (const [outboundName, ipnName] of pairs) {
      const fromOutbound = eventOf(parseJson(outboundFixtureText(outboundName)));
      const fromIpn = eventOf(parseForm(ipnFixtureBody(ipnName)));
      expect({ kind: fromIpn.kind, lead: fromIpn.lead, transaction: 'transaction' in fromIpn ? fromIpn.transaction : null }).toEqual({
        kind: fromOutbound.kind,
        lead: fromOutbound.lead,
        transaction: 'transaction' in fromOutbound ? fromOutbound.transaction : null,
      });
    }
  });
});

describe('IPN transaction types', () => {
  it.each([
    ['sale', 'purchase'],
    ['rebill', 'rebill'],
    ['failed', 'payment_failed'],
    ['refund', 'refund'],
    ['partial_refund', 'partial_refund'],
    ['chargeback', 'chargeback'],
    ['cancellation', 'subscription_cancel'],
    ['SALE', 'purchase'],
  ])('maps transaction_type=%s to kind %s', (transactionType, kind) => {
    const event = eventOf(parseForm(ipnFixtureBody('04-rebill.payment-2.dana.txt', { transaction_type: transactionType })));
    expect(event.kind).toBe(kind);
    expect(event.channel).toBe('ipn');
  });

  it('keeps an undocumented transaction_type as an unknown other event with a note', () => {
    const result = parseForm(ipnFixtureBody('04-rebill.payment-2.dana.txt', { transaction_type: 'upsell_teleport' }));
    expect(eventOf(result)).toMatchObject({ kind: 'other', channel: 'ipn', action: 'upsell_teleport', knownAction: false, lead: dana });
    expect(result.ok && result.notes).toEqual([expect.objectContaining({ path: 'transaction_type', message: expect.stringContaining('not documented') })]);
  });

  it('reads the charged-back order from transaction_parent_id', () => {
    const event = eventOf(parseForm(ipnFixtureBody('08-sale.one-time.sam.txt', { transaction_type: 'chargeback', transaction_id: '9137001', transaction_parent_id: '9133410' })));
    expect(event).toMatchObject({ kind: 'chargeback', transaction: { transactionId: '9137001', parentTransactionId: '9133410', productId: '558475' } });
  });
});

describe('outbound actions', () => {
  const documentedActions = [
    'buy_product',
    'refund_product',
    'partial_refund_product',
    'cancel_subscription',
    'membership_granted',
    'membership_revoked',
    'assign_tag',
    'unassign_tag',
    'list_subscription',
    'list_unsubscription',
    'affiliate_signup',
    'jv_signup',
    'calendar_subscribe',
    'calendar_cancel',
    'calendar_complete',
    'click_page_split_test_link',
    'filled_form',
    'kartra_page_visit',
    'reaches_score',
    'sequence_subscription',
    'sequence_unsubscription',
    'sequence_completion',
    'survey_complete',
    'video_play',
    'video_complete',
  ];

  it('knows exactly the 25 action strings Kartra documents (REFERENCE.md §6.8)', () => {
    expect(documentedActions).toHaveLength(25);
    expect([...Object.keys(OUTBOUND_MONEY_ACTIONS), ...Object.keys(OUTBOUND_ASSET_ACTIONS), ...OUTBOUND_OTHER_ACTIONS].sort()).toEqual([...documentedActions].sort());
  });

  it.each([
    ['buy_product', 'purchase'],
    ['refund_product', 'refund'],
    ['partial_refund_product', 'partial_refund'],
    ['cancel_subscription', 'subscription_cancel'],
  ])('maps the money action %s to kind %s', (action, kind) => {
    const body = outboundJson('11-buy_product.one-time.sam.json');
    body.action = action;
    delete transactionDetails(body).transaction_type;
    expect(eventOf(parseJson(body))).toMatchObject({ kind, channel: 'outbound', action, lead: sam, transaction: { productId: '558475' } });
  });

  it.each(documentedActions.filter((action) => !(action in OUTBOUND_MONEY_ACTIONS) && !(action in OUTBOUND_ASSET_ACTIONS)))('recognises %s as a known action that changes no access', (action) => {
    const result = parseJson({ lead: { id: '48213977', email: 'dana.whitfield@example.com' }, action, action_details: { video: { video_id: '5', video_name: 'Intro' } } });
    expect(result).toMatchObject({ ok: true, event: { kind: 'other', action, knownAction: true, lead: { leadId: '48213977' } }, notes: [] });
  });

  it('flags an action Kartra never documented as unknown, with a note, and still parses the lead', () => {
    const result = parseJson({ lead: { id: '48213977', email: 'dana.whitfield@example.com' }, action: 'lead_teleported', action_details: {} });
    expect(result).toEqual({
      ok: true,
      event: { kind: 'other', channel: 'outbound', action: 'lead_teleported', knownAction: false, lead: { leadId: '48213977', email: 'dana.whitfield@example.com' } },
      notes: [{ path: 'action', message: expect.stringContaining('not documented') }],
    });
  });

  it('reads the action case-insensitively', () => {
    const body = outboundJson('02-buy_product.one-time.dana.json');
    body.action = 'BUY_PRODUCT';
    expect(eventOf(parseJson(body)).kind).toBe('purchase');
  });
});

describe('tolerance: variants normalise to the same event', () => {
  const moneyFixtures = Object.entries(expectedOutbound)
    .filter(([, event]) => isMoneyEvent(event))
    .map(([name]) => name);

  it.each(moneyFixtures)('%s with numbers sent as JSON ints and floats instead of strings', (name) => {
    const text = outboundFixtureText(name).replace(/"((?:0|[1-9]\d*)(?:\.\d+)?)"/g, '$1');
    expect(text).toMatch(/"transaction_full_amount": \d+\.\d\d|"product_id": \d+/);
    expect(eventOf(parseJson(text))).toEqual(expectedOutbound[name]);
  });

  it('amounts as ints, floats and strings give the same cents', () => {
    for (const amount of [29, 29.0, '29', '29.00', ' 29.00 ', 28.999999999]) {
      const body = outboundJson('05-buy_product.subscription-first-payment.dana.json');
      transactionDetails(body).transaction_full_amount = amount;
      expect({ amount, event: eventOf(parseJson(body)) }).toEqual({ amount, event: expectedOutbound['05-buy_product.subscription-first-payment.dana.json'] });
    }
  });

  it.each(['N/A', '', null, 'missing'] as const)('%s as the empty value gives the same events', (empty) => {
    for (const name of moneyFixtures) {
      const body = outboundJson(name);
      const replaceEmpty = (record: Json): JsonObject =>
        Object.fromEntries(
          Object.entries(record as JsonObject)
            .filter(([, value]) => !(empty === 'missing' && value === ''))
            .map(([key, value]) => [key, value === '' ? empty : value]),
        );
      body.lead = replaceEmpty(body.lead as Json);
      (body.action_details as JsonObject).transaction_details = replaceEmpty(transactionDetails(body));
      expect({ name, event: eventOf(parseJson(body)) }).toEqual({ name, event: expectedOutbound[name] });
    }
  });

  it.each(['', 'missing'] as const)('IPN fields with %s instead of N/A give the same events', (empty) => {
    for (const name of listFixtures('ipn')) {
      const fields = ipnFixtureFields(name)
        .filter(([, value]) => !(empty === 'missing' && value === 'N/A'))
        .map(([key, value]): [string, string] => [key, value === 'N/A' ? empty : value]);
      expect({ name, event: eventOf(parseForm(ipnForm(fields))) }).toEqual({ name, event: expectedIpn[name] });
    }
  });

  it('outbound null, "N/A" and "0" parent and original ids are all "none"', () => {
    for (const none of [null, 'N/A', '', '0', 0]) {
      const body = outboundJson('02-buy_product.one-time.dana.json');
      Object.assign(transactionDetails(body), { transaction_parent_id: none, original_id: none });
      expect(eventOf(parseJson(body))).toEqual(expectedOutbound['02-buy_product.one-time.dana.json']);
    }
  });

  it('legacy lead keys (google_plus, lead_deleted, lead_deleted_date) change nothing', () => {
    for (const name of Object.keys(expectedOutbound)) {
      const body = outboundJson(name);
      Object.assign(body.lead as JsonObject, { google_plus: '', lead_deleted: '0', lead_deleted_date: '0000-00-00 00:00:00' });
      expect(parseJson(body)).toEqual({ ok: true, event: expectedOutbound[name], notes: [] });
    }
  });

  it('unknown extra fields anywhere change nothing', () => {
    for (const name of moneyFixtures) {
      const body = outboundJson(name);
      body.delivery_attempt = 3;
      (body.lead as JsonObject).favourite_brush = { size: 12, kind: 'sable' };
      transactionDetails(body).transaction_loyalty_points = ['12', 'N/A'];
      (body.action_details as JsonObject).extra_block = { anything: true };
      expect(parseJson(body)).toEqual({ ok: true, event: expectedOutbound[name], notes: [] });
    }
    for (const name of listFixtures('ipn')) {
      const fields: [string, string][] = [...ipnFixtureFields(name), ['transaction_loyalty_points', '12'], ['vendor_tracking_id_3', 'N/A']];
      expect(parseForm(ipnForm(fields))).toEqual({ ok: true, event: expectedIpn[name], notes: [] });
    }
  });

  it('legacy buyer_* keys stand in for lead_* keys on IPN posts', () => {
    const aliases: Record<string, string> = { lead_id: 'buyer_id', lead_email: 'buyer_email', lead_first_name: 'buyer_first_name', lead_last_name: 'buyer_last_name' };
    for (const name of listFixtures('ipn')) {
      const fields = ipnFixtureFields(name).map(([key, value]): [string, string] => [aliases[key] ?? key, value]);
      expect(fields.some(([key]) => key === 'lead_email')).toBe(false);
      expect({ name, event: eventOf(parseForm(ipnForm(fields))) }).toEqual({ name, event: expectedIpn[name] });
    }
  });

  it('legacy buyer_* keys in transaction_details stand in for a lead object without identity', () => {
    const aliases: Record<string, string> = { lead_id: 'buyer_id', lead_email: 'buyer_email', lead_first_name: 'buyer_first_name', lead_last_name: 'buyer_last_name' };
    for (const name of moneyFixtures) {
      const body = outboundJson(name);
      body.lead = Object.fromEntries(Object.entries(body.lead as JsonObject).filter(([key]) => !['id', 'email', 'first_name', 'last_name'].includes(key)));
      (body.action_details as JsonObject).transaction_details = Object.fromEntries(
        Object.entries(transactionDetails(body)).map(([key, value]) => [aliases[key] ?? key, value]),
      );
      expect({ name, event: eventOf(parseJson(body)) }).toEqual({ name, event: expectedOutbound[name] });
    }
  });

  it('the email is trimmed and lower-cased; ids lose leading zeros', () => {
    const body = outboundJson('02-buy_product.one-time.dana.json');
    Object.assign(body.lead as JsonObject, { id: '0048213977', email: '  Dana.Whitfield@Example.COM ' });
    expect(eventOf(parseJson(body)).lead).toEqual(dana);
  });

  it('an unreadable value is treated as missing and reported in a note', () => {
    const body = outboundJson('02-buy_product.one-time.dana.json');
    transactionDetails(body).transaction_full_amount = 'about two hundred';
    const result = parseJson(body);
    expect(eventOf(result)).toMatchObject({ kind: 'purchase', transaction: { transactionId: '9130021', amountCents: undefined } });
    expect(result.ok && result.notes).toEqual([{ path: 'action_details.transaction_details.transaction_full_amount', message: expect.stringContaining('unreadable') }]);
  });

  it('a whole JSON body of numbers from a typed client parses like the string one', () => {
    const body = mapStrings(outboundJson('05-buy_product.subscription-first-payment.dana.json'), (text) => (/^\d+(\.\d+)?$/.test(text) ? Number(text) : text));
    expect(eventOf(parseJson(body))).toEqual(expectedOutbound['05-buy_product.subscription-first-payment.dana.json']);
  });
});

describe('the body decides the channel, not the Content-Type', () => {
  const outboundText = outboundFixtureText('02-buy_product.one-time.dana.json');
  const ipnText = ipnFixtureBody('01-sale.one-time.dana.txt');

  it.each([undefined, 'application/json', 'application/x-www-form-urlencoded', 'text/plain', 'multipart/form-data; boundary=xyz'])(
    'JSON sent as %s is an outbound event',
    (contentType) => {
      expect(parseKartraBody(Buffer.from(outboundText), contentType, ZONE)).toEqual({ ok: true, event: expectedOutbound['02-buy_product.one-time.dana.json'], notes: [] });
    },
  );

  it.each([undefined, 'application/json', 'application/x-www-form-urlencoded', 'text/plain', 'multipart/form-data; boundary=xyz'])(
    'a urlencoded form sent as %s is an IPN event',
    (contentType) => {
      expect(parseKartraBody(Buffer.from(ipnText), contentType, ZONE)).toEqual({ ok: true, event: expectedIpn['01-sale.one-time.dana.txt'], notes: [] });
    },
  );

  it.each([undefined, 'application/json', 'application/x-www-form-urlencoded', 'text/plain', 'multipart/form-data; boundary=not-the-one'])('a multipart form sent as %s is an IPN event', (contentType) => {
    const body = multipartBody(ipnFixtureFields('01-sale.one-time.dana.txt'), 'b0undary-42');
    expect(parseKartraBody(Buffer.from(body), contentType, ZONE)).toEqual({ ok: true, event: expectedIpn['01-sale.one-time.dana.txt'], notes: [] });
  });
});

describe('__proto__ and constructor keys are data', () => {
  afterEach(() => {
    expect(Object.prototype).not.toHaveProperty('action');
    expect(Object.prototype).not.toHaveProperty('product_id');
    expect(Object.prototype).not.toHaveProperty('transaction_type');
    expect(Object.prototype).not.toHaveProperty('polluted');
  });

  it('an action hidden under __proto__ in JSON is not read', () => {
    const result = parseJson('{"__proto__": {"action": "buy_product", "polluted": true}, "lead": {"id": "1"}}');
    expect(errorOf(result)).toMatch(/no "action"/);
  });

  it('lead and transaction fields hidden under __proto__ or constructor are not read', () => {
    const body = outboundJson('02-buy_product.one-time.dana.json');
    const details = transactionDetails(body);
    delete details.product_id;
    const text = JSON.stringify(body).replace('"transaction_id":', '"__proto__": {"product_id": "666", "polluted": 1}, "constructor": {"product_id": "667"}, "transaction_id":');
    expect(errorOf(parseJson(text))).toMatch(/no product_id/);
  });

  it.each(['constructor', '__proto__', 'hasownproperty', 'tostring'])('the outbound action "%s" is an unknown action, not a money event', (action) => {
    const body = outboundJson('02-buy_product.one-time.dana.json');
    body.action = action;
    expect(eventOf(parseJson(body))).toMatchObject({ kind: 'other', action, knownAction: false });
  });

  it('an outbound transaction_type of "constructor" does not change the kind', () => {
    const body = outboundJson('02-buy_product.one-time.dana.json');
    transactionDetails(body).transaction_type = 'constructor';
    expect(eventOf(parseJson(body)).kind).toBe('purchase');
  });

  it.each(['constructor', '__proto__', 'toString', 'valueOf'])('the IPN transaction_type "%s" is an undocumented type, not a money event', (transactionType) => {
    const event = eventOf(parseForm(ipnFixtureBody('01-sale.one-time.dana.txt', { transaction_type: transactionType })));
    expect(event).toMatchObject({ kind: 'other', knownAction: false });
  });

  it('__proto__ and constructor form fields are kept as plain fields and change nothing', () => {
    const fields: [string, string][] = [['__proto__', 'polluted'], ['constructor', 'x'], ...ipnFixtureFields('01-sale.one-time.dana.txt')];
    expect(parseForm(ipnForm(fields))).toEqual({ ok: true, event: expectedIpn['01-sale.one-time.dana.txt'], notes: [] });
    const boundary = 'proto-boundary';
    expect(parseForm(multipartBody(fields, boundary), `multipart/form-data; boundary=${boundary}`)).toEqual({
      ok: true,
      event: expectedIpn['01-sale.one-time.dana.txt'],
      notes: [],
    });
  });
});

describe('bodies that are not Kartra events', () => {
  it.each([
    ['invalid JSON', '{"action": "buy_product", ', /not valid JSON/],
    ['an empty body', '', /empty body/],
    ['a body of whitespace', ' \r\n\t ', /empty body/],
    ['a JSON array', JSON.stringify([outboundFixture('02-buy_product.one-time.dana.json')]), /not an object/],
    ['a JSON string', '"buy_product"', /neither JSON nor a form|not an object/],
    ['plain text', 'hello kartra', /neither JSON nor a form/],
    ['JSON without an action', '{"lead": {"id": "1"}}', /no "action"/],
  ])('%s is not ok, with a clear error', (_label, body, message) => {
    expect(errorOf(parseJson(body))).toMatch(message);
  });

  it('a form without transaction_type is not an IPN post', () => {
    const fields = ipnFixtureFields('01-sale.one-time.dana.txt').filter(([key]) => key !== 'transaction_type');
    const result = parseForm(ipnForm(fields));
    expect(result).toMatchObject({ ok: false, channel: 'ipn' });
    expect(errorOf(result)).toMatch(/no transaction_type/);
  });

  it('an outbound money event without a product id is not ok', () => {
    for (const none of [undefined, '', 'N/A', null]) {
      const body = outboundJson('02-buy_product.one-time.dana.json');
      if (none === undefined) delete transactionDetails(body).product_id;
      else transactionDetails(body).product_id = none;
      expect(errorOf(parseJson(body))).toMatch(/no product_id/);
    }
  });

  it('an IPN money event without a product id is not ok', () => {
    expect(errorOf(parseForm(ipnFixtureBody('01-sale.one-time.dana.txt', { product_id: 'N/A' })))).toMatch(/no product_id/);
  });

  it('an outbound money event with no lead id and no usable email is not ok', () => {
    const body = outboundJson('02-buy_product.one-time.dana.json');
    delete body.lead;
    const details = transactionDetails(body);
    details.lead_id = 'N/A';
    details.lead_email = 'not-an-email';
    expect(errorOf(parseJson(body))).toMatch(/no lead id and no usable email/);
  });

  it('an outbound money event identified by email alone is fine', () => {
    const body = outboundJson('02-buy_product.one-time.dana.json');
    delete (body.lead as JsonObject).id;
    delete transactionDetails(body).lead_id;
    expect(eventOf(parseJson(body)).lead).toEqual({ email: dana.email, firstName: 'Dana', lastName: 'Whitfield' });
  });

  it('an IPN money event with no lead id and no email is not ok', () => {
    const result = parseForm(ipnFixtureBody('01-sale.one-time.dana.txt', { lead_id: 'N/A', lead_email: '' }));
    expect(errorOf(result)).toMatch(/no lead id and no usable email/);
  });

  it('a money action without transaction_details is not ok', () => {
    expect(errorOf(parseJson({ lead: { id: '1' }, action: 'refund_product', action_details: { tag: {} } }))).toMatch(/without action_details.transaction_details/);
  });
});

const lee: LeadIdentity = { leadId: '48230001', email: 'lee.park@example.com', firstName: 'Lee', lastName: 'Park' };
const proCourseTag: AssetReference = { kind: 'tag', tagId: '70200', tagName: 'CheckoutJoy - Pro Course' };
const proMembersLevel: AssetReference = { kind: 'membership', membershipId: '4402', membershipName: 'Watercolor Academy', levelId: '8812', levelName: 'Pro Members' };

const expectedAssetFixtures: Record<string, KartraEvent> = {
  '01-assign_tag.nested.lee.json': assetEvent('assign_tag', 'assigned', proCourseTag, lee),
  '02-unassign_tag.nested.lee.json': assetEvent('unassign_tag', 'removed', proCourseTag, lee),
  '03-membership_granted.nested.lee.json': assetEvent('membership_granted', 'assigned', proMembersLevel, lee),
  '04-membership_revoked.nested.lee.json': assetEvent('membership_revoked', 'removed', proMembersLevel, lee),
  '05-membership_granted.flat.lee.json': assetEvent('membership_granted', 'assigned', proMembersLevel, lee),
  '06-membership_granted.names-only.lee.json': assetEvent('membership_granted', 'assigned', { kind: 'membership', membershipName: 'watercolor academy', levelName: 'PRO members' }, lee),
  '07-assign_tag.email-only.json': assetEvent('assign_tag', 'assigned', { kind: 'tag', tagName: 'CheckoutJoy - Pro Course' }, { email: 'lee.park@example.com' }),
  '08-assign_tag.numbers.lee.json': assetEvent('assign_tag', 'assigned', proCourseTag, lee),
  '09-refund_product.buyer-keys.json': {
    kind: 'refund',
    channel: 'outbound',
    action: 'refund_product',
    lead: lee,
    transaction: {
      ...foundations,
      transactionId: '9171204',
      parentTransactionId: '9170566',
      amountCents: 19700,
      occurredAtRaw: '2025-07-08 13:45:09',
      occurredAt: new Date('2025-07-08T17:45:09Z'),
    },
  },
};

function assetJson(name: string): JsonObject {
  return assetFixture(name) as JsonObject;
}

function actionDetails(body: JsonObject): JsonObject {
  return body.action_details as JsonObject;
}

/** Lee's tag assign (01) with `action_details` replaced. */
function tagBody(details: Json, lead: Json = assetJson('01-assign_tag.nested.lee.json').lead as Json): JsonObject {
  return { lead, action: 'assign_tag', action_details: details };
}

describe('tag and membership fixtures (test/fixtures/kartra-assets)', () => {
  it('has an expectation for every fixture on disk', () => {
    expect(listAssetFixtures()).toEqual(Object.keys(expectedAssetFixtures));
  });

  it.each(Object.entries(expectedAssetFixtures))('parses %s to the expected typed event with no notes', (name, expected) => {
    expect(parseJson(assetFixtureText(name))).toEqual({ ok: true, event: expected, notes: [] });
  });

  it.each([
    ['assign_tag', 'assigned'],
    ['unassign_tag', 'removed'],
    ['membership_granted', 'assigned'],
    ['membership_revoked', 'removed'],
  ])('%s is an asset event that %s its asset, never an other event', (action, change) => {
    const body = assetJson(action.includes('tag') ? '01-assign_tag.nested.lee.json' : '03-membership_granted.nested.lee.json');
    body.action = action;
    expect(eventOf(parseJson(body))).toEqual(assetEvent(action, change as AssetEvent['change'], action.includes('tag') ? proCourseTag : proMembersLevel, lee));
  });

  it('reads the action case-insensitively', () => {
    const body = assetJson('02-unassign_tag.nested.lee.json');
    body.action = 'UnAssign_Tag';
    expect(eventOf(parseJson(body))).toEqual(expectedAssetFixtures['02-unassign_tag.nested.lee.json']);
  });

  it('a whole body of numbers parses like the string one, for memberships too', () => {
    const numbers = mapStrings(assetJson('03-membership_granted.nested.lee.json'), (text) => (/^[1-9]\d*$/.test(text) ? Number(text) : text));
    expect(actionDetails(numbers as JsonObject).membership).toMatchObject({ membership_id: 4402, level_id: 8812 });
    expect(parseJson(numbers)).toEqual({ ok: true, event: expectedAssetFixtures['03-membership_granted.nested.lee.json'], notes: [] });
  });

  it('a flat tag (tag_id and tag_name on action_details) parses like the nested one', () => {
    expect(parseJson(tagBody({ tag_id: '70200', tag_name: 'CheckoutJoy - Pro Course' }))).toEqual({ ok: true, event: expectedAssetFixtures['01-assign_tag.nested.lee.json'], notes: [] });
  });

  it('the nested object wins field by field, and flat keys fill what it lacks', () => {
    const body = tagBody({ tag: { tag_name: 'CheckoutJoy - Pro Course' }, tag_id: 70200, tag_name: 'Something Else' });
    expect(eventOf(parseJson(body))).toEqual(expectedAssetFixtures['01-assign_tag.nested.lee.json']);
  });

  it('ids and names are trimmed, names keep their case, ids lose leading zeros', () => {
    const body = tagBody({ tag: { tag_id: ' 070200 ', tag_name: '  CheckoutJoy - Pro Course\t' } });
    expect(eventOf(parseJson(body))).toEqual(expectedAssetFixtures['01-assign_tag.nested.lee.json']);
  });

  it.each(['N/A', '', null, 'missing'] as const)('%s for a tag id or name is "none", and the other part still names the tag', (empty) => {
    const tag: JsonObject = { tag_id: '70200', tag_name: 'CheckoutJoy - Pro Course' };
    if (empty === 'missing') delete tag.tag_id;
    else tag.tag_id = empty;
    expect(parseJson(tagBody({ tag }))).toEqual({ ok: true, event: assetEvent('assign_tag', 'assigned', { kind: 'tag', tagName: 'CheckoutJoy - Pro Course' }, lee), notes: [] });
  });

  it('a level named by id alone is enough', () => {
    const body = assetJson('03-membership_granted.nested.lee.json');
    actionDetails(body).membership = { level_id: '8812' };
    expect(eventOf(parseJson(body))).toEqual(assetEvent('membership_granted', 'assigned', { kind: 'membership', levelId: '8812' }, lee));
  });

  it('keys it does not know in action_details change nothing and are not noted', () => {
    const body = assetJson('01-assign_tag.nested.lee.json');
    Object.assign(actionDetails(body), { source: 'checkoutjoy', extra_block: { anything: true } });
    Object.assign(actionDetails(body).tag as JsonObject, { tag_color: 'blue', tag_group: { id: 3 } });
    expect(parseJson(body)).toEqual({ ok: true, event: expectedAssetFixtures['01-assign_tag.nested.lee.json'], notes: [] });
  });

  it('an unreadable tag id is noted and treated as missing; the name still names the tag', () => {
    const result = parseJson(tagBody({ tag: { tag_id: { value: 70200 }, tag_name: 'CheckoutJoy - Pro Course' } }));
    expect(eventOf(result)).toEqual(assetEvent('assign_tag', 'assigned', { kind: 'tag', tagName: 'CheckoutJoy - Pro Course' }, lee));
    expect(result.ok && result.notes).toEqual([{ path: 'action_details.tag.tag_id', message: expect.stringContaining('unreadable') }]);
  });
});

describe('tag and membership events that cannot be applied', () => {
  it.each<[string, Json]>([
    ['an empty tag object', { tag: {} }],
    ['a tag of empty values', { tag: { tag_id: 'N/A', tag_name: '  ' } }],
    ['a tag id of 0', { tag: { tag_id: 0 } }],
    ['no tag object at all', { list: { list_id: '3301', list_name: 'Newsletter' } }],
    ['empty action_details', {}],
  ])('an assign_tag with %s names no tag', (_label, details) => {
    expect(errorOf(parseJson(tagBody(details)))).toBe('"assign_tag" names no tag');
  });

  it('an assign_tag without action_details names no tag', () => {
    const body = tagBody({});
    delete body.action_details;
    expect(parseJson(body)).toMatchObject({ ok: false, channel: 'outbound', error: '"assign_tag" names no tag' });
  });

  it.each<[string, Json]>([
    ['only its membership', { membership: { membership_id: '4402', membership_name: 'Watercolor Academy' } }],
    ['an empty membership', { membership: {} }],
    ['empty values', { membership: { level_id: '', level_name: null } }],
  ])('a membership event with %s names no membership level', (_label, details) => {
    for (const action of ['membership_granted', 'membership_revoked']) {
      const body = assetJson('03-membership_granted.nested.lee.json');
      body.action = action;
      body.action_details = details;
      expect(errorOf(parseJson(body))).toBe(`"${action}" names no membership level`);
    }
  });

  it('without a lead id and a usable email it cannot tell whose tag changed', () => {
    const withoutLead = tagBody({ tag: { tag_id: '70200' } });
    delete withoutLead.lead;
    expect(errorOf(parseJson(withoutLead))).toMatch(/no lead id and no usable email/);
    const result = parseJson(tagBody({ tag: { tag_id: '70200' } }, { id: 'N/A', email: 'lee.park at example.com', first_name: 'Lee' }));
    expect(errorOf(result)).toMatch(/no lead id and no usable email/);
    expect(!result.ok && result.issues).toEqual([{ path: 'lead.email', message: 'not an email address; ignored' }]);
  });

  it('without a lead id and a usable email it cannot tell whose membership changed', () => {
    const body = assetJson('04-membership_revoked.nested.lee.json');
    body.lead = { first_name: 'Lee', last_name: 'Park' };
    expect(errorOf(parseJson(body))).toBe('no lead id and no usable email: cannot tell whose membership changed');
  });

  it('a lead id alone is enough', () => {
    expect(eventOf(parseJson(tagBody({ tag: { tag_id: '70200' } }, { id: 48230001 })))).toEqual(assetEvent('assign_tag', 'assigned', { kind: 'tag', tagId: '70200' }, { leadId: '48230001' }));
  });
});

describe('the time of a tag or membership change', () => {
  const assigned = (details: Json) => eventOf(parseJson(tagBody(details))) as AssetEvent;

  it('is undefined when the event carries none, as Kartra documents', () => {
    const event = eventOf(parseJson(assetFixtureText('01-assign_tag.nested.lee.json')));
    expect(event).not.toHaveProperty('occurredAtRaw');
    expect(event).not.toHaveProperty('occurredAt');
  });

  it.each<[string, Json]>([
    ['assigned_date in the tag object', { tag: { ...proCourseTagJson(), assigned_date: '2025-07-01 09:31:40' } }],
    ['date in the tag object', { tag: { ...proCourseTagJson(), date: '2025-07-01 09:31:40' } }],
    ['date on action_details', { tag: proCourseTagJson(), date: '2025-07-01 09:31:40' }],
    ['timestamp on action_details', { tag: proCourseTagJson(), timestamp: '2025-07-01 09:31:40 EST' }],
  ])('is read from %s as a Kartra time', (_label, details) => {
    const event = assigned(details);
    expect(event.occurredAt).toEqual(new Date('2025-07-01T13:31:40Z'));
    expect(event.occurredAtRaw).toMatch(/^2025-07-01 09:31:40/);
    expect(event.asset).toEqual(proCourseTag);
  });

  it('prefers the asset object to action_details', () => {
    const event = assigned({ tag: { ...proCourseTagJson(), granted_date: '2025-07-01 09:31:40' }, date: '2025-06-30 08:00:00' });
    expect(event.occurredAtRaw).toBe('2025-07-01 09:31:40');
  });

  it('is read from a date in the membership object', () => {
    const body = assetJson('03-membership_granted.nested.lee.json');
    (actionDetails(body).membership as JsonObject).granted_date = '2025-07-01 09:31:41';
    expect(eventOf(parseJson(body))).toEqual({ ...expectedAssetFixtures['03-membership_granted.nested.lee.json'], occurredAtRaw: '2025-07-01 09:31:41', occurredAt: new Date('2025-07-01T13:31:41Z') });
  });

  it('ignores dates of other moments (an expiry, a renewal) and Kartra\'s "not set" date', () => {
    const result = parseJson(tagBody({ tag: { ...proCourseTagJson(), expiry_date: '2026-07-01 00:00:00', next_renewal_date: '2025-08-01 00:00:00', removed_date: '0000-00-00 00:00:00' } }));
    expect(result).toEqual({ ok: true, event: expectedAssetFixtures['01-assign_tag.nested.lee.json'], notes: [] });
  });

  it('keeps a date it cannot read as sent, with a note, and no instant', () => {
    const result = parseJson(tagBody({ tag: { ...proCourseTagJson(), assigned_date: 'yesterday afternoon' } }));
    expect(eventOf(result)).toEqual({ ...expectedAssetFixtures['01-assign_tag.nested.lee.json'], occurredAtRaw: 'yesterday afternoon' });
    expect(result.ok && result.notes).toEqual([{ path: 'action_details.tag.assigned_date', message: '"yesterday afternoon" is not a Kartra time; receipt time used' }]);
  });
});

function proCourseTagJson(): JsonObject {
  return { tag_id: '70200', tag_name: 'CheckoutJoy - Pro Course' };
}

describe('the lead of every transaction event falls back to transaction_details', () => {
  const buyerKeys: Record<string, string> = { lead_id: 'buyer_id', lead_email: 'buyer_email', lead_first_name: 'buyer_first_name', lead_last_name: 'buyer_last_name' };
  const onlyBuyerKeys = (name: string): JsonObject => {
    const body = outboundJson(name);
    delete body.lead;
    (body.action_details as JsonObject).transaction_details = Object.fromEntries(Object.entries(transactionDetails(body)).map(([key, value]) => [buyerKeys[key] ?? key, value]));
    return body;
  };

  it.each([
    ['a refund', '12-refund_product.sam.json'],
    ['a partial refund', '04-partial_refund_product.dana.json'],
    ['a cancellation', '08-cancel_subscription.dana.json'],
    ['a purchase', '02-buy_product.one-time.dana.json'],
  ])('%s without a lead object reads who from the buyer_* keys alone', (_label, name) => {
    const body = onlyBuyerKeys(name);
    expect(JSON.stringify(body)).not.toMatch(/"lead_(id|email|first_name|last_name)"/);
    expect(parseJson(body)).toEqual({ ok: true, event: expectedOutbound[name], notes: [] });
  });

  it('the lead_* keys come before the buyer_* ones', () => {
    const body = outboundJson('08-cancel_subscription.dana.json');
    delete body.lead;
    Object.assign(transactionDetails(body), { buyer_id: '1', buyer_email: 'someone.else@example.com', buyer_first_name: 'Someone', buyer_last_name: 'Else' });
    expect(eventOf(parseJson(body)).lead).toEqual(dana);
  });

  it('a lead email that is no address falls back to the transaction email, with a note', () => {
    const body = outboundJson('12-refund_product.sam.json');
    (body.lead as JsonObject).email = 'sam.okafor(at)example.net';
    const result = parseJson(body);
    expect(eventOf(result).lead).toEqual(sam);
    expect(result.ok && result.notes).toEqual([{ path: 'lead.email', message: 'not an email address; ignored' }]);
  });

  it('an IPN refund and cancellation named only by buyer_* keys parse like the lead_* ones', () => {
    for (const name of ['09-refund.one-time.sam.txt', '07-cancellation.dana.txt']) {
      const fields = ipnFixtureFields(name)
        .filter(([key]) => key !== 'lead_username')
        .map(([key, value]): [string, string] => [buyerKeys[key] ?? key, value]);
      expect(fields.some(([key]) => key in buyerKeys)).toBe(false);
      expect(parseForm(ipnForm(fields))).toEqual({ ok: true, event: expectedIpn[name], notes: [] });
    }
  });

  it('an IPN lead_email that is no address falls back to buyer_email, with a note', () => {
    const fields: [string, string][] = [...ipnFixtureFields('09-refund.one-time.sam.txt').map(([key, value]): [string, string] => [key, key === 'lead_email' ? 'garbled' : value]), ['buyer_email', 'Sam.Okafor@example.net']];
    const result = parseForm(ipnForm(fields));
    expect(eventOf(result)).toEqual(expectedIpn['09-refund.one-time.sam.txt']);
    expect(result.ok && result.notes).toEqual([{ path: 'lead_email', message: 'not an email address; ignored' }]);
  });
});
