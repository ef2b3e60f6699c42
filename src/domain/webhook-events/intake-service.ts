import { fingerprintEvent } from '../kartra/fingerprint';
import { isMoneyEvent, type KartraEvent, type MoneyEvent, type ParseResult } from '../kartra/kartra-event';
import { parseKartraBody } from '../kartra/parse-kartra-body';
import { describeSourceChange, type AccessService } from '../access/access-service';
import { applyAssetEvent } from '../assets/asset-events';
import { ConcurrentUpdateError, ConflictError, NotFoundError } from '../errors';
import { describeEmailOutcome, matchMember } from '../members/member-matching';
import type { Notifier } from '../notifications/notifier';
import type { EventStatus, PaymentFactKind, Product, Site, WebhookEventRecord, WebhookSecret } from '../model';
import type { Clock, EventOutcomeUpdate, Repositories, RunInTransaction, Tx } from '../ports';
import { secretMatchesHash } from '../secrets';
import { decodeDeliveredBody } from './delivered-body';

export interface IncomingWebhook {
  siteKey: string;
  secret: string;
  rawBody: Buffer;
  sourceIp: string | null;
  headers: Record<string, string>;
}

/** What happened to one delivery; the HTTP layer turns it into a status code. */
export type IntakeOutcome =
  | { outcome: 'not_found' }
  | { outcome: EventStatus; eventId: number; summary: string; error?: string };

export type IntakeService = ReturnType<typeof createIntakeService>;

const SECRET_USE_RESOLUTION_MS = 60_000;
/** The same for a product's "last seen" on the Mappings page. */
const PRODUCT_SEEN_RESOLUTION_MS = 60_000;

/** Whether recording a sighting at `at` would change what is known of the product. */
function seenNews(product: Product | null, kartraName: string | undefined, at: Date): boolean {
  if (!product?.firstSeenAt || !product.lastSeenAt) return true;
  if (kartraName !== undefined && kartraName !== product.kartraName) return true;
  return at < product.firstSeenAt || at.getTime() - product.lastSeenAt.getTime() >= PRODUCT_SEEN_RESOLUTION_MS;
}

/** History entries written while applying a delivery as it arrives. */
const KARTRA_ACTOR = 'kartra';

export function createIntakeService(deps: {
  repos: Repositories;
  clock: Clock;
  transaction: RunInTransaction;
  access: AccessService;
  kartraTimeZone: string;
  /** The most a delivery's content may decode to (gzip and the like); the same cap as a body on the wire. */
  maxContentBytes: number;
  notifier: Notifier;
}) {
  const { repos, clock, transaction, access, kartraTimeZone, maxContentBytes, notifier } = deps;

  /** event.failed, in the transaction that records the failure. */
  async function notifyFailed(tx: Tx, siteId: number, eventId: number, error: string, receivedAt: Date): Promise<void> {
    await notifier.notify(tx, siteId, 'event.failed', { eventId, error, receivedAt: receivedAt.toISOString() });
  }

  /** Finds the site a hook URL belongs to; null (404, nothing stored) for a disabled site or a wrong secret. */
  async function authenticate(tx: Tx, siteKey: string, secret: string): Promise<{ site: Site; secret: WebhookSecret } | null> {
    const site = await tx.sites.findByKey(siteKey);
    if (!site || !site.kartraEnabled) return null;
    // Compare against every usable secret so the time taken does not depend on which one matches.
    let matched: WebhookSecret | null = null;
    for (const candidate of await tx.secrets.listUsable(site.id, clock.now())) {
      if (secretMatchesHash(secret, candidate.secretHash) && matched === null) matched = candidate;
    }
    return matched === null ? null : { site, secret: matched };
  }

  /** A secret's last use tells an admin which URL Kartra still posts to; a minute's precision spares a write per event. */
  async function markSecretUsed(tx: Tx, secret: WebhookSecret, at: Date): Promise<void> {
    const sinceLastUseMs = secret.lastUsedAt ? at.getTime() - secret.lastUsedAt.getTime() : Infinity;
    if (sinceLastUseMs >= 0 && sinceLastUseMs < SECRET_USE_RESOLUTION_MS) return;
    await tx.secrets.markUsed(secret.id, at);
  }

  /**
   * Stores the body first, then parses and applies it, all in one transaction; the promise settles after the commit,
   * so the caller answers only once the event is durable (the SQLite adapter commits a burst of deliveries together).
   * Every body that reached an enabled URL ends up as a row with an outcome.
   */
  async function receive(incoming: IncomingWebhook): Promise<IntakeOutcome> {
    const receivedAt = clock.now();
    try {
      return await storeAndApply(incoming, receivedAt);
    } catch (error) {
      if (!(error instanceof ConcurrentUpdateError)) throw error;
      // Still racing after the adapter's retries: keep the body (nothing that reached the URL is lost) and leave the
      // applying to a re-apply, as for any event that failed.
      return storeUnapplied(incoming, receivedAt, error.message);
    }
  }

  /** The body as it arrived, before anything is made of it. */
  function storeDelivery(tx: Tx, site: Site, incoming: IncomingWebhook, receivedAt: Date): Promise<number> {
    return tx.events.insert({ siteId: site.id, receivedAt, channel: 'unknown', sourceIp: incoming.sourceIp, headers: incoming.headers, rawBody: incoming.rawBody });
  }

  function storeUnapplied(incoming: IncomingWebhook, receivedAt: Date, reason: string): Promise<IntakeOutcome> {
    return transaction(async (tx): Promise<IntakeOutcome> => {
      const auth = await authenticate(tx, incoming.siteKey, incoming.secret);
      if (!auth) return { outcome: 'not_found' } as const;
      const eventId = await storeDelivery(tx, auth.site, incoming, receivedAt);
      const summary = 'applying failed; kept for re-applying';
      await tx.events.recordOutcome(auth.site.id, eventId, { status: 'failed', error: reason, summary, processedAt: clock.now() });
      await notifyFailed(tx, auth.site.id, eventId, reason, receivedAt);
      return { outcome: 'failed', eventId, summary, error: reason };
    });
  }

  function storeAndApply(incoming: IncomingWebhook, receivedAt: Date): Promise<IntakeOutcome> {
    return transaction(async (tx): Promise<IntakeOutcome> => {
      const auth = await authenticate(tx, incoming.siteKey, incoming.secret);
      if (!auth) return { outcome: 'not_found' } as const;
      await markSecretUsed(tx, auth.secret, receivedAt);
      const eventId = await storeDelivery(tx, auth.site, incoming, receivedAt);
      return process(tx, auth.site, eventId, incoming.rawBody, incoming.headers, receivedAt, KARTRA_ACTOR);
    });
  }

  /**
   * Parses, applies and records the outcome of a stored event, all in one savepoint: if anything in it throws, its
   * effects (and the fingerprint claim) roll back while the stored row stays, marked failed with what was learnt of
   * the event, for re-applying.
   */
  async function process(tx: Tx, site: Site, eventId: number, rawBody: Buffer, headers: Record<string, string>, receivedAt: Date, actor: string): Promise<IntakeOutcome> {
    const now = clock.now();
    let known: Omit<EventOutcomeUpdate, 'status' | 'processedAt'> = {};
    try {
      return await tx.savepoint(async (sp): Promise<IntakeOutcome> => {
        const decoded = decodeDeliveredBody(rawBody, headers['content-encoding'], maxContentBytes);
        const parsed: ParseResult = decoded.ok ? parseKartraBody(decoded.content, headers['content-type'], kartraTimeZone) : { ok: false, channel: 'unknown', error: decoded.error, issues: [] };
        if (!parsed.ok) {
          const summary = `not a Kartra event: ${parsed.error}`;
          await sp.events.recordOutcome(site.id, eventId, {
            status: 'invalid',
            channel: parsed.channel,
            error: parsed.error,
            notes: parsed.issues,
            summary,
            processedAt: now,
          });
          return { outcome: 'invalid', eventId, summary, error: parsed.error };
        }

        const { event, notes } = parsed;
        known = { ...describeEvent(event), notes };
        const refusal = refusalOf(site, event);
        if (refusal) {
          await sp.events.recordOutcome(site.id, eventId, { ...known, status: 'rejected', summary: refusal, processedAt: now });
          return { outcome: 'rejected', eventId, summary: refusal };
        }

        const fingerprint = fingerprintEvent(event, receivedAt);
        known = { ...known, fingerprint };
        const result = await apply(sp, site, eventId, event, fingerprint, receivedAt, now, actor);
        await sp.events.recordOutcome(site.id, eventId, {
          ...known,
          status: result.status,
          duplicateOfEventId: result.duplicateOf ?? null,
          memberId: result.memberId ?? null,
          assetKey: result.assetKey ?? null,
          summary: result.summary,
          error: null,
          processedAt: now,
        });
        return { outcome: result.status, eventId, summary: result.summary };
      });
    } catch (error) {
      // A race with another instance is not the event's fault: the whole unit runs again (see RunInTransaction).
      if (error instanceof ConcurrentUpdateError) throw error;
      const message = error instanceof Error ? error.message : String(error);
      const summary = 'applying failed; kept for re-applying';
      await tx.events.recordOutcome(site.id, eventId, { ...known, status: 'failed', error: message, summary, processedAt: now });
      await notifyFailed(tx, site.id, eventId, message, receivedAt);
      return { outcome: 'failed', eventId, summary, error: message };
    }
  }

  async function apply(
    tx: Tx,
    site: Site,
    eventId: number,
    event: KartraEvent,
    fingerprint: string,
    receivedAt: Date,
    now: Date,
    actor: string,
  ): Promise<{ status: EventStatus; summary: string; memberId?: number | null; duplicateOf?: number; assetKey?: string }> {
    const ownerId = await tx.events.claimFingerprint(site.id, fingerprint, eventId);
    // A tag or membership event decides for itself whether a fingerprint match is a redelivery (see applyAssetEvent).
    if (event.kind === 'asset') return applyAssetEvent(tx, access, site, event, { eventId, fingerprintOwnerId: ownerId }, { receivedAt, now }, actor);
    if (ownerId !== eventId) {
      return { status: 'duplicate', summary: `same ${event.kind === 'other' ? event.action : event.kind} as event #${ownerId}; applied once`, duplicateOf: ownerId };
    }
    if (!isMoneyEvent(event)) {
      const member = await matchMember(tx, site.id, event.lead, { createIfMissing: false, eventId, now });
      const what = event.knownAction ? `${event.action} changes no access` : `unknown action "${event.action}"; stored and ignored`;
      return { status: 'ignored', summary: what, memberId: member?.member.id ?? null };
    }
    return applyMoneyEvent(tx, site, eventId, event, fingerprint, receivedAt, now, actor);
  }

  /** `fingerprint` stands in for the order id of a money event Kartra sent without one. */
  async function applyMoneyEvent(tx: Tx, site: Site, eventId: number, event: MoneyEvent, fingerprint: string, receivedAt: Date, now: Date, actor: string) {
    const { transaction: txn } = event;
    const match = await matchMember(tx, site.id, event.lead, { createIfMissing: true, eventId, now });
    if (!match) throw new Error('member could not be matched or created');
    const member = match.member;
    if (match.created) await access.notifyMemberCreated(tx, member, eventId);
    // Read before it is written: the product row is every purchase's, so writing it for each one would make every
    // delivery of a product wait for the last one's commit on an engine that runs units at once. It is written only
    // when it learns something (a name, a first sighting, a minute more of last seen).
    const product = await tx.products.find(site.id, txn.productId);
    if (seenNews(product, txn.productName, receivedAt)) await tx.products.recordSeen(site.id, txn.productId, txn.productName, receivedAt);

    const sourceKey = await sourceKeyFor(tx, site, member.id, event, fingerprint);
    await tx.facts.record({
      siteId: site.id,
      kind: event.kind as PaymentFactKind,
      factKey: txn.transactionId ?? fingerprint,
      memberId: member.id,
      productId: txn.productId,
      sourceKey,
      transactionId: txn.transactionId ?? null,
      parentTransactionId: txn.parentTransactionId ?? null,
      subscriptionId: txn.subscriptionId ?? null,
      payNumber: txn.payNumber ?? null,
      amountCents: txn.amountCents ?? null,
      occurredAt: txn.occurredAt ?? receivedAt,
      eventId,
    });

    const identity = match.created ? `new member ${member.email ?? member.kartraLeadId}` : `member ${member.email ?? member.kartraLeadId}`;
    const emailNote = describeEmailOutcome(match);
    if (!product || product.levelIds.length === 0) {
      return {
        status: 'unmapped' as const,
        summary: `${describeKind(event)} of unmapped product ${txn.productId}${txn.productName ? ` (${txn.productName})` : ''} for ${identity}; recorded for when it is mapped${emailNote}`,
        memberId: member.id,
      };
    }
    const change = await access.reconcileSource(tx, site, member.id, sourceKey, txn.productId, { eventId, actor, confirmsPayment: event.kind === 'rebill' });
    return { status: 'applied' as const, summary: `${describeKind(event)} for ${identity}: ${describeSourceChange(change)}${emailNote}`, memberId: member.id };
  }

  /** Which purchase a money event belongs to: its subscription, else the order it refunds, else its own order. */
  async function sourceKeyFor(tx: Tx, site: Site, memberId: number, event: MoneyEvent, fingerprint: string): Promise<string> {
    const { transaction: txn } = event;
    if (txn.subscriptionId) return `sub:${txn.subscriptionId}`;
    if (event.kind === 'refund' || event.kind === 'partial_refund' || event.kind === 'chargeback') {
      if (txn.parentTransactionId) {
        const parent = await tx.facts.findPaymentByTransaction(site.id, txn.parentTransactionId);
        return parent?.sourceKey ?? `txn:${txn.parentTransactionId}`;
      }
      // No parent order (undocumented on outbound): the member's latest purchase of this product.
      const latest = await tx.facts.latestPurchaseSource(site.id, memberId, txn.productId);
      if (latest) return latest;
    }
    if (txn.originalTransactionId) return `txn:${txn.originalTransactionId}`;
    return `txn:${txn.transactionId ?? fingerprint}`;
  }

  /**
   * Re-runs one stored event through the current parser and rules; idempotent. The grants it changes are recorded
   * with the event and with `actor`, who asked for the re-apply (an admin, or a mapping applied to past purchases).
   */
  function reapply(site: Site, eventId: number, actor: string): Promise<IntakeOutcome> {
    return transaction(async (tx) => {
      const stored = await tx.events.findById(site.id, eventId);
      if (!stored) throw new NotFoundError('event', eventId);
      // Re-reading an emptied body would overwrite the event's real outcome with "invalid".
      if (stored.rawBodyPrunedAt) throw new ConflictError(`event ${eventId}'s raw body was pruned by retention; it cannot be re-applied`);
      await tx.events.incrementAttempts(site.id, eventId);
      return process(tx, site, eventId, stored.rawBody, stored.headers, stored.receivedAt, actor);
    });
  }

  /**
   * Re-applies every event with one of `statuses` since a time, oldest first, each in its own transaction. Events whose
   * raw body retention pruned are skipped: their payment facts are already on record.
   */
  async function reapplyMany(site: Site, filter: { statuses: EventStatus[]; since?: Date; productId?: string; assetKey?: string }, actor: string) {
    const ids = await repos.events.idsForReapply(site.id, filter);
    const outcomes: Record<string, number> = {};
    for (const id of ids) {
      const result = await reapply(site, id, actor);
      outcomes[result.outcome] = (outcomes[result.outcome] ?? 0) + 1;
    }
    return { eventCount: ids.length, outcomes };
  }

  return { receive, reapply, reapplyMany };
}

/**
 * Why a parsed event may not be applied, or null. With an IPN secret set, an IPN post must carry it. With money from
 * IPN only, a money event must come as an IPN post carrying the secret (fail closed if none is set); the Outbound
 * API signs nothing, so its purchases, refunds and cancels are refused while its tags and lists are taken.
 */
function refusalOf(site: Site, event: KartraEvent): string | null {
  const secretChecked = site.ipnSecretHash !== null && event.ipnSecret !== undefined && secretMatchesHash(event.ipnSecret, site.ipnSecretHash);
  if (event.channel === 'ipn' && site.ipnSecretHash && !secretChecked) {
    return event.ipnSecret ? 'IPN secret_key does not match the site setting; nothing changed' : 'IPN post without secret_key; nothing changed';
  }
  if (site.moneyChannels === 'ipn_with_secret' && isMoneyEvent(event) && !(event.channel === 'ipn' && secretChecked)) {
    const from = event.channel === 'ipn' ? 'an IPN post, but no IPN secret is set to check it against' : 'the Outbound API, which signs nothing';
    return `${describeKind(event)} came from ${from}; this site takes purchases, refunds and cancels only from IPN posts carrying the secret_key, so nothing changed`;
  }
  return null;
}

function describeEvent(event: KartraEvent): Omit<EventOutcomeUpdate, 'status' | 'processedAt'> {
  const money = isMoneyEvent(event) ? event.transaction : undefined;
  // The IPN secret is checked, never stored in the parsed event.
  const parsed = { ...event, ipnSecret: undefined };
  return {
    channel: event.channel,
    kind: event.kind,
    action: event.action,
    productId: money?.productId ?? null,
    leadId: event.lead.leadId ?? null,
    email: event.lead.email ?? null,
    transactionId: money?.transactionId ?? null,
    kartraTimeRaw: (money ?? (event.kind === 'asset' ? event : undefined))?.occurredAtRaw ?? null,
    kartraTimeAt: (money ?? (event.kind === 'asset' ? event : undefined))?.occurredAt ?? null,
    parsed,
  };
}

function describeKind(event: MoneyEvent): string {
  const order = event.transaction.transactionId ? ` ${event.transaction.transactionId}` : '';
  switch (event.kind) {
    case 'purchase':
      return `purchase${order}`;
    case 'rebill':
      return `rebill${order}${event.transaction.payNumber ? ` (payment #${event.transaction.payNumber})` : ''}`;
    case 'refund':
      return `full refund${order}`;
    case 'partial_refund':
      return `partial refund${order} (changes no access)`;
    case 'chargeback':
      return `chargeback${order}`;
    case 'subscription_cancel':
      return `subscription cancel${order}`;
    case 'payment_failed':
      return `failed payment${order}`;
  }
}

export type { WebhookEventRecord };
