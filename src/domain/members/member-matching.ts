import type { LeadIdentity } from '../kartra/kartra-event';
import type { Member } from '../model';
import type { Tx } from '../ports';

export type MemberMatch = {
  member: Member;
  created: boolean;
  /** Set when this event moved the member's email: the email before (null: none). */
  emailChangedFrom?: string | null;
  /** Set when Kartra gave the lead an email another member of the site has: the member kept theirs. */
  emailHeldBy?: { email: string; memberId: number };
} | null;

/**
 * Finds the member for a Kartra lead: by lead id first (stable), then by email (emails change, REFERENCE.md §8),
 * creating one when `createIfMissing`. A known lead arriving with a new email moves the member's email, and the
 * change is recorded with the event that caused it; unless another member of the site has that email, which is
 * never taken over (one email, one member: two Kartra leads on one email may be two people, and merging them is the
 * admin's call), so the member keeps theirs and the event's summary says so.
 */
export async function matchMember(
  tx: Pick<Tx, 'members' | 'lock'>,
  siteId: number,
  lead: LeadIdentity,
  options: { createIfMissing: boolean; eventId: number | null; now: Date },
): Promise<MemberMatch> {
  const { now } = options;
  const { members } = tx;
  // Find-then-create decides on a read: two deliveries of one new buyer running at once (two service instances) must
  // not both create a member. Locks in a fixed order, lead id before email, and the member's own lock last.
  if (lead.leadId) await tx.lock(`member-lead:${siteId}:${lead.leadId}`);
  if (lead.email) await tx.lock(`member-email:${siteId}:${lead.email}`);
  const byLead = lead.leadId ? await members.findByLeadId(siteId, lead.leadId) : null;
  const member = byLead ?? (lead.email ? await members.findByEmail(siteId, lead.email) : null);

  if (!member) {
    if (!options.createIfMissing) return null;
    const created = await members.create({
      siteId,
      kartraLeadId: lead.leadId ?? null,
      email: lead.email ?? null,
      firstName: lead.firstName ?? null,
      lastName: lead.lastName ?? null,
      createdAt: now,
      updatedAt: now,
    });
    await tx.lock(memberLockKey(siteId, created.id));
    return { member: created, created: true };
  }

  await tx.lock(memberLockKey(siteId, member.id));
  const changes: Partial<Member> = {};
  // Matched by email, and the lead id is new to us: remember it so later events match by id.
  if (!member.kartraLeadId && lead.leadId) changes.kartraLeadId = lead.leadId;
  if (!member.firstName && lead.firstName) changes.firstName = lead.firstName;
  if (!member.lastName && lead.lastName) changes.lastName = lead.lastName;
  let emailChangedFrom: string | null | undefined;
  let emailHeldBy: { email: string; memberId: number } | undefined;
  const holder = byLead && lead.email && lead.email !== member.email ? await members.findByEmail(siteId, lead.email) : null;
  if (holder) {
    emailHeldBy = { email: holder.email ?? lead.email ?? '', memberId: holder.id };
  } else if (byLead && lead.email && lead.email !== member.email) {
    emailChangedFrom = member.email;
    changes.email = lead.email;
    await members.recordEmailChange({ siteId, memberId: member.id, previousEmail: member.email, newEmail: lead.email, eventId: options.eventId, changedAt: now });
  }
  if (Object.keys(changes).length === 0) return { member, created: false, emailHeldBy };
  await members.update(siteId, member.id, { ...changes, updatedAt: now });
  return { member: { ...member, ...changes, updatedAt: now }, created: false, emailChangedFrom, emailHeldBy };
}

/** What a match did to the member's email, as the end of an event's summary ('' when nothing). */
export function describeEmailOutcome(match: NonNullable<MemberMatch>): string {
  if (match.emailHeldBy) {
    return `; Kartra now gives this lead the email ${match.emailHeldBy.email}, which member #${match.emailHeldBy.memberId} has: kept ${match.member.email ?? '(none)'}`;
  }
  if (match.emailChangedFrom !== undefined) return `; email changed from ${match.emailChangedFrom ?? '(none)'} to ${match.member.email ?? '(none)'}`;
  return '';
}

/**
 * The lock under which a member's facts and grants are read and changed (see Tx.lock): every unit of work that
 * reconciles a member's access takes it first, so two of them never decide on each other's half-written state.
 */
export function memberLockKey(siteId: number, memberId: number): string {
  return `member:${siteId}:${memberId}`;
}
