import { parseKartraTime } from '../../src/domain/kartra/kartra-time';
import type { KartraApi, KartraApiResult } from '../../src/domain/ports';
import { createKartraApiClient } from '../../src/outbound/kartra-api-client';
import { startFakeKartra, type FakeKartra } from '../support/fake-kartra';

const ZONE = 'America/New_York';
const ACCOUNT = { appId: 'app-7731', apiKey: 'key-9f8e7d6c5b4a', apiPassword: 'pw-1a2b3c4d5e6f' };
const CREDENTIALS = ACCOUNT;

function valueOf<T>(result: KartraApiResult<T>): T {
  if (!result.ok) throw new Error(`expected a value, got ${result.kind}: ${result.message}`);
  return result.value;
}

function failureOf(result: KartraApiResult<unknown>) {
  if (result.ok) throw new Error(`expected a failure, got ${JSON.stringify(result.value)}`);
  return result;
}

describe('the Kartra API client against a fake Kartra over loopback', () => {
  let kartra: FakeKartra;
  let client: KartraApi;

  beforeEach(async () => {
    kartra = await startFakeKartra({ ...ACCOUNT, timeZone: ZONE });
    client = createKartraApiClient({ url: kartra.url, timeoutMs: 2000, timeZone: ZONE });
    kartra.addLead({
      id: '48800501',
      email: 'ruth.okonkwo@example.com',
      firstName: 'Ruth',
      lastName: 'Okonkwo',
      tags: ['Customer'],
      memberships: [{ membershipId: '2201', membershipName: 'Watercolor Academy', levelId: '5110', levelName: 'Foundations', active: true }],
    });
    kartra.addTransaction('48800501', { transactionId: '7710021', type: 'sale', productId: '558475', productName: 'Watercolor Foundations', amount: '27.00', date: '2024-01-15 09:30:00' });
    kartra.addTransaction('48800501', { transactionId: '7710544', type: 'rebill', productId: '558475', productName: 'Watercolor Foundations', amount: '27.00', date: '2024-02-15 09:30:00', originalId: '7710021' });
    kartra.addTransaction('48800501', { transactionId: '7711002', type: 'partial_refund', productId: '558475', productName: 'Watercolor Foundations', amount: '10.00', date: '2024-02-20 16:05:00', originalId: '7710021' });
  });
  afterEach(async () => {
    await kartra.close();
  });

  it('tests the connection with good credentials', async () => {
    expect(valueOf(await client.testConnection(CREDENTIALS))).toEqual({ listCount: 2 });
    expect(kartra.calls.map((call) => call.cmd)).toEqual(['retrieve_account_lists']);
  });

  it('reports a wrong password as a credentials failure that quotes neither the key nor the password', async () => {
    const failure = failureOf(await client.testConnection({ ...CREDENTIALS, apiPassword: 'pw-wrong-0000' }));
    expect(failure.kind).toBe('credentials');
    expect(failure.message).toContain('API password not valid');
    for (const secret of [CREDENTIALS.apiKey, CREDENTIALS.apiPassword, 'pw-wrong-0000']) expect(failure.message).not.toContain(secret);
    expect(JSON.stringify(kartra.calls)).not.toContain(CREDENTIALS.apiKey);
  });

  it('reports a wrong and an empty key as credentials failures', async () => {
    expect(failureOf(await client.testConnection({ ...CREDENTIALS, apiKey: 'key-wrong' }))).toMatchObject({ kind: 'credentials' });
    const empty = failureOf(await client.testConnection({ ...CREDENTIALS, apiKey: '' }));
    expect(empty.message).toContain('API key cannot be empty');
  });

  it('reads a lead by email and by id, and no lead as null', async () => {
    const byEmail = valueOf(await client.getLead(CREDENTIALS, { email: 'ruth.okonkwo@example.com' }));
    expect(byEmail).toEqual({
      leadId: '48800501',
      email: 'ruth.okonkwo@example.com',
      firstName: 'Ruth',
      lastName: 'Okonkwo',
      tags: ['Customer'],
      memberships: [{ membershipId: '2201', membershipName: 'Watercolor Academy', levelId: '5110', levelName: 'Foundations', active: true }],
    });
    expect(valueOf(await client.getLead(CREDENTIALS, { leadId: '48800501' }))).toEqual(byEmail);
    expect(await client.getLead(CREDENTIALS, { email: 'nobody@example.com' })).toEqual({ ok: true, value: null });
    expect(await client.transactionsOfLead(CREDENTIALS, { email: 'nobody@example.com' })).toEqual({ ok: true, value: null });
    expect(kartra.calls.map(({ cmd, leadRef }) => ({ cmd, leadRef }))).toEqual([
      { cmd: 'get_lead', leadRef: 'email:ruth.okonkwo@example.com' },
      { cmd: 'get_lead', leadRef: 'id:48800501' },
      { cmd: 'get_lead', leadRef: 'email:nobody@example.com' },
      { cmd: 'retrieve_transactions_from_lead', leadRef: 'email:nobody@example.com' },
    ]);
  });

  it('lists the transactions with the documented command, oldest first, and fills each from its details', async () => {
    const rows = valueOf(await client.transactionsOfLead(CREDENTIALS, { leadId: '48800501' }));
    expect(rows).toEqual([
      { transactionId: '7710021', type: 'sale', typeRaw: 'sale', productId: '558475', productName: 'Watercolor Foundations', amountCents: 2700, occurredAt: parseKartraTime('2024-01-15 09:30:00', ZONE), originalTransactionId: null },
      { transactionId: '7710544', type: 'rebill', typeRaw: 'rebill', productId: '558475', productName: 'Watercolor Foundations', amountCents: 2700, occurredAt: parseKartraTime('2024-02-15 09:30:00', ZONE), originalTransactionId: null },
      { transactionId: '7711002', type: 'partial_refund', typeRaw: 'partial_refund', productId: '558475', productName: 'Watercolor Foundations', amountCents: 1000, occurredAt: parseKartraTime('2024-02-20 16:05:00', ZONE), originalTransactionId: null },
    ]);
    expect(rows?.[0]?.occurredAt?.toISOString()).toBe('2024-01-15T14:30:00.000Z');
    expect(kartra.calls.map(({ cmd, transactionId }) => (transactionId ? `${cmd} ${transactionId}` : cmd))).toEqual([
      'retrieve_transactions_from_lead',
      'get_transaction_details 7710021',
      'get_transaction_details 7710544',
      'get_transaction_details 7711002',
    ]);
    // The throttle: call starts 55 ms apart, so four calls span 165 ms (less the first call's connection set-up,
    // which delays only its arrival: the fake records arrivals, not starts).
    const starts = kartra.calls.map((call) => call.at);
    expect((starts[3] ?? 0) - (starts[0] ?? 0)).toBeGreaterThanOrEqual(120);
  });

  it('reads the documented bare wrapper and JSON-encoded strings the same', async () => {
    const expected = await client.transactionsOfLead(CREDENTIALS, { leadId: '48800501' });
    kartra.setTransactionWrapper('bare');
    expect(await client.transactionsOfLead(CREDENTIALS, { leadId: '48800501' })).toEqual(expected);

    const encoding = await startFakeKartra({ ...ACCOUNT, timeZone: ZONE, jsonStrings: true });
    try {
      encoding.addLead({ id: '48800501', email: 'ruth.okonkwo@example.com', firstName: 'Ruth', lastName: 'Okonkwo', tags: ['Customer'] });
      encoding.addTransaction('48800501', { transactionId: '7710021', type: 'sale', productId: '558475', productName: 'Watercolor Foundations', amount: '27.00', date: '2024-01-15 09:30:00' });
      const other = createKartraApiClient({ url: encoding.url, timeoutMs: 2000, timeZone: ZONE });
      expect(valueOf(await other.transactionsOfLead(CREDENTIALS, { email: 'ruth.okonkwo@example.com' }))).toEqual(valueOf(expected)?.slice(0, 1));
      expect(valueOf(await other.getLead(CREDENTIALS, { leadId: '48800501' }))).toMatchObject({ leadId: '48800501', tags: ['Customer'] });
    } finally {
      await encoding.close();
    }
  });

  it('falls back to get_transactions_from_lead when the App may not run retrieve_transactions_from_lead', async () => {
    kartra.setPermissionDenied(['retrieve_transactions_from_lead']);
    const rows = valueOf(await client.transactionsOfLead(CREDENTIALS, { email: 'ruth.okonkwo@example.com' }));
    expect(rows?.map(({ transactionId, type, productId, amountCents, originalTransactionId }) => ({ transactionId, type, productId, amountCents, originalTransactionId }))).toEqual([
      { transactionId: null, type: 'sale', productId: '558475', amountCents: 2700, originalTransactionId: null },
      { transactionId: null, type: 'rebill', productId: '558475', amountCents: 2700, originalTransactionId: '7710021' },
      { transactionId: null, type: 'partial_refund', productId: '558475', amountCents: 1000, originalTransactionId: '7710021' },
    ]);
    expect(kartra.calls.map((call) => call.cmd)).toEqual(['retrieve_transactions_from_lead', 'get_transactions_from_lead']);
  });

  it('falls back too when Kartra does not know the documented command', async () => {
    kartra.failNext(1, { type: '999', message: 'Invalid command' });
    const rows = valueOf(await client.transactionsOfLead(CREDENTIALS, { email: 'ruth.okonkwo@example.com' }));
    expect(rows).toHaveLength(3);
    expect(kartra.calls.map((call) => call.cmd)).toEqual(['retrieve_transactions_from_lead', 'get_transactions_from_lead']);
  });

  it('falls back to the undocumented list when get_transaction_details is denied', async () => {
    kartra.setPermissionDenied(['get_transaction_details']);
    const rows = valueOf(await client.transactionsOfLead(CREDENTIALS, { leadId: '48800501' }));
    expect(rows?.map((row) => row.productId)).toEqual(['558475', '558475', '558475']);
    expect(kartra.calls.map((call) => call.cmd)).toEqual(['retrieve_transactions_from_lead', 'get_transaction_details', 'get_transactions_from_lead']);
  });

  it('reports a denied fallback as a permission failure', async () => {
    kartra.setPermissionDenied(['retrieve_transactions_from_lead', 'get_transactions_from_lead']);
    expect(failureOf(await client.transactionsOfLead(CREDENTIALS, { leadId: '48800501' })).kind).toBe('permission');
  });

  it('waits a second after "Too many requests" and tries again', async () => {
    kartra.failNext(1, 'rate_limit');
    expect(valueOf(await client.testConnection(CREDENTIALS))).toEqual({ listCount: 2 });
    const [first, second] = kartra.calls;
    expect(kartra.calls).toHaveLength(2);
    expect((second?.at ?? 0) - (first?.at ?? 0)).toBeGreaterThanOrEqual(950);
  });

  it('gives up after two retries and reports rate_limited', async () => {
    kartra.failNext(3, 'rate_limit');
    expect(failureOf(await client.testConnection(CREDENTIALS)).kind).toBe('rate_limited');
    expect(kartra.calls).toHaveLength(3);
  });

  it('reports a Kartra that does not answer as unavailable within the timeout', async () => {
    const impatient = createKartraApiClient({ url: kartra.url, timeoutMs: 300, timeZone: ZONE });
    kartra.failNext(1, 'hang');
    const started = Date.now();
    const failure = failureOf(await impatient.getLead(CREDENTIALS, { leadId: '48800501' }));
    expect(failure).toEqual({ ok: false, kind: 'unavailable', message: 'no answer from Kartra within 300 ms' });
    expect(Date.now() - started).toBeLessThan(1500);
  });

  it('reports an HTTP error and a closed port as unavailable, without the credentials', async () => {
    kartra.failNext(1, 'http_500');
    expect(failureOf(await client.testConnection(CREDENTIALS))).toEqual({ ok: false, kind: 'unavailable', message: 'Kartra answered HTTP 500' });

    const url = kartra.url;
    await kartra.close();
    kartra = await startFakeKartra(ACCOUNT);
    const closed = failureOf(await createKartraApiClient({ url, timeoutMs: 2000, timeZone: ZONE }).testConnection(CREDENTIALS));
    expect(closed.kind).toBe('unavailable');
    for (const secret of [CREDENTIALS.apiKey, CREDENTIALS.apiPassword]) expect(closed.message).not.toContain(secret);
  });

  it('keeps concurrent calls of one client under 20 per second', async () => {
    const results = await Promise.all(Array.from({ length: 25 }, () => client.testConnection(CREDENTIALS)));
    expect(results.every((result) => result.ok)).toBe(true);
    const starts = kartra.calls.map((call) => call.at);
    expect((starts[starts.length - 1] ?? 0) - (starts[0] ?? 0)).toBeGreaterThanOrEqual(24 * 50);
  });

  it('is answered 429 by the fake past 20 calls a second, and a client without spacing recovers by waiting', async () => {
    const hasty = createKartraApiClient({ url: kartra.url, timeoutMs: 2000, timeZone: ZONE, minSpacingMs: 0 });
    const results = await Promise.all(Array.from({ length: 25 }, () => hasty.testConnection(CREDENTIALS)));
    expect(results.every((result) => result.ok)).toBe(true);
    expect(kartra.calls.length).toBeGreaterThan(25);
  });
});
