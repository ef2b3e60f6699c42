import { effectiveLevelIds, isGrantEffective } from '../access/access-rules';
import { describeAsset } from '../assets/asset-identity';
import { NotFoundError } from '../errors';
import type { Grant, GrantHistoryEntry, Member, MemberEmailChange, Site } from '../model';
import type { Clock, Repositories } from '../ports';

export interface MemberLevel {
  id: number;
  name: string;
  /** When access to this level ends unless something changes; null while any grant gives it without an end. */
  accessEndsAt: Date | null;
}

export interface MemberSummary extends Member {
  levels: MemberLevel[];
}

export interface GrantDetail extends Grant {
  levelName: string;
  /** For a grant from a Kartra tag or membership level: which one, as people read it (`tag "VIP"`); else null. */
  assetLabel: string | null;
  effective: boolean;
  history: GrantHistoryEntry[];
}

export interface MemberDetail extends MemberSummary {
  grants: GrantDetail[];
  emailChanges: MemberEmailChange[];
}

export type MemberService = ReturnType<typeof createMemberService>;

/** Read side of members: effective levels are computed against the current time, never stored as a flag. */
export function createMemberService({ repos, clock }: { repos: Repositories; clock: Clock }) {
  async function levelNames(siteId: number): Promise<Map<number, string>> {
    return new Map((await repos.levels.list(siteId)).map((level) => [level.id, level.name]));
  }

  function memberLevels(grants: Grant[], names: Map<number, string>, now: Date): MemberLevel[] {
    return effectiveLevelIds(grants, now).map((id) => {
      const giving = grants.filter((grant) => grant.levelId === id && isGrantEffective(grant, now));
      const ends = giving.some((grant) => grant.expiresAt === null) ? null : Math.max(...giving.map((grant) => grant.expiresAt?.getTime() ?? 0));
      return { id, name: names.get(id) ?? `level ${id}`, accessEndsAt: ends === null ? null : new Date(ends) };
    });
  }

  async function search(site: Site, filter: { email?: string; query?: string; limit: number; afterId?: number }): Promise<MemberSummary[]> {
    const found = await repos.members.search(site.id, filter);
    const names = await levelNames(site.id);
    const grantsByMember = new Map<number, Grant[]>();
    for (const grant of await repos.grants.forMembers(site.id, found.map((member) => member.id))) {
      grantsByMember.set(grant.memberId, [...(grantsByMember.get(grant.memberId) ?? []), grant]);
    }
    const now = clock.now();
    return found.map((member) => ({
      ...member,
      levels: memberLevels(grantsByMember.get(member.id) ?? [], names, now),
    }));
  }

  async function detail(site: Site, memberId: number): Promise<MemberDetail> {
    const member = await repos.members.findById(site.id, memberId);
    if (!member) throw new NotFoundError('member', memberId);
    const names = await levelNames(site.id);
    const now = clock.now();
    const grants = await repos.grants.forMember(site.id, memberId);
    const history = await repos.grants.historyForMember(site.id, memberId);
    const emailChanges = await repos.members.emailChanges(site.id, memberId);
    const assetLabels = new Map<string, string>();
    for (const grant of grants) {
      if ((grant.sourceType === 'tag' || grant.sourceType === 'membership') && !assetLabels.has(grant.sourceKey)) {
        const asset = await repos.assets.findByKey(site.id, grant.sourceKey);
        if (asset) assetLabels.set(grant.sourceKey, describeAsset(asset));
      }
    }
    return {
      ...member,
      levels: memberLevels(grants, names, now),
      grants: grants.map((grant) => ({
        ...grant,
        levelName: names.get(grant.levelId) ?? `level ${grant.levelId}`,
        assetLabel: assetLabels.get(grant.sourceKey) ?? null,
        effective: isGrantEffective(grant, now),
        history: history.filter((entry) => entry.grantId === grant.id),
      })),
      emailChanges,
    };
  }

  return { search, detail };
}
