import type { AccessLevel, ApiToken, CancelMode, MoneyChannels, Site, WebhookSecret } from '../domain/model';
import { toDate, toDateOrNull } from './time-columns';

// Rows of the site tables as both adapters read them. SQLite's integer columns and PostgreSQL's bigint ms columns
// (mode 'number') both arrive as JavaScript numbers, and both schemas read booleans as booleans, so one mapping from
// row to domain object serves both engines; each schema's $inferSelect is checked against these shapes where it is
// passed in.

export type SiteRow = Omit<Site, 'cancelMode' | 'moneyChannels' | 'createdAt'> & { cancelMode: string; moneyChannels: string; createdAt: number };
export type WebhookSecretRow = Omit<WebhookSecret, 'createdAt' | 'retiredAt' | 'validUntil' | 'lastUsedAt'> & {
  createdAt: number;
  retiredAt: number | null;
  validUntil: number | null;
  lastUsedAt: number | null;
};
export type AccessLevelRow = Omit<AccessLevel, 'createdAt'> & { createdAt: number };
/** A row may carry the token's hash as well; toToken never copies it into the domain object. */
export type ApiTokenRow = Omit<ApiToken, 'createdAt' | 'lastUsedAt' | 'revokedAt'> & { createdAt: number; lastUsedAt: number | null; revokedAt: number | null };

export function toSite(row: SiteRow): Site {
  return { ...row, cancelMode: row.cancelMode as CancelMode, moneyChannels: row.moneyChannels as MoneyChannels, createdAt: toDate(row.createdAt) };
}

export function toSecret(row: WebhookSecretRow): WebhookSecret {
  return {
    ...row,
    createdAt: toDate(row.createdAt),
    retiredAt: toDateOrNull(row.retiredAt),
    validUntil: toDateOrNull(row.validUntil),
    lastUsedAt: toDateOrNull(row.lastUsedAt),
  };
}

export function toLevel(row: AccessLevelRow): AccessLevel {
  return { ...row, createdAt: toDate(row.createdAt) };
}

export function toToken(row: ApiTokenRow): ApiToken {
  return {
    id: row.id,
    name: row.name,
    tokenPrefix: row.tokenPrefix,
    siteId: row.siteId,
    createdAt: toDate(row.createdAt),
    lastUsedAt: toDateOrNull(row.lastUsedAt),
    revokedAt: toDateOrNull(row.revokedAt),
  };
}
