import { EVENT_STATUSES, MONEY_CHANNELS } from '../../domain/model';

const MONEY_CHANNELS_DESCRIPTION =
  'Which deliveries may move money-driven access. `any`: purchases, refunds and cancels from the Outbound API and IPN. `ipn_with_secret`: only IPN posts carrying the IPN secret_key; Outbound money events are then stored as `rejected` (tags, lists and other events are still taken).';

/**
 * The OpenAPI 3.1 description of the admin API (`/api/v1`) and of the Kartra webhook route, served at
 * `GET /api/v1/openapi.json`. Written by hand next to admin-routes.ts; test/http/openapi.test.ts fails when a route
 * exists in the router but not here.
 */

export interface SchemaObject {
  $ref?: string;
  type?: string | string[];
  format?: string;
  description?: string;
  enum?: readonly (string | number | boolean | null)[];
  const?: string | number | boolean;
  default?: unknown;
  example?: unknown;
  properties?: Record<string, SchemaObject>;
  required?: string[];
  additionalProperties?: boolean | SchemaObject;
  items?: SchemaObject;
  oneOf?: SchemaObject[];
  allOf?: SchemaObject[];
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  pattern?: string;
}

export interface ParameterObject {
  name: string;
  in: 'path' | 'query' | 'header';
  required?: boolean;
  description?: string;
  schema: SchemaObject;
}

export interface MediaTypeObject {
  schema: SchemaObject;
  example?: unknown;
}

export interface ResponseObject {
  description: string;
  content?: Record<string, MediaTypeObject>;
}

/** A response shared through components.responses. */
export interface ResponseReference {
  $ref: string;
}

export interface OperationObject {
  operationId: string;
  summary: string;
  description?: string;
  tags: string[];
  security?: Record<string, string[]>[];
  parameters?: ParameterObject[];
  requestBody?: { required: boolean; description?: string; content: Record<string, MediaTypeObject> };
  responses: Record<string, ResponseObject | ResponseReference>;
}

export type HttpMethod = 'get' | 'post' | 'put' | 'patch' | 'delete';
export type PathItemObject = Partial<Record<HttpMethod, OperationObject>>;

export interface OpenApiDocument {
  openapi: '3.1.0';
  info: { title: string; version: string; description: string };
  servers: { url: string; description: string }[];
  tags: { name: string; description: string }[];
  security: Record<string, string[]>[];
  paths: Record<string, PathItemObject>;
  components: {
    securitySchemes: Record<string, { type: 'http'; scheme: 'bearer'; description: string }>;
    schemas: Record<string, SchemaObject>;
    responses: Record<SharedError, ResponseObject>;
  };
}

const ref = (name: string): SchemaObject => ({ $ref: `#/components/schemas/${name}` });
const nullable = (schema: SchemaObject): SchemaObject => ({ oneOf: [schema, { type: 'null' }] });
const dateTime: SchemaObject = { type: 'string', format: 'date-time' };
const nullableDateTime: SchemaObject = { type: ['string', 'null'], format: 'date-time' };
const nullableString: SchemaObject = { type: ['string', 'null'] };
const integer: SchemaObject = { type: 'integer' };
const arrayOf = (items: SchemaObject): SchemaObject => ({ type: 'array', items });
const object = (properties: Record<string, SchemaObject>, required: string[] = Object.keys(properties)): SchemaObject => ({
  type: 'object',
  properties,
  required,
});
const json = (schema: SchemaObject) => ({ 'application/json': { schema } });
const ok = (description: string, schema: SchemaObject): ResponseObject => ({ description, content: json(schema) });
export type SharedError = '400' | '401' | '404' | '409' | '413' | '422';
const errors = (...statuses: SharedError[]): Record<string, ResponseReference> =>
  Object.fromEntries(statuses.map((status) => [status, { $ref: `#/components/responses/${status}` }]));
const body = (schema: SchemaObject, description?: string) => ({ required: true, ...(description ? { description } : {}), content: json(schema) });

const idPath = (name: string, what: string): ParameterObject => ({ name, in: 'path', required: true, description: what, schema: { type: 'integer', minimum: 1 } });
const siteId = idPath('siteId', 'The site id (a site the token may not see answers 404).');
const levelId = idPath('levelId', 'An access level of the site.');
const memberId = idPath('memberId', 'A member of the site.');
const grantId = idPath('grantId', 'A grant of the member.');
const eventId = idPath('eventId', 'A stored webhook event of the site.');
const productIdPath: ParameterObject = {
  name: 'productId',
  in: 'path',
  required: true,
  description: "Kartra's product id.",
  schema: { type: 'string', pattern: '^[A-Za-z0-9_-]{1,64}$' },
};
const assetKeyPath: ParameterObject = {
  name: 'key',
  in: 'path',
  required: true,
  description: 'The `key` of a tag or membership level (from the mappings or discovered lists), URL-encoded.',
  schema: { type: 'string', minLength: 1, maxLength: 300 },
};
const query = (name: string, schema: SchemaObject, description: string): ParameterObject => ({ name, in: 'query', required: false, description, schema });

const schemas: Record<string, SchemaObject> = {
  Error: {
    description: 'The one error shape of the API.',
    ...object({
      error: object(
        {
          code: { type: 'string', description: 'Stable machine-readable code.', example: 'not_found' },
          message: { type: 'string', description: 'Human-readable explanation.' },
          details: {
            type: 'object',
            description: 'Optional: for invalid_input, `issues` lists each field problem.',
            properties: { issues: arrayOf(object({ path: { type: 'string' }, message: { type: 'string' } })) },
            additionalProperties: true,
          },
        },
        ['code', 'message'],
      ),
    }),
  },
  Site: object({
    id: integer,
    key: { type: 'string', description: 'Public key used in the webhook URL.' },
    name: { type: 'string' },
    publicUrl: { ...nullableString, description: 'Base URL override for this site, normalised (no trailing slash); null uses the server default.' },
    kartraEnabled: { type: 'boolean' },
    createdAt: dateTime,
  }),
  Level: object({ id: integer, name: { type: 'string' }, createdAt: dateTime }),
  LevelRef: object({ id: integer, name: { type: 'string' } }),
  IntegrationSecret: object({
    id: integer,
    hint: { type: 'string', description: 'Last characters of the secret, to tell URLs apart.' },
    current: { type: 'boolean' },
    createdAt: dateTime,
    validUntil: { ...nullableDateTime, description: 'For a rotated-out secret, the end of its grace period.' },
    lastUsedAt: nullableDateTime,
  }),
  IntegrationSettings: object({
    moneyChannels: { type: 'string', enum: [...MONEY_CHANNELS], description: MONEY_CHANNELS_DESCRIPTION },
    publicUrl: nullableString,
    graceDays: integer,
    cancelMode: { type: 'string', enum: ['immediate', 'period_end'] },
    quietFeedHours: integer,
    rawBodyRetentionDays: integer,
    secretGraceHours: integer,
    tagAccess: { type: 'boolean', description: 'Whether mapped Kartra tags grant and revoke access (on by default).' },
    membershipAccess: { type: 'boolean', description: 'Whether mapped Kartra membership levels grant and revoke access (on by default).' },
  }),
  Integration: object({
    enabled: { type: 'boolean' },
    webhookUrl: { ...nullableString, description: 'The full URL with its secret: only in the answer that created the secret.' },
    webhookUrlMasked: nullableString,
    webhookUrlNote: { type: 'string' },
    secrets: arrayOf(ref('IntegrationSecret')),
    lastEventAt: nullableDateTime,
    lastEventAction: nullableString,
    ipnSecretSet: { type: 'boolean', description: 'Whether an IPN secret_key is configured; the secret itself is never returned.' },
    settings: ref('IntegrationSettings'),
  }),
  IntegrationHealth: object({
    lastEvent: nullable(object({ at: dateTime, action: nullableString })),
    lastByAction: arrayOf(object({ action: { type: 'string' }, at: dateTime })),
    countsLast24h: { type: 'object', additionalProperties: integer, description: 'Events per status.' },
    countsLast7d: { type: 'object', additionalProperties: integer, description: 'Events per status.' },
  }),
  UpdateIntegration: {
    type: 'object',
    description: 'At least one field.',
    properties: {
      enabled: { type: 'boolean' },
      publicUrl: {
        type: ['string', 'null'],
        format: 'uri',
        maxLength: 2048,
        description:
          'Base of the webhook URL (`<publicUrl>/hooks/kartra/<key>/<secret>`); null uses the server default. https only (http only for localhost, 127.0.0.1 or [::1]); no user:pass@, no query or fragment (not even a bare `?` or `#`), no backslashes, no spaces; host name at most 253 characters, 63 per label. Trailing slashes are dropped. A value that breaks a rule is refused with 422 invalid_input naming the rule.',
      },
      ipnSecret: { type: ['string', 'null'], maxLength: 200, description: 'The IPN secret_key set in Kartra; null clears it.' },
      moneyChannels: { type: 'string', enum: [...MONEY_CHANNELS], description: `${MONEY_CHANNELS_DESCRIPTION} \`ipn_with_secret\` needs an IPN secret (422 otherwise).` },
      graceDays: { type: 'integer', minimum: 0, maximum: 90 },
      cancelMode: { type: 'string', enum: ['immediate', 'period_end'] },
      secretGraceHours: { type: 'integer', minimum: 0, maximum: 720 },
      quietFeedHours: { type: 'integer', minimum: 1, maximum: 2160 },
      rawBodyRetentionDays: { type: 'integer', minimum: 1, maximum: 3650 },
      tagAccess: { type: 'boolean', description: 'Off: tag events are stored as `ignored`.' },
      membershipAccess: { type: 'boolean', description: 'Off: membership events are stored as `ignored`.' },
    },
    additionalProperties: false,
  },
  AssetMapping: object({
    key: { type: 'string', description: 'Opaque key of the tag or membership level on this site.' },
    kind: { type: 'string', enum: ['tag', 'membership'] },
    label: { type: 'string', description: 'As people read it: `tag "VIP"`, `membership "Academy" level "Pro"`.' },
    name: { ...nullableString, description: 'The tag name, or the level name.' },
    kartraId: { ...nullableString, description: "Kartra's tag id, or level id." },
    membershipId: nullableString,
    membershipName: nullableString,
    levels: arrayOf(ref('Level')),
    memberCount: { ...integer, description: 'Members holding an active grant from it.' },
  }),
  CreateAssetMapping: {
    description:
      'A discovered tag or level by `key`, or one named by Kartra id or name (names match trimmed and case-insensitively; a level by id within its membership when given). Replaces its levels.',
    oneOf: [
      object({ key: { type: 'string', maxLength: 300 }, levelIds: { type: 'array', items: { type: 'integer', minimum: 1 }, minItems: 1 }, applyToPast: { type: 'boolean', default: false } }, ['key', 'levelIds']),
      object(
        {
          kind: { type: 'string', enum: ['tag'] },
          tagName: { type: 'string', maxLength: 200 },
          tagId: { type: 'string', maxLength: 200 },
          levelIds: { type: 'array', items: { type: 'integer', minimum: 1 }, minItems: 1 },
          applyToPast: { type: 'boolean', default: false },
        },
        ['kind', 'levelIds'],
      ),
      object(
        {
          kind: { type: 'string', enum: ['membership'] },
          membershipId: { type: 'string', maxLength: 200 },
          membershipName: { type: 'string', maxLength: 200 },
          levelId: { type: 'string', maxLength: 200 },
          levelName: { type: 'string', maxLength: 200 },
          levelIds: { type: 'array', items: { type: 'integer', minimum: 1 }, minItems: 1 },
          applyToPast: { type: 'boolean', default: false },
        },
        ['kind', 'levelIds'],
      ),
    ],
  },
  AssetMappingPreview: object({
    assetKey: { type: 'string' },
    unmappedEvents: { ...integer, description: 'Stored unmapped events of it that applyToPast re-applies.' },
    people: { ...integer, description: 'Distinct people (lead id, else email) in them.' },
    recordedMembers: { ...integer, description: 'Members with assignments on record, brought in line with the mapping.' },
  }),
  DiscoveredAsset: object({
    key: { type: 'string' },
    kind: { type: 'string', enum: ['tag', 'membership'] },
    label: { type: 'string' },
    name: nullableString,
    kartraId: nullableString,
    membershipId: nullableString,
    membershipName: nullableString,
    firstSeenAt: nullableDateTime,
    lastSeenAt: nullableDateTime,
    eventCount: integer,
    leadCount: integer,
  }),
  Mapping: object({
    productId: { type: 'string' },
    productName: nullableString,
    levels: arrayOf(ref('Level')),
    billingPeriodDays: { type: ['integer', 'null'] },
    memberCount: { ...integer, description: 'Members holding an active grant from this product.' },
  }),
  CreateMapping: object(
    {
      productId: { type: 'string', pattern: '^[A-Za-z0-9_-]{1,64}$' },
      levelIds: { type: 'array', items: { type: 'integer', minimum: 1 }, minItems: 1 },
      applyToPast: { type: 'boolean', default: false, description: "Re-apply this product's unmapped events now." },
      billingPeriodDays: { type: ['integer', 'null'], minimum: 1, maximum: 3660 },
    },
    ['productId', 'levelIds'],
  ),
  MappingPreview: object({
    productId: { type: 'string' },
    unmappedEvents: integer,
    people: integer,
    recordedPurchases: integer,
  }),
  ReapplyResult: object({
    eventCount: integer,
    outcomes: { type: 'object', additionalProperties: integer, description: 'Events per resulting outcome.' },
  }),
  DiscoveredProduct: object({
    productId: { type: 'string' },
    productName: nullableString,
    firstSeenAt: nullableDateTime,
    lastSeenAt: nullableDateTime,
    eventCount: integer,
    buyerCount: integer,
  }),
  Member: object({
    id: integer,
    siteId: integer,
    kartraLeadId: nullableString,
    email: nullableString,
    firstName: nullableString,
    lastName: nullableString,
    createdAt: dateTime,
    updatedAt: dateTime,
    levels: { ...arrayOf(ref('LevelRef')), description: 'Effective levels now.' },
  }),
  Grant: object({
    id: integer,
    siteId: integer,
    memberId: integer,
    levelId: integer,
    sourceType: { type: 'string', enum: ['purchase', 'manual', 'tag', 'membership'] },
    sourceKey: { type: 'string' },
    productId: nullableString,
    transactionId: nullableString,
    subscriptionId: nullableString,
    status: { type: 'string', enum: ['active', 'revoked'] },
    revokedReason: nullableString,
    adminLocked: { type: 'boolean' },
    expiresAt: { ...nullableDateTime, description: 'When access from this grant ends by itself (expiry, grace, paid period).' },
    createdAt: dateTime,
    updatedAt: dateTime,
  }),
  GrantHistoryEntry: object({
    id: integer,
    siteId: integer,
    grantId: integer,
    memberId: integer,
    levelId: integer,
    change: { type: 'string', enum: ['granted', 'confirmed', 'revoked', 'restored', 'expires', 'expired'] },
    reason: { type: 'string' },
    eventId: { type: ['integer', 'null'] },
    actor: { type: 'string' },
    at: dateTime,
  }),
  EmailChange: object({
    id: integer,
    memberId: integer,
    previousEmail: nullableString,
    newEmail: { type: 'string' },
    eventId: { type: ['integer', 'null'] },
    changedAt: dateTime,
  }),
  MemberDetail: {
    allOf: [
      ref('Member'),
      object({
        grants: arrayOf({
          allOf: [
            ref('Grant'),
            object({
              levelName: { type: 'string' },
              assetLabel: { ...nullableString, description: 'For a grant from a Kartra tag or membership level, which one (`tag "VIP"`).' },
              effective: { type: 'boolean' },
              history: arrayOf(ref('GrantHistoryEntry')),
            }),
          ],
        }),
        emailChanges: arrayOf(ref('EmailChange')),
      }),
    ],
  },
  CreateGrant: object({ levelId: { type: 'integer', minimum: 1 }, expiresAt: { type: ['string', 'null'], format: 'date-time' } }, ['levelId']),
  EventSummary: object({
    id: integer,
    receivedAt: dateTime,
    channel: { type: 'string', enum: ['outbound', 'ipn', 'unknown'] },
    status: { type: 'string', enum: EVENT_STATUSES },
    kind: nullableString,
    action: nullableString,
    productId: nullableString,
    assetKey: { ...nullableString, description: 'The Kartra tag or membership level of a tag or membership event.' },
    leadId: nullableString,
    email: nullableString,
    transactionId: nullableString,
    memberId: { type: ['integer', 'null'] },
    duplicateOfEventId: { type: ['integer', 'null'] },
    summary: nullableString,
    attempts: integer,
  }),
  EventDetail: {
    allOf: [
      ref('EventSummary'),
      object({
        sourceIp: nullableString,
        headers: { type: 'object', additionalProperties: { type: 'string' } },
        kartraTimeRaw: nullableString,
        kartraTimeAt: nullableDateTime,
        fingerprint: nullableString,
        parsed: { description: 'The typed event the body parsed to, or null.' },
        notes: arrayOf(object({ path: { type: 'string' }, message: { type: 'string' } })),
        error: nullableString,
        processedAt: nullableDateTime,
        rawBody: {
          type: ['string', 'null'],
          description: 'The body as received, as text, its Content-Encoding undone, with the IPN secret_key masked in every spelling the parser reads; null once retention pruned it.',
        },
        rawBodyNote: { type: 'string', description: 'Present when the body was pruned, was shown decoded, or did not match its Content-Encoding.' },
        rawBodyBytes: integer,
        effects: object({
          grantChanges: arrayOf({ allOf: [ref('GrantHistoryEntry'), object({ levelName: { type: 'string' } })] }),
          emailChanges: arrayOf(ref('EmailChange')),
        }),
      }),
    ],
  },
  EventStatus: { type: 'string', enum: EVENT_STATUSES },
  EventItem: object({ id: integer, receivedAt: dateTime, summary: nullableString, error: nullableString }),
  Attention: object({
    pastDue: arrayOf(
      object({
        memberId: integer,
        email: nullableString,
        productId: { type: 'string' },
        sourceKey: { type: 'string' },
        subscriptionId: nullableString,
        failedAt: dateTime,
        graceEndsAt: dateTime,
      }),
    ),
    chargebacks: arrayOf(
      object({
        memberId: integer,
        email: nullableString,
        productId: { type: 'string' },
        transactionId: nullableString,
        chargedBackOrderId: nullableString,
        occurredAt: dateTime,
        eventId: integer,
      }),
    ),
    failedEvents: object({ count: integer, latest: arrayOf(ref('EventItem')) }),
    rejectedEvents: object({ count: integer, latest: arrayOf(ref('EventItem')) }),
    unmappedProducts: arrayOf(ref('DiscoveredProduct')),
    quietFeed: object({ quiet: { type: 'boolean' }, lastEventAt: nullableDateTime, thresholdHours: integer }),
    total: integer,
  }),
  Name: object({ name: { type: 'string', minLength: 1, maxLength: 200 } }),
  WebhookAccepted: object({
    received: { type: 'boolean', const: true },
    eventId: integer,
    outcome: { type: 'string', enum: ['applied', 'duplicate', 'unmapped', 'ignored', 'failed'] },
  }),
};

const errorResponse = (description: string): ResponseObject => ({ description, content: json(ref('Error')) });

function operation(tag: string, operationId: string, summary: string, rest: Omit<OperationObject, 'operationId' | 'summary' | 'tags'>): OperationObject {
  return { operationId, summary, tags: [tag], ...rest };
}

const paths: Record<string, PathItemObject> = {
  '/api/v1/openapi.json': {
    get: operation('meta', 'getOpenApiDocument', 'This document', {
      security: [],
      responses: { '200': ok('The OpenAPI 3.1 document of the admin API.', { type: 'object' }) },
    }),
  },
  '/api/v1/sites': {
    post: operation('sites', 'createSite', 'Create a site', {
      description: 'Only a token that is not scoped to a site may create sites (403 otherwise).',
      requestBody: body(ref('Name')),
      responses: { '201': ok('The new site.', ref('Site')), '403': errorResponse('The token is scoped to one site.'), ...errors('401', '422') },
    }),
    get: operation('sites', 'listSites', 'List the sites the token may see', {
      responses: { '200': ok('Sites.', object({ sites: arrayOf(ref('Site')) })), ...errors('401') },
    }),
  },
  '/api/v1/sites/{siteId}': {
    get: operation('sites', 'getSite', 'Get a site', { parameters: [siteId], responses: { '200': ok('The site.', ref('Site')), ...errors('401', '404') } }),
  },
  '/api/v1/sites/{siteId}/levels': {
    post: operation('levels', 'createLevel', 'Create an access level', {
      parameters: [siteId],
      requestBody: body(ref('Name')),
      responses: { '201': ok('The new level.', ref('Level')), ...errors('401', '404', '422') },
    }),
    get: operation('levels', 'listLevels', 'List access levels', {
      parameters: [siteId],
      responses: { '200': ok('Levels.', object({ levels: arrayOf(ref('Level')) })), ...errors('401', '404') },
    }),
  },
  '/api/v1/sites/{siteId}/levels/{levelId}': {
    patch: operation('levels', 'renameLevel', 'Rename an access level', {
      parameters: [siteId, levelId],
      requestBody: body(ref('Name')),
      responses: { '200': ok('The renamed level.', ref('Level')), ...errors('401', '404', '422') },
    }),
    delete: operation('levels', 'deleteLevel', 'Delete an access level', {
      description: 'Refused with 409 while a mapping or grant still uses it.',
      parameters: [siteId, levelId],
      responses: { '204': { description: 'Deleted.' }, ...errors('401', '404', '409') },
    }),
  },
  '/api/v1/sites/{siteId}/kartra': {
    get: operation('kartra', 'getIntegration', 'Integration state, webhook URL (masked) and feed health', {
      parameters: [siteId],
      responses: { '200': ok('The integration.', { allOf: [ref('Integration'), object({ health: ref('IntegrationHealth') })] }), ...errors('401', '404') },
    }),
    put: operation('kartra', 'updateIntegration', 'Enable or disable the integration and change its settings', {
      description: 'Enabling for the first time creates the webhook secret: the answer is the only one that shows the full `webhookUrl`.',
      parameters: [siteId],
      requestBody: body(ref('UpdateIntegration')),
      responses: { '200': ok('The integration.', ref('Integration')), ...errors('401', '404', '422') },
    }),
  },
  '/api/v1/sites/{siteId}/kartra/rotate': {
    post: operation('kartra', 'rotateWebhookSecret', 'Issue a new webhook URL; the old one works for the grace period', {
      parameters: [siteId],
      responses: { '200': ok('The integration with the new full `webhookUrl`.', ref('Integration')), ...errors('401', '404') },
    }),
  },
  '/api/v1/sites/{siteId}/mappings': {
    post: operation('mappings', 'saveMapping', 'Map a Kartra product to access levels', {
      description: "Replaces the product's levels. With `applyToPast`, its unmapped events are re-applied in receipt order.",
      parameters: [siteId],
      requestBody: body(ref('CreateMapping')),
      responses: {
        '201': ok(
          'The mapping, what applyToPast would touch (measured before saving) and what it did.',
          object({
            mapping: ref('Mapping'),
            preview: ref('MappingPreview'),
            applied: nullable({ allOf: [ref('ReapplyResult'), object({ membersReconciled: integer })] }),
          }),
        ),
        ...errors('401', '404', '422'),
      },
    }),
    get: operation('mappings', 'listMappings', 'List mappings', {
      parameters: [siteId],
      responses: { '200': ok('Mappings.', object({ mappings: arrayOf(ref('Mapping')) })), ...errors('401', '404') },
    }),
  },
  '/api/v1/sites/{siteId}/mappings/{productId}': {
    get: operation('mappings', 'getMapping', 'Get one mapping', {
      parameters: [siteId, productIdPath],
      responses: { '200': ok('The mapping.', ref('Mapping')), ...errors('401', '404', '422') },
    }),
    delete: operation('mappings', 'deleteMapping', 'Delete a mapping; grants are kept unless revoke=true', {
      parameters: [siteId, productIdPath, query('revoke', { type: 'string', enum: ['true', 'false', '1', '0'], default: 'false' }, 'Also revoke the grants the product gave.')],
      responses: { '200': ok('How many grants were revoked.', object({ revokedGrants: integer })), ...errors('401', '404', '422') },
    }),
  },
  '/api/v1/sites/{siteId}/mappings/{productId}/preview': {
    get: operation('mappings', 'previewMapping', 'What mapping this product with applyToPast would touch', {
      parameters: [siteId, productIdPath],
      responses: { '200': ok('The preview.', ref('MappingPreview')), ...errors('401', '404', '422') },
    }),
  },
  '/api/v1/sites/{siteId}/discovered-products': {
    get: operation('mappings', 'listDiscoveredProducts', 'Products seen in events but not mapped', {
      parameters: [siteId],
      responses: { '200': ok('Discovered products.', object({ products: arrayOf(ref('DiscoveredProduct')) })), ...errors('401', '404') },
    }),
  },
  '/api/v1/sites/{siteId}/asset-mappings': {
    post: operation('mappings', 'saveAssetMapping', 'Map a Kartra tag or membership level to access levels', {
      description: 'Replaces its levels. With `applyToPast`, its unmapped events are re-applied and members with assignments on record follow the mapping.',
      parameters: [siteId],
      requestBody: body(ref('CreateAssetMapping')),
      responses: {
        '201': ok(
          'The mapping, what applyToPast would touch (measured before saving) and what it did.',
          object({
            assetMapping: ref('AssetMapping'),
            preview: ref('AssetMappingPreview'),
            applied: nullable({ allOf: [ref('ReapplyResult'), object({ membersReconciled: integer })] }),
          }),
        ),
        ...errors('401', '404', '422'),
      },
    }),
    get: operation('mappings', 'listAssetMappings', 'List tag and membership-level mappings', {
      parameters: [siteId],
      responses: { '200': ok('Mappings.', object({ assetMappings: arrayOf(ref('AssetMapping')) })), ...errors('401', '404') },
    }),
  },
  '/api/v1/sites/{siteId}/asset-mappings/{key}': {
    get: operation('mappings', 'getAssetMapping', 'Get one tag or membership-level mapping', {
      parameters: [siteId, assetKeyPath],
      responses: { '200': ok('The mapping.', ref('AssetMapping')), ...errors('401', '404', '422') },
    }),
    delete: operation('mappings', 'deleteAssetMapping', 'Delete a tag or membership-level mapping; grants are kept unless revoke=true', {
      parameters: [siteId, assetKeyPath, query('revoke', { type: 'string', enum: ['true', 'false', '1', '0'], default: 'false' }, 'Also revoke the grants it gave.')],
      responses: { '200': ok('How many grants were revoked.', object({ revokedGrants: integer })), ...errors('401', '404', '422') },
    }),
  },
  '/api/v1/sites/{siteId}/asset-mappings/{key}/preview': {
    get: operation('mappings', 'previewAssetMapping', 'What mapping this tag or level with applyToPast would touch', {
      parameters: [siteId, assetKeyPath],
      responses: { '200': ok('The preview.', ref('AssetMappingPreview')), ...errors('401', '404', '422') },
    }),
  },
  '/api/v1/sites/{siteId}/discovered-assets': {
    get: operation('mappings', 'listDiscoveredAssets', 'Tags and membership levels seen in events but not mapped', {
      parameters: [siteId],
      responses: { '200': ok('Discovered tags and levels.', object({ tags: arrayOf(ref('DiscoveredAsset')), memberships: arrayOf(ref('DiscoveredAsset')) })), ...errors('401', '404') },
    }),
  },
  '/api/v1/sites/{siteId}/members': {
    get: operation('members', 'listMembers', 'Find members, with their effective levels', {
      parameters: [
        siteId,
        query('email', { type: 'string', maxLength: 320 }, 'Exact email (trimmed, case-insensitive).'),
        query('q', { type: 'string', maxLength: 200 }, 'Part of a name, email or lead id.'),
        query('limit', { type: 'integer', minimum: 1, maximum: 200, default: 50 }, 'Page size.'),
        query('after', { type: 'integer', minimum: 0 }, 'The `nextAfter` of the previous page.'),
      ],
      responses: {
        '200': ok('A page of members.', object({ members: arrayOf(ref('Member')), nextAfter: { type: ['integer', 'null'] } })),
        ...errors('401', '404', '422'),
      },
    }),
  },
  '/api/v1/sites/{siteId}/members/{memberId}': {
    get: operation('members', 'getMember', 'A member with grants, grant history and email changes', {
      parameters: [siteId, memberId],
      responses: { '200': ok('The member.', ref('MemberDetail')), ...errors('401', '404') },
    }),
  },
  '/api/v1/sites/{siteId}/members/{memberId}/grants': {
    post: operation('members', 'grantManually', 'Grant a level by hand, optionally until a time', {
      parameters: [siteId, memberId],
      requestBody: body(ref('CreateGrant')),
      responses: { '201': ok('The grant.', ref('Grant')), ...errors('401', '404', '422') },
    }),
  },
  '/api/v1/sites/{siteId}/members/{memberId}/grants/{grantId}': {
    delete: operation('members', 'revokeGrant', 'Revoke a grant by hand', {
      parameters: [siteId, memberId, grantId],
      responses: { '200': ok('The revoked grant.', ref('Grant')), '409': errorResponse('Only manual grants can be revoked by hand.'), ...errors('401', '404') },
    }),
  },
  '/api/v1/sites/{siteId}/attention': {
    get: operation('events', 'getAttention', 'What needs attention: past due, chargebacks, failed/rejected events, unmapped products, quiet feed', {
      parameters: [siteId],
      responses: { '200': ok('The report.', ref('Attention')), ...errors('401', '404') },
    }),
  },
  '/api/v1/sites/{siteId}/events': {
    get: operation('events', 'listEvents', 'The event log, newest first', {
      parameters: [
        siteId,
        query('status', { type: 'string', example: 'failed,unmapped' }, `Comma-separated statuses: ${EVENT_STATUSES.join(', ')}.`),
        query('action', { type: 'string', maxLength: 64 }, "Kartra's action or IPN transaction type."),
        query('productId', { type: 'string', pattern: '^[A-Za-z0-9_-]{1,64}$' }, 'Kartra product id.'),
        query('assetKey', { type: 'string', maxLength: 300 }, 'A tag or membership level, by its `key`.'),
        query('email', { type: 'string', maxLength: 320 }, 'Lead email.'),
        query('since', dateTime, 'Received at or after (ISO 8601 with offset).'),
        query('until', dateTime, 'Received at or before (ISO 8601 with offset).'),
        query('limit', { type: 'integer', minimum: 1, maximum: 200, default: 50 }, 'Page size.'),
        query('cursor', { type: 'string', maxLength: 100 }, 'The `nextCursor` of the previous page.'),
      ],
      responses: {
        '200': ok('A page of events.', object({ events: arrayOf(ref('EventSummary')), nextCursor: nullableString })),
        ...errors('401', '404', '422'),
      },
    }),
  },
  '/api/v1/sites/{siteId}/events/reapply': {
    post: operation('events', 'reapplyEvents', 'Re-apply every event with these statuses since a time, oldest first', {
      parameters: [siteId],
      requestBody: body(
        object(
          {
            statuses: { type: 'array', items: { type: 'string', enum: ['failed', 'unmapped', 'invalid', 'rejected'] }, minItems: 1, default: ['failed'] },
            since: dateTime,
          },
          [],
        ),
      ),
      responses: { '200': ok('How many events were re-applied, per new outcome.', ref('ReapplyResult')), ...errors('401', '404', '422') },
    }),
  },
  '/api/v1/sites/{siteId}/events/{eventId}': {
    get: operation('events', 'getEvent', 'One event: raw body (secret masked), parsed event, notes and effects', {
      parameters: [siteId, eventId],
      responses: { '200': ok('The event.', ref('EventDetail')), ...errors('401', '404') },
    }),
  },
  '/api/v1/sites/{siteId}/events/{eventId}/reapply': {
    post: operation('events', 'reapplyEvent', 'Re-apply one stored event (idempotent)', {
      parameters: [siteId, eventId],
      responses: {
        '200': ok('The new outcome and the event.', object({ outcome: ref('EventStatus'), event: ref('EventDetail') })),
        ...errors('401', '404'),
      },
    }),
  },
  '/hooks/kartra/{siteKey}/{secret}': {
    post: operation('webhook', 'receiveKartraWebhook', 'Kartra webhook: Outbound API JSON and IPN form posts', {
      description:
        "The URL is the credential (no bearer token). The body is stored before anything else, whatever its Content-Type: a JSON body is the Outbound API, a urlencoded or multipart form is an IPN post. Every stored event is answered 200 whatever its outcome, because Kartra cannot fix anything by retrying.",
      security: [],
      parameters: [
        { name: 'siteKey', in: 'path', required: true, description: "The site's public key.", schema: { type: 'string' } },
        { name: 'secret', in: 'path', required: true, description: 'The webhook secret (current, or a rotated one inside its grace period).', schema: { type: 'string' } },
      ],
      requestBody: {
        required: true,
        content: {
          'application/json': { schema: { type: 'object', description: 'Kartra Outbound API event.' } },
          'application/x-www-form-urlencoded': { schema: { type: 'object', description: 'Kartra IPN post.', additionalProperties: { type: 'string' } } },
          'multipart/form-data': { schema: { type: 'object', description: 'Kartra IPN post.', additionalProperties: { type: 'string' } } },
        },
      },
      responses: {
        '200': ok('Stored; `outcome` says what it did.', ref('WebhookAccepted')),
        '400': errorResponse('Stored as `invalid`: not JSON, not a form, or not a Kartra event. `details.eventId` names the stored event.'),
        '403': errorResponse('Stored as `rejected`: an IPN post whose secret_key is missing or wrong; nothing changed.'),
        '404': errorResponse('Unknown site key or secret, or the integration is disabled; nothing stored.'),
        '413': errorResponse('The body is larger than the limit; nothing stored.'),
      },
    }),
  },
};

// Admin routes need the bearer token (only this document and the webhook opt out with `security: []`), and every
// admin route with a JSON body can meet the body parser's errors: malformed JSON (400) and a body over 100 kB (413).
for (const [path, item] of Object.entries(paths)) {
  for (const op of Object.values(item)) {
    if (!op.security) op.security = [{ bearerAuth: [] }];
    if (op.requestBody && path.startsWith('/api/v1/')) Object.assign(op.responses, errors('400', '413'));
  }
}

export const adminApiDocument: OpenApiDocument = {
  openapi: '3.1.0',
  info: {
    title: 'kartra-access admin API',
    version: '1',
    description:
      'Sites, access levels, product mappings, members and grants, and the Kartra event log. Send `Authorization: Bearer <token>` (create one with `npm run cli -- token create --name <name>`). JSON is camelCase; every error has the shape `{"error": {"code", "message", "details"?}}`. Anything of a site the token may not see answers 404.',
  },
  servers: [{ url: '/', description: 'This server' }],
  tags: [
    { name: 'sites', description: 'Sites (one database holds several).' },
    { name: 'levels', description: "The membership site's own access levels." },
    { name: 'kartra', description: 'The Kartra integration: webhook URL, secret rotation, settings.' },
    { name: 'mappings', description: 'Kartra products, tags and membership levels mapped to levels, and discovered ones.' },
    { name: 'members', description: 'Members, effective levels, manual grants.' },
    { name: 'events', description: 'The webhook event log, re-apply, and what needs attention.' },
    { name: 'webhook', description: 'The URL pasted into Kartra (Outbound API and IPN).' },
    { name: 'meta', description: 'This document.' },
  ],
  security: [{ bearerAuth: [] }],
  paths,
  components: {
    securitySchemes: {
      bearerAuth: { type: 'http', scheme: 'bearer', description: 'An admin API token; only its hash is stored.' },
    },
    schemas,
    responses: {
      '400': errorResponse('The body is not valid JSON (`invalid_json`).'),
      '401': errorResponse('Missing or unknown bearer token (`unauthenticated`).'),
      '404': errorResponse('No such resource, or one of a site the token may not see (`not_found`).'),
      '409': errorResponse('The change conflicts with the current state (`conflict`).'),
      '413': errorResponse('The body is larger than the limit (`payload_too_large`).'),
      '422': errorResponse('Invalid input (`invalid_input`); `details.issues` lists each problem.'),
    },
  },
};
