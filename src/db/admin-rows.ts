import type { AdminSession, AdminUser } from '../domain/model';
import { toDate, toDateOrNull } from './time-columns';

// Rows of the admin tables as both adapters read them: times are numbers of ms on SQLite and PostgreSQL alike, so
// one mapping serves both engines.

export type AdminUserRow = Omit<AdminUser, 'createdAt' | 'lastSignInAt'> & { createdAt: number; lastSignInAt: number | null };
export type AdminSessionRow = Omit<AdminSession, 'createdAt' | 'lastSeenAt' | 'expiresAt'> & { createdAt: number; lastSeenAt: number; expiresAt: number };

export function toAdmin(row: AdminUserRow): AdminUser {
  return { ...row, createdAt: toDate(row.createdAt), lastSignInAt: toDateOrNull(row.lastSignInAt) };
}

export function toSession(row: AdminSessionRow): AdminSession {
  return { ...row, createdAt: toDate(row.createdAt), lastSeenAt: toDate(row.lastSeenAt), expiresAt: toDate(row.expiresAt) };
}
