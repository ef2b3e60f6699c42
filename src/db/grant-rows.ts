import type { Grant, GrantChange, GrantHistoryEntry, GrantSourceType, GrantStatus } from '../domain/model';
import type { NewGrant } from '../domain/ports';
import { toDate, toDateOrNull, toMs, toMsOrNull } from './time-columns';

// Rows of grants and their history as both adapters read them: the SQLite and PostgreSQL schemas give them the same
// shape (times as epoch milliseconds, a real boolean for adminLocked, ids as numbers), so one mapping serves both.
// The text columns that hold a union are plain strings in the row; only this code writes them.

export type GrantRow = Omit<Grant, 'sourceType' | 'status' | 'expiresAt' | 'createdAt' | 'updatedAt'> & {
  sourceType: string;
  status: string;
  expiresAt: number | null;
  createdAt: number;
  updatedAt: number;
};

export type GrantHistoryRow = Omit<GrantHistoryEntry, 'change' | 'at'> & { change: string; at: number };

export function toGrant(row: GrantRow): Grant {
  return {
    ...row,
    sourceType: row.sourceType as GrantSourceType,
    status: row.status as GrantStatus,
    expiresAt: toDateOrNull(row.expiresAt),
    createdAt: toDate(row.createdAt),
    updatedAt: toDate(row.updatedAt),
  };
}

export function toGrantHistoryEntry(row: GrantHistoryRow): GrantHistoryEntry {
  return { ...row, change: row.change as GrantChange, at: toDate(row.at) };
}

/** A new grant's columns as both adapters insert them (each sets `updatedAt` to the creation time itself). */
export function newGrantColumns(grant: NewGrant) {
  return {
    siteId: grant.siteId,
    memberId: grant.memberId,
    levelId: grant.levelId,
    sourceType: grant.sourceType,
    sourceKey: grant.sourceKey,
    productId: grant.productId,
    transactionId: grant.transactionId,
    subscriptionId: grant.subscriptionId,
    status: grant.status,
    revokedReason: grant.revokedReason,
    expiresAt: toMsOrNull(grant.expiresAt),
    createdAt: toMs(grant.createdAt),
  };
}
