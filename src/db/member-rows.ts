import type { Member, MemberEmailChange, Product } from '../domain/model';
import { toDate, toDateOrNull } from './time-columns';

// Rows of the member and product tables as both adapters read them: the SQLite and PostgreSQL schemas give them the
// same shape (times as epoch milliseconds, ids as numbers), so one mapping to the domain serves both.

export type MemberRow = Omit<Member, 'createdAt' | 'updatedAt'> & { createdAt: number; updatedAt: number };

export type MemberEmailChangeRow = Omit<MemberEmailChange, 'changedAt'> & { changedAt: number };

export type ProductRow = Omit<Product, 'firstSeenAt' | 'lastSeenAt' | 'levelIds'> & { firstSeenAt: number | null; lastSeenAt: number | null };

export function toMember(row: MemberRow): Member {
  return { ...row, createdAt: toDate(row.createdAt), updatedAt: toDate(row.updatedAt) };
}

export function toMemberEmailChange(row: MemberEmailChangeRow): MemberEmailChange {
  return { id: row.id, memberId: row.memberId, previousEmail: row.previousEmail, newEmail: row.newEmail, eventId: row.eventId, changedAt: toDate(row.changedAt) };
}

export function toProduct(row: ProductRow, levelIds: number[]): Product {
  return {
    siteId: row.siteId,
    productId: row.productId,
    kartraName: row.kartraName,
    firstSeenAt: toDateOrNull(row.firstSeenAt),
    lastSeenAt: toDateOrNull(row.lastSeenAt),
    billingPeriodDays: row.billingPeriodDays,
    levelIds,
  };
}

/**
 * The `LIKE` pattern of a member search (used with `ESCAPE '\'`): wildcards in the text are escaped, so a search for
 * "a_b%" finds exactly that text, on both engines.
 */
export function likePattern(text: string): string {
  return `%${text.replace(/[\\%_]/g, (char) => `\\${char}`)}%`;
}
