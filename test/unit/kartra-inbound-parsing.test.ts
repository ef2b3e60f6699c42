import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import {
  getLeadRequest,
  isUnknownCommandFailure,
  parseGetLeadAnswer,
  parseTestConnectionAnswer,
  parseTransactionDetailsAnswer,
  parseTransactionsAnswer,
  testConnectionRequest,
  transactionDetailsRequest,
  transactionsRequest,
  transactionTypeOf,
  withTransactionDetails,
  type KartraAnswer,
} from '../../src/domain/kartra/inbound-api';
import { parseKartraTime } from '../../src/domain/kartra/kartra-time';

/** Kartra's inbound API answers (../shared/kartra/inbound-api/samples), by file name. */
const SAMPLES_DIR = resolve(__dirname, '../../../shared/kartra/inbound-api/samples');
const ZONE = 'America/New_York';
const CREDENTIALS = { appId: 'app-1', apiKey: 'key-secret', apiPassword: 'password-secret' };

function sampleText(name: string): string {
  return readFileSync(join(SAMPLES_DIR, name), 'utf8');
}

function sample(name: string): Record<string, unknown> {
  return JSON.parse(sampleText(name)) as Record<string, unknown>;
}

function valueOf<T>(answer: KartraAnswer<T>): T {
  if (!answer.ok) throw new Error(`expected a value, got ${answer.kind}: ${answer.message}`);
  return answer.value;
}

function failureOf(answer: KartraAnswer<unknown>) {
  if (answer.ok) throw new Error(`expected a failure, got ${JSON.stringify(answer.value)}`);
  return answer;
}

describe('requests to Kartra inbound API', () => {
  it('sends the credentials first, then the lead by id when known, then the command', () => {
    expect(transactionsRequest(CREDENTIALS, { leadId: '48800501' }, 'retrieve_transactions_from_lead')).toEqual([
      ['app_id', 'app-1'],
      ['api_key', 'key-secret'],
      ['api_password', 'password-secret'],
      ['lead[id]', '48800501'],
      ['actions[0][cmd]', 'retrieve_transactions_from_lead'],
    ]);
    expect(transactionsRequest(CREDENTIALS, { email: 'ruth@example.com' }, 'get_transactions_from_lead').slice(3)).toEqual([
      ['lead[email]', 'ruth@example.com'],
      ['actions[0][cmd]', 'get_transactions_from_lead'],
    ]);
  });

  it('asks get_lead as a top-level key, not as an action', () => {
    expect(getLeadRequest(CREDENTIALS, { email: 'ruth@example.com' }).slice(3)).toEqual([['get_lead[email]', 'ruth@example.com']]);
    expect(getLeadRequest(CREDENTIALS, { leadId: '7' }).slice(3)).toEqual([['get_lead[id]', '7']]);
  });

  it('tests the connection with the account lists and asks a transaction by its id', () => {
    expect(testConnectionRequest(CREDENTIALS).slice(3)).toEqual([['actions[0][cmd]', 'retrieve_account_lists']]);
    expect(transactionDetailsRequest(CREDENTIALS, '48110').slice(3)).toEqual([
      ['actions[0][cmd]', 'get_transaction_details'],
      ['actions[0][transaction_id]', '48110'],
    ]);
  });

  it('encodes to the bracket form Kartra reads', () => {
    expect(new URLSearchParams(getLeadRequest(CREDENTIALS, { email: 'a+b@example.com' })).toString()).toBe(
      'app_id=app-1&api_key=key-secret&api_password=password-secret&get_lead%5Bemail%5D=a%2Bb%40example.com',
    );
  });
});

describe('every inbound sample is read', () => {
  it('has the samples the reconcile depends on', () => {
    expect(readdirSync(SAMPLES_DIR)).toEqual(expect.arrayContaining(['A-get_transactions_from_lead-plg.json', 'B-retrieve_transactions_from_lead-kartradoc-repaired.json']));
  });

  it('A: the undocumented list gives products, amounts in cents, dates in the account zone and original orders', () => {
    const rows = valueOf(parseTransactionsAnswer(sampleText('A-get_transactions_from_lead-plg.json'), 'get_transactions_from_lead', ZONE)) ?? [];
    expect(rows.map((row) => row.type)).toEqual(['sale', 'sale', 'rebill', 'rebill', 'failed', 'cancellation']);
    expect(rows[0]).toEqual({
      transactionId: null,
      type: 'sale',
      typeRaw: 'sale',
      productId: '301455',
      productName: 'Product List Genie Full',
      amountCents: 0,
      occurredAt: parseKartraTime('2022-11-02 09:14:31', ZONE),
      originalTransactionId: '7710021',
    });
    // 2 November 2022 is still daylight time in New York (UTC-4): 09:14:33 there is 13:14:33 UTC.
    expect(rows[1]).toMatchObject({ productId: '301460', amountCents: 2700, originalTransactionId: null });
    expect(rows[1]?.occurredAt?.toISOString()).toBe('2022-11-02T13:14:33.000Z');
    expect(rows[5]).toMatchObject({ type: 'cancellation', amountCents: null, originalTransactionId: '7710021' });
    expect(rows[5]?.occurredAt?.toISOString()).toBe('2023-01-18T14:16:12.000Z');
  });

  it('A: the same times read in another zone are other instants (the zone is an input)', () => {
    const rows = valueOf(parseTransactionsAnswer(sampleText('A-get_transactions_from_lead-plg.json'), 'get_transactions_from_lead', 'UTC')) ?? [];
    expect(rows[1]?.occurredAt?.toISOString()).toBe('2022-11-02T09:14:33.000Z');
  });

  it("B: Kartra's documented example, in its bare wrapper, gives ids and types only", () => {
    const rows = valueOf(parseTransactionsAnswer(sampleText('B-retrieve_transactions_from_lead-kartradoc-repaired.json'), 'retrieve_transactions_from_lead', ZONE));
    expect(rows).toEqual([
      { transactionId: '48110', type: 'sale', typeRaw: 'sale', productId: null, productName: null, amountCents: null, occurredAt: null, originalTransactionId: null },
      { transactionId: '48112', type: 'refund', typeRaw: 'refund', productId: null, productName: null, amountCents: null, occurredAt: null, originalTransactionId: null },
    ]);
  });

  it('B: the same list in the actions wrapper reads the same', () => {
    const bare = sample('B-retrieve_transactions_from_lead-kartradoc-repaired.json');
    const wrapped = JSON.stringify({ status: 'Success', actions: [bare] });
    expect(parseTransactionsAnswer(wrapped, 'retrieve_transactions_from_lead', ZONE)).toEqual(
      parseTransactionsAnswer(JSON.stringify(bare), 'retrieve_transactions_from_lead', ZONE),
    );
  });

  it('C: get_lead gives tags by name, memberships with active "1"/"0", and the lead id', () => {
    expect(valueOf(parseGetLeadAnswer(sampleText('C-get_lead-memberships-transactions-observed.json')))).toEqual({
      leadId: '48800501',
      email: 'ruth.okonkwo@example.com',
      firstName: 'Ruth',
      lastName: 'Okonkwo',
      tags: ['Caregiver App Member'],
      memberships: [
        { membershipId: '2201', membershipName: 'Dementia Help Now', levelId: '5110', levelName: 'Members', active: true },
        { membershipId: '2202', membershipName: 'Caregiver Bootcamp', levelId: '5115', levelName: 'Cohort 1', active: false },
      ],
    });
  });

  it('E: "No lead found" (234) is no lead, not a failure, for get_lead and for transactions', () => {
    expect(parseGetLeadAnswer(sampleText('E-error-no-lead-found.json'))).toEqual({ ok: true, value: null });
    expect(parseTransactionsAnswer(sampleText('E-error-no-lead-found.json'), 'retrieve_transactions_from_lead', ZONE)).toEqual({ ok: true, value: null });
    const searching = JSON.stringify({ status: 'Error', message: 'No lead found', type: '243' });
    expect(parseGetLeadAnswer(searching)).toEqual({ ok: true, value: null });
  });

  it('E: for the connection test, "No lead found" is unexpected', () => {
    expect(failureOf(parseTestConnectionAnswer(sampleText('E-error-no-lead-found.json'))).kind).toBe('unexpected');
  });

  it("F: another error keeps Kartra's message and type", () => {
    const failure = failureOf(parseGetLeadAnswer(sampleText('F-error-lead-already-exists.json')));
    expect(failure).toMatchObject({ kind: 'unexpected', kartraType: '244' });
    expect(failure.message).toContain('Lead already exists');
    expect(failure.message).toContain('244');
  });

  it('I: the account lists count for the connection test; H has none and still means good credentials', () => {
    expect(valueOf(parseTestConnectionAnswer(sampleText('I-retrieve_account_lists.json')))).toEqual({ listCount: 2 });
    expect(valueOf(parseTestConnectionAnswer(sampleText('H-retrieve_account_tags.json')))).toEqual({ listCount: 0 });
  });

  it('D and G: answers for other commands are not a lead', () => {
    expect(failureOf(parseGetLeadAnswer(sampleText('D-create_lead-success.json'))).kind).toBe('unexpected');
    expect(failureOf(parseGetLeadAnswer(sampleText('G-chained-assign_tag-subscribe_lead_to_list.json'))).kind).toBe('unexpected');
  });
});

describe('JSON-encoded strings where Kartra documents them', () => {
  it('reads transaction_list as a JSON-encoded string, in either wrapper', () => {
    const list = (sample('A-get_transactions_from_lead-plg.json').actions as Record<string, Record<string, unknown>>[])[0]?.get_transactions_from_lead?.transaction_list;
    const asString = JSON.stringify({ status: 'Success', actions: [{ get_transactions_from_lead: { transaction_list: JSON.stringify(list) } }] });
    const bare = JSON.stringify({ get_transactions_from_lead: { transaction_list: JSON.stringify(list) } });
    const expected = parseTransactionsAnswer(sampleText('A-get_transactions_from_lead-plg.json'), 'get_transactions_from_lead', ZONE);
    expect(parseTransactionsAnswer(asString, 'get_transactions_from_lead', ZONE)).toEqual(expected);
    expect(parseTransactionsAnswer(bare, 'get_transactions_from_lead', ZONE)).toEqual(expected);
  });

  it('reads lead_details as a JSON-encoded string', () => {
    const body = sample('C-get_lead-memberships-transactions-observed.json');
    const encoded = JSON.stringify({ status: 'Success', lead_details: JSON.stringify(body.lead_details) });
    expect(parseGetLeadAnswer(encoded)).toEqual(parseGetLeadAnswer(JSON.stringify(body)));
  });

  it('reads an empty list, an empty string and an empty encoded list as no transactions', () => {
    for (const list of [[], '', '[]']) {
      expect(parseTransactionsAnswer(JSON.stringify({ retrieve_transactions_from_lead: { transaction_list: list } }), 'retrieve_transactions_from_lead', ZONE)).toEqual({ ok: true, value: [] });
    }
  });

  it('reads transaction_details (documented as a JSON-encoded string) and fills a list row from it', () => {
    const details = { transaction_id: '48110', lead_id: '4174086', lead_email: 'example@email.com', product_id: '558475', product_name: 'Foundations', transaction_full_amount: '27.00', transaction_date: '2024-03-10 02:30:00' };
    const answer = JSON.stringify({ status: 'Success', actions: [{ get_transaction_details: { transaction_details: JSON.stringify(details) } }] });
    const read = valueOf(parseTransactionDetailsAnswer(answer, ZONE));
    expect(read).toMatchObject({ transactionId: '48110', productId: '558475', productName: 'Foundations', amountCents: 2700, typeRaw: '' });
    // In the spring-forward gap, 02:30 EST is 03:30 EDT (kartra-time.ts).
    expect(read?.occurredAt?.toISOString()).toBe('2024-03-10T07:30:00.000Z');

    const [row] = valueOf(parseTransactionsAnswer(sampleText('B-retrieve_transactions_from_lead-kartradoc-repaired.json'), 'retrieve_transactions_from_lead', ZONE)) ?? [];
    if (!row || !read) throw new Error('no row');
    expect(withTransactionDetails(row, read)).toMatchObject({ transactionId: '48110', type: 'sale', typeRaw: 'sale', productId: '558475', amountCents: 2700 });
  });

  it('reads 247 "Transaction doesn\'t exist" as no transaction', () => {
    expect(parseTransactionDetailsAnswer(JSON.stringify({ status: 'Error', message: "Transaction doesn't exist", type: '247' }), ZONE)).toEqual({ ok: true, value: null });
  });
});

describe('transaction types, amounts and values as Kartra writes them', () => {
  it('lower-cases capitalised types and keeps an unknown one as other with its raw text', () => {
    expect(['Sale', 'Rebill', 'REFUND', 'Partial Refund', 'partial_refund', 'Chargeback', 'Cancellation', 'Failed'].map(transactionTypeOf)).toEqual([
      'sale',
      'rebill',
      'refund',
      'partial_refund',
      'partial_refund',
      'chargeback',
      'cancellation',
      'failed',
    ]);
    const rows = valueOf(
      parseTransactionsAnswer(JSON.stringify({ retrieve_transactions_from_lead: { transaction_list: [{ transaction_id: '1', transaction_type: 'Sale' }, { transaction_id: '2', transaction_type: 'Upgrade' }] } }), 'retrieve_transactions_from_lead', ZONE),
    );
    expect(rows?.map(({ type, typeRaw }) => ({ type, typeRaw }))).toEqual([
      { type: 'sale', typeRaw: 'Sale' },
      { type: 'other', typeRaw: 'Upgrade' },
    ]);
  });

  it('reads membership active as "1", 1, true and "true"; anything else is inactive', () => {
    const memberships = ['1', 1, true, 'true', '0', 0, false, 'false', null].map((active, index) => ({ membership_id: String(index), active }));
    const lead = valueOf(parseGetLeadAnswer(JSON.stringify({ status: 'Success', lead_details: { id: '9', memberships } })));
    expect(lead?.memberships.map((membership) => membership.active)).toEqual([true, true, true, true, false, false, false, false, false]);
  });

  it('reads numbers sent as numbers, and amounts with or without decimals, to cents', () => {
    const list = [
      { transaction_id: 48110, transaction_type: 'sale', transaction_full_amount: 27 },
      { transaction_id: '48111', transaction_type: 'refund', transaction_full_amount: '9.99', original_id: 0 },
    ];
    const rows = valueOf(parseTransactionsAnswer(JSON.stringify({ retrieve_transactions_from_lead: { transaction_list: list } }), 'retrieve_transactions_from_lead', ZONE));
    expect(rows?.map(({ transactionId, amountCents, originalTransactionId }) => ({ transactionId, amountCents, originalTransactionId }))).toEqual([
      { transactionId: '48110', amountCents: 2700, originalTransactionId: null },
      { transactionId: '48111', amountCents: 999, originalTransactionId: null },
    ]);
  });
});

describe('errors Kartra answers', () => {
  const error = (type: string, message = 'some message') => JSON.stringify({ status: 'Error', message, type });

  it.each(['201', '202', '203', '204', '233', '238', '239', '240'])('type %s is a credentials failure', (type) => {
    expect(failureOf(parseTestConnectionAnswer(error(type)))).toMatchObject({ kind: 'credentials', kartraType: type });
  });

  it.each(['242', '262'])('type %s is a permission failure', (type) => {
    expect(failureOf(parseTransactionsAnswer(error(type), 'retrieve_transactions_from_lead', ZONE)).kind).toBe('permission');
  });

  it("quotes Kartra's verbatim message for a wrong password", () => {
    const failure = failureOf(parseTestConnectionAnswer(error('233', 'API password not valid. Please get an API password first')));
    expect(failure.message).toContain('API password not valid');
  });

  it("counts a failing action inside a top-level Success as that action's error", () => {
    const answer = JSON.stringify({ status: 'Success', actions: [{ retrieve_transactions_from_lead: { status: 'Error', message: 'App does not have permission to execute this CMD', type: '262' } }] });
    expect(failureOf(parseTransactionsAnswer(answer, 'retrieve_transactions_from_lead', ZONE)).kind).toBe('permission');
    const noLead = JSON.stringify({ status: 'Success', actions: [{ get_transactions_from_lead: { status: 'Error', message: 'No lead found', type: '234' } }] });
    expect(parseTransactionsAnswer(noLead, 'get_transactions_from_lead', ZONE)).toEqual({ ok: true, value: null });
  });

  it('reads "Too many requests" as rate_limited, in JSON or as plain text', () => {
    expect(failureOf(parseGetLeadAnswer(error('429', 'Too many requests'))).kind).toBe('rate_limited');
    expect(failureOf(parseGetLeadAnswer('Too many requests')).kind).toBe('rate_limited');
  });

  it('reads an HTML page, an empty body or a JSON list as unexpected', () => {
    for (const text of ['<html><body>Maintenance</body></html>', '', '[1,2]']) {
      expect(failureOf(parseGetLeadAnswer(text)).kind).toBe('unexpected');
    }
  });

  it('tells an unknown-command error from other unexpected ones', () => {
    expect(isUnknownCommandFailure(parseTransactionsAnswer(error('999', 'Invalid command'), 'retrieve_transactions_from_lead', ZONE))).toBe(true);
    expect(isUnknownCommandFailure(parseTransactionsAnswer(error('244', 'Lead already exists'), 'retrieve_transactions_from_lead', ZONE))).toBe(false);
    expect(isUnknownCommandFailure(parseTransactionsAnswer(error('262', 'App does not have permission to execute this CMD'), 'retrieve_transactions_from_lead', ZONE))).toBe(false);
  });
});
