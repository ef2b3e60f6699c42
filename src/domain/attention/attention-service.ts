import { deriveSourceState } from '../access/access-rules';
import type { ProductMappingService, DiscoveredProduct } from '../mapping/product-mapping-service';
import type { PaymentFact, Site } from '../model';
import type { Clock, Repositories } from '../ports';

const HOUR_MS = 60 * 60 * 1000;
const DAY_MS = 24 * HOUR_MS;
/** Items listed per section of the report; the event log has the rest. */
const LIST_LIMIT = 50;
/**
 * Failed and rejected events are counted up to this many. Past it the badge says "1000+": the admin's next step is
 * the same, and an exact figure would cost a count that grows with the log (a flood of forged posts is all rejected).
 */
export const EVENT_COUNT_CAP = 1000;
/**
 * Chargebacks stay on the list this long: the weeks a merchant has to answer a dispute. Older ones are in the event
 * log and the member's history; a chargeback from last year is not something to act on today.
 */
export const CHARGEBACK_WINDOW_DAYS = 30;
/**
 * Dead letters stay on the list this long: a notification that never reached the host site means the site may have
 * missed an access change, which a replay from the endpoint's page repairs; older ones are in the delivery log (and
 * pruned with it after NOTIFY_RETENTION_DAYS).
 */
export const DEAD_LETTER_WINDOW_DAYS = 30;
/** Failed payments read for past due, at most: only those within the grace period can still be past due. */
const PAST_DUE_SCAN_LIMIT = 1000;

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

/** A count that stops at a cap; `countIsLowerBound` says it reached it, so there are at least `count`. */
export interface CappedCount {
  count: number;
  countIsLowerBound: boolean;
}

export interface DeadLetterItem {
  outboxId: number;
  endpointId: number;
  endpointUrl: string;
  type: string;
  createdAt: Date;
  lastError: string | null;
}

export interface DeadLetterAttention extends CappedCount {
  latest: DeadLetterItem[];
  windowDays: number;
}

export interface EventAttention extends CappedCount {
  latest: { id: number; receivedAt: Date; summary: string | null; error: string | null }[];
}

/** What the badge shows: the report's counts without its lists. `total` is the report's `total` at the same moment. */
export interface AttentionCounts {
  pastDue: number;
  /** Up to LIST_LIMIT, as many as the page lists. */
  chargebacks: CappedCount;
  /** Up to EVENT_COUNT_CAP. */
  failedEvents: CappedCount;
  rejectedEvents: CappedCount;
  /** Up to LIST_LIMIT, as many as the page lists. */
  deadNotifications: CappedCount;
  unmappedProducts: number;
  quietFeed: boolean;
  total: number;
  /** A count reached its cap: there are at least `total` things to look at. */
  totalIsLowerBound: boolean;
}

export interface AttentionReport {
  pastDue: PastDueSubscription[];
  /** Chargebacks of the last `chargebackWindowDays` days, newest first, at most LIST_LIMIT. */
  chargebacks: ChargebackItem[];
  chargebackWindowDays: number;
  failedEvents: EventAttention;
  rejectedEvents: EventAttention;
  /** Notifications to the site's endpoints that gave up, of the last `windowDays` days. */
  deadNotifications: DeadLetterAttention;
  unmappedProducts: DiscoveredProduct[];
  quietFeed: { quiet: boolean; lastEventAt: Date | null; thresholdHours: number };
  /** How many things are listed: what a badge shows. */
  total: number;
  totalIsLowerBound: boolean;
}

export type AttentionService = ReturnType<typeof createAttentionService>;

/**
 * What a site admin should look at, derived from the ledger and the event log at the current time. Every part reads
 * a bounded amount whatever the log's size: failed payments within the grace period, chargebacks of a window,
 * counts capped, the newest event through the index. The badge (`counts`) and the page (`report`) share each part,
 * so the number on the badge is the number of things the page lists.
 */
export function createAttentionService({ repos, clock, mappings }: { repos: Repositories; clock: Clock; mappings: ProductMappingService }) {
  /** Subscriptions in their grace period. Members' emails only when the list is to be shown. */
  async function pastDue(site: Site, now: Date, withEmails: boolean): Promise<PastDueSubscription[]> {
    // A failure older than the grace period has run out (revoked) or been followed by a payment; neither is past due.
    const since = new Date(now.getTime() - site.graceDays * DAY_MS);
    const latestFailures = new Map<string, PaymentFact>();
    for (const failure of await repos.facts.listByKind(site.id, 'payment_failed', { since, limit: PAST_DUE_SCAN_LIMIT })) {
      if (!latestFailures.has(failure.sourceKey)) latestFailures.set(failure.sourceKey, failure);
    }
    // One read of every candidate source's facts, not two statements per failing subscription (round trips are what
    // a page pays for on PostgreSQL).
    const factsBySource = await repos.facts.forSources(site.id, [...latestFailures.keys()]);
    const billingPeriods = new Map<string, number | null>();
    const result: PastDueSubscription[] = [];
    for (const failure of latestFailures.values()) {
      if (!billingPeriods.has(failure.productId)) billingPeriods.set(failure.productId, (await repos.products.find(site.id, failure.productId))?.billingPeriodDays ?? null);
      const state = deriveSourceState(
        factsBySource.get(failure.sourceKey) ?? [],
        { graceDays: site.graceDays, cancelMode: site.cancelMode, billingPeriodDays: billingPeriods.get(failure.productId) ?? null },
        now,
      );
      if (state.state !== 'active' || !state.pastDue) continue;
      result.push({
        memberId: failure.memberId,
        email: withEmails ? ((await repos.members.findById(site.id, failure.memberId))?.email ?? null) : null,
        productId: failure.productId,
        sourceKey: failure.sourceKey,
        subscriptionId: failure.subscriptionId,
        failedAt: state.pastDue.failedAt,
        graceEndsAt: state.pastDue.graceEndsAt,
      });
    }
    return result.sort((a, b) => a.graceEndsAt.getTime() - b.graceEndsAt.getTime());
  }

  /** One more than listed, so that "more than LIST_LIMIT" is known without counting them all. */
  const recentChargebacks = (site: Site, now: Date) =>
    repos.facts.listByKind(site.id, 'chargeback', { since: new Date(now.getTime() - CHARGEBACK_WINDOW_DAYS * DAY_MS), limit: LIST_LIMIT + 1 });

  /** One more than listed, as for chargebacks. */
  const recentDeadLetters = (site: Site, now: Date) => repos.outbox.listDead(site.id, new Date(now.getTime() - DEAD_LETTER_WINDOW_DAYS * DAY_MS), LIST_LIMIT + 1);

  const listedCount = (found: number): CappedCount => ({ count: Math.min(found, LIST_LIMIT), countIsLowerBound: found > LIST_LIMIT });

  async function eventCount(site: Site, status: 'failed' | 'rejected'): Promise<CappedCount> {
    const count = await repos.events.countWithStatus(site.id, status, EVENT_COUNT_CAP);
    return { count, countIsLowerBound: count >= EVENT_COUNT_CAP };
  }

  async function quietFeed(site: Site, now: Date) {
    const last = await repos.events.lastReceived(site.id);
    const quietSince = new Date(now.getTime() - site.quietFeedHours * HOUR_MS);
    // Quiet means events used to arrive and then stopped; a site that never received one is not "quiet".
    const quiet = site.kartraEnabled && last !== null && last.at.getTime() < quietSince.getTime();
    return { quiet, lastEventAt: last?.at ?? null, thresholdHours: site.quietFeedHours };
  }

  function summed(parts: Omit<AttentionCounts, 'total' | 'totalIsLowerBound'>): AttentionCounts {
    const capped = [parts.chargebacks, parts.failedEvents, parts.rejectedEvents, parts.deadNotifications];
    const total = parts.pastDue + parts.unmappedProducts + (parts.quietFeed ? 1 : 0) + capped.reduce((sum, part) => sum + part.count, 0);
    return { ...parts, total, totalIsLowerBound: capped.some((part) => part.countIsLowerBound) };
  }

  /** The badge: counts only, a few index probes and the past-due derivation of the grace period's failures. */
  async function counts(site: Site): Promise<AttentionCounts> {
    const now = clock.now();
    return summed({
      pastDue: (await pastDue(site, now, false)).length,
      chargebacks: listedCount((await recentChargebacks(site, now)).length),
      failedEvents: await eventCount(site, 'failed'),
      rejectedEvents: await eventCount(site, 'rejected'),
      deadNotifications: listedCount((await recentDeadLetters(site, now)).length),
      unmappedProducts: await mappings.discoveredWithEvents(site),
      quietFeed: (await quietFeed(site, now)).quiet,
    });
  }

  async function eventsWithStatus(site: Site, status: 'failed' | 'rejected'): Promise<EventAttention> {
    const latest = await repos.events.list(site.id, { statuses: [status], limit: LIST_LIMIT });
    return {
      ...(await eventCount(site, status)),
      latest: latest.map((event) => ({ id: event.id, receivedAt: event.receivedAt, summary: event.summary, error: event.error })),
    };
  }

  async function report(site: Site): Promise<AttentionReport> {
    const now = clock.now();
    const chargebackFacts = await recentChargebacks(site, now);
    const chargebacks: ChargebackItem[] = [];
    for (const fact of chargebackFacts.slice(0, LIST_LIMIT)) {
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
    const feed = await quietFeed(site, now);
    const failedEvents = await eventsWithStatus(site, 'failed');
    const rejectedEvents = await eventsWithStatus(site, 'rejected');
    const pastDueList = await pastDue(site, now, true);
    const deadLetters = await recentDeadLetters(site, now);
    const endpointUrls = new Map(deadLetters.length > 0 ? (await repos.notificationEndpoints.list(site.id)).map((endpoint) => [endpoint.id, endpoint.url]) : []);
    const deadNotifications: DeadLetterAttention = {
      ...listedCount(deadLetters.length),
      windowDays: DEAD_LETTER_WINDOW_DAYS,
      latest: deadLetters.slice(0, LIST_LIMIT).map((message) => ({
        outboxId: message.id,
        endpointId: message.endpointId,
        endpointUrl: endpointUrls.get(message.endpointId) ?? '',
        type: message.type,
        createdAt: message.createdAt,
        lastError: message.lastError,
      })),
    };
    const unmappedProducts = (await mappings.discovered(site)).filter((product) => product.eventCount > 0);
    const { total, totalIsLowerBound } = summed({
      pastDue: pastDueList.length,
      chargebacks: listedCount(chargebackFacts.length),
      failedEvents,
      rejectedEvents,
      deadNotifications,
      unmappedProducts: unmappedProducts.length,
      quietFeed: feed.quiet,
    });
    return {
      pastDue: pastDueList,
      chargebacks,
      chargebackWindowDays: CHARGEBACK_WINDOW_DAYS,
      failedEvents,
      rejectedEvents,
      deadNotifications,
      unmappedProducts,
      quietFeed: feed,
      total,
      totalIsLowerBound,
    };
  }

  return { counts, report };
}
