import type { AssetReference } from '../kartra/kartra-event';
import type { AssetKind, KartraAsset } from '../model';
import type { NewKartraAsset, Tx } from '../ports';

/**
 * Which stored asset a tag or membership event (or an admin's mapping form) means. Kartra sends a tag by id and name
 * and addresses tags by name in its own API (REFERENCE.md §6.6), so tags match by name; membership levels match by
 * `level_id` when the event carries one, else by membership and level name. Names match trimmed and
 * case-insensitively; what Kartra last sent is kept for display.
 */

/** Trimmed, inner white space collapsed, lower-cased: "  PRO  members " and "Pro Members" are one name. */
export function normaliseAssetName(name: string): string {
  return name.trim().replace(/\s+/g, ' ').toLowerCase();
}

/** The name an asset is matched by when an event carries no id; null when there is no name to match. */
export function matchNameOf(reference: AssetReference): string | null {
  if (reference.kind === 'tag') return reference.tagName ? normaliseAssetName(reference.tagName) : null;
  if (!reference.levelName) return null;
  return `${normaliseAssetName(reference.membershipName ?? '')} / ${normaliseAssetName(reference.levelName)}`;
}

function kartraIdOf(reference: AssetReference): string | null {
  return (reference.kind === 'tag' ? reference.tagId : reference.levelId) ?? null;
}

/** The key a new asset is stored under: from the name for tags, from the ids for levels, as §8 keys each. */
function newKeyFor(reference: AssetReference, matchName: string | null): string {
  if (reference.kind === 'tag') return matchName ? `tag:${matchName}` : `tag-id:${reference.tagId ?? ''}`;
  if (reference.levelId) return `membership:${reference.membershipId ?? ''}:${reference.levelId}`;
  return `membership-name:${matchName ?? ''}`;
}

/** Whether the reference names its asset at all (an id or a name). */
export function isUsableReference(reference: AssetReference): boolean {
  return kartraIdOf(reference) !== null || matchNameOf(reference) !== null;
}

/** How an asset is named to people: `tag "VIP"`, `membership "Academy" level "Pro"`. */
export function describeAsset(asset: Pick<KartraAsset, 'kind' | 'name' | 'kartraId' | 'membershipName' | 'membershipId'>): string {
  const name = asset.name ? `"${asset.name}"` : `#${asset.kartraId ?? '?'}`;
  if (asset.kind === 'tag') return `tag ${name}`;
  const membership = asset.membershipName ? `"${asset.membershipName}"` : asset.membershipId ? `#${asset.membershipId}` : '';
  return membership ? `membership ${membership} level ${name}` : `membership level ${name}`;
}

/** Finds the stored asset a reference means, without creating one. */
export async function findAsset(tx: Pick<Tx, 'assets'>, siteId: number, reference: AssetReference): Promise<KartraAsset | null> {
  const kind: AssetKind = reference.kind;
  const kartraId = kartraIdOf(reference);
  const membershipId = reference.kind === 'membership' ? (reference.membershipId ?? null) : null;
  const matchName = matchNameOf(reference);
  // A tag by its name first (Kartra's own API addresses tags by name); a level by its id first.
  if (kind === 'membership' && kartraId) {
    const byId = await tx.assets.findByKartraId(siteId, kind, kartraId, membershipId);
    if (byId) return byId;
  }
  if (matchName) {
    const byName = await tx.assets.findByMatchName(siteId, kind, matchName);
    // A level known by other ids is another level that happens to share the name.
    const candidate = byName.find((asset) => kind === 'tag' || !kartraId || asset.kartraId === null || asset.kartraId === kartraId);
    if (candidate) return candidate;
  }
  if (kind === 'tag' && kartraId) return tx.assets.findByKartraId(siteId, kind, kartraId, null);
  return null;
}

export interface AssetSighting {
  /** When the event naming it was received; null when an admin names it in a mapping before Kartra sent it. */
  seenAt: Date | null;
}

/** How finely an asset's last sighting is kept: a minute spares a write per event of a busy tag. */
const ASSET_SEEN_RESOLUTION_MS = 60_000;

/**
 * The stored asset a reference means, created when new (discovery) and brought up to date with what the reference
 * adds: ids Kartra sent for an asset first known by name, names that changed, the first and last sighting.
 */
export async function resolveAsset(tx: Pick<Tx, 'assets'>, siteId: number, reference: AssetReference, sighting: AssetSighting): Promise<KartraAsset> {
  const found = await findAsset(tx, siteId, reference);
  const matchName = matchNameOf(reference);
  const kartraId = kartraIdOf(reference);
  const names = reference.kind === 'tag' ? { name: reference.tagName ?? null } : { name: reference.levelName ?? null, membershipName: reference.membershipName ?? null };
  const { seenAt } = sighting;
  if (!found) {
    const asset: NewKartraAsset = {
      siteId,
      key: newKeyFor(reference, matchName),
      kind: reference.kind,
      kartraId,
      name: names.name,
      membershipId: reference.kind === 'membership' ? (reference.membershipId ?? null) : null,
      membershipName: reference.kind === 'membership' ? (reference.membershipName ?? null) : null,
      matchName,
      firstSeenAt: seenAt,
      lastSeenAt: seenAt,
    };
    return tx.assets.create(asset);
  }

  const changes: Parameters<Tx['assets']['update']>[2] = {};
  if (kartraId && !found.kartraId) changes.kartraId = kartraId;
  if (reference.kind === 'membership' && reference.membershipId && !found.membershipId) changes.membershipId = reference.membershipId;
  if (names.name && names.name !== found.name) changes.name = names.name;
  if (reference.kind === 'membership' && reference.membershipName && reference.membershipName !== found.membershipName) changes.membershipName = reference.membershipName;
  // A level sent without its membership's name has a partial match name; the stored one stays.
  const fullName = reference.kind === 'tag' || reference.membershipName !== undefined;
  if (matchName && fullName && matchName !== found.matchName) changes.matchName = matchName;
  if (seenAt) {
    if (!found.firstSeenAt || seenAt < found.firstSeenAt) changes.firstSeenAt = seenAt;
    if (!found.lastSeenAt || seenAt.getTime() - found.lastSeenAt.getTime() >= ASSET_SEEN_RESOLUTION_MS) changes.lastSeenAt = seenAt;
  }
  if (Object.keys(changes).length === 0) return found;
  await tx.assets.update(siteId, found.key, changes);
  return { ...found, ...changes };
}
