import { randomBytes } from 'node:crypto';
import { describeAsset } from '../assets/asset-identity';
import { ConflictError, InvalidInputError, NotFoundError } from '../errors';
import type { AccessLevel, CancelMode, MoneyChannels, Site, WebhookSecret } from '../model';
import type { Clock, Repositories, RunInTransaction, Tx } from '../ports';
import { generateSecret, hashSecret } from '../secrets';
import { requirePublicUrl } from './public-url';
import { RECONCILE_EVERY_HOURS_MAX } from './reconcile-hours';
import { countOf } from '../wording';

const HOUR_MS = 60 * 60 * 1000;

export interface IntegrationState {
  enabled: boolean;
  /** The full URL, present only in the answer that created its secret: it is never shown again. */
  webhookUrl: string | null;
  /** The URL with the secret masked, so an admin can tell which URL Kartra uses. */
  webhookUrlMasked: string | null;
  secrets: { id: number; hint: string; current: boolean; createdAt: Date; validUntil: Date | null; lastUsedAt: Date | null }[];
  lastEventAt: Date | null;
  lastEventAction: string | null;
  ipnSecretSet: boolean;
  moneyChannels: MoneyChannels;
  graceDays: number;
  cancelMode: CancelMode;
  quietFeedHours: number;
  rawBodyRetentionDays: number;
  secretGraceHours: number;
  publicUrl: string | null;
  /** Whether mapped Kartra tags and membership levels grant and revoke access (Site.tagAccess, Site.membershipAccess). */
  tagAccess: boolean;
  membershipAccess: boolean;
  /** Money events from the Outbound API (and IPN without a checked secret) wait for Kartra's confirmation. */
  verifyWithKartra: boolean;
  /** Every N hours the site's members are compared with Kartra's records; 0 is off. */
  reconcileEveryHours: number;
}

export type SiteService = ReturnType<typeof createSiteService>;

export function createSiteService({ repos, clock, transaction, publicUrl }: { repos: Repositories; clock: Clock; transaction: RunInTransaction; publicUrl: string }) {
  async function requireSite(siteId: number, visibleSiteIds: number[] | 'all'): Promise<Site> {
    const site = await repos.sites.findById(siteId);
    // A site the caller may not see is indistinguishable from one that does not exist.
    if (!site || (visibleSiteIds !== 'all' && !visibleSiteIds.includes(site.id))) throw new NotFoundError('site', siteId);
    return site;
  }

  function createSite(name: string): Promise<Site> {
    // 12 random bytes: the key is public (it is in the URL) but should not be guessable or enumerable.
    return repos.sites.create({ key: randomBytes(12).toString('base64url'), name: name.trim(), createdAt: clock.now() });
  }

  function baseUrl(site: Site): string {
    return (site.publicUrl ?? publicUrl).replace(/\/+$/, '');
  }

  function hookUrl(site: Site, secret: string): string {
    return `${baseUrl(site)}/hooks/kartra/${site.key}/${secret}`;
  }

  /** `reader`: the transaction when called inside one, so the state shown is the one just written. */
  async function integrationState(site: Site, revealedSecret?: string, reader: Repositories = repos): Promise<IntegrationState> {
    const now = clock.now();
    const secrets = (await reader.secrets.listAll(site.id)).filter((secret) => secret.retiredAt === null || (secret.validUntil && secret.validUntil > now));
    const current = secrets.find((secret) => secret.retiredAt === null);
    const last = await reader.events.lastReceived(site.id);
    return {
      enabled: site.kartraEnabled,
      webhookUrl: revealedSecret ? hookUrl(site, revealedSecret) : null,
      webhookUrlMasked: current ? `${baseUrl(site)}/hooks/kartra/${site.key}/…${current.secretHint}` : null,
      secrets: secrets.map((secret: WebhookSecret) => ({
        id: secret.id,
        hint: secret.secretHint,
        current: secret.retiredAt === null,
        createdAt: secret.createdAt,
        validUntil: secret.validUntil,
        lastUsedAt: secret.lastUsedAt,
      })),
      lastEventAt: last?.at ?? null,
      lastEventAction: last?.action ?? null,
      ipnSecretSet: site.ipnSecretHash !== null,
      moneyChannels: site.moneyChannels,
      graceDays: site.graceDays,
      cancelMode: site.cancelMode,
      quietFeedHours: site.quietFeedHours,
      rawBodyRetentionDays: site.rawBodyRetentionDays,
      secretGraceHours: site.secretGraceHours,
      publicUrl: site.publicUrl,
      tagAccess: site.tagAccess,
      membershipAccess: site.membershipAccess,
      verifyWithKartra: site.verifyWithKartra,
      reconcileEveryHours: site.reconcileEveryHours,
    };
  }

  async function issueSecret(tx: Tx, site: Site): Promise<string> {
    const secret = generateSecret();
    await tx.secrets.add({ siteId: site.id, secretHash: hashSecret(secret), secretHint: secret.slice(-4), createdAt: clock.now() });
    return secret;
  }

  /** Enabling for the first time issues the URL; re-enabling keeps the URL Kartra already has. */
  function setEnabled(site: Site, enabled: boolean): Promise<IntegrationState> {
    return transaction(async (tx) => {
      await tx.sites.update(site.id, { kartraEnabled: enabled });
      const updated = { ...site, kartraEnabled: enabled };
      const hasSecret = (await tx.secrets.listAll(site.id)).some((secret) => secret.retiredAt === null);
      const revealed = enabled && !hasSecret ? await issueSecret(tx, updated) : undefined;
      return integrationState(updated, revealed, tx);
    });
  }

  /** A new URL; the old one keeps working for the site's grace period so Kartra can be updated without a gap. */
  function rotateSecret(site: Site): Promise<IntegrationState> {
    return transaction(async (tx) => {
      const now = clock.now();
      await tx.secrets.retireCurrent(site.id, now, new Date(now.getTime() + site.secretGraceHours * HOUR_MS));
      return integrationState(site, await issueSecret(tx, site), tx);
    });
  }

  async function updateSettings(
    site: Site,
    settings: {
      publicUrl?: string | null;
      ipnSecret?: string | null;
      moneyChannels?: MoneyChannels;
      graceDays?: number;
      cancelMode?: CancelMode;
      secretGraceHours?: number;
      quietFeedHours?: number;
      rawBodyRetentionDays?: number;
      tagAccess?: boolean;
      membershipAccess?: boolean;
      verifyWithKartra?: boolean;
      reconcileEveryHours?: number;
    },
  ): Promise<IntegrationState> {
    const changes: Parameters<typeof repos.sites.update>[1] = {};
    if (settings.publicUrl !== undefined) changes.publicUrl = settings.publicUrl === null ? null : requirePublicUrl(settings.publicUrl);
    if (settings.ipnSecret !== undefined) changes.ipnSecretHash = settings.ipnSecret === null || settings.ipnSecret === '' ? null : hashSecret(settings.ipnSecret);
    if (settings.moneyChannels !== undefined) changes.moneyChannels = settings.moneyChannels;
    requireSecretForMoneyChannels(changes.moneyChannels ?? site.moneyChannels, changes.ipnSecretHash !== undefined ? changes.ipnSecretHash : site.ipnSecretHash);
    if (settings.graceDays !== undefined) changes.graceDays = settings.graceDays;
    if (settings.cancelMode !== undefined) changes.cancelMode = settings.cancelMode;
    if (settings.secretGraceHours !== undefined) changes.secretGraceHours = settings.secretGraceHours;
    if (settings.quietFeedHours !== undefined) changes.quietFeedHours = settings.quietFeedHours;
    if (settings.rawBodyRetentionDays !== undefined) changes.rawBodyRetentionDays = settings.rawBodyRetentionDays;
    if (settings.tagAccess !== undefined) changes.tagAccess = settings.tagAccess;
    if (settings.membershipAccess !== undefined) changes.membershipAccess = settings.membershipAccess;
    if (settings.verifyWithKartra === true && !site.verifyWithKartra) await requireCredentialsForVerify(site);
    if (settings.verifyWithKartra !== undefined) changes.verifyWithKartra = settings.verifyWithKartra;
    if (settings.reconcileEveryHours !== undefined) changes.reconcileEveryHours = requireReconcileHours(settings.reconcileEveryHours);
    await repos.sites.update(site.id, changes);
    const updated = await repos.sites.findById(site.id);
    if (!updated) throw new NotFoundError('site', site.id);
    return integrationState(updated);
  }

  /** IPN-only money needs a secret to check: without one, the setting would let any IPN-shaped post through. */
  function requireSecretForMoneyChannels(moneyChannels: MoneyChannels, ipnSecretHash: string | null): void {
    if (moneyChannels !== 'ipn_with_secret' || ipnSecretHash !== null) return;
    throw new InvalidInputError('money events from IPN only need an IPN secret', [
      { path: 'moneyChannels', message: 'set the IPN secret_key first: only IPN posts carrying it can then grant or revoke access' },
    ]);
  }

  /**
   * Verify-by-callback asks Kartra about every purchase: without credentials to ask with, each would wait and then be
   * rejected, so switching it on needs them saved first.
   */
  async function requireCredentialsForVerify(site: Site): Promise<void> {
    if (await repos.kartraCredentials.find(site.id)) return;
    throw new ConflictError('verify-by-callback needs the site’s Kartra API credentials: save them first, then switch it on');
  }

  function requireReconcileHours(hours: number): number {
    if (Number.isInteger(hours) && hours >= 0 && hours <= RECONCILE_EVERY_HOURS_MAX) return hours;
    throw new InvalidInputError('the reconcile schedule is out of range', [{ path: 'reconcileEveryHours', message: `0 (off) or a whole number of hours from 1 to ${RECONCILE_EVERY_HOURS_MAX}` }]);
  }

  async function createLevel(site: Site, name: string): Promise<AccessLevel> {
    const trimmed = name.trim();
    if (await repos.levels.findByName(site.id, trimmed)) {
      throw new InvalidInputError('a level with this name exists', [{ path: 'name', message: `"${trimmed}" already exists on this site` }]);
    }
    return repos.levels.create(site.id, trimmed, clock.now());
  }

  async function renameLevel(site: Site, levelId: number, name: string): Promise<AccessLevel> {
    const level = await repos.levels.findById(site.id, levelId);
    if (!level) throw new NotFoundError('level', levelId);
    const trimmed = name.trim();
    const clash = await repos.levels.findByName(site.id, trimmed);
    if (clash && clash.id !== levelId) {
      throw new InvalidInputError('a level with this name exists', [{ path: 'name', message: `"${trimmed}" already exists on this site` }]);
    }
    await repos.levels.rename(site.id, levelId, trimmed);
    return { ...level, name: trimmed };
  }

  function deleteLevel(site: Site, levelId: number): Promise<void> {
    return transaction(async (tx) => {
      const level = await tx.levels.findById(site.id, levelId);
      if (!level) throw new NotFoundError('level', levelId);
      const grantCount = await tx.grants.countAnyForLevel(site.id, levelId);
      if (grantCount > 0) {
        throw new ConflictError(`level "${level.name}" still has ${countOf(grantCount, 'grant')} and their history; it cannot be deleted`);
      }
      const products = await tx.products.productIdsForLevel(site.id, levelId);
      if (products.length > 0) {
        throw new ConflictError(`level "${level.name}" is mapped to product(s) ${products.join(', ')}; delete those mappings first`);
      }
      const assetKeys = await tx.assets.keysForLevel(site.id, levelId);
      if (assetKeys.length > 0) {
        const assets = await Promise.all(assetKeys.map((key) => tx.assets.findByKey(site.id, key)));
        const named = assets.map((asset, index) => (asset ? describeAsset(asset) : assetKeys[index])).join(', ');
        throw new ConflictError(`level "${level.name}" is mapped to ${named}; delete those mappings first`);
      }
      await tx.levels.delete(site.id, levelId);
    });
  }

  const listSites = (visibleSiteIds: number[] | 'all') => repos.sites.list(visibleSiteIds);
  const listLevels = (site: Site) => repos.levels.list(site.id);

  return { requireSite, listSites, listLevels, createSite, integrationState, setEnabled, rotateSecret, updateSettings, createLevel, renameLevel, deleteLevel, hookUrl };
}
