import type { KartraCredentialRecord, ReconcileDifference, ReconcileRun, ReconcileTrigger, VerificationJob, VerificationStatus } from '../domain/kartra-account/kartra-account-model';
import { toDate, toDateOrNull } from './time-columns';

// Rows of the Kartra account tables as both adapters read them (see site-rows.ts for why one mapping serves both).

export type KartraCredentialRow = Omit<KartraCredentialRecord, 'createdAt' | 'updatedAt' | 'lastCheckedAt'> & { createdAt: number; updatedAt: number; lastCheckedAt: number | null };
export type VerificationRow = Omit<VerificationJob, 'status' | 'nextAttemptAt' | 'lockedUntil' | 'createdAt' | 'settledAt'> & {
  status: string;
  nextAttemptAt: number;
  lockedUntil: number | null;
  createdAt: number;
  settledAt: number | null;
};
export type ReconcileRunRow = Omit<ReconcileRun, 'trigger' | 'startedAt' | 'finishedAt' | 'differences'> & {
  trigger: string;
  startedAt: number;
  finishedAt: number | null;
  differences: string;
};

export function toCredentialRecord(row: KartraCredentialRow): KartraCredentialRecord {
  return { ...row, createdAt: toDate(row.createdAt), updatedAt: toDate(row.updatedAt), lastCheckedAt: toDateOrNull(row.lastCheckedAt) };
}

export function toVerificationJob(row: VerificationRow): VerificationJob {
  return {
    ...row,
    status: row.status as VerificationStatus,
    nextAttemptAt: toDate(row.nextAttemptAt),
    lockedUntil: toDateOrNull(row.lockedUntil),
    createdAt: toDate(row.createdAt),
    settledAt: toDateOrNull(row.settledAt),
  };
}

export function toReconcileRun(row: ReconcileRunRow): ReconcileRun {
  return {
    ...row,
    trigger: row.trigger as ReconcileTrigger,
    startedAt: toDate(row.startedAt),
    finishedAt: toDateOrNull(row.finishedAt),
    differences: JSON.parse(row.differences) as ReconcileDifference[],
  };
}
