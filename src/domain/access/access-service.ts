import { NotFoundError, InvalidInputError, ConflictError } from '../errors';
import type { Grant, GrantSourceType, KartraAsset, Member, Site } from '../model';
import type { Clock, Repositories, RunInTransaction, Tx } from '../ports';
import { describeAsset } from '../assets/asset-identity';
import { countOf } from '../wording';
import { deriveAssetState, deriveSourceState, isGrantEffective, type SourceState } from './access-rules';
import { memberLockKey } from '../members/member-matching';
import type { NotificationType } from '../notifications/notification-model';
import type { Notifier } from '../notifications/notifier';

export interface GrantCause {
  /** The webhook event behind the change, if any. */
  eventId: number | null;
  /** Who made the change: `kartra`, `admin:<token name>`, `system`. */
  actor: string;
  /** A rebill confirms the grants it pays for, even when nothing else changes. */
  confirmsPayment?: boolean;
}

export interface SourceChange {
  created: number;
  revoked: number;
  restored: number;
  confirmed: number;
  unchanged: number;
  state: string;
}

/** What a grant is granted from: a purchase, or a Kartra tag or membership level. */
interface GrantSource {
  type: GrantSourceType;
  key: string;
  productId: string | null;
  transactionId: string | null;
  subscriptionId: string | null;
  /** The history's reason for a new active grant. */
  grantedBecause: string;
}

/** A change in the words of the event log: "1 grant created (access active)". */
export function describeSourceChange(change: SourceChange): string {
  const parts: string[] = [];
  if (change.created) parts.push(`${countOf(change.created, 'grant')} created`);
  if (change.restored) parts.push(`${change.restored} restored`);
  if (change.revoked) parts.push(`${change.revoked} revoked`);
  if (change.confirmed) parts.push(`${change.confirmed} confirmed`);
  if (parts.length === 0) parts.push('access unchanged');
  return `${parts.join(', ')} (access ${change.state.replace('_', ' ')})`;
}

export type AccessService = ReturnType<typeof createAccessService>;

export function createAccessService({ repos, clock, transaction, notifier }: { repos: Repositories; clock: Clock; transaction: RunInTransaction; notifier: Notifier }) {
  /**
   * Reports a grant's change to the site's notification endpoints, in the transaction that makes it (the outbox row
   * commits with the grant or not at all). `grant` is the grant as it is after the change.
   */
  async function notifyGrant(tx: Tx, type: NotificationType, grant: Grant, reason: string, cause: GrantCause, extra: Record<string, unknown> = {}): Promise<void> {
    await notifier.notify(tx, grant.siteId, type, async () => {
      const member = await tx.members.findById(grant.siteId, grant.memberId);
      return {
        memberId: grant.memberId,
        email: member?.email ?? null,
        kartraLeadId: member?.kartraLeadId ?? null,
        grantId: grant.id,
        levelId: grant.levelId,
        sourceType: grant.sourceType,
        productId: grant.productId,
        status: grant.status,
        expiresAt: grant.expiresAt?.toISOString() ?? null,
        reason,
        eventId: cause.eventId,
        ...extra,
      };
    });
  }

  /** member.created, for the intake's paths that create a member (a first purchase, a mapped tag or membership). */
  async function notifyMemberCreated(tx: Tx, member: Member, eventId: number | null): Promise<void> {
    await notifier.notify(tx, member.siteId, 'member.created', {
      memberId: member.id,
      email: member.email,
      kartraLeadId: member.kartraLeadId,
      firstName: member.firstName,
      lastName: member.lastName,
      createdAt: member.createdAt.toISOString(),
      eventId,
    });
  }

  /**
   * Brings the grants of one purchase (a one-time order or a subscription) in line with its money facts and the
   * product's current mapping, in the caller's transaction. Idempotent: running it twice changes nothing the second time.
   */
  async function reconcileSource(tx: Tx, site: Site, memberId: number, sourceKey: string, productId: string, cause: GrantCause): Promise<SourceChange> {
    await tx.lock(memberLockKey(site.id, memberId));
    const product = await tx.products.find(site.id, productId);
    const sourceFacts = await tx.facts.forSource(site.id, sourceKey);
    const derived = deriveSourceState(
      sourceFacts,
      { graceDays: site.graceDays, cancelMode: site.cancelMode, billingPeriodDays: product?.billingPeriodDays ?? null },
      clock.now(),
    );
    const subscriptionId = sourceFacts.find((fact) => fact.subscriptionId)?.subscriptionId ?? null;
    const firstPayment = sourceFacts.find((fact) => fact.kind === 'purchase') ?? sourceFacts.find((fact) => fact.kind === 'rebill');
    const source: GrantSource = {
      type: 'purchase',
      key: sourceKey,
      productId,
      transactionId: firstPayment?.transactionId ?? null,
      subscriptionId,
      grantedBecause: `purchase of product ${productId}${describeOrder(firstPayment?.transactionId, subscriptionId)}`,
    };
    return alignGrants(tx, site, memberId, source, product?.levelIds ?? [], derived, cause);
  }

  /**
   * The same for a Kartra tag or membership level held by a member: its latest assignment or removal decides
   * (deriveAssetState), over the levels the asset is mapped to now.
   */
  async function reconcileAsset(tx: Tx, site: Site, memberId: number, asset: KartraAsset, cause: GrantCause): Promise<SourceChange> {
    await tx.lock(memberLockKey(site.id, memberId));
    const facts = await tx.assetFacts.forMemberAsset(site.id, memberId, asset.key);
    const described = describeAsset(asset);
    const source: GrantSource = {
      type: asset.kind,
      key: asset.key,
      productId: null,
      transactionId: null,
      subscriptionId: null,
      grantedBecause: `${described} ${asset.kind === 'tag' ? 'assigned' : 'granted'} in Kartra`,
    };
    return alignGrants(tx, site, memberId, source, asset.levelIds, deriveAssetState(facts, asset.kind, described), cause);
  }

  /**
   * Creates the grants a source owes on levels it has none on yet, and moves the existing ones to the derived state;
   * grants an admin locked are left as they are.
   */
  async function alignGrants(tx: Tx, site: Site, memberId: number, source: GrantSource, levelIds: number[], derived: SourceState, cause: GrantCause): Promise<SourceChange> {
    const { grants } = tx;
    const now = clock.now();
    const change: SourceChange = { created: 0, revoked: 0, restored: 0, confirmed: 0, unchanged: 0, state: derived.state };
    if (derived.state === 'no_payment') return change;

    const existing = (await grants.forSource(site.id, source.key)).filter((grant) => grant.memberId === memberId);
    for (const levelId of levelIds) {
      if (existing.some((grant) => grant.levelId === levelId)) continue;
      const grant = await grants.create({
        siteId: site.id,
        memberId,
        levelId,
        sourceType: source.type,
        sourceKey: source.key,
        productId: source.productId,
        transactionId: source.transactionId,
        subscriptionId: source.subscriptionId,
        status: derived.state === 'active' ? 'active' : 'revoked',
        revokedReason: derived.state === 'revoked' ? derived.reason : null,
        expiresAt: derived.state === 'active' ? derived.endsAt : null,
        createdAt: now,
      });
      if (derived.state === 'active') {
        await history(tx, grant, 'granted', source.grantedBecause, cause);
        await notifyGrant(tx, 'access.granted', grant, source.grantedBecause, cause);
        if (derived.pastDue) await notifyGrant(tx, 'access.past_due', grant, derived.note, cause, pastDueData(derived.pastDue));
        if (derived.endsAt) await history(tx, grant, 'expires', `${derived.note}; access ends ${derived.endsAt.toISOString()}`, cause);
      } else {
        await history(tx, grant, 'revoked', `${derived.reason} (known before this ${source.type === 'purchase' ? 'purchase' : 'assignment'} was applied)`, cause);
      }
      change.created += 1;
    }

    for (const grant of existing) {
      if (grant.adminLocked) {
        change.unchanged += 1;
        continue;
      }
      if (derived.state === 'revoked') {
        if (grant.status === 'revoked' && grant.revokedReason === derived.reason) {
          change.unchanged += 1;
          continue;
        }
        await grants.update(site.id, grant.id, { status: 'revoked', revokedReason: derived.reason, expiresAt: null }, now);
        await history(tx, grant, 'revoked', derived.reason, cause);
        if (grant.status !== 'revoked') await notifyGrant(tx, 'access.revoked', { ...grant, status: 'revoked', revokedReason: derived.reason, expiresAt: null }, derived.reason, cause);
        change.revoked += 1;
        continue;
      }
      const endsAtChanged = (grant.expiresAt?.getTime() ?? null) !== (derived.endsAt?.getTime() ?? null);
      if (grant.status === 'revoked') {
        await grants.update(site.id, grant.id, { status: 'active', revokedReason: null, expiresAt: derived.endsAt }, now);
        await history(tx, grant, 'restored', derived.note, cause);
        const restored: Grant = { ...grant, status: 'active', revokedReason: null, expiresAt: derived.endsAt };
        await notifyGrant(tx, 'access.granted', restored, derived.note, cause);
        if (derived.pastDue) await notifyGrant(tx, 'access.past_due', restored, derived.note, cause, pastDueData(derived.pastDue));
        change.restored += 1;
      } else if (endsAtChanged) {
        await grants.update(site.id, grant.id, { expiresAt: derived.endsAt }, now);
        await history(tx, grant, 'expires', derived.endsAt ? `${derived.note}; access ends ${derived.endsAt.toISOString()}` : `${derived.note}; no end date`, cause);
        // A new end time that comes from a failed payment is the start of a grace period: the host site hears of it once.
        if (derived.pastDue) await notifyGrant(tx, 'access.past_due', { ...grant, expiresAt: derived.endsAt }, derived.note, cause, pastDueData(derived.pastDue));
        change.unchanged += 1;
      } else {
        change.unchanged += 1;
      }
      if (cause.confirmsPayment && cause.eventId !== null && !(await grants.hasHistory(site.id, grant.id, 'confirmed', cause.eventId))) {
        await history(tx, grant, 'confirmed', derived.note, cause);
        change.confirmed += 1;
      }
    }
    return change;
  }

  async function history(tx: Tx, grant: Grant, change: Parameters<Tx['grants']['addHistory']>[0]['change'], reason: string, cause: GrantCause): Promise<void> {
    await tx.grants.addHistory({
      siteId: grant.siteId,
      grantId: grant.id,
      memberId: grant.memberId,
      levelId: grant.levelId,
      change,
      reason,
      eventId: cause.eventId,
      actor: cause.actor,
      at: clock.now(),
    });
  }

  function grantManually(site: Site, memberId: number, levelId: number, expiresAt: Date | null, actor: string): Promise<Grant> {
    return transaction(async (tx) => {
      const now = clock.now();
      if (!(await tx.members.findById(site.id, memberId))) throw new NotFoundError('member', memberId);
      if (!(await tx.levels.findById(site.id, levelId))) throw new InvalidInputError('unknown level', [{ path: 'levelId', message: `level ${levelId} does not exist on this site` }]);
      if (expiresAt && expiresAt.getTime() <= now.getTime()) {
        throw new InvalidInputError('expiry must be in the future', [{ path: 'expiresAt', message: 'must be in the future' }]);
      }
      const grant = await tx.grants.create({
        siteId: site.id,
        memberId,
        levelId,
        sourceType: 'manual',
        sourceKey: `manual:${now.getTime()}:${Math.random().toString(36).slice(2, 10)}`,
        productId: null,
        transactionId: null,
        subscriptionId: null,
        status: 'active',
        revokedReason: null,
        expiresAt,
        createdAt: now,
      });
      const reason = expiresAt ? `granted by an admin until ${expiresAt.toISOString()}` : 'granted by an admin';
      await history(tx, grant, 'granted', reason, { eventId: null, actor });
      await notifyGrant(tx, 'access.granted', grant, reason, { eventId: null, actor });
      return grant;
    });
  }

  function revokeManualGrant(site: Site, memberId: number, grantId: number, actor: string): Promise<Grant> {
    return transaction(async (tx) => {
      const grant = await tx.grants.findById(site.id, grantId);
      if (!grant || grant.memberId !== memberId) throw new NotFoundError('grant', grantId);
      if (grant.sourceType !== 'manual') {
        throw new ConflictError('only manual grants can be revoked by hand; purchase grants follow Kartra payments');
      }
      if (grant.status === 'revoked') return grant;
      await tx.grants.update(site.id, grant.id, { status: 'revoked', revokedReason: 'revoked by an admin', adminLocked: true }, clock.now());
      await history(tx, grant, 'revoked', 'revoked by an admin', { eventId: null, actor });
      const revoked = { ...grant, status: 'revoked' as const, revokedReason: 'revoked by an admin', adminLocked: true };
      await notifyGrant(tx, 'access.revoked', revoked, 'revoked by an admin', { eventId: null, actor });
      return revoked;
    });
  }

  /** Used when a mapping is deleted with revoke, in its transaction: the grants stay revoked whatever Kartra sends later. */
  async function revokeProductGrants(tx: Tx, site: Site, productId: string, actor: string): Promise<number> {
    return revokeForDeletedMapping(tx, await tx.grants.activeForProduct(site.id, productId), `product ${productId}`, actor);
  }

  /** The same for a tag or membership level's mapping. */
  async function revokeAssetGrants(tx: Tx, site: Site, asset: KartraAsset, actor: string): Promise<number> {
    return revokeForDeletedMapping(tx, await tx.grants.activeForSource(site.id, asset.key), describeAsset(asset), actor);
  }

  async function revokeForDeletedMapping(tx: Tx, active: Grant[], what: string, actor: string): Promise<number> {
    for (const grant of active) {
      await tx.grants.update(grant.siteId, grant.id, { status: 'revoked', revokedReason: `mapping for ${what} deleted`, adminLocked: true }, clock.now());
      await history(tx, grant, 'revoked', `mapping for ${what} deleted by an admin`, { eventId: null, actor });
      await notifyGrant(tx, 'access.revoked', { ...grant, status: 'revoked', revokedReason: `mapping for ${what} deleted` }, `mapping for ${what} deleted by an admin`, { eventId: null, actor });
    }
    return active.length;
  }

  /**
   * Writes the history of grants whose time has come (grace run out, paid period over, manual expiry). Effective
   * access already honours `expiresAt` at read time; the sweep only records it. Safe to run twice or to stop midway.
   */
  async function sweepExpired(batchSize = 200): Promise<number> {
    const now = clock.now();
    const due = await repos.grants.dueForExpiry(now, batchSize);
    let swept = 0;
    for (const grant of due) {
      await transaction(async (tx) => {
        const current = await tx.grants.findById(grant.siteId, grant.id);
        if (!current || isGrantEffective(current, now) || current.status !== 'active') return;
        const site = await tx.sites.findById(grant.siteId);
        if (!site) return;
        if (current.sourceType === 'purchase' && current.productId) {
          await reconcileSource(tx, site, current.memberId, current.sourceKey, current.productId, { eventId: null, actor: 'system' });
        }
        const after = await tx.grants.findById(grant.siteId, grant.id);
        if (after && after.status === 'active') {
          await tx.grants.update(site.id, grant.id, { status: 'revoked', revokedReason: 'expired' }, now);
          const reason = current.sourceType === 'manual' ? 'manual grant expired' : 'access period ended';
          await history(tx, after, 'expired', reason, { eventId: null, actor: 'system' });
          await notifyGrant(tx, 'access.revoked', { ...after, status: 'revoked', revokedReason: 'expired' }, reason, { eventId: null, actor: 'system' });
        }
        swept += 1;
      });
    }
    return swept;
  }

  return { reconcileSource, reconcileAsset, grantManually, revokeManualGrant, revokeProductGrants, revokeAssetGrants, sweepExpired, notifyMemberCreated };
}

function describeOrder(transactionId: string | null | undefined, subscriptionId: string | null): string {
  const parts = [transactionId ? `order ${transactionId}` : null, subscriptionId ? `subscription ${subscriptionId}` : null].filter(Boolean);
  return parts.length ? ` (${parts.join(', ')})` : '';
}

function pastDueData(pastDue: { failedAt: Date; graceEndsAt: Date }): Record<string, unknown> {
  return { failedAt: pastDue.failedAt.toISOString(), graceEndsAt: pastDue.graceEndsAt.toISOString() };
}
