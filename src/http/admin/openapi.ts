import { z } from 'zod';
import {
  AssetKeyParam,
  CreateAssetMapping,
  CreateGrant,
  CreateMapping,
  CreateNotificationEndpoint,
  DeleteMappingQuery,
  EventQuery,
  IdParam,
  MemberQuery,
  NameBody,
  NotificationMessageQuery,
  NotificationType,
  ProductIdParam,
  ReapplyMany,
  ReplayNotifications,
  RotateEndpointSecret,
  SaveKartraCredentials,
  UpdateIntegration,
  UpdateNotificationEndpoint,
} from './admin-schemas';
import { EventExportQuery, MemberExportQuery } from './export-routes';
import * as Wire from './response-schemas';

/**
 * The OpenAPI 3.1 description of the admin API (`/api/v1`) and of the Kartra webhook route, served at
 * `GET /api/v1/openapi.json`. Only the routes are written here: every request and response schema, and every query
 * parameter, is generated from the zod schemas the routes parse with (admin-schemas.ts) and the presenters are typed
 * by (response-schemas.ts), so the document cannot drift from what the API accepts and sends.
 * test/http/openapi.test.ts checks that every route is documented; test/http/api-responses.test.ts checks real
 * answers against this document.
 */

/** A JSON Schema (2020-12, which OpenAPI 3.1 uses) as z.toJSONSchema writes it. */
export type SchemaObject = Record<string, unknown>;

export interface ParameterObject {
  name: string;
  in: 'path' | 'query';
  required: boolean;
  description?: string;
  deprecated?: boolean;
  schema: SchemaObject;
}

export interface ResponseObject {
  description: string;
  content?: Record<string, { schema: SchemaObject }>;
}

export interface OperationObject {
  operationId: string;
  summary: string;
  description?: string;
  tags: string[];
  security?: Record<string, string[]>[];
  parameters?: ParameterObject[];
  requestBody?: { required: boolean; description?: string; content: Record<string, { schema: SchemaObject }> };
  responses: Record<string, ResponseObject | { $ref: string }>;
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

/** The named schemas of components.schemas: each becomes a `$ref` wherever another schema or an operation uses it. */
const COMPONENT_SCHEMAS = {
  Error: Wire.ErrorBody,
  Site: Wire.Site,
  SiteList: Wire.SiteList,
  Level: Wire.Level,
  LevelList: Wire.LevelList,
  Name: NameBody,
  Integration: Wire.Integration,
  IntegrationWithHealth: Wire.IntegrationWithHealth,
  UpdateIntegration,
  KartraCredentials: Wire.KartraCredentials,
  KartraCredentialsState: Wire.KartraCredentialsState,
  SaveKartraCredentials,
  KartraConnectionTest: Wire.KartraConnectionTest,
  Mapping: Wire.Mapping,
  MappingList: Wire.MappingList,
  CreateMapping,
  MappingPreview: Wire.MappingPreview,
  MappingSaved: Wire.MappingSaved,
  RevokedGrants: Wire.RevokedGrants,
  DiscoveredProduct: Wire.DiscoveredProduct,
  DiscoveredProductList: Wire.DiscoveredProductList,
  AssetMapping: Wire.AssetMapping,
  AssetMappingList: Wire.AssetMappingList,
  CreateAssetMapping,
  AssetMappingPreview: Wire.AssetMappingPreview,
  AssetMappingSaved: Wire.AssetMappingSaved,
  DiscoveredAsset: Wire.DiscoveredAsset,
  DiscoveredAssetList: Wire.DiscoveredAssetList,
  Member: Wire.Member,
  MemberPage: Wire.MemberPage,
  MemberDetail: Wire.MemberDetail,
  Grant: Wire.Grant,
  CreateGrant,
  GrantHistoryEntry: Wire.GrantHistoryEntry,
  EmailChange: Wire.EmailChange,
  EventStatus: Wire.EventStatus,
  EventSummary: Wire.EventSummary,
  EventPage: Wire.EventPage,
  EventDetail: Wire.EventDetail,
  EventReapplied: Wire.EventReapplied,
  ReapplyMany,
  ReapplyResult: Wire.ReapplyResult,
  Attention: Wire.Attention,
  WebhookAccepted: Wire.WebhookAccepted,
  NotificationType,
  CreateNotificationEndpoint,
  UpdateNotificationEndpoint,
  RotateEndpointSecret,
  ReplayNotifications,
  NotificationEndpoint: Wire.NotificationEndpoint,
  NotificationEndpointList: Wire.NotificationEndpointList,
  NotificationEndpointWithSecret: Wire.NotificationEndpointWithSecret,
  NotificationBody: Wire.NotificationBody,
  Notification: Wire.Notification,
  NotificationPage: Wire.NotificationPage,
  NotificationDetail: Wire.NotificationDetail,
  DeliveryAttempt: Wire.DeliveryAttempt,
  NotificationsRequeued: Wire.NotificationsRequeued,
} satisfies Record<string, z.ZodType>;
type ComponentName = keyof typeof COMPONENT_SCHEMAS;

// `io: 'input'` describes what travels: what a client sends, and for responses the wire side of each codec (times as
// ISO strings, not the Dates the presenters hold).
const JSON_SCHEMA_OPTIONS = { target: 'draft-2020-12', io: 'input', unrepresentable: 'throw' } as const;

/** `$schema` and `$id` belong to standalone JSON Schema documents, not to schemas embedded in an OpenAPI document. */
function embedded(schema: SchemaObject): SchemaObject {
  return Object.fromEntries(Object.entries(schema).filter(([key]) => key !== '$schema' && key !== '$id'));
}

function componentSchemas(): Record<string, SchemaObject> {
  const registry = z.registry<{ id: string }>();
  for (const [id, schema] of Object.entries(COMPONENT_SCHEMAS)) registry.add(schema, { id });
  const generated = z.toJSONSchema(registry, { ...JSON_SCHEMA_OPTIONS, uri: (id) => `#/components/schemas/${id}` });
  return Object.fromEntries(Object.entries(generated.schemas).map(([id, schema]) => [id, embedded(schema as SchemaObject)]));
}

const ref = (name: ComponentName): SchemaObject => ({ $ref: `#/components/schemas/${name}` });
const json = (schema: SchemaObject) => ({ 'application/json': { schema } });
const ok = (description: string, name: ComponentName): ResponseObject => ({ description, content: json(ref(name)) });
const body = (name: ComponentName) => ({ required: true, content: json(ref(name)) });
const errorResponse = (description: string): ResponseObject => ({ description, content: json(ref('Error')) });
/** A streamed CSV download (RFC 4180, UTF-8 with a BOM, CRLF line ends, a header row first). */
const csvDownload = (description: string): ResponseObject => ({ description, content: { 'text/csv': { schema: { type: 'string', contentMediaType: 'text/csv' } } } });
const CSV_EXPORT =
  'Every row the filters select, not one page: streamed as it is read (about 1,000 rows a query), as an attachment named `kartra-access-site-<siteId>-<what>-<YYYY-MM-DD>.csv`. Times are ISO 8601 UTC; a cell starting with = + - @, tab or CR is prefixed with a single quote so spreadsheets do not run it as a formula. A 4xx is answered as JSON before any row is sent; a failure after the first rows cuts the connection, so a file that ends early is never mistaken for a whole one.';
export type SharedError = '400' | '401' | '404' | '409' | '413' | '422';
const errors = (...statuses: SharedError[]): Record<string, { $ref: string }> =>
  Object.fromEntries(statuses.map((status) => [status, { $ref: `#/components/responses/${status}` }]));

/** One parameter from a zod field: its description and `deprecated` move up to the parameter, where OpenAPI reads them. */
function parameter(name: string, location: 'path' | 'query', field: z.ZodType): ParameterObject {
  const { description, deprecated, ...schema } = embedded(z.toJSONSchema(field, JSON_SCHEMA_OPTIONS) as SchemaObject);
  return {
    name,
    in: location,
    required: location === 'path',
    ...(typeof description === 'string' ? { description } : {}),
    ...(deprecated === true ? { deprecated: true } : {}),
    schema,
  };
}

/** Every field of a query schema, in order, as optional query parameters. */
const queryParameters = (query: z.ZodObject): ParameterObject[] => Object.entries(query.shape).map(([name, field]) => parameter(name, 'query', field as z.ZodType));

const idPath = (name: string, what: string): ParameterObject => ({ ...parameter(name, 'path', IdParam), description: what });
const siteId = idPath('siteId', 'The site id (a site the token may not see answers 404).');
const levelId = idPath('levelId', 'An access level of the site.');
const memberId = idPath('memberId', 'A member of the site.');
const grantId = idPath('grantId', 'A grant of the member.');
const eventId = idPath('eventId', 'A stored webhook event of the site.');
const endpointId = idPath('endpointId', 'A notification endpoint of the site.');
const messageId = idPath('messageId', 'A notification message (outbox row) of the endpoint.');
const productIdPath = parameter('productId', 'path', ProductIdParam.shape.productId);
const assetKeyPath = parameter('key', 'path', AssetKeyParam.shape.key);
const revokeQuery = queryParameters(DeleteMappingQuery);

function operation(tag: string, operationId: string, summary: string, rest: Omit<OperationObject, 'operationId' | 'summary' | 'tags'>): OperationObject {
  return { operationId, summary, tags: [tag], ...rest };
}

const PAGING =
  'Lists that page take `limit` and `cursor` and answer `nextCursor`: pass it as `cursor` for the next page; it is null on the last page. Cursors are opaque; one that was not given by the API is refused with 422 `invalid_input` naming `cursor`.';

const paths: Record<string, PathItemObject> = {
  '/api/v1/openapi.json': {
    get: operation('meta', 'getOpenApiDocument', 'This document', {
      security: [],
      responses: { '200': { description: 'The OpenAPI 3.1 document of the admin API.', content: json({ type: 'object' }) } },
    }),
  },
  '/api/v1/sites': {
    post: operation('sites', 'createSite', 'Create a site', {
      description: 'Only a token that is not scoped to a site may create sites (403 otherwise).',
      requestBody: body('Name'),
      responses: { '201': ok('The new site.', 'Site'), '403': errorResponse('The token is scoped to one site.'), ...errors('401', '422') },
    }),
    get: operation('sites', 'listSites', 'List the sites the token may see', {
      responses: { '200': ok('Sites.', 'SiteList'), ...errors('401') },
    }),
  },
  '/api/v1/sites/{siteId}': {
    get: operation('sites', 'getSite', 'Get a site', { parameters: [siteId], responses: { '200': ok('The site.', 'Site'), ...errors('401', '404') } }),
  },
  '/api/v1/sites/{siteId}/levels': {
    post: operation('levels', 'createLevel', 'Create an access level', {
      parameters: [siteId],
      requestBody: body('Name'),
      responses: { '201': ok('The new level.', 'Level'), ...errors('401', '404', '422') },
    }),
    get: operation('levels', 'listLevels', 'List access levels', {
      parameters: [siteId],
      responses: { '200': ok('Levels.', 'LevelList'), ...errors('401', '404') },
    }),
  },
  '/api/v1/sites/{siteId}/levels/{levelId}': {
    patch: operation('levels', 'renameLevel', 'Rename an access level', {
      parameters: [siteId, levelId],
      requestBody: body('Name'),
      responses: { '200': ok('The renamed level.', 'Level'), ...errors('401', '404', '422') },
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
      responses: { '200': ok('The integration.', 'IntegrationWithHealth'), ...errors('401', '404') },
    }),
    put: operation('kartra', 'updateIntegration', 'Enable or disable the integration and change its settings', {
      description: 'Enabling for the first time creates the webhook secret: the answer is the only one that shows the full `webhookUrl`.',
      parameters: [siteId],
      requestBody: body('UpdateIntegration'),
      responses: {
        '200': ok('The integration.', 'Integration'),
        '409': errorResponse('`verifyWithKartra: true` while no Kartra API credentials are saved (`conflict`).'),
        ...errors('401', '404', '422'),
      },
    }),
  },
  '/api/v1/sites/{siteId}/kartra/rotate': {
    post: operation('kartra', 'rotateWebhookSecret', 'Issue a new webhook URL; the old one works for the grace period', {
      parameters: [siteId],
      responses: { '200': ok('The integration with the new full `webhookUrl`.', 'Integration'), ...errors('401', '404') },
    }),
  },
  '/api/v1/sites/{siteId}/kartra/credentials': {
    get: operation('kartra', 'getKartraCredentials', 'Which Kartra API credentials are saved (App ID, key hint, last test), never the key or password', {
      parameters: [siteId],
      responses: { '200': ok('The saved credentials (null when none) and whether they can be stored.', 'KartraCredentialsState'), ...errors('401', '404') },
    }),
    put: operation('kartra', 'saveKartraCredentials', "Save the site's Kartra API credentials, replacing any", {
      description:
        'Sealed with AES-256-GCM under SECRETS_KEY before they are stored; the key and password are never answered or logged again. Replacing them forgets the last test (it was of the old ones).',
      parameters: [siteId],
      requestBody: body('SaveKartraCredentials'),
      responses: {
        '200': ok('What is saved: the App ID and key hint, never the key or password.', 'KartraCredentials'),
        '409': errorResponse('SECRETS_KEY is not set (PostgreSQL), so nothing can be sealed (`conflict`).'),
        ...errors('401', '404', '422'),
      },
    }),
    delete: operation('kartra', 'removeKartraCredentials', "Forget the site's Kartra API credentials", {
      parameters: [siteId],
      responses: { '204': { description: 'Removed (or none were saved).' }, '409': errorResponse('Verify-by-callback is on and needs them: switch it off first (`conflict`).'), ...errors('401', '404') },
    }),
  },
  '/api/v1/sites/{siteId}/kartra/credentials/test': {
    post: operation('kartra', 'testKartraConnection', 'Test the saved credentials with one account-wide read from Kartra', {
      description: 'The outcome is an answer, not an error: `ok: false` carries what Kartra said (or that none are saved, or that they must be entered again). It is kept as the last test.',
      parameters: [siteId],
      responses: { '200': ok('What Kartra answered.', 'KartraConnectionTest'), ...errors('401', '404') },
    }),
  },
  '/api/v1/sites/{siteId}/mappings': {
    post: operation('mappings', 'saveMapping', 'Map a Kartra product to access levels', {
      description: "Replaces the product's levels. With `applyToPast`, its unmapped events are re-applied in receipt order.",
      parameters: [siteId],
      requestBody: body('CreateMapping'),
      responses: { '201': ok('The mapping, what applyToPast would touch (measured before saving) and what it did.', 'MappingSaved'), ...errors('401', '404', '422') },
    }),
    get: operation('mappings', 'listMappings', 'List mappings', {
      parameters: [siteId],
      responses: { '200': ok('Mappings.', 'MappingList'), ...errors('401', '404') },
    }),
  },
  '/api/v1/sites/{siteId}/mappings/{productId}': {
    get: operation('mappings', 'getMapping', 'Get one mapping', {
      parameters: [siteId, productIdPath],
      responses: { '200': ok('The mapping.', 'Mapping'), ...errors('401', '404', '422') },
    }),
    delete: operation('mappings', 'deleteMapping', 'Delete a mapping; grants are kept unless revoke=true', {
      parameters: [siteId, productIdPath, ...revokeQuery],
      responses: { '200': ok('How many grants were revoked.', 'RevokedGrants'), ...errors('401', '404', '422') },
    }),
  },
  '/api/v1/sites/{siteId}/mappings/{productId}/preview': {
    get: operation('mappings', 'previewMapping', 'What mapping this product with applyToPast would touch', {
      parameters: [siteId, productIdPath],
      responses: { '200': ok('The preview.', 'MappingPreview'), ...errors('401', '404', '422') },
    }),
  },
  '/api/v1/sites/{siteId}/discovered-products': {
    get: operation('mappings', 'listDiscoveredProducts', 'Products seen in events but not mapped', {
      parameters: [siteId],
      responses: { '200': ok('Discovered products.', 'DiscoveredProductList'), ...errors('401', '404') },
    }),
  },
  '/api/v1/sites/{siteId}/asset-mappings': {
    post: operation('mappings', 'saveAssetMapping', 'Map a Kartra tag or membership level to access levels', {
      description: 'Replaces its levels. With `applyToPast`, its unmapped events are re-applied and members with assignments on record follow the mapping.',
      parameters: [siteId],
      requestBody: body('CreateAssetMapping'),
      responses: { '201': ok('The mapping, what applyToPast would touch (measured before saving) and what it did.', 'AssetMappingSaved'), ...errors('401', '404', '422') },
    }),
    get: operation('mappings', 'listAssetMappings', 'List tag and membership-level mappings', {
      parameters: [siteId],
      responses: { '200': ok('Mappings.', 'AssetMappingList'), ...errors('401', '404') },
    }),
  },
  '/api/v1/sites/{siteId}/asset-mappings/{key}': {
    get: operation('mappings', 'getAssetMapping', 'Get one tag or membership-level mapping', {
      parameters: [siteId, assetKeyPath],
      responses: { '200': ok('The mapping.', 'AssetMapping'), ...errors('401', '404', '422') },
    }),
    delete: operation('mappings', 'deleteAssetMapping', 'Delete a tag or membership-level mapping; grants are kept unless revoke=true', {
      parameters: [siteId, assetKeyPath, ...revokeQuery],
      responses: { '200': ok('How many grants were revoked.', 'RevokedGrants'), ...errors('401', '404', '422') },
    }),
  },
  '/api/v1/sites/{siteId}/asset-mappings/{key}/preview': {
    get: operation('mappings', 'previewAssetMapping', 'What mapping this tag or level with applyToPast would touch', {
      parameters: [siteId, assetKeyPath],
      responses: { '200': ok('The preview.', 'AssetMappingPreview'), ...errors('401', '404', '422') },
    }),
  },
  '/api/v1/sites/{siteId}/discovered-assets': {
    get: operation('mappings', 'listDiscoveredAssets', 'Tags and membership levels seen in events but not mapped', {
      parameters: [siteId],
      responses: { '200': ok('Discovered tags and levels.', 'DiscoveredAssetList'), ...errors('401', '404') },
    }),
  },
  '/api/v1/sites/{siteId}/members': {
    get: operation('members', 'listMembers', 'Find members, with their effective levels, oldest first', {
      description: `${PAGING} The older \`after\` (a member id) and \`nextAfter\` still work and are deprecated.`,
      parameters: [siteId, ...queryParameters(MemberQuery)],
      responses: { '200': ok('A page of members.', 'MemberPage'), ...errors('401', '404', '422') },
    }),
  },
  '/api/v1/sites/{siteId}/members.csv': {
    get: operation('members', 'exportMembers', 'Members with their effective levels as CSV, oldest first', {
      description: `${CSV_EXPORT} Columns: id, kartra_lead_id, email, first_name, last_name, created_at, level_count, levels (names joined with "; ").`,
      parameters: [siteId, ...queryParameters(MemberExportQuery)],
      responses: { '200': csvDownload('The members as CSV.'), ...errors('401', '404', '422') },
    }),
  },
  '/api/v1/sites/{siteId}/members/{memberId}': {
    get: operation('members', 'getMember', 'A member with grants, grant history and email changes', {
      parameters: [siteId, memberId],
      responses: { '200': ok('The member.', 'MemberDetail'), ...errors('401', '404') },
    }),
  },
  '/api/v1/sites/{siteId}/members/{memberId}/grants': {
    post: operation('members', 'grantManually', 'Grant a level by hand, optionally until a time', {
      parameters: [siteId, memberId],
      requestBody: body('CreateGrant'),
      responses: { '201': ok('The grant.', 'Grant'), ...errors('401', '404', '422') },
    }),
  },
  '/api/v1/sites/{siteId}/members/{memberId}/grants/{grantId}': {
    delete: operation('members', 'revokeGrant', 'Revoke a grant by hand', {
      parameters: [siteId, memberId, grantId],
      responses: { '200': ok('The revoked grant.', 'Grant'), '409': errorResponse('Only manual grants can be revoked by hand.'), ...errors('401', '404') },
    }),
  },
  '/api/v1/sites/{siteId}/attention': {
    get: operation('events', 'getAttention', 'What needs attention: past due, chargebacks, failed/rejected events, unmapped products, quiet feed', {
      parameters: [siteId],
      responses: { '200': ok('The report.', 'Attention'), ...errors('401', '404') },
    }),
  },
  '/api/v1/sites/{siteId}/events': {
    get: operation('events', 'listEvents', 'The event log, newest first', {
      description: PAGING,
      parameters: [siteId, ...queryParameters(EventQuery)],
      responses: { '200': ok('A page of events.', 'EventPage'), ...errors('401', '404', '422') },
    }),
  },
  '/api/v1/sites/{siteId}/events.csv': {
    get: operation('events', 'exportEvents', 'The event log as CSV, newest first', {
      description: `${CSV_EXPORT} Columns: id, received_at, channel, action, kind, outcome, product_id, asset, lead_id, email, transaction_id, member_id, duplicate_of_event_id, attempts, summary, error.`,
      parameters: [siteId, ...queryParameters(EventExportQuery)],
      responses: { '200': csvDownload('The events as CSV.'), ...errors('401', '404', '422') },
    }),
  },
  '/api/v1/sites/{siteId}/events/reapply': {
    post: operation('events', 'reapplyEvents', 'Re-apply every event with these statuses since a time, oldest first', {
      parameters: [siteId],
      requestBody: body('ReapplyMany'),
      responses: { '200': ok('How many events were re-applied, per new outcome.', 'ReapplyResult'), ...errors('401', '404', '422') },
    }),
  },
  '/api/v1/sites/{siteId}/events/{eventId}': {
    get: operation('events', 'getEvent', 'One event: raw body (secret masked), parsed event, notes and effects', {
      parameters: [siteId, eventId],
      responses: { '200': ok('The event.', 'EventDetail'), ...errors('401', '404') },
    }),
  },
  '/api/v1/sites/{siteId}/events/{eventId}/reapply': {
    post: operation('events', 'reapplyEvent', 'Re-apply one stored event (idempotent)', {
      parameters: [siteId, eventId],
      responses: {
        '200': ok('The new outcome and the event.', 'EventReapplied'),
        '409': errorResponse("The event's raw body was pruned by retention; it cannot be re-applied (`conflict`)."),
        ...errors('401', '404'),
      },
    }),
  },
  '/api/v1/sites/{siteId}/notification-endpoints': {
    post: operation('notifications', 'createNotificationEndpoint', 'Add an endpoint of the host site that receives signed notifications', {
      parameters: [siteId],
      requestBody: body('CreateNotificationEndpoint'),
      responses: { '201': ok('The endpoint, with its signing secret (shown only now).', 'NotificationEndpointWithSecret'), ...errors('401', '404', '422') },
    }),
    get: operation('notifications', 'listNotificationEndpoints', "The site's notification endpoints, oldest first", {
      parameters: [siteId],
      responses: { '200': ok('The endpoints.', 'NotificationEndpointList'), ...errors('401', '404') },
    }),
  },
  '/api/v1/sites/{siteId}/notification-endpoints/{endpointId}': {
    get: operation('notifications', 'getNotificationEndpoint', 'One endpoint with its message counts', {
      parameters: [siteId, endpointId],
      responses: { '200': ok('The endpoint.', 'NotificationEndpoint'), ...errors('401', '404') },
    }),
    patch: operation('notifications', 'updateNotificationEndpoint', 'Change the URL, description, types, or enable/disable', {
      parameters: [siteId, endpointId],
      requestBody: body('UpdateNotificationEndpoint'),
      responses: { '200': ok('The endpoint.', 'NotificationEndpoint'), ...errors('401', '404', '422') },
    }),
    delete: operation('notifications', 'deleteNotificationEndpoint', 'Delete the endpoint with its messages and delivery log', {
      parameters: [siteId, endpointId],
      responses: { '204': { description: 'Deleted.' }, ...errors('401', '404') },
    }),
  },
  '/api/v1/sites/{siteId}/notification-endpoints/{endpointId}/rotate-secret': {
    post: operation('notifications', 'rotateNotificationSecret', 'A new signing secret; the old one keeps signing beside it for the grace period', {
      parameters: [siteId, endpointId],
      requestBody: { ...body('RotateEndpointSecret'), required: false },
      responses: { '200': ok('The endpoint, with its new secret (shown only now).', 'NotificationEndpointWithSecret'), ...errors('401', '404', '422') },
    }),
  },
  '/api/v1/sites/{siteId}/notification-endpoints/{endpointId}/test': {
    post: operation('notifications', 'sendTestNotification', 'Queue a `notification.test` message to this endpoint', {
      parameters: [siteId, endpointId],
      responses: { '202': ok('The queued message.', 'Notification'), ...errors('401', '404') },
    }),
  },
  '/api/v1/sites/{siteId}/notification-endpoints/{endpointId}/replay': {
    post: operation('notifications', 'replayNotifications', 'Send again every message to this endpoint created since a time (same webhook-ids)', {
      parameters: [siteId, endpointId],
      requestBody: body('ReplayNotifications'),
      responses: { '202': ok('How many messages were queued again.', 'NotificationsRequeued'), ...errors('401', '404', '422') },
    }),
  },
  '/api/v1/sites/{siteId}/notification-endpoints/{endpointId}/messages': {
    get: operation('notifications', 'listNotifications', 'Messages to this endpoint, newest first; `status=dead` lists the dead letters', {
      description: PAGING,
      parameters: [siteId, endpointId, ...queryParameters(NotificationMessageQuery)],
      responses: { '200': ok('A page of messages.', 'NotificationPage'), ...errors('401', '404', '422') },
    }),
  },
  '/api/v1/sites/{siteId}/notification-endpoints/{endpointId}/messages/{messageId}': {
    get: operation('notifications', 'getNotification', 'One message with its delivery log (every attempt, its response code and duration)', {
      parameters: [siteId, endpointId, messageId],
      responses: { '200': ok('The message.', 'NotificationDetail'), ...errors('401', '404') },
    }),
  },
  '/api/v1/sites/{siteId}/notification-endpoints/{endpointId}/messages/{messageId}/resend': {
    post: operation('notifications', 'resendNotification', 'Send one message again, delivered or dead, with the same webhook-id', {
      parameters: [siteId, endpointId, messageId],
      responses: { '202': ok('The message, pending again.', 'Notification'), ...errors('401', '404') },
    }),
  },
  '/hooks/kartra/{siteKey}/{secret}': {
    post: operation('webhook', 'receiveKartraWebhook', 'Kartra webhook: Outbound API JSON and IPN form posts', {
      description:
        'The URL is the credential (no bearer token). The body is stored before anything else, whatever its Content-Type: a JSON body is the Outbound API, a urlencoded or multipart form is an IPN post. Every stored event is answered 200 whatever its outcome, because Kartra cannot fix anything by retrying.',
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
        '200': ok('Stored; `outcome` says what it did.', 'WebhookAccepted'),
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
    description: `Sites, access levels, product mappings, members and grants, and the Kartra event log. Send \`Authorization: Bearer <token>\` (create one with \`npm run cli -- token create --name <name>\`). JSON is camelCase; times are ISO 8601 in UTC; every error has the shape \`{"error": {"code", "message", "details"?}}\`. Anything of a site the token may not see answers 404. ${PAGING}`,
  },
  servers: [{ url: '/', description: 'This server' }],
  tags: [
    { name: 'sites', description: 'Sites (one database holds several).' },
    { name: 'levels', description: "The membership site's own access levels." },
    { name: 'kartra', description: 'The Kartra integration: webhook URL, secret rotation, settings, API credentials.' },
    { name: 'mappings', description: 'Kartra products, tags and membership levels mapped to levels, and discovered ones.' },
    { name: 'members', description: 'Members, effective levels, manual grants.' },
    { name: 'events', description: 'The webhook event log, re-apply, and what needs attention.' },
    { name: 'webhook', description: 'The URL pasted into Kartra (Outbound API and IPN).' },
    { name: 'notifications', description: "Signed notifications (Standard Webhooks) to the host site's endpoints: outbox, delivery log, resend and replay." },
    { name: 'meta', description: 'This document.' },
  ],
  security: [{ bearerAuth: [] }],
  paths,
  components: {
    securitySchemes: {
      bearerAuth: { type: 'http', scheme: 'bearer', description: 'An admin API token; only its hash is stored.' },
    },
    schemas: componentSchemas(),
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
