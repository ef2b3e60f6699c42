import type { LeadIdentity } from '../kartra/kartra-event';
import type { Member } from '../model';
import type { MemberRepository } from '../ports';

export type MemberMatch = { member: Member; created: boolean; emailChangedFrom?: string | null } | null;

/**
 * Finds the member for a Kartra lead: by lead id first (stable), then by email (emails change, REFERENCE.md §8),
 * creating one when `createIfMissing`. A known lead arriving with a new email moves the member's email, and the
 * change is recorded with the event that caused it.
 */
export async function matchMember(
  members: MemberRepository,
  siteId: number,
  lead: LeadIdentity,
  options: { createIfMissing: boolean; eventId: number | null; now: Date },
): Promise<MemberMatch> {
  const { now } = options;
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
    return { member: created, created: true };
  }

  const changes: Partial<Member> = {};
  // Matched by email, and the lead id is new to us: remember it so later events match by id.
  if (!member.kartraLeadId && lead.leadId) changes.kartraLeadId = lead.leadId;
  if (!member.firstName && lead.firstName) changes.firstName = lead.firstName;
  if (!member.lastName && lead.lastName) changes.lastName = lead.lastName;
  let emailChangedFrom: string | null | undefined;
  if (byLead && lead.email && lead.email !== member.email) {
    emailChangedFrom = member.email;
    changes.email = lead.email;
    await members.recordEmailChange({ siteId, memberId: member.id, previousEmail: member.email, newEmail: lead.email, eventId: options.eventId, changedAt: now });
  }
  if (Object.keys(changes).length === 0) return { member, created: false };
  await members.update(siteId, member.id, { ...changes, updatedAt: now });
  return { member: { ...member, ...changes, updatedAt: now }, created: false, emailChangedFrom };
}
