import type { AccessService } from '../access/access-service';
import { NotFoundError } from '../errors';
import type { AccessLevel, Product, Site } from '../model';
import type { Clock, Repositories, RunInTransaction } from '../ports';
import type { IntakeService } from '../webhook-events/intake-service';
import { requireSiteLevels } from './mapping-levels';

export interface MappingView {
  productId: string;
  productName: string | null;
  levels: AccessLevel[];
  billingPeriodDays: number | null;
  /** Members who currently hold an active grant from this product. */
  memberCount: number;
}

export interface DiscoveredProduct {
  productId: string;
  productName: string | null;
  firstSeenAt: Date | null;
  lastSeenAt: Date | null;
  eventCount: number;
  buyerCount: number;
  /** The counts are of the newest ACTIVITY_CAP events only, so they are lower bounds ("500+"). */
  countsCapped: boolean;
}

/**
 * Events read per discovered product for its counts. An admin deciding what to map needs "many" rather than an exact
 * figure, and the Mappings page and the needs-attention report must not slow down as a launch's log grows.
 */
export const ACTIVITY_CAP = 500;

export interface ApplyToPastPreview {
  productId: string;
  /** Stored events of this product that were unmapped and would be re-applied, oldest first. */
  unmappedEvents: number;
  /** Distinct people (lead id, else email) in those events. */
  people: number;
  /** Purchases already on record for this product whose grants would be brought in line with the new mapping. */
  recordedPurchases: number;
}

export type ProductMappingService = ReturnType<typeof createProductMappingService>;

export function createProductMappingService(deps: {
  repos: Repositories;
  clock: Clock;
  transaction: RunInTransaction;
  access: AccessService;
  intake: IntakeService;
}) {
  const { repos, clock, transaction, access, intake } = deps;

  /** Views of mapped products, with one count of members per product for all of them (not their grants loaded). */
  async function toViews(site: Site, products: Product[]): Promise<MappingView[]> {
    const levels = await repos.levels.list(site.id);
    const counts = new Map((await repos.grants.countActiveMembersByProduct(site.id, products.map((product) => product.productId))).map((row) => [row.productId, row.memberCount]));
    return products.map((product) => ({
      productId: product.productId,
      productName: product.kartraName,
      levels: levels.filter((level) => product.levelIds.includes(level.id)),
      billingPeriodDays: product.billingPeriodDays,
      memberCount: counts.get(product.productId) ?? 0,
    }));
  }

  async function list(site: Site): Promise<MappingView[]> {
    return toViews(site, await repos.products.listMapped(site.id));
  }

  async function get(site: Site, productId: string): Promise<MappingView> {
    const product = await repos.products.find(site.id, productId);
    if (!product || product.levelIds.length === 0) throw new NotFoundError('mapping', productId);
    const [view] = await toViews(site, [product]);
    if (!view) throw new NotFoundError('mapping', productId);
    return view;
  }

  async function preview(site: Site, productId: string): Promise<ApplyToPastPreview> {
    const unmapped = await repos.events.countUnmapped(site.id, { productId });
    return { productId, unmappedEvents: unmapped.events, people: unmapped.people, recordedPurchases: (await repos.facts.sourcesForProduct(site.id, productId)).length };
  }

  /**
   * Maps a product to levels (replacing its previous levels). With `applyToPast`, the product's unmapped events are
   * re-applied in receipt order and every purchase already on record is brought in line with the new mapping, so
   * buyers who came before the mapping get their access. Re-applying is idempotent.
   */
  async function save(site: Site, input: { productId: string; levelIds: number[]; applyToPast: boolean; billingPeriodDays?: number | null }) {
    const productId = input.productId.trim();
    const levelIds = await requireSiteLevels(repos, site, input.levelIds);
    const previewBefore = await preview(site, productId);
    await transaction(async (tx) => {
      await tx.products.ensure(site.id, productId);
      await tx.products.setLevels(site.id, productId, levelIds, input.billingPeriodDays ?? null, clock.now());
    });
    let applied: { eventCount: number; outcomes: Record<string, number>; membersReconciled: number } | null = null;
    if (input.applyToPast) {
      const reapplied = await intake.reapplyMany(site, { statuses: ['unmapped'], productId }, 'mapping');
      let membersReconciled = 0;
      for (const source of await repos.facts.sourcesForProduct(site.id, productId)) {
        await transaction((tx) => access.reconcileSource(tx, site, source.memberId, source.sourceKey, productId, { eventId: null, actor: 'mapping' }));
        membersReconciled += 1;
      }
      applied = { ...reapplied, membersReconciled };
    }
    return { mapping: await get(site, productId), preview: previewBefore, applied };
  }

  /** Deleting a mapping never silently revokes: by default current grants stay; with `revoke` they end now. */
  function remove(site: Site, productId: string, revoke: boolean, actor: string): Promise<{ revokedGrants: number }> {
    return transaction(async (tx) => {
      const product = await tx.products.find(site.id, productId);
      if (!product || product.levelIds.length === 0) throw new NotFoundError('mapping', productId);
      await tx.products.clearLevels(site.id, productId);
      return { revokedGrants: revoke ? await access.revokeProductGrants(tx, site, productId, actor) : 0 };
    });
  }

  async function discovered(site: Site): Promise<DiscoveredProduct[]> {
    const products = await repos.products.listDiscovered(site.id);
    const activity = new Map((await repos.events.productActivity(site.id, products.map((product) => product.productId), ACTIVITY_CAP)).map((row) => [row.productId, row]));
    return products.map((product) => ({
      productId: product.productId,
      productName: product.kartraName,
      firstSeenAt: product.firstSeenAt,
      lastSeenAt: product.lastSeenAt,
      eventCount: activity.get(product.productId)?.eventCount ?? 0,
      buyerCount: activity.get(product.productId)?.buyerCount ?? 0,
      countsCapped: activity.get(product.productId)?.capped ?? false,
    }));
  }

  /** How many discovered products have events other than duplicates: one short index probe each, for the badge. */
  async function discoveredWithEvents(site: Site): Promise<number> {
    const products = await repos.products.listDiscovered(site.id);
    return (await repos.events.productActivity(site.id, products.map((product) => product.productId), 1)).length;
  }

  return { list, get, preview, save, remove, discovered, discoveredWithEvents };
}
