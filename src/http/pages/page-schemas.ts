import { z } from 'zod';
import { isProductId, PRODUCT_ID_PATTERN } from '../../domain/mapping/product-id';
import { MONEY_CHANNELS } from '../../domain/model';
import { NOTIFICATION_TYPES } from '../../domain/notifications/notification-model';
import { GRACE_DAYS_MAX, GRACE_DAYS_MIN } from '../../domain/sites/grace-days';
import { RECONCILE_EVERY_HOURS_MAX } from '../../domain/sites/reconcile-hours';
import type { EventLogFilter } from '../../domain/webhook-events/event-log-service';
import { publicUrlInput } from '../public-url-input';

/** Form bodies arrive as strings (urlencoded); these schemas turn them into typed values or field errors. */

const checkbox = z
  .union([z.literal('on'), z.literal('yes'), z.literal('1'), z.literal('')])
  .optional()
  .transform((value) => value !== undefined && value !== '');
const blankToUndefined = (value: unknown) => (typeof value === 'string' && value.trim() === '' ? undefined : value);
/** Repeated checkboxes arrive as a string (one ticked) or an array (several). */
const idList = z.preprocess(
  (value) => (value === undefined ? [] : Array.isArray(value) ? value : [value]),
  z.array(z.coerce.number().int().positive('pick a level')).min(1, 'pick at least one level'),
);
const productId = z
  .string({ error: 'required' })
  .trim()
  .regex(PRODUCT_ID_PATTERN, 'the product id from Kartra (the number in the product editor address)');

export const SignInForm = z.object({
  email: z.string().trim().min(1, 'enter your email').max(320),
  password: z.string().min(1, 'enter your password').max(1000),
});

export const TimeZoneForm = z.object({ timeZone: z.string().trim().min(1, 'choose a time zone').max(100) });

export const PasswordForm = z
  .object({
    currentPassword: z.string().min(1, 'enter your current password').max(1000),
    newPassword: z.string().min(1, 'enter a new password').max(1000),
    confirmPassword: z.string().max(1000),
  })
  .refine((form) => form.newPassword === form.confirmPassword, { path: ['confirmPassword'], message: 'does not match the new password' });

export const MappingForm = z.object({ productId, levelIds: idList, applyToPast: checkbox, confirm: checkbox });

export const DeleteMappingForm = z.object({ grants: z.enum(['keep', 'revoke']).default('keep') });

const assetName = z.preprocess(blankToUndefined, z.string().trim().max(200, 'at most 200 characters').optional());
/** Kartra's ids as its parser reads them (domain/kartra/kartra-values.ts): leading zeros of a number dropped. */
const kartraId = z.preprocess(
  blankToUndefined,
  z
    .string()
    .trim()
    .regex(/^[A-Za-z0-9_.:@-]{1,128}$/, 'the id from Kartra: letters, digits and _ . : @ -')
    .transform((value) => (/^\d+$/.test(value) ? value.replace(/^0+(?=\d)/, '') : value))
    .optional(),
);

/**
 * Mapping a Kartra tag or membership level: a discovered one by its stored key, a tag by name, or a membership level
 * by membership and level (ids or names). `kind` says which of the page's forms was sent.
 */
export const AssetMappingForm = z.discriminatedUnion(
  'kind',
  [
    z.object({ kind: z.literal('discovered'), key: z.string().min(1).max(1000), levelIds: idList, applyToPast: checkbox, confirm: checkbox }),
    z.object({ kind: z.literal('tag'), tagName: assetName.refine((name) => name !== undefined, 'the tag’s name in Kartra'), levelIds: idList, applyToPast: checkbox, confirm: checkbox }),
    z
      .object({
        kind: z.literal('membership'),
        membershipId: kartraId,
        membershipName: assetName,
        levelId: kartraId,
        levelName: assetName,
        levelIds: idList,
        applyToPast: checkbox,
        confirm: checkbox,
      })
      .refine((form) => form.levelId !== undefined || form.levelName !== undefined, { path: ['levelName'], message: 'the membership level’s name or id in Kartra' }),
  ],
  { error: 'choose what to map' },
);
export type AssetMappingInput = z.output<typeof AssetMappingForm>;

export const DeleteAssetMappingForm = z.object({ key: z.string().min(1, 'which mapping').max(1000), grants: z.enum(['keep', 'revoke']).default('keep') });

const GRACE_DAYS_RANGE = `${GRACE_DAYS_MIN} to ${GRACE_DAYS_MAX} days`;

export const SettingsForm = z.object({
  // The rule (https, no userinfo, query or fragment, length caps) is the domain's: domain/sites/public-url.ts.
  publicUrl: z.preprocess(blankToUndefined, publicUrlInput.optional()),
  ipnSecret: z.preprocess(blankToUndefined, z.string().max(200).optional()),
  clearIpnSecret: checkbox,
  moneyChannels: z.enum(MONEY_CHANNELS, { error: 'choose which deliveries may grant or revoke access' }).optional(),
  graceDays: z.coerce
    .number({ error: 'a whole number of days' })
    .int('a whole number of days')
    .min(GRACE_DAYS_MIN, GRACE_DAYS_RANGE)
    .max(GRACE_DAYS_MAX, GRACE_DAYS_RANGE),
  cancelMode: z.enum(['immediate', 'period_end'], { error: 'choose when a cancelled subscription ends access' }),
  // The two switches are checkboxes, which send nothing when off; `accessSwitches` marks a form that showed them, so
  // a post without it (an older page, a script) leaves them as they are rather than switching both off.
  accessSwitches: z.literal('shown').optional().catch(undefined),
  tagAccess: checkbox,
  membershipAccess: checkbox,
});

/** Caps only: the service trims and names each missing field (kartra-account-service.ts). */
const credentialField = z.string().max(500, 'at most 500 characters').default('');
export const KartraCredentialsForm = z.object({ appId: credentialField, apiKey: credentialField, apiPassword: credentialField });

const RECONCILE_RANGE = `0 (off) or 1 to ${RECONCILE_EVERY_HOURS_MAX} hours`;
export const KartraApiSettingsForm = z.object({
  verifyWithKartra: checkbox,
  reconcileEveryHours: z.preprocess(
    (value) => blankToUndefined(value) ?? '0',
    z.coerce.number({ error: 'a whole number of hours' }).int('a whole number of hours').min(0, RECONCILE_RANGE).max(RECONCILE_EVERY_HOURS_MAX, RECONCILE_RANGE),
  ),
});

export const LevelForm = z.object({ name: z.string().trim().min(1, 'give the level a name').max(200, 'at most 200 characters') });

export const GrantForm = z.object({
  levelId: z.coerce.number({ error: 'pick a level' }).int().positive('pick a level'),
  expiresAt: z.preprocess(blankToUndefined, z.string().optional()),
});

export const ReapplyFailedForm = z.object({ since: z.preprocess(blankToUndefined, z.string().optional()) });

const STATUS_FILTERS = ['applied', 'duplicate', 'unmapped', 'ignored', 'invalid', 'rejected', 'failed', 'received'] as const;
export const RANGES = { '24h': 24, '7d': 24 * 7, '30d': 24 * 30 } as const;

/** Filters of the webhook log; a value that does not parse is dropped rather than failing the page. */
export const EventFilters = z.object({
  outcome: z.enum(STATUS_FILTERS).optional().catch(undefined),
  action: z
    .string()
    .trim()
    .regex(/^[a-z0-9_()-]{1,64}$/)
    .optional()
    .catch(undefined),
  range: z.enum(['24h', '7d', '30d']).optional().catch(undefined),
  search: z.string().trim().max(320).optional().catch(undefined),
  cursor: z.string().max(100).optional().catch(undefined),
  /** A Kartra tag or membership level, by its key (the options of the page's select). */
  asset: z.string().min(1).max(1000).optional().catch(undefined),
});

export const MemberSearchForm = z.object({ q: z.string().trim().max(200).optional().catch(undefined), after: z.coerce.number().int().min(0).optional().catch(undefined) });

const HOUR_MS = 60 * 60 * 1000;

/**
 * The Webhook activity page's filters as an event-log filter, for the page and its CSV export alike (the export
 * promises the rows the admin is looking at): a search with an @ is an email, else a product id if it looks like
 * one; a range counts back from now; an asset key the site does not know is dropped.
 */
export function eventFilterOfPage(query: unknown, knownAssetKeys: ReadonlySet<string>, now: Date): Omit<EventLogFilter, 'limit' | 'cursor'> {
  const filters = EventFilters.parse(query);
  const search = filters.search ?? '';
  const isEmail = search.includes('@');
  const isProduct = isProductId(search);
  return {
    statuses: filters.outcome ? [filters.outcome] : undefined,
    action: filters.action,
    email: isEmail ? search : undefined,
    productId: !isEmail && isProduct ? search : undefined,
    assetKey: filters.asset !== undefined && knownAssetKeys.has(filters.asset) ? filters.asset : undefined,
    since: filters.range ? new Date(now.getTime() - RANGES[filters.range] * HOUR_MS) : undefined,
  };
}

/** Ticked notification types: one arrives as a string, several as an array. */
const notificationTypes = z.preprocess(
  (value) => (value === undefined ? [] : Array.isArray(value) ? value : [value]),
  z.array(z.enum(NOTIFICATION_TYPES, { error: 'pick notification types from the list' })).min(1, 'pick at least one notification type'),
);

export const EndpointForm = z.object({
  url: z.string({ error: 'required' }).trim().min(1, 'the address of your receiver, such as https://members.example.com/kartra-notifications').max(2048),
  description: z.string().trim().max(200).optional(),
  eventTypes: notificationTypes,
  enabled: checkbox,
});

export const ReplayForm = z.object({ since: z.string({ error: 'required' }).trim().min(1, 'a date and time').max(40) });

export const MessageFilterForm = z.object({ status: z.enum(['pending', 'delivered', 'dead']).optional().catch(undefined) });
