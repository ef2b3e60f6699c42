import type { AccessService } from '../access/access-service';
import { describeAsset, findAsset, isUsableReference, resolveAsset } from '../assets/asset-identity';
import { InvalidInputError, NotFoundError } from '../errors';
import type { AssetReference } from '../kartra/kartra-event';
import type { AccessLevel, AssetKind, KartraAsset, Site } from '../model';
import type { Clock, Repositories, RunInTransaction } from '../ports';
import type { IntakeService } from '../webhook-events/intake-service';
import { requireSiteLevels } from './mapping-levels';

/** A Kartra tag or membership level as the Mappings page and the API show it. */
export interface AssetSummary {
  key: string;
  kind: AssetKind;
  /** How people read it: `tag "VIP"`, `membership "Academy" level "Pro"`. */
  label: string;
  name: string | null;
  kartraId: string | null;
  membershipId: string | null;
  membershipName: string | null;
}

export interface AssetMappingView extends AssetSummary {
  levels: AccessLevel[];
  /** Members who currently hold an active grant from this asset. */
  memberCount: number;
}

export interface DiscoveredAsset extends AssetSummary {
  firstSeenAt: Date | null;
  lastSeenAt: Date | null;
  eventCount: number;
  leadCount: number;
}

export interface AssetApplyToPastPreview {
  assetKey: string;
  /** Stored events of this asset that were unmapped and would be re-applied, oldest first. */
  unmappedEvents: number;
  /** Distinct people (lead id, else email) in them. */
  people: number;
  /** Members with assignments of this asset already on record, whose grants would follow the new mapping. */
  recordedMembers: number;
}

/** Which asset a mapping is for: a stored one by key (a discovered tag), or one named by Kartra id or name. */
export type AssetSelector = { key: string } | { reference: AssetReference };

export type AssetMappingService = ReturnType<typeof createAssetMappingService>;

export function summariseAsset(asset: KartraAsset): AssetSummary {
  return {
    key: asset.key,
    kind: asset.kind,
    label: describeAsset(asset),
    name: asset.name,
    kartraId: asset.kartraId,
    membershipId: asset.membershipId,
    membershipName: asset.membershipName,
  };
}

/**
 * Mappings from Kartra tags and membership levels to levels of the site, with the same discovery, preview and
 * apply-to-past as products (product-mapping-service.ts).
 */
export function createAssetMappingService(deps: { repos: Repositories; clock: Clock; transaction: RunInTransaction; access: AccessService; intake: IntakeService }) {
  const { repos, clock, transaction, access, intake } = deps;

  async function toView(site: Site, asset: KartraAsset, levels: AccessLevel[]): Promise<AssetMappingView> {
    const memberCount = new Set((await repos.grants.activeForSource(site.id, asset.key)).map((grant) => grant.memberId)).size;
    return { ...summariseAsset(asset), levels: levels.filter((level) => asset.levelIds.includes(level.id)), memberCount };
  }

  async function list(site: Site): Promise<AssetMappingView[]> {
    const levels = await repos.levels.list(site.id);
    const views: AssetMappingView[] = [];
    for (const asset of await repos.assets.listMapped(site.id)) views.push(await toView(site, asset, levels));
    return views;
  }

  async function requireAsset(site: Site, selector: AssetSelector): Promise<KartraAsset> {
    const asset = 'key' in selector ? await repos.assets.findByKey(site.id, selector.key) : await findAsset(repos, site.id, selector.reference);
    if (!asset) throw new NotFoundError('tag or membership level', 'key' in selector ? selector.key : undefined);
    return asset;
  }

  async function get(site: Site, key: string): Promise<AssetMappingView> {
    const asset = await repos.assets.findByKey(site.id, key);
    if (!asset || asset.levelIds.length === 0) throw new NotFoundError('mapping', key);
    return toView(site, asset, await repos.levels.list(site.id));
  }

  async function preview(site: Site, selector: AssetSelector): Promise<AssetApplyToPastPreview> {
    const asset = 'key' in selector ? await requireAsset(site, selector) : await findAsset(repos, site.id, selector.reference);
    if (!asset) return { assetKey: '', unmappedEvents: 0, people: 0, recordedMembers: 0 };
    const unmapped = await repos.events.countUnmapped(site.id, { assetKey: asset.key });
    return { assetKey: asset.key, unmappedEvents: unmapped.events, people: unmapped.people, recordedMembers: (await repos.assetFacts.membersForAsset(site.id, asset.key)).length };
  }

  /**
   * Maps a tag or membership level to levels (replacing its previous ones). An asset Kartra has not sent yet is
   * created, so the first event naming it finds it. With `applyToPast`, its unmapped events are re-applied in
   * receipt order and every member with assignments on record is brought in line with the new mapping.
   */
  async function save(site: Site, input: { asset: AssetSelector; levelIds: number[]; applyToPast: boolean }) {
    if ('reference' in input.asset && !isUsableReference(input.asset.reference)) {
      const path = input.asset.reference.kind === 'tag' ? 'tagName' : 'levelName';
      throw new InvalidInputError('name the tag or membership level', [{ path, message: 'give a name or a Kartra id' }]);
    }
    const levelIds = await requireSiteLevels(repos, site, input.levelIds);
    const previewBefore = await preview(site, input.asset);
    const selector = input.asset;
    const asset = await transaction(async (tx) => {
      const found = 'key' in selector ? await tx.assets.findByKey(site.id, selector.key) : await resolveAsset(tx, site.id, selector.reference, { seenAt: null });
      if (!found) throw new NotFoundError('tag or membership level', 'key' in selector ? selector.key : undefined);
      await tx.assets.setLevels(site.id, found.key, levelIds, clock.now());
      return { ...found, levelIds };
    });
    let applied: { eventCount: number; outcomes: Record<string, number>; membersReconciled: number } | null = null;
    if (input.applyToPast) {
      const reapplied = await intake.reapplyMany(site, { statuses: ['unmapped'], assetKey: asset.key }, 'mapping');
      let membersReconciled = 0;
      for (const memberId of await repos.assetFacts.membersForAsset(site.id, asset.key)) {
        await transaction(async (tx) => {
          const current = await tx.assets.findByKey(site.id, asset.key);
          if (current) await access.reconcileAsset(tx, site, memberId, current, { eventId: null, actor: 'mapping' });
        });
        membersReconciled += 1;
      }
      applied = { ...reapplied, membersReconciled };
    }
    return { mapping: await get(site, asset.key), preview: { ...previewBefore, assetKey: asset.key }, applied };
  }

  /** Deleting a mapping never silently revokes: by default current grants stay; with `revoke` they end now. */
  function remove(site: Site, key: string, revoke: boolean, actor: string): Promise<{ revokedGrants: number }> {
    return transaction(async (tx) => {
      const asset = await tx.assets.findByKey(site.id, key);
      if (!asset || asset.levelIds.length === 0) throw new NotFoundError('mapping', key);
      await tx.assets.clearLevels(site.id, key);
      return { revokedGrants: revoke ? await access.revokeAssetGrants(tx, site, asset, actor) : 0 };
    });
  }

  async function discovered(site: Site): Promise<DiscoveredAsset[]> {
    const assets = await repos.assets.listDiscovered(site.id);
    const activity = new Map((await repos.events.assetActivity(site.id, assets.map((asset) => asset.key))).map((row) => [row.assetKey, row]));
    return assets.map((asset) => ({
      ...summariseAsset(asset),
      firstSeenAt: asset.firstSeenAt,
      lastSeenAt: asset.lastSeenAt,
      eventCount: activity.get(asset.key)?.eventCount ?? 0,
      leadCount: activity.get(asset.key)?.leadCount ?? 0,
    }));
  }

  /** Every tag and membership level the site knows, for the event log's filter and the member page's grant sources. */
  async function known(site: Site): Promise<AssetSummary[]> {
    return (await repos.assets.listAll(site.id)).map(summariseAsset);
  }

  return { list, get, preview, save, remove, discovered, known, requireAsset };
}
