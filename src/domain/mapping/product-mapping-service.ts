import type { AccessService } from '../access/access-service';
import { InvalidInputError, NotFoundError } from '../errors';
import type { AccessLevel, Product, Site } from '../model';
import type { Clock, Repositories, RunInTransaction } from '../ports';
import type { IntakeService } from '../webhook-events/intake-service';

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
}

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

  function toView(site: Site, product: Product): MappingView {
    const levels = repos.levels.list(site.id).filter((level) => product.levelIds.includes(level.id));
    const memberCount = new Set(repos.grants.activeForProduct(site.id, product.productId).map((grant) => grant.memberId)).size;
    return { productId: product.productId, productName: product.kartraName, levels, billingPeriodDays: product.billingPeriodDays, memberCount };
  }

  function list(site: Site): MappingView[] {
    return repos.products.listMapped(site.id).map((product) => toView(site, product));
  }

  function get(site: Site, productId: string): MappingView {
    const product = repos.products.find(site.id, productId);
    if (!product || product.levelIds.length === 0) throw new NotFoundError('mapping', productId);
    return toView(site, product);
  }

  function preview(site: Site, productId: string): ApplyToPastPreview {
    const unmapped = repos.events.countUnmapped(site.id, productId);
    return { productId, unmappedEvents: unmapped.events, people: unmapped.people, recordedPurchases: repos.facts.sourcesForProduct(site.id, productId).length };
  }

  /**
   * Maps a product to levels (replacing its previous levels). With `applyToPast`, the product's unmapped events are
   * re-applied in receipt order and every purchase already on record is brought in line with the new mapping, so
   * buyers who came before the mapping get their access. Re-applying is idempotent.
   */
  function save(site: Site, input: { productId: string; levelIds: number[]; applyToPast: boolean; billingPeriodDays?: number | null }) {
    const productId = input.productId.trim();
    const levelIds = [...new Set(input.levelIds)];
    const known = new Set(repos.levels.list(site.id).map((level) => level.id));
    const unknown = levelIds.filter((id) => !known.has(id));
    if (unknown.length > 0) {
      throw new InvalidInputError('unknown levels', [{ path: 'levelIds', message: `level(s) ${unknown.join(', ')} do not exist on this site` }]);
    }
    const previewBefore = preview(site, productId);
    transaction(() => {
      repos.products.ensure(site.id, productId);
      repos.products.setLevels(site.id, productId, levelIds, input.billingPeriodDays ?? null, clock.now());
    });
    let applied: { eventCount: number; outcomes: Record<string, number>; membersReconciled: number } | null = null;
    if (input.applyToPast) {
      const reapplied = intake.reapplyMany(site, { statuses: ['unmapped'], productId }, 'mapping');
      let membersReconciled = 0;
      for (const source of repos.facts.sourcesForProduct(site.id, productId)) {
        transaction(() => access.reconcileSource(site, source.memberId, source.sourceKey, productId, { eventId: null, actor: 'mapping' }));
        membersReconciled += 1;
      }
      applied = { ...reapplied, membersReconciled };
    }
    return { mapping: get(site, productId), preview: previewBefore, applied };
  }

  /** Deleting a mapping never silently revokes: by default current grants stay; with `revoke` they end now. */
  function remove(site: Site, productId: string, revoke: boolean, actor: string): { revokedGrants: number } {
    return transaction(() => {
      const product = repos.products.find(site.id, productId);
      if (!product || product.levelIds.length === 0) throw new NotFoundError('mapping', productId);
      repos.products.clearLevels(site.id, productId);
      return { revokedGrants: revoke ? access.revokeProductGrants(site, productId, actor) : 0 };
    });
  }

  function discovered(site: Site): DiscoveredProduct[] {
    const products = repos.products.listDiscovered(site.id);
    const activity = new Map(repos.events.productActivity(site.id, products.map((product) => product.productId)).map((row) => [row.productId, row]));
    return products.map((product) => ({
      productId: product.productId,
      productName: product.kartraName,
      firstSeenAt: product.firstSeenAt,
      lastSeenAt: product.lastSeenAt,
      eventCount: activity.get(product.productId)?.eventCount ?? 0,
      buyerCount: activity.get(product.productId)?.buyerCount ?? 0,
    }));
  }

  return { list, get, preview, save, remove, discovered };
}
