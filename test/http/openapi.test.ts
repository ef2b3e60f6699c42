import request from 'supertest';
import { createAdminApiRouter } from '../../src/http/admin/admin-routes';
import { adminApiDocument, type HttpMethod } from '../../src/http/admin/openapi';
import { createWebhookRouter } from '../../src/http/webhook-routes';
import { buildTestApp, type TestApp } from '../support/test-app';

interface RouteLayer {
  route?: { path: string; methods: Record<string, boolean> };
  /** A mounted router (router.use(otherRouter)): its routes count as this one's. */
  handle?: { stack?: RouteLayer[] };
}

/** Every `METHOD /path` an express router registers, with `:param` written as OpenAPI's `{param}`. */
function registeredRoutes(router: { stack: RouteLayer[] }, prefix: string): string[] {
  return router.stack.flatMap((layer) => {
    if (!layer.route) return layer.handle?.stack ? registeredRoutes({ stack: layer.handle.stack }, prefix) : [];
    const path = `${prefix}${layer.route.path}`.replace(/:(\w+)/g, '{$1}');
    return Object.keys(layer.route.methods).map((method) => `${method.toUpperCase()} ${path}`);
  });
}

function documentedRoutes(): string[] {
  return Object.entries(adminApiDocument.paths).flatMap(([path, item]) => Object.keys(item).map((method) => `${method.toUpperCase()} ${path}`));
}

function collectRefs(value: unknown, found: string[] = []): string[] {
  if (Array.isArray(value)) value.forEach((item) => collectRefs(item, found));
  else if (value !== null && typeof value === 'object') {
    for (const [key, item] of Object.entries(value)) {
      if (key === '$ref' && typeof item === 'string') found.push(item);
      else collectRefs(item, found);
    }
  }
  return found;
}

describe('the OpenAPI document of the admin API', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await buildTestApp();
  });
  afterAll(() => t.close());

  it('documents every route the admin router registers, and no route it does not', () => {
    const admin = registeredRoutes(createAdminApiRouter(t.composed.services) as unknown as { stack: RouteLayer[] }, '/api/v1');
    expect(admin.length).toBeGreaterThan(20);
    const documented = documentedRoutes();
    expect(admin.filter((route) => !documented.includes(route))).toEqual([]);
    const servedElsewhere = ['GET /api/v1/openapi.json', 'POST /hooks/kartra/{siteKey}/{secret}'];
    expect(documented.filter((route) => !admin.includes(route) && !servedElsewhere.includes(route))).toEqual([]);
  });

  it('documents the webhook route with each answer it gives', () => {
    const webhook = registeredRoutes(createWebhookRouter({ intake: t.composed.services.intake, bodyLimitBytes: 1024 }) as unknown as { stack: RouteLayer[] }, '');
    expect(webhook).toEqual(['POST /hooks/kartra/{siteKey}/{secret}']);
    const operation = adminApiDocument.paths['/hooks/kartra/{siteKey}/{secret}']?.post;
    expect(Object.keys(operation?.responses ?? {}).sort()).toEqual(['200', '400', '403', '404', '413']);
    expect(operation?.security).toEqual([]);
  });

  it('declares every path parameter of every operation, and only those', () => {
    for (const [path, item] of Object.entries(adminApiDocument.paths)) {
      const inTemplate = [...path.matchAll(/\{(\w+)\}/g)].map((match) => match[1]).sort();
      for (const [method, operation] of Object.entries(item)) {
        const declared = (operation.parameters ?? []).filter((parameter) => parameter.in === 'path').map((parameter) => parameter.name).sort();
        expect({ route: `${method} ${path}`, declared }).toEqual({ route: `${method} ${path}`, declared: inTemplate });
      }
    }
  });

  it('has unique operation ids, bearerAuth on every admin route, and references that resolve', () => {
    const operations = Object.entries(adminApiDocument.paths).flatMap(([path, item]) =>
      (Object.keys(item) as HttpMethod[]).map((method) => ({ path, operation: item[method] })),
    );
    const ids = operations.map(({ operation }) => operation?.operationId);
    expect(new Set(ids).size).toBe(ids.length);
    for (const { path, operation } of operations) {
      const isPublic = path === '/api/v1/openapi.json' || path.startsWith('/hooks/');
      expect({ path, security: operation?.security }).toEqual({ path, security: isPublic ? [] : [{ bearerAuth: [] }] });
    }
    expect(adminApiDocument.components.securitySchemes.bearerAuth).toMatchObject({ type: 'http', scheme: 'bearer' });
    for (const target of collectRefs(adminApiDocument)) {
      const [, section, name] = /^#\/components\/(schemas|responses)\/(.+)$/.exec(target) ?? [];
      const components = adminApiDocument.components as unknown as Record<string, Record<string, unknown>>;
      expect({ target, resolves: Boolean(section && name && components[section]?.[name]) }).toEqual({ target, resolves: true });
    }
  });

  it('closes every object an answer can hold, so a field sent but not declared fails validation', () => {
    const schemas = adminApiDocument.components.schemas;
    const open: string[] = [];
    const visited = new Set<string>();
    const visit = (schema: unknown, at: string): void => {
      if (Array.isArray(schema)) return schema.forEach((item, index) => visit(item, `${at}/${index}`));
      if (schema === null || typeof schema !== 'object') return;
      const object = schema as Record<string, unknown>;
      // Referenced schemas are followed (once each), so objects nested in other components are checked too.
      if (typeof object.$ref === 'string' && !visited.has(object.$ref)) {
        visited.add(object.$ref);
        visit(schemas[object.$ref.replace('#/components/schemas/', '')], object.$ref);
      }
      if (object.type === 'object' && object.properties && object.additionalProperties !== false) open.push(at);
      for (const [key, value] of Object.entries(object)) visit(value, `${at}/${key}`);
    };
    const answered = new Set(
      Object.values(adminApiDocument.paths).flatMap((item) =>
        Object.values(item).flatMap((operation) =>
          Object.values(operation.responses).flatMap((answer) => collectRefs('$ref' in answer ? adminApiDocument.components.responses[answer.$ref.split('/').pop() as '400'] : answer)),
        ),
      ),
    );
    expect(answered.size).toBeGreaterThan(20);
    for (const target of answered) visit({ $ref: target }, target);
    expect(open).toEqual([]);
  });

  it('describes the one error shape {error: {code, message, details?}}', () => {
    expect(adminApiDocument.components.schemas.Error).toMatchObject({
      required: ['error'],
      properties: { error: { required: ['code', 'message'], properties: { code: { type: 'string' }, message: { type: 'string' }, details: { type: 'object' } } } },
    });
  });

  it('is served at GET /api/v1/openapi.json without a token, as JSON with openapi 3.1.0', async () => {
    const response = await request(t.app).get('/api/v1/openapi.json').expect(200).expect('Content-Type', /application\/json/);
    const served = JSON.parse(response.text) as typeof adminApiDocument;
    expect(served.openapi).toBe('3.1.0');
    expect(served).toEqual(JSON.parse(JSON.stringify(adminApiDocument)));
  });

  it('still guards the admin routes next to it', async () => {
    const response = await request(t.app).get('/api/v1/sites').expect(401);
    expect(response.body).toEqual({ error: { code: 'unauthenticated', message: expect.any(String) } });
  });
});
