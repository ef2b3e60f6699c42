import Ajv2020, { type ValidateFunction } from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import request from 'supertest';
import type { HttpMethod, OpenApiDocument, SchemaObject } from '../../src/http/admin/openapi';
import { ipnFixtureBody, listFixtures, outboundFixture } from '../support/kartra-fixtures';
import { startFakeKartra, type FakeKartra } from '../support/fake-kartra';
import { NotificationReceiver } from '../support/notification-receiver';
import { injectInsertFault } from '../support/raw-sql';
import { buildTestApp, type TestApp } from '../support/test-app';

/**
 * Real answers of every route of the admin API, checked against the OpenAPI document the service serves. The schema
 * is picked by path template, method and status; response objects in the document are closed
 * (`additionalProperties: false`) and list their required fields, so a presenter that sends a field the document
 * does not declare, or leaves out one it requires, fails here. A status the operation does not document fails too.
 */

const SCHEMA_REF = /^#\/components\/schemas\//;

/** Compiles the response schemas of the served document: each component is added under its own name. */
function responseValidators(document: OpenApiDocument) {
  const ajv = new Ajv2020({ allErrors: true, strict: true });
  addFormats(ajv);
  ajv.addKeyword('example');
  for (const [name, schema] of Object.entries(document.components.schemas)) {
    ajv.addSchema(JSON.parse(JSON.stringify(schema).replaceAll('"#/components/schemas/', '"')) as SchemaObject, name);
  }
  const compiled = new Map<string, ValidateFunction>();

  /**
   * The validator of one documented JSON answer, or the media types documented instead (none for a 204, `text/csv`
   * for an export); throws if the document does not list the answer.
   */
  return function validatorFor(template: string, method: HttpMethod, status: number): ValidateFunction | string[] {
    const key = `${method} ${template} ${status}`;
    const operation = document.paths[template]?.[method];
    if (!operation) throw new Error(`${method.toUpperCase()} ${template} is not in the document`);
    let answer = operation.responses[String(status)];
    if (!answer) throw new Error(`${method.toUpperCase()} ${template} answered ${status}, which the document does not list`);
    if ('$ref' in answer) answer = document.components.responses[answer.$ref.replace('#/components/responses/', '') as keyof OpenApiDocument['components']['responses']];
    const schema = answer.content?.['application/json']?.schema;
    if (!schema) return Object.keys(answer.content ?? {});
    const cached = compiled.get(key);
    if (cached) return cached;
    const ref = typeof schema.$ref === 'string' ? schema.$ref.replace(SCHEMA_REF, '') : null;
    const validate = ref ? ajv.getSchema(ref) : ajv.compile(schema);
    if (!validate) throw new Error(`no schema ${ref}`);
    compiled.set(key, validate);
    return validate;
  };
}

interface Call {
  params?: Record<string, string | number | undefined>;
  query?: Record<string, string | number>;
  body?: object | string;
  token?: string | null;
  contentType?: string;
}

describe('every answer of the admin API matches the OpenAPI document it serves', () => {
  let t: TestApp;
  let kartra: FakeKartra;
  let document: OpenApiDocument;
  let validatorFor: ReturnType<typeof responseValidators>;
  /** `METHOD template status` of every answer checked, to show that every route was driven. */
  const checked = new Set<string>();
  const kartraCredentials = { appId: 'AppWatercolor1', apiKey: 'api-key-for-the-document-5e21', apiPassword: 'api-password-for-the-document-77' };

  beforeAll(async () => {
    kartra = await startFakeKartra(kartraCredentials);
    t = await buildTestApp({ KARTRA_API_URL: kartra.url });
    document = (await request(t.app).get('/api/v1/openapi.json').expect(200)).body as OpenApiDocument;
    validatorFor = responseValidators(document);
  });
  afterAll(async () => {
    await t.close();
    await kartra.close();
  });

  /** Sends one request to a documented route, expects `status`, and checks the body against the document. */
  async function call(method: HttpMethod, template: string, status: number, options: Call = {}): Promise<request.Response> {
    const path = template.replace(/\{(\w+)\}/g, (_, name: string) => {
      const value = options.params?.[name];
      if (value === undefined) throw new Error(`no value for {${name}} in ${template}`);
      return encodeURIComponent(String(value));
    });
    let pending = request(t.app)[method](path);
    const token = options.token === undefined ? t.token : options.token;
    if (token) pending = pending.set('Authorization', `Bearer ${token}`);
    if (options.query) pending = pending.query(options.query);
    if (options.contentType) pending = pending.set('Content-Type', options.contentType);
    const response = options.body === undefined ? await pending : await pending.send(options.body);
    expect({ route: `${method.toUpperCase()} ${path}`, status: response.status }).toEqual({ route: `${method.toUpperCase()} ${path}`, status });
    const validate = validatorFor(template, method, status);
    if (typeof validate === 'function') {
      const valid = validate(response.body);
      expect({ route: `${method.toUpperCase()} ${template} ${status}`, errors: valid ? [] : validate.errors }).toEqual({ route: `${method.toUpperCase()} ${template} ${status}`, errors: [] });
    } else if (validate.length === 0) {
      expect(response.text).toBe('');
    } else {
      const mediaType = String(response.headers['content-type'] ?? '').split(';')[0];
      expect({ route: `${method.toUpperCase()} ${template} ${status}`, mediaType, documented: validate.includes(mediaType ?? '') }).toMatchObject({ documented: true });
    }
    checked.add(`${method.toUpperCase()} ${template} ${status}`);
    return response;
  }

  it('answers every route, in success and refusal, only with documented shapes', async () => {
    await call('get', '/api/v1/openapi.json', 200, { token: null });

    // Sites and levels.
    const site = (await call('post', '/api/v1/sites', 201, { body: { name: 'Watercolor Academy' } })).body as { id: number };
    const siteId = site.id;
    await call('get', '/api/v1/sites', 200);
    await call('get', '/api/v1/sites/{siteId}', 200, { params: { siteId } });
    const levels: Record<string, number> = {};
    for (const name of ['Foundations', 'Studio Members', 'Tagged', 'Spare', 'Unused']) {
      levels[name] = (await call('post', '/api/v1/sites/{siteId}/levels', 201, { params: { siteId }, body: { name } })).body.id as number;
    }
    await call('get', '/api/v1/sites/{siteId}/levels', 200, { params: { siteId } });
    await call('patch', '/api/v1/sites/{siteId}/levels/{levelId}', 200, { params: { siteId, levelId: levels.Unused }, body: { name: 'Unused (renamed)' } });

    // The integration.
    const enabled = await call('put', '/api/v1/sites/{siteId}/kartra', 200, { params: { siteId }, body: { enabled: true, graceDays: 7 } });
    const hookPath = new URL(enabled.body.webhookUrl as string).pathname;
    const rotated = await call('post', '/api/v1/sites/{siteId}/kartra/rotate', 200, { params: { siteId } });
    const hook = new URL(rotated.body.webhookUrl as string).pathname;
    expect(hook).not.toBe(hookPath);
    const [, , , siteKey, secret] = hook.split('/');

    // Kartra API credentials against the fake Kartra, and the settings that need them.
    const credentialsPath = '/api/v1/sites/{siteId}/kartra/credentials';
    expect((await call('get', credentialsPath, 200, { params: { siteId } })).body).toEqual({ credentials: null, canStoreCredentials: true });
    await call('put', '/api/v1/sites/{siteId}/kartra', 409, { params: { siteId }, body: { verifyWithKartra: true } });
    await call('put', credentialsPath, 422, { params: { siteId }, body: { appId: ' ', apiKey: kartraCredentials.apiKey, apiPassword: '' } });
    await call('put', credentialsPath, 200, { params: { siteId }, body: kartraCredentials });
    const tested = await call('post', `${credentialsPath}/test`, 200, { params: { siteId } });
    expect(tested.body.ok).toBe(true);
    await call('get', credentialsPath, 200, { params: { siteId } });
    const verifying = await call('put', '/api/v1/sites/{siteId}/kartra', 200, { params: { siteId }, body: { verifyWithKartra: true, reconcileEveryHours: 24 } });
    expect(verifying.body.settings).toMatchObject({ verifyWithKartra: true, reconcileEveryHours: 24 });
    await call('delete', credentialsPath, 409, { params: { siteId } });
    await call('put', '/api/v1/sites/{siteId}/kartra', 200, { params: { siteId }, body: { verifyWithKartra: false, reconcileEveryHours: 0 } });
    await call('delete', credentialsPath, 204, { params: { siteId } });
    await call('put', '/api/v1/sites/{siteId}/kartra', 422, { params: { siteId }, body: { reconcileEveryHours: 721 } });

    // Kartra's story arrives, Outbound and IPN, after one event failed on the way in.
    await call('post', '/api/v1/sites/{siteId}/mappings', 201, { params: { siteId }, body: { productId: '558475', levelIds: [levels.Foundations] } });
    const hookParams = { siteKey, secret };
    const removeFault = await injectInsertFault(t, { table: 'payment_facts', message: 'disk on fire' });
    const failed = await call('post', '/hooks/kartra/{siteKey}/{secret}', 200, {
      token: null,
      params: hookParams,
      body: JSON.stringify(outboundFixture('11-buy_product.one-time.sam.json')),
      contentType: 'application/json',
    });
    await removeFault();
    expect(failed.body.outcome).toBe('failed');
    for (const name of listFixtures('outbound')) {
      await call('post', '/hooks/kartra/{siteKey}/{secret}', 200, { token: null, params: hookParams, body: JSON.stringify(outboundFixture(name)), contentType: 'application/json' });
    }
    for (const name of ['03-sale.subscription-first-payment.dana.txt', '06-failed.rebill-payment-4.dana.txt']) {
      await call('post', '/hooks/kartra/{siteKey}/{secret}', 200, { token: null, params: hookParams, body: ipnFixtureBody(name), contentType: 'application/x-www-form-urlencoded' });
    }
    await call('post', '/hooks/kartra/{siteKey}/{secret}', 400, { token: null, params: hookParams, body: 'not a Kartra event', contentType: 'text/plain' });
    await call('post', '/hooks/kartra/{siteKey}/{secret}', 404, { token: null, params: { siteKey: siteKey, secret: 'wrong' }, body: '{}', contentType: 'application/json' });

    // Product mappings and discovery.
    await call('get', '/api/v1/sites/{siteId}/mappings', 200, { params: { siteId } });
    await call('get', '/api/v1/sites/{siteId}/mappings/{productId}', 200, { params: { siteId, productId: '558475' } });
    const discovered = await call('get', '/api/v1/sites/{siteId}/discovered-products', 200, { params: { siteId } });
    expect(discovered.body.products.length).toBeGreaterThan(0);
    await call('get', '/api/v1/sites/{siteId}/mappings/{productId}/preview', 200, { params: { siteId, productId: '612001' } });
    const saved = await call('post', '/api/v1/sites/{siteId}/mappings', 201, { params: { siteId }, body: { productId: '612001', levelIds: [levels['Studio Members']], applyToPast: true } });
    expect(saved.body.applied).not.toBeNull();

    // Tag and membership-level mappings.
    const assets = await call('get', '/api/v1/sites/{siteId}/discovered-assets', 200, { params: { siteId } });
    const tagKey = (assets.body.tags as { key: string }[])[0]?.key;
    expect(tagKey).toBeDefined();
    const assetSaved = await call('post', '/api/v1/sites/{siteId}/asset-mappings', 201, { params: { siteId }, body: { key: tagKey, levelIds: [levels.Tagged], applyToPast: true } });
    expect(assetSaved.body.applied).not.toBeNull();
    await call('post', '/api/v1/sites/{siteId}/asset-mappings', 201, { params: { siteId }, body: { kind: 'membership', membershipName: 'Academy', levelName: 'Pro', levelIds: [levels.Tagged] } });
    await call('get', '/api/v1/sites/{siteId}/asset-mappings', 200, { params: { siteId } });
    await call('get', '/api/v1/sites/{siteId}/asset-mappings/{key}', 200, { params: { siteId, key: tagKey } });
    await call('get', '/api/v1/sites/{siteId}/asset-mappings/{key}/preview', 200, { params: { siteId, key: tagKey } });
    await call('delete', '/api/v1/sites/{siteId}/asset-mappings/{key}', 200, { params: { siteId, key: tagKey }, query: { revoke: 'true' } });

    // Members and grants.
    const page = await call('get', '/api/v1/sites/{siteId}/members', 200, { params: { siteId }, query: { limit: 1 } });
    expect(page.body.nextCursor).toEqual(expect.any(String));
    await call('get', '/api/v1/sites/{siteId}/members', 200, { params: { siteId }, query: { cursor: page.body.nextCursor as string } });
    await call('get', '/api/v1/sites/{siteId}/members', 200, { params: { siteId }, query: { after: page.body.nextAfter as number } });
    await call('get', '/api/v1/sites/{siteId}/members.csv', 200, { params: { siteId }, query: { q: 'example' } });
    const memberId = (page.body.members as { id: number }[])[0]?.id;
    const detail = await call('get', '/api/v1/sites/{siteId}/members/{memberId}', 200, { params: { siteId, memberId } });
    const manual = await call('post', '/api/v1/sites/{siteId}/members/{memberId}/grants', 201, {
      params: { siteId, memberId },
      body: { levelId: levels.Spare, expiresAt: '2030-01-01T00:00:00+02:00' },
    });
    await call('delete', '/api/v1/sites/{siteId}/members/{memberId}/grants/{grantId}', 200, { params: { siteId, memberId, grantId: manual.body.id as number } });
    const purchaseGrant = (detail.body.grants as { id: number; sourceType: string }[]).find((grant) => grant.sourceType === 'purchase');
    await call('delete', '/api/v1/sites/{siteId}/members/{memberId}/grants/{grantId}', 409, { params: { siteId, memberId, grantId: purchaseGrant?.id } });
    await call('get', '/api/v1/sites/{siteId}/kartra', 200, { params: { siteId } });

    // What needs attention: the failed payment (past due), the failed event.
    const attention = await call('get', '/api/v1/sites/{siteId}/attention', 200, { params: { siteId } });
    expect(attention.body.failedEvents.count).toBe(1);

    // The event log, one event, re-apply.
    const events = await call('get', '/api/v1/sites/{siteId}/events', 200, { params: { siteId }, query: { limit: 2 } });
    await call('get', '/api/v1/sites/{siteId}/events', 200, { params: { siteId }, query: { cursor: events.body.nextCursor as string, status: 'applied,unmapped' } });
    await call('get', '/api/v1/sites/{siteId}/events.csv', 200, { params: { siteId }, query: { status: 'applied,unmapped' } });
    await call('get', '/api/v1/sites/{siteId}/events.csv', 422, { params: { siteId }, query: { status: 'bogus' } });
    await call('get', '/api/v1/sites/{siteId}/events/{eventId}', 200, { params: { siteId, eventId: failed.body.eventId as number } });
    await call('post', '/api/v1/sites/{siteId}/events/{eventId}/reapply', 200, { params: { siteId, eventId: failed.body.eventId as number } });
    await call('post', '/api/v1/sites/{siteId}/events/reapply', 200, { params: { siteId }, body: { statuses: ['failed', 'unmapped'] } });

    // Notifications: an endpoint on a loopback receiver, test messages delivered with their delivery log, paged,
    // resent and replayed; then the refusals of these routes.
    const receiver = new NotificationReceiver();
    const receiverUrl = await receiver.start();
    try {
      const endpointPath = '/api/v1/sites/{siteId}/notification-endpoints/{endpointId}';
      const created = await call('post', '/api/v1/sites/{siteId}/notification-endpoints', 201, {
        params: { siteId },
        body: { url: receiverUrl, description: 'host site', eventTypes: ['access.granted', 'access.revoked'] },
      });
      const endpointParams = { siteId, endpointId: created.body.id as number };
      await call('get', '/api/v1/sites/{siteId}/notification-endpoints', 200, { params: { siteId } });
      await call('get', endpointPath, 200, { params: endpointParams });
      await call('patch', endpointPath, 200, { params: endpointParams, body: { description: 'host site (renamed)' } });
      const rotatedSecret = await call('post', `${endpointPath}/rotate-secret`, 200, { params: endpointParams, body: { graceHours: 1 } });
      expect(rotatedSecret.body.previousSecretValidUntil).toEqual(expect.any(String));
      const testMessage = await call('post', `${endpointPath}/test`, 202, { params: endpointParams });
      await call('post', `${endpointPath}/test`, 202, { params: endpointParams });
      await t.composed.outboxWorker.runOnce();
      expect(receiver.received).toHaveLength(2);
      const firstPage = await call('get', `${endpointPath}/messages`, 200, { params: endpointParams, query: { limit: 1 } });
      expect(firstPage.body.nextCursor).toEqual(expect.any(String));
      const lastPage = await call('get', `${endpointPath}/messages`, 200, { params: endpointParams, query: { cursor: firstPage.body.nextCursor as string, status: 'delivered' } });
      expect(lastPage.body).toMatchObject({ messages: [{ id: testMessage.body.id as number, status: 'delivered' }], nextCursor: null });
      const messageParams = { ...endpointParams, messageId: testMessage.body.id as number };
      const delivered = await call('get', `${endpointPath}/messages/{messageId}`, 200, { params: messageParams });
      expect(delivered.body.deliveries).toEqual([expect.objectContaining({ statusCode: 200 })]);
      await call('post', `${endpointPath}/messages/{messageId}/resend`, 202, { params: messageParams });
      const replayed = await call('post', `${endpointPath}/replay`, 202, { params: endpointParams, body: { since: '2000-01-01T00:00:00Z' } });
      expect(replayed.body.requeued).toBe(2);

      await call('post', '/api/v1/sites/{siteId}/notification-endpoints', 422, { params: { siteId }, body: { url: 'https://10.0.0.5/in', eventTypes: ['access.granted'] } });
      await call('patch', endpointPath, 422, { params: endpointParams, body: { eventTypes: ['no.such.type'] } });
      await call('post', `${endpointPath}/replay`, 422, { params: endpointParams, body: { since: 'yesterday' } });
      await call('get', `${endpointPath}/messages`, 422, { params: endpointParams, query: { cursor: 'not-a-cursor' } });
      await call('get', endpointPath, 404, { params: { siteId, endpointId: 999999 } });
      await call('get', `${endpointPath}/messages/{messageId}`, 404, { params: { ...endpointParams, messageId: 999999 } });
      await call('post', `${endpointPath}/test`, 404, { params: { siteId: 999999, endpointId: endpointParams.endpointId } });
      await call('delete', endpointPath, 204, { params: endpointParams });
      await call('post', `${endpointPath}/messages/{messageId}/resend`, 404, { params: messageParams });
    } finally {
      await receiver.stop();
    }

    // A pruned body: null, with its note and prune time; re-applying it is refused.
    const oldest = (await t.api.get(`/sites/${siteId}/events`).query({ limit: 200 }).expect(200)).body.events.at(-1) as { id: number };
    t.clock.advanceDays(400);
    expect((await t.composed.retention.pruneRawBodies()).bodiesPruned).toBeGreaterThan(0);
    const pruned = await call('get', '/api/v1/sites/{siteId}/events/{eventId}', 200, { params: { siteId, eventId: oldest.id } });
    expect(pruned.body).toMatchObject({ rawBody: null, rawBodyPrunedAt: expect.any(String), rawBodyNote: expect.stringMatching(/pruned/) });
    await call('post', '/api/v1/sites/{siteId}/events/{eventId}/reapply', 409, { params: { siteId, eventId: oldest.id } });

    // Deleting: a product mapping with its grants revoked, a level in use (refused) and an unused one.
    await call('delete', '/api/v1/sites/{siteId}/mappings/{productId}', 200, { params: { siteId, productId: '612001' }, query: { revoke: '1' } });
    await call('delete', '/api/v1/sites/{siteId}/levels/{levelId}', 409, { params: { siteId, levelId: levels.Foundations } });
    await call('delete', '/api/v1/sites/{siteId}/levels/{levelId}', 204, { params: { siteId, levelId: levels.Unused } });

    // Refusals: each status the API gives, in the one error shape.
    await call('get', '/api/v1/sites', 401, { token: null });
    await call('get', '/api/v1/sites/{siteId}', 404, { params: { siteId: 999999 } });
    await call('get', '/api/v1/sites/{siteId}/members/{memberId}', 404, { params: { siteId, memberId: 999999 } });
    await call('put', '/api/v1/sites/{siteId}/kartra', 422, { params: { siteId }, body: { graceDays: 91 } });
    await call('get', '/api/v1/sites/{siteId}/members', 422, { params: { siteId }, query: { cursor: 'not-a-cursor' } });
    await call('get', '/api/v1/sites/{siteId}/mappings/{productId}', 422, { params: { siteId, productId: 'no/such' } });
    await call('post', '/api/v1/sites/{siteId}/levels', 400, { params: { siteId }, body: '{"name": "Gold",', contentType: 'application/json' });
    await call('post', '/api/v1/sites/{siteId}/levels', 413, { params: { siteId }, body: JSON.stringify({ name: 'x'.repeat(200 * 1024) }), contentType: 'application/json' });
    const { token: scoped } = await t.composed.services.tokens.create('one site', siteId);
    await call('post', '/api/v1/sites', 403, { token: scoped, body: { name: 'Another' } });

    // Every documented operation was driven to a success, and every shared refusal was seen.
    const operations = Object.entries(document.paths).flatMap(([template, item]) => Object.keys(item).map((method) => `${method.toUpperCase()} ${template}`));
    const succeeded = [...checked].filter((answer) => /\s2\d\d$/.test(answer)).map((answer) => answer.replace(/\s\d{3}$/, ''));
    expect(operations.filter((operation) => !succeeded.includes(operation))).toEqual([]);
    const refusals = new Set([...checked].map((answer) => answer.slice(-3)).filter((status) => status >= '400'));
    expect([...refusals].sort()).toEqual(['400', '401', '403', '404', '409', '413', '422']);
  });

  it('refuses a body with a field the document does not declare, or without one it requires', async () => {
    const site = (await t.api.get('/sites').expect(200)).body.sites[0] as Record<string, unknown>;
    const validate = validatorFor('/api/v1/sites/{siteId}', 'get', 200) as ValidateFunction;
    expect(validate(site)).toBe(true);
    expect(validate({ ...site, webhookSecretHash: 'abc' })).toBe(false);
    const withoutName = Object.fromEntries(Object.entries(site).filter(([key]) => key !== 'name'));
    expect(validate(withoutName)).toBe(false);
    // Nested objects are closed too: an extra field in a member's level.
    const members = (await t.api.get(`/sites/${site.id}/members`).expect(200)).body;
    const validatePage = validatorFor('/api/v1/sites/{siteId}/members', 'get', 200) as ValidateFunction;
    expect(validatePage(members)).toBe(true);
    const member = members.members[0];
    expect(validatePage({ ...members, members: [{ ...member, levels: [{ ...member.levels[0], siteId: 1 }] }] })).toBe(false);
  });
});
