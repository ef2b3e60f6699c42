import { describeSourceChange, type AccessService } from '../access/access-service';
import type { AssetEvent } from '../kartra/kartra-event';
import { describeEmailOutcome, matchMember } from '../members/member-matching';
import type { EventStatus, KartraAsset, Site } from '../model';
import type { EventPerson, Tx } from '../ports';
import { describeAsset, resolveAsset } from './asset-identity';

export interface AssetEventResult {
  status: EventStatus;
  summary: string;
  assetKey: string;
  memberId?: number | null;
  duplicateOf?: number;
}

/** Whether the site takes access from this kind of asset (Site.tagAccess, Site.membershipAccess). */
export function takesAccessFrom(site: Site, kind: KartraAsset['kind']): boolean {
  return kind === 'tag' ? site.tagAccess : site.membershipAccess;
}

function verbOf(event: AssetEvent): string {
  if (event.asset.kind === 'tag') return event.change === 'assigned' ? 'assigned' : 'removed';
  return event.change === 'assigned' ? 'granted' : 'revoked';
}

/**
 * Applies a tag or membership event, in the caller's savepoint: finds (or discovers) the asset, tells a redelivery
 * from a real change, and for a mapped asset records the assignment or removal as a fact of the member's ledger and
 * brings the member's grants from that asset in line.
 *
 * Duplicates: Kartra sends these events without id or time, so a repeat within the fingerprint's ten minutes counts as
 * a redelivery, unless the opposite change of the same asset for the same person came between: assign, unassign,
 * assign is three changes and ends assigned; assign, assign, unassign ends unassigned.
 */
export async function applyAssetEvent(
  tx: Tx,
  access: AccessService,
  site: Site,
  event: AssetEvent,
  ids: { eventId: number; fingerprintOwnerId: number },
  times: { receivedAt: Date; now: Date },
  actor: string,
): Promise<AssetEventResult> {
  const { eventId } = ids;
  const asset = await resolveAsset(tx, site.id, event.asset, { seenAt: times.receivedAt });
  const described = describeAsset(asset);
  const what = `${described} ${verbOf(event)}`;
  const person = personOf(event);

  if (ids.fingerprintOwnerId !== eventId && person) {
    // The same change again in the window; a redelivery unless the person's latest change of this asset was the other.
    const previous = await tx.events.latestAssetEvent(site.id, asset.key, person, eventId);
    if (!previous || previous.action === event.action) {
      const original = previous?.id ?? ids.fingerprintOwnerId;
      return { status: 'duplicate', summary: `same ${what} as event #${original}; applied once`, assetKey: asset.key, duplicateOf: original };
    }
  }

  const whose = `for ${event.lead.email ?? `lead ${event.lead.leadId ?? '?'}`}`;
  const unapplied = unappliedOutcome(site, asset, event, `${what} ${whose}`);
  // A change of a mapped asset makes the member, as a first purchase or a refund that overtook it does: a removal
  // must be on record for an assignment that Kartra's times put before it but that reaches us later. Otherwise a
  // known member is only noted.
  const match = await matchMember(tx, site.id, event.lead, { createIfMissing: !unapplied, eventId, now: times.now });
  if (unapplied) return { ...unapplied, assetKey: asset.key, memberId: match?.member.id ?? null };
  if (!match) throw new Error('member could not be matched or created');
  const member = match.member;
  if (match.created) await access.notifyMemberCreated(tx, member, eventId);
  await tx.assetFacts.record({
    siteId: site.id,
    memberId: member.id,
    assetKey: asset.key,
    change: event.change,
    occurredAt: event.occurredAt ?? null,
    receivedAt: times.receivedAt,
    eventId,
  });
  const change = await access.reconcileAsset(tx, site, member.id, asset, { eventId, actor });
  const identity = `${match.created ? 'new member' : 'member'} ${member.email ?? member.kartraLeadId}`;
  return { status: 'applied', summary: `${what} for ${identity}: ${describeSourceChange(change)}${describeEmailOutcome(match)}`, assetKey: asset.key, memberId: member.id };
}

/** Why a site does not apply this event now (ignored, rejected or unmapped), or null when it does. */
function unappliedOutcome(site: Site, asset: KartraAsset, event: AssetEvent, what: string): { status: EventStatus; summary: string } | null {
  if (!takesAccessFrom(site, asset.kind)) {
    const switchedOff = asset.kind === 'tag' ? 'access from tags is switched off for this site' : 'access from memberships is switched off for this site';
    return { status: 'ignored', summary: `${what}; ${switchedOff}` };
  }
  if (event.change === 'assigned' && site.moneyChannels === 'ipn_with_secret') {
    // Tag and membership events come only from the Outbound API, which signs nothing: on a site that takes money only
    // from signed IPN posts, a forged one must not open access. Removals are still applied (revoking is never the risk).
    return {
      status: 'rejected',
      summary: `${what} came from the Outbound API, which signs nothing; this site takes access only from IPN posts carrying the secret_key, so nothing changed`,
    };
  }
  if (asset.levelIds.length === 0) return { status: 'unmapped', summary: `${what}; not mapped to a level, kept for when it is mapped` };
  return null;
}

function personOf(event: AssetEvent): EventPerson | null {
  if (event.lead.leadId) return { leadId: event.lead.leadId };
  return event.lead.email ? { email: event.lead.email } : null;
}
