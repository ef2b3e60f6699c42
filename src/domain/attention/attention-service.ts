import { deriveSourceState } from '../access/access-rules';
import type { ProductMappingService, DiscoveredProduct } from '../mapping/product-mapping-service';
import type { Site } from '../model';
import type { Clock, Repositories } from '../ports';

const HOUR_MS = 60 * 60 * 1000;
const LIST_LIMIT = 50;

export interface PastDueSubscription {
  memberId: number;
  email: string | null;
  productId: string;
  sourceKey: string;
  subscriptionId: string | null;
  failedAt: Date;
  graceEndsAt: Date;
}

export interface ChargebackItem {
  memberId: number;
  email: string | null;
  productId: string;
  transactionId: string | null;
  chargedBackOrderId: string | null;
  occurredAt: Date;
  eventId: number;
}

export interface EventAttention {
  count: number;
  latest: { id: number; receivedAt: Date; summary: string | null; error: string | null }[];
}

export interface AttentionReport {
  pastDue: PastDueSubscription[];
  chargebacks: ChargebackItem[];
  failedEvents: EventAttention;
  rejectedEvents: EventAttention;
  unmappedProducts: DiscoveredProduct[];
  quietFeed: { quiet: boolean; lastEventAt: Date | null; thresholdHours: number };
  /** How many things are listed: what a badge shows. */
  total: number;
}

export type AttentionService = ReturnType<typeof createAttentionService>;

/** What a site admin should look at: derived from the ledger and the event log at the current time. */
export function createAttentionService({ repos, clock, mappings }: { repos: Repositories; clock: Clock; mappings: ProductMappingService }) {
  async function pastDue(site: Site): Promise<PastDueSubscription[]> {
    const now = clock.now();
    const seen = new Set<string>();
    const result: PastDueSubscription[] = [];
    for (const failure of await repos.facts.listByKind(site.id, 'payment_failed', 1000)) {
      if (seen.has(failure.sourceKey)) continue;
      seen.add(failure.sourceKey);
      const product = await repos.products.find(site.id, failure.productId);
      const state = deriveSourceState(
        await repos.facts.forSource(site.id, failure.sourceKey),
        { graceDays: site.graceDays, cancelMode: site.cancelMode, billingPeriodDays: product?.billingPeriodDays ?? null },
        now,
      );
      if (state.state !== 'active' || !state.pastDue) continue;
      result.push({
        memberId: failure.memberId,
        email: (await repos.members.findById(site.id, failure.memberId))?.email ?? null,
        productId: failure.productId,
        sourceKey: failure.sourceKey,
        subscriptionId: failure.subscriptionId,
        failedAt: state.pastDue.failedAt,
        graceEndsAt: state.pastDue.graceEndsAt,
      });
    }
    return result.sort((a, b) => a.graceEndsAt.getTime() - b.graceEndsAt.getTime());
  }

  async function eventsWithStatus(site: Site, status: 'failed' | 'rejected'): Promise<EventAttention> {
    const latest = await repos.events.list(site.id, { statuses: [status], limit: LIST_LIMIT });
    const count = (await repos.events.countByStatusSince(site.id, new Date(0)))[status] ?? 0;
    return { count, latest: latest.map((event) => ({ id: event.id, receivedAt: event.receivedAt, summary: event.summary, error: event.error })) };
  }

  async function report(site: Site): Promise<AttentionReport> {
    const now = clock.now();
    const chargebacks: ChargebackItem[] = [];
    for (const fact of await repos.facts.listByKind(site.id, 'chargeback', LIST_LIMIT)) {
      const member = await repos.members.findById(site.id, fact.memberId);
      chargebacks.push({
        memberId: fact.memberId,
        email: member?.email ?? null,
        productId: fact.productId,
        transactionId: fact.transactionId,
        chargedBackOrderId: fact.parentTransactionId,
        occurredAt: fact.occurredAt,
        eventId: fact.eventId,
      });
    }
    const last = await repos.events.lastReceived(site.id);
    const quietSince = new Date(now.getTime() - site.quietFeedHours * HOUR_MS);
    // Quiet means events used to arrive and then stopped; a site that never received one is not "quiet".
    const quiet = site.kartraEnabled && last !== null && last.at.getTime() < quietSince.getTime();
    const failedEvents = await eventsWithStatus(site, 'failed');
    const rejectedEvents = await eventsWithStatus(site, 'rejected');
    const pastDueList = await pastDue(site);
    const unmappedProducts = (await mappings.discovered(site)).filter((product) => product.eventCount > 0);
    return {
      pastDue: pastDueList,
      chargebacks,
      failedEvents,
      rejectedEvents,
      unmappedProducts,
      quietFeed: { quiet, lastEventAt: last?.at ?? null, thresholdHours: site.quietFeedHours },
      total: pastDueList.length + chargebacks.length + failedEvents.count + rejectedEvents.count + unmappedProducts.length + (quiet ? 1 : 0),
    };
  }

  return { report };
}
