/** What the service keeps to talk back to a site's Kartra account: credentials, verifications and reconciles. */

/** A site's stored Kartra API credentials. `sealed` holds the key and password (domain/secret-box.ts), never shown. */
export interface KartraCredentialRecord {
  siteId: number;
  appId: string;
  /** The API key's last four characters, so an admin can tell which key is stored. */
  apiKeyHint: string;
  sealed: string;
  createdAt: Date;
  updatedAt: Date;
  /** The last "test connection" (or a call that showed the credentials refused): when, and what Kartra said. */
  lastCheckedAt: Date | null;
  lastCheckOk: boolean | null;
  lastCheckMessage: string | null;
}

export type VerificationStatus = 'pending' | 'confirmed' | 'unconfirmed';

/** A money event waiting for (or settled by) Kartra's confirmation; one per event. */
export interface VerificationJob {
  id: number;
  siteId: number;
  eventId: number;
  status: VerificationStatus;
  attempts: number;
  nextAttemptAt: Date;
  /** A worker that claimed the job owns it until then; after that (it crashed), any worker may claim it again. */
  lockedUntil: Date | null;
  lastError: string | null;
  createdAt: Date;
  settledAt: Date | null;
}

export type ReconcileTrigger = 'schedule' | 'cli' | 'admin';

/** One difference between Kartra's records of a lead and our ledger, in plain words. */
export interface ReconcileDifference {
  /** What kind of difference (e.g. `missing_purchase`, `missing_refund`); the reconcile module defines the values. */
  kind: string;
  memberId: number | null;
  leadId: string | null;
  email: string | null;
  productId: string | null;
  transactionId: string | null;
  /** For the admin: what Kartra says, what the ledger says, and what a fix would do. */
  description: string;
  /** Whether "fix" can settle it (a fix is recorded in the grant history as "reconciled with Kartra"). */
  fixable: boolean;
}

export interface ReconcileRun {
  id: number;
  siteId: number;
  trigger: ReconcileTrigger;
  startedAt: Date;
  /** null while running (or when the process died mid-run). */
  finishedAt: Date | null;
  membersChecked: number;
  differenceCount: number;
  fixedCount: number;
  error: string | null;
  differences: ReconcileDifference[];
}
