import { z } from 'zod';
import { PRODUCT_ID_PATTERN } from '../../domain/mapping/product-id';
import { EVENT_STATUSES, MONEY_CHANNELS } from '../../domain/model';
import { NOTIFICATION_TYPES } from '../../domain/notifications/notification-model';
import { GRACE_DAYS_MAX, GRACE_DAYS_MIN } from '../../domain/sites/grace-days';
import { RECONCILE_EVERY_HOURS_MAX } from '../../domain/sites/reconcile-hours';
import { publicUrlInput } from '../public-url-input';

/**
 * What the admin API accepts: bodies, path values and query strings. openapi.ts writes the document's request schemas
 * and query parameters from these, so a bound or a field changed here changes the document too.
 */

const MONEY_CHANNELS_DESCRIPTION =
  'Which deliveries may move money-driven access. `any`: purchases, refunds and cancels from the Outbound API and IPN. `ipn_with_secret`: only IPN posts carrying the IPN secret_key; Outbound money events are then stored as `rejected` (tags, lists and other events are still taken).';

const VERIFY_DESCRIPTION =
  "Verify-by-callback: purchases and rebills from the Outbound API, and IPN posts without a checked secret_key, grant only once Kartra confirms them (the lead's transactions); refunds and cancels apply at once. Switching it on needs the site's Kartra API credentials saved (409 otherwise).";

const name = z.string().trim().min(1, 'required').max(200);
const id = z.coerce.number().int().positive();
export const productId = z
  .string()
  .trim()
  .regex(PRODUCT_ID_PATTERN, 'a Kartra product id (digits, as in the product editor URL)')
  .describe("Kartra's product id.");
const isoTime = z.iso.datetime({ offset: true }).transform((value) => new Date(value));
const booleanQuery = z.enum(['true', 'false', '1', '0']).transform((value) => value === 'true' || value === '1');
const pageLimit = z.coerce.number().int().min(1).max(200).default(50).describe('Page size.');
/** Every list that pages takes the `nextCursor` of the page before: an opaque string, checked when decoded. */
const pageCursor = z.string().max(100).describe('The `nextCursor` of the previous page; omit it for the first page.');

/** The one body of creating a site or a level and of renaming a level. */
export const NameBody = z.object({ name });
export const CreateSite = NameBody;
export const CreateLevel = NameBody;
export const RenameLevel = NameBody;

export const UpdateIntegration = z
  .object({
    enabled: z.boolean().optional(),
    // The rule (https, no userinfo, query or fragment, length caps) is the domain's: domain/sites/public-url.ts.
    publicUrl: publicUrlInput
      .nullable()
      .optional()
      .describe(
        'Base of the webhook URL (`<publicUrl>/hooks/kartra/<key>/<secret>`); null uses the server default. https only (http only for localhost, 127.0.0.1 or [::1]); no user:pass@, no query or fragment (not even a bare `?` or `#`), no backslashes, no spaces; at most 2,048 characters, host name at most 253, 63 per label. Trailing slashes are dropped. A value that breaks a rule is refused with 422 invalid_input naming the rule.',
      ),
    ipnSecret: z.string().max(200).nullable().optional().describe('The IPN secret_key set in Kartra; null clears it.'),
    moneyChannels: z
      .enum(MONEY_CHANNELS)
      .optional()
      .describe(`${MONEY_CHANNELS_DESCRIPTION} \`ipn_with_secret\` needs an IPN secret (422 otherwise).`),
    graceDays: z.number().int().min(GRACE_DAYS_MIN).max(GRACE_DAYS_MAX).optional().describe('Days of access kept after a failed payment.'),
    cancelMode: z.enum(['immediate', 'period_end']).optional(),
    secretGraceHours: z.number().int().min(0).max(24 * 30).optional(),
    quietFeedHours: z.number().int().min(1).max(24 * 90).optional(),
    rawBodyRetentionDays: z.number().int().min(1).max(3650).optional(),
    tagAccess: z.boolean().optional().describe('Off: tag events are stored as `ignored`.'),
    membershipAccess: z.boolean().optional().describe('Off: membership events are stored as `ignored`.'),
    verifyWithKartra: z.boolean().optional().describe(VERIFY_DESCRIPTION),
    reconcileEveryHours: z
      .number()
      .int()
      .min(0)
      .max(RECONCILE_EVERY_HOURS_MAX)
      .optional()
      .describe(`Compare the site's members with Kartra's records every this many hours (1 to ${RECONCILE_EVERY_HOURS_MAX}); 0 switches the schedule off.`),
  })
  .refine((value) => Object.keys(value).length > 0, 'nothing to change')
  .describe('At least one field.');

export const CreateMapping = z.object({
  productId,
  levelIds: z.array(id).min(1, 'pick at least one level'),
  applyToPast: z.boolean().default(false).describe("Re-apply this product's unmapped events now."),
  billingPeriodDays: z.number().int().min(1).max(3660).nullable().optional(),
});

const kartraText = z.string().trim().min(1).max(200).optional();
const mappedLevels = { levelIds: z.array(id).min(1, 'pick at least one level'), applyToPast: z.boolean().default(false) };
// A key as repos.assets makes it (`tag:<name>`, `membership:<id>:<level id>`…): opaque to clients, capped in length.
const assetKey = z.string().min(1).max(300);

/** A tag or membership-level mapping: a discovered asset by key, or one named by Kartra id or name. */
export const CreateAssetMapping = z
  .union([
    z.object({ key: assetKey, ...mappedLevels }).strict(),
    z.object({ kind: z.literal('tag'), tagName: kartraText, tagId: kartraText, ...mappedLevels }).strict(),
    z
      .object({ kind: z.literal('membership'), membershipId: kartraText, membershipName: kartraText, levelId: kartraText, levelName: kartraText, ...mappedLevels })
      .strict(),
  ])
  .describe(
    'A discovered tag or level by `key`, or one named by Kartra id or name (names match trimmed and case-insensitively; a level by id within its membership when given). Replaces its levels.',
  );
export const AssetKeyParam = z.object({
  key: assetKey.describe('The `key` of a tag or membership level (from the mappings or discovered lists), URL-encoded.'),
});

export const DeleteMappingQuery = z.object({ revoke: booleanQuery.default(false).describe('Also revoke the grants the mapping gave.') });
export const ProductIdParam = z.object({ productId });

export const MemberQuery = z.object({
  email: z.string().trim().max(320).optional().describe('Exact email (trimmed, case-insensitive).'),
  q: z.string().trim().max(200).optional().describe('Part of a name, email or lead id.'),
  limit: pageLimit,
  cursor: pageCursor.optional(),
  after: z.coerce
    .number()
    .int()
    .min(0)
    .optional()
    .meta({ deprecated: true, description: 'Deprecated: use `cursor`. The `nextAfter` of the previous page (a member id); ignored when `cursor` is given.' }),
});

export const CreateGrant = z.object({ levelId: id, expiresAt: isoTime.nullable().optional() });

const statusList = z
  .string()
  .transform((value) => value.split(',').map((status) => status.trim()))
  .pipe(z.array(z.enum(EVENT_STATUSES)));

export const EventQuery = z.object({
  status: statusList.optional().meta({ description: `Comma-separated statuses: ${EVENT_STATUSES.join(', ')}.`, example: 'failed,unmapped' }),
  action: z.string().trim().max(64).optional().describe("Kartra's action or IPN transaction type."),
  productId: productId.optional(),
  assetKey: assetKey.optional().describe('A tag or membership level, by its `key`.'),
  email: z.string().trim().max(320).optional().describe('Lead email.'),
  since: isoTime.optional().describe('Received at or after (ISO 8601 with offset).'),
  until: isoTime.optional().describe('Received at or before (ISO 8601 with offset).'),
  limit: pageLimit,
  cursor: pageCursor.optional(),
});

export const ReapplyMany = z.object({
  statuses: z.array(z.enum(['failed', 'unmapped', 'invalid', 'rejected'])).min(1).default(['failed']),
  since: isoTime.optional(),
});

export const IdParam = id;

// Notification endpoints. The URL rule (https, no private addresses, …) is the domain's: notifications/endpoint-url.ts.
const NOTIFICATION_URL_DESCRIPTION =
  'Where notifications are POSTed: https (http only for localhost, 127.0.0.1 or [::1]); no private or link-local IP addresses, user:pass@, query or fragment. Refused with 422 invalid_input naming the rule.';
export const NotificationType = z.enum(NOTIFICATION_TYPES);
const eventTypes = z
  .array(NotificationType)
  .min(1, 'at least one notification type')
  .max(NOTIFICATION_TYPES.length * 2)
  .describe('The notification types this endpoint receives.');
const endpointDescription = z.string().trim().max(200);
export const CreateNotificationEndpoint = z.object({
  url: z.string().max(2048).describe(NOTIFICATION_URL_DESCRIPTION),
  description: endpointDescription.optional(),
  eventTypes,
});
export const UpdateNotificationEndpoint = z
  .object({
    url: z.string().max(2048).optional().describe(NOTIFICATION_URL_DESCRIPTION),
    description: endpointDescription.optional(),
    eventTypes: eventTypes.optional(),
    enabled: z.boolean().optional().describe('Off: no new messages are queued to it.'),
  })
  .describe('Any of the fields; those left out are kept.');
export const RotateEndpointSecret = z
  .object({ graceHours: z.number().int().min(0).max(24 * 30).optional().describe('How long the old secret keeps signing beside the new one (24 when left out).') })
  .describe('Optional; an empty or missing body rotates with the default grace period.');
export const ReplayNotifications = z.object({ since: isoTime.describe('Every message to this endpoint created at or after this time (ISO 8601 with offset) is sent again.') });
export const NotificationMessageQuery = z.object({
  status: z.enum(['pending', 'delivered', 'dead']).optional().describe('Only messages in this state; `dead` lists the dead letters.'),
  limit: pageLimit,
  cursor: pageCursor.optional(),
});

// Kartra API credentials. Caps only: the service trims and checks what is required (kartra-account-service.ts).
const credentialText = z.string().max(500);
export const SaveKartraCredentials = z
  .object({
    appId: credentialText.describe("The App ID Kartra gave the app that calls its API (Kartra's app_id)."),
    apiKey: credentialText.describe('The API key; stored sealed, never shown again (only its last 4 characters).'),
    apiPassword: credentialText.describe('The API password; stored sealed, never shown again.'),
  })
  .describe('Replaces any saved credentials and forgets their last test.');
