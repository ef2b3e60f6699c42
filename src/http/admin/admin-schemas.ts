import { z } from 'zod';
import { EVENT_STATUSES, MONEY_CHANNELS } from '../../domain/model';
import { publicUrlInput } from '../public-url-input';

const name = z.string().trim().min(1, 'required').max(200);
const id = z.coerce.number().int().positive();
const productId = z
  .string()
  .trim()
  .regex(/^[A-Za-z0-9_-]{1,64}$/, 'a Kartra product id (digits, as in the product editor URL)');
const isoTime = z.iso.datetime({ offset: true }).transform((value) => new Date(value));
const booleanQuery = z.enum(['true', 'false', '1', '0']).transform((value) => value === 'true' || value === '1');

export const CreateSite = z.object({ name });
export const CreateLevel = z.object({ name });
export const RenameLevel = z.object({ name });

export const UpdateIntegration = z
  .object({
    enabled: z.boolean().optional(),
    // The rule (https, no userinfo, query or fragment, length caps) is the domain's: domain/sites/public-url.ts.
    publicUrl: publicUrlInput.nullable().optional(),
    ipnSecret: z.string().max(200).nullable().optional(),
    moneyChannels: z.enum(MONEY_CHANNELS).optional(),
    graceDays: z.number().int().min(0).max(90).optional(),
    cancelMode: z.enum(['immediate', 'period_end']).optional(),
    secretGraceHours: z.number().int().min(0).max(24 * 30).optional(),
    quietFeedHours: z.number().int().min(1).max(24 * 90).optional(),
    rawBodyRetentionDays: z.number().int().min(1).max(3650).optional(),
    tagAccess: z.boolean().optional(),
    membershipAccess: z.boolean().optional(),
  })
  .refine((value) => Object.keys(value).length > 0, 'nothing to change');

export const CreateMapping = z.object({
  productId,
  levelIds: z.array(id).min(1, 'pick at least one level'),
  applyToPast: z.boolean().default(false),
  billingPeriodDays: z.number().int().min(1).max(3660).nullable().optional(),
});

const kartraText = z.string().trim().min(1).max(200).optional();
const mappedLevels = { levelIds: z.array(id).min(1, 'pick at least one level'), applyToPast: z.boolean().default(false) };
// A key as repos.assets makes it (`tag:<name>`, `membership:<id>:<level id>`…): opaque to clients, capped in length.
const assetKey = z.string().min(1).max(300);

/** A tag or membership-level mapping: a discovered asset by key, or one named by Kartra id or name. */
export const CreateAssetMapping = z.union([
  z.object({ key: assetKey, ...mappedLevels }).strict(),
  z.object({ kind: z.literal('tag'), tagName: kartraText, tagId: kartraText, ...mappedLevels }).strict(),
  z
    .object({ kind: z.literal('membership'), membershipId: kartraText, membershipName: kartraText, levelId: kartraText, levelName: kartraText, ...mappedLevels })
    .strict(),
]);
export const AssetKeyParam = z.object({ key: assetKey });

export const DeleteMappingQuery = z.object({ revoke: booleanQuery.default(false) });
export const ProductIdParam = z.object({ productId });

export const MemberQuery = z.object({
  email: z.string().trim().max(320).optional(),
  q: z.string().trim().max(200).optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
  after: z.coerce.number().int().min(0).optional(),
});

export const CreateGrant = z.object({ levelId: id, expiresAt: isoTime.nullable().optional() });

const statusList = z
  .string()
  .transform((value) => value.split(',').map((status) => status.trim()))
  .pipe(z.array(z.enum(EVENT_STATUSES)));

export const EventQuery = z.object({
  status: statusList.optional(),
  action: z.string().trim().max(64).optional(),
  productId: productId.optional(),
  assetKey: assetKey.optional(),
  email: z.string().trim().max(320).optional(),
  since: isoTime.optional(),
  until: isoTime.optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
  cursor: z.string().max(100).optional(),
});

export const ReapplyMany = z.object({
  statuses: z.array(z.enum(['failed', 'unmapped', 'invalid', 'rejected'])).min(1).default(['failed']),
  since: isoTime.optional(),
});

export const IdParam = id;
